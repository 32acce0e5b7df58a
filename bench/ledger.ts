// npm run bench:ledger [-- --writers 4 --seconds 10 --batch 64 --concurrency 4 --fsync everysec]
// Starts its own redis-server (appendonly yes) and a sequencer process, runs several writers in
// this process appending as fast as the ledger chains (each backs off while its commit lag is
// above 1 s), and prints the events chained per second in the measured window with the settings
// used, plus Redis memory per event. With --drain N the writers first fill the ingest stream with
// N events and only then is the sequencer started: the rate is then the sequencer's and Redis's
// alone, as where the producers run on other machines.
import { base64urlDecode } from '../core/encoding.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';

import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { Redis } from 'ioredis';
import { parse } from 'yaml';
import { DEV_LOG, writeDevDeployment } from '../devkit/dev-deployment.js';
import {
  loggedLine,
  nodeCommand,
  packageModule,
  startChild,
  startRedisServer,
  type ChildServer,
} from '../devkit/server-process.js';
import { LINEAGE_STAGES, type LedgerEvent } from '../core/event.js';
import { keyFromPem } from '../core/keys.js';
import type { KeyRecord } from '../core/registry.js';
import { formatMillis } from '../core/time.js';
import { createLedgerWriter } from '../ledger/writer.js';
import { RedisLedgerStore, ledgerKeys } from '../store/ledger-redis.js';

const options = new Command('bench:ledger')
  .description(
    'events chained per second by the ledger: writers appending, its own redis-server, a sequencer process',
  )
  .option('--writers <n>', 'writers appending concurrently', '4')
  .option('--concurrency <n>', 'append calls each writer keeps in flight', '4')
  .option('--events <n>', 'events per append call', '16')
  .option('--batch <n>', 'events per producer batch signature (writer maxBatch)', '64')
  .option('--seconds <n>', 'measured window', '10')
  .option('--warmup <n>', 'seconds before measuring', '2')
  .option('--fsync <policy>', 'appendfsync: always | everysec | no', 'everysec')
  .option('--open-workers <n>', "the sequencer's worker threads opening ingest entries (OPEN_WORKERS)", '0')
  .option('--drain <n>', 'append n events first, then start the sequencer and time it chaining them')
  .option('--cpu-prof', 'profile the sequencer process (node --cpu-prof, into .bench-out/)')
  .parse()
  .opts<Record<string, string>>();
const num = (name: string) => Number(options[name]);

