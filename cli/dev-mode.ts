// Dev mode (`npm start`): the authority, the ext_authz enforcement point and the ledger
// sequencer in one process, started from a development deployment (devkit/dev-deployment.ts) through
// the production loaders and wiring. Only the stores differ: in memory by default (nothing is
// durable), or Redis when a URL is given — the same store classes the contract suites test.
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { loadConfig as loadAuthorityConfig } from '../authority/config.js';
import { loadConfig as loadAuthzConfig } from '../authz-server/config.js';
import {
  authzLogger,
  loadAuthzKeys,
  openAuthzRedisStores,
  startAuthzService,
  type AuthzStores,
  type RunningAuthz,
} from '../authz-server/service.js';
import { loadConfig as loadSequencerConfig } from '../sequencer/config.js';
import {
  loadSequencerMaterial,
  sequencerLogger,
  startSequencerService,
  type SequencerStores,
} from '../sequencer/service.js';
import { openServiceRedisStores } from '../service/stores.js';
import { MemoryLedgerStore } from '../store/ledger-memory.js';
import { MemoryRegistryStore } from '../store/registry-memory.js';
import { MemoryUseStateStore } from '../store/use-state-memory.js';
import {
  authorityLogger,
  loadAuthorityMaterial,
  startAuthorityService,
  type AuthorityStores,
} from '../authority/service.js';
import {
  DEFAULT_PORTS,
  readDevDeployment,
  writeDevDeployment,
  type DevDeployment,
  type DevPorts,
} from '../devkit/dev-deployment.js';

/** Where dev mode keeps its deployment unless told otherwise; govctl and the demo look there too. */
export const DEFAULT_DEV_DIR = join(tmpdir(), 'governance-dev');

function port(value: string): number {
  const n = Number(value);
  if (!/^\d{1,5}$/.test(value) || n > 65_535) throw new Error(`not a port: ${value}`);
  return n;
}

/**
 * The sequencer's usual port, as in the manifests. A deployment's own default is any free port
 * (DEFAULT_PORTS), since tests run several sequencers of one deployment side by side.
 */
const DEV_SEQUENCER_HTTP_PORT = 7090;

/** The port flags of `npm start` and `npm run demo`. */
export function addPortOptions(command: Command): Command {
  return command
    .option(
      '--authority-grpc-port <port>',
      'authority gRPC port (0: any free port)',
      port,
      DEFAULT_PORTS.authorityGrpc,
    )
    .option('--authority-http-port <port>', 'authority HTTP port', port, DEFAULT_PORTS.authorityHttp)
    .option('--authz-grpc-port <port>', 'ext_authz gRPC port (Envoy Check)', port, DEFAULT_PORTS.authzGrpc)
    .option(
      '--authz-http-port <port>',
      'ext_authz HTTP port (health, metrics, runtime API)',
      port,
      DEFAULT_PORTS.authzHttp,
    )
    .option(
      '--sequencer-http-port <port>',
      'sequencer HTTP port (health, metrics)',
      port,
      DEV_SEQUENCER_HTTP_PORT,
    );
}

export function portsOf(opts: {
  authorityGrpcPort: number;
  authorityHttpPort: number;
  authzGrpcPort: number;
  authzHttpPort: number;
  sequencerHttpPort: number;
}): DevPorts {
  return {
    authorityGrpc: opts.authorityGrpcPort,
    authorityHttp: opts.authorityHttpPort,
    authzGrpc: opts.authzGrpcPort,
    authzHttp: opts.authzHttpPort,
    sequencerHttp: opts.sequencerHttpPort,
  };
}

/** Where the services on these ports answer (all on loopback). */
export function devUrls(ports: DevPorts): DevMode['urls'] {
  return {
    authorityGrpc: `127.0.0.1:${ports.authorityGrpc}`,
    authorityHttp: `http://127.0.0.1:${ports.authorityHttp}`,
    authzGrpc: `127.0.0.1:${ports.authzGrpc}`,
    authzHttp: `http://127.0.0.1:${ports.authzHttp}`,
    sequencerHttp: `http://127.0.0.1:${ports.sequencerHttp}`,
  };
}

export interface DevModeOptions {
  /** The deployment folder (default DEFAULT_DEV_DIR). */
  dir?: string;
  /** 0 picks a free port. */
  ports?: Partial<DevPorts>;
  /** Keep state in this Redis instead of in memory. */
  redisUrl?: string | undefined;
  logLevel?: string;
  /** Cadence of checkpoints (default the sequencer's, 1000 ms). */
  headIntervalMs?: number;
  /** Longest wait for the enforcement point to report SERVING (default 10 s). */
  readyTimeoutMs?: number;
}

export interface DevMode {
  deployment: DevDeployment;
  store: 'memory' | 'redis';
  /** Whether the deployment was written now (false: an earlier one reused, with Redis). */
  fresh: boolean;
  /** The ports actually bound. */
  ports: DevPorts;
  urls: {
    authorityGrpc: string;
    authorityHttp: string;
    authzGrpc: string;
    authzHttp: string;
    sequencerHttp: string;
  };
  stop(): Promise<void>;
}

interface Stores {
  authority: AuthorityStores;
  authz: AuthzStores;
  sequencer: SequencerStores;
}

