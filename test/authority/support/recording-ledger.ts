// An in-memory ledger for the authority's unit tests: it validates and keeps every event it is
// given, can be made to fail, and chains what it holds with real producer signatures and real
// hashes, so proof reads return records a verifier accepts. The Redis integration tests use the
// real ledger instead.
import { nodeCrypto } from '../../../core/crypto-node.js';
import { GovernanceError } from '../../../core/errors.js';
import {
  chainRecord,
  genesis,
  signEventBatch,
  signHead,
  validateEvent,
  type ChainRecord,
  type EventType,
  type LedgerEvent,
  type SignedHead,
} from '../../../core/event.js';
import { generatePrivateKey, signSync } from '../../../core/keys.js';
import { formatMillis } from '../../../core/time.js';
import type { LedgerProofReader, LedgerWriter, LineageProof, Receipt } from '../../../ledger/types.js';

const LOG = 'ledger://test';

export class RecordingLedger implements LedgerWriter, LedgerProofReader {
  readonly events: LedgerEvent[] = [];
  /** When true, every append rejects, as a store error would. */
  failing = false;
  stalled = false;
  private readonly producerKey = generatePrivateKey();
  private readonly auditKey = generatePrivateKey();

  async append(events: LedgerEvent[]): Promise<void> {
    if (this.failing) throw new GovernanceError('ledger.unavailable', 'injected ledger failure');
    for (const event of events) validateEvent(event);
    this.events.push(...events);
  }

  async appendAndWait(events: LedgerEvent[]): Promise<Receipt[]> {
    await this.append(events);
    const chain = this.chain();
    return chain
      .slice(-events.length)
      .map(({ seq, event_hash, event_hash_alt }) => ({ seq, event_hash, event_hash_alt }));
  }

  commitLagMs(): number {
    return this.stalled ? 60_000 : 0;
  }

  halted(): boolean {
    return this.stalled;
  }

  async close(): Promise<void> {}

  of(type: EventType): LedgerEvent[] {
    return this.events.filter((e) => e.type === type);
  }

  private chain(): ChainRecord[] {
    let state = genesis(nodeCrypto, LOG);
    const tails = new Map<string, string>();
    return this.events.map((event) => {
      const [signed] = signEventBatch(
        nodeCrypto,
        LOG,
        'producer:test',
        (m) => signSync(this.producerKey, m),
        [event],
      );
      const prev = event.lineage === undefined ? undefined : (tails.get(event.lineage) ?? null);
      const next = chainRecord(nodeCrypto, state, signed!, prev);
      state = next.state;
      if (event.lineage !== undefined) tails.set(event.lineage, next.record.event_hash);
      return next.record;
    });
  }

  async head(): Promise<SignedHead | undefined> {
    const last = this.chain().at(-1);
    if (!last) return undefined;
    const head = {
      v: '1' as const,
      log: LOG,
      seq: last.seq,
      event_hash: last.event_hash,
      event_hash_alt: last.event_hash_alt,
      time: formatMillis(Date.now()),
    };
    return signHead(head, 'audit:test', (m) => signSync(this.auditKey, m));
  }

  async range(fromSeq: number, toSeq: number): Promise<ChainRecord[]> {
    return this.chain().filter((r) => r.seq >= fromSeq && r.seq <= toSeq);
  }

  async lineage(lineage: string): Promise<ChainRecord[]> {
    return this.chain().filter((r) => r.event.lineage === lineage);
  }

  /** One segment from the genesis to a head over everything held. */
  async lineageProof(lineage: string): Promise<LineageProof> {
    const head = await this.head();
    if (!head) throw new GovernanceError('request.invalid', `lineage ${lineage} has no records`);
    return { lineage, segments: [{ anchor: null, records: this.chain(), head }] };
  }
}