/** Events shaped like the white paper's records (§4.4, §6.4): every one belongs to an operation's lineage. */
function benchEvent(writer: number, i: number): LedgerEvent {
  const op = Math.floor(i / LINEAGE_STAGES.length);
  return {
    v: '1',
    type: LINEAGE_STAGES[i % LINEAGE_STAGES.length]!,
    time: formatMillis(Date.now()),
    producer: producer.subject,
    lineage: `lineage://op/w${writer}-${op}`,
    identity: 'spiffe://cluster.local/ns/inference/sa/inference-gateway',
    operation: 'model.invoke',
    policy_required: 'policy://medical/inference/v3',
    artifact_id: `auth_01HZK9R2P3M7F8B4W${writer}X${op}`,
    issuer: 'governance://11-11/authority/prod',
    runtime: 'k8s://cluster-east-1/ns/inference',
    request_id: `req-${writer}-${i}`,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** CPU seconds used so far by each part, to tell where time goes on a shared machine. */
async function cpuSeconds(admin: Redis, sequencerPid: number) {
  const info = await admin.info('cpu');
  const redisCpu = ['used_cpu_user', 'used_cpu_sys'].reduce(
    (sum, name) => sum + Number((info.match(new RegExp(`${name}:([\\d.]+)`)) ?? [])[1]),
    0,
  );
  // /proc/<pid>/stat fields 14 and 15: user and system time in clock ticks (100 per second).
  const stat = readFileSync(`/proc/${sequencerPid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const sequencerCpu = (Number(stat[11]) + Number(stat[12])) / 100;
  const own = process.cpuUsage();
  return { redis: redisCpu, sequencer: sequencerCpu, writers: (own.user + own.system) / 1e6 };
}

const dir = mkdtempSync(join(tmpdir(), 'bench-ledger-'));
const redis = await startRedisServer(dir, options.fsync as 'always' | 'everysec' | 'no');
const admin = new Redis(redis.url);
// A development deployment (devkit/dev-deployment.ts): root-certified producer keys and the
// audit key.
const deployment = writeDevDeployment(join(dir, 'deployment'), {
  redisUrl: redis.url,
  sequencer: { headIntervalMs: 1000, openWorkers: num('openWorkers') },
  // startSequencer waits for its 'sequencer serving' line.
  logLevel: 'info',
});
const authz = parse(readFileSync(deployment.files.authzConfig, 'utf8')) as {
  producer: { keyFile: string; certificateFile: string };
};
const certificate = JSON.parse(readFileSync(authz.producer.certificateFile, 'utf8')) as KeyRecord;
/** The key every writer signs with, and the producer its record certifies it for (the events' `producer`). */
const producer = {
  kid: certificate.kid,
  subject: certificate.subject,
  privateKey: keyFromPem(readFileSync(authz.producer.keyFile, 'utf8')),
};
/** The writers prove their batches in the sequencer's checkpoints, signed by the deployment's audit key. */
const sequencerConfig = parse(readFileSync(deployment.files.sequencerConfig, 'utf8')) as {
  audit: { certificateFile: string };
};
const auditRecord = JSON.parse(readFileSync(sequencerConfig.audit.certificateFile, 'utf8')) as KeyRecord;
const auditKeys = new Map([[auditRecord.kid, { publicKey: base64urlDecode(auditRecord.public_key)! }]]);
const drain = options.drain === undefined ? undefined : num('drain');
const startSequencer = () =>
  startChild(
    ...nodeCommand(
      packageModule('sequencer/main'),
      ['--config', deployment.files.sequencerConfig],
      [
        // A larger young generation: the sequencer allocates fast and briefly (documented in docs/spec/ledger.md).
        '--max-semi-space-size=64',
        ...(options.cpuProf ? ['--cpu-prof', '--cpu-prof-dir=.bench-out'] : []),
      ],
    ),
    loggedLine('sequencer serving', () => true),
  );
let sequencer: ChildServer<unknown> | undefined;
try {
  if (drain === undefined) sequencer = await startSequencer();
  const version = ((await admin.info('server')).match(/redis_version:(\S+)/) ?? [])[1];
  const memoryBefore = Number(((await admin.info('memory')).match(/used_memory:(\d+)/) ?? [])[1]);
  const stores = Array.from(
    { length: num('writers') },
    () => new RedisLedgerStore({ url: redis.url, log: DEV_LOG }),
  );
  const writers = await Promise.all(
    stores.map((store) =>
      createLedgerWriter({
        store,
        ...producer,
        maxBatch: num('batch'),
        checkpoints: { auditKeys: () => auditKeys },
      }),
    ),
  );
  const tipStore = new RedisLedgerStore({ url: redis.url, log: DEV_LOG });
  let running = true;
  let appended = 0;
  const loops = writers.flatMap((writer, w) =>
    Array.from({ length: num('concurrency') }, async (_, c) => {
      for (let i = c * 1_000_000; running && (drain === undefined || appended < drain);) {
        if (drain === undefined && writer.commitLagMs() > 1000) {
          await sleep(5);
          continue;
        }
        const events = Array.from({ length: num('events') }, () => benchEvent(w, i++));
        await writer.append(events);
        appended += events.length;
      }
    }),
  );
  const sample = async () => ({
    seq: (await tipStore.tip()).seq,
    at: performance.now(),
    cpu: await cpuSeconds(admin, sequencer!.pid),
  });
  let start: Awaited<ReturnType<typeof sample>>;
  let end: typeof start;
  if (drain === undefined) {
    await sleep(num('warmup') * 1000);
    start = await sample();
    await sleep(num('seconds') * 1000);
    end = await sample();
    running = false;
    await Promise.all(loops);
  } else {
    await Promise.all(loops);
    sequencer = await startSequencer();
    // Measured from its first commit (start-up and taking the lease left out) to the last.
    while ((await tipStore.tip()).seq === 0) await sleep(5);
    start = await sample();
    while ((await tipStore.tip()).seq < appended) await sleep(20);
    end = await sample();
  }
  await Promise.all(writers.map((w) => w.close()));
  const rate = ((end.seq - start.seq) * 1000) / (end.at - start.at);
  const keys = ledgerKeys(DEV_LOG);
  const tip = await tipStore.tip();
  const chainBytes = Number(await admin.call('MEMORY', 'USAGE', keys.chain, 'SAMPLES', '0'));
  const memoryAfter = Number(((await admin.info('memory')).match(/used_memory:(\d+)/) ?? [])[1]);
  const backlog = await admin.xlen(keys.ingest);
  console.log(
    [
      `ledger benchmark: ${Math.round(rate).toLocaleString('en')} events chained/s over ` +
        (drain === undefined
          ? `${options.seconds} s`
          : `${((end.at - start.at) / 1000).toFixed(1)} s, draining ${appended.toLocaleString('en')} events appended before the sequencer started`),
      `  writers ${options.writers} × ${options.concurrency} appends in flight × ${options.events} events; ` +
        `producer batch ≤ ${options.batch} events per signature; sequencer commits ≤ 2048 records, ` +
        `${options.openWorkers} open worker(s)`,
      `  redis ${version}, appendonly yes, appendfsync ${options.fsync}; node ${process.version}; events appended ${appended.toLocaleString('en')}`,
      `  chained ${tip.seq.toLocaleString('en')} records; ingest backlog at stop ${backlog} entries`,
      `  CPU per chained event: ` +
        (['writers', 'sequencer', 'redis'] as const)
          .map(
            (part) =>
              `${part} ${(((end.cpu[part] - start.cpu[part]) * 1e6) / (end.seq - start.seq)).toFixed(1)} µs`,
          )
          .join(', ') +
        ` (load average ${loadavg()[0]!.toFixed(1)} on ${cpus().length} cores)`,
      `  memory: chain stream ${Math.round(chainBytes / tip.seq)} B/record (MEMORY USAGE), ` +
        `all ledger keys ${Math.round((memoryAfter - memoryBefore) / tip.seq)} B/record (used_memory delta, with lineage index)`,
    ].join('\n'),
  );
  await Promise.all([...stores, tipStore].map((s) => s.close()));
} finally {
  await sequencer?.stop();
  await redis.stop();
  admin.disconnect();
  rmSync(dir, { recursive: true, force: true });
}
