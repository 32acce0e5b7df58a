// The log as one, over a store that keeps a hot tail and the archive that holds what it trimmed
// (docs/spec/ledger.md §11.6): records, tiles and checkpoints below the store's trimmed frontier
// are read from the archive's entry bundles, tiles and checkpoints objects, and the lineage
// index's compacted shards from its index objects; everything else, and
// every write, goes to the store. Proofs, exports, lineage walks, the sequencer's resumption and
// the verifier read through it unchanged.
import { GovernanceError } from '../core/errors.js';
import { utf8Decode } from '../core/encoding.js';
import { TILE_WIDTH, TLOG_HASH_BYTES, decodeEntryBundle, entriesPath, tilePath } from '../core/tlog.js';
import type { LedgerArchive } from './archive-types.js';
import {
  byOpeningPosition,
  type ArchiveAdvance,
  type CheckpointPublication,
  type CommitSubscription,
  type DeadLetter,
  type IndexCompaction,
  type IndexRead,
  type IngestEntry,
  type LedgerCommit,
  type LedgerLease,
  type LedgerStore,
  type LedgerTip,
  type StoredOpening,
  type StoredText,
} from './ledger-types.js';
import {
  BUNDLE_RECORDS,
  checkpointsPath,
  decodeCheckpoints,
  decodeShardLeaves,
  indexShardPath,
  listAll,
  openingPath,
  openingsPrefix,
  parseOpeningPath,
} from './archive-layout.js';

/** Decoded entry bundles kept: a lineage walk or an export page reads one several times. */
const BUNDLE_CACHE = 4;

/** Reads again when the store trimmed while it read (a trim is rare: one per bundle at most). */
const RETRIES = 5;

const missing = (what: string) =>
  new GovernanceError('ledger.sequence.invalid', `the archive has no ${what} below the store's frontier`);

export class ArchivedLedgerStore implements LedgerStore {
  readonly log: string;
  private readonly bundles = new Map<number, string[]>();

  constructor(
    readonly store: LedgerStore,
    readonly archive: LedgerArchive,
  ) {
    this.log = store.log;
  }

