// Archiving the sealed log (docs/spec/ledger.md §11.6): the sequencer's leader copies every full
// entry bundle, every full tile and the checkpoints of each bundle's range to a LedgerArchive as
// static files, then moves the archive's frontier in the store and trims what the archive holds,
// keeping a hot tail. Each step is idempotent and ordered — objects first (immutable: the same
// bytes again change nothing), then `archived`, then the trim — so a crash between any two
// loses nothing and duplicates nothing: the next leader repeats the step it was in. The lineage
// index is compacted the same way: a shard's leaves written as a new object first, then the
// store switched to it, then the object it supersedes deleted.
import type { CryptoSuite } from '../core/crypto.js';
import { bytesEqual, hexEncode, utf8Encode } from '../core/encoding.js';
import { parseCheckpointNote } from '../core/checkpoint.js';
import { INDEX_SHARD_BITS, smtProofFromShard, smtTopNodeIds, verifySmtProof } from '../core/smt.js';
import { GovernanceError, isGovernanceError } from '../core/errors.js';
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
  decodeShardLeaves,
  encodeCheckpoints,
  encodeShardLeaves,
  indexShardPath,
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
  /**
   * Overlay leaves at which an index shard is compacted (default 16): the store then holds at
   * most about INDEX_SHARDS times this many leaves, however many lineages the log has.
   */
  compactLeaves?: number;
  /** Index shards compacted at most per step (default 64). */
  shardsPerStep?: number;
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
  private readonly compactLeaves: number;
  private readonly shardsPerStep: number;
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
    this.compactLeaves = options.compactLeaves ?? 16;
    this.shardsPerStep = options.shardsPerStep ?? 64;
    this.now = options.now ?? Date.now;
  }

  /**
   * Archives the full bundles the latest checkpoint covers, up to bundlesPerStep of them, trims
   * the store to the hot tail and compacts up to shardsPerStep index shards; `more` when there is
   * more to archive or compact.
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
    const compacted = await this.compactIndex(lease);
    return { archived, trimmed, more: archived < target || compacted === this.shardsPerStep };
  }

  /** Compacts the index shards whose overlay reached compactLeaves; how many it compacted. */
  private async compactIndex(lease: LedgerLease): Promise<number> {
    const shards = await this.store.indexShardsToCompact(this.compactLeaves, this.shardsPerStep);
    for (const shard of shards) await this.compactShard(lease, shard);
    return shards.length;
  }

  /**
   * Writes shard `shard`'s leaves as of the latest checkpoint (its compacted version's, with its
   * overlay's in their place) under that checkpoint's size, once they prove against the index
   * root it signed; then switches the store to it and deletes the older versions: the one it
   * supersedes, and any a crash left before its switch.
   */
  private async compactShard(lease: LedgerLease, shard: number): Promise<void> {
    const key = new Uint8Array(32);
    key[0] = shard >> 4;
    key[1] = (shard & 15) << 4;
    // The top nodes over a shard are the same for every key in it.
    const ids = smtTopNodeIds(key);
    const { checkpoint, nodes, shards } = await this.store.indexRead(ids, [shard]);
    const read = shards[0]!;
    if (!checkpoint || checkpoint.seq <= read.version || read.overlay.length === 0) return;
    const byKey = new Map<string, Uint8Array>();
    if (read.version > 0) {
      const path = indexShardPath(shard, read.version);
      const bytes = await this.archive.get(path);
      if (!bytes) throw new GovernanceError('ledger.sequence.invalid', `the archive has no ${path}`);
      for (const leaf of decodeShardLeaves(bytes, shard, path))
        byKey.set(hexEncode(leaf.subarray(0, 32)), leaf);
    }
    for (const leaf of read.overlay) byKey.set(hexEncode(leaf.subarray(0, 32)), leaf);
    const leaves = [...byKey.values()];
    if (!this.proves(checkpoint, read.overlay[0]!, ids, nodes, leaves))
      throw new GovernanceError(
        'ledger.index.mismatch',
        `index shard ${shard} does not prove against checkpoint ${checkpoint.seq}`,
      );
    const path = indexShardPath(shard, checkpoint.seq);
    await this.archive.putImmutable(path, encodeShardLeaves(leaves));
    const switched = await this.store.compactIndexShard(lease, {
      shard,
      from: read.version,
      to: checkpoint.seq,
      leaves: read.overlay,
    });
    if (!switched) return;
    // Only older versions: a newer one is a later leader's, switched after this one lost its lease.
    const directory = path.slice(0, path.lastIndexOf('/') + 1);
    for (const other of await listAll(this.archive, directory))
      if (Number(other.slice(directory.length)) < checkpoint.seq) await this.archive.delete(other);
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
   * Whether a shard's leaves are exactly those of the index the checkpoint signed, from the
   * proof of one of them (`leaf`, which must prove with its value). A proof whose terminal lies
   * below the shard's depth folds in every leaf of the shard; one that ends above it (a shard
   * of one key, whose leaf stands higher) folds in none, so the shard must then be that leaf alone.
   */
  private proves(
    checkpoint: StoredText,
    leaf: Uint8Array,
    ids: string[],
    nodes: (Uint8Array | undefined)[],
    leaves: Uint8Array[],
  ): boolean {
    const top = new Map(ids.map((id, i) => [id, nodes[i]]));
    const key = leaf.subarray(0, 32);
    let proof;
    try {
      proof = smtProofFromShard(this.suite, key, (id) => top.get(id), leaves);
    } catch (e) {
      if (isGovernanceError(e, 'ledger.proof.invalid')) return false;
      throw e;
    }
    const proved = verifySmtProof(
      this.suite,
      parseCheckpointNote(checkpoint.text).checkpoint.index,
      key,
      proof,
    );
    return (
      'present' in proved &&
      proved.present &&
      bytesEqual(proved.value, leaf.subarray(32)) &&
      (leaves.length === 1 || proof.siblings.length > INDEX_SHARD_BITS)
    );
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
