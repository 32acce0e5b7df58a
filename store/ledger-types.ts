// The ledger store contract: the storage primitives the ledger writer, sequencer, reader and
// verifier need (docs/spec/ledger.md). It knows nothing of hashes or signatures: the ledger layer
// computes every record and hands the store opaque texts. Two implementations pass one contract
// suite (test/store/ledger-contract.ts): Redis Streams (production) and in-memory (dev mode).
//
// Every mutating operation is atomic. The sequencer's commit is guarded by its lease's fencing
// token AND by the chain tip it extends, so a stale or killed sequencer can never lose,
// duplicate or fork records, nor chain a batch twice. Failures throw GovernanceError: ledger.fenced,
// ledger.head.mismatch, ledger.batch.replayed, ledger.unavailable (the store could not be reached).
import { GovernanceError, type Code } from '../core/errors.js';
import { REDACTABLE_MEMBERS } from '../core/redaction.js';
export { LOG_ID } from '../core/protocol.js';

/** A sealed producer batch waiting in the ingest stream. `batch` is opaque to the store. */
export interface IngestEntry {
  /** Stream id "<ms>-<n>", increasing in append order. */
  id: string;
  batch: string;
}

/** The chain as the sequencer last committed it. */
export interface LedgerTip {
  /** Number of chained records (0: empty chain). */
  seq: number;
  /** event_hash and event_hash_alt of record `seq` ("" when the chain is empty). */
  eventHash: string;
  eventHashAlt: string;
  /** The last ingest entry consumed ("0-0" when none). */
  ingestId: string;
  /** Size of the latest checkpoint (0 when none). */
  signedSeq: number;
  /** Records 1 … archived are sealed in the archive (a multiple of 256; 0: none, or no archive). */
  archived: number;
  /** Records 1 … trimmed, and what only they need, are no longer in this store (≤ archived). */
  trimmed: number;
}

/**
 * A move of the archive's frontier (docs/spec/ledger.md §11.6). Both numbers only grow: a smaller
 * one than the store's leaves it as it is.
 */
export interface ArchiveAdvance {
  /** Records 1 … archived are durably in the archive, with their tiles and checkpoints. */
  archived: number;
  /**
   * Records 1 … trimmed are deleted from the store (≤ archived, a multiple of 256), with their
   * openings and the checkpoints of smaller size; at most MAX_TRIM_RECORDS more than the store's trimmed at a time.
   */
  trimmed: number;
  /** The tiles (tile keys) to delete with them: full tiles that only records ≤ trimmed need. */
  tiles: string[];
}

/**
 * Dead letters kept, the oldest dropped first: each holds up to 64 KiB of a refused entry, whose
 * hash the chain keeps in its ledger.rejected event (§11.4) for good.
 */
export const DEAD_LETTER_HISTORY = 1000;

/** Records one advanceArchive() deletes at most, so that one script holds Redis briefly. */
export const MAX_TRIM_RECORDS = 4096;

export interface LedgerLease {
  owner: string;
  /** Fencing token: increases with every acquisition, so a stale holder can be told apart. */
  fence: number;
}

/** What became of one ingest entry; writers learn it through commit notices. */
/**
 * What became of one ingest entry: chained as record `seq` with this `lineage_prev` (its JSON
 * text, so that the producer can spell the record and check its leaf without reading it back),
 * or refused.
 */
export type ConsumedEntry =
  | { ingestId: string; seq: number; lineagePrev: string }
  | { ingestId: string; rejected: { code: Code; message: string; entry: string } };

export type CommitNotice =
  { ingestId: string; seq: number; lineagePrev: string } | { ingestId: string; rejected: Code };