  // Writes and the sequencer's reads of the ingest stream: the store's.
  appendIngest(batches: string[]): Promise<string[]> {
    return this.store.appendIngest(batches);
  }
  subscribeCommits(): Promise<CommitSubscription> {
    return this.store.subscribeCommits();
  }
  acquireLease(owner: string, ttlMs: number): Promise<LedgerLease | undefined> {
    return this.store.acquireLease(owner, ttlMs);
  }
  renewLease(lease: LedgerLease, ttlMs: number): Promise<boolean> {
    return this.store.renewLease(lease, ttlMs);
  }
  releaseLease(lease: LedgerLease): Promise<void> {
    return this.store.releaseLease(lease);
  }
  tip(): Promise<LedgerTip> {
    return this.store.tip();
  }
  ingestBacklog(): Promise<{ entries: number; oldestMs: number | undefined }> {
    return this.store.ingestBacklog();
  }
  readIngest(afterId: string, count: number, blockMs: number): Promise<IngestEntry[]> {
    return this.store.readIngest(afterId, count, blockMs);
  }
  chainedBatches(vals: string[]): Promise<boolean[]> {
    return this.store.chainedBatches(vals);
  }
  commit(commit: LedgerCommit): Promise<void> {
    return this.store.commit(commit);
  }
  publishCheckpoint(lease: LedgerLease, checkpoint: CheckpointPublication): Promise<void> {
    return this.store.publishCheckpoint(lease, checkpoint);
  }
  advanceArchive(lease: LedgerLease, advance: ArchiveAdvance): Promise<void> {
    return this.store.advanceArchive(lease, advance);
  }
  indexShardsToCompact(min: number, count: number): Promise<number[]> {
    return this.store.indexShardsToCompact(min, count);
  }
  compactIndexShard(lease: LedgerLease, compaction: IndexCompaction): Promise<boolean> {
    return this.store.compactIndexShard(lease, compaction);
  }
  latestCheckpoint(): Promise<StoredText | undefined> {
    return this.store.latestCheckpoint();
  }
  /**
   * The store's read, each compacted shard given its version's leaves from the archive. A
   * compaction deletes the version it supersedes, so one gone between the two reads means the
   * store has moved on: read again.
   */
  async indexRead(ids: string[], shards: number[] | 'all'): Promise<IndexRead> {
    for (let attempt = 0; ; attempt++) {
      const read = await this.store.indexRead(ids, shards);
      const resolved = await Promise.all(
        read.shards.map(async (shard) => {
          if (shard.version === 0) return shard;
          const path = indexShardPath(shard.shard, shard.version);
          const bytes = await this.archive.get(path);
          return bytes && { ...shard, compacted: decodeShardLeaves(bytes, shard.shard, path) };
        }),
      );
      if (resolved.every((shard) => shard !== undefined)) return { ...read, shards: resolved };
      if (attempt === RETRIES) {
        const gone = read.shards[resolved.indexOf(undefined)]!;
        throw new GovernanceError(
          'ledger.sequence.invalid',
          `the archive has no ${indexShardPath(gone.shard, gone.version)}`,
        );
      }
    }
  }
  /**
   * The openings of these records, from the store above its trimmed frontier and from the
   * archive at or below it (read after the store, as records are), by seq in the order given,
   * then by index and member.
   */
  async openings(seqs: number[]): Promise<StoredOpening[]> {
    const stored = await this.store.openings(seqs);
    const { trimmed } = await this.store.tip();
    const archived = new Map<number, StoredOpening[]>();
    for (const seq of new Set(seqs.filter((s) => s <= trimmed))) {
      const found: StoredOpening[] = [];
      for (const path of await listAll(
        this.archive,
        openingsPrefix(Math.floor((seq - 1) / BUNDLE_RECORDS), seq),
      )) {
        const named = parseOpeningPath(path);
        const bytes = named && (await this.archive.get(path));
        const text = bytes && utf8Decode(bytes);
        // Erased between the listing and the read: gone, as it should be.
        if (named && text !== undefined) found.push({ ...named, text });
      }
      // Listed in byte order, where index 10 comes before 2.
      archived.set(seq, found.sort(byOpeningPosition));
    }
    return seqs.flatMap((seq) => archived.get(seq) ?? stored.filter((o) => o.seq === seq));
  }

  /**
   * Erases an opening wherever it is: in the store, and in the archive (which may hold a copy
   * whether or not the store still does). The archiver deletes any copy it made of an opening
   * erased while it copied (ledger/archive.ts), so the erasure holds whatever order they run in.
   */
  async eraseOpening(seq: number, index: number, member: string): Promise<boolean> {
    const inStore = await this.store.eraseOpening(seq, index, member);
    const inArchive = await this.archive.delete(openingPath(seq, index, member));
    return inStore || inArchive;
  }
  deadLetters(count: number): Promise<DeadLetter[]> {
    return this.store.deadLetters(count);
  }
  async close(): Promise<void> {
    await this.store.close();
    await this.archive.close();
  }

  /**
   * The store's records, and from the archive those it no longer holds: trimming deletes a
   * prefix, so any seq the store lacks at or below its trimmed frontier (read after the records,
   * so that a trim in between is seen) is in the archive.
   */
  async records(fromSeq: number, toSeq: number): Promise<StoredText[]> {
    const from = Math.max(1, fromSeq);
    if (toSeq < from) return [];
    const stored = await this.store.records(from, toSeq);
    if (stored.length > 0 && stored[0]!.seq === from && stored.at(-1)!.seq - from + 1 === stored.length)
      return stored;
    const { trimmed } = await this.store.tip();
    const held = new Set(stored.map((r) => r.seq));
    const archived: StoredText[] = [];
    for (let seq = from; seq <= Math.min(toSeq, trimmed); seq++)
      if (!held.has(seq)) archived.push({ seq, text: await this.archivedRecord(seq) });
    return archived.length === 0 ? stored : [...archived, ...stored].sort((a, b) => a.seq - b.seq);
  }

