// The whole production path as child processes, for fault injection and hostile-input tests:
// devkit/dev-deployment.ts writes a deployment (root-certified keys, dev tokens, authority.yaml,
// authz.yaml, sequencer.yaml) on free loopback ports, and the three production entry
// points run from it on a given Redis — sequencer/main.ts, authority/main.ts and one or
// more authz-server/main.ts replicas. Each process can be paused, killed and restarted; the
// last lines of its output are kept for failure messages. Checks are literal Envoy
// CheckRequests (cli/commands/check.ts) over gRPC; artifacts come from the authority's HTTP API.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { credentials, loadPackageDefinition, Metadata, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import {
  authorizationClient,
  type AuthorizationClient,
  type CheckRequestMessage,
  type CheckResponseMessage,
} from '../../authz-server/envoy-proto.js';
import { buildCheckRequest } from '../../cli/commands/check.js';
import {
  DEV_ENVIRONMENT,
  DEV_IDENTITIES,
  DEV_LOG,
  DEV_ROOT_KID,
  writeDevDeployment,
  type DevDeployment,
  type DevSetupOptions,
} from '../../devkit/dev-deployment.js';
import { nodeCrypto } from '../../core/crypto-node.js';
import { base64urlDecode, utf8Decode } from '../../core/encoding.js';
import type { LedgerEvent } from '../../core/event.js';
import { keyFromPem } from '../../core/keys.js';
import { verifyKeyRecord, type KeyRecord } from '../../core/registry.js';
import { verifyStore, type VerifyResult } from '../../ledger/verify.js';
import { ledgerKeysOf, type LedgerKeys } from '../../core/chain.js';
import type { LedgerWriter } from '../../ledger/types.js';
import { createLedgerWriter } from '../../ledger/writer.js';
import { RedisLedgerStore } from '../../store/ledger-redis.js';
import { closeRedis, connectRedis, type RedisClient } from '../../store/redis-connection.js';
import { RedisRegistryStore } from '../../store/registry-redis.js';
import { freePort, type TestRedis } from './redis.js';
import { PROJECT_ROOT } from './shared.js';

export const WORKLOAD = DEV_IDENTITIES.workload;
export const MODEL = 'clinical-summary-v4';
export const MODEL_PATH = `/v1/models/${MODEL}:invoke`;

/**
 * Rules added to the dev policy so the real authority issues what the tests need besides the
 * sample's single-use artifacts: a bounded-use artifact (races) and a 2-second one (clock skew).
 */
export const FAULT_MODELS = {
  bounded: { model: 'fault-bounded-v1', max: 37 },
  shortLived: { model: 'fault-short-lived-v1', ttlSeconds: 2 },
} as const;

function faultRule(id: string, model: string, ttlSeconds: number, use: Record<string, unknown>) {
  return {
    id,
    effect: 'allow',
    when: `identity == "${WORKLOAD}" && operation.name == "model.invoke" && operation.params.model == "${model}"`,
    terms: {
      ttl_seconds: ttlSeconds,
      use,
      scope: ['phi.read', 'phi.no_export'],
      environment: { region: DEV_ENVIRONMENT.region, tenancy: DEV_ENVIRONMENT.tenancy },
    },
  };
}

const LOG_LINES = 400;

/** One child process of the cluster: start (again, after it ended), signal, kill, and its recent output. */
export class ServiceProcess {
  private child: ChildProcess | undefined;
  private readonly lines: string[] = [];
  private readonly watchers = new Set<{ pattern: RegExp; resolve: () => void }>();

  constructor(
    readonly name: string,
    private readonly args: string[],
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  start(): void {
    const child = spawn(process.execPath, this.args, {
      cwd: PROJECT_ROOT,
      env: this.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => this.record(line));
    }
    child.on('exit', (code, signal) => this.record(`[exited: ${signal ?? code}]`));
    this.child = child;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  signal(signal: NodeJS.Signals): void {
    if (this.running) this.child!.kill(signal);
  }

  /** Sends `signal` (SIGKILL by default) and waits until the process has exited. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.running) return;
    const exited = once(this.child!, 'exit');
    this.child!.kill(signal);
    await exited;
  }

  /** SIGTERM (after SIGCONT, for a paused process), SIGKILL if it is still there after 5 s. */
  async stop(): Promise<void> {
    if (!this.running) return;
    const exited = once(this.child!, 'exit');
    this.child!.kill('SIGCONT');
    this.child!.kill('SIGTERM');
    const timer = setTimeout(() => this.child!.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  /** Resolves when the process prints a line matching `pattern` (register before causing it). */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const watcher = {
        pattern,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.watchers.delete(watcher);
        reject(new Error(`${this.name}: no line matching ${pattern} within ${timeoutMs} ms\n${this.logs()}`));
      }, timeoutMs);
      this.watchers.add(watcher);
    });
  }