export interface LedgerCommit {
  lease: LedgerLease;
  /** The tip this commit extends (seq and event_hash); anything else fails with ledger.head.mismatch. */
  expect: { seq: number; eventHash: string };
  /** Canonical texts of the records expect.seq + 1, expect.seq + 2, … in order. */
  records: string[];
  /** event_hash / event_hash_alt of the last record (ignored when there are none). */
  eventHash: string;
  eventHashAlt: string;
  /** Ingest entries consumed by this commit, in stream order; they are deleted from the ingest stream. */
  consumed: ConsumedEntry[];
  /**
   * The batch signatures (`val`) of the batches these records belong to. Each is chained once:
   * a commit naming one already chained fails with ledger.batch.replayed and writes nothing.
   */
  batches: string[];
  /**
   * The replay window's edge (docs/spec/ledger.md §11.4), in ms of the ingest stream's clock: the
   * batches chained by commits whose last consumed entry is older are forgotten, so that the set
   * stays bounded. A commit's batches are kept under the time of its last consumed entry (its
   * stream id). Absent: every batch is kept.
   */
  forgetBatchesBefore?: number;
  /**
   * The tree's tiles this commit wrote or rewrote, by tile key (`tileKey`): hashes, 32 bytes each.
   * A stored tile is the latest version of its tile: a partial one grows until it is full.
   */
  tiles: Map<string, Uint8Array>;
  /**
   * Openings of commitments in these records (docs/spec/ledger.md §3.1), each [seq, index,
   * member, canonical opening text], stored beside the chain (absent: none). Nothing hashed or
   * signed covers them, so eraseOpening() can delete one without touching the chain.
   */
  openings?: [number, number, string, string][];
}

/** A stored opening: the event (record and index) it opens a commitment of, the member, and the opening's text. */
export interface StoredOpening {
  seq: number;
  index: number;
  member: string;
  text: string;
}

/** A checkpoint to publish, with the lineage index nodes that changed since the last one. */
export interface CheckpointPublication {
  /** Its tree size: the tip seq it covers. */
  seq: number;
  /** event_hash of record `seq` (the tip it must still be). */
  eventHash: string;
  /** The signed note. */
  text: string;
  /** Lineage index nodes (core/smt.ts) by node id: the stored bytes, or undefined for a node removed. */
  index: Map<string, Uint8Array | undefined>;
}

/** A stored record or head, with the seq its storage position claims (not its content). */
export interface StoredText {
  seq: number;
  text: string;
}

export interface DeadLetter {
  id: string;
  ingestId: string;
  code: Code;
  message: string;
  entry: string;
}

/** A reader of commit notices that may block; one per consumer. */
export interface CommitSubscription {
  /** Notices after the previous call (or after the subscription started), waiting up to blockMs. */
  next(blockMs: number): Promise<CommitNotice[]>;
  close(): void;
}

export interface LedgerStore {
  /** The log id: names the chain, its genesis and its keys. */
  readonly log: string;

  // Writers.
  /** Appends sealed batches to the ingest stream, all or none; returns their ids in order. */
  appendIngest(batches: string[]): Promise<string[]>;
  /** Commit notices from now on. */
  subscribeCommits(): Promise<CommitSubscription>;

  // The sequencer.
  /** Takes the lease if it is free; returns it with a new fencing token, or undefined. */
  acquireLease(owner: string, ttlMs: number): Promise<LedgerLease | undefined>;
  /** Extends the lease; false when another holder has acquired it since (the caller is fenced). */
  renewLease(lease: LedgerLease, ttlMs: number): Promise<boolean>;
  releaseLease(lease: LedgerLease): Promise<void>;
  tip(): Promise<LedgerTip>;
  /** Ingest entries waiting to be chained, and the ms of the oldest one's id (undefined: none). */
  ingestBacklog(): Promise<{ entries: number; oldestMs: number | undefined }>;
  /** Ingest entries with id > afterId in order, at most `count`, waiting up to blockMs for the first. */
  readIngest(afterId: string, count: number, blockMs: number): Promise<IngestEntry[]>;
  /**
   * For each batch signature, whether a commit has chained its batch (in the order given). It
   * reflects every commit that has resolved and may miss one still running: the sequencer keeps
   * that commit's batches in memory, and commit() refuses a chained batch atomically anyway.
   */
  chainedBatches(vals: string[]): Promise<boolean[]>;
  commit(commit: LedgerCommit): Promise<void>;
  /**
   * Appends a checkpoint (its signed note) to the checkpoint history and writes the index nodes
   * it commits to, in one step. It must describe the current tip (seq and event_hash) and be
   * newer than the last checkpoint, under a current lease.
   */
  publishCheckpoint(lease: LedgerLease, checkpoint: CheckpointPublication): Promise<void>;
  /**
   * Moves the archive's frontier under a current lease (ledger.fenced otherwise): marks records
   * archived, then forgets what the archive now holds. Throws ledger.sequence.invalid when
   * `trimmed` exceeds `archived` or the tip, or is not a multiple of 256.
   */
  advanceArchive(lease: LedgerLease, advance: ArchiveAdvance): Promise<void>;
  /** Every node of the lineage index as of the latest checkpoint, by id (to rebuild it). */
  allIndexNodes(): Promise<Map<string, Uint8Array>>;

