// Redaction (docs/spec/ledger.md §3.1) through the real pipeline, on memory and on Redis: a writer
// that commits identity and data, the sequencer that checks and stores the openings by event
// position [seq, index, member], an erasure, and everything re-verified from public data alone.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { canonicalize } from '../../core/canonical.js';
import { nodeCrypto } from '../../core/crypto-node.js';
import { portableCrypto } from '../../core/crypto-portable.js';
import { isGovernanceError } from '../../core/errors.js';
import { validateEvent, type LedgerEvent } from '../../core/event.js';
import { verifyInclusionProof, verifyLineageProof, type ProofTrust } from '../../core/proofs.js';
import {
  commitEvent,
  committedMember,
  openCommitment,
  parseOpening,
  verifyOpenings,
} from '../../core/redaction.js';
import { sealBatch } from '../../ledger/ingest.js';
import { StoreLedgerReader } from '../../ledger/reader.js';
import { verifyStore } from '../../ledger/verify.js';
import type { StoredOpening } from '../../store/ledger-types.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import {
  PRODUCER_KID,
  TestLedger,
  ledgerKeys,
  lineageEvents,
  memoryStores,
  producerKey,
  redisStores,
  testEvent,
  until,
  type StoreFactory,
} from './support.js';

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
}, 60_000);
afterAll(async () => {
  await redis?.stop();
});

const trust: ProofTrust = { keys: ledgerKeys };
const LINEAGE = 'lineage://op/REDACTED1';

function expectRedactionInvalid(run: () => unknown): void {
  let error: unknown;
  try {
    run();
  } catch (e) {
    error = e;
  }
  expect(isGovernanceError(error, 'ledger.redaction.invalid'), String(error)).toBe(true);
}

const at = ({ seq, index }: { seq: number; index: number }) => `${seq}:${index}`;
const fixed = (n: number) => () => new Uint8Array(32).fill(n);

