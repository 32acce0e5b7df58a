// npm run bench:ledger [-- --writers 4 --seconds 10 --batch 256 --concurrency 4 --fsync everysec]
// Starts its own redis-server (appendonly yes) and a sequencer process, runs several writers in
// this process appending as fast as the ledger chains (each backs off while its commit lag is
// above 1 s), and prints the events chained per second in the measured window with the settings
// used, plus Redis memory per event. With --drain N the writers first fill the ingest stream with
// N events and only then is the sequencer started: the rate is then the sequencer's and Redis's
// alone, as where the producers run on other machines (their CPU and Redis's are then counted
// from the first append to the last batch proven, the sequencer's from its first commit).
// With --archive the sequencer archives to a directory and trims Redis to --hot-records
// (docs/spec/ledger.md §11.6); --soak S then appends at --rate events/s for S seconds and prints
// Redis's memory, by key, every --sample seconds, and the archive's bytes per event: a bounded
// Redis is one whose used_memory stays flat.
import { generateKeyPairSync, randomBytes, sign, verify } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';

import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { Redis } from 'ioredis';
import { parse, stringify } from 'yaml';
import { DEV_LOG, writeDevDeployment } from '../devkit/dev-deployment.js';
import {
  loggedLine,
  nodeCommand,
  packageModule,
  startChild,
  startRedisServer,
  type ChildServer,
} from '../devkit/server-process.js';
import { canonicalBytes } from '../core/canonical.js';
import { nodeCrypto } from '../core/crypto-node.js';
import { base64urlDecode } from '../core/encoding.js';
import { LINEAGE_STAGES, type LedgerEvent } from '../core/event.js';
import { keyFromPem } from '../core/keys.js';
import type { KeyRecord } from '../core/registry.js';
import { formatMillis } from '../core/time.js';
import { routedLedgerWriter } from '../ledger/routed-writer.js';
import { createLedgerWriter } from '../ledger/writer.js';
import { FsLedgerArchive } from '../store/archive-fs.js';
import { ArchivedLedgerStore } from '../store/ledger-archived.js';
import { RedisLedgerStore, ledgerKeys } from '../store/ledger-redis.js';
import type { LedgerStore } from '../store/ledger-types.js';

const options = new Command('bench:ledger')
  .description(
    'events chained per second by the ledger: writers appending, its own redis-server, a sequencer process',
  )
  .option('--writers <n>', 'writers appending concurrently', '4')
  .option('--concurrency <n>', 'append calls each writer keeps in flight', '4')
  .option('--events <n>', 'events per append call', '16')
  .option('--batch <n>', 'events per producer batch signature at most (writer maxBatch)', '256')
  .option('--seconds <n>', 'measured window', '10')
  .option('--warmup <n>', 'seconds before measuring', '2')
  .option('--fsync <policy>', 'appendfsync: always | everysec | no', 'everysec')
  .option('--open-workers <n>', "the sequencer's worker threads opening ingest entries (OPEN_WORKERS)", '0')
  .option('--drain <n>', 'append n events first, then start the sequencer and time it chaining them')
  .option('--cpu-prof', 'profile the sequencer process (node --cpu-prof, into .bench-out/)')
  .option(
    '--logs <n>',
    'partitioned logs, each with its own sequencer process; every writer routes each event by its lineage',
    '1',
  )
  .option('--archive', 'archive to a directory and trim Redis to --hot-records (docs/spec/ledger.md §11.6)')
  .option('--hot-records <n>', "records the sequencer keeps in Redis below the archive's frontier", '4096')
  .option('--hot-ms <ms>', 'and the records of at least this many ms of checkpoints', '30000')
  .option('--soak <seconds>', 'append at --rate for this long, sampling Redis memory (implies --archive)')
  .option(
    '--replay-window <ms>',
    "the sequencer's replayWindowMs: batches are remembered for two of them (docs/spec/ledger.md §11.4)",
  )
  .option('--rate <n>', 'events appended per second in a soak', '2000')
  .option('--sample <seconds>', 'seconds between memory samples in a soak', '60')
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

/** Microseconds Redis has spent in each command (INFO commandstats), scripts under their name. */
async function commandTimes(admin: Redis): Promise<Map<string, number>> {
  const times = new Map<string, number>();
  for (const [, name, usec] of (await admin.info('commandstats')).matchAll(
    /cmdstat_([^:]+):calls=\d+,usec=(\d+)/g,
  ))
    times.set(name!, Number(usec));
  return times;
}

