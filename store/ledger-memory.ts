// The ledger store in process memory (dev mode and tests): the same contract as Redis, each
// operation atomic because it runs to completion within one turn of the event loop.
import { GovernanceError } from '../core/errors.js';
import { indexShardOf } from '../core/smt.js';
import {
  checkIndexCompaction,
  DEAD_LETTER_HISTORY,
  EMPTY_TIP,
  byOpeningPosition,
  LOG_ID,
  ingestMillis,
  checkArchiveAdvance,
  compareStreamIds,
  type CommitNotice,
  type CommitSubscription,
  type DeadLetter,
  type IngestEntry,
  type CheckpointPublication,
  type IndexCompaction,
  type IndexRead,
  type LedgerCommit,
  type LedgerLease,
  type LedgerStore,
  type LedgerTip,
  type ArchiveAdvance,
  type StoredOpening,
  type StoredText,
} from './ledger-types.js';

/** Commit notices kept for subscribers (they are not evidence). */
const NOTICE_HISTORY = 10_000;

/** A leaf's key (its first 32 bytes) as a Map key. */
const keyOf = (leaf: Uint8Array) => Buffer.from(leaf.buffer, leaf.byteOffset, 32).toString('hex');

/** Whether two leaves have the same value (their last 32 bytes). */
const sameValue = (a: Uint8Array, b: Uint8Array) =>
  Buffer.from(a.buffer, a.byteOffset + 32, 32).equals(Buffer.from(b.buffer, b.byteOffset + 32, 32));

/** Wakes blocked readers when something is appended. */
class Signal {
  private waiters = new Set<() => void>();

  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
    });
  }

  notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

export class MemoryLedgerStore implements LedgerStore {
  private ingest: IngestEntry[] = [];
  private readonly chain = new Map<number, string>();
  private readonly checkpointHistory: StoredText[] = [];
  private readonly tileStore = new Map<string, Uint8Array>();
  /** Index nodes of depth ≤ INDEX_SHARD_BITS, by node id. */
  private readonly indexStore = new Map<string, Uint8Array>();
  /** Index shard versions (absent: 0). */
  private readonly shardVersions = new Map<number, number>();
  /** Index shard overlays: leaves by key (hex), each shard present only while its overlay has any. */
  private readonly overlays = new Map<number, Map<string, Uint8Array>>();
  /** Chained batches, each with the time it is kept under (see LedgerCommit.forgetBatchesBefore). */
  private readonly batches = new Map<string, number>();
  /** Openings by seq, in commit order. */
  private readonly openingStore = new Map<number, StoredOpening[]>();
  private readonly dead: DeadLetter[] = [];
  private readonly notices: { id: number; notices: CommitNotice[] }[] = [];
  private tipState: LedgerTip = { ...EMPTY_TIP };
  private lease: { value: string; expiresAt: number } | undefined;
  private fence = 0;
  private lastIngestMs = 0;
  private lastIngestSeq = 0;
  private noticeId = 0;
  private deadId = 0;
  private readonly ingestSignal = new Signal();
  private readonly noticeSignal = new Signal();

  constructor(
    readonly log: string,
    private readonly now: () => number = Date.now,
  ) {
    if (!LOG_ID.test(log))
      throw new GovernanceError('config.invalid', `log id ${JSON.stringify(log)} is malformed`);
  }

  async appendIngest(batches: string[]): Promise<string[]> {
    const ids = batches.map((batch) => {
      // Redis stream id semantics: milliseconds, then a counter within the millisecond.
      const ms = Math.max(this.now(), this.lastIngestMs);
      this.lastIngestSeq = ms === this.lastIngestMs ? this.lastIngestSeq + 1 : 0;
      this.lastIngestMs = ms;
      const id = `${ms}-${this.lastIngestSeq}`;
      this.ingest.push({ id, batch });
      return id;
    });
    this.ingestSignal.notify();
    return ids;
  }

  async subscribeCommits(): Promise<CommitSubscription> {
    let cursor = this.noticeId;
    let closed = false;
    return {
      next: async (blockMs) => {
        if (closed) throw new GovernanceError('ledger.unavailable', 'subscription closed');
        if (this.noticeId === cursor) await this.noticeSignal.wait(blockMs);
        const fresh = this.notices.filter((n) => n.id > cursor);
        cursor = this.noticeId;
        return fresh.flatMap((n) => n.notices);
      },
      close: () => {
        closed = true;
        this.noticeSignal.notify();
      },
    };
  }

  private leaseHeld(): boolean {
    return this.lease !== undefined && this.lease.expiresAt > this.now();
  }

