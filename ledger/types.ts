// The ledger as the rest of the system sees it. The authority and the enforcement point write
// through a LedgerWriter; proof endpoints, the CLI and auditors read through a LedgerReader.
import type { ChainRecord, LedgerEvent } from '../core/event.js';
import type { ConsistencyProof, InclusionProof, LineageEvent, LineageProof } from '../core/proofs.js';
import type { StoredOpening } from '../store/ledger-types.js';

/** Where an appended event was chained: event `index` of record `seq`. */
export interface Receipt {
  seq: number;
  index: number;
  /** The log, from a writer over several (ledger/routed-writer.ts). */
  log?: string;
}

export interface LedgerWriter {
  /**
   * Queues events; everything queued in the same tick is sealed with ONE producer signature
   * (a batch, core/event.ts) and appended to the ingest stream. Resolves once the
   * events are in Redis (not yet chained). Rejects on any store error: the caller must DENY.
   */
  append(events: LedgerEvent[]): Promise<void>;
  /** As append, then waits until the sequencer has chained them; resolves with their receipts. */
  appendAndWait(events: LedgerEvent[], timeoutMs?: number): Promise<Receipt[]>;
  /**
   * Age in ms of the oldest event this writer appended that is not yet proven in a checkpoint
   * (0 if none). Above the commit window the producer halts: every decision is denied.
   */
  commitLagMs(): number;
  /**
   * Why the producer must halt, or undefined: ledger.unavailable while commitLagMs() exceeds the
   * commit window; ledger.batch.missing, for good, once a checkpoint covered one of its batches
   * without holding it.
   */
  halt(): LedgerHalt | undefined;
  /** Batches a checkpoint covered without holding them (0 or 1: the first one halts the writer). */
  batchesMissing(): number;
  close(): Promise<void>;
}

export interface LedgerHalt {
  reason: 'ledger.unavailable' | 'ledger.batch.missing';
  message: string;
}

export interface LedgerReader {
  /** The latest checkpoint's signed note (docs/spec/ledger.md §7). */
  checkpoint(): Promise<string | undefined>;
  /** Chained records with from ≤ seq ≤ to, in order. */
  range(fromSeq: number, toSeq: number): Promise<ChainRecord[]>;
  /** Every event of one lineage ("lineage://op/<id>") up to the latest checkpoint, in chain order. */
  lineageEvents(lineage: string): Promise<LineageEvent[]>;
}

/** What a range export starts from: the checkpoint of the records before it, and the tree up to it. */
export interface ChainAnchor {
  /** The signed checkpoint note of size `from − 1`: its chain line is the chain the range extends. */
  checkpoint: string;
  /** The compact range of the tree of records 1 … from − 1: its maximal perfect subtrees' roots, left to right, base64. */
  tree: string[];
}

/** Proofs against the latest checkpoint (core/proofs.ts verifies them), and the log as C2SP tiles. */
export interface LedgerProofReader extends LedgerReader {
  inclusionProof(seq: number): Promise<InclusionProof>;
  consistencyProof(old: number): Promise<ConsistencyProof>;
  /**
   * With `chained`: the records chained when it was asked, signed by nothing — a client that
   * wants what was chained before it asked waits for a checkpoint of at least that size.
   */
  lineageProof(lineage: string): Promise<LineageProof & { chained: number }>;
  /** A C2SP tlog-tiles resource (`tile/…` or `tile/entries/…`), or undefined when there is none. */
  tileResource(path: string): Promise<Uint8Array | undefined>;
  /**
   * The stored openings of record `seq`'s commitments (docs/spec/ledger.md §3.1), by event index
   * and member; none once erased. Not public: the proof endpoints serve them to named readers only.
   */
  openings(seq: number): Promise<StoredOpening[]>;
}