  // Readers.
  /** Stored records with from ≤ seq ≤ to, in storage order (at most to − from + 1). */
  records(fromSeq: number, toSeq: number): Promise<StoredText[]>;
  /** Checkpoints with from ≤ size ≤ to, in order, at most `count` (`seq` is the size). */
  checkpoints(fromSeq: number, toSeq: number, count: number): Promise<StoredText[]>;
  latestCheckpoint(): Promise<StoredText | undefined>;
  /** The latest checkpoint of size ≤ seq (where a range export can start after). */
  checkpointAtOrBefore(seq: number): Promise<StoredText | undefined>;
  /** The stored tiles by tile key, each in its latest version (undefined where none is stored). */
  tiles(keys: string[]): Promise<(Uint8Array | undefined)[]>;
  /**
   * The latest checkpoint and lineage index nodes by id, read in one step, so that the nodes are
   * those the checkpoint commits to.
   */
  indexNodes(
    ids: string[],
  ): Promise<{ checkpoint: StoredText | undefined; nodes: (Uint8Array | undefined)[] }>;
  /** The stored openings of these records' events, by seq in the order given, then by index and member (§3.1). */
  openings(seqs: number[]): Promise<StoredOpening[]>;
  /**
   * Erases one opening (the only clear copy of that member's value in the ledger); true when
   * there was one. Nothing else changes: no record, tile, checkpoint or index node.
   */
  eraseOpening(seq: number, index: number, member: string): Promise<boolean>;
  deadLetters(count: number): Promise<DeadLetter[]>;
  close(): Promise<void>;
}

/**
 * The frontier after `advance` (each number the larger of the tip's and the advance's), checked
 * against the tip as both stores check it: ledger.sequence.invalid when it is not one the store
 * may take.
 */
export function checkArchiveAdvance(
  tip: LedgerTip,
  advance: ArchiveAdvance,
): { archived: number; trimmed: number } {
  const archived = Math.max(tip.archived, advance.archived);
  const trimmed = Math.max(tip.trimmed, advance.trimmed);
  const problem =
    !Number.isSafeInteger(archived) || archived % 256 !== 0 || archived > tip.signedSeq
      ? `archived ${archived} is not a multiple of 256 within the latest checkpoint (${tip.signedSeq})`
      : !Number.isSafeInteger(trimmed) || trimmed % 256 !== 0 || trimmed > archived
        ? `trimmed ${trimmed} is not a multiple of 256 within archived (${archived})`
        : trimmed - tip.trimmed > MAX_TRIM_RECORDS
          ? `trimming ${trimmed - tip.trimmed} records at once exceeds ${MAX_TRIM_RECORDS}`
          : undefined;
  if (problem) throw new GovernanceError('ledger.sequence.invalid', problem);
  return { archived, trimmed };
}

/** The store's key of tile (level, index), whatever its width: C2SP tlog-tiles levels and indexes. */
export function tileKey(level: number, index: number): string {
  return `${level}/${index}`;
}

/**
 * Openings of one record in the contract's order (LedgerStore.openings): by event index, then
 * member in the order core/redaction.ts lists the committable members.
 */
export function byOpeningPosition(
  a: Pick<StoredOpening, 'index' | 'member'>,
  b: Pick<StoredOpening, 'index' | 'member'>,
): number {
  const rank = (member: string) => (REDACTABLE_MEMBERS as readonly string[]).indexOf(member);
  return a.index - b.index || rank(a.member) - rank(b.member);
}

/** The milliseconds of a stream id "<ms>-<n>" (0 for none). */
export function ingestMillis(id: string | undefined): number {
  return id === undefined ? 0 : Number(id.slice(0, id.indexOf('-')));
}

/** Stream ids "<ms>-<n>" compared numerically. */
export function compareStreamIds(a: string, b: string): number {
  const [am, an] = a.split('-').map(Number) as [number, number];
  const [bm, bn] = b.split('-').map(Number) as [number, number];
  return am - bm || an - bn;
}

/** The chain tip of an empty ledger. */
export const EMPTY_TIP: LedgerTip = {
  seq: 0,
  eventHash: '',
  eventHashAlt: '',
  ingestId: '0-0',
  signedSeq: 0,
  archived: 0,
  trimmed: 0,
};