  async acquireLease(owner: string, ttlMs: number): Promise<LedgerLease | undefined> {
    if (this.leaseHeld()) return undefined;
    this.fence += 1;
    this.lease = { value: `${owner}:${this.fence}`, expiresAt: this.now() + ttlMs };
    return { owner, fence: this.fence };
  }

  async renewLease(lease: LedgerLease, ttlMs: number): Promise<boolean> {
    if (this.fence !== lease.fence) return false;
    this.lease = { value: `${lease.owner}:${lease.fence}`, expiresAt: this.now() + ttlMs };
    return true;
  }

  async releaseLease(lease: LedgerLease): Promise<void> {
    if (this.lease?.value === `${lease.owner}:${lease.fence}`) this.lease = undefined;
  }

  async tip(): Promise<LedgerTip> {
    return { ...this.tipState };
  }

  async ingestBacklog(): Promise<{ entries: number; oldestMs: number | undefined }> {
    const oldest = this.ingest[0];
    return { entries: this.ingest.length, oldestMs: oldest && ingestMillis(oldest.id) };
  }

  async readIngest(afterId: string, count: number, blockMs: number): Promise<IngestEntry[]> {
    const pick = () => this.ingest.filter((e) => compareStreamIds(e.id, afterId) > 0).slice(0, count);
    let entries = pick();
    if (entries.length === 0 && blockMs > 0) {
      await this.ingestSignal.wait(blockMs);
      entries = pick();
    }
    return entries;
  }

  async chainedBatches(vals: string[]): Promise<boolean[]> {
    return vals.map((val) => this.batches.has(val));
  }

  private guard(lease: LedgerLease, expect: { seq: number; eventHash: string }): void {
    if (lease.fence !== this.fence)
      throw new GovernanceError('ledger.fenced', `fencing token ${lease.fence} is stale`);
    if (expect.seq !== this.tipState.seq || expect.eventHash !== this.tipState.eventHash) {
      throw new GovernanceError(
        'ledger.head.mismatch',
        `the chain tip is seq ${this.tipState.seq}, not the expected ${expect.seq}`,
      );
    }
  }

  async commit(commit: LedgerCommit): Promise<void> {
    this.guard(commit.lease, commit.expect);
    const named = new Set<string>();
    for (const val of commit.batches) {
      if (this.batches.has(val) || named.has(val))
        throw new GovernanceError('ledger.batch.replayed', `batch ${val.slice(0, 16)}… is already chained`);
      named.add(val);
    }
    const at = ingestMillis(commit.consumed.at(-1)?.ingestId);
    for (const val of named) this.batches.set(val, at);
    const forget = commit.forgetBatchesBefore;
    if (forget !== undefined)
      for (const [val, kept] of this.batches) if (kept < forget) this.batches.delete(val);
    for (const [key, tile] of commit.tiles) this.tileStore.set(key, tile);
    const base = this.tipState.seq;
    commit.records.forEach((text, i) => this.chain.set(base + i + 1, text));
    for (const [seq, index, member, text] of commit.openings ?? [])
      this.openingStore.set(seq, [...(this.openingStore.get(seq) ?? []), { seq, index, member, text }]);
    const consumed = new Set(commit.consumed.map((c) => c.ingestId));
    this.ingest = this.ingest.filter((e) => !consumed.has(e.id));
    const notices: CommitNotice[] = [];
    for (const entry of commit.consumed) {
      if ('rejected' in entry) {
        const { code, message, entry: raw } = entry.rejected;
        this.dead.push({
          id: String(++this.deadId),
          ingestId: entry.ingestId,
          code,
          message,
          entry: raw,
        });
        if (this.dead.length > DEAD_LETTER_HISTORY) this.dead.shift();
        notices.push({ ingestId: entry.ingestId, rejected: code });
      } else {
        notices.push(entry);
      }
    }
    if (commit.records.length > 0) {
      this.tipState.seq = base + commit.records.length;
      this.tipState.eventHash = commit.eventHash;
      this.tipState.eventHashAlt = commit.eventHashAlt;
    }
    const last = commit.consumed.at(-1);
    if (last) this.tipState.ingestId = last.ingestId;
    this.notices.push({ id: ++this.noticeId, notices });
    if (this.notices.length > NOTICE_HISTORY) this.notices.shift();
    this.noticeSignal.notify();
  }

  async publishCheckpoint(lease: LedgerLease, checkpoint: CheckpointPublication): Promise<void> {
    this.guard(lease, checkpoint);
    if (this.tipState.signedSeq >= checkpoint.seq) return;
    for (const [id, node] of checkpoint.index.top) {
      if (node === undefined) this.indexStore.delete(id);
      else this.indexStore.set(id, node);
    }
    for (const leaf of checkpoint.index.leaves) {
      const shard = indexShardOf(leaf);
      const overlay = this.overlays.get(shard) ?? new Map<string, Uint8Array>();
      this.overlays.set(shard, overlay.set(keyOf(leaf), leaf));
    }
    this.checkpointHistory.push({ seq: checkpoint.seq, text: checkpoint.text });
    this.tipState.signedSeq = checkpoint.seq;
  }

