// The archive wired in (docs/spec/ledger.md §11.6): the sequencer's leader copies sealed bundles,
// tiles and checkpoints to a real directory, trims the store to its hot tail, and every reader —
// ranges, proofs, lineage walks, the verifier — reads archive and store as one log. Each step of
// archiving is interrupted (a failing write, a failing trim) and repeated, with the same result;
// what does not match the signed tree is never archived, and nothing is trimmed that is not.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCheckpointNote } from '../../core/checkpoint.js';
import { nodeCrypto } from '../../core/crypto-node.js';
import { isGovernanceError } from '../../core/errors.js';
import {
  verifyConsistencyProof,
  verifyInclusionProof,
  verifyLineageProof,
  type ProofTrust,
} from '../../core/proofs.js';
import { LedgerArchiver, tilesWithin } from '../../ledger/archive.js';
import type { LedgerWriterOptions } from '../../ledger/writer.js';
import { decodeShardLeaves, indexShardPath, listAll, openingPath } from '../../store/archive-layout.js';
import { indexKey, indexShardOf } from '../../core/smt.js';
import { utf8Encode } from '../../core/encoding.js';
import { StoreLedgerReader } from '../../ledger/reader.js';
import { verifyExportFile, verifyStore } from '../../ledger/verify.js';
import { FsLedgerArchive } from '../../store/archive-fs.js';
import { S3LedgerArchive } from '../../store/archive-s3.js';
import type { LedgerArchive } from '../../store/archive-types.js';
import { ArchivedLedgerStore } from '../../store/ledger-archived.js';
import { RedisLedgerStore, ledgerKeys as redisKeys } from '../../store/ledger-redis.js';
import type { ArchiveAdvance, LedgerLease, LedgerStore } from '../../store/ledger-types.js';
import { EXIT } from '../../cli/output.js';
import { govctl } from '../support/govctl.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { startS3, type TestS3 } from '../support/s3.js';
import {
  TestLedger,
  ledgerKeys,
  lineageEvents,
  memoryStores,
  testEvent,
  redisStores,
  until,
  type StoreFactory,
} from './support.js';