/** Records from..to as stored: how many, their events, and bytes (record texts, canonical events). */
async function recordStats(store: LedgerStore, from: number, to: number) {
  const stats = { records: 0, events: 0, recordBytes: 0, eventBytes: 0 };
  for (let page = from; page <= to; page += 1000) {
    for (const { text } of await store.records(page, Math.min(to, page + 999))) {
      const { events } = JSON.parse(text) as { events: LedgerEvent[] };
      stats.records++;
      stats.events += events.length;
      stats.recordBytes += Buffer.byteLength(text);
      stats.eventBytes += events.reduce((n, e) => n + canonicalBytes(e).length, 0);
    }
  }
  return stats;
}

/**
 * This machine's cost of the work no ledger can avoid per event (µs of CPU): one SHA3-512 and
 * one BLAKE2b-512 over the bytes it stores, and its share of one Ed25519 verification per batch.
 */
function floorCost(storedBytes: number, eventsPerBatch: number): number {
  const bytes = randomBytes(Math.round(storedBytes));
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const signature = sign(null, bytes, privateKey);
  const time = (n: number, work: () => unknown) => {
    for (let i = 0; i < Math.min(n, 1000); i++) work();
    const before = process.cpuUsage();
    for (let i = 0; i < n; i++) work();
    const used = process.cpuUsage(before);
    return (used.user + used.system) / n;
  };
  const hashes = time(50_000, () => {
    nodeCrypto.sha3_512(bytes);
    nodeCrypto.blake2b_512(bytes);
  });
  const verification = time(5_000, () => verify(null, bytes, publicKey, signature));
  return hashes + verification / eventsPerBatch;
}

/** CPU seconds used so far by each part, to tell where time goes on a shared machine (no sequencer yet: 0). */
async function cpuSeconds(admin: Redis, sequencerPids: number[]) {
  const info = await admin.info('cpu');
  const redisCpu = ['used_cpu_user', 'used_cpu_sys'].reduce(
    (sum, name) => sum + Number((info.match(new RegExp(`${name}:([\\d.]+)`)) ?? [])[1]),
    0,
  );
  // /proc/<pid>/stat fields 14 and 15: user and system time in clock ticks (100 per second).
  const sequencerCpu = sequencerPids.reduce((sum, pid) => {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return sum + (Number(stat[11]) + Number(stat[12])) / 100;
  }, 0);
  const own = process.cpuUsage();
  return { redis: redisCpu, sequencer: sequencerCpu, writers: (own.user + own.system) / 1e6 };
}

