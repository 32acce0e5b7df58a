// The sequencer: the one process that turns ingest entries into the chain (docs/spec/ledger.md).
// One instance leads at a time, under a lease with a fencing token; others wait and take over
// when the lease expires. Each commit (records, tip, lineage index, ingest deletion, dead
// letters, notices) is one atomic store operation guarded by the fencing token and the tip it
// extends, so a killed, paused or stale sequencer can never lose, duplicate or fork a record; and
// each producer batch is chained once, so a copied ingest entry is refused, not chained again.
import type { KeyObject } from 'node:crypto';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { checkpointNote, signCheckpoint } from '../core/checkpoint.js';
import { nodeCrypto } from '../core/crypto-node.js';
import type { CryptoSuite } from '../core/crypto.js';
import { bytesEqual, utf8Encode } from '../core/encoding.js';
import { GovernanceError, isGovernanceError } from '../core/errors.js';
import {
  EVENT_LIMITS,
  EVENT_VERSION,
  chainNext,
  recordBytesBound,
  eventHashAltRef,
  eventHashRef,
  genesis,
  validateEvent,
  type ChainRecord,
  type ChainState,
  type EventPosition,
  type LedgerEvent,
} from '../core/event.js';
import { rawPublicKey, signSync } from '../core/keys.js';
import {
  INDEX_SHARD_BITS,
  SparseMerkleIndex,
  indexKey,
  positionOfValue,
  valueOfPosition,
} from '../core/smt.js';
import { TileBuilder, consistencyProof } from '../core/tlog.js';
import { formatMillis } from '../core/time.js';
import {
  ingestMillis,
  shardLeaves,
  type ConsumedEntry,
  type IngestEntry,
  type LedgerLease,
  type LedgerStore,
} from '../store/ledger-types.js';
import { readTree, storedTiles, treeHashes } from '../ledger/tree.js';
import { openBatch, openEntry, sealBatch, type OpenedBatch } from '../ledger/ingest.js';
import { OpenPool } from './open-pool.js';
import type { CheckpointWitnesses } from './witnesses.js';
import { linkRecord, parseJson, type LinkedRecord } from '../ledger/records.js';
import { signerKeyOf, type ProducerKey, type SignerKey } from '../core/chain.js';
import { parseCheckpointNote } from '../core/checkpoint.js';
import type { LedgerArchiver } from '../ledger/archive.js';

export interface SequencerOptions {
  store: LedgerStore;
  suite?: CryptoSuite;
  /** The audit key: signs checkpoints and the ledger's own ledger.rejected events. */
  auditKid: string;
  auditKey: KeyObject;
  /** Certified producer public keys by kid; asked again (at most once a second) when an unknown kid appears. */
  producerKeys: () => Promise<ReadonlyMap<string, ProducerKey>>;
  /** Lease owner id (default host:pid:random). */
  owner?: string;
  /** Lease time to live; a dead sequencer is replaced after at most this long (default 3000 ms). */
  leaseMs?: number;
  /** Cadence of checkpoints while records arrive (default 1000 ms). */
  headIntervalMs?: number;
  /**
   * Witnesses to cosign each checkpoint before it is published (none: published as signed).
   * A checkpoint with fewer than `threshold` cosignatures is not published; the next try
   * covers more records.
   */
  witnesses?: CheckpointWitnesses;
  /**
   * Bytes of records per commit at most, beyond its first record (bounds the time one script
   * holds Redis; default 1 MiB). A record is one producer batch, at most 64 KiB.
   */
  maxCommitBytes?: number;
  /**
   * The replay window (docs/spec/ledger.md §11.4): a batch whose events' `time` lies more than
   * this far from when its entry reached the ingest stream (the entry id's ms) is refused
   * (ledger.batch.stale), so that the set of chained batches need only remember the batches of
   * the last two windows to refuse every copy. None: no batch is refused for its time, and every
   * batch is remembered.
   */
  replayWindowMs?: number;
  /**
   * Copies the sealed log to an archive after each checkpoint and trims the store to its hot tail
   * (docs/spec/ledger.md §11.6); `store` is then the archived view over the same store, so that
   * resumption and witnesses' consistency proofs read what was trimmed. None: the store keeps all.
   */
  archiver?: LedgerArchiver;
  /**
   * Worker threads that open ingest entries (parse, validate, hash, verify) while this thread
   * chains (default 0: it opens them itself). Worth it when a core is free for them.
   */
  openWorkers?: number;
  now?: () => number;
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
}