  private async archivedRecord(seq: number): Promise<string> {
    const n = Math.floor((seq - 1) / BUNDLE_RECORDS);
    let texts = this.bundles.get(n);
    if (!texts) {
      const path = entriesPath(n);
      const bytes = await this.archive.get(path);
      const entries = bytes && decodeEntryBundle(bytes, BUNDLE_RECORDS);
      const decoded = entries?.map(utf8Decode);
      if (!decoded || decoded.some((t) => t === undefined)) throw missing(`well-formed ${path}`);
      texts = decoded as string[];
      if (this.bundles.size >= BUNDLE_CACHE) this.bundles.delete(this.bundles.keys().next().value!);
    }
    // Most recently used last.
    this.bundles.delete(n);
    this.bundles.set(n, texts);
    return texts[(seq - 1) % BUNDLE_RECORDS]!;
  }

  /** The store's tiles, and the full tiles it no longer holds from the archive. */
  async tiles(keys: string[]): Promise<(Uint8Array | undefined)[]> {
    const tiles = await this.store.tiles(keys);
    return Promise.all(
      tiles.map(async (tile, i) => {
        if (tile) return tile;
        const [level, index] = keys[i]!.split('/').map(Number) as [number, number];
        const archived = await this.archive.get(tilePath(level, index));
        return archived?.length === TILE_WIDTH * TLOG_HASH_BYTES ? archived : undefined;
      }),
    );
  }

  /**
   * Reads under one trimmed frontier: the store keeps the checkpoints of size ≥ trimmed, the
   * archive those below; a trim while reading makes it read again.
   */
  private async underFrontier<T>(read: (trimmed: number) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const before = (await this.store.tip()).trimmed;
      const result = await read(before);
      if ((await this.store.tip()).trimmed === before) return result;
      if (attempt === RETRIES)
        throw new GovernanceError('ledger.unavailable', 'the store kept trimming while the archive was read');
    }
  }

  async checkpoints(fromSeq: number, toSeq: number, count: number): Promise<StoredText[]> {
    return this.underFrontier(async (trimmed) => {
      const from = Math.max(1, fromSeq);
      const found: StoredText[] = [];
      const last = Math.min(toSeq, trimmed - 1);
      for (
        let n = Math.floor((from - 1) / BUNDLE_RECORDS);
        n * BUNDLE_RECORDS < last && found.length < count;
        n++
      )
        for (const c of await this.archivedCheckpoints(n))
          if (c.seq > n * BUNDLE_RECORDS && c.seq >= from && c.seq <= last && found.length < count)
            found.push(c);
      if (found.length < count)
        found.push(...(await this.store.checkpoints(Math.max(from, trimmed), toSeq, count - found.length)));
      return found;
    });
  }

  async checkpointAtOrBefore(seq: number): Promise<StoredText | undefined> {
    return this.underFrontier(async (trimmed) => {
      const stored = await this.store.checkpointAtOrBefore(seq);
      if ((stored && stored.seq >= trimmed) || seq < 1 || trimmed <= 1) return stored;
      const below = Math.min(seq, trimmed - 1);
      return (await this.archivedCheckpoints(Math.floor((below - 1) / BUNDLE_RECORDS))).findLast(
        (c) => c.seq <= below,
      );
    });
  }

  private async archivedCheckpoints(n: number): Promise<StoredText[]> {
    const path = checkpointsPath(n);
    const bytes = await this.archive.get(path);
    if (!bytes) throw missing(path);
    return decodeCheckpoints(bytes, path);
  }
}