  logs(): string {
    return this.lines.map((line) => `  ${this.name}| ${line}`).join('\n');
  }

  private record(line: string): void {
    this.lines.push(line.length > 2000 ? line.slice(0, 2000) + '…' : line);
    if (this.lines.length > LOG_LINES) this.lines.shift();
    for (const watcher of this.watchers) {
      if (watcher.pattern.test(line)) {
        this.watchers.delete(watcher);
        watcher.resolve();
      }
    }
  }
}

/** How a Check ended, as Envoy would see it. */
export interface CheckOutcome {
  decision: 'allow' | 'deny' | 'error';
  /** The denial reason (x-execution-denied), or the gRPC error for decision 'error'. */
  reason: string | undefined;
}

type GrpcCtor<T> = new (
  target: string,
  creds: ReturnType<typeof credentials.createInsecure>,
  options?: Record<string, unknown>,
) => T;

const healthPackage = loadPackageDefinition(
  loadSync(healthProtoPath, { keepCase: true, enums: String }),
) as unknown as {
  grpc: {
    health: {
      v1: {
        Health: GrpcCtor<{
          Check(
            request: { service: string },
            options: { deadline: number },
            callback: (error: ServiceError | null, response: { status: string }) => void,
          ): void;
          close(): void;
        }>;
      };
    };
  };
};

/** Sends CheckRequests to an ext_authz server over a real gRPC channel, as Envoy does. */
export class CheckClient {
  private readonly client: AuthorizationClient;

  /** `ownConnection`: never share grpc-js's pooled connection to the same address with another client. */
  constructor(port: number, ownConnection = false) {
    this.client = authorizationClient(
      `127.0.0.1:${port}`,
      ownConnection ? { 'grpc.use_local_subchannel_pool': 1 } : {},
    );
  }

  /** The CheckResponse as sent, or the gRPC error when the call failed. */
  send(
    request: CheckRequestMessage | object,
    deadlineMs = 3000,
  ): Promise<CheckResponseMessage | { grpcError: string }> {
    return new Promise((resolve) => {
      this.client.Check(request, new Metadata(), { deadline: Date.now() + deadlineMs }, (error, response) =>
        resolve(error ? { grpcError: `grpc ${error.code}: ${error.details}` } : response),
      );
    });
  }

  async check(request: CheckRequestMessage | object, deadlineMs = 3000): Promise<CheckOutcome> {
    const response = await this.send(request, deadlineMs);
    if ('grpcError' in response) return { decision: 'error', reason: response.grpcError };
    const allowed = response.status?.code === 0 && response.ok_response !== undefined;
    const denied = response.denied_response?.headers.find((h) => h.header.key === 'x-execution-denied');
    return { decision: allowed ? 'allow' : 'deny', reason: allowed ? undefined : denied?.header.value };
  }

  close(): void {
    this.client.close();
  }
}

export interface CheckSpec {
  artifact?: string | undefined;
  principal?: string | undefined;
  path?: string;
  requestId?: string;
  method?: string;
  host?: string;
}

let requestCounter = 0;

/** A fresh Envoy-style request id, unique within the test run. */
export function newRequestId(): string {
  return `${process.pid.toString(16)}-${Date.now().toString(16)}-${(++requestCounter).toString(16)}`;
}

/** The CheckRequest Envoy sends for a model invocation by the workload (cli/commands/check.ts). */
export function checkRequest(spec: CheckSpec = {}): ReturnType<typeof buildCheckRequest> {
  return buildCheckRequest(
    {
      target: '',
      method: spec.method ?? 'POST',
      path: spec.path ?? MODEL_PATH,
      host: spec.host ?? 'governed.local',
      principal: 'principal' in spec ? spec.principal : WORKLOAD,
      artifact: spec.artifact,
      header: [],
      context: [],
      requestId: spec.requestId,
      timeout: '0',
    },
    spec.requestId ?? newRequestId(),
  );
}

/** The id inside an artifact header (no verification: the header came from our authority). */
export function artifactIdOf(header: string): string {
  const json = JSON.parse(utf8Decode(base64urlDecode(header)!)!) as { id: string };
  return json.id;
}