/**
 * What a sequencer is doing and has done, for its health and metrics (sequencer/metrics.ts):
 * observed, never acted upon.
 */
export interface SequencerStatus {
  /** starting: loading producer keys and open workers; standing-by: waiting for the lease. */
  state: 'idle' | 'starting' | 'standing-by' | 'leading' | 'stopped';
  /** When the store last answered a lease acquisition or renewal (either way); undefined: never. */
  leaseAnsweredAt: number | undefined;
  /** Records chained, ingest entries refused (dead-lettered), checkpoints published, leases taken. */
  chained: number;
  rejected: number;
  checkpointsPublished: number;
  leasesAcquired: number;
  /** Checkpoints not published for want of witness cosignatures. */
  unwitnessed: number;
  /** The last checkpoint this instance published, and the witness cosignatures it carried. */
  lastHead: { seq: number; at: number; cosignatures: number } | undefined;
  /** Events in the records this instance chained (the ledger's own ledger.rejected events included). */
  events: number;
  /** The chain's seq after this instance's last commit (0: it has committed nothing). */
  tipSeq: number;
  /**
   * This instance's last commit: when it resolved, and the age then of the newest ingest entry it
   * consumed (from the entry's id, "<ms>-<n>": the store's clock when it was appended).
   */
  lastCommit: { at: number; lagMs: number } | undefined;
  /** Witness cosignatures obtained for the checkpoints this instance signed (published or not). */
  cosignatures: number;
  /**
   * The ingest stream as this instance last sampled it while leading (every third of the lease):
   * entries waiting, the ms of the oldest one's append, and when it sampled.
   */
  backlog: { entries: number; oldestMs: number | undefined; at: number } | undefined;
  /**
   * The archive's progress as this instance last saw or moved it (undefined: no archive):
   * records sealed in the archive, records trimmed from the store, when it last archived, and
   * archiving attempts that failed.
   */
  archive: { archived: number; trimmed: number; at: number | undefined; failures: number } | undefined;
}

/** Ingest entries read at once at most (one commit's worth is read when their size is known). */
const MAX_ENTRIES_PER_READ = 256;

/** Reads made and opened ahead of the one being chained: enough to keep open workers busy. */
const READ_AHEAD = 2;

/** Dead letters keep at most this much of a rejected entry; its hash covers all of it. */
const DEAD_LETTER_CHARS = 65_536;

/** What one commit will write, and the state after it. */
interface Plan {
  records: LinkedRecord[];
  /** The tree's tiles the records change, by store key. */
  tiles: Map<string, Uint8Array>;
  consumed: ConsumedEntry[];
  /** The signatures of the batches chained (each batch is chained once, docs/spec/ledger.md §4). */
  batches: string[];
  /** Openings of the records' commitments (docs/spec/ledger.md §3.1): [seq, index, member, text]. */
  openings: [number, number, string, string][];
  state: ChainState;
  /** Characters of the records' texts. */
  bytes: number;
  /** Events of the records, the ledger's own ledger.rejected events included. */
  events: number;
}

/** What the leader keeps of the ledger besides the chain state: rebuilt whenever it leads anew. */
interface Ledger {
  /** The tree's right edge: its root, and the tiles each commit writes. */
  tree: TileBuilder;
  /**
   * The lineage index as of the last checkpoint signed: the position of every lineage's latest
   * event, which the next event of the lineage names as its lineage_prev. Its changes are stored
   * with the next checkpoint.
   */
  index: SparseMerkleIndex;
  /**
   * Latest positions planned since: applied to the index when a checkpoint is signed, once per
   * lineage rather than once per event (an operation's events come close together).
   */
  latest: Map<string, EventPosition>;
}

