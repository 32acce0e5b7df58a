// Writers, sequencer, reader, export and verifier together, on memory and on a real Redis.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { nodeCrypto } from '../../core/crypto-node.js';
import { formatMillis } from '../../core/time.js';
import { portableCrypto } from '../../core/crypto-portable.js';
import { isGovernanceError } from '../../core/errors.js';
import { EVENT_LIMITS, validateEvent, type LedgerEvent } from '../../core/event.js';
import { exportToFile } from '../../ledger/export.js';
import { sealBatch } from '../../ledger/ingest.js';
import { StoreLedgerReader } from '../../ledger/reader.js';
import { parseCheckpointNote } from '../../core/checkpoint.js';
import {
  verifyConsistencyProof,
  verifyInclusionProof,
  verifyLineageProof,
  type ProofTrust,
} from '../../core/proofs.js';
import { verifyExportFile, verifyStore, type VerifyOptions } from '../../ledger/verify.js';
import type { SequencerOptions } from '../../sequencer/sequencer.js';
import type { LedgerStore } from '../../store/ledger-types.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import {
  AUDIT_KID,
  PRODUCER_KID,
  TestLedger,
  auditKey,
  chainedEvents,
  ledgerKeys,
  lineageEvents,
  memoryStores,
  producerKey,
  redisStores,
  strangerKey,
  testEvent,
  until,
  type StoreFactory,
} from './support.js';

let redis: TestRedis;
const dir = mkdtempSync(join(tmpdir(), 'ledger-pipeline-'));
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const verifyOptions = (suite = nodeCrypto): VerifyOptions => ({ suite, keys: ledgerKeys });
const trust: ProofTrust = { keys: ledgerKeys };
/**
 * How long anything waits at most: a loaded two-core machine, open workers that load through tsx,
 * a Redis shared by parallel test files. Waits end as soon as what they wait for happens.
 */
const WAIT_MS = 30_000;

