// Archiving the sealed log (docs/spec/ledger.md §11.6): the sequencer's leader copies every full
// entry bundle, every full tile and the checkpoints of each bundle's range to a LedgerArchive as
// static files, then moves the archive's frontier in the store and trims what the archive holds,
// keeping a hot tail. Each step is idempotent and ordered — objects first (immutable: the same
// bytes again change nothing), then `archived`, then the trim — so a crash between any two
// loses nothing and duplicates nothing: the next leader repeats the step it was in.
import type { CryptoSuite } from '../core/crypto.js';
import { bytesEqual, utf8Encode } from '../core/encoding.js';
import { GovernanceError } from '../core/errors.js';
import {
  TILE_WIDTH,
  TLOG_HASH_BYTES,
  encodeEntryBundle,
  entriesPath,
  tilePath,
  tlogLeafHash,
} from '../core/tlog.js';
import type { LedgerArchive } from '../store/archive-types.js';
import {
  BUNDLE_RECORDS,
  checkpointsPath,
  decodeCheckpoints,
  encodeCheckpoints,
  listAll,
  openingPath,
  openingsPrefix,
} from '../store/archive-layout.js';
import {
  MAX_TRIM_RECORDS,
  tileKey,
  type LedgerLease,
  type LedgerStore,
  type StoredText,
} from '../store/ledger-types.js';

/** The full tiles above level 0 that a bundle completes: tile (L, k) is full once 256^(L+1) divides the end. */
function tilesCompletedBy(bundle: number): { level: number; index: number }[] {
  const end = (bundle + 1) * BUNDLE_RECORDS;
  const tiles: { level: number; index: number }[] = [];
  for (let level = 1, span = TILE_WIDTH ** 2; end % span === 0; level++, span *= TILE_WIDTH)
    tiles.push({ level, index: end / span - 1 });
  return tiles;
}

/** The full tiles, at every level, whose leaves all lie in records from + 1 … to (multiples of 256). */
export function tilesWithin(from: number, to: number): string[] {
  const keys: string[] = [];
  for (let level = 0, span = TILE_WIDTH; span <= to; level++, span *= TILE_WIDTH)
    for (let index = Math.ceil(from / span); (index + 1) * span <= to; index++)
      keys.push(tileKey(level, index));
  return keys;
}

export interface ArchiverOptions {
  /** Records kept in the store below the archive's frontier, for the readers of recent ones (default 4096). */
  hotRecords?: number;
  /**
   * And at least the records this many ms of checkpoints cover (default 30,000): a producer
   * proves its batch from the tiles in the store (§11.3) until its commit window ends, however
   * many records are chained meanwhile. A trim goes no further than the latest checkpoint this
   * archiver saw that long ago; a new leader, which has seen none, trims nothing at first.
   */
  hotMs?: number;
  now?: () => number;
  /** Bundles archived at most per step, so that a step ends soon after a lease is lost (default 16). */
  bundlesPerStep?: number;
}

export interface ArchiveProgress {
  archived: number;
  trimmed: number;
}

/**
 * The leader's archiver over the store itself (not an archived view of it): everything it copies
 * is above the trimmed frontier, so still in the store.
 */
export class LedgerArchiver {
  private readonly hotRecords: number;
  private readonly hotMs: number;
  private readonly bundlesPerStep: number;
  private readonly now: () => number;
  /** The checkpoint sizes this archiver saw, with when it first saw each, oldest first. */
  private readonly seen: { size: number; at: number }[] = [];

  constructor(
    private readonly suite: CryptoSuite,
    private readonly store: LedgerStore,
    readonly archive: LedgerArchive,
    options: ArchiverOptions = {},
  ) {
    this.hotRecords = options.hotRecords ?? 4096;
    this.hotMs = options.hotMs ?? 30_000;
    this.bundlesPerStep = options.bundlesPerStep ?? 16;
    this.now = options.now ?? Date.now;
  }

