// An in-memory ledger for the authority's unit tests: it validates and keeps every event it is
// given and can be made to fail. Its proof reads chain what it holds with the real sequencer on
// a memory store (real producer batch signatures, tree, index and checkpoint), so they return
// proofs a verifier accepts: each append() is one producer batch per producer, chained as one
// record, as the real writer seals what one call queues. The Redis integration tests use the
// real ledger throughout.
import { nodeCrypto } from '../../../core/crypto-node.js';
import { GovernanceError } from '../../../core/errors.js';
import { validateEvent, type ChainRecord, type EventType, type LedgerEvent } from '../../../core/event.js';
import type { ConsistencyProof, InclusionProof, LineageEvent, LineageProof } from '../../../core/proofs.js';
import { generatePrivateKey, rawPublicKey } from '../../../core/keys.js';
import { sealBatch } from '../../../ledger/ingest.js';
import { StoreLedgerReader } from '../../../ledger/reader.js';
import type { LedgerHalt, LedgerProofReader, LedgerWriter, Receipt } from '../../../ledger/types.js';
import { Sequencer } from '../../../sequencer/sequencer.js';
import { MemoryLedgerStore } from '../../../store/ledger-memory.js';
import type { StoredOpening } from '../../../store/ledger-types.js';

const LOG = 'test';

export class RecordingLedger implements LedgerWriter, LedgerProofReader {
  readonly events: LedgerEvent[] = [];
  /** The events of each append() call, in order: one batch (so one record) per producer of each. */
  private readonly appended: LedgerEvent[][] = [];
  /** When true, every append rejects, as a store error would. */
  failing = false;
  /** When true, the commit lag exceeds its window: halted with ledger.unavailable. */
  stalled = false;
  /** When true, a checkpoint covered one of its batches without holding it: halted for good. */
  missing = false;
  private readonly auditKey = generatePrivateKey();
  /** One producer key per producer id the events name. */
  private readonly producerKeys = new Map<string, ReturnType<typeof generatePrivateKey>>();
  private chainedAt: { count: number; reader: Promise<StoreLedgerReader> } | undefined;

  async append(events: LedgerEvent[]): Promise<void> {
    if (this.failing) throw new GovernanceError('ledger.unavailable', 'injected ledger failure');
    for (const event of events) validateEvent(event);
    this.events.push(...events);
    if (events.length > 0) this.appended.push([...events]);
  }

  /** Where each event was chained: the records of this call's batches, by event. */
  async appendAndWait(events: LedgerEvent[]): Promise<Receipt[]> {
    await this.append(events);
    if (events.length === 0) return [];
    const reader = await this.chained();
    const size = this.batches(this.appended).length;
    const mine = this.batches([events]);
    const records = await reader.range(size - mine.length + 1, size);
    const positions = new Map<LedgerEvent, Receipt>();
    records.forEach((record, r) =>
      mine[r]!.events.forEach((event, index) => positions.set(event, { seq: record.seq, index })),
    );
    return events.map((event) => positions.get(event)!);
  }

  commitLagMs(): number {
    return this.stalled || this.missing ? 60_000 : 0;
  }

  halt(): LedgerHalt | undefined {
    // As the real writer: a missing batch outranks a lag.
    if (this.missing)
      return {
        reason: 'ledger.batch.missing',
        message: 'a checkpoint covered a batch it does not hold (halt)',
      };
    return this.stalled
      ? { reason: 'ledger.unavailable', message: 'ledger commit lag exceeds its window' }
      : undefined;
  }

  batchesMissing(): number {
    return this.missing ? 1 : 0;
  }

  async close(): Promise<void> {}

  of(type: EventType): LedgerEvent[] {
    return this.events.filter((e) => e.type === type);
  }

  /** Everything held, chained and checkpointed by a real sequencer on a memory store. */
  private chained(): Promise<StoreLedgerReader> {
    if (this.chainedAt?.count !== this.events.length)
      this.chainedAt = { count: this.events.length, reader: this.chain(this.batches(this.appended)) };
    return this.chainedAt.reader;
  }

  /** The batches of these append() calls: per call, one per producer, in order of first event. */
  private batches(calls: LedgerEvent[][]): { producer: string; events: LedgerEvent[] }[] {
    return calls.flatMap((events) => {
      const byProducer = new Map<string, LedgerEvent[]>();
      for (const event of events)
        byProducer.set(event.producer, [...(byProducer.get(event.producer) ?? []), event]);
      return [...byProducer].map(([producer, held]) => ({ producer, events: held }));
    });
  }

  private async chain(batches: { producer: string; events: LedgerEvent[] }[]): Promise<StoreLedgerReader> {
    const store = new MemoryLedgerStore(LOG);
    const entries = batches.map(({ producer, events }) => {
      let key = this.producerKeys.get(producer);
      if (!key) this.producerKeys.set(producer, (key = generatePrivateKey()));
      return sealBatch(
        nodeCrypto,
        LOG,
        `producer:${producer}`,
        key,
        events.map((e) => validateEvent(e)),
      ).entry;
    });
    if (entries.length > 0) await store.appendIngest(entries);
    const producers = new Map(
      [...this.producerKeys].map(([subject, key]) => [
        `producer:${subject}`,
        { publicKey: rawPublicKey(key), subject },
      ]),
    );
    const sequencer = new Sequencer({
      store,
      auditKid: 'audit:test',
      auditKey: this.auditKey,
      producerKeys: async () => producers,
      headIntervalMs: 10,
    });
    sequencer.start();
    while ((await store.tip()).signedSeq < entries.length) await new Promise((r) => setTimeout(r, 5));
    await sequencer.stop();
    return new StoreLedgerReader(nodeCrypto, store, { maxRecords: 100_000 });
  }

  async checkpoint(): Promise<string | undefined> {
    return (await this.chained()).checkpoint();
  }

  async range(fromSeq: number, toSeq: number): Promise<ChainRecord[]> {
    return (await this.chained()).range(fromSeq, toSeq);
  }

  async lineageEvents(lineage: string): Promise<LineageEvent[]> {
    return (await this.chained()).lineageEvents(lineage);
  }

  async inclusionProof(seq: number): Promise<InclusionProof> {
    return (await this.chained()).inclusionProof(seq);
  }

  async consistencyProof(old: number): Promise<ConsistencyProof> {
    return (await this.chained()).consistencyProof(old);
  }

  async lineageProof(lineage: string): Promise<LineageProof & { chained: number }> {
    return (await this.chained()).lineageProof(lineage);
  }

  async tileResource(path: string): Promise<Uint8Array | undefined> {
    return (await this.chained()).tileResource(path);
  }

  async openings(seq: number): Promise<StoredOpening[]> {
    return (await this.chained()).openings(seq);
  }
}
