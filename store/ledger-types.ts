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
import { INDEX_SHARDS, indexShardOf } from '../core/smt.js';
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

/**
 * One shard of the lineage index as stored (docs/spec/ledger.md §11.1): the leaves whose keys
 * start with its INDEX_SHARD_BITS bits (core/smt.ts `indexShardOf`). Its leaves are those of its
 * compacted version, if any, with the overlay's replacing or adding to them.
 */
export interface IndexShard {
  shard: number;
  /**
   * The checkpoint size as of which its leaves were compacted into the archive object
   * `index/<shard>/<version>` (§11.6); 0 when never.
   */
  version: number;
  /** Leaves set since that version: key || value, 64 bytes each, in no particular order. */
  overlay: Uint8Array[];
  /** The compacted version's leaves, when read through an archived view (ArchivedLedgerStore). */
  compacted?: Uint8Array[];
}

/** What LedgerStore.indexRead reads in one step. */
export interface IndexRead {
  checkpoint: StoredText | undefined;
  nodes: (Uint8Array | undefined)[];
  shards: IndexShard[];
}

/** How a checkpoint changes the stored lineage index. */
export interface IndexChanges {
  /**
   * Nodes of depth ≤ INDEX_SHARD_BITS (core/smt.ts) that changed, by node id: the stored bytes, or
   * undefined for a node removed. Deeper nodes are not stored: a reader computes them from the
   * leaves of one shard.
   */
  top: Map<string, Uint8Array | undefined>;
  /** Leaves set (added or given a new value): key || value, 64 bytes each, one per key. */
  leaves: Uint8Array[];
}

/** A compaction of one index shard (LedgerStore.compactIndexShard). */
export interface IndexCompaction {
  shard: number;
  /** The version the compaction read; nothing changes unless the shard still has it. */
  from: number;
  /** The new version: the checkpoint size its archive object is as of. */
  to: number;
  /** The overlay leaves it compacted: each is dropped from the overlay if still set to that value. */
  leaves: Uint8Array[];
}

/** A checkpoint to publish, with the lineage index changes since the last one. */
export interface CheckpointPublication {
  /** Its tree size: the tip seq it covers. */
  seq: number;
  /** event_hash of record `seq` (the tip it must still be). */
  eventHash: string;
  /** The signed note. */
  text: string;
  index: IndexChanges;
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
   * Appends a checkpoint (its signed note) to the checkpoint history and writes the index changes
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
  /** Index shards whose overlay holds at least `min` leaves, at most `count` of them. */
  indexShardsToCompact(min: number, count: number): Promise<number[]>;
  /**
   * Under a current lease (ledger.fenced otherwise): if the shard's version is still `from`, sets
   * it to `to` and drops from its overlay each of `leaves` still set to the same value (a value
   * never comes back once replaced: it is a position), all in one step; true. False, changing
   * nothing, when the shard's version is not `from`.
   */
  compactIndexShard(lease: LedgerLease, compaction: IndexCompaction): Promise<boolean>;

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
   * The latest checkpoint, the index nodes of depth ≤ INDEX_SHARD_BITS by id, and index shards,
   * read in one step so that they are what the checkpoint commits to. `shards`: those asked, in
   * that order (an empty one with version 0 where nothing is stored), or 'all': every shard with a
   * version or an overlay, by number (the leader reads that when it takes over, when nobody else
   * writes; other readers ask for one shard).
   */
  indexRead(ids: string[], shards: number[] | 'all'): Promise<IndexRead>;
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

/**
 * A shard's leaves: its compacted version's, then its overlay's (which replace them key by key
 * in SparseMerkleIndex.fromLeaves). A compacted shard read without its archive has none to give.
 */
export function shardLeaves(shard: IndexShard): Uint8Array[] {
  if (shard.version === 0) return shard.overlay;
  if (!shard.compacted)
    throw new GovernanceError(
      'ledger.sequence.invalid',
      `index shard ${shard.shard} is compacted into the archive: read it through the archive`,
    );
  return [...shard.compacted, ...shard.overlay];
}

/** Refuses (ledger.sequence.invalid) a compaction no store may take, before it reaches one. */
export function checkIndexCompaction({ shard, from, to, leaves }: IndexCompaction): void {
  const problem =
    !Number.isInteger(shard) || shard < 0 || shard >= INDEX_SHARDS
      ? `index shard ${shard} is not in 0 … ${INDEX_SHARDS - 1}`
      : !Number.isSafeInteger(from) || from < 0 || !Number.isSafeInteger(to) || to <= from
        ? `index shard version ${to} does not follow ${from}`
        : leaves.some((leaf) => leaf.length !== 64 || indexShardOf(leaf) !== shard)
          ? `a compacted leaf is not 64 bytes of shard ${shard}`
          : undefined;
  if (problem) throw new GovernanceError('ledger.sequence.invalid', problem);
}