const trust: ProofTrust = { keys: ledgerKeys };
const root = mkdtempSync(join(tmpdir(), 'ledger-archive-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const newDir = () => {
  const dir = join(root, String(++dirs));
  mkdirSync(dir);
  return dir;
};

/** Every file of a directory by relative path, with its bytes (the staging directory left out). */
function files(dir: string): Map<string, string> {
  const found = new Map<string, string>();
  const walk = (at: string) => {
    for (const name of readdirSync(at)) {
      const path = join(at, name);
      if (statSync(path).isDirectory()) {
        if (name !== '~staging') walk(path);
      } else found.set(relative(dir, path), readFileSync(path).toString('base64'));
    }
  };
  walk(dir);
  return found;
}

/**
 * Operations of seven events each, appended as one-event batches (one record per event), twenty
 * at a time, each twenty checkpointed before the next: a history with a checkpoint every 140
 * records at least.
 */
async function appendOperations(
  ledger: TestLedger,
  operations: number,
  options: Partial<LedgerWriterOptions> = {},
): Promise<void> {
  const writer = await ledger.writer({ maxBatch: 1, ...options });
  for (let op = 0; op < operations; op += 20) {
    const count = Math.min(20, operations - op);
    await Promise.all(
      Array.from({ length: count }, (_, i) => writer.append(lineageEvents(`op-${op + i}`, (op + i) * 7))),
    );
    const size = (op + count) * 7;
    await until(async () => (await ledger.store.tip()).signedSeq >= size, 60_000, `a checkpoint at ${size}`);
  }
}

/** A lease of its own over a stopped ledger, for driving an archiver step by step. */
async function leaseOf(store: LedgerStore): Promise<LedgerLease> {
  let lease: LedgerLease | undefined;
  await until(
    async () => (lease = await store.acquireLease('archive-test', 60_000)) !== undefined,
    10_000,
    'the lease',
  );
  return lease!;
}

/**
 * A chain of `operations` seven-event operations, checkpointed, its sequencer stopped: a store of
 * its own over it and a lease, for driving an archiver step by step.
 */
async function stoppedChain(
  stores: StoreFactory,
  operations: number,
  options: Partial<LedgerWriterOptions> = {},
) {
  const ledger = new TestLedger(stores);
  const store = stores();
  try {
    ledger.sequencer();
    await appendOperations(ledger, operations, options);
    const size = operations * 7;
    await until(
      async () => (await store.tip()).signedSeq === size,
      60_000,
      `a checkpoint over ${size} records`,
    );
  } catch (e) {
    await store.close();
    throw e;
  } finally {
    await ledger.close();
  }
  return { store, lease: await leaseOf(store) };
}

/** An archive whose k-th immutable write fails, as a crash there would leave it. */
function failingAt(archive: LedgerArchive, k: number): LedgerArchive {
  let writes = 0;
  return new Proxy(archive, {
    get(target, name, receiver) {
      if (name === 'putImmutable')
        return async (path: string, bytes: Uint8Array) => {
          if (++writes === k) throw new Error(`crash before writing ${path}`);
          return target.putImmutable(path, bytes);
        };
      return Reflect.get(target, name, receiver) as unknown;
    },
  });
}

/** The store with a frontier of its own, moved by the archiver and forgotten after: a chain to archive again and again. */
function sandbox(store: LedgerStore): LedgerStore & { frontier: { archived: number; trimmed: number } } {
  const frontier = { archived: 0, trimmed: 0 };
  return new Proxy(store, {
    get(target, name, receiver) {
      if (name === 'frontier') return frontier;
      if (name === 'tip') return async () => ({ ...(await target.tip()), ...frontier });
      if (name === 'advanceArchive')
        return async (_: LedgerLease, advance: ArchiveAdvance) => {
          frontier.archived = Math.max(frontier.archived, advance.archived);
        };
      return Reflect.get(target, name, receiver) as unknown;
    },
  }) as LedgerStore & { frontier: { archived: number; trimmed: number } };
}

/** A store whose first trim fails, after the frontier's `archived` has moved. */
function failingTrim(store: LedgerStore): LedgerStore {
  let failed = false;
  return new Proxy(store, {
    get(target, name, receiver) {
      if (name === 'advanceArchive')
        return async (lease: LedgerLease, advance: ArchiveAdvance) => {
          if (!failed && advance.trimmed > (await target.tip()).trimmed) {
            failed = true;
            throw new Error('crash before trimming');
          }
          return target.advanceArchive(lease, advance);
        };
      return Reflect.get(target, name, receiver) as unknown;
    },
  });
}

let redis: TestRedis;
let s3: TestS3;
beforeAll(async () => {
  [redis, s3] = await Promise.all([startRedis(), startS3()]);
});
afterAll(async () => {
  await Promise.all([redis?.stop(), s3?.stop()]);
});

describe.each([
  ['memory', () => memoryStores()],
  ['redis', () => redisStores(redis.url)],
] as [string, () => StoreFactory][])('the archive on the %s store', (_, factory) => {
  it.each([
    ['a directory', () => new FsLedgerArchive({ dir: newDir() })],
    ['an S3 bucket', () => new S3LedgerArchive(s3.options())],
  ] as [string, () => LedgerArchive][])(
    'archives sealed bundles to %s, trims the store to its hot tail, and reads both as one log',
    async (_, openArchive) => {
      const ledger = new TestLedger(factory());
      const archive = openArchive();
      try {
        const raw = ledger.newStore();
        const view = new ArchivedLedgerStore(ledger.newStore(), archive);
        ledger.sequencer({
          store: view,
          archiver: new LedgerArchiver(nodeCrypto, raw, archive, {
            hotRecords: 256,
            hotMs: 0,
            bundlesPerStep: 2,
          }),
        });
        await appendOperations(ledger, 200);
        const seq = 1400;
        await until(
          async () => {
            const tip = await raw.tip();
            return tip.signedSeq === seq && tip.archived === 1280 && tip.trimmed === 1024;
          },
          60_000,
          'bundles 0-4 archived and 0-3 trimmed',
        );

        // The store keeps the hot tail only: records 1025 on, and no full tile below it.
        expect(await raw.records(1, 1024)).toEqual([]);
        expect((await raw.records(1, seq)).map((r) => r.seq)).toEqual(
          Array.from({ length: seq - 1024 }, (_, i) => 1025 + i),
        );
        expect(await raw.tiles(['0/0', '0/3', '0/4'])).toEqual([
          undefined,
          undefined,
          expect.any(Uint8Array),
        ]);
        expect((await raw.checkpoints(1, 1023, 1000)).length).toBe(0);
        const stored = await archive.list('');
        expect(stored.sort()).toEqual(
          ['checkpoints', 'tile/0', 'tile/entries'].flatMap((at) =>
            ['000', '001', '002', '003', '004'].map((n) => `${at}/${n}`),
          ),
        );

        // One log: every record, in order, and the whole chain verifies through the view.
        expect((await view.records(1, seq)).map((r) => r.seq)).toEqual(
          Array.from({ length: seq }, (_, i) => i + 1),
        );
        expect((await view.records(250, 260)).map((r) => r.seq)).toEqual(
          Array.from({ length: 11 }, (_, i) => 250 + i),
        );
        const result = await verifyStore(view, { suite: nodeCrypto, keys: ledgerKeys });
        expect(result.failures).toEqual([]);
        expect(result).toMatchObject({ ok: true, records: seq, events: seq });

        // The checkpoint history is whole: increasing sizes, each "at or before" the latest one ≤ a seq.
        const history = await view.checkpoints(1, Infinity, 100_000);
        const sizes = history.map((c) => c.seq);
        expect(sizes.at(-1)).toBe(seq);
        expect(sizes.every((s, i) => i === 0 || s > sizes[i - 1]!)).toBe(true);
        expect(history.every((c) => parseCheckpointNote(c.text).checkpoint.size === c.seq)).toBe(true);
        for (const at of [1, 255, 256, 700, 1023, 1024, 1100, seq])
          expect((await view.checkpointAtOrBefore(at))?.seq).toBe(sizes.findLast((s) => s <= at));
        expect(await view.checkpoints(300, 900, 3)).toEqual(
          history.filter((c) => c.seq >= 300 && c.seq <= 900).slice(0, 3),
        );

        // Proofs of archived records, against the latest checkpoint.
        const reader = new StoreLedgerReader(nodeCrypto, view);
        for (const at of [1, 300, 1024]) {
          const { record } = verifyInclusionProof(nodeCrypto, await reader.inclusionProof(at), trust);
          expect(record.seq).toBe(at);
        }
        const first = history.find((c) => c.seq >= 100)!;
        const trusted = parseCheckpointNote(first.text);
        expect(
          verifyConsistencyProof(nodeCrypto, trusted, await reader.consistencyProof(first.seq), trust)
            .checkpoint.size,
        ).toBe(seq);
        const lineage = verifyLineageProof(nodeCrypto, await reader.lineageProof('lineage://op/op-3'), trust);
        expect(lineage.failures).toEqual([]);
        expect(lineage.events).toHaveLength(7);
        expect(lineage.events.every((e) => e.seq <= 256)).toBe(true);
        // What a tlog-tiles client reads is the same bytes from the store or the archive.
        expect(await reader.tileResource('tile/entries/001')).toEqual(await archive.get('tile/entries/001'));
      } finally {
        await ledger.close();
        await archive.close();
      }
    },
    120_000,
  );

  it('repeats an interrupted step with the same result: a crash before any write, or before the trim', async () => {
    const { store, lease } = await stoppedChain(factory(), 80);
    try {
      // The archive an uninterrupted step writes.
      const reference = newDir();
      const archiverOf = (s: LedgerStore, archive: LedgerArchive) =>
        new LedgerArchiver(nodeCrypto, s, archive);
      const whole = await archiverOf(sandbox(store), new FsLedgerArchive({ dir: reference })).step(lease);
      expect(whole).toEqual({ archived: 512, trimmed: 0, more: false });
      const expected = files(reference);
      // Two bundles: each its entry bundle, level-0 tile and checkpoints object.
      expect(expected.size).toBe(6);

      // A crash before each write: what came before it is written, the frontier covers only a
      // bundle written whole, and the next step ends with the same archive.
      for (let k = 1; k <= expected.size; k++) {
        const dir = newDir();
        const archive = new FsLedgerArchive({ dir });
        const sandboxed = sandbox(store);
        await expect(archiverOf(sandboxed, failingAt(archive, k)).step(lease)).rejects.toThrow(
          /crash before writing/,
        );
        expect(files(dir).size).toBe(k - 1);
        expect(sandboxed.frontier.archived).toBe(k > 3 ? 256 : 0);
        expect(await archiverOf(sandboxed, archive).step(lease)).toEqual(whole);
        expect(files(dir)).toEqual(expected);
      }

      // A crash after `archived` moved and before the trim: the next step trims.
      const dir = newDir();
      const archive = new FsLedgerArchive({ dir });
      const trimming = (s: LedgerStore) =>
        new LedgerArchiver(nodeCrypto, s, archive, { hotRecords: 256, hotMs: 0 });
      await expect(trimming(failingTrim(store)).step(lease)).rejects.toThrow(/crash before trimming/);
      expect(await store.tip()).toMatchObject({ archived: 512, trimmed: 0 });
      expect(await store.records(1, 1)).toHaveLength(1);
      expect(await trimming(store).step(lease)).toEqual({ archived: 512, trimmed: 256, more: false });
      expect(await store.records(1, 256)).toEqual([]);
      expect(files(dir)).toEqual(expected);
      const view = new ArchivedLedgerStore(store, archive);
      expect((await verifyStore(view, { suite: nodeCrypto, keys: ledgerKeys })).failures).toEqual([]);
    } finally {
      await store.close();
    }
  }, 120_000);

  it('archives openings, serves them from the archive once trimmed, and erases them in both places', async () => {
    // Every event commits its identity: each has an opening (docs/spec/ledger.md §3.1).
    const { store, lease } = await stoppedChain(factory(), 80, { redact: ['identity'] });
    try {
      const archive = new FsLedgerArchive({ dir: newDir() });
      const before = await store.openings([1, 2, 300]);
      expect(before.map((o) => [o.seq, o.index, o.member])).toEqual([
        [1, 0, 'identity'],
        [2, 0, 'identity'],
        [300, 0, 'identity'],
      ]);
      // Left by a run that crashed after copying an opening since erased: deleted by the next run.
      await archive.put(openingPath(5, 0, 'data'), utf8Encode('{"stale":true}'));
      // An erasure lands between the archiver's read of the openings and its copy of them.
      let erasedMidway = false;
      const racing = new Proxy(store, {
        get(target, name, receiver) {
          if (name === 'openings')
            return async (seqs: number[]) => {
              const read = await target.openings(seqs);
              if (!erasedMidway && seqs.includes(2)) {
                erasedMidway = true;
                await new ArchivedLedgerStore(target, archive).eraseOpening(2, 0, 'identity');
              }
              return read;
            };
          return Reflect.get(target, name, receiver) as unknown;
        },
      });
      const archiver = new LedgerArchiver(nodeCrypto, racing, archive, { hotRecords: 256, hotMs: 0 });
      expect(await archiver.step(lease)).toEqual({ archived: 512, trimmed: 256, more: false });
      expect(erasedMidway).toBe(true);
      expect(await archive.get(openingPath(2, 0, 'identity'))).toBeUndefined();
      expect(await archive.get(openingPath(5, 0, 'data'))).toBeUndefined();

      // Trimmed from the store with their records; the view reads them from the archive.
      expect(await store.openings([1, 300])).toEqual([before[2]]);
      const view = new ArchivedLedgerStore(store, archive);
      expect(await view.openings([300, 1, 2])).toEqual([before[2], before[0]]);
      // Erased from the archive (record 1, trimmed), and from both (record 300, archived, not trimmed).
      expect(await view.eraseOpening(1, 0, 'identity')).toBe(true);
      expect(await view.eraseOpening(300, 0, 'identity')).toBe(true);
      expect(await view.eraseOpening(300, 0, 'identity')).toBe(false);
      expect(await view.openings([1, 300])).toEqual([]);
      expect(await archive.get(openingPath(300, 0, 'identity'))).toBeUndefined();
      expect((await view.openings([3, 4])).map((o) => o.seq)).toEqual([3, 4]);
      // The chain is untouched by every erasure.
      expect((await verifyStore(view, { suite: nodeCrypto, keys: ledgerKeys })).failures).toEqual([]);
    } finally {
      await store.close();
    }
  }, 120_000);

  it('archives nothing that the archive holds otherwise, and trims nothing it did not archive', async () => {
    const { store, lease } = await stoppedChain(factory(), 40);
    try {
      const dir = newDir();
      const archive = new FsLedgerArchive({ dir });
      // Another log's bundle (or a tampered one) at the path: evidence is never overwritten.
      await archive.putImmutable('tile/entries/000', new Uint8Array([0, 1, 0x41]));
      const archiver = new LedgerArchiver(nodeCrypto, store, archive, { hotRecords: 256, hotMs: 0 });
      const refused = await archiver.step(lease).catch((e: unknown) => e);
      expect(isGovernanceError(refused, 'ledger.archive.conflict')).toBe(true);
      expect(await store.tip()).toMatchObject({ archived: 0, trimmed: 0 });
      expect(await store.records(1, 256)).toHaveLength(256);
      // A stale lease moves nothing.
      await expect(
        store.advanceArchive({ ...lease, fence: lease.fence - 1 }, { archived: 256, trimmed: 0, tiles: [] }),
      ).rejects.toMatchObject({ code: 'ledger.fenced' });
    } finally {
      await store.close();
    }
  }, 120_000);

  it('compacts the lineage index into the archive, where proofs and a new leader read it', async () => {
    const stores = factory();
    const { store, lease } = await stoppedChain(stores, 80);
    const dir = newDir();
    const archive = new FsLedgerArchive({ dir });
    const raw = stores();
    // Its views close their archives: each its own.
    const ledger = new TestLedger(() => new ArchivedLedgerStore(stores(), new FsLedgerArchive({ dir })));
    try {
      const lineages = ['op-0', 'op-3', 'op-79', 'none'].map((op) => `lineage://op/${op}`);
      const proofs = (source: LedgerStore) => {
        const reader = new StoreLedgerReader(nodeCrypto, source);
        return Promise.all(lineages.map((l) => reader.lineageProof(l)));
      };
      const before = await proofs(store);
      const stored = (await store.indexRead([], 'all')).shards;
      expect(stored.reduce((n, s) => n + s.overlay.length, 0)).toBe(80);

      const archiver = new LedgerArchiver(nodeCrypto, store, archive, {
        compactLeaves: 1,
        shardsPerStep: 16,
      });
      while ((await archiver.step(lease)).more);
      const compacted = (await store.indexRead([], 'all')).shards;
      expect(compacted.map((s) => [s.shard, s.version, s.overlay])).toEqual(
        stored.map((s) => [s.shard, 560, []]),
      );
      expect(await store.indexShardsToCompact(1, 10)).toEqual([]);
      expect(await listAll(archive, 'index/')).toEqual(stored.map((s) => indexShardPath(s.shard, 560)));
      // The same proofs, through the archive; the store alone no longer holds the leaves.
      const view = new ArchivedLedgerStore(store, archive);
      expect(await proofs(view)).toEqual(before);
      for (const proof of before) expect(verifyLineageProof(nodeCrypto, proof, trust).failures).toEqual([]);
      await expect(proofs(store)).rejects.toMatchObject({ code: 'ledger.sequence.invalid' });

      // A new leader rebuilds the index from the archive and goes on: op-3's next event (a
      // denial) links to its archived position, and its shard is compacted again, the old
      // version deleted.
      await store.releaseLease(lease);
      ledger.sequencer({
        archiver: new LedgerArchiver(nodeCrypto, raw, archive, { compactLeaves: 1 }),
      });
      const writer = await ledger.writer({ maxBatch: 1 });
      await writer.append([testEvent(1000, 'execution.denied', { lineage: 'lineage://op/op-3' })]);
      const op3 = indexShardOf(indexKey(nodeCrypto, 'lineage://op/op-3'));
      await until(
        async () => {
          const [shard] = (await raw.indexRead([], [op3])).shards;
          return shard!.version === 561 && shard!.overlay.length === 0;
        },
        60_000,
        "op-3's shard compacted at 561",
      );
      expect(await listAll(archive, indexShardPath(op3, 0).replace(/0$/, ''))).toEqual([
        indexShardPath(op3, 561),
      ]);
      const result = await verifyStore(view, { suite: nodeCrypto, keys: ledgerKeys });
      expect(result.failures).toEqual([]);
      const lineage = verifyLineageProof(
        nodeCrypto,
        await new StoreLedgerReader(nodeCrypto, view).lineageProof('lineage://op/op-3'),
        trust,
      );
      expect(lineage.failures).toEqual([]);
      expect(lineage.events).toHaveLength(8);
      await ledger.close();

      // An archived shard altered: no leader resumes over it (core/smt.test.ts shows its proofs
      // failing, where the shard holds more than the one key whose leaf stands above it).
      const path = indexShardPath(op3, 561);
      const altered = readFileSync(join(dir, path));
      altered[63] = altered[63]! ^ 1;
      writeFileSync(join(dir, path), altered);
      const logs: string[] = [];
      const again = new TestLedger(() => new ArchivedLedgerStore(stores(), new FsLedgerArchive({ dir })));
      try {
        again.sequencer({ log: (_, message) => logs.push(message) });
        await until(
          async () => logs.some((m) => m.includes('is not the one checkpoint 561 commits to')),
          30_000,
          'the leader refusing the altered index',
        );
        expect((await raw.tip()).signedSeq).toBe(561);
      } finally {
        await again.close();
      }
    } finally {
      await ledger.close();
      await raw.close();
      await store.close();
    }
  }, 120_000);

  it('repeats an interrupted compaction with the same result: a crash before its write or its switch', async () => {
    const { store, lease } = await stoppedChain(factory(), 30);
    const dir = newDir();
    const archive = new FsLedgerArchive({ dir });
    try {
      const stored = (await store.indexRead([], 'all')).shards;
      const compactor = (s: LedgerStore, a: LedgerArchive) =>
        new LedgerArchiver(nodeCrypto, s, a, { compactLeaves: 1 });
      // A store that altered a leaf's value, or holds a leaf the index does not: the shard does
      // not prove against the checkpoint, and nothing is written or switched.
      const altering = (alter: (overlay: Uint8Array[]) => void) =>
        new Proxy(store, {
          get(target, name, receiver) {
            if (name === 'indexRead')
              return async (ids: string[], shards: number[] | 'all') => {
                const read = await target.indexRead(ids, shards);
                alter(read.shards[0]!.overlay);
                return read;
              };
            return Reflect.get(target, name, receiver) as unknown;
          },
        });
      const alterations: ((overlay: Uint8Array[]) => void)[] = [
        (overlay) => {
          overlay[0] = overlay[0]!.slice();
          overlay[0][40] = overlay[0][40]! ^ 1;
        },
        (overlay) => {
          const extra = overlay[0]!.slice();
          extra[31] = extra[31]! ^ 1;
          overlay.push(extra);
        },
      ];
      for (const alter of alterations)
        await expect(compactor(altering(alter), archive).step(lease)).rejects.toMatchObject({
          code: 'ledger.index.mismatch',
        });
      // A crash before the first write: nothing written, nothing switched.
      await expect(compactor(store, failingAt(archive, 1)).step(lease)).rejects.toThrow(
        /crash before writing/,
      );
      expect(files(dir).size).toBe(0);
      expect(await store.indexShardsToCompact(1, 4096)).toHaveLength(stored.length);
      // An object a crash left before its switch, at an older size: deleted once the shard is switched.
      const first = stored[0]!.shard;
      await archive.putImmutable(indexShardPath(first, 5), new Uint8Array(0));
      // And a newer one, as a later leader would have switched to: never deleted.
      await archive.putImmutable(indexShardPath(first, 9999), new Uint8Array(0));
      // A crash after the write, before the switch: the object is there, the store unchanged.
      let crashed = false;
      const crashing = new Proxy(store, {
        get(target, name, receiver) {
          if (name === 'compactIndexShard' && !crashed)
            return () => {
              crashed = true;
              throw new Error('crash before switching');
            };
          return Reflect.get(target, name, receiver) as unknown;
        },
      });
      await expect(compactor(crashing, archive).step(lease)).rejects.toThrow(/crash before switching/);
      const planted = [indexShardPath(first, 5), indexShardPath(first, 9999)];
      const written = (await listAll(archive, 'index/')).filter((p) => !planted.includes(p));
      expect(written).toHaveLength(1);
      const crashedAt = stored.find((s) => indexShardPath(s.shard, 210) === written[0])!.shard;
      expect((await store.indexRead([], [crashedAt])).shards[0]!.version).toBe(0);

      while ((await compactor(store, archive).step(lease)).more);
      expect(await listAll(archive, 'index/')).toEqual(
        [...stored.map((s) => indexShardPath(s.shard, 210)), planted[1]].sort(),
      );
      for (const shard of stored) {
        const path = indexShardPath(shard.shard, 210);
        expect(decodeShardLeaves((await archive.get(path))!, shard.shard, path)).toEqual(
          [...shard.overlay].sort((a, b) => Buffer.compare(a, b)),
        );
      }
      expect((await store.indexRead([], 'all')).shards.every((s) => s.version === 210)).toBe(true);
    } finally {
      await store.close();
    }
  }, 120_000);
});

it('refuses to archive records that are not the leaves of the signed tree (Redis)', async () => {
  const prefix = 'tampered:';
  const { store, lease } = await stoppedChain(
    () => new RedisLedgerStore({ url: redis.url, log: 'test-log', prefix }),
    40,
  );
  const admin = new Redis(redis.url);
  try {
    // Record 7 rewritten in Redis after it was chained and signed.
    const key = redisKeys('test-log', prefix).record(7);
    const text = (await admin.get(key))!;
    await admin.set(key, text.replace('"seq":7', '"seq":7 '));
    const dir = newDir();
    const refused = await new LedgerArchiver(nodeCrypto, store, new FsLedgerArchive({ dir }))
      .step(lease)
      .catch((e: unknown) => e);
    expect(isGovernanceError(refused, 'ledger.hash.mismatch')).toBe(true);
    expect(files(dir).size).toBe(0);
    expect(await store.tip()).toMatchObject({ archived: 0, trimmed: 0 });
  } finally {
    admin.disconnect();
    await store.close();
  }
}, 120_000);

it('govctl ledger export and erase --redis --archive read and erase what was trimmed, in the archive', async () => {
  const prefix = 'exported:';
  const { store, lease } = await stoppedChain(
    () => new RedisLedgerStore({ url: redis.url, log: 'test-log', prefix }),
    80,
    { redact: ['identity'] },
  );
  try {
    const dir = newDir();
    const archiver = new LedgerArchiver(nodeCrypto, store, new FsLedgerArchive({ dir }), {
      hotRecords: 256,
      hotMs: 0,
    });
    expect(await archiver.step(lease)).toEqual({ archived: 512, trimmed: 256, more: false });
    const source = ['--redis', redis.url, '--log', 'test-log', '--prefix', prefix];
    const whole = join(dir, '..', `${dirs}-whole.jsonl`);
    const run = await govctl('ledger', 'export', ...source, '--archive', dir, '--out', whole);
    expect(run.code, run.stderr).toBe(EXIT.ok);
    const result = await verifyExportFile(whole, { suite: nodeCrypto, keys: ledgerKeys });
    expect(result.failures).toEqual([]);
    expect(result).toMatchObject({ ok: true, records: 560 });
    // Without the archive, Redis alone lacks records 1-256: the export does not verify.
    const cut = join(dir, '..', `${dirs}-cut.jsonl`);
    expect((await govctl('ledger', 'export', ...source, '--out', cut)).code).toBe(EXIT.ok);
    expect((await verifyExportFile(cut, { suite: nodeCrypto, keys: ledgerKeys })).ok).toBe(false);
    // Erasing an opening of an archived record needs the archive, where its copy is.
    const erase = (...extra: string[]) =>
      govctl('ledger', 'erase', '1', '0', 'identity', ...source, ...extra);
    const refused = await erase();
    expect(refused.code).toBe(EXIT.usage);
    expect(refused.stderr).toMatch(/archives its records .* pass its --archive/);
    const erased = await erase('--archive', dir);
    expect(erased.code, erased.stderr).toBe(EXIT.ok);
    expect(erased.stdout).toBe('erased the opening of identity of record 1 event 0\n');
    expect(await new ArchivedLedgerStore(store, new FsLedgerArchive({ dir })).openings([1])).toEqual([]);
  } finally {
    await store.close();
  }
}, 120_000);

it('reads a checkpoint range again when the store trims while it reads', async () => {
  const { store, lease } = await stoppedChain(memoryStores(), 80);
  try {
    const archive = new FsLedgerArchive({ dir: newDir() });
    const archiver = new LedgerArchiver(nodeCrypto, store, archive, { hotRecords: 256, hotMs: 0 });
    expect(await archiver.step(lease)).toEqual({ archived: 512, trimmed: 256, more: false });
    const whole = await new ArchivedLedgerStore(store, archive).checkpoints(1, Infinity, 1000);
    // A trim to 512 lands between the view's read of the frontier and its read of the store's
    // checkpoints, as the archiver running beside a reader can make it: the store no longer holds
    // those of sizes 256-511, which the view must then read from the archive.
    let trimmedOnce = false;
    const racing = new Proxy(store, {
      get(target, name, receiver) {
        if (name === 'checkpoints')
          return async (from: number, to: number, count: number) => {
            if (!trimmedOnce) {
              trimmedOnce = true;
              await target.advanceArchive(lease, {
                archived: 512,
                trimmed: 512,
                tiles: tilesWithin(256, 512),
              });
            }
            return target.checkpoints(from, to, count);
          };
        return Reflect.get(target, name, receiver) as unknown;
      },
    });
    const view = new ArchivedLedgerStore(racing, archive);
    expect(await view.checkpoints(1, Infinity, 1000)).toEqual(whole);
    expect(trimmedOnce).toBe(true);
    expect((await store.tip()).trimmed).toBe(512);
    expect((await view.records(1, 560)).map((r) => r.seq)).toEqual(
      Array.from({ length: 560 }, (_, i) => i + 1),
    );
  } finally {
    await store.close();
  }
}, 120_000);

it('keeps the records of the last hotMs of checkpoints, however few: a new leader trims nothing at first', async () => {
  const { store, lease } = await stoppedChain(memoryStores(), 120);
  try {
    let clock = 0;
    const archiverAt = () =>
      new LedgerArchiver(nodeCrypto, store, new FsLedgerArchive({ dir: newDir() }), {
        hotRecords: 256,
        hotMs: 1000,
        now: () => clock,
      });
    const archiver = archiverAt();
    // Archived at once; trimmed only once the checkpoint it saw is a second old.
    expect(await archiver.step(lease)).toEqual({ archived: 768, trimmed: 0, more: false });
    clock = 999;
    expect((await archiver.step(lease)).trimmed).toBe(0);
    clock = 1000;
    expect((await archiver.step(lease)).trimmed).toBe(512);
    expect(await store.records(1, 512)).toEqual([]);
    // A new leader has seen no checkpoint a second ago: it keeps what it finds until it has.
    const next = archiverAt();
    clock = 5000;
    expect((await next.step(lease)).trimmed).toBe(512);
  } finally {
    await store.close();
  }
}, 120_000);