/** An ingest entry and what opening it gave. */
interface Opened {
  entry: IngestEntry;
  result: OpenedBatch | GovernanceError;
}

export class Sequencer {
  private readonly suite: CryptoSuite;
  private readonly store: LedgerStore;
  private readonly owner: string;
  private readonly leaseMs: number;
  private readonly headIntervalMs: number;
  private readonly maxCommitBytes: number;
  private readonly now: () => number;
  private readonly ownSigner: SignerKey;
  private readonly auditPublicKey: Uint8Array;
  private producers: ReadonlyMap<string, ProducerKey> = new Map();
  private producersLoadedAt = -Infinity;
  private pool: OpenPool | undefined;
  private stopping = false;
  private running: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  /** The archiver's run in progress, if any (one at a time, beside the chaining). */
  private archiving: Promise<void> | undefined;
  private archiveAgain = false;
  /** Records chained by this instance (for logs and benchmarks). */
  chained = 0;
  private readonly observed: Omit<SequencerStatus, 'chained'> = {
    state: 'idle',
    leaseAnsweredAt: undefined,
    rejected: 0,
    checkpointsPublished: 0,
    leasesAcquired: 0,
    unwitnessed: 0,
    lastHead: undefined,
    archive: undefined,
    backlog: undefined,
    events: 0,
    tipSeq: 0,
    lastCommit: undefined,
    cosignatures: 0,
  };