for (const [name, stores] of [
  ['memory', () => memoryStores()],
  ['redis', () => redisStores(redis.url)],
] as [string, () => StoreFactory][]) {
  describe(`redaction on ${name}`, () => {
    let ledger: TestLedger;
    afterEach(async () => {
      await ledger.close();
    });

    it('commits identity and data, stores the openings by event, erases one event’s and re-verifies from public data', async () => {
      ledger = new TestLedger(stores());
      ledger.sequencer();
      // Batches of 4: records of several events, each event's openings stored under its position.
      const writer = await ledger.writer({ redact: ['identity', 'data'], maxBatch: 4 });
      const clear: LedgerEvent[] = [
        ...lineageEvents('REDACTED1'),
        testEvent(100, 'execution.denied', { data: { patient: 'MRN-0042', note: 'dx: J45.909' } }),
        testEvent(101, 'execution.denied', { data: { patient: 'MRN-0043' } }),
      ];
      const receipts = await writer.appendAndWait(clear, 30_000);
      const last = Math.max(...receipts.map((r) => r.seq));
      await until(async () => (await ledger.store.tip()).signedSeq >= last, 30_000, 'a checkpoint');
      expect(last).toBe(3);

      const reader = new StoreLedgerReader(nodeCrypto, ledger.store);
      const records = await reader.range(1, last);
      const chained = receipts.map(({ seq, index }) => records[seq - 1]!.events[index]!);
      expect(records.flatMap((r) => r.events)).toEqual(chained);
      // What is chained holds commitments only; the structure stays public.
      for (const [i, event] of chained.entries()) {
        expect(committedMember(event, 'identity')).toMatch(/^commit:sha256:[0-9a-f]{64}$/);
        expect(event).toMatchObject({
          type: clear[i]!.type,
          time: clear[i]!.time,
          producer: clear[i]!.producer,
        });
        expect(event.lineage).toBe(clear[i]!.lineage);
        expect(event.operation).toBe(clear[i]!.operation);
      }
      expect(JSON.stringify(records)).not.toContain('inference-gateway');
      expect(JSON.stringify(records)).not.toContain('MRN-');
      const [denied, denied2] = receipts.slice(-2) as [(typeof receipts)[0], (typeof receipts)[0]];
      expect(Object.keys(chained.at(-2)!.data!)).toEqual(['commitment']);
      // admission.granted and attestation.signed keep their data: the lineage check reads it.
      const grantedAt = clear.findIndex((e) => e.type === 'admission.granted');
      expect(chained[grantedAt]!.data).toEqual(clear[grantedAt]!.data);

      // Every opening is stored under its event's position and opens; with them a holder gets the
      // clear events back.
      const stored = await ledger.store.openings(records.map((r) => r.seq));
      expect(stored.filter((o) => o.member === 'data').map(at)).toEqual([at(denied), at(denied2)]);
      expect(new Set(stored.map(at))).toEqual(new Set(receipts.map(at)));
      for (const [i, receipt] of receipts.entries()) {
        const texts = stored.filter((o) => at(o) === at(receipt)).map((o) => o.text);
        expect(verifyOpenings(nodeCrypto, chained[i]!, texts)).toEqual(clear[i]);
      }
      // The proof reader serves a record's openings as stored.
      for (const { seq } of records)
        expect(await reader.openings(seq)).toEqual(stored.filter((o) => o.seq === seq));

      // Erasure: the openings of one lineage event and of an event with data, by position and member.
      const started = receipts[clear.findIndex((e) => e.type === 'execution.started')]!;
      expect(started.seq).toBe(denied.seq - 1);
      const erased = stored.filter((o) => at(o) === at(started) || at(o) === at(denied));
      expect(erased.map((o) => o.member).sort()).toEqual(['data', 'identity', 'identity']);
      for (const { seq, index, member } of erased)
        expect(await ledger.store.eraseOpening(seq, index, member)).toBe(true);
      // Once only, and never a member the event had no opening of.
      expect(await ledger.store.eraseOpening(started.seq, started.index, 'identity')).toBe(false);
      expect(await ledger.store.eraseOpening(started.seq, started.index, 'data')).toBe(false);
      const kept: StoredOpening[] = await ledger.store.openings(records.map((r) => r.seq));
      expect(kept).toEqual(stored.filter((o) => !erased.includes(o)));
      // The other events of those records keep theirs.
      expect(kept.filter((o) => o.seq === started.seq).length).toBeGreaterThan(0);
      expect(kept.filter((o) => o.seq === denied.seq).length).toBeGreaterThan(0);

      // Everything verifies from public data: the whole store, a lineage proof, inclusion proofs.
      for (const suite of [nodeCrypto, portableCrypto]) {
        const result = await verifyStore(ledger.store, { suite, keys: ledgerKeys });
        expect(result.failures).toEqual([]);
        expect(result).toMatchObject({ ok: true, records: last });
        const lineage = verifyLineageProof(suite, await reader.lineageProof(LINEAGE), trust);
        expect(lineage.events.map(at)).toEqual(
          receipts.filter((_, i) => clear[i]!.lineage === LINEAGE).map(at),
        );
        expect(lineage.failures).toEqual([]);
        for (const { seq } of [denied, started]) {
          const { record } = verifyInclusionProof(suite, await reader.inclusionProof(seq), trust);
          expect(record).toEqual(records[seq - 1]);
        }
      }

      // The opening of an event still open opens; a tampered one fails.
      const opening = kept.find((o) => at(o) === at(denied2) && o.member === 'data')!;
      const event2 = chained.at(-1)!;
      const commitment = committedMember(event2, 'data')!;
      for (const suite of [nodeCrypto, portableCrypto]) {
        expect(openCommitment(suite, commitment, opening.text)).toBe(true);
        const tampered = canonicalize({ ...parseOpening(opening.text), value: { patient: 'MRN-0044' } });
        expect(openCommitment(suite, commitment, tampered)).toBe(false);
        expectRedactionInvalid(() => verifyOpenings(suite, event2, [tampered]));
        // An opening of another event's commitment opens nothing here.
        const other = stored.find((o) => at(o) === at(denied) && o.member === 'data')!.text;
        expectRedactionInvalid(() => verifyOpenings(suite, event2, [other]));
      }
    }, 60_000);

    it('stores openings under the index of the event they open, none for an event without', async () => {
      ledger = new TestLedger(stores());
      ledger.sequencer();
      const first = commitEvent(nodeCrypto, testEvent(1), ['request_id'], fixed(1));
      const third = commitEvent(
        nodeCrypto,
        testEvent(3, 'execution.denied', { data: { patient: 'MRN-3' } }),
        ['identity', 'data'],
        fixed(3),
      );
      const entry = sealBatch(
        nodeCrypto,
        ledger.store.log,
        PRODUCER_KID,
        producerKey,
        [validateEvent(first.event), validateEvent(testEvent(2)), validateEvent(third.event)],
        [first.openings, [], third.openings],
      ).entry;
      await ledger.store.appendIngest([entry]);
      await until(async () => (await ledger.store.tip()).signedSeq === 1, 30_000, 'the batch checkpointed');
      const stored = await new StoreLedgerReader(nodeCrypto, ledger.store).openings(1);
      expect(stored.map(({ seq, index, member }) => [seq, index, member]).sort()).toEqual([
        [1, 0, 'request_id'],
        [1, 2, 'data'],
        [1, 2, 'identity'],
      ]);
      const byIndex = (index: number) =>
        stored
          .filter((o) => o.index === index)
          .map((o) => o.text)
          .sort();
      expect(byIndex(0)).toEqual([...first.openings].sort());
      expect(byIndex(2)).toEqual([...third.openings].sort());
      expect((await verifyStore(ledger.store, { suite: nodeCrypto, keys: ledgerKeys })).failures).toEqual([]);
    }, 60_000);

    it('refuses an ingest entry whose opening does not open its commitment (dead letter)', async () => {
      ledger = new TestLedger(stores());
      ledger.sequencer();
      const good = commitEvent(
        nodeCrypto,
        testEvent(1, 'execution.denied', { data: { patient: 'MRN-1' } }),
        ['identity', 'data'],
        fixed(1),
      );
      const forged = good.openings.map((text) => {
        const opening = parseOpening(text);
        return opening.member === 'data' ? canonicalize({ ...opening, value: { patient: 'MRN-2' } }) : text;
      });
      const entry = (openings: string[]) =>
        sealBatch(
          nodeCrypto,
          ledger.store.log,
          PRODUCER_KID,
          producerKey,
          [validateEvent(good.event)],
          [openings],
        ).entry;
      const [forgedId] = await ledger.store.appendIngest([entry(forged)]);
      await until(async () => (await ledger.store.deadLetters(10)).length === 1, 30_000, 'a dead letter');
      const [dead] = await ledger.store.deadLetters(10);
      expect(dead).toMatchObject({ ingestId: forgedId, code: 'ledger.redaction.invalid' });
      // The ledger records the refusal (a record of one ledger.rejected event) and stores no opening.
      await until(async () => (await ledger.store.tip()).seq === 1, 30_000, 'the rejection record');
      const [rejection] = await new StoreLedgerReader(nodeCrypto, ledger.store).range(1, 1);
      expect(rejection!.events).toEqual([
        expect.objectContaining({ type: 'ledger.rejected', reason: 'ledger.redaction.invalid' }),
      ]);
      expect(await ledger.store.openings([1])).toEqual([]);
      // The same batch with its true openings is chained, openings stored under event 0 of record 2.
      await ledger.store.appendIngest([entry(good.openings)]);
      await until(async () => (await ledger.store.tip()).seq === 2, 30_000, 'the batch chained');
      expect(await ledger.store.openings([2])).toEqual(
        good.openings.map((text) => ({ seq: 2, index: 0, member: parseOpening(text).member, text })),
      );
      await until(async () => (await ledger.store.tip()).signedSeq === 2, 30_000, 'a checkpoint');
      expect((await verifyStore(ledger.store, { suite: nodeCrypto, keys: ledgerKeys })).failures).toEqual([]);
    }, 60_000);
  });
}
