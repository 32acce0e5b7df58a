// The full fail-closed path on this machine, each part its own process: redis-server on loopback
// with its append-only file fsynced on every write (appendfsync always, for use state and ledger
// alike; everysec on request, to see what fsync costs), the ledger sequencer
// (sequencer/main.ts) and the enforcement point (authz-server/main.ts), both started from
// the production-shaped development deployment (dev-deployment.ts). What the authority would have
// published before the first Check is put in the registry here instead of running it: the issuer
// key record, the policy version, one signed heartbeat. The enforcement point's freshness
// bounds are an hour, so that one heartbeat covers any run.
import { readFileSync, writeFileSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import { join, resolve } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { keyFromPem, signSync } from '../../core/keys.js';
import { signHeartbeat, type KeyRecord } from '../../core/registry.js';
import { formatMillis, formatSeconds } from '../../core/time.js';
import { DEV_ISSUER, writeDevDeployment } from '../../devkit/dev-deployment.js';
import { closeRedis, connectRedis } from '../../store/redis-connection.js';
import { RedisRegistryStore } from '../../store/registry-redis.js';
import {
  nodeCommand,
  packageModule,
  loggedLine,
  startChild,
  startRedisServer,
  type ChildServer,
} from '../../devkit/server-process.js';
import { builtinPolicy, type RunningTarget } from './targets.js';

/** Redis appendfsync: always (a write is on disk before Redis answers) or everysec. */
export type Fsync = 'always' | 'everysec';

export interface FullPath {
  running: RunningTarget;
  /** The deployment's issuer key: the benchmark's artifacts are signed with it. */
  issuer: { kid: string; key: KeyObject };
}

const HEALTHY_TIMEOUT_MS = 15_000;
const FRESHNESS = { keysSeconds: 3600, revocationsSeconds: 3600, ledgerCommitWindowMs: 2000 };

/** What the authority publishes before the first artifact: issuer key record, policy version, heartbeat. */
async function publishAuthorityRecords(
  redisUrl: string,
  issuerRecord: KeyRecord,
  issuerKey: KeyObject,
): Promise<void> {
  const redis = await connectRedis({ mode: 'standalone', url: redisUrl }, () => undefined);
  try {
    const registry = new RedisRegistryStore(redis);
    await registry.putKeyRecord(issuerRecord);
    const policy = builtinPolicy();
    const publishedAt = formatSeconds(Date.now() / 1000);
    await registry.putPolicyVersion({
      ref: policy.ref,
      hash: policy.hash,
      document: policy.document,
      published_at: publishedAt,
    });
    await registry.activatePolicy(policy.ref, policy.hash);
    const heartbeat = { v: '1' as const, issuer: DEV_ISSUER, time: formatMillis(Date.now()), revocations: 0 };
    await registry.putHeartbeat(
      signHeartbeat(heartbeat, issuerRecord.kid, (message) => signSync(issuerKey, message)),
    );
  } finally {
    await closeRedis(redis);
  }
}

async function waitHealthy(httpPort: number): Promise<void> {
  const deadline = Date.now() + HEALTHY_TIMEOUT_MS;
  for (;;) {
    const status = await fetch(`http://127.0.0.1:${httpPort}/healthz`).then(
      (response) => response.status,
      () => 0,
    );
    if (status === 200) return;
    if (Date.now() > deadline)
      throw new Error(`authz-server /healthz answered ${status} for ${HEALTHY_TIMEOUT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * `profileDir`: the authz-server and the sequencer run under `node --cpu-prof` and write their
 * V8 CPU profiles (CPU.<date>.<pid>…cpuprofile; the pids are in the JSON report) there on exit.
 */
export interface FullPathOptions {
  /** `--cpu-prof` output directory for the authz-server and the sequencer. */
  profileDir?: string | undefined;
  /** authz-server processes sharing its ports (its `workers` setting; default 1). */
  workers?: number | undefined;
  /**
   * Keep the verified-signature cache of bounded and rate artifacts (default off: every Check
   * then verifies its signature, as the crypto floor does, whatever artifact it carries).
   */
  signatureCache?: boolean | undefined;
}

export async function startFullPath(
  workDir: string,
  fsync: Fsync,
  { profileDir, workers = 1, signatureCache = false }: FullPathOptions = {},
): Promise<FullPath> {
  const profile = profileDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', resolve(profileDir)];
  const dir = join(workDir, 'full-path');
  const children: ChildServer<unknown>[] = [];
  const stop = async () => {
    for (const child of children.reverse()) await child.stop();
  };
  try {
    const redis = await startRedisServer(workDir, fsync);
    const redisUrl = redis.url;
    children.push(redis);

    const deployment = writeDevDeployment(dir, {
      ports: { authzGrpc: 0, authzHttp: 0 },
      redisUrl,
      freshness: FRESHNESS,
      // The production default: denials are logged, allows only at debug (all are in the ledger).
      logLevel: 'info',
    });
    const authzConfig = parseYaml(readFileSync(deployment.files.authzConfig, 'utf8')) as Record<
      string,
      unknown
    >;
    authzConfig.workers = workers;
    if (!signatureCache) authzConfig.signatureCacheEntries = 0;
    writeFileSync(deployment.files.authzConfig, stringifyYaml(authzConfig));
    const { issuer } = parseYaml(readFileSync(deployment.files.authorityConfig, 'utf8')) as {
      issuer: { keyFile: string; certificateFile: string };
    };
    const issuerRecord = JSON.parse(readFileSync(issuer.certificateFile, 'utf8')) as KeyRecord;
    const issuerKey = keyFromPem(readFileSync(issuer.keyFile, 'utf8'));
    await publishAuthorityRecords(redisUrl, issuerRecord, issuerKey);

    const sequencer = await startChild(
      ...nodeCommand(
        packageModule('sequencer/main'),
        ['--config', deployment.files.sequencerConfig],
        profile,
      ),
      loggedLine('sequencer serving', () => true),
    );
    children.push(sequencer);
    const server = await startChild(
      ...nodeCommand(packageModule('authz-server/main'), ['--config', deployment.files.authzConfig], profile),
      loggedLine('authz server listening', (log) => ({
        grpcPort: Number(log.grpcPort),
        httpPort: Number(log.httpPort),
      })),
    );
    children.push(server);
    await waitHealthy(server.ready.httpPort);
    return {
      running: {
        target: {
          name: [
            'full',
            ...(fsync === 'always' ? [] : [`fsync-${fsync}`]),
            ...(workers > 1 ? [`${workers}-workers`] : []),
            ...(signatureCache ? ['signature-cache'] : []),
          ].join('-'),
          enforcement: 'full',
          address: `127.0.0.1:${server.ready.grpcPort}`,
          pid: server.pid,
          companions: { redis: redis.pid, sequencer: sequencer.pid },
        },
        stop,
      },
      issuer: { kid: issuerRecord.kid, key: issuerKey },
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
