// The ledger archive contract: where sealed ledger data goes so that Redis keeps only a bounded
// hot tail — full C2SP tlog-tiles tiles and entry bundles (docs/spec/ledger.md §7.2), the
// checkpoint history, and the openings of commitments, which redaction erases (§3.1). It stores
// opaque bytes at paths and knows nothing of hashes: the ledger layer computes every byte, and
// verifiers check them. Two implementations pass one contract suite
// (test/store/archive-contract.ts): a directory (store/archive-fs.ts), which any static web server
// can serve, and an S3 bucket (store/archive-s3.ts).
//
// Failures throw GovernanceError: ledger.archive.conflict (an immutable object already holds other
// bytes), ledger.archive.path and ledger.archive.size (refused before any I/O, or an oversized
// object found when read), ledger.unavailable (the storage could not be reached, or failed).
import { GovernanceError } from '../core/errors.js';

export interface ListOptions {
  /** Only paths that sort after this one (byte order, as S3 lists keys). */
  startAfter?: string;
  /** At most this many paths (default DEFAULT_LIST_LIMIT); page on with the last one as startAfter. */
  limit?: number;
}

export interface LedgerArchive {
  /** Where the archive is, for logs and metrics ("file:///…/", "s3://bucket/prefix/"); never credentials. */
  readonly location: string;
  /**
   * Writes an immutable object (a full tile, a full entry bundle, a checkpoint of the history).
   * Writing the same bytes again succeeds and changes nothing; other bytes at an existing path fail
   * with ledger.archive.conflict and leave the stored object untouched: an immutable object is
   * evidence, never overwritten. Durable when it resolves.
   */
  putImmutable(path: string, bytes: Uint8Array): Promise<void>;
  /** Writes or atomically replaces a mutable object (a partial tile, the latest checkpoint). Durable when it resolves. */
  put(path: string, bytes: Uint8Array): Promise<void>;
  /** The object's bytes, or undefined when there is none. */
  get(path: string): Promise<Uint8Array | undefined>;
  /** Deletes an object (erases a redaction opening); true when there was one. */
  delete(path: string): Promise<boolean>;
  /** Paths that start with `prefix` (a string prefix: "tile/0/x0" is one), in byte order. */
  list(prefix: string, options?: ListOptions): Promise<string[]>;
  /** Releases the storage client; every operation after it fails with ledger.unavailable. */
  close(): Promise<void>;
}

/**
 * The largest object written or read: far above a tile (8 KiB) or an entry bundle of 256 records,
 * and a bound on what a broken or hostile store can make a reader buffer.
 */
export const MAX_OBJECT_BYTES = 64 * 1024 * 1024;
export const MAX_PATH_LENGTH = 512;
/** S3's own page size. */
export const DEFAULT_LIST_LIMIT = 1000;

// Characters every file system and every S3 implementation stores as themselves, and that a
// static web server serves unescaped; C2SP tlog-tiles paths use nothing else.
const SEGMENT = /^[A-Za-z0-9._-]+$/;

const isSegment = (segment: string) => SEGMENT.test(segment) && segment !== '.' && segment !== '..';

/** Relative, '/'-separated, each segment [A-Za-z0-9._-]+ but not "." or "..", at most 512 characters. */
export function isArchivePath(path: string): boolean {
  return typeof path === 'string' && path.length <= MAX_PATH_LENGTH && path.split('/').every(isSegment);
}

// A path is refused rather than normalized: "a/./b" or "a//b" naming "a/b" would give one object
// two names, and "../x" would leave the archive. Paths come from the ledger's data at run time
// (tile indexes, seqs, member names), so a bad one is a bug or hostile input, not a configuration
// error: ledger.archive.path rather than config.invalid.
export function checkArchivePath(path: string): void {
  if (!isArchivePath(path))
    throw new GovernanceError(
      'ledger.archive.path',
      `${JSON.stringify(String(path).slice(0, 80))} is not an archive path`,
    );
}

/** A list prefix: "" or directories of an archive path, then the start of a segment ("tile/0/x0"). */
export function checkArchivePrefix(prefix: string): void {
  const cut = typeof prefix === 'string' ? prefix.lastIndexOf('/') : -1;
  const valid =
    typeof prefix === 'string' &&
    prefix.length <= MAX_PATH_LENGTH &&
    (cut < 0 || isArchivePath(prefix.slice(0, cut))) &&
    /^[A-Za-z0-9._-]*$/.test(prefix.slice(cut + 1));
  if (!valid)
    throw new GovernanceError(
      'ledger.archive.path',
      `${JSON.stringify(String(prefix).slice(0, 80))} is not an archive path prefix`,
    );
}

/** Refuses an object over MAX_OBJECT_BYTES, written or read. */
export function checkObjectSize(path: string, size: number): void {
  if (size > MAX_OBJECT_BYTES)
    throw new GovernanceError(
      'ledger.archive.size',
      `${path}: ${size} bytes exceeds the archive's bound of ${MAX_OBJECT_BYTES}`,
    );
}
