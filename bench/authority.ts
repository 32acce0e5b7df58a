// Artifacts issued per second by the authority, end to end: the real entry point
// (authority/main.ts) as its own process, redis-server on loopback with its append-only file,
// the ledger on (every issuance ledgered before its answer, a sequencer process chaining), and
// concurrent clients over HTTP and gRPC authenticating with a development bearer token.
//
//   npm run bench:authority -- --help
//
// Prints the settings, the machine, throughput, latency percentiles and each process's CPU; exits
// 1 when fewer events were chained than artifacts issued.
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, loadPackageDefinition, Metadata, type Client, type ServiceError } from '@grpc/grpc-js';
import { Command, Option } from 'commander';
import { decodeArtifact } from '../core/artifact.js';
import { REASON_TRAILER } from '../core/protocol.js';
import { DEV_ENVIRONMENT, DEV_IDENTITIES, DEV_LOG, writeDevDeployment } from '../devkit/dev-deployment.js';
import { RedisLedgerStore } from '../store/ledger-redis.js';
import { loadAuthorityProto } from '../authority/grpc.js';
import { positiveInt, seconds } from './lib/check-command.js';
import { latencyHistogram, summarize, type Histogram } from './lib/latency.js';
import { machineInfo, processCpuMicros, ownCpuMicros } from './lib/proc-stats.js';
import {
  nodeCommand,
  packageModule,
  loggedLine,
  startChild,
  startRedisServer,
  type ChildServer,
} from '../devkit/server-process.js';

const args = new Command('bench:authority')
  .description(
    'artifacts issued per second by the authority end to end: its own process, redis-server with ' +
      'its append-only file, the ledger on (a sequencer process chaining), HTTP and gRPC clients',
  )
  .option('--seconds <seconds>', 'measured time per transport', seconds, 10)
  .option('--warmup <seconds>', 'unmeasured time before it', seconds, 2)
  .option('--concurrency <n>', 'clients issuing back to back', positiveInt, 64)
  .addOption(
    new Option('--transport <transport>', 'the API the clients call')
      .choices(['both', 'http', 'grpc'])
      .default('both'),
  )
  .option('--channels <n>', 'gRPC channels (TCP connections) the clients share', positiveInt, 4)
  .addOption(
    new Option('--fsync <policy>', "redis-server's appendfsync")
      .choices(['always', 'everysec'])
      .default('always'),
  )
  .option('--profile <dir>', "write the authority process's V8 CPU profile (.cpuprofile) into <dir>")
  .parse()
  .opts<{
    seconds: number;
    warmup: number;
    concurrency: number;
    transport: 'both' | 'http' | 'grpc';
    channels: number;
    fsync: 'always' | 'everysec';
    profile?: string;
  }>();
const SECONDS = args.seconds;
const WARMUP = args.warmup;
const CONCURRENCY = args.concurrency;
const CHANNELS = args.channels;
const TRANSPORTS = args.transport === 'both' ? ['http', 'grpc'] : [args.transport];

const CALLER = DEV_IDENTITIES.workload;
// The shipped example policy (examples/policies/medical-inference-v3.yaml): its deny rules and
// its allow rule are all evaluated for this request.
const BODY = JSON.stringify({
  op: { name: 'model.invoke', model: 'clinical-summary-v4', scope: ['phi.read', 'phi.no_export'] },
  env: { runtime: DEV_ENVIRONMENT.runtime },
});
const GRPC_REQUEST = {
  operation: {
    name: 'model.invoke',
    params: { model: 'clinical-summary-v4' },
    scope: ['phi.read', 'phi.no_export'],
  },
  environment: { runtime: DEV_ENVIRONMENT.runtime },
};

interface Deployment {
  httpPort: number;
  grpcPort: number;
  token: string;
  pids: Record<string, number>;
  redisUrl: string;
  stop(): Promise<void>;
}

/**
 * The production-shaped development deployment (devkit/dev-deployment.ts: root-certified
 * keys, dev tokens, configuration files), then redis-server, the sequencer and the authority.
 */