const dir = mkdtempSync(join(tmpdir(), 'bench-ledger-'));
const redis = await startRedisServer(dir, options.fsync as 'always' | 'everysec' | 'no');
const admin = new Redis(redis.url);
// A development deployment (devkit/dev-deployment.ts): root-certified producer keys and the
// audit key.
/** The logs of a partitioned ledger (docs/spec/ledger.md §14): DEV_LOG and the others. */
const logIds = Array.from({ length: num('logs') }, (_, i) => (i === 0 ? DEV_LOG : `${DEV_LOG}-${i + 1}`));
const deployment = writeDevDeployment(join(dir, 'deployment'), {
  redisUrl: redis.url,
  logs: logIds.slice(1),
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
const sequencerConfigs = logIds.map((log, i) =>
  i === 0 ? deployment.files.sequencerConfig : deployment.files.logSequencerConfigs[log]!,
);
/** The writers prove their batches in their log's checkpoints, signed by its audit key. */
const auditKeys = new Map(
  sequencerConfigs.map((path) => {
    const { audit } = parse(readFileSync(path, 'utf8')) as { audit: { certificateFile: string } };
    const record = JSON.parse(readFileSync(audit.certificateFile, 'utf8')) as KeyRecord;
    return [record.kid, { publicKey: base64urlDecode(record.public_key)! }];
  }),
);
const drain = options.drain === undefined ? undefined : num('drain');
const soak = options.soak === undefined ? undefined : num('soak');
/** Each log's archive directory (none: no archive). */
const archiveDirs =
  options.archive || soak !== undefined ? logIds.map((log) => join(dir, 'archive', log)) : undefined;
archiveDirs?.forEach((archiveDir, i) => {
  mkdirSync(archiveDir, { recursive: true });
  const config = parse(readFileSync(sequencerConfigs[i]!, 'utf8')) as {
    ledger: object;
    replayWindowMs?: number;
  };
  config.ledger = {
    ...config.ledger,
    archive: { type: 'fs', dir: archiveDir },
    hotRecords: num('hotRecords'),
    hotMs: num('hotMs'),
  };
  if (options.replayWindow !== undefined) config.replayWindowMs = num('replayWindow');
  writeFileSync(sequencerConfigs[i]!, stringify(config));
});
const archiveDir = archiveDirs?.[0];

/** Bytes of the files under a directory. */
function diskBytes(path: string): number {
  return statSync(path).isDirectory()
    ? readdirSync(path).reduce((n, name) => n + diskBytes(join(path, name)), 0)
    : statSync(path).size;
}

const usedMemory = async () => Number(((await admin.info('memory')).match(/used_memory:(\d+)/) ?? [])[1]);

/**
 * Redis memory by ledger key (MEMORY USAGE, every element counted); `index` is the whole stored
 * lineage index: its top nodes, its shards' versions and sizes, and every shard's overlay.
 */
async function memoryByKey(): Promise<[string, number][]> {
  const keys = ledgerKeys(DEV_LOG);
  const usage = async (key: string) =>
    Number((await admin.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) ?? 0);
  const named = ['ingest', 'checkpoints', 'tiles', 'batches', 'commits', 'dead'] as const;
  const sizes = await Promise.all(named.map((name) => usage(keys[name])));
  const overlays = await admin.zrange(keys.indexPending, '0', '-1');
  const index = await Promise.all(
    [
      keys.index,
      keys.indexVersions,
      keys.indexPending,
      ...overlays.map((s) => keys.indexOverlay(Number(s))),
    ].map(usage),
  );
  return [
    ...named.map((name, i): [string, number] => [name, sizes[i]!]),
    ['index', index.reduce((a, b) => a + b, 0)],
  ];
}
const startSequencer = (config: string) =>
  startChild(
    ...nodeCommand(
      packageModule('sequencer/main'),
      ['--config', config],
      [
        // A larger young generation: the sequencer allocates fast and briefly (documented in docs/spec/ledger.md).
        '--max-semi-space-size=64',
        ...(options.cpuProf ? ['--cpu-prof', '--cpu-prof-dir=.bench-out'] : []),
      ],
    ),
    loggedLine('sequencer serving', () => true),
  );
let sequencers: ChildServer<unknown>[] = [];
const startSequencers = async () => {
  sequencers = await Promise.all(sequencerConfigs.map(startSequencer));
};
try {
  if (drain === undefined) await startSequencers();
  const version = ((await admin.info('server')).match(/redis_version:(\S+)/) ?? [])[1];
  const memoryBefore = await usedMemory();
  // Each writer is a producer with a writer per log, routing every event to its lineage's log
  // (docs/spec/ledger.md §14): with one log, the one writer.
  const stores = Array.from({ length: num('writers') }, () =>
    logIds.map((log) => new RedisLedgerStore({ url: redis.url, log })),
  );
  const writers = await Promise.all(
    stores.map(async (own) =>
      routedLedgerWriter(
        nodeCrypto,
        new Map(
          await Promise.all(
            own.map(
              async (store) =>
                [
                  store.log,
                  await createLedgerWriter({
                    store,
                    ...producer,
                    maxBatch: num('batch'),
                    checkpoints: { auditKeys: () => auditKeys },
                  }),
                ] as const,
            ),
          ),
        ),
      ),
    ),
  );
  const redisTips = logIds.map((log) => new RedisLedgerStore({ url: redis.url, log }));
  // Records the sequencers trimmed are read from the archives.
  const tipStores: LedgerStore[] = redisTips.map((store, i) =>
    archiveDirs ? new ArchivedLedgerStore(store, new FsLedgerArchive({ dir: archiveDirs[i]! })) : store,
  );
  const [redisTip, tipStore] = [redisTips[0]!, tipStores[0]!];
  let running = true;
  let appended = 0;
  const sample = async () => ({
    seqs: await Promise.all(tipStores.map(async (store) => (await store.tip()).seq)),
    at: performance.now(),
    cpu: await cpuSeconds(
      admin,
      sequencers.map((s) => s.pid!),
    ),
    commands: await commandTimes(admin),
  });
  let start: Awaited<ReturnType<typeof sample>>;
  let end: typeof start;
  /** With --drain, the writers and Redis are measured from before the first append. */
  let before: typeof start | undefined;
  if (drain !== undefined) before = await sample();
  const began = performance.now();
  const loops = writers.flatMap((writer, w) =>
    Array.from({ length: num('concurrency') }, async (_, c) => {
      for (let i = c * 1_000_000; running && (drain === undefined || appended < drain);) {
        const behind = soak !== undefined && appended >= (num('rate') * (performance.now() - began)) / 1000;
        if ((drain === undefined && writer.commitLagMs() > 1000) || behind) {
          await sleep(5);
          continue;
        }
        const events = Array.from({ length: num('events') }, () => benchEvent(w, i++));
        await writer.append(events);
        appended += events.length;
      }
    }),
  );

  if (soak !== undefined) {
    await sleep(num('warmup') * 1000);
    start = await sample();
    const samples: { memory: number; index: number; archive: number }[] = [];
    for (let at = 0; at < soak;) {
      const pause = Math.min(num('sample'), soak - at);
      await sleep(pause * 1000);
      at += pause;
      const tip = await redisTip.tip();
      const memory = await usedMemory();
      const archive = diskBytes(archiveDir!);
      const byKey = await memoryByKey();
      samples.push({ memory, index: byKey.find(([name]) => name === 'index')![1], archive });
      console.log(
        `  soak ${at.toFixed(0)} s: used_memory ${(memory / 2 ** 20).toFixed(1)} MiB; records ${tip.seq} ` +
          `(${tip.seq - tip.trimmed} in redis, archived ${tip.archived}); archive ${(archive / 2 ** 20).toFixed(1)} MiB; ` +
          byKey.map(([name, bytes]) => `${name} ${(bytes / 2 ** 20).toFixed(2)}`).join(', ') +
          ' MiB',
      );
    }
    end = await sample();
    running = false;
    await Promise.all(loops);
    // Flat: the spread over the samples after the first, against their least; the lineage index
    // apart too, since it alone grows with every lineage ever chained (docs/spec/ledger.md §13).
    const spread = (values: number[]) => {
      const [low, high] = [Math.min(...values), Math.max(...values)];
      return `${(low / 2 ** 20).toFixed(1)}–${(high / 2 ** 20).toFixed(1)} MiB (${values.length > 0 ? (((high - low) / low) * 100).toFixed(1) : '–'} % spread)`;
    };
    const steady = samples.slice(1);
    const last = samples.at(-1)!;
    const archived = await recordStats(tipStore, 1, (await redisTip.tip()).archived);
    console.log(
      `  soak: used_memory ${spread(steady.map((x) => x.memory))} after the first sample; ` +
        `without the lineage index ${spread(steady.map((x) => x.memory - x.index))}; ` +
        `archive ${archived.events > 0 ? Math.round(last.archive / archived.events) : '–'} B per archived event ` +
        `(${archived.events.toLocaleString('en')} events in ${archived.records.toLocaleString('en')} records, ` +
        `${(last.archive / 2 ** 20).toFixed(1)} MiB)`,
    );
  } else if (drain === undefined) {
    await sleep(num('warmup') * 1000);
    start = await sample();
    await sleep(num('seconds') * 1000);
    end = await sample();
    running = false;
    await Promise.all(loops);
  } else {
    await Promise.all(loops);
    await startSequencers();
    // Measured from their first commit (start-up and taking the lease left out) to the last.
    while ((await sample()).seqs.some((seq) => seq === 0)) await sleep(5);
    start = await sample();
    // Consumed ingest entries are deleted with their commit: empty streams are all chained;
    // and the writers' work ends when they have proven every batch in a checkpoint.
    const backlog = async () =>
      (await Promise.all(logIds.map((log) => admin.xlen(ledgerKeys(log).ingest)))).reduce((a, b) => a + b);
    while ((await backlog()) > 0) await sleep(20);
    end = await sample();
    while (writers.some((w) => w.commitLagMs() > 0)) await sleep(20);
    const proven = await sample();
    // Writers and Redis: appending and proving, from the first append to the last proof.
    for (const part of ['writers', 'redis'] as const) {
      start.cpu[part] = before!.cpu[part];
      end.cpu[part] = proven.cpu[part];
    }
  }
  await Promise.all(writers.map((w) => w.close()));
  const tips = await Promise.all(tipStores.map((store) => store.tip()));
  const tip = tips[0]!;
  const records = tips.reduce((sum, t) => sum + t.seq, 0);
  const memoryAfter = await usedMemory();
  const backlog = (await Promise.all(logIds.map((log) => admin.xlen(ledgerKeys(log).ingest)))).reduce(
    (a, b) => a + b,
  );
  // A record is a batch: the events of the measured records, and what is stored for them.
  const sum = (stats: Awaited<ReturnType<typeof recordStats>>[]) =>
    stats.reduce((a, b) => ({
      records: a.records + b.records,
      events: a.events + b.events,
      recordBytes: a.recordBytes + b.recordBytes,
      eventBytes: a.eventBytes + b.eventBytes,
    }));
  const windows = await Promise.all(
    tipStores.map((store, i) => recordStats(store, start.seqs[i]! + 1, end.seqs[i]!)),
  );
  const window = sum(windows);
  const all = sum(await Promise.all(tipStores.map((store, i) => recordStats(store, 1, tips[i]!.seq))));
  const events = window.events;
  const seconds = (end.at - start.at) / 1000;
  const rate = (events * 1000) / (end.at - start.at);
  const perEvent = (part: 'writers' | 'sequencer' | 'redis') =>
    ((end.cpu[part] - start.cpu[part]) * 1e6) / events;
  const parts = (['writers', 'sequencer', 'redis'] as const).map((part) => [part, perEvent(part)] as const);
  const total = parts.reduce((sum, [, us]) => sum + us, 0);
  // Stored per event: its share of its record's text (an entry bundle holds it with a 2-byte
  // length) and of the tree's tiles (32 bytes per record at level 0, 1/256 of that above).
  const storedPerEvent = (all.recordBytes + all.records * (2 + 32 * (256 / 255))) / all.events;
  const floor = floorCost(storedPerEvent, all.events / all.records);
  console.log(
    [
      `ledger benchmark: ${Math.round(rate).toLocaleString('en')} events chained/s over ` +
        (soak !== undefined
          ? `a ${soak} s soak at ${options.rate} events/s`
          : drain === undefined
            ? `${options.seconds} s`
            : `${((end.at - start.at) / 1000).toFixed(1)} s, draining ${appended.toLocaleString('en')} events appended before the sequencer started`),
      `  writers ${options.writers} × ${options.concurrency} appends in flight × ${options.events} events; ` +
        `producer batch ≤ ${options.batch} events per signature and record; ${(all.events / all.records).toFixed(1)} events per record; ` +
        `${options.openWorkers} open worker(s)`,
      `  redis ${version}, appendonly yes, appendfsync ${options.fsync}; node ${process.version}; events appended ${appended.toLocaleString('en')}`,
      `  chained ${all.events.toLocaleString('en')} events in ${records.toLocaleString('en')} records; ingest backlog at stop ${backlog} entries`,
      ...(logIds.length > 1
        ? logIds.map(
            (log, i) =>
              `  log ${log}: ${Math.round(windows[i]!.events / seconds).toLocaleString('en')} events chained/s ` +
              `(${windows[i]!.events.toLocaleString('en')} events), its own sequencer`,
          )
        : []),
      `  CPU per chained event: ` +
        parts.map(([part, us]) => `${part} ${us.toFixed(1)} µs`).join(', ') +
        `; all ${total.toFixed(1)} µs (load average ${loadavg()[0]!.toFixed(1)} on ${cpus().length} cores)`,
      `  floor on this machine: ${floor.toFixed(2)} µs per event (SHA3-512 and BLAKE2b-512 over ` +
        `${Math.round(storedPerEvent)} B, a ${Math.round(all.events / all.records)}th of an Ed25519 verification); ` +
        `all parts ${(total / floor).toFixed(1)}× the floor`,
      `  stored per event: ${Math.round(storedPerEvent)} B (record share, bundle length, tiles) for a canonical event of ` +
        `${Math.round(all.eventBytes / all.events)} B: ${(storedPerEvent / (all.eventBytes / all.events)).toFixed(2)}×`,
      `  redis time per event by command: ` +
        [...end.commands]
          .map(([name, usec]) => [name, (usec - (start.commands.get(name) ?? 0)) / events] as const)
          .filter(([, us]) => us >= 0.05)
          .sort((a, b) => b[1] - a[1])
          .slice(0, 8)
          .map(([name, us]) => `${name} ${us.toFixed(2)} µs`)
          .join(', '),
      `  redis memory: ${Math.round((memoryAfter - memoryBefore) / all.events)} B/event, all ledger keys ` +
        `(used_memory delta, with the lineage index` +
        (archiveDir ? `; archived ${tip.archived}, trimmed ${tip.trimmed} of ${tip.seq} records)` : ')'),
    ].join('\n'),
  );
  await Promise.all([...stores.flat(), ...tipStores].map((s) => s.close()));
} finally {
  await Promise.all(sequencers.map((s) => s.stop()));
  await redis.stop();
  admin.disconnect();
  rmSync(dir, { recursive: true, force: true });
}
