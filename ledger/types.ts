// The ledger as the rest of the system sees it. The authority and the enforcement point write
// through a LedgerWriter; proof endpoints, the CLI and auditors read through a LedgerReader.
import type { ChainRecord, LedgerEvent, SignedHead } from '../core/event.js';

export interface Receipt {
  seq: number;
  event_hash: string;
  event_hash_alt: string;
}

export interface LedgerWriter {
  /**
   * Queues events; everything queued in the same tick is sealed with ONE producer signature
   * (a Merkle batch, core/event.ts) and appended to the ingest stream. Resolves once the
   * events are in Redis (not yet chained). Rejects on any store error: the caller must DENY.
   */
  append(events: LedgerEvent[]): Promise<void>;
  /** As append, then waits until the sequencer has chained them; resolves with their receipts. */
  appendAndWait(events: LedgerEvent[], timeoutMs?: number): Promise<Receipt[]>;
  /**
   * Age in ms of the oldest event this writer appended that is not yet chained (0 if none).
   * Above the commit window the enforcement point halts: every Check is denied.
   */
  commitLagMs(): number;
  /** True while commitLagMs() exceeds the configured commit window (default 2000 ms). */
  halted(): boolean;
  close(): Promise<void>;
}

export interface LedgerReader {
  head(): Promise<SignedHead | undefined>;
  /** Chained records with from ≤ seq ≤ to, in order. */
  range(fromSeq: number, toSeq: number): Promise<ChainRecord[]>;
  /** Every chained record of one lineage ("lineage://op/<id>"), in chain order. */
  lineage(lineage: string): Promise<ChainRecord[]>;
}

/** The chain state a proof or a range export starts from: the hashes of the record before it. */
export interface ChainAnchor {
  seq: number;
  event_hash: string;
  event_hash_alt: string;
}

/** A run of consecutive chain records from just after `anchor` (the genesis when null) up to a signed head. */
export interface LineageSegment {
  anchor: ChainAnchor | null;
  records: ChainRecord[];
  head: SignedHead;
}

/** What proves one operation's lineage (white paper §9.5): its records inside chain segments that end at signed heads. */
export interface LineageProof {
  lineage: string;
  segments: LineageSegment[];
}

export interface LedgerProofReader extends LedgerReader {
  lineageProof(lineage: string): Promise<LineageProof>;
}
