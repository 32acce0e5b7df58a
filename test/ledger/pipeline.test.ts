// Writers, sequencer, reader, export and verifier together, on memory and on a real Redis.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { nodeCrypto } from '../../core/crypto-node.js';
import { portableCrypto } from '../../core/crypto-portable.js';
import { isGovernanceError } from '../../core/errors.js';
import { signEventBatch, validateEvent, type LedgerEvent } from '../../core/event.js';
import { signSync } from '../../core/keys.js';
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

for (const [name, stores, sequencerOptions] of [
  ['memory', () => memoryStores(), {}],
  ['redis', () => redisStores(redis.url), {}],
  // Entries opened on worker threads (sequencer/open-pool.ts) while the sequencer's thread chains.
  ['redis with 2 open workers', () => redisStores(redis.url), { openWorkers: 2 }],
] as [string, () => StoreFactory, Partial<SequencerOptions>][]) {
  describe(`ledger pipeline on ${name}`, () => {
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
      const receipts = await writers[0]!.appendAndWait([testEvent(9000), testEvent(9001)]);
      expect(receipts.map((r) => r.seq)).toEqual([receipts[0]!.seq, receipts[0]!.seq + 1]);
      await until(async () => (await ledger.store.tip()).seq === 122, 10_000, 'all records chained');
      await until(
        async () => (await ledger.store.tip()).signedSeq === 122,
        10_000,
        'a checkpoint covering them',
      );

      const reader = new StoreLedgerReader(nodeCrypto, ledger.store);
      const records = await reader.range(1, 122);
      expect(records.map((r) => r.seq)).toEqual(Array.from({ length: 122 }, (_, i) => i + 1));
      const ids = records.map((r) => r.event.request_id);
      expect(new Set(ids).size).toBe(122);
      const receipt = records[receipts[1]!.seq - 1]!;
      expect(receipt.event.request_id).toBe('req-9001');
      expect(receipts[1]).toEqual({
        seq: receipt.seq,
        event_hash: receipt.event_hash,
        event_hash_alt: receipt.event_hash_alt,
      });
      const checkpoint = (await reader.checkpoint())!;
      expect(parseCheckpointNote(checkpoint).checkpoint.size).toBe(122);

      for (const suite of [nodeCrypto, portableCrypto]) {
        const result = await verifyStore(ledger.store, verifyOptions(suite));
        expect(result.failures).toEqual([]);
        expect(result).toMatchObject({ ok: true, records: 122, firstSeq: 1, lastSeq: 122 });
        expect(result.checkpoints).toBeGreaterThanOrEqual(1);
      }
      const path = join(dir, `${name}-export.jsonl`);
      await exportToFile(ledger.store, path);
      const progress: number[] = [];
      const fromFile = await verifyExportFile(path, {
        ...verifyOptions(),
        checkpoint,
        onProgress: (p) => progress.push(p.records),
        progressEvery: 50,
      });
      expect(fromFile).toMatchObject({ ok: true, records: 122 });
      expect(progress).toEqual([50, 100, 122]);
    });

    it('links each lineage by lineage_prev and proves all of its records against a checkpoint', async () => {
      ledger = new TestLedger(stores(), sequencerOptions);
      ledger.sequencer();
      const writer = await ledger.writer();
      const [a, b] = [lineageEvents('A'), lineageEvents('B', 100)];
      // Interleaved, one stage at a time, as an operation's stages arrive in real life.
      for (let i = 0; i < a.length; i++) await writer.appendAndWait([a[i]!, testEvent(200 + i), b[i]!]);
      const reader = new StoreLedgerReader(nodeCrypto, ledger.store);
      const lineage = await reader.lineage('lineage://op/A');
      expect(lineage.map((r) => r.event.type)).toEqual(a.map((e) => e.type));
      expect(lineage[0]!.lineage_prev).toBeNull();
      lineage.slice(1).forEach((r, i) => expect(r.lineage_prev).toBe(lineage[i]!.event_hash));
      expect((await reader.range(2, 2))[0]!.lineage_prev).toBeUndefined();

      await until(
        async () => (await ledger.store.tip()).signedSeq === 21,
        5000,
        'a checkpoint covering the lineage',
      );
      const proof = await reader.lineageProof('lineage://op/A');
      for (const suite of [nodeCrypto, portableCrypto]) {
        const result = verifyLineageProof(suite, proof, trust);
        expect(result.failures).toEqual([]);
        expect(result.records.map((r) => r.seq)).toEqual(lineage.map((r) => r.seq));
        expect(result.checkpoint.checkpoint.size).toBe(21);
      }
      // A record left out no longer links; an edited one is no longer in the tree.
      const dropped = { ...proof, records: proof.records.filter((_, i) => i !== 3) };
      expect(() => verifyLineageProof(nodeCrypto, dropped, trust)).toThrow(/lineage_prev/);
      const edited = structuredClone(proof);
      edited.records[0]!.record = edited.records[0]!.record.replace('model.invoke', 'model.train!');
      expect(() => verifyLineageProof(nodeCrypto, edited, trust)).toThrow();
      const cut = { ...proof, records: proof.records.slice(0, -1) };
      expect(() => verifyLineageProof(nodeCrypto, cut, trust)).toThrow(/latest record/);
    });

    it('proves that a lineage has no record, and that a present one cannot be passed off as absent', async () => {
      ledger = new TestLedger(stores(), sequencerOptions);
      ledger.sequencer();
      const writer = await ledger.writer();
      const events = lineageEvents('C').slice(0, 3);
      await writer.appendAndWait(events);
      await until(async () => (await ledger.store.tip()).signedSeq === 3, 5000, 'a checkpoint');
      const reader = new StoreLedgerReader(nodeCrypto, ledger.store);
      const absent = await reader.lineageProof('lineage://op/NOPE');
      expect(absent.records).toEqual([]);
      for (const suite of [nodeCrypto, portableCrypto]) {
        expect(verifyLineageProof(suite, absent, trust).records).toEqual([]);
      }
      // The stages it has are all of them: no execution.started up to this checkpoint.
      const present = verifyLineageProof(nodeCrypto, await reader.lineageProof('lineage://op/C'), trust);
      expect(present.records.map((r) => r.event.type)).toEqual(events.map((e) => e.type));
      expect(present.records.some((r) => r.event.type === 'execution.started')).toBe(false);
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
      const writer = await ledger.writer();
      await writer.appendAndWait(Array.from({ length: 300 }, (_, i) => testEvent(i)));
      await until(async () => (await ledger.store.tip()).signedSeq === 300, 5000, 'a checkpoint');
      const reader = new StoreLedgerReader(nodeCrypto, ledger.store);
      const early = parseCheckpointNote((await reader.checkpoint())!);
      await writer.appendAndWait(Array.from({ length: 260 }, (_, i) => testEvent(1000 + i)));
      await until(async () => (await ledger.store.tip()).signedSeq === 560, 5000, 'a later checkpoint');
      for (const seq of [1, 255, 256, 257, 300, 511, 512, 560]) {
        const proof = await reader.inclusionProof(seq);
        expect(proof.proof.length).toBeLessThanOrEqual(Math.ceil(Math.log2(560)));
        const { record, checkpoint } = verifyInclusionProof(portableCrypto, proof, trust);
        expect(record.seq).toBe(seq);
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
      const rejected = await stranger.appendAndWait([testEvent(1)], 5000).catch((e: unknown) => e);
      expect(isGovernanceError(rejected, 'ledger.signature.invalid')).toBe(true);
      await until(() => stranger.halt() !== undefined, 2000, 'the rejected writer to halt');

      const forged = signEventBatch(nodeCrypto, 'test-log', PRODUCER_KID, (m) => signSync(strangerKey, m), [
        testEvent(2),
      ]);
      const [badSignature, notJson] = await ledger.store.appendIngest([
        JSON.stringify({ events: [forged[0]!.event], kid: PRODUCER_KID, val: forged[0]!.sig.val }),
        '{"events": [',
      ]);
      // Refused entries are chained after the accepted ones of their commit: let these two be
      // refused before the honest entry is appended, so that the order below is fixed.
      await until(async () => (await ledger.store.deadLetters(10)).length === 3, 5000, 'the refusals');
      const honest = await ledger.writer();
      await honest.appendAndWait([testEvent(3)]);
      const dead = await ledger.store.deadLetters(10);
      expect(dead.map((d) => [d.ingestId, d.code])).toEqual([
        [expect.any(String), 'ledger.signature.invalid'],
        [badSignature, 'ledger.signature.invalid'],
        [notJson, 'ledger.event.invalid'],
      ]);
      await until(async () => (await ledger.store.tip()).signedSeq === 4, 5000, 'a head');
      const records = await new StoreLedgerReader(nodeCrypto, ledger.store).range(1, 4);
      expect(records.map((r) => [r.event.type, r.event.reason, r.sig.kid])).toEqual([
        ['ledger.rejected', 'ledger.signature.invalid', AUDIT_KID],
        ['ledger.rejected', 'ledger.signature.invalid', AUDIT_KID],
        ['ledger.rejected', 'ledger.event.invalid', AUDIT_KID],
        ['execution.denied', 'artifact.signature.invalid', PRODUCER_KID],
      ]);
      expect(records[2]!.event.data).toMatchObject({ ingest_id: notJson, entry_chars: 12 });
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
      expect(seal(testEvent(1), testEvent(2))).toBe(first);
      const [original] = await ledger.store.appendIngest([first]);
      await until(async () => (await ledger.store.tip()).seq === 2, 5000, 'the first batch');
      // Copies of a chained batch, and a new batch with its copy in the same read.
      const copies = await ledger.store.appendIngest([first, second, second, first]);
      await until(async () => (await ledger.store.deadLetters(10)).length === 3, 5000, 'the refusals');
      const dead = await ledger.store.deadLetters(10);
      expect(dead.map((d) => [d.ingestId, d.code])).toEqual([
        [copies[0], 'ledger.batch.replayed'],
        [copies[2], 'ledger.batch.replayed'],
        [copies[3], 'ledger.batch.replayed'],
      ]);
      await until(async () => (await ledger.store.tip()).signedSeq === 7, 5000, 'a head');
      const records = await new StoreLedgerReader(nodeCrypto, ledger.store).range(1, 7);
      expect(
        records.map((r) => (r.event.type === 'ledger.rejected' ? r.event.reason : r.event.request_id)),
      ).toEqual([
        testEvent(1).request_id,
        testEvent(2).request_id,
        testEvent(3).request_id,
        testEvent(4).request_id,
        'ledger.batch.replayed',
        'ledger.batch.replayed',
        'ledger.batch.replayed',
      ]);
      expect(records.slice(4).map((r) => r.event.data?.ingest_id)).toEqual([copies[0], copies[2], copies[3]]);
      expect(original).not.toBe(copies[0]);
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
      await until(() => loads === 1, 2000, 'the first load');
      // Certified after the sequencer loaded its keys, and used more than a second later.
      certified = ledgerKeys.producers;
      await new Promise((r) => setTimeout(r, 1100));
      const writer = await ledger.writer();
      const [receipt] = await writer.appendAndWait([testEvent(1)], 5000);
      expect(receipt!.seq).toBe(1);
      expect(loads).toBe(2);
      expect(await ledger.store.deadLetters(10)).toEqual([]);
    });

    it('halts a writer while the sequencer is down and recovers when it is back', async () => {
      ledger = new TestLedger(stores(), sequencerOptions);
      const writer = await ledger.writer({ commitWindowMs: 300 });
      await writer.append([testEvent(1)]);
      expect(writer.halt()).toBeUndefined();
      await until(() => writer.halt()?.reason === 'ledger.unavailable', 3000, 'the writer to halt');
      expect(writer.commitLagMs()).toBeGreaterThan(300);
      ledger.sequencer();
      await until(() => writer.commitLagMs() === 0, 5000, 'the lag to clear');
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
      await writer.appendAndWait([testEvent(1)]);
      gate.closed = new Promise<void>((resolve) => (gate.open = resolve));
      await writer.append([testEvent(2)]);
      const second = ledger.sequencer({ owner: 'second', leaseMs: 300 });
      await until(() => second.chained === 1, 5000, 'the second sequencer to take over');
      gate.open();
      await until(
        () => logs.some((m) => /fencing token 1 is stale/.test(m)),
        5000,
        'the stale commit to be fenced',
      );
      await until(async () => (await ledger.store.tip()).signedSeq === 2, 5000, 'a head');
      const records = await new StoreLedgerReader(nodeCrypto, ledger.store).range(1, 2);
      expect(records.map((r) => r.event.request_id)).toEqual(['req-1', 'req-2']);
      expect((await ledger.store.tip()).seq).toBe(2);
      expect((await verifyStore(ledger.store, verifyOptions())).ok).toBe(true);
    });

    it('lets a waiting sequencer take over when the leader stops', async () => {
      ledger = new TestLedger(stores(), sequencerOptions);
      const first = ledger.sequencer({ owner: 'first' });
      const second = ledger.sequencer({ owner: 'second' });
      const writer = await ledger.writer();
      // Generous: open workers start with the first entry, slowly on a loaded machine.
      await writer.appendAndWait([testEvent(1)], 30_000);
      const leader = first.chained === 1 ? first : second;
      const follower = leader === first ? second : first;
      expect(follower.chained).toBe(0);
      await leader.stop();
      await writer.appendAndWait([testEvent(2)], 30_000);
      expect(follower.chained).toBe(1);
      expect((await verifyStore(ledger.store, verifyOptions())).ok).toBe(true);
    });
  });
}

it('refuses a writer batch for an unknown producer even when the kid is an audit kid', async () => {
  const ledger = new TestLedger(memoryStores());
  try {
    ledger.sequencer();
    const impostor = await ledger.writer({ kid: AUDIT_KID, privateKey: auditKey });
    const error = await impostor.appendAndWait([testEvent(1, 'ledger.rejected')]).catch((e: unknown) => e);
    expect(isGovernanceError(error, 'ledger.signature.invalid')).toBe(true);
  } finally {
    await ledger.close();
  }
});