  async advanceArchive(lease: LedgerLease, advance: ArchiveAdvance): Promise<void> {
    if (lease.fence !== this.fence)
      throw new GovernanceError('ledger.fenced', `fencing token ${lease.fence} is stale`);
    const { archived, trimmed } = checkArchiveAdvance(this.tipState, advance);
    for (let seq = this.tipState.trimmed + 1; seq <= trimmed; seq++) {
      this.chain.delete(seq);
      this.openingStore.delete(seq);
    }
    for (const key of advance.tiles) this.tileStore.delete(key);
    while ((this.checkpointHistory[0]?.seq ?? Infinity) < trimmed) this.checkpointHistory.shift();
    this.tipState.archived = archived;
    this.tipState.trimmed = trimmed;
  }

  async indexShardsToCompact(min: number, count: number): Promise<number[]> {
    if (count < 1) return [];
    // Largest overlay first, as the Redis store.
    return [...this.overlays]
      .filter(([, overlay]) => overlay.size >= min)
      .sort(([, a], [, b]) => b.size - a.size)
      .slice(0, count)
      .map(([shard]) => shard);
  }

  async compactIndexShard(lease: LedgerLease, compaction: IndexCompaction): Promise<boolean> {
    checkIndexCompaction(compaction);
    if (lease.fence !== this.fence)
      throw new GovernanceError('ledger.fenced', `fencing token ${lease.fence} is stale`);
    const { shard, from, to, leaves } = compaction;
    if ((this.shardVersions.get(shard) ?? 0) !== from) return false;
    const overlay = this.overlays.get(shard) ?? new Map<string, Uint8Array>();
    for (const leaf of leaves) {
      const stored = overlay.get(keyOf(leaf));
      if (stored && sameValue(stored, leaf)) overlay.delete(keyOf(leaf));
    }
    if (overlay.size === 0) this.overlays.delete(shard);
    this.shardVersions.set(shard, to);
    return true;
  }

  async tiles(keys: string[]): Promise<(Uint8Array | undefined)[]> {
    return keys.map((key) => this.tileStore.get(key));
  }

  async indexRead(ids: string[], shards: number[] | 'all'): Promise<IndexRead> {
    const asked =
      shards === 'all'
        ? [...new Set([...this.overlays.keys(), ...this.shardVersions.keys()])].sort((a, b) => a - b)
        : shards;
    return {
      checkpoint: this.checkpointHistory.at(-1),
      nodes: ids.map((id) => this.indexStore.get(id)),
      shards: asked.map((shard) => ({
        shard,
        version: this.shardVersions.get(shard) ?? 0,
        overlay: [...(this.overlays.get(shard)?.values() ?? [])],
      })),
    };
  }

  async records(fromSeq: number, toSeq: number): Promise<StoredText[]> {
    const out: StoredText[] = [];
    for (let seq = Math.max(1, fromSeq); seq <= Math.min(toSeq, this.tipState.seq); seq++) {
      const text = this.chain.get(seq);
      if (text !== undefined) out.push({ seq, text });
    }
    return out;
  }

  async checkpoints(fromSeq: number, toSeq: number, count: number): Promise<StoredText[]> {
    return this.checkpointHistory.filter((h) => h.seq >= fromSeq && h.seq <= toSeq).slice(0, count);
  }

  async latestCheckpoint(): Promise<StoredText | undefined> {
    return this.checkpointHistory.at(-1);
  }

  async checkpointAtOrBefore(seq: number): Promise<StoredText | undefined> {
    return this.checkpointHistory.findLast((c) => c.seq <= seq);
  }

  async openings(seqs: number[]): Promise<StoredOpening[]> {
    return seqs.flatMap((seq) =>
      (this.openingStore.get(seq) ?? []).map((o) => ({ ...o })).sort(byOpeningPosition),
    );
  }

  async eraseOpening(seq: number, index: number, member: string): Promise<boolean> {
    const stored = this.openingStore.get(seq) ?? [];
    const kept = stored.filter((o) => o.index !== index || o.member !== member);
    this.openingStore.set(seq, kept);
    return kept.length < stored.length;
  }

  async deadLetters(count: number): Promise<DeadLetter[]> {
    return this.dead.slice(0, count);
  }

  async close(): Promise<void> {
    this.ingestSignal.notify();
    this.noticeSignal.notify();
  }
}