/** Overrides the loaders apply like any deployment's environment (authority/, authz-server/, sequencer/config.ts). */
function environment(
  ports: DevPorts,
  redisUrl: string | undefined,
  logLevel: string | undefined,
): Record<string, string> {
  return {
    ...(redisUrl ? { REDIS_URL: redisUrl } : {}),
    ...(logLevel
      ? {
          GOV_AUTHORITY_LOG_LEVEL: logLevel,
          GOV_AUTHZ_LOG_LEVEL: logLevel,
          GOV_SEQUENCER_LOG_LEVEL: logLevel,
        }
      : {}),
    GOV_AUTHORITY_GRPC_PORT: String(ports.authorityGrpc),
    GOV_AUTHORITY_HTTP_PORT: String(ports.authorityHttp),
    GOV_AUTHZ_GRPC_PORT: String(ports.authzGrpc),
    GOV_AUTHZ_HTTP_PORT: String(ports.authzHttp),
    GOV_SEQUENCER_HTTP_PORT: String(ports.sequencerHttp),
  };
}

async function waitServing(authz: RunningAuthz, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const report = authz.server.health();
    if (report.serving) return;
    if (Date.now() > deadline)
      throw new Error(`the enforcement point is not serving: ${report.problems.join('; ')}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export async function startDevMode(options: DevModeOptions = {}): Promise<DevMode> {
  const dir = options.dir ?? DEFAULT_DEV_DIR;
  const ports = { ...DEFAULT_PORTS, ...options.ports };
  const redisUrl = options.redisUrl;
  // On Redis, state outlives the process, so the keys that signed it are kept: an earlier
  // deployment in the folder is reused. Its own key prefix keeps it apart from other deployments.
  const earlier = redisUrl ? readDevDeployment(dir) : undefined;
  const deployment =
    earlier ??
    writeDevDeployment(dir, {
      ports,
      ...(redisUrl ? { redisUrl } : {}),
      redisKeyPrefix: `gov-dev:${randomBytes(6).toString('hex')}:`,
      runtimeApi: true,
    });
  const env = environment(ports, redisUrl, options.logLevel);
  const authorityConfig = loadAuthorityConfig(deployment.files.authorityConfig, env);
  const authzConfig = loadAuthzConfig(deployment.files.authzConfig, env);
  const material = loadAuthorityMaterial(authorityConfig);
  const authzKeys = loadAuthzKeys(authzConfig);
  const loadedSequencerConfig = loadSequencerConfig(deployment.files.sequencerConfig, env);
  const sequencerConfig = options.headIntervalMs
    ? { ...loadedSequencerConfig, headIntervalMs: options.headIntervalMs }
    : loadedSequencerConfig;
  const sequencerMaterial = await loadSequencerMaterial(sequencerConfig);
  const authorityLog = authorityLogger(authorityConfig, material);
  const authzLog = authzLogger(authzConfig);
  const sequencerLog = sequencerLogger(sequencerConfig);

  // The stores close in reverse order of opening, after the services, which stop together: each
  // waits for its own blocking reads and timers (up to a second), and none needs another.
  const started: (() => Promise<void>)[] = [];
  const services: (() => Promise<void>)[] = [];
  const stop = async () => {
    await Promise.all(services.splice(0).map((service) => service()));
    for (const step of started.splice(0).reverse()) await step();
  };
  try {
    let stores: Stores;
    if (redisUrl) {
      const authority = await openServiceRedisStores(authorityConfig, authorityLog);
      started.push(() => authority.close());
      const authz = await openAuthzRedisStores(authzConfig, authzLog);
      started.push(() => authz.close());
      const sequencer = await openServiceRedisStores(sequencerConfig, sequencerLog);
      started.push(() => sequencer.close());
      stores = { authority, authz, sequencer };
    } else {
      // One instance of each, shared: in memory, the services meet only through them.
      const registry = new MemoryRegistryStore();
      const ledger = new MemoryLedgerStore(sequencerConfig.ledger.log);
      const useState = new MemoryUseStateStore();
      started.push(async () => {
        useState.close();
        registry.close();
        await ledger.close();
      });
      stores = {
        authority: { registry, ledger },
        authz: { registry, useState, ledger },
        sequencer: { registry, ledger },
      };
    }

    const sequencer = await startSequencerService(
      sequencerConfig,
      sequencerMaterial,
      stores.sequencer,
      sequencerLog,
    );
    services.push(() => sequencer.stop());

    const authority = await startAuthorityService(authorityConfig, material, stores.authority, authorityLog);
    services.push(() => authority.stop());
    const authz = await startAuthzService(authzConfig, authzKeys, stores.authz, authzLog);
    services.push(() => authz.stop());
    await waitServing(authz, options.readyTimeoutMs ?? 10_000);

    const bound: DevPorts = {
      authorityGrpc: authority.grpcPort,
      authorityHttp: authority.httpPort,
      authzGrpc: authz.grpcPort,
      authzHttp: authz.httpPort,
      sequencerHttp: sequencer.httpPort,
    };
    return {
      deployment,
      store: redisUrl ? 'redis' : 'memory',
      fresh: earlier === undefined,
      ports: bound,
      urls: devUrls(bound),
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
