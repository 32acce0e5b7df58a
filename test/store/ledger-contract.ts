// The LedgerStore contract (store/ledger-types.ts), run against every implementation by
// test/ledger/store.test.ts. Record and head texts are opaque to the store, so plain strings do.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isGovernanceError, type Code } from '../../core/errors.js';
import { RedisLedgerStore, type RedisLedgerStoreOptions } from '../../store/ledger-redis.js';
import {
  EMPTY_TIP,
  type CommitNotice,
  type IndexChanges,
  type IndexShard,
  type LedgerLease,
  type LedgerStore,
} from '../../store/ledger-types.js';

export interface StoreFixture {
  store: LedgerStore;
  /** A second handle on the same ledger (another process, for Redis). */
  other(): LedgerStore;
  cleanup(): Promise<void>;
}

async function expectCode(promise: Promise<unknown>, code: Code): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isGovernanceError(error, code), String(error)).toBe(true);
}

/** Redis ledger stores on the same options (give each call its own key prefix); all closed by cleanup. */
export function redisLedgerFixture(options: RedisLedgerStoreOptions): StoreFixture {
  const stores = [new RedisLedgerStore(options)];
  return {
    store: stores[0]!,
    other: () => {
      const other = new RedisLedgerStore(options);
      stores.push(other);
      return other;
    },
    cleanup: async () => {
      await Promise.all(stores.map((s) => s.close()));
    },
  };
}

const hashRef = (n: number) => `sha3-512:${String(n).padStart(128, '0')}`;
const altRef = (n: number) => `blake2b-512:${String(n).padStart(128, '0')}`;

const NO_INDEX: IndexChanges = { top: new Map(), leaves: [] };

/** An index leaf (key || value): the key `first` then zeros (its shard: its first 12 bits), the value `value` repeated. */
function leaf(first: number[], value: number): Uint8Array {
  const bytes = new Uint8Array(64).fill(value, 32);
  bytes.set(first);
  return bytes;
}

/** Shards with their overlays in one order (the contract gives them in none). */
const sortedShards = (shards: IndexShard[]) =>
  shards.map((s) => ({ ...s, overlay: [...s.overlay].sort((a, b) => Buffer.compare(a, b)) }));