for (const [name, stores, sequencerOptions] of [
  ['memory', () => memoryStores(), {}],
  ['redis', () => redisStores(redis.url), {}],
  // Entries opened on worker threads (sequencer/open-pool.ts) while the sequencer's thread chains.
  ['redis with 2 open workers', () => redisStores(redis.url), { openWorkers: 2 }],
] as [string, () => StoreFactory, Partial<SequencerOptions>][]) {
  describe(`ledger pipeline on ${name}`, { timeout: 180_000 }, () => {
    let ledger: TestLedger;
    afterEach(async () => {
      await ledger.close();
    });

    it('chains appended events exactly once, with receipts, checkpoints and a verifiable chain', async () => {
      ledger = new TestLedger(stores(), sequencerOptions);
      ledger.sequencer();
      const writers = await Promise.all([1, 2, 3].map(() => ledger.writer({ maxBatch: 16 })));
      const appends = writers.flatMap((writer, w) =>
        Array.from({ length: 20 }, (_, i) =>
          writer.append([testEvent(w * 1000 + 2 * i), testEvent(w * 1000 + 2 * i + 1)]),
        ),
      );
      await Promise.all(appends);
      const receipts = await writers[0]!.appendAndWait([testEvent(9000), testEvent(9001)], WAIT_MS);
      await until(
        async () => (await chainedEvents(ledger.store)).length === 122,
        WAIT_MS,
        'all events chained',
      );
      const size = (await ledger.store.tip()).seq;
      await until(
        async () => (await ledger.store.tip()).signedSeq === size,
        WAIT_MS,
        'a checkpoint covering them',
      );

      const reader = new StoreLedgerReader(nodeCrypto, ledger.store);
      const records = await reader.range(1, size);
      expect(records.map((r) => r.seq)).toEqual(Array.from({ length: size }, (_, i) => i + 1));
      // One record per producer batch: at most 16 events each, fewer records than events.
      for (const record of records) expect(record.events.length).toBeLessThanOrEqual(16);
      expect(size).toBeLessThan(122);
      const ids = records.flatMap((r) => r.events.map((e) => e.request_id));
      expect(new Set(ids).size).toBe(122);
      // The last call is a batch of its own, the last record: its receipts are its events' positions.
      expect(receipts).toEqual([
        { seq: size, index: 0 },
        { seq: size, index: 1 },
      ]);
      expect(receipts.map(({ seq, index }) => records[seq - 1]!.events[index]!.request_id)).toEqual([
        'req-9000',
        'req-9001',
      ]);
      // Its inclusion proof proves the whole batch.
      const included = verifyInclusionProof(nodeCrypto, await reader.inclusionProof(size), trust);
      expect(included.record.events.map((e) => e.request_id)).toEqual(['req-9000', 'req-9001']);
      const checkpoint = (await reader.checkpoint())!;
      expect(parseCheckpointNote(checkpoint).checkpoint.size).toBe(size);

      for (const suite of [nodeCrypto, portableCrypto]) {
        const result = await verifyStore(ledger.store, verifyOptions(suite));
        expect(result.failures).toEqual([]);
        expect(result).toMatchObject({ ok: true, records: size, firstSeq: 1, lastSeq: size });
        expect(result.checkpoints).toBeGreaterThanOrEqual(1);
      }
      const path = join(dir, `${name}-export.jsonl`);
      await exportToFile(ledger.store, path);
      const progress: number[] = [];
      const fromFile = await verifyExportFile(path, {
        ...verifyOptions(),
        checkpoint,
        onProgress: (p) => progress.push(p.records),
        progressEvery: 4,
      });
      expect(fromFile).toMatchObject({ ok: true, records: size });
      expect(progress).toEqual([
        ...Array.from({ length: Math.floor(size / 4) }, (_, i) => 4 * (i + 1)),
        size,
      ]);
    });

    it('links each lineage by lineage_prev across records and proves all of its events against a checkpoint', async () => {
      ledger = new TestLedger(stores(), sequencerOptions);
      ledger.sequencer();
      const writer = await ledger.writer();
      const [a, b] = [lineageEvents('A'), lineageEvents('B', 100)];
      // Interleaved, one stage at a time, as an operation's stages arrive in real life: record i
      // holds A's stage i at index 0, an event of no lineage at 1, and B's stage i at 2.
      for (let i = 0; i < a.length; i++)
        await writer.appendAndWait([a[i]!, testEvent(200 + i), b[i]!], WAIT_MS);
      await until(
        async () => (await ledger.store.tip()).signedSeq === 7,
        WAIT_MS,
        'a checkpoint covering the lineage',
      );
      const reader = new StoreLedgerReader(nodeCrypto, ledger.store);
      const records = await reader.range(1, 7);
      expect(records[0]!.lineage_prev).toEqual([null, null, null]);
      records.slice(1).forEach((r) => expect(r.lineage_prev).toEqual([[r.seq - 1, 0], null, [r.seq - 1, 2]]));
      const lineage = await reader.lineageEvents('lineage://op/A');
      expect(lineage.map((e) => e.event.type)).toEqual(a.map((e) => e.type));
      expect(lineage.map((e) => [e.seq, e.index])).toEqual(a.map((_, i) => [i + 1, 0]));
      expect((await reader.lineageEvents('lineage://op/B')).map((e) => [e.seq, e.index])).toEqual(
        b.map((_, i) => [i + 1, 2]),
      );

      const proof = await reader.lineageProof('lineage://op/A');
      expect(proof.records).toHaveLength(7);
      for (const suite of [nodeCrypto, portableCrypto]) {
        const result = verifyLineageProof(suite, proof, trust);
        expect(result.failures).toEqual([]);
        expect(result.records.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
        expect(result.events).toEqual(lineage);
        expect(result.checkpoint.checkpoint.size).toBe(7);
      }
      // A record left out breaks the links; an edited one is no longer in the tree; without the
      // latest record the index's position is not reached.
      const invalid = (message: RegExp) =>
        expect.objectContaining({ code: 'ledger.lineage.invalid', message: expect.stringMatching(message) });
      const dropped = { ...proof, records: proof.records.filter((_, i) => i !== 3) };
      expect(() => verifyLineageProof(nodeCrypto, dropped, trust)).toThrow(invalid(/lacks record 4 /));
      const edited = structuredClone(proof);
      edited.records[0]!.record = edited.records[0]!.record.replace('model.invoke', 'model.train!');
      expect(() => verifyLineageProof(nodeCrypto, edited, trust)).toThrow();
      const cut = { ...proof, records: proof.records.slice(0, -1) };
      expect(() => verifyLineageProof(nodeCrypto, cut, trust)).toThrow(invalid(/lacks record 7 /));
    });

    it('links the events of a lineage within one record, then to the last of them from a later record', async () => {
      ledger = new TestLedger(stores(), sequencerOptions);
      ledger.sequencer();
      const writer = await ledger.writer();
      const stages = lineageEvents('D');
      // Stages 0-2 in one batch with an event of no lineage between them, stages 3-6 in another.
      await writer.appendAndWait([stages[0]!, stages[1]!, testEvent(300), stages[2]!], WAIT_MS);
      await writer.appendAndWait(stages.slice(3), WAIT_MS);
      await until(async () => (await ledger.store.tip()).signedSeq === 2, WAIT_MS, 'a checkpoint');
      const reader = new StoreLedgerReader(nodeCrypto, ledger.store);
      const [first, second] = await reader.range(1, 2);
      expect(first!.lineage_prev).toEqual([null, [1, 0], null, [1, 1]]);
      expect(second!.lineage_prev).toEqual([
        [1, 3],
        [2, 0],
        [2, 1],
        [2, 2],
      ]);
      const positions = [
        [1, 0],
        [1, 1],
        [1, 3],
        [2, 0],
        [2, 1],
        [2, 2],
        [2, 3],
      ];
      const events = await reader.lineageEvents('lineage://op/D');
      expect(events.map((e) => [e.seq, e.index])).toEqual(positions);
      expect(events.map((e) => e.event.type)).toEqual(stages.map((e) => e.type));
      const verified = verifyLineageProof(portableCrypto, await reader.lineageProof('lineage://op/D'), trust);
      expect(verified.failures).toEqual([]);
      expect(verified.events).toEqual(events);
      expect((await verifyStore(ledger.store, verifyOptions())).failures).toEqual([]);
    });

    it('answers a lineage with its events up to the latest checkpoint only', async () => {
      ledger = new TestLedger(stores(), sequencerOptions);
      const first = ledger.sequencer();
      const writer = await ledger.writer({ commitWindowMs: 120_000 });
      const stages = lineageEvents('E');
      await writer.appendAndWait(stages.slice(0, 2), WAIT_MS);
      await until(async () => (await ledger.store.tip()).signedSeq === 1, WAIT_MS, 'a checkpoint');
      await first.stop();
      // The next leader's checkpoints lack their witness cosignature: none is published.
      const refused = { threshold: 1, cosign: async () => [] };
      const second = ledger.sequencer({ witnesses: refused, log: () => undefined });
      await writer.appendAndWait(stages.slice(2, 4), WAIT_MS);
      await until(() => second.status().unwitnessed > 0, WAIT_MS, 'a checkpoint to go unpublished');
      expect(await ledger.store.tip()).toMatchObject({ seq: 2, signedSeq: 1 });
      const reader = new StoreLedgerReader(nodeCrypto, ledger.store);
      expect((await reader.lineageEvents('lineage://op/E')).map((e) => [e.seq, e.index])).toEqual([
        [1, 0],
        [1, 1],
      ]);
      expect((await reader.lineageProof('lineage://op/E')).records).toHaveLength(1);
    });

    it('proves that a lineage has no record, and that a present one cannot be passed off as absent', async () => {
      ledger = new TestLedger(stores(), sequencerOptions);
      ledger.sequencer();
      const writer = await ledger.writer();
      const events = lineageEvents('C').slice(0, 3);
      await writer.appendAndWait(events, WAIT_MS);
      await until(async () => (await ledger.store.tip()).signedSeq === 1, WAIT_MS, 'a checkpoint');
      const reader = new StoreLedgerReader(nodeCrypto, ledger.store);
      const absent = await reader.lineageProof('lineage://op/NOPE');
      expect(absent.records).toEqual([]);
      for (const suite of [nodeCrypto, portableCrypto]) {
        expect(verifyLineageProof(suite, absent, trust)).toMatchObject({ records: [], events: [] });
      }
      expect(await reader.lineageEvents('lineage://op/NOPE')).toEqual([]);
      // The stages it has are all of them: no execution.started up to this checkpoint.
      const present = verifyLineageProof(nodeCrypto, await reader.lineageProof('lineage://op/C'), trust);
      expect(present.records.map((r) => r.seq)).toEqual([1]);
      expect(present.events.map((e) => e.event.type)).toEqual(events.map((e) => e.type));
      expect(present.events.some((e) => e.event.type === 'execution.started')).toBe(false);
      // The empty answer for another lineage, passed off as C's, does not verify: its index
      // proof names C's record (the only one), which the proof then fails to list.
      expect(() => verifyLineageProof(nodeCrypto, { ...absent, lineage: 'lineage://op/C' }, trust)).toThrow(
        expect.objectContaining({ code: 'ledger.lineage.invalid' }),
      );
      // And C's answer with its records dropped, claiming absence, does not verify either.
      const claimed = { ...(await reader.lineageProof('lineage://op/C')), records: [] };
      expect(() => verifyLineageProof(nodeCrypto, claimed, trust)).toThrow(
        expect.objectContaining({ code: 'ledger.lineage.invalid' }),
      );
    });

    it('proves inclusion of any record and consistency between checkpoints', async () => {
      ledger = new TestLedger(stores(), { ...sequencerOptions, headIntervalMs: 10 });
      ledger.sequencer();
      // One event per batch: a record each, so that the tree grows past a tile (256 leaves).
      const writer = await ledger.writer({ maxBatch: 1 });
      await writer.appendAndWait(
        Array.from({ length: 300 }, (_, i) => testEvent(i)),
        WAIT_MS,
      );
      await until(async () => (await ledger.store.tip()).signedSeq === 300, WAIT_MS, 'a checkpoint');
      const reader = new StoreLedgerReader(nodeCrypto, ledger.store);
      const early = parseCheckpointNote((await reader.checkpoint())!);
      await writer.appendAndWait(
        Array.from({ length: 260 }, (_, i) => testEvent(1000 + i)),
        WAIT_MS,
      );
      await until(async () => (await ledger.store.tip()).signedSeq === 560, WAIT_MS, 'a later checkpoint');
      for (const seq of [1, 255, 256, 257, 300, 511, 512, 560]) {
        const proof = await reader.inclusionProof(seq);
        expect(proof.proof.length).toBeLessThanOrEqual(Math.ceil(Math.log2(560)));
        const { record, checkpoint } = verifyInclusionProof(portableCrypto, proof, trust);
        expect(record.seq).toBe(seq);
        expect(record.events.map((e) => e.request_id)).toEqual([`req-${seq <= 300 ? seq - 1 : seq + 699}`]);
        expect(checkpoint.checkpoint.size).toBe(560);
      }
      const consistency = await reader.consistencyProof(early.checkpoint.size);
      expect(verifyConsistencyProof(nodeCrypto, early, consistency, trust).checkpoint.size).toBe(560);
      // A record not yet checkpointed has no proof yet.
      await expect(reader.inclusionProof(561)).rejects.toMatchObject({ code: 'ledger.head.mismatch' });
    });

    it('dead-letters an entry that fails its checks and records the rejection in the chain', async () => {
      ledger = new TestLedger(stores(), sequencerOptions);
      ledger.sequencer();
      const stranger = await ledger.writer({
        kid: 'producer:unknown',
        privateKey: strangerKey,
        commitWindowMs: 200,
      });
      const rejected = await stranger.appendAndWait([testEvent(1)], WAIT_MS).catch((e: unknown) => e);
      expect(isGovernanceError(rejected, 'ledger.signature.invalid')).toBe(true);
      await until(() => stranger.halt() !== undefined, WAIT_MS, 'the rejected writer to halt');

      // The producer's kid over a signature by another key.
      const forged = sealBatch(nodeCrypto, 'test-log', PRODUCER_KID, strangerKey, [
        validateEvent(testEvent(2)),
      ]);
      const [badSignature, notJson] = await ledger.store.appendIngest([forged.entry, '{"events": [']);
      // Refused entries are chained after the accepted ones of their commit: let these two be
      // refused before the honest entry is appended, so that the order below is fixed.
      await until(async () => (await ledger.store.deadLetters(10)).length === 3, WAIT_MS, 'the refusals');
      const honest = await ledger.writer();
      await honest.appendAndWait([testEvent(3)], WAIT_MS);
      const dead = await ledger.store.deadLetters(10);
      expect(dead.map((d) => [d.ingestId, d.code])).toEqual([
        [expect.any(String), 'ledger.signature.invalid'],
        [badSignature, 'ledger.signature.invalid'],
        [notJson, 'ledger.event.invalid'],
      ]);
      // One record of ledger.rejected events (signed by the audit key) per commit that refused
      // entries: the stranger's, then the two appended together; then the honest batch.
      await until(async () => (await ledger.store.tip()).signedSeq === 3, WAIT_MS, 'a head');
      const records = await new StoreLedgerReader(nodeCrypto, ledger.store).range(1, 3);
      expect(records.map((r) => [r.kid, r.events.map((e) => [e.type, e.reason])])).toEqual([
        [AUDIT_KID, [['ledger.rejected', 'ledger.signature.invalid']]],
        [
          AUDIT_KID,
          [
            ['ledger.rejected', 'ledger.signature.invalid'],
            ['ledger.rejected', 'ledger.event.invalid'],
          ],
        ],
        [PRODUCER_KID, [['execution.denied', 'artifact.signature.invalid']]],
      ]);
      expect(records[1]!.events.map((e) => e.data?.ingest_id)).toEqual([badSignature, notJson]);
      expect(records[1]!.events[1]!.data).toMatchObject({ ingest_id: notJson, entry_chars: 12 });
      expect((await verifyStore(ledger.store, verifyOptions())).failures).toEqual([]);
    });

    it('records a flood of refused entries in rejection records that each fit, and chains on', async () => {
      ledger = new TestLedger(stores(), sequencerOptions);
      ledger.sequencer();
      // More refusals in one read than one record of ledger.rejected events can hold (64 KiB):
      // anyone who can write to the ingest stream can send them.
      const junk = Array.from({ length: 400 }, (_, i) => `{"events": [${i}`);
      await ledger.store.appendIngest(junk);
      await until(
        async () => (await ledger.store.deadLetters(1000)).length === junk.length,
        WAIT_MS,
        'every junk entry dead-lettered',
      );
      const honest = await ledger.writer();
      const [receipt] = await honest.appendAndWait([testEvent(1)], WAIT_MS);
      await until(async () => (await ledger.store.tip()).signedSeq === receipt!.seq, WAIT_MS, 'a checkpoint');
      const records = await new StoreLedgerReader(nodeCrypto, ledger.store).range(1, receipt!.seq);
      const rejections = records.filter((r) => r.kid === AUDIT_KID);
      expect(rejections.length).toBeGreaterThan(1);
      expect(rejections.flatMap((r) => r.events).length).toBe(junk.length);
      for (const { text } of await ledger.store.records(1, receipt!.seq))
        expect(Buffer.byteLength(text)).toBeLessThanOrEqual(EVENT_LIMITS.recordBytes);
      expect(records.at(-1)!.events.map((e) => e.request_id)).toEqual([testEvent(1).request_id]);
      expect((await verifyStore(ledger.store, verifyOptions())).failures).toEqual([]);
    });

    it('refuses a copied ingest entry: each producer batch is chained once', async () => {
      ledger = new TestLedger(stores(), sequencerOptions);
      ledger.sequencer();
      // Ed25519 is deterministic: sealing the same events again gives the very same entry, as a
      // copy made by anyone who can write to the ingest stream would be.
      const seal = (...events: LedgerEvent[]) =>
        sealBatch(
          nodeCrypto,
          'test-log',
          PRODUCER_KID,
          producerKey,
          events.map((e) => validateEvent(e)),
        );
      const first = seal(testEvent(1), testEvent(2));
      const second = seal(testEvent(3), testEvent(4));
      expect(seal(testEvent(1), testEvent(2))).toEqual(first);
      const [original] = await ledger.store.appendIngest([first.entry]);
      await until(async () => (await ledger.store.tip()).seq === 1, WAIT_MS, 'the first batch');
      // Copies of a chained batch, and a new batch with its copy in the same read.
      const copies = await ledger.store.appendIngest([first.entry, second.entry, second.entry, first.entry]);
      await until(async () => (await ledger.store.deadLetters(10)).length === 3, WAIT_MS, 'the refusals');
      const dead = await ledger.store.deadLetters(10);
      expect(dead.map((d) => [d.ingestId, d.code])).toEqual([
        [copies[0], 'ledger.batch.replayed'],
        [copies[2], 'ledger.batch.replayed'],
        [copies[3], 'ledger.batch.replayed'],
      ]);
      // Each batch one record, once; then the record of the three refusals.
      await until(async () => (await ledger.store.tip()).signedSeq === 3, WAIT_MS, 'a head');
      const records = await new StoreLedgerReader(nodeCrypto, ledger.store).range(1, 3);
      expect(records.map((r) => r.val)).toEqual([first.val, second.val, expect.any(String)]);
      expect(
        records.map((r) => r.events.map((e) => (e.type === 'ledger.rejected' ? e.reason : e.request_id))),
      ).toEqual([
        [testEvent(1).request_id, testEvent(2).request_id],
        [testEvent(3).request_id, testEvent(4).request_id],
        ['ledger.batch.replayed', 'ledger.batch.replayed', 'ledger.batch.replayed'],
      ]);
      expect(records[2]!.kid).toBe(AUDIT_KID);
      expect(records[2]!.events.map((e) => e.data?.ingest_id)).toEqual([copies[0], copies[2], copies[3]]);
      expect(original).not.toBe(copies[0]);
      expect((await verifyStore(ledger.store, verifyOptions())).failures).toEqual([]);
    });

    it('refuses a batch outside the replay window, and forgets chained batches after two windows', async () => {
      // A window of one second stands for the default ten minutes (wide enough for a loaded machine
      // to seal and append a fresh batch within it).
      ledger = new TestLedger(stores(), { ...sequencerOptions, replayWindowMs: 1000 });
      ledger.sequencer();
      const seal = (i: number, at: number) =>
        sealBatch(nodeCrypto, 'test-log', PRODUCER_KID, producerKey, [
          validateEvent(testEvent(i, 'execution.denied', { time: formatMillis(at) })),
        ]);
      const first = seal(1, Date.now());
      await ledger.store.appendIngest([first.entry]);
      await until(async () => (await ledger.store.tip()).seq === 1, WAIT_MS, 'the first batch');
      expect(await ledger.store.chainedBatches([first.val])).toEqual([true]);
      // Events ten seconds old, or ten seconds ahead, when they reach the stream: refused.
      const [old, ahead] = await ledger.store.appendIngest([
        seal(2, Date.now() - 10_000).entry,
        seal(3, Date.now() + 10_000).entry,
      ]);
      await until(async () => (await ledger.store.deadLetters(10)).length === 2, WAIT_MS, 'the refusals');
      // Two windows later a commit forgets the first batch; a copy of it is stale by then.
      await new Promise((r) => setTimeout(r, 2200));
      const fresh = seal(4, Date.now());
      await ledger.store.appendIngest([fresh.entry]);
      await until(
        async () => !(await ledger.store.chainedBatches([first.val]))[0],
        WAIT_MS,
        'the first batch forgotten',
      );
      expect(await ledger.store.chainedBatches([fresh.val])).toEqual([true]);
      const [copy] = await ledger.store.appendIngest([first.entry]);
      await until(async () => (await ledger.store.deadLetters(10)).length === 3, WAIT_MS, 'the copy refused');
      expect((await ledger.store.deadLetters(10)).map((d) => [d.ingestId, d.code])).toEqual([
        [old, 'ledger.batch.stale'],
        [ahead, 'ledger.batch.stale'],
        [copy, 'ledger.batch.stale'],
      ]);
      await until(
        async () => {
          const tip = await ledger.store.tip();
          return tip.seq === tip.signedSeq;
        },
        WAIT_MS,
        'a checkpoint over all',
      );
      const records = await new StoreLedgerReader(nodeCrypto, ledger.store).range(
        1,
        (await ledger.store.tip()).seq,
      );
      // Each genuine batch once; the refusals as ledger.rejected events.
      expect(records.filter((r) => r.val === first.val)).toHaveLength(1);
      expect(
        records.flatMap((r) => r.events.filter((e) => e.type === 'ledger.rejected').map((e) => e.reason)),
      ).toEqual(['ledger.batch.stale', 'ledger.batch.stale', 'ledger.batch.stale']);
      expect((await verifyStore(ledger.store, verifyOptions())).failures).toEqual([]);
    });

    it('reloads the producer keys for an unknown kid (at most once a second) and chains the entry', async () => {
      let certified: typeof ledgerKeys.producers = new Map();
      let loads = 0;
      ledger = new TestLedger(stores(), sequencerOptions);
      ledger.sequencer({
        producerKeys: async () => {
          loads++;
          return certified;
        },
      });
      await until(() => loads === 1, WAIT_MS, 'the first load');
      // Certified after the sequencer loaded its keys, and used more than a second later.
      certified = ledgerKeys.producers;
      await new Promise((r) => setTimeout(r, 1100));
      const writer = await ledger.writer();
      const [receipt] = await writer.appendAndWait([testEvent(1)], WAIT_MS);
      expect(receipt).toEqual({ seq: 1, index: 0 });
      expect(loads).toBe(2);
      expect(await ledger.store.deadLetters(10)).toEqual([]);
    });

    it('halts a writer while the sequencer is down and recovers when it is back', async () => {
      ledger = new TestLedger(stores(), sequencerOptions);
      const writer = await ledger.writer({ commitWindowMs: 300 });
      await writer.append([testEvent(1)]);
      expect(writer.halt()).toBeUndefined();
      await until(() => writer.halt()?.reason === 'ledger.unavailable', WAIT_MS, 'the writer to halt');
      expect(writer.commitLagMs()).toBeGreaterThan(300);
      ledger.sequencer();
      await until(() => writer.commitLagMs() === 0, WAIT_MS, 'the lag to clear');
      expect(writer.halt()).toBeUndefined();
    });

    it('fences the commit of a leader that stalled past its lease', async () => {
      ledger = new TestLedger(stores(), sequencerOptions);
      // The first leader's commits and renewals pass through a gate the test can close.
      const gate = { closed: Promise.resolve(), open: () => undefined as void };
      const gated: (keyof LedgerStore)[] = ['commit', 'renewLease'];
      const stalled = new Proxy(ledger.newStore(), {
        get(target, prop, receiver) {
          const value = Reflect.get(target, prop, receiver) as unknown;
          if (typeof value !== 'function') return value;
          const method = (value as (...args: unknown[]) => unknown).bind(target);
          if (!gated.includes(prop as keyof LedgerStore)) return method;
          return async (...args: unknown[]) => {
            await gate.closed;
            return method(...args);
          };
        },
      });
      const logs: string[] = [];
      ledger.sequencer({ store: stalled, leaseMs: 300, log: (_, message) => logs.push(message) });
      const writer = await ledger.writer();
      await writer.appendAndWait([testEvent(1)], WAIT_MS);
      gate.closed = new Promise<void>((resolve) => (gate.open = resolve));
      await writer.append([testEvent(2)]);
      const second = ledger.sequencer({ owner: 'second', leaseMs: 300 });
      await until(() => second.chained === 1, WAIT_MS, 'the second sequencer to take over');
      gate.open();
      await until(
        () => logs.some((m) => /fencing token 1 is stale/.test(m)),
        WAIT_MS,
        'the stale commit to be fenced',
      );
      await until(async () => (await ledger.store.tip()).signedSeq === 2, WAIT_MS, 'a head');
      const records = await new StoreLedgerReader(nodeCrypto, ledger.store).range(1, 2);
      expect(records.map((r) => r.events.map((e) => e.request_id))).toEqual([['req-1'], ['req-2']]);
      expect((await ledger.store.tip()).seq).toBe(2);
      expect((await verifyStore(ledger.store, verifyOptions())).ok).toBe(true);
    });

    it('lets a waiting sequencer take over when the leader stops', async () => {
      ledger = new TestLedger(stores(), sequencerOptions);
      const first = ledger.sequencer({ owner: 'first' });
      const second = ledger.sequencer({ owner: 'second' });
      const writer = await ledger.writer();
      // Generous: open workers start with the first entry, slowly on a loaded machine.
      await writer.appendAndWait([testEvent(1)], WAIT_MS);
      // A sequencer counts a record once its commit has returned, which may come after the
      // writer's notice of it.
      await until(() => first.chained + second.chained === 1, WAIT_MS, 'the leader to count its record');
      const leader = first.chained === 1 ? first : second;
      const follower = leader === first ? second : first;
      expect(follower.chained).toBe(0);
      await leader.stop();
      await writer.appendAndWait([testEvent(2)], WAIT_MS);
      await until(() => follower.chained === 1, WAIT_MS, 'the follower to count its record');
      expect(leader.chained).toBe(1);
      expect((await verifyStore(ledger.store, verifyOptions())).ok).toBe(true);
    });
  });
}

it('refuses a writer batch for an unknown producer even when the kid is an audit kid', async () => {
  const ledger = new TestLedger(memoryStores());
  try {
    ledger.sequencer();
    const impostor = await ledger.writer({ kid: AUDIT_KID, privateKey: auditKey });
    const error = await impostor
      .appendAndWait([testEvent(1, 'ledger.rejected')], WAIT_MS)
      .catch((e: unknown) => e);
    expect(isGovernanceError(error, 'ledger.signature.invalid')).toBe(true);
  } finally {
    await ledger.close();
  }
});
