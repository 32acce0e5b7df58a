// An in-memory ledger for the authority's unit tests: it validates and keeps every event it is
// given and can be made to fail. Its proof reads chain what it holds with the real sequencer on
// a memory store (real producer signatures, tree, index and checkpoint), so they return proofs
// a verifier accepts. The Redis integration tests use the real ledger throughout.
import { nodeCrypto } from '../../../core/crypto-node.js';
import { GovernanceError } from '../../../core/errors.js';
import { validateEvent, type ChainRecord, type EventType, type LedgerEvent } from '../../../core/event.js';
import type { ConsistencyProof, InclusionProof, LineageProof } from '../../../core/proofs.js';
import { generatePrivateKey, rawPublicKey } from '../../../core/keys.js';
import { sealBatch } from '../../../ledger/ingest.js';
import { StoreLedgerReader } from '../../../ledger/reader.js';
import type { LedgerHalt, LedgerProofReader, LedgerWriter, Receipt } from '../../../ledger/types.js';
import { Sequencer } from '../../../sequencer/sequencer.js';
import { MemoryLedgerStore } from '../../../store/ledger-memory.js';

const LOG = 'test';

export class RecordingLedger implements LedgerWriter, LedgerProofReader {
  readonly events: LedgerEvent[] = [];
  /** When true, every append rejects, as a store error would. */
  failing = false;
  stalled = false;
  private readonly auditKey = generatePrivateKey();
  /** One producer key per producer id the events name. */
  private readonly producerKeys = new Map<string, ReturnType<typeof generatePrivateKey>>();
  private chainedAt: { count: number; reader: Promise<StoreLedgerReader> } | undefined;

  async append(events: LedgerEvent[]): Promise<void> {
    if (this.failing) throw new GovernanceError('ledger.unavailable', 'injected ledger failure');
    for (const event of events) validateEvent(event);
    this.events.push(...events);
  }

  async appendAndWait(events: LedgerEvent[]): Promise<Receipt[]> {
    await this.append(events);
    const chain = await (await this.chained()).range(1, this.events.length);
    return chain
      .slice(-events.length)
      .map(({ seq, event_hash, event_hash_alt }) => ({ seq, event_hash, event_hash_alt }));
  }

  commitLagMs(): number {
    return this.stalled ? 60_000 : 0;
  }

  halt(): LedgerHalt | undefined {
    return this.stalled
      ? { reason: 'ledger.unavailable', message: 'ledger commit lag exceeds its window' }
      : undefined;
  }

  batchesMissing(): number {
    return 0;
  }

  async close(): Promise<void> {}

  of(type: EventType): LedgerEvent[] {
    return this.events.filter((e) => e.type === type);
  }

  /** Everything held, chained and checkpointed by a real sequencer on a memory store. */
  private chained(): Promise<StoreLedgerReader> {
    if (this.chainedAt?.count !== this.events.length)
      this.chainedAt = { count: this.events.length, reader: this.chain([...this.events]) };
    return this.chainedAt.reader;
  }

  private async chain(events: LedgerEvent[]): Promise<StoreLedgerReader> {
    const store = new MemoryLedgerStore(LOG);
    const batches = events.map((event) => {
      let key = this.producerKeys.get(event.producer);
      if (!key) this.producerKeys.set(event.producer, (key = generatePrivateKey()));
      return sealBatch(nodeCrypto, LOG, `producer:${event.producer}`, key, [validateEvent(event)]);
    });
    if (batches.length > 0) await store.appendIngest(batches);
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
    while ((await store.tip()).signedSeq < events.length) await new Promise((r) => setTimeout(r, 5));
    await sequencer.stop();
    return new StoreLedgerReader(nodeCrypto, store, { maxRecords: 100_000 });
  }

  async checkpoint(): Promise<string | undefined> {
    return (await this.chained()).checkpoint();
  }

  async range(fromSeq: number, toSeq: number): Promise<ChainRecord[]> {
    return (await this.chained()).range(fromSeq, toSeq);
  }

  async lineage(lineage: string): Promise<ChainRecord[]> {
    return (await this.chained()).lineage(lineage);
  }

  async inclusionProof(seq: number): Promise<InclusionProof> {
    return (await this.chained()).inclusionProof(seq);
  }

  async consistencyProof(old: number): Promise<ConsistencyProof> {
    return (await this.chained()).consistencyProof(old);
  }

  async lineageProof(lineage: string): Promise<LineageProof & { pending: number }> {
    return (await this.chained()).lineageProof(lineage);
  }

  async tileResource(path: string): Promise<Uint8Array | undefined> {
    return (await this.chained()).tileResource(path);
  }

  async openings(seq: number): Promise<string[]> {
    return (await this.chained()).openings(seq);
  }
}