export function ledgerStoreContract(name: string, open: () => Promise<StoreFixture>): void {
  describe(`LedgerStore contract: ${name}`, () => {
    let fixture: StoreFixture;
    let store: LedgerStore;
    beforeEach(async () => {
      fixture = await open();
      store = fixture.store;
    });
    afterEach(async () => {
      await fixture.cleanup();
    });

    /** Commits records (one per ingest id given, in order) from the current tip. */
    async function commitRecords(
      lease: LedgerLease,
      texts: string[],
      ingestIds: string[],
      batches: string[] = [],
      tiles = new Map<string, Uint8Array>(),
    ) {
      const tip = await store.tip();
      await store.commit({
        lease,
        expect: { seq: tip.seq, eventHash: tip.eventHash },
        records: texts,
        eventHash: hashRef(tip.seq + texts.length),
        eventHashAlt: altRef(tip.seq + texts.length),
        consumed: ingestIds.map((ingestId, i) => ({ ingestId, seq: tip.seq + i + 1, lineagePrev: '[null]' })),
        batches,
        tiles,
      });
    }

    /** Commits a record and publishes its checkpoint (`c<seq>`) with these index changes. */
    async function publishIndex(
      lease: LedgerLease,
      leaves: Uint8Array[],
      top = new Map<string, Uint8Array | undefined>(),
    ) {
      await commitRecords(lease, ['r'], []);
      const { seq, eventHash } = await store.tip();
      await store.publishCheckpoint(lease, { seq, eventHash, text: `c${seq}`, index: { top, leaves } });
    }

    it('starts empty', async () => {
      expect(await store.tip()).toEqual(EMPTY_TIP);
      expect(await store.latestCheckpoint()).toBeUndefined();
      expect(await store.records(1, 100)).toEqual([]);
      expect(await store.readIngest('0-0', 10, 0)).toEqual([]);
      expect(await store.checkpointAtOrBefore(100)).toBeUndefined();
      expect(await store.openings([1, 2])).toEqual([]);
      expect(await store.deadLetters(10)).toEqual([]);
    });

    it('appends ingest batches in order and reads them after an id', async () => {
      const ids = await store.appendIngest(['a', 'b']);
      const more = await store.appendIngest(['c']);
      expect(ids).toHaveLength(2);
      const all = await store.readIngest('0-0', 10, 0);
      expect(all.map((e) => e.batch)).toEqual(['a', 'b', 'c']);
      expect(all.map((e) => e.id)).toEqual([...ids, ...more]);
      expect((await store.readIngest(ids[0]!, 10, 0)).map((e) => e.batch)).toEqual(['b', 'c']);
      expect((await store.readIngest('0-0', 2, 0)).map((e) => e.batch)).toEqual(['a', 'b']);
      expect(await store.appendIngest([])).toEqual([]);
    });

    it('counts the ingest backlog and names the time of its oldest entry', async () => {
      expect(await store.ingestBacklog()).toEqual({ entries: 0, oldestMs: undefined });
      const ids = await store.appendIngest(['x', 'y']);
      expect(await store.ingestBacklog()).toEqual({ entries: 2, oldestMs: Number(ids[0]!.split('-')[0]) });
      const lease = (await store.acquireLease('seq', 10_000))!;
      await commitRecords(lease, ['r1'], [ids[0]!]);
      expect(await store.ingestBacklog()).toEqual({ entries: 1, oldestMs: Number(ids[1]!.split('-')[0]) });
    });

    it('blocks an ingest read until an append arrives, or until blockMs', async () => {
      const started = Date.now();
      const read = fixture.other().readIngest('0-0', 10, 5000);
      setTimeout(() => void store.appendIngest(['late']), 100);
      expect((await read).map((e) => e.batch)).toEqual(['late']);
      expect(Date.now() - started).toBeLessThan(4000);
      const last = (await store.readIngest('0-0', 10, 0))[0]!.id;
      const idle = Date.now();
      expect(await store.readIngest(last, 10, 150)).toEqual([]);
      expect(Date.now() - idle).toBeGreaterThanOrEqual(100);
    });

    it('grants the lease to one holder at a time, with an increasing fencing token', async () => {
      const first = await store.acquireLease('a', 10_000);
      expect(first?.fence).toBeGreaterThan(0);
      expect(await fixture.other().acquireLease('b', 10_000)).toBeUndefined();
      expect(await store.renewLease(first!, 10_000)).toBe(true);
      await store.releaseLease(first!);
      const second = await fixture.other().acquireLease('b', 10_000);
      expect(second!.fence).toBeGreaterThan(first!.fence);
      expect(await store.renewLease(first!, 10_000)).toBe(false);
    });

    it('lets the lease expire so that another holder takes over', async () => {
      const first = await store.acquireLease('a', 100);
      expect(first).toBeDefined();
      await new Promise((r) => setTimeout(r, 200));
      const second = await fixture.other().acquireLease('b', 10_000);
      expect(second!.fence).toBeGreaterThan(first!.fence);
    });

    it('commits records, tip, ingest deletion, dead letters and notices atomically', async () => {
      const lease = (await store.acquireLease('seq', 10_000))!;
      const subscription = await fixture.other().subscribeCommits();
      const ids = await store.appendIngest(['x', 'y', 'z', 'w']);
      // One record per accepted entry (x, z), then the record of the refusals (y), as the sequencer commits.
      await store.commit({
        lease,
        expect: { seq: 0, eventHash: '' },
        records: ['r1', 'r2', 'r3'],
        eventHash: hashRef(3),
        eventHashAlt: altRef(3),
        consumed: [
          { ingestId: ids[0]!, seq: 1, lineagePrev: '[null,null]' },
          { ingestId: ids[1]!, rejected: { code: 'ledger.signature.invalid', message: 'bad', entry: 'y' } },
          { ingestId: ids[2]!, seq: 2, lineagePrev: '[[1,1]]' },
        ],
        batches: ['val-x', 'val-z', 'val-rejections'],
        tiles: new Map(),
      });
      expect(await store.chainedBatches(['val-rejections', 'val-y', 'val-x', 'val-z'])).toEqual([
        true,
        false,
        true,
        true,
      ]);
      expect(await store.tip()).toEqual({
        seq: 3,
        eventHash: hashRef(3),
        eventHashAlt: altRef(3),
        ingestId: ids[2],
        signedSeq: 0,
        archived: 0,
        trimmed: 0,
      });
      expect(await store.records(1, 3)).toEqual([
        { seq: 1, text: 'r1' },
        { seq: 2, text: 'r2' },
        { seq: 3, text: 'r3' },
      ]);
      expect(await store.records(2, 2)).toEqual([{ seq: 2, text: 'r2' }]);
      expect(await store.records(3, 9)).toEqual([{ seq: 3, text: 'r3' }]);
      expect((await store.readIngest('0-0', 10, 0)).map((e) => e.batch)).toEqual(['w']);
      const dead = await store.deadLetters(10);
      expect(dead.map(({ ingestId, code, message, entry }) => ({ ingestId, code, message, entry }))).toEqual([
        { ingestId: ids[1], code: 'ledger.signature.invalid', message: 'bad', entry: 'y' },
      ]);
      expect(await subscription.next(2000)).toEqual([
        { ingestId: ids[0], seq: 1, lineagePrev: '[null,null]' },
        { ingestId: ids[1], rejected: 'ledger.signature.invalid' },
        { ingestId: ids[2], seq: 2, lineagePrev: '[[1,1]]' },
      ]);
      subscription.close();
    });

    it('sends each subscriber the notices of the commits after it subscribed, in commit order', async () => {
      const lease = (await store.acquireLease('seq', 10_000))!;
      const [early, late] = await store.appendIngest(['early', 'late']);
      await commitRecords(lease, ['r1'], [early!], ['val-early']);
      const subscription = await fixture.other().subscribeCommits();
      await commitRecords(lease, ['r2'], [late!], ['val-late']);
      const notices: CommitNotice[] = [];
      // A subscriber may see the commits in more than one read.
      for (let i = 0; i < 20 && notices.length < 1; i++) notices.push(...(await subscription.next(500)));
      expect(notices).toEqual([{ ingestId: late, seq: 2, lineagePrev: '[null]' }]);
      subscription.close();
    });

    it('fences a stale lease holder: its commit changes nothing', async () => {
      const stale = (await store.acquireLease('old', 100))!;
      await new Promise((r) => setTimeout(r, 200));
      const current = (await fixture.other().acquireLease('new', 10_000))!;
      const [id] = await store.appendIngest(['x']);
      await expectCode(commitRecords(stale, ['stale-1'], [id!]), 'ledger.fenced');
      expect(await store.renewLease(stale, 10_000)).toBe(false);
      expect(await store.tip()).toEqual(EMPTY_TIP);
      expect(await store.records(1, 10)).toEqual([]);
      expect((await store.readIngest('0-0', 10, 0)).map((e) => e.id)).toEqual([id]);
      await commitRecords(current, ['r1'], [id!]);
      expect((await store.tip()).seq).toBe(1);
      expect(await store.records(1, 10)).toEqual([{ seq: 1, text: 'r1' }]);
      expect(await store.readIngest('0-0', 10, 0)).toEqual([]);
    });

    it('chains each batch once: a commit naming a chained batch, or one batch twice, changes nothing', async () => {
      const lease = (await store.acquireLease('seq', 10_000))!;
      expect(await store.chainedBatches([])).toEqual([]);
      const [first, copy, other] = await store.appendIngest(['a', 'a-copy', 'b']);
      await commitRecords(lease, ['r1'], [first!], ['val-a']);
      const tip = await store.tip();
      await expectCode(
        commitRecords(lease, ['refused-2'], [copy!], ['val-b', 'val-a']),
        'ledger.batch.replayed',
      );
      await expectCode(
        commitRecords(lease, ['refused-2', 'refused-3'], [copy!, other!], ['val-b', 'val-b']),
        'ledger.batch.replayed',
      );
      expect(await store.tip()).toEqual(tip);
      expect(await store.records(1, 10)).toEqual([{ seq: 1, text: 'r1' }]);
      expect((await store.readIngest('0-0', 10, 0)).map((e) => e.id)).toEqual([copy, other]);
      expect(await store.chainedBatches(['val-a', 'val-b'])).toEqual([true, false]);
      // Nothing of the refused commits remains to be chained in place of the next one's records.
      await commitRecords(lease, ['r2'], [other!], ['val-b']);
      expect(await store.chainedBatches(['val-a', 'val-b'])).toEqual([true, true]);
      expect(await store.records(1, 10)).toEqual([
        { seq: 1, text: 'r1' },
        { seq: 2, text: 'r2' },
      ]);
    });

    it('refuses a commit that does not extend the current tip', async () => {
      const lease = (await store.acquireLease('seq', 10_000))!;
      await commitRecords(lease, ['r1'], []);
      const tip = await store.tip();
      const commit = {
        lease,
        records: ['refused-2', 'refused-3'],
        eventHash: hashRef(3),
        eventHashAlt: altRef(3),
        consumed: [],
        batches: [],
        tiles: new Map(),
      };
      await expectCode(
        store.commit({ ...commit, expect: { seq: 0, eventHash: '' } }),
        'ledger.head.mismatch',
      );
      await expectCode(
        store.commit({ ...commit, expect: { seq: 1, eventHash: hashRef(9) } }),
        'ledger.head.mismatch',
      );
      await expectCode(
        store.commit({ ...commit, expect: { seq: 2, eventHash: hashRef(2) } }),
        'ledger.head.mismatch',
      );
      expect(await store.tip()).toEqual(tip);
      expect(await store.records(1, 10)).toEqual([{ seq: 1, text: 'r1' }]);
      // The tip's own commit goes through, with its own records.
      await commitRecords(lease, ['r2', 'r3'], []);
      expect(await store.records(1, 10)).toEqual([
        { seq: 1, text: 'r1' },
        { seq: 2, text: 'r2' },
        { seq: 3, text: 'r3' },
      ]);
    });

    it('publishes checkpoints only for the current tip, newest last', async () => {
      const lease = (await store.acquireLease('seq', 10_000))!;
      await commitRecords(lease, ['r1', 'r2'], []);
      await store.publishCheckpoint(lease, { seq: 2, eventHash: hashRef(2), text: 'h2', index: NO_INDEX });
      await expectCode(
        store.publishCheckpoint(lease, { seq: 1, eventHash: hashRef(1), text: 'h1', index: NO_INDEX }),
        'ledger.head.mismatch',
      );
      await expectCode(
        store.publishCheckpoint(lease, { seq: 2, eventHash: hashRef(7), text: 'hx', index: NO_INDEX }),
        'ledger.head.mismatch',
      );
      await commitRecords(lease, ['r3'], []);
      await store.publishCheckpoint(lease, { seq: 3, eventHash: hashRef(3), text: 'h3', index: NO_INDEX });
      // A checkpoint for an already published size is a no-op (a sequencer that took over may try again).
      await store.publishCheckpoint(lease, {
        seq: 3,
        eventHash: hashRef(3),
        text: 'h3-again',
        index: NO_INDEX,
      });
      expect(await store.latestCheckpoint()).toEqual({ seq: 3, text: 'h3' });
      expect(await store.checkpoints(1, 3, 10)).toEqual([
        { seq: 2, text: 'h2' },
        { seq: 3, text: 'h3' },
      ]);
      expect(await store.checkpoints(3, Infinity, 1)).toEqual([{ seq: 3, text: 'h3' }]);
      expect((await store.tip()).signedSeq).toBe(3);
      const usurper = await fixture.other().acquireLease('x', 10_000);
      expect(usurper).toBeUndefined();
      await store.releaseLease(lease);
      const next = (await fixture.other().acquireLease('x', 10_000))!;
      await commitRecords(next, ['r4'], []);
      await expectCode(
        store.publishCheckpoint(lease, { seq: 4, eventHash: hashRef(4), text: 'h4', index: NO_INDEX }),
        'ledger.fenced',
      );
    });

    it('moves the archive frontier: marks archived, then forgets the records, tiles and checkpoints below the trim', async () => {
      const lease = (await store.acquireLease('seq', 10_000))!;
      const texts = Array.from({ length: 600 }, (_, i) => `r${i + 1}`);
      const tiles = new Map([
        ['0/0', new Uint8Array([1])],
        ['0/1', new Uint8Array([2])],
        ['0/2', new Uint8Array([3])],
      ]);
      await commitRecords(lease, texts.slice(0, 300), [], [], tiles);
      await store.publishCheckpoint(lease, {
        seq: 300,
        eventHash: hashRef(300),
        text: 'c300',
        index: NO_INDEX,
      });
      await commitRecords(lease, texts.slice(300), []);
      await store.publishCheckpoint(lease, {
        seq: 600,
        eventHash: hashRef(600),
        text: 'c600',
        index: NO_INDEX,
      });
      // Not beyond the latest checkpoint, not a trim beyond the archive, only whole bundles.
      for (const advance of [
        { archived: 768, trimmed: 0 },
        { archived: 300, trimmed: 0 },
        { archived: 512, trimmed: 768 },
        { archived: 512, trimmed: 100 },
      ])
        await expectCode(store.advanceArchive(lease, { ...advance, tiles: [] }), 'ledger.sequence.invalid');
      await store.advanceArchive(lease, { archived: 512, trimmed: 0, tiles: [] });
      expect(await store.tip()).toMatchObject({ seq: 600, archived: 512, trimmed: 0 });
      expect(await store.records(1, 1)).toEqual([{ seq: 1, text: 'r1' }]);
      // A stale holder moves nothing.
      const stale = { ...lease, fence: lease.fence - 1 };
      await expectCode(
        store.advanceArchive(stale, { archived: 512, trimmed: 256, tiles: ['0/0'] }),
        'ledger.fenced',
      );
      expect(await store.records(1, 1)).toHaveLength(1);
      await store.advanceArchive(lease, { archived: 512, trimmed: 256, tiles: ['0/0'] });
      expect(await store.tip()).toMatchObject({ seq: 600, archived: 512, trimmed: 256 });
      expect(await store.records(1, 257)).toEqual([{ seq: 257, text: 'r257' }]);
      expect(await store.tiles(['0/0', '0/1', '0/2'])).toEqual([
        undefined,
        new Uint8Array([2]),
        new Uint8Array([3]),
      ]);
      expect(await store.checkpoints(1, Infinity, 10)).toEqual([
        { seq: 300, text: 'c300' },
        { seq: 600, text: 'c600' },
      ]);
      // Neither number goes back; a smaller one leaves it as it is.
      await store.advanceArchive(lease, { archived: 256, trimmed: 0, tiles: [] });
      expect(await store.tip()).toMatchObject({ archived: 512, trimmed: 256 });
      await store.advanceArchive(lease, { archived: 512, trimmed: 512, tiles: ['0/1'] });
      expect(await store.records(1, 600)).toHaveLength(88);
      expect(await store.checkpoints(1, Infinity, 10)).toEqual([{ seq: 600, text: 'c600' }]);
      expect(await store.checkpointAtOrBefore(599)).toBeUndefined();
      expect(await store.latestCheckpoint()).toEqual({ seq: 600, text: 'c600' });
    });

    it('finds the latest checkpoint at or before a size: none before the first, the right one between two, the latest beyond', async () => {
      const lease = (await store.acquireLease('seq', 10_000))!;
      await commitRecords(lease, ['r1', 'r2'], []);
      expect(await store.checkpointAtOrBefore(2)).toBeUndefined();
      await store.publishCheckpoint(lease, { seq: 2, eventHash: hashRef(2), text: 'c2', index: NO_INDEX });
      await commitRecords(lease, ['r3', 'r4', 'r5'], []);
      await store.publishCheckpoint(lease, { seq: 5, eventHash: hashRef(5), text: 'c5', index: NO_INDEX });
      await commitRecords(lease, ['r6'], []);
      await store.publishCheckpoint(lease, { seq: 6, eventHash: hashRef(6), text: 'c6', index: NO_INDEX });
      const reader = fixture.other();
      expect(await reader.checkpointAtOrBefore(0)).toBeUndefined();
      expect(await reader.checkpointAtOrBefore(1)).toBeUndefined();
      expect(await reader.checkpointAtOrBefore(2)).toEqual({ seq: 2, text: 'c2' });
      expect(await reader.checkpointAtOrBefore(3)).toEqual({ seq: 2, text: 'c2' });
      expect(await reader.checkpointAtOrBefore(4)).toEqual({ seq: 2, text: 'c2' });
      expect(await reader.checkpointAtOrBefore(5)).toEqual({ seq: 5, text: 'c5' });
      expect(await reader.checkpointAtOrBefore(6)).toEqual({ seq: 6, text: 'c6' });
      expect(await reader.checkpointAtOrBefore(1000)).toEqual({ seq: 6, text: 'c6' });
      expect(await reader.latestCheckpoint()).toEqual({ seq: 6, text: 'c6' });
    });

    it('keeps the latest version of each tile, written with the commit', async () => {
      const lease = (await store.acquireLease('seq', 10_000))!;
      const partial = Uint8Array.from({ length: 64 }, (_, i) => i);
      await commitRecords(lease, ['r1', 'r2'], [], [], new Map([['0/0', partial]]));
      expect(await store.tiles(['0/0', '1/0'])).toEqual([partial, undefined]);
      const grown = Uint8Array.from({ length: 96 }, (_, i) => 255 - i);
      await commitRecords(lease, ['r3'], [], [], new Map([['0/0', grown]]));
      expect(await store.tiles(['0/0'])).toEqual([grown]);
      // A commit refused by its guard writes no tile.
      await expectCode(
        store.commit({
          lease,
          expect: { seq: 1, eventHash: hashRef(1) },
          records: ['x'],
          eventHash: hashRef(2),
          eventHashAlt: altRef(2),
          consumed: [],
          batches: [],
          tiles: new Map([['0/0', partial]]),
        }),
        'ledger.head.mismatch',
      );
      expect(await store.tiles(['0/0'])).toEqual([grown]);
    });

    it('stores openings with their commit and reads them back per record, by index and member', async () => {
      const lease = (await store.acquireLease('seq', 10_000))!;
      const open = (seq: number, index: number, member: string) =>
        `{"member":"${member}","salt":"s${seq}.${index}","value":"v"}`;
      await commitRecords(lease, ['r1'], []);
      const tip = await store.tip();
      const openings: [number, number, string, string][] = [
        [2, 0, 'identity', open(2, 0, 'identity')],
        [2, 0, 'data', open(2, 0, 'data')],
        [2, 3, 'identity', open(2, 3, 'identity')],
        [2, 3, 'request_id', open(2, 3, 'request_id')],
        [3, 1, 'operation', open(3, 1, 'operation')],
      ];
      const commit = {
        lease,
        expect: { seq: tip.seq, eventHash: tip.eventHash },
        records: ['r2', 'r3'],
        eventHash: hashRef(3),
        eventHashAlt: altRef(3),
        consumed: [],
        batches: [],
        tiles: new Map<string, Uint8Array>(),
        // Given out of order: read back by index, then member (core/redaction.ts's order).
        openings: [3, 1, 2, 0, 4].map((i) => openings[i]!),
      };
      // A commit refused by its guard writes no opening.
      await expectCode(
        store.commit({ ...commit, expect: { seq: 0, eventHash: '' } }),
        'ledger.head.mismatch',
      );
      expect(await store.openings([2, 3])).toEqual([]);
      await store.commit(commit);
      const all = openings.map(([seq, index, member, text]) => ({ seq, index, member, text }));
      expect(await store.openings([1, 2, 3, 4])).toEqual(all);
      // By seq in the order asked, then by index and member; from another handle too.
      expect(await fixture.other().openings([3, 2])).toEqual([all[4], ...all.slice(0, 4)]);
      expect(await store.openings([3])).toEqual([all[4]]);
      expect(await store.openings([])).toEqual([]);
    });

    it('erases openings one by one, each by seq, index and member, leaving the others and the chain as they were', async () => {
      const lease = (await store.acquireLease('seq', 10_000))!;
      const open = (seq: number, index: number, member: string) =>
        `{"member":"${member}","salt":"s${seq}.${index}","value":"v"}`;
      const openings: [number, number, string, string][] = [
        [1, 0, 'identity', open(1, 0, 'identity')],
        [1, 0, 'data', open(1, 0, 'data')],
        [1, 2, 'identity', open(1, 2, 'identity')],
        [2, 0, 'identity', open(2, 0, 'identity')],
      ];
      const tile = Uint8Array.from({ length: 64 }, (_, i) => i);
      await store.commit({
        lease,
        expect: { seq: 0, eventHash: '' },
        records: ['r1', 'r2'],
        eventHash: hashRef(2),
        eventHashAlt: altRef(2),
        consumed: [],
        batches: ['val-1', 'val-2'],
        tiles: new Map([['0/0', tile]]),
        openings,
      });
      await store.publishCheckpoint(lease, {
        seq: 2,
        eventHash: hashRef(2),
        text: 'c2',
        index: { top: new Map([['0:', Uint8Array.of(1)]]), leaves: [leaf([0, 0, 1], 7)] },
      });
      const chain = async () => ({
        tip: await store.tip(),
        records: await store.records(1, 2),
        tiles: await store.tiles(['0/0']),
        checkpoints: await store.checkpoints(1, 2, 10),
        index: await store.indexRead(['0:'], 'all'),
        batches: await store.chainedBatches(['val-1', 'val-2']),
      });
      const before = await chain();
      const all = openings.map(([seq, index, member, text]) => ({ seq, index, member, text }));

      expect(await store.eraseOpening(1, 0, 'identity')).toBe(true);
      expect(await store.openings([1, 2])).toEqual([all[1], all[2], all[3]]);
      // Gone once erased; and nothing else is erased in its place: the same member of another
      // event or record, another member of the same event, an opening never stored.
      expect(await store.eraseOpening(1, 0, 'identity')).toBe(false);
      expect(await store.eraseOpening(1, 1, 'identity')).toBe(false);
      expect(await store.eraseOpening(1, 2, 'data')).toBe(false);
      expect(await store.eraseOpening(9, 0, 'data')).toBe(false);
      expect(await fixture.other().openings([1, 2])).toEqual([all[1], all[2], all[3]]);

      expect(await fixture.other().eraseOpening(1, 2, 'identity')).toBe(true);
      expect(await store.openings([1, 2])).toEqual([all[1], all[3]]);
      expect(await store.eraseOpening(1, 0, 'data')).toBe(true);
      expect(await store.openings([1, 2])).toEqual([all[3]]);
      expect(await store.eraseOpening(2, 0, 'identity')).toBe(true);
      expect(await store.openings([1, 2])).toEqual([]);
      expect(await chain()).toEqual(before);
    });

    // Index keys in three shards: 0 (0x00 0x0…), 1 (0x00 0x1…) and 4095 (0xff 0xf…).
    const k0a = [0x00, 0x00, 0x01];
    const k0b = [0x00, 0x00, 0x02];
    const k0c = [0x00, 0x0f, 0xff];
    const k1 = [0x00, 0x10];
    const k4095 = [0xff, 0xf0];

    it('writes and removes index top nodes, and adds overlay leaves, with the checkpoint that commits to them', async () => {
      const lease = (await store.acquireLease('seq', 10_000))!;
      const a = Uint8Array.of(2, 1, 2, 3);
      const b = Uint8Array.of(3, 9, 9);
      const top1 = new Map([
        ['0:', b],
        ['1:0', a],
      ]);
      await publishIndex(lease, [leaf(k0a, 1), leaf(k1, 1)], top1);
      expect(await store.indexRead(['0:', '1:0', '1:1'], [0, 1])).toEqual({
        checkpoint: { seq: 1, text: 'c1' },
        nodes: [b, a, undefined],
        shards: [
          { shard: 0, version: 0, overlay: [leaf(k0a, 1)] },
          { shard: 1, version: 0, overlay: [leaf(k1, 1)] },
        ],
      });
      const top2 = new Map([
        ['1:0', undefined],
        ['1:1', a],
      ]);
      await publishIndex(lease, [leaf(k4095, 2)], top2);
      expect(await store.indexRead(['0:', '1:0', '1:1'], [4095])).toEqual({
        checkpoint: { seq: 2, text: 'c2' },
        nodes: [b, undefined, a],
        shards: [{ shard: 4095, version: 0, overlay: [leaf(k4095, 2)] }],
      });
    });

    it('writes no index change of a refused checkpoint, nor of one at or below the latest', async () => {
      const lease = (await store.acquireLease('seq', 10_000))!;
      await publishIndex(lease, [leaf(k0a, 1)], new Map([['0:', Uint8Array.of(1)]]));
      const before = await store.indexRead(['0:', '1:1'], 'all');
      await commitRecords(lease, ['r2'], []);
      const changes: IndexChanges = {
        top: new Map([
          ['0:', undefined],
          ['1:1', Uint8Array.of(2)],
        ]),
        leaves: [leaf(k0a, 2), leaf(k1, 2)],
      };
      // Not the tip; then the tip under a stale fencing token.
      await expectCode(
        store.publishCheckpoint(lease, { seq: 1, eventHash: hashRef(1), text: 'cx', index: changes }),
        'ledger.head.mismatch',
      );
      const stale = { ...lease, fence: lease.fence - 1 };
      await expectCode(
        store.publishCheckpoint(stale, { seq: 2, eventHash: hashRef(2), text: 'cx', index: changes }),
        'ledger.fenced',
      );
      expect(await store.indexRead(['0:', '1:1'], 'all')).toEqual(before);
      // Size 2 published, then again with changes: a no-op.
      await store.publishCheckpoint(lease, { seq: 2, eventHash: hashRef(2), text: 'c2', index: NO_INDEX });
      await store.publishCheckpoint(lease, {
        seq: 2,
        eventHash: hashRef(2),
        text: 'c2-again',
        index: changes,
      });
      expect(await store.indexRead(['0:', '1:1'], 'all')).toEqual({
        ...before,
        checkpoint: { seq: 2, text: 'c2' },
      });
      expect(await store.indexShardsToCompact(1, 10)).toEqual([0]);
    });

    it('reads the asked index shards in the order asked, an empty one with version 0; a key set again is one entry with its new value', async () => {
      const lease = (await store.acquireLease('seq', 10_000))!;
      await publishIndex(lease, [leaf(k0a, 1), leaf(k0b, 1), leaf(k1, 1)]);
      await publishIndex(lease, [leaf(k0a, 2)]);
      const expected = {
        checkpoint: { seq: 2, text: 'c2' },
        nodes: [],
        shards: [
          { shard: 1, version: 0, overlay: [leaf(k1, 1)] },
          { shard: 5, version: 0, overlay: [] },
          { shard: 0, version: 0, overlay: [leaf(k0a, 2), leaf(k0b, 1)] },
        ],
      };
      for (const reader of [store, fixture.other()]) {
        const read = await reader.indexRead([], [1, 5, 0]);
        expect({ ...read, shards: sortedShards(read.shards) }).toEqual(expected);
      }
    });

    it("reads 'all' index shards: exactly those with an overlay or a version, by number", async () => {
      expect(await store.indexRead([], 'all')).toEqual({ checkpoint: undefined, nodes: [], shards: [] });
      const lease = (await store.acquireLease('seq', 10_000))!;
      await publishIndex(lease, [leaf(k4095, 1), leaf(k0a, 1), leaf(k1, 1), leaf(k0b, 1)]);
      const read = await store.indexRead([], 'all');
      expect(read.checkpoint).toEqual({ seq: 1, text: 'c1' });
      expect(sortedShards(read.shards)).toEqual([
        { shard: 0, version: 0, overlay: [leaf(k0a, 1), leaf(k0b, 1)] },
        { shard: 1, version: 0, overlay: [leaf(k1, 1)] },
        { shard: 4095, version: 0, overlay: [leaf(k4095, 1)] },
      ]);
      // A shard compacted down to an empty overlay still has its version.
      expect(await store.compactIndexShard(lease, { shard: 1, from: 0, to: 1, leaves: [leaf(k1, 1)] })).toBe(
        true,
      );
      expect(
        (await fixture.other().indexRead([], 'all')).shards.map(({ shard, version, overlay }) => ({
          shard,
          version,
          overlay: overlay.length,
        })),
      ).toEqual([
        { shard: 0, version: 0, overlay: 2 },
        { shard: 1, version: 1, overlay: 0 },
        { shard: 4095, version: 0, overlay: 1 },
      ]);
    });

    it('names the index shards to compact: overlays of at least `min` leaves, at most `count` of them', async () => {
      const lease = (await store.acquireLease('seq', 10_000))!;
      expect(await store.indexShardsToCompact(1, 10)).toEqual([]);
      await publishIndex(lease, [leaf(k0a, 1), leaf(k0b, 1), leaf(k0c, 1), leaf(k1, 1), leaf(k4095, 1)]);
      await publishIndex(lease, [leaf(k4095, 2), leaf(k1, 2), leaf([0xff, 0xff], 2)]);
      // Sizes: shard 0 holds 3 leaves, 4095 two, 1 one (set twice, still one key).
      const sorted = (shards: number[]) => [...shards].sort((a, b) => a - b);
      expect(sorted(await store.indexShardsToCompact(1, 10))).toEqual([0, 1, 4095]);
      expect(sorted(await store.indexShardsToCompact(2, 10))).toEqual([0, 4095]);
      expect(await store.indexShardsToCompact(3, 10)).toEqual([0]);
      expect(await store.indexShardsToCompact(4, 10)).toEqual([]);
      const two = await store.indexShardsToCompact(1, 2);
      expect(two).toHaveLength(2);
      expect(new Set([...two, 0, 1, 4095]).size).toBe(3);
    });

    it('compacts an index shard: switches its version and drops only the leaves still set to the compacted value', async () => {
      const lease = (await store.acquireLease('seq', 10_000))!;
      await publishIndex(lease, [leaf(k0a, 1), leaf(k0b, 1), leaf(k1, 1)]);
      const [shard0] = (await store.indexRead([], [0])).shards;
      // Set again after the compactor read it: the new value stays.
      await publishIndex(lease, [leaf(k0a, 2)]);
      expect(await store.indexShardsToCompact(2, 10)).toEqual([0]);
      expect(
        await store.compactIndexShard(lease, { shard: 0, from: 0, to: 1, leaves: shard0!.overlay }),
      ).toBe(true);
      for (const reader of [store, fixture.other()])
        expect((await reader.indexRead([], [0, 1])).shards).toEqual([
          { shard: 0, version: 1, overlay: [leaf(k0a, 2)] },
          { shard: 1, version: 0, overlay: [leaf(k1, 1)] },
        ]);
      expect(await store.indexShardsToCompact(2, 10)).toEqual([]);
      expect((await store.indexShardsToCompact(1, 10)).sort((a, b) => a - b)).toEqual([0, 1]);
    });

    it('leaves an index shard as it is when the compaction read a version it no longer has', async () => {
      const lease = (await store.acquireLease('seq', 10_000))!;
      await publishIndex(lease, [leaf(k0a, 1), leaf(k0b, 1)]);
      const compaction = { shard: 0, from: 0, to: 1, leaves: [leaf(k0a, 1)] };
      expect(await store.compactIndexShard(lease, { ...compaction, from: 3, to: 4 })).toBe(false);
      expect(await store.compactIndexShard(lease, compaction)).toBe(true);
      const after = await store.indexRead([], 'all');
      // A second compactor that read version 0.
      expect(
        await fixture.other().compactIndexShard(lease, { ...compaction, to: 2, leaves: [leaf(k0b, 1)] }),
      ).toBe(false);
      expect(await store.indexRead([], 'all')).toEqual(after);
      expect(after.shards).toEqual([{ shard: 0, version: 1, overlay: [leaf(k0b, 1)] }]);
    });

    it('refuses an index compaction under a stale lease: nothing changes', async () => {
      const lease = (await store.acquireLease('seq', 10_000))!;
      await publishIndex(lease, [leaf(k0a, 1)]);
      await store.releaseLease(lease);
      const next = (await fixture.other().acquireLease('next', 10_000))!;
      const compaction = { shard: 0, from: 0, to: 1, leaves: [leaf(k0a, 1)] };
      await expectCode(store.compactIndexShard(lease, compaction), 'ledger.fenced');
      expect((await store.indexRead([], [0])).shards).toEqual([
        { shard: 0, version: 0, overlay: [leaf(k0a, 1)] },
      ]);
      expect(await store.indexShardsToCompact(1, 10)).toEqual([0]);
      expect(await store.compactIndexShard(next, compaction)).toBe(true);
    });

    it('refuses an index compaction that does not name a newer version and 64-byte leaves of its shard', async () => {
      const lease = (await store.acquireLease('seq', 10_000))!;
      await publishIndex(lease, [leaf(k0a, 1), leaf(k1, 1)]);
      const valid = { shard: 0, from: 0, to: 1, leaves: [leaf(k0a, 1)] };
      for (const invalid of [
        { ...valid, to: 0 },
        { ...valid, shard: 4096 },
        { ...valid, shard: -1 },
        { ...valid, leaves: [leaf(k0a, 1), leaf(k1, 1)] },
        { ...valid, leaves: [leaf(k0a, 1).subarray(0, 63)] },
      ])
        await expectCode(store.compactIndexShard(lease, invalid), 'ledger.sequence.invalid');
      expect((await store.indexRead([], 'all')).shards).toEqual([
        { shard: 0, version: 0, overlay: [leaf(k0a, 1)] },
        { shard: 1, version: 0, overlay: [leaf(k1, 1)] },
      ]);
    });
  });
}