async function deploy(): Promise<Deployment> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-authority-'));
  const children: ChildServer<unknown>[] = [];
  const stop = async () => {
    for (const child of children.reverse()) await child.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const redis = await startRedisServer(dir, args.fsync);
    const redisUrl = redis.url;
    children.push(redis);
    const deployment = writeDevDeployment(join(dir, 'deployment'), {
      ports: { authorityGrpc: 0, authorityHttp: 0 },
      redisUrl,
      logLevel: 'info',
    });
    const sequencer = await startChild(
      ...nodeCommand(packageModule('sequencer/main'), ['--config', deployment.files.sequencerConfig]),
      loggedLine('sequencer serving', () => true),
    );
    children.push(sequencer);
    const [node, nodeArgs] = nodeCommand(packageModule('authority/main'), [
      '--config',
      deployment.files.authorityConfig,
    ]);
    const profile = args.profile ? ['--cpu-prof', '--cpu-prof-dir', args.profile] : [];
    const authority = await startChild(
      node,
      [...profile, ...nodeArgs],
      loggedLine('authority serving', (log) => ({ grpc: Number(log.grpc), http: Number(log.http) })),
    );
    children.push(authority);
    return {
      httpPort: authority.ready.http,
      grpcPort: authority.ready.grpc,
      token: deployment.tokens.workload,
      pids: { authority: authority.pid, redis: redis.pid, sequencer: sequencer.pid },
      redisUrl,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

interface Tally {
  issued: number;
  denied: Map<string, number>;
  errors: number;
  latency: Histogram;
}

type Issue = () => Promise<string | undefined>;

/** An HTTP issuer over keep-alive connections: resolves with the artifact header, or undefined. */
function httpIssuer(port: number, token: string, tally: Tally): Issue {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  return () =>
    new Promise((resolve) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/v1/govern/execute',
          agent,
          headers: {
            'content-type': 'application/json',
            authorization: `Bearer ${token}`,
            'content-length': Buffer.byteLength(BODY),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
              artifact_header?: string;
              reason?: string;
            };
            if (res.statusCode === 200) return resolve(body.artifact_header);
            tally.denied.set(
              body.reason ?? `http ${res.statusCode}`,
              (tally.denied.get(body.reason ?? '') ?? 0) + 1,
            );
            resolve(undefined);
          });
        },
      );
      req.on('error', () => {
        tally.errors++;
        resolve(undefined);
      });
      req.end(BODY);
    });
}

function grpcIssuer(port: number, token: string, tally: Tally): Issue {
  const proto = loadPackageDefinition(loadAuthorityProto()) as unknown as {
    governance: {
      v1: {
        Authority: new (a: string, c: ReturnType<typeof credentials.createInsecure>, o: object) => Client;
      };
    };
  };
  // Distinct channel options keep grpc-js from sharing one subchannel (one TCP connection).
  const clients = Array.from(
    { length: CHANNELS },
    (_, i) =>
      new proto.governance.v1.Authority(`127.0.0.1:${port}`, credentials.createInsecure(), {
        'bench.channel': i,
      }),
  );
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  let next = 0;
  return () =>
    new Promise((resolve) => {
      const client = clients[next++ % clients.length] as unknown as {
        RequestArtifact(
          r: object,
          m: Metadata,
          cb: (e: ServiceError | null, v: { artifact: string }) => void,
        ): void;
      };
      client.RequestArtifact(GRPC_REQUEST, metadata, (error, value) => {
        if (!error) return resolve(value.artifact);
        const reason = String(error.metadata?.get(REASON_TRAILER)[0] ?? `grpc ${error.code}`);
        tally.denied.set(reason, (tally.denied.get(reason) ?? 0) + 1);
        resolve(undefined);
      });
    });
}

/** Closed loop: CONCURRENCY workers, each issuing back to back until the deadline. */
async function drive(issue: Issue, seconds: number, tally: Tally): Promise<void> {
  const deadline = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < deadline) {
        const started = performance.now();
        const header = await issue();
        if (header !== undefined) {
          tally.issued++;
          tally.latency.recordValue(Math.max(1, Math.round((performance.now() - started) * 1000)));
        }
      }
    }),
  );
}

/** Events chained so far in each Redis (a record is a batch): counted record by record, each once. */
const countedIn = new Map<string, { seq: number; events: number }>();
async function ledgerLength(redisUrl: string): Promise<number> {
  const store = new RedisLedgerStore({ url: redisUrl, log: DEV_LOG });
  const counted = countedIn.get(redisUrl) ?? { seq: 0, events: 0 };
  countedIn.set(redisUrl, counted);
  try {
    const { seq } = await store.tip();
    for (let from = counted.seq + 1; from <= seq; from += 1000)
      for (const { text } of await store.records(from, Math.min(seq, from + 999)))
        counted.events += (JSON.parse(text) as { events: unknown[] }).events.length;
    counted.seq = Math.max(counted.seq, seq);
    return counted.events;
  } finally {
    await store.close();
  }
}