  /**
   * Archives the full bundles the latest checkpoint covers, up to bundlesPerStep of them, and
   * trims the store to the hot tail; `more` when there is more to archive.
   */
  async step(lease: LedgerLease): Promise<ArchiveProgress & { more: boolean }> {
    const tip = await this.store.tip();
    const now = this.now();
    if (tip.signedSeq > (this.seen.at(-1)?.size ?? 0)) this.seen.push({ size: tip.signedSeq, at: now });
    // The latest checkpoint seen at least hotMs ago bounds the trim; older ones are not needed.
    let settled = 0;
    while (this.seen.length > 0 && this.seen[0]!.at <= now - this.hotMs) settled = this.seen.shift()!.size;
    if (settled > 0) this.seen.unshift({ size: settled, at: -Infinity });
    const target = Math.floor(tip.signedSeq / BUNDLE_RECORDS) * BUNDLE_RECORDS;
    let { archived, trimmed } = tip;
    for (let n = 0; n < this.bundlesPerStep && archived < target; n++) {
      await this.archiveBundle(archived / BUNDLE_RECORDS, trimmed);
      archived += BUNDLE_RECORDS;
      await this.store.advanceArchive(lease, { archived, trimmed, tiles: [] });
    }
    const keep =
      Math.floor(Math.max(0, Math.min(archived - this.hotRecords, settled)) / BUNDLE_RECORDS) *
      BUNDLE_RECORDS;
    while (trimmed < keep) {
      const next = Math.min(keep, trimmed + MAX_TRIM_RECORDS);
      await this.store.advanceArchive(lease, { archived, trimmed: next, tiles: tilesWithin(trimmed, next) });
      trimmed = next;
    }
    return { archived, trimmed, more: archived < target };
  }

  /** Writes bundle n's entry bundle, the full tiles it completes and its checkpoints, each checked first. */
  private async archiveBundle(n: number, trimmed: number): Promise<void> {
    const first = n * BUNDLE_RECORDS + 1;
    const records = await this.store.records(first, first + BUNDLE_RECORDS - 1);
    if (records.length !== BUNDLE_RECORDS || records.some((r, i) => r.seq !== first + i))
      throw new GovernanceError(
        'ledger.sequence.invalid',
        `records of bundle ${n} are missing from the store`,
      );
    const entries = records.map((r) => utf8Encode(r.text));
    const tiles = [{ level: 0, index: n }, ...tilesCompletedBy(n)];
    const stored = await this.store.tiles(tiles.map((t) => tileKey(t.level, t.index)));
    // The archive holds only what the signed tree holds: the records' leaves must be its tile.
    const leaves = new Uint8Array(BUNDLE_RECORDS * TLOG_HASH_BYTES);
    entries.forEach((entry, i) => leaves.set(tlogLeafHash(this.suite, entry), i * TLOG_HASH_BYTES));
    if (!stored[0] || !bytesEqual(stored[0], leaves))
      throw new GovernanceError(
        'ledger.hash.mismatch',
        `records of bundle ${n} are not the leaves of tile 0/${n}`,
      );
    const full = TILE_WIDTH * TLOG_HASH_BYTES;
    stored.forEach((tile, i) => {
      if (tile?.length !== full)
        throw new GovernanceError(
          'ledger.sequence.invalid',
          `tile ${tiles[i]!.level}/${tiles[i]!.index} is not full`,
        );
    });
    await this.archive.putImmutable(entriesPath(n), encodeEntryBundle(entries));
    for (const [i, { level, index }] of tiles.entries())
      await this.archive.putImmutable(tilePath(level, index), stored[i]!);
    const own = await this.store.checkpoints(first, first + BUNDLE_RECORDS - 1, BUNDLE_RECORDS);
    const carried = await this.carried(n, trimmed);
    await this.archive.putImmutable(checkpointsPath(n), encodeCheckpoints(carried, own));
    await this.archiveOpenings(
      n,
      records.map((r) => r.seq),
    );
  }

  /**
   * Copies the openings of bundle n's records (§3.1). One erased while they are copied — or
   * left by a run that crashed before this one — would survive in the archive: so the store is
   * read again after the copy, and every opening of the bundle's directory it no longer holds is
   * deleted. An erasure deletes from both places (store/ledger-archived.ts), so whichever comes
   * last, the opening is gone.
   */
  private async archiveOpenings(n: number, seqs: number[]): Promise<void> {
    for (const o of await this.store.openings(seqs))
      await this.archive.put(openingPath(o.seq, o.index, o.member), utf8Encode(o.text));
    const kept = new Set((await this.store.openings(seqs)).map((o) => openingPath(o.seq, o.index, o.member)));
    for (const path of await listAll(this.archive, openingsPrefix(n)))
      if (!kept.has(path)) await this.archive.delete(path);
  }

  /**
   * The latest checkpoint of size ≤ 256·n: in the store, which holds those of size ≥ trimmed, or
   * else the last of bundle n − 1's object.
   */
  private async carried(n: number, trimmed: number): Promise<StoredText | undefined> {
    if (n === 0) return undefined;
    const stored = await this.store.checkpointAtOrBefore(n * BUNDLE_RECORDS);
    if (stored && stored.seq >= trimmed) return stored;
    const path = checkpointsPath(n - 1);
    const bytes = await this.archive.get(path);
    if (!bytes) throw new GovernanceError('ledger.sequence.invalid', `the archive has no ${path}`);
    return decodeCheckpoints(bytes, path).at(-1);
  }
}