  constructor(private readonly options: SequencerOptions) {
    this.suite = options.suite ?? nodeCrypto;
    this.store = options.store;
    this.owner = options.owner ?? `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
    this.leaseMs = options.leaseMs ?? 3000;
    this.headIntervalMs = options.headIntervalMs ?? 1000;
    this.maxCommitBytes = options.maxCommitBytes ?? 1 << 20;
    this.now = options.now ?? Date.now;
    this.auditPublicKey = rawPublicKey(options.auditKey);
    const audit = new Map([[options.auditKid, { publicKey: this.auditPublicKey }]]);
    this.ownSigner = signerKeyOf({ producers: new Map(), audit }, options.store.log);
    if (options.archiver) this.observed.archive = { archived: 0, trimmed: 0, at: undefined, failures: 0 };
  }

  start(): void {
    this.running ??= this.run();
  }

  status(): SequencerStatus {
    return { ...this.observed, chained: this.chained };
  }

  /** Finishes the current commit, publishes a last checkpoint, releases the lease. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.running;
  }

  private log(level: 'info' | 'warn' | 'error', message: string): void {
    this.options.log?.(level, message);
  }

  private async pause(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.wake = undefined;
  }

  private async run(): Promise<void> {
    this.observed.state = 'starting';
    await this.loadProducers();
    const workers = this.options.openWorkers ?? 0;
    if (workers > 0) this.pool = new OpenPool(workers, this.store.log, this.producers);
    try {
      // Takes no lease before it can open entries.
      await this.pool?.ready();
      await this.runLeading();
    } finally {
      this.observed.state = 'stopped';
      await this.pool?.close();
    }
  }

  private async runLeading(): Promise<void> {
    while (!this.stopping) {
      this.observed.state = 'standing-by';
      let lease: LedgerLease | undefined;
      try {
        lease = await this.store.acquireLease(this.owner, this.leaseMs);
        this.observed.leaseAnsweredAt = this.now();
      } catch (e) {
        this.log('warn', `lease: ${(e as Error).message}`);
      }
      if (!lease) {
        await this.pause(this.leaseMs / 3);
        continue;
      }
      this.log('info', `leading with fencing token ${lease.fence}`);
      this.observed.state = 'leading';
      this.observed.leasesAcquired++;
      try {
        await this.lead(lease);
      } catch (e) {
        this.observed.state = 'standing-by';
        this.log(
          isGovernanceError(e, 'ledger.fenced') ? 'warn' : 'error',
          `stopped leading: ${(e as Error).message}`,
        );
        await this.pause(this.leaseMs / 3);
      }
    }
  }

  private async loadProducers(): Promise<void> {
    this.producersLoadedAt = this.now();
    try {
      this.producers = await this.options.producerKeys();
      this.pool?.setProducers(this.producers);
    } catch (e) {
      this.log('error', `producer keys: ${(e as Error).message}`);
    }
  }

  /**
   * The chain state at the tip and the lineage index, from the latest checkpoint (its chain line,
   * and the index nodes stored with it) and the records chained after it, replayed; the tip's
   * hashes must be the replayed ones.
   */
  private async resume(): Promise<{
    state: ChainState;
    index: SparseMerkleIndex;
    ingestId: string;
    signedSeq: number;
  }> {
    const tip = await this.store.tip();
    const { checkpoint: stored, shards } = await this.store.indexRead([], 'all');
    let state = genesis(this.suite, this.store.log);
    const index = SparseMerkleIndex.fromLeaves(this.suite, shards.flatMap(shardLeaves));
    index.takeChanges();
    if (stored) {
      const { size, chain, index: root } = parseCheckpointNote(stored.text).checkpoint;
      state = { seq: size, hash: chain.hash, alt: chain.alt };
      // What the store and the archive hold must be the index the checkpoint signed.
      if (!bytesEqual(index.root(), root))
        throw new GovernanceError(
          'ledger.index.mismatch',
          `the stored lineage index is not the one checkpoint ${size} commits to`,
        );
    }
    for (let from = state.seq + 1; from <= tip.seq; from += 256) {
      for (const { seq, text } of await this.store.records(from, Math.min(tip.seq, from + 255))) {
        if (seq !== state.seq + 1)
          throw new GovernanceError('ledger.sequence.invalid', `record ${state.seq + 1} is missing`);
        state = chainNext(this.suite, state, utf8Encode(text));
        const { events } = parseJson(text, 'record') as ChainRecord;
        events.forEach((e, i) => {
          if (typeof e.lineage === 'string')
            index.set(indexKey(this.suite, e.lineage), valueOfPosition([seq, i]));
        });
      }
    }
    if (
      state.seq !== tip.seq ||
      (tip.seq > 0 &&
        (eventHashRef(state.hash) !== tip.eventHash || eventHashAltRef(state.alt) !== tip.eventHashAlt))
    )
      throw new GovernanceError('ledger.hash.mismatch', `the chain tip does not match record ${tip.seq}`);
    return { state, index, ingestId: tip.ingestId, signedSeq: tip.signedSeq };
  }

  /**
   * Leads until the lease is lost or stop() is called. Commits are pipelined one deep: the next
   * plan is computed while Redis runs the previous commit, from the state that commit will leave;
   * if it fails (fenced, or the tip moved), the plan is dropped with everything cached.
   */
  private async lead(lease: LedgerLease): Promise<void> {
    let lost = false;
    const renewal = setInterval(() => {
      this.store.renewLease(lease, this.leaseMs).then(
        (held) => {
          this.observed.leaseAnsweredAt = this.now();
          if (held) return;
          // Another sequencer may lead already: say so now, not once this commit is fenced.
          lost = true;
          this.observed.state = 'standing-by';
        },
        (e: unknown) => this.log('warn', `lease renewal: ${(e as Error).message}`),
      );
      this.store.ingestBacklog().then(
        (backlog) => (this.observed.backlog = { ...backlog, at: this.now() }),
        () => undefined,
      );
    }, this.leaseMs / 3);
    let inFlight: Promise<void> | undefined;
    const settle = async () => {
      const committing = inFlight;
      inFlight = undefined;
      await committing;
    };
    // Reads being made and opened ahead of the one being chained, in read order.
    const ahead: Promise<Opened[]>[] = [];
    try {
      const resumed = await this.resume();
      let { state, ingestId: cursor, signedSeq } = resumed;
      const ledger: Ledger = {
        tree: await readTree(this.suite, this.store, state.seq),
        index: resumed.index,
        latest: new Map(),
      };
      // Catches up with what a previous leader published but did not archive.
      this.archiveFrom(lease);
      let lastHeadAt = this.now();
      let entriesPerRead = MAX_ENTRIES_PER_READ;
      let committing: ReadonlySet<string> = new Set();
      let carry: Opened[] = [];
      // Each read starts after the last entry of the read before it; opening overlaps the next read.
      let reading: Promise<unknown> = Promise.resolve();
      const readAhead = (blockMs: number): Promise<Opened[]> => {
        const read = reading.then(async () => {
          const entries = await this.store.readIngest(cursor, entriesPerRead, blockMs);
          if (entries.length > 0) cursor = entries.at(-1)!.id;
          return entries;
        });
        reading = read.catch(() => undefined);
        const opened = read.then((entries) => this.openAll(entries));
        opened.catch(() => undefined);
        return opened;
      };
      while (!lost && !this.stopping) {
        let pending = carry;
        carry = [];
        if (pending.length === 0)
          pending = await (ahead.shift() ?? readAhead(inFlight ? 0 : this.headIntervalMs));
        if (lost) break;
        if (pending.length > 0) {
          // The next entries are read and opened (on the open workers, if any) while these are chained.
          while (ahead.length < READ_AHEAD) ahead.push(readAhead(0));
          const { plan, rest } = await this.plan(pending, state, ledger, committing);
          carry = rest;
          // Read about one commit's worth next time (entries hold one batch of any size each).
          const perEntry = plan.bytes / plan.consumed.length;
          entriesPerRead = Math.min(MAX_ENTRIES_PER_READ, Math.ceil(this.maxCommitBytes / perEntry));
          await settle();
          inFlight = this.commit(lease, state, plan);
          committing = new Set(plan.batches);
          // Attached now so that a failure is never unhandled; settle() rethrows it.
          inFlight.catch(() => undefined);
          state = plan.state;
        }
        if (
          state.seq > signedSeq &&
          (pending.length === 0 || this.now() - lastHeadAt >= this.headIntervalMs)
        ) {
          await settle();
          if (await this.publishCheckpoint(lease, state, ledger)) {
            signedSeq = state.seq;
            this.archiveFrom(lease);
          }
          lastHeadAt = this.now();
        } else if (pending.length === 0) {
          // Idle: what the hot tail's time bound held back can be trimmed now (ledger/archive.ts).
          this.archiveFrom(lease);
        }
      }
      await settle();
      if (lost) this.log('warn', `lease lost (fencing token ${lease.fence}); waiting to lead again`);
      if (this.stopping && !lost && state.seq > signedSeq) await this.publishCheckpoint(lease, state, ledger);
      if (this.stopping) await this.store.releaseLease(lease);
    } finally {
      clearInterval(renewal);
      await Promise.all([inFlight, this.archiving, ...ahead].map((p) => p?.catch(() => undefined)));
    }
  }

  /**
   * Archives what the latest checkpoint sealed, beside the chaining, unless a run is under way
   * (the next checkpoint starts another). A failure is logged and counted; nothing is trimmed
   * that the archive does not hold, and the next run starts from the store's frontier again.
   */
  private archiveFrom(lease: LedgerLease): void {
    const archiver = this.options.archiver;
    if (!archiver) return;
    // A checkpoint published during a run is archived by the same run, once it has done the last.
    this.archiveAgain = true;
    if (this.archiving) return;
    const status = this.observed.archive!;
    this.archiving = (async () => {
      try {
        while (this.archiveAgain && !this.stopping) {
          this.archiveAgain = false;
          const { archived, trimmed, more } = await archiver.step(lease);
          Object.assign(status, { archived, trimmed, at: this.now() });
          this.archiveAgain ||= more;
        }
      } catch (e) {
        status.failures++;
        this.log(
          isGovernanceError(e, 'ledger.fenced') ? 'warn' : 'error',
          `archive ${archiver.archive.location}: ${(e as Error).message}`,
        );
      } finally {
        this.archiving = undefined;
      }
    })();
  }

  private async commit(lease: LedgerLease, from: ChainState, plan: Plan): Promise<void> {
    const last = plan.records.at(-1);
    await this.store.commit({
      lease,
      expect: { seq: from.seq, eventHash: from.seq === 0 ? '' : eventHashRef(from.hash) },
      records: plan.records.map((r) => r.text),
      eventHash: last ? eventHashRef(plan.state.hash) : '',
      eventHashAlt: last ? eventHashAltRef(plan.state.alt) : '',
      consumed: plan.consumed,
      batches: plan.batches,
      // A copy is refused as stale two windows after its original reached the stream (§11.4).
      ...(this.options.replayWindowMs !== undefined && {
        forgetBatchesBefore: ingestMillis(plan.consumed.at(-1)?.ingestId) - 2 * this.options.replayWindowMs,
      }),
      tiles: plan.tiles,
      ...(plan.openings.length > 0 ? { openings: plan.openings } : {}),
    });
    const now = this.now();
    this.chained += plan.records.length;
    this.observed.events += plan.events;
    this.observed.rejected += plan.consumed.filter((c) => 'rejected' in c).length;
    this.observed.tipSeq = plan.state.seq;
    // Consumed entries are in stream order: the last is the newest.
    const newest = plan.consumed.at(-1)?.ingestId;
    this.observed.lastCommit = {
      at: now,
      lagMs: newest === undefined ? 0 : Math.max(0, now - ingestMillis(newest)),
    };
  }

  /**
   * Signs a checkpoint of the tip, has it cosigned, and publishes it with the index nodes it
   * commits to. False when too few witnesses cosigned: the index changes stay pending.
   */
  private async publishCheckpoint(lease: LedgerLease, state: ChainState, ledger: Ledger): Promise<boolean> {
    for (const [lineage, position] of ledger.latest)
      ledger.index.set(indexKey(this.suite, lineage), valueOfPosition(position));
    ledger.latest.clear();
    const signed = signCheckpoint(
      this.suite,
      {
        log: this.store.log,
        size: state.seq,
        root: ledger.tree.root(),
        chain: { hash: state.hash, alt: state.alt },
        index: ledger.index.root(),
        time: formatMillis(this.now()),
      },
      { publicKey: this.auditPublicKey, sign: (message) => signSync(this.options.auditKey, message) },
    );
    const witnesses = this.options.witnesses;
    let cosigned = 0;
    if (witnesses) {
      const cosignatures = await witnesses.cosign(checkpointNote(signed), state.seq, (old) =>
        this.consistency(old, state.seq),
      );
      cosigned = cosignatures.length;
      this.observed.cosignatures += cosigned;
      if (cosignatures.length < witnesses.threshold) {
        this.observed.unwitnessed++;
        this.log(
          'warn',
          `checkpoint at ${state.seq}: ${cosignatures.length} of ${witnesses.threshold} witness cosignatures; not published`,
        );
        return false;
      }
      signed.signatures.push(...cosignatures);
    }
    await this.store.publishCheckpoint(lease, {
      seq: state.seq,
      eventHash: eventHashRef(state.hash),
      text: checkpointNote(signed),
      index: ledger.index.takeChanges(INDEX_SHARD_BITS),
    });
    this.observed.checkpointsPublished++;
    this.observed.lastHead = { seq: state.seq, at: this.now(), cosignatures: cosigned };
    return true;
  }

  /** The consistency proof from `old` to `size` (the tip), from the stored tiles. */
  private async consistency(old: number, size: number): Promise<Uint8Array[]> {
    if (old < 1 || old >= size) return [];
    return consistencyProof(
      this.suite,
      await treeHashes(this.suite, this.store, size, { consistency: old }),
      old,
      size,
    );
  }

  /**
   * Opens entries (on the open workers when there are some). An entry refused for an unknown kid
   * is opened again once with reloaded producer keys, at most once a second: a producer may have
   * been certified since they were loaded.
   */
  private async openAll(entries: IngestEntry[]): Promise<Opened[]> {
    if (entries.length === 0) return [];
    const texts = entries.map((e) => e.batch);
    const results = this.pool
      ? await this.pool.open(texts)
      : texts.map((text) => openEntry(this.suite, this.store.log, text, this.producers));
    const retry = results.some((r) => 'unknownKid' in r && r.unknownKid);
    if (retry && this.now() - this.producersLoadedAt >= 1000) {
      await this.loadProducers();
      results.forEach((r, i) => {
        if ('unknownKid' in r && r.unknownKid)
          results[i] = openEntry(this.suite, this.store.log, texts[i]!, this.producers);
      });
    }
    return entries.map((entry, i) => {
      const r = results[i]!;
      return { entry, result: 'batch' in r ? r.batch : new GovernanceError(r.code, r.message) };
    });
  }

  /** The ledger's own record of a refused entry; the entry itself goes to the dead-letter stream. */
  private rejection(entry: IngestEntry, error: GovernanceError): LedgerEvent {
    return {
      v: EVENT_VERSION,
      type: 'ledger.rejected',
      time: formatMillis(this.now()),
      producer: `ledger://${this.store.log}`,
      reason: error.code,
      data: {
        ingest_id: entry.id,
        entry_sha3: eventHashRef(this.suite.sha3_512(utf8Encode(entry.batch))),
        entry_chars: entry.batch.length,
        detail: error.message.slice(0, 256),
      },
    };
  }

  /**
   * Lays out the records of opened entries, up to one commit's worth (the rest is returned): one
   * record per accepted batch, in ingest order, then the records of ledger.rejected events (signed
   * by the audit key) for the refused entries. `committing` holds the batches of the commit still
   * in flight.
   */
  private async plan(
    entries: Opened[],
    start: ChainState,
    { tree, index, latest }: Ledger,
    committing: ReadonlySet<string>,
  ): Promise<{ plan: Plan; rest: Opened[] }> {
    let taken = 0;
    let bytes = 0;
    for (const { entry } of entries) {
      if (taken > 0 && bytes + entry.batch.length > this.maxCommitBytes) break;
      taken++;
      bytes += entry.batch.length;
    }
    const opened = entries.slice(0, taken);
    this.refuseStale(opened);
    await this.refuseReplays(opened, committing);
    const plan: Plan = {
      records: [],
      tiles: new Map(),
      consumed: [],
      batches: [],
      openings: [],
      state: start,
      bytes: 0,
      events: 0,
    };
    const append = (batch: OpenedBatch) => {
      const seq = plan.state.seq + 1;
      const prevs = batch.lineages.map((lineage, i): EventPosition | null => {
        if (lineage === undefined) return null;
        const indexed = latest.has(lineage) ? undefined : index.get(indexKey(this.suite, lineage));
        const prev =
          latest.get(lineage) ?? (indexed === undefined ? null : indexedPosition(lineage, indexed));
        latest.set(lineage, [seq, i]);
        return prev;
      });
      const { record, state, lineagePrev } = linkRecord(
        plan.state,
        batch.events,
        batch.kid,
        prevs,
        batch.val,
      );
      plan.records.push(record);
      plan.bytes += record.text.length;
      plan.events += batch.lineages.length;
      plan.state = state;
      plan.batches.push(batch.val);
      batch.openings?.forEach((opened, i) => {
        for (const [member, text] of opened) plan.openings.push([seq, i, member, text]);
      });
      return lineagePrev;
    };
    const refused: { entry: IngestEntry; error: GovernanceError }[] = [];
    for (const { entry, result } of opened) {
      if (result instanceof GovernanceError) {
        refused.push({ entry, error: result });
        const raw = entry.batch.slice(0, DEAD_LETTER_CHARS);
        plan.consumed.push({
          ingestId: entry.id,
          rejected: { code: result.code, message: result.message, entry: raw },
        });
        this.log('warn', `rejected ingest entry ${entry.id}: ${result.code}: ${result.message}`);
      } else {
        plan.consumed.push({ ingestId: entry.id, seq: plan.state.seq + 1, lineagePrev: append(result) });
      }
    }
    // The audit key signs the rejections of this commit, in as few records as fit (§11.4).
    for (const events of fitRecords(
      refused.map(({ entry, error }) => validateEvent(this.rejection(entry, error))),
      this.options.auditKid.length,
    )) {
      const sealed = sealBatch(
        this.suite,
        this.store.log,
        this.options.auditKid,
        this.options.auditKey,
        events,
      );
      append(openBatch(this.suite, this.store.log, sealed.entry, this.ownSigner));
    }
    tree.append(plan.records.map((r) => r.leaf));
    plan.tiles = storedTiles(tree.takeChanged());
    return { plan, rest: entries.slice(taken) };
  }

  /**
   * Refuses (ledger.batch.stale) a batch with an event older or newer than the replay window
   * around its entry's arrival: a copy appended later than that could be one whose original the
   * batch set has forgotten.
   */
  private refuseStale(opened: Opened[]): void {
    const window = this.options.replayWindowMs;
    if (window === undefined) return;
    for (const o of opened) {
      if (o.result instanceof GovernanceError) continue;
      const arrived = ingestMillis(o.entry.id);
      const [first, last] = o.result.times;
      if (first < arrived - window || last > arrived + window)
        o.result = new GovernanceError(
          'ledger.batch.stale',
          `batch events from ${formatMillis(first)} to ${formatMillis(last)} reached the ingest stream at ${formatMillis(arrived)}, outside the ${window} ms replay window`,
        );
    }
  }

  /**
   * Refuses (ledger.batch.replayed) an entry whose batch is already chained, is in the commit in
   * flight, or came earlier in these entries: a copy of a genuine entry carries a valid signature,
   * so only its batch's identity (the signature) tells it apart.
   */
  private async refuseReplays(opened: Opened[], committing: ReadonlySet<string>): Promise<void> {
    const accepted = opened.filter((o) => !(o.result instanceof GovernanceError));
    const vals = accepted.map((o) => (o.result as OpenedBatch).val);
    const chained = await this.store.chainedBatches(vals);
    const named = new Set(committing);
    accepted.forEach((o, i) => {
      const val = vals[i]!;
      if (chained[i] || named.has(val))
        o.result = new GovernanceError(
          'ledger.batch.replayed',
          `batch ${val.slice(0, 16)}… is already chained`,
        );
      named.add(val);
    });
  }
}

/** Canonical events in order, cut into runs whose records fit (EVENT_LIMITS, recordBytesBound). */
function fitRecords(events: Uint8Array[], kidLength: number): Uint8Array[][] {
  const runs: Uint8Array[][] = [];
  let run: Uint8Array[] = [];
  let bytes = 1;
  for (const event of events) {
    const fits =
      run.length < EVENT_LIMITS.batchSize &&
      recordBytesBound(bytes + event.length + 1, run.length + 1, kidLength) <= EVENT_LIMITS.recordBytes;
    if (!fits && run.length > 0) {
      runs.push(run);
      [run, bytes] = [[], 1];
    }
    run.push(event);
    bytes += event.length + 1;
  }
  if (run.length > 0) runs.push(run);
  return runs;
}

/** A lineage's latest position as the stored index holds it; a value that is none fails closed. */
function indexedPosition(lineage: string, value: Uint8Array): EventPosition {
  const position = positionOfValue(value);
  if (!position)
    throw new GovernanceError(
      'ledger.index.mismatch',
      `the index value of ${lineage.slice(0, 128)} is not a position`,
    );
  return position;
}
