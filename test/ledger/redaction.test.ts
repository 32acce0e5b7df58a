// Redaction (docs/spec/ledger.md §3.1) through the real pipeline, on memory and on Redis: a writer
// that commits identity and data, the sequencer that checks and stores the openings, an erasure,
// and everything re-verified from public data alone.
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
});
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

for (const [name, stores] of [
  ['memory', () => memoryStores()],
  ['redis', () => redisStores(redis.url)],
] as [string, () => StoreFactory][]) {
  describe(`redaction on ${name}`, () => {
    let ledger: TestLedger;
    afterEach(async () => {
      await ledger.close();
    });

    it('commits identity and data, stores the openings, erases one record and re-verifies from public data', async () => {
      ledger = new TestLedger(stores());
      ledger.sequencer();
      const writer = await ledger.writer({ redact: ['identity', 'data'] });
      const clear: LedgerEvent[] = [
        ...lineageEvents('REDACTED1'),
        testEvent(100, 'execution.denied', { data: { patient: 'MRN-0042', note: 'dx: J45.909' } }),
        testEvent(101, 'execution.denied', { data: { patient: 'MRN-0043' } }),
      ];
      const receipts = await writer.appendAndWait(clear);
      const last = receipts.at(-1)!.seq;
      await until(async () => (await ledger.store.tip()).signedSeq >= last, 10_000, 'a checkpoint');

      const reader = new StoreLedgerReader(nodeCrypto, ledger.store);
      const records = await reader.range(1, last);
      expect(records).toHaveLength(clear.length);
      // What is chained holds commitments only; the structure stays public.
      for (const [i, record] of records.entries()) {
        const event = record.event;
        expect(committedMember(event, 'identity')).toMatch(/^commit:sha256:[0-9a-f]{64}$/);
        expect(event).toMatchObject({
          type: clear[i]!.type,
          time: clear[i]!.time,
          producer: clear[i]!.producer,
        });
        expect(event.lineage).toBe(clear[i]!.lineage);
        expect(event.operation).toBe(clear[i]!.operation);
        expect(JSON.stringify(event)).not.toContain('inference-gateway');
      }
      const [denied, denied2] = records.slice(-2) as [(typeof records)[0], (typeof records)[0]];
      expect(Object.keys(denied.event.data!)).toEqual(['commitment']);
      expect(JSON.stringify(records)).not.toContain('MRN-');
      // admission.granted and attestation.signed keep their data: the lineage check reads it.
      const granted = records.find((r) => r.event.type === 'admission.granted')!;
      expect(granted.event.data).toEqual(clear[granted.seq - 1]!.data);

      // Every opening is stored and opens; with them a holder gets the clear events back.
      const stored = await ledger.store.openings(records.map((r) => r.seq));
      expect(stored.filter((o) => o.member === 'data').map((o) => o.seq)).toEqual([denied.seq, denied2.seq]);
      for (const [i, record] of records.entries()) {
        const texts = stored.filter((o) => o.seq === record.seq).map((o) => o.text);
        expect(verifyOpenings(nodeCrypto, record.event, texts)).toEqual(clear[i]);
      }

      // Erasure: the openings of one lineage record and of a record with data.
      const started = records.find((r) => r.event.type === 'execution.started')!;
      for (const { seq, member } of stored.filter((o) => o.seq === started.seq || o.seq === denied.seq))
        expect(await ledger.store.eraseOpening(seq, member)).toBe(true);
      expect(await ledger.store.openings([started.seq, denied.seq])).toEqual([]);

      // Everything verifies from public data: the whole store, a lineage proof, an inclusion proof.
      for (const suite of [nodeCrypto, portableCrypto]) {
        const result = await verifyStore(ledger.store, { suite, keys: ledgerKeys });
        expect(result.failures).toEqual([]);
        expect(result).toMatchObject({ ok: true, records: last });
        const lineage = verifyLineageProof(suite, await reader.lineageProof(LINEAGE), trust);
        expect(lineage.records.map((r) => r.seq)).toEqual(
          records.filter((r) => r.event.lineage === LINEAGE).map((r) => r.seq),
        );
        verifyInclusionProof(suite, await reader.inclusionProof(denied.seq), trust);
        verifyInclusionProof(suite, await reader.inclusionProof(started.seq), trust);
      }

      // The opening of a record still open opens; a tampered one fails.
      const [opening] = await ledger.store
        .openings([denied2.seq])
        .then((o) => o.filter((x) => x.member === 'data'));
      const commitment = committedMember(denied2.event, 'data')!;
      for (const suite of [nodeCrypto, portableCrypto]) {
        expect(openCommitment(suite, commitment, opening!.text)).toBe(true);
        const tampered = canonicalize({ ...parseOpening(opening!.text), value: { patient: 'MRN-0044' } });
        expect(openCommitment(suite, commitment, tampered)).toBe(false);
        expectRedactionInvalid(() => verifyOpenings(suite, denied2.event, [tampered]));
        // An opening of another record's commitment opens nothing here.
        const other = stored.find((o) => o.seq === denied.seq && o.member === 'data')!.text;
        expectRedactionInvalid(() => verifyOpenings(suite, denied2.event, [other]));
      }
    });

    it('refuses an ingest entry whose opening does not open its commitment (dead letter)', async () => {
      ledger = new TestLedger(stores());
      ledger.sequencer();
      const fixed = (n: number) => () => new Uint8Array(32).fill(n);
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
        );
      const [forgedId] = await ledger.store.appendIngest([entry(forged)]);
      await until(async () => (await ledger.store.deadLetters(10)).length === 1, 10_000, 'a dead letter');
      const [dead] = await ledger.store.deadLetters(10);
      expect(dead).toMatchObject({ ingestId: forgedId, code: 'ledger.redaction.invalid' });
      // The ledger records the refusal (one ledger.rejected record) and stores no opening.
      await until(async () => (await ledger.store.tip()).seq === 1, 10_000, 'the rejection record');
      const [rejection] = await new StoreLedgerReader(nodeCrypto, ledger.store).range(1, 1);
      expect(rejection!.event).toMatchObject({ type: 'ledger.rejected', reason: 'ledger.redaction.invalid' });
      expect(await ledger.store.openings([1])).toEqual([]);
      // The same batch with its true openings is chained, openings stored.
      await ledger.store.appendIngest([entry(good.openings)]);
      await until(async () => (await ledger.store.tip()).seq === 2, 10_000, 'the batch chained');
      expect((await ledger.store.openings([2])).map((o) => o.text)).toEqual(good.openings);
      await until(async () => (await ledger.store.tip()).signedSeq === 2, 10_000, 'a checkpoint');
      expect((await verifyStore(ledger.store, { suite: nodeCrypto, keys: ledgerKeys })).failures).toEqual([]);
    });
  });
}