async function main(): Promise<number> {
  const machine = machineInfo();
  console.log('authority issuance benchmark');
  console.log(
    `  settings: ${SECONDS}s measured after ${WARMUP}s warm-up per transport, ${CONCURRENCY} concurrent clients, ` +
      `${CHANNELS} gRPC channels, dev bearer token (no TLS), redis appendonly yes appendfsync ${args.fsync}, ` +
      'ledger on (writer + sequencer process), single-use artifacts, examples/policies/medical-inference-v3.yaml',
  );
  console.log(
    `  machine: ${machine.nproc} CPUs (${machine.cpuModel}), Node ${machine.node}, load ${machine.loadAverage1m.toFixed(2)}`,
  );
  const deployment = await deploy();
  const failures: string[] = [];
  try {
    for (const transport of TRANSPORTS) {
      const tally: Tally = { issued: 0, denied: new Map(), errors: 0, latency: latencyHistogram() };
      const port = transport === 'http' ? deployment.httpPort : deployment.grpcPort;
      const issue =
        transport === 'http'
          ? httpIssuer(port, deployment.token, tally)
          : grpcIssuer(port, deployment.token, tally);
      const sample = await issue();
      if (!sample || decodeArtifact(sample).artifact.sub !== CALLER)
        throw new Error(`${transport}: no valid artifact issued`);
      await drive(issue, WARMUP, { ...tally, latency: latencyHistogram() });
      tally.issued = 0;
      const ledgerBefore = await ledgerLength(deployment.redisUrl);
      const cpuBefore = Object.fromEntries(
        Object.entries(deployment.pids).map(([n, pid]) => [n, processCpuMicros(pid)]),
      );
      const clientCpuBefore = ownCpuMicros();
      const started = performance.now();
      await drive(issue, SECONDS, tally);
      const elapsed = (performance.now() - started) / 1000;
      const cpuMicros: Record<string, number> = Object.fromEntries(
        Object.entries(deployment.pids).map(([name, pid]) => [
          name,
          processCpuMicros(pid) - cpuBefore[name]!,
        ]),
      );
      cpuMicros['bench clients'] = ownCpuMicros() - clientCpuBefore;
      // Every issuance was ledgered before its answer; wait for the sequencer to chain them all.
      const deadline = Date.now() + 30_000;
      let chained = 0;
      while (
        Date.now() < deadline &&
        (chained = (await ledgerLength(deployment.redisUrl)) - ledgerBefore) < tally.issued
      ) {
        await new Promise((r) => setTimeout(r, 100));
      }
      const latency = summarize(tally.latency);
      console.log(`\n  ${transport}:`);
      console.log(
        `    issued ${tally.issued} artifacts in ${elapsed.toFixed(1)} s = ${Math.round(tally.issued / elapsed)} artifacts/s`,
      );
      console.log(
        `    latency µs: p50 ${latency.p50Us}, p90 ${latency.p90Us}, p99 ${latency.p99Us}, p99.9 ${latency.p999Us}, max ${latency.maxUs}`,
      );
      console.log(
        `    denied ${[...tally.denied].map(([r, n]) => `${r}=${n}`).join(', ') || 0}, transport errors ${tally.errors}`,
      );
      console.log(`    ledger: ${chained} events chained for ${tally.issued} issued`);
      // Fewer means the authority ledgered elsewhere than the sequencer chains: not this pipeline.
      if (chained < tally.issued)
        failures.push(`${transport}: ${tally.issued - chained} issuances not chained within 30 s`);
      // CPU time per artifact is what this machine's load does not distort: the capacity of a
      // process is one core divided by it.
      const entries = Object.entries(cpuMicros);
      const perArtifact = (micros: number) => micros / Math.max(1, tally.issued);
      const total = perArtifact(entries.reduce((sum, [, micros]) => sum + micros, 0));
      console.log(
        `    CPU (100% = one core): ${entries.map(([n, us]) => `${n} ${((us / 1e6 / elapsed) * 100).toFixed(0)}%`).join(', ')}`,
      );
      console.log(
        `    CPU per artifact: ${entries.map(([n, us]) => `${n} ${perArtifact(us).toFixed(0)} µs`).join(', ')}; ` +
          `total ${total.toFixed(0)} µs`,
      );
      console.log(
        `    so at most ${Math.round(1e6 / perArtifact(cpuMicros.authority!))}/s per authority core, ` +
          `${Math.round((machine.nproc * 1e6) / total)}/s for the whole pipeline on ${machine.nproc} idle cores`,
      );
    }
  } finally {
    await deployment.stop();
  }
  for (const failure of failures) console.error(`FAILED: ${failure}`);
  return failures.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