export interface Replica {
  index: number;
  process: ServiceProcess;
  grpcPort: number;
  httpPort: number;
  client: CheckClient;
  /** Moves this replica's clock (needs `clockShim`); resolves once the process applied it. */
  setClockOffset(ms: number): Promise<void>;
}

export interface ClusterOptions {
  redis: TestRedis;
  /** Enforcement-point processes sharing the Redis (default 1). */
  replicas?: number;
  freshness?: DevSetupOptions['freshness'];
  heartbeatMs?: number;
  /** Start replicas with test/support/clock-shim.ts preloaded. */
  clockShim?: boolean;
  /** Processes per replica (its `workers` setting; default 1). */
  workers?: number;
  /** Sequencer lease and head cadence (ms). */
  leaseMs?: number;
  headIntervalMs?: number;
  /** The enforcement points' `overload` setting (authz-server/overload.ts). */
  overload?: { maxInFlight: number; minInFlight: number };
}

const READY_MS = 30_000;

/** A service process ended while the cluster waited for it: waiting longer would not help. */
class ProcessExited extends Error {}

/** Polls until `condition` holds; a failing probe counts as not yet, a ProcessExited ends the wait. */
async function poll(what: string, condition: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (
    !(await condition().catch((e: unknown) => {
      if (e instanceof ProcessExited) throw e;
      return false;
    }))
  ) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function readYaml(path: string): Record<string, unknown> {
  return parseYaml(readFileSync(path, 'utf8')) as Record<string, unknown>;
}

export class Cluster {
  readonly sequencer: ServiceProcess;
  readonly authority: ServiceProcess;
  readonly replicas: Replica[] = [];
  /** The ledger and registry as the test reads them (same Redis, same prefix). */
  readonly ledger: RedisLedgerStore;
  readonly registry: RedisRegistryStore;
  readonly ledgerKeys: LedgerKeys;
  private readonly closers: (() => Promise<void>)[] = [];

  private constructor(
    readonly dir: string,
    readonly deployment: DevDeployment,
    readonly redis: TestRedis,
    private readonly client: RedisClient,
    private readonly options: ClusterOptions,
  ) {
    const env = { ...process.env, REDIS_URL: redis.url };
    const tsx = ['--import', 'tsx'];
    this.sequencer = new ServiceProcess(
      'sequencer',
      [...tsx, 'sequencer/main.ts', '--config', deployment.files.sequencerConfig],
      env,
    );
    this.authority = new ServiceProcess(
      'authority',
      [...tsx, 'authority/main.ts', '--config', deployment.files.authorityConfig],
      env,
    );
    this.ledger = new RedisLedgerStore({ url: redis.url, log: DEV_LOG, prefix: redis.prefix });
    this.registry = new RedisRegistryStore(client);
    const roots = new Map([[DEV_ROOT_KID, base64urlDecode(deployment.rootPublicKey)!]]);
    const verified = (path: string) =>
      verifyKeyRecord(nodeCrypto, JSON.parse(readFileSync(path, 'utf8')) as KeyRecord, roots);
    const producers = (JSON.parse(readFileSync(deployment.files.producerRecords, 'utf8')) as KeyRecord[]).map(
      (record) => verifyKeyRecord(nodeCrypto, record, roots),
    );
    const audit = verified(join(dir, 'keys', 'audit.cert.json'));
    this.ledgerKeys = ledgerKeysOf([...producers, audit]);
  }

  /** Writes a dev deployment on free ports and starts sequencer, authority and replicas; resolves when every replica serves. */
  static async start(options: ClusterOptions): Promise<Cluster> {
    const dir = mkdtempSync(join(tmpdir(), 'gov-cluster-'));
    const ports = {
      authorityGrpc: await freePort(),
      authorityHttp: await freePort(),
      authzGrpc: await freePort(),
      authzHttp: await freePort(),
    };
    const deployment = writeDevDeployment(dir, {
      ports,
      redisUrl: options.redis.url,
      heartbeatMs: options.heartbeatMs ?? 500,
      freshness: options.freshness ?? { keysSeconds: 30, revocationsSeconds: 10, ledgerCommitWindowMs: 2000 },
      redisKeyPrefix: options.redis.prefix,
      sequencer: { leaseMs: options.leaseMs ?? 1000, headIntervalMs: options.headIntervalMs ?? 250 },
      logLevel: 'warn',
    });
    const policyFile = join(dir, 'policies', 'medical-inference-v3.yaml');
    const policy = readYaml(policyFile);
    (policy.rules as unknown[]).push(
      faultRule('fault-bounded', FAULT_MODELS.bounded.model, 300, {
        mode: 'bounded',
        max: FAULT_MODELS.bounded.max,
      }),
      faultRule('fault-short-lived', FAULT_MODELS.shortLived.model, FAULT_MODELS.shortLived.ttlSeconds, {
        mode: 'single',
      }),
    );
    writeFileSync(policyFile, stringifyYaml(policy));
    if (options.overload) {
      const authz = readYaml(deployment.files.authzConfig);
      authz.overload = options.overload;
      writeFileSync(deployment.files.authzConfig, stringifyYaml(authz));
    }

    const client = await connectRedis({
      mode: 'standalone',
      url: options.redis.url,
      keyPrefix: options.redis.prefix,
    });
    const cluster = new Cluster(dir, deployment, options.redis, client, options);
    try {
      cluster.sequencer.start();
      cluster.authority.start();
      const alive = () => {
        for (const p of [cluster.sequencer, cluster.authority, ...cluster.replicas.map((r) => r.process)]) {
          if (!p.running) throw new ProcessExited(`${p.name} exited during start-up`);
        }
      };
      // Ready means serving and ledgered: the authority's start-up events are under a signed head.
      await poll(
        'the authority and the sequencer',
        async () => {
          alive();
          return (await cluster.authorityFetch('/healthz')).ok && (await cluster.ledger.tip()).signedSeq > 0;
        },
        READY_MS,
      );
      for (let index = 0; index < (options.replicas ?? 1); index++) {
        cluster.replicas.push(await cluster.startReplica(index, options.clockShim === true));
      }
      let restarts = 0;
      await poll(
        'the enforcement points to serve',
        async () => {
          // A port chosen free can be taken before the replica binds it (by any process's
          // outgoing connection, from the same ephemeral range): that replica starts again on
          // other ports, a few times at most.
          for (const [i, replica] of cluster.replicas.entries()) {
            if (!replica.process.running && /EADDRINUSE/.test(replica.process.logs()) && restarts < 3) {
              restarts++;
              cluster.replicas[i] = await cluster.startReplica(replica.index, options.clockShim === true);
            }
          }
          alive();
          return (await Promise.all(cluster.replicas.map((r) => cluster.healthz(r)))).every((s) => s === 200);
        },
        READY_MS,
      );
    } catch (e) {
      const logs = cluster.logs();
      await cluster.stop();
      throw new Error(`${(e as Error).message}\n${logs}`);
    }
    return cluster;
  }

  /** Starts replica `index` on ports chosen now, just before it binds them (the environment overrides its config's). */
  private async startReplica(index: number, clockShim: boolean): Promise<Replica> {
    const grpcPort = await freePort();
    const httpPort = await freePort();
    const clockFile = join(this.dir, `clock-${index}`);
    writeFileSync(clockFile, '0');
    const shim = clockShim ? ['--import', join(PROJECT_ROOT, 'test/support/clock-shim.ts')] : [];
    const process_ = new ServiceProcess(
      `authz-${index}`,
      ['--import', 'tsx', ...shim, 'authz-server/main.ts', '--config', this.deployment.files.authzConfig],
      {
        ...process.env,
        REDIS_URL: this.redis.url,
        GOV_AUTHZ_GRPC_PORT: String(grpcPort),
        GOV_AUTHZ_HTTP_PORT: String(httpPort),
        GOV_TEST_CLOCK_OFFSET_FILE: clockFile,
        GOV_AUTHZ_WORKERS: String(this.options.workers ?? 1),
      },
    );
    process_.start();
    return {
      index,
      process: process_,
      grpcPort,
      httpPort,
      client: new CheckClient(grpcPort),
      async setClockOffset(ms: number) {
        if (!clockShim) throw new Error('the replica was started without the clock shim');
        writeFileSync(clockFile, String(ms));
        const applied = process_.waitForLine(new RegExp(`^clock-shim: offset ${ms} ms$`), 5000);
        process_.signal('SIGUSR2');
        await applied;
      },
    };
  }

  /** GET on the authority's HTTP port. */
  authorityFetch(path: string, init?: RequestInit): Promise<Response> {
    return fetch(`http://127.0.0.1:${this.deployment.ports.authorityHttp}${path}`, init);
  }

  /** The replica's /healthz status code (200 serving, 503 not), or 0 when it does not answer. */
  async healthz(replica: Replica): Promise<number> {
    try {
      return (await fetch(`http://127.0.0.1:${replica.httpPort}/healthz`)).status;
    } catch {
      return 0;
    }
  }

  /** The replica's gRPC health status for the Authorization service. */
  grpcHealth(replica: Replica): Promise<string> {
    const client = new healthPackage.grpc.health.v1.Health(
      `127.0.0.1:${replica.grpcPort}`,
      credentials.createInsecure(),
    );
    return new Promise<string>((resolve) =>
      client.Check(
        { service: 'envoy.service.auth.v3.Authorization' },
        { deadline: Date.now() + 2000 },
        (error, response) => resolve(error ? `error: ${error.details}` : response.status),
      ),
    ).finally(() => client.close());
  }

  /** One artifact request as the workload; the HTTP status and the JSON body. */
  async requestArtifact(
    body: unknown,
    token: string = this.deployment.tokens.workload,
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    const response = await this.authorityFetch('/v1/govern/execute', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  /** `count` artifact headers for `model`, issued by the authority (8 requests in flight). */
  async issue(count: number, model: string = MODEL): Promise<string[]> {
    const headers: string[] = new Array<string>(count);
    const body = {
      identity: WORKLOAD,
      op: { name: 'model.invoke', model, scope: ['phi.read', 'phi.no_export'] },
      env: { runtime: DEV_ENVIRONMENT.runtime },
    };
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < count; i = next++) {
        const { status, body: answer } = await this.requestArtifact(body);
        if (status !== 200) throw new Error(`issuance failed: ${status} ${JSON.stringify(answer)}`);
        headers[i] = answer.artifact_header as string;
      }
    };
    await Promise.all(Array.from({ length: Math.min(8, count) }, worker));
    return headers;
  }

  check(replica: Replica, spec: CheckSpec = {}): Promise<CheckOutcome> {
    return replica.client.check(checkRequest(spec));
  }

  /** Waits until every ingest entry is chained and a signed head covers the tip. */
  async settleLedger(timeoutMs = 30_000): Promise<void> {
    await poll(
      'the ledger to settle',
      async () => {
        const tip = await this.ledger.tip();
        const pending = await this.ledger.readIngest(tip.ingestId, 1, 0);
        return pending.length === 0 && tip.signedSeq === tip.seq;
      },
      timeoutMs,
    );
  }

  /** Every chained event, in seq order; fails on a gap or a misplaced record. */
  async ledgerEvents(): Promise<LedgerEvent[]> {
    const { seq } = await this.ledger.tip();
    const events: LedgerEvent[] = [];
    for (let from = 1; from <= seq; from += 1000) {
      const to = Math.min(seq, from + 999);
      const page = await this.ledger.records(from, to);
      if (page.length !== to - from + 1) throw new Error(`records ${from}..${to}: ${page.length} stored`);
      for (const stored of page)
        events.push(...(JSON.parse(stored.text) as { events: LedgerEvent[] }).events);
    }
    return events;
  }

  /**
   * A real ledger writer in the test process, signing as the enforcement points' producer key
   * (certified in the deployment, so the sequencer chains what it appends). Closed by stop().
   */
  async ledgerWriter(options: { commitWindowMs?: number } = {}): Promise<LedgerWriter> {
    const store = new RedisLedgerStore({ url: this.redis.url, log: DEV_LOG, prefix: this.redis.prefix });
    const writer = await createLedgerWriter({
      store,
      kid: 'key:dev/authz/1',
      privateKey: keyFromPem(readFileSync(join(this.dir, 'keys', 'authz-producer.key.pem'), 'utf8')),
      checkpoints: { auditKeys: () => this.ledgerKeys.audit },
      ...options,
    });
    // After a Redis restart a writer's commit subscription may hang; closing is bounded.
    this.closers.push(async () => {
      await Promise.race([writer.close(), new Promise((r) => setTimeout(r, 2000))]);
      await store.close();
    });
    return writer;
  }

  /** The third-party verifier over the whole chain in Redis. */
  verifyLedger(): Promise<VerifyResult> {
    return verifyStore(this.ledger, { suite: nodeCrypto, keys: this.ledgerKeys });
  }

  logs(): string {
    return [this.sequencer, this.authority, ...this.replicas.map((r) => r.process)]
      .map((p) => p.logs())
      .filter((text) => text !== '')
      .join('\n');
  }

  async stop(): Promise<void> {
    for (const close of this.closers.splice(0)) await close();
    for (const replica of this.replicas) replica.client.close();
    await Promise.all([
      ...this.replicas.map((r) => r.process.stop()),
      this.authority.stop(),
      this.sequencer.stop(),
    ]);
    await this.ledger.close();
    await this.registry.close();
    await closeRedis(this.client);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
