// The producer side of the ledger: events queued within one turn of the event loop (or up to
// maxBatch of them, or what fits in one record) are sealed with ONE signature and appended to
// the ingest stream in one transaction; the sequencer chains each batch as one record. Chaining
// is tracked through the sequencer's commit notices (one blocking read per writer, not a round
// trip per event). Then the writer holds the operator to it: every batch it appended must be
// proven — its record, spelt from the batch and the notice's seq and lineage_prev, a leaf of the
// tree of a checkpoint signed by an audit key and cosigned as the witness policy requires —
// within the commit window. A batch late halts the producer (ledger.unavailable, white paper
// §11.4) until it is proven; a batch that a checkpoint covers without holding it halts it for
// good (ledger.batch.missing): the sequencer left it out or rewrote it, and the producer that
// signed it is the one who can tell.
import { randomBytes, type KeyObject } from 'node:crypto';
import { nodeCrypto } from '../core/crypto-node.js';
import type { CryptoSuite } from '../core/crypto.js';
import type { LedgerKey } from '../core/chain.js';
import { parseCheckpointNote, verifyCheckpoint, type WitnessPolicy } from '../core/checkpoint.js';
import { utf8Encode } from '../core/encoding.js';
import { GovernanceError } from '../core/errors.js';
import { EVENT_LIMITS, recordBytesBound, validateEvent, type LedgerEvent } from '../core/event.js';
import { commitEvent, SALT_BYTES, type RedactableMember } from '../core/redaction.js';
import { inclusionProof, tlogLeafHash, verifyInclusion } from '../core/tlog.js';
import type { CommitNotice, CommitSubscription, LedgerStore } from '../store/ledger-types.js';
import { sealBatch } from './ingest.js';
import { treeHashes } from './tree.js';
import type { LedgerHalt, LedgerWriter, Receipt } from './types.js';

export interface LedgerWriterOptions {
  store: LedgerStore;
  /** The producer key (certified in the registry) and its kid. */
  kid: string;
  privateKey: KeyObject;
  suite?: CryptoSuite;
  /**
   * Events per batch signature at most (default 256); a batch also ends where its record would
   * exceed EVENT_LIMITS.recordBytes (64 KiB), so large events make smaller batches.
   */
  maxBatch?: number;
  /**
   * Age above which a batch not yet proven in a checkpoint halts the writer (default 5000 ms: a
   * checkpoint comes about every second, and witnesses answer within the sequencer's timeout).
   */
  commitWindowMs?: number;
  /**
   * What a checkpoint must satisfy to prove this writer's batches: signed by one of these audit
   * keys (asked again for every new checkpoint, so a rotated key is picked up) and, with a
   * policy, cosigned by enough of its witnesses.
   */
  checkpoints: { auditKeys: () => ReadonlyMap<string, LedgerKey>; witnesses?: WitnessPolicy };
  /**
   * Members to commit in every event (docs/spec/ledger.md §3.1; default none): each is replaced by
   * a salted commitment before the batch is signed, and its opening is sent beside the batch, to
   * be stored beside the chain and erased when it must be. Members an event lacks are skipped,
   * and so is the `data` of admission.granted and attestation.signed (the lineage check reads it).
   */
  redact?: readonly RedactableMember[];
  now?: () => number;
  log?: (level: 'warn' | 'error', message: string) => void;
}

/** One append() call: its events, and what waits for them. */
interface AppendCall {
  events: Uint8Array[];
  /** The openings of each event's commitments (canonical texts), when the writer redacts. */
  openings: string[][];
  queuedAt: number;
  appended: Deferred<void>;
  /** Set by appendAndWait: resolves with one receipt per event once all are chained. */
  chained?: Deferred<Receipt[]> & { receipts: Receipt[]; missing: number };
}

/** A sealed batch: which events of which calls it holds, and where the sequencer chained it. */
interface Batch {
  queuedAt: number;
  parts: { call: AppendCall; from: number; count: number }[];
  /** How its record starts (events, kid) and its signature: what the record must hold. */
  head: string;
  val: string;
  /** Its record's seq and lineage_prev text, once chained: with them the writer spells the record. */
  seq?: number;
  lineagePrev?: string;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined); // a caller that only awaits `appended` must not see an unhandled rejection
  return { promise, resolve, reject };
}

const RETRY_MS = 200;
/** How often the writer looks for a new checkpoint while batches wait to be proven. */
const PROOF_POLL_MS = 200;
/**
 * Notices for ids this writer does not know (yet) that are kept: a notice can overtake the reply
 * to the append it concerns, which arrives on another connection.
 */
const EARLY_NOTICES = 4096;

export async function createLedgerWriter(options: LedgerWriterOptions): Promise<LedgerWriter> {
  return new BatchingLedgerWriter(options, await options.store.subscribeCommits());
}

class BatchingLedgerWriter implements LedgerWriter {
  private readonly suite: CryptoSuite;
  private readonly maxBatch: number;
  private readonly commitWindowMs: number;
  private readonly now: () => number;
  private queue: AppendCall[] = [];
  private queuedEvents = 0;
  private flushScheduled = false;
  /** Sealed batches not yet chained, oldest first (insertion order). */
  private readonly outstanding = new Set<Batch>();
  /** Chained batches not yet proven in a checkpoint, in chain order. */
  private readonly unproven = new Set<Batch>();
  /** The text of the last checkpoint that verified, so that it is not verified at every poll. */
  private verifiedText = '';
  /** Set when a checkpoint covered a batch without holding it: halted for good. */
  private missing: { since: number; message: string } | undefined;
  private proving: Promise<void> | undefined;
  /** The size of the last checkpoint that did not verify (logged once). */
  private refusedSize = 0;
  private proofTimer: NodeJS.Timeout | undefined;
  private readonly byIngestId = new Map<string, Batch>();
  private readonly earlyNotices = new Map<string, CommitNotice>();
  /** A rejected batch is never chained: the writer stays halted from then on (fail closed). */
  private rejectedSince: number | undefined;
  private closed = false;
  private readonly listening: Promise<void>;

  constructor(
    private readonly options: LedgerWriterOptions,
    private readonly subscription: CommitSubscription,
  ) {
    this.suite = options.suite ?? nodeCrypto;
    this.maxBatch = Math.min(options.maxBatch ?? 256, EVENT_LIMITS.batchSize);
    this.commitWindowMs = options.commitWindowMs ?? 5000;
    this.now = options.now ?? Date.now;
    this.listening = this.listen();
  }

  append(events: LedgerEvent[]): Promise<void> {
    return this.enqueue(events, false).appended.promise;
  }

  async appendAndWait(events: LedgerEvent[], timeoutMs = this.commitWindowMs): Promise<Receipt[]> {
    const call = this.enqueue(events, true);
    await call.appended.promise;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new GovernanceError('ledger.unavailable', `events not chained within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([call.chained!.promise, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  commitLagMs(): number {
    const oldest = Math.min(
      this.queue[0]?.queuedAt ?? Infinity,
      this.outstanding.values().next().value?.queuedAt ?? Infinity,
      this.unproven.values().next().value?.queuedAt ?? Infinity,
      this.rejectedSince ?? Infinity,
      this.missing?.since ?? Infinity,
    );
    return oldest === Infinity ? 0 : Math.max(0, this.now() - oldest);
  }

  halt(): LedgerHalt | undefined {
    if (this.missing) return { reason: 'ledger.batch.missing', message: this.missing.message };
    if (this.commitLagMs() <= this.commitWindowMs) return undefined;
    return {
      reason: 'ledger.unavailable',
      message: `an appended batch is not proven in a checkpoint within ${this.commitWindowMs} ms (halt)`,
    };
  }

  batchesMissing(): number {
    return this.missing ? 1 : 0;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.flush();
    this.subscription.close();
    clearTimeout(this.proofTimer);
    await Promise.all([this.listening, this.proving]);
    const error = new GovernanceError('ledger.unavailable', 'ledger writer closed');
    for (const batch of this.outstanding) for (const { call } of batch.parts) call.chained?.reject(error);
  }

  /** Validates at once, so that a bad event fails only its own call, not the batch it would join. */
  private enqueue(events: LedgerEvent[], wantReceipts: boolean): AppendCall {
    const call: AppendCall = { events: [], openings: [], queuedAt: this.now(), appended: deferred() };
    try {
      if (this.closed) throw new GovernanceError('ledger.unavailable', 'ledger writer closed');
      const redact = this.options.redact ?? [];
      if (redact.length === 0) call.events = events.map((e) => validateEvent(e));
      else {
        for (const clear of events) {
          const { event, openings } = commitEvent(this.suite, clear, redact, () => randomBytes(SALT_BYTES));
          call.events.push(validateEvent(event));
          call.openings.push(openings);
        }
      }
    } catch (e) {
      call.appended.reject(e);
      return call;
    }
    if (wantReceipts)
      call.chained = Object.assign(deferred<Receipt[]>(), { receipts: [], missing: events.length });
    if (events.length === 0) {
      call.appended.resolve();
      call.chained?.resolve([]);
      return call;
    }
    this.queue.push(call);
    this.queuedEvents += events.length;
    if (this.queuedEvents >= this.maxBatch) void this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => void this.flush());
    }
    return call;
  }

  private async flush(): Promise<void> {
    this.flushScheduled = false;
    const calls = this.queue;
    if (calls.length === 0) return;
    this.queue = [];
    this.queuedEvents = 0;
    const batches: Batch[] = [];
    const texts: string[] = [];
    const { kid } = this.options;
    let parts: Batch['parts'] = [];
    let sealed: Uint8Array[] = [];
    let openings: string[][] = [];
    let arrayBytes = 1;
    const seal = () => {
      if (sealed.length === 0) return;
      const { entry, events, val } = sealBatch(
        this.suite,
        this.options.store.log,
        kid,
        this.options.privateKey,
        sealed,
        openings,
      );
      texts.push(entry);
      const head = `{"events":${events},"kid":${JSON.stringify(kid)},"lineage_prev":`;
      const batch: Batch = { queuedAt: parts[0]!.call.queuedAt, parts, head, val };
      batches.push(batch);
      this.outstanding.add(batch);
      [parts, sealed, openings, arrayBytes] = [[], [], [], 1];
    };
    for (const call of calls) {
      for (const [i, event] of call.events.entries()) {
        // A record is one entry of the tree, at most EVENT_LIMITS.recordBytes (docs/spec/ledger.md §4).
        const fits =
          sealed.length < this.maxBatch &&
          recordBytesBound(arrayBytes + event.length + 1, sealed.length + 1, kid.length) <=
            EVENT_LIMITS.recordBytes;
        if (!fits) seal();
        const part = parts.at(-1);
        if (part?.call === call) part.count++;
        else parts.push({ call, from: i, count: 1 });
        sealed.push(event);
        openings.push(call.openings[i] ?? []);
        arrayBytes += event.length + 1;
      }
    }
    seal();
    let ids: string[];
    try {
      ids = await this.options.store.appendIngest(texts);
    } catch (e) {
      for (const batch of batches) this.outstanding.delete(batch);
      for (const call of calls) {
        call.appended.reject(e);
        call.chained?.reject(e);
      }
      return;
    }
    batches.forEach((batch, i) => this.byIngestId.set(ids[i]!, batch));
    for (const call of calls) call.appended.resolve();
    for (const id of ids) {
      const notice = this.earlyNotices.get(id);
      if (notice) await this.onNotice(notice);
    }
  }

  private async listen(): Promise<void> {
    while (!this.closed) {
      try {
        for (const notice of await this.subscription.next(500)) await this.onNotice(notice);
      } catch {
        if (!this.closed) await new Promise((r) => setTimeout(r, RETRY_MS));
      }
    }
  }

  private async onNotice(notice: CommitNotice): Promise<void> {
    const batch = this.byIngestId.get(notice.ingestId);
    if (!batch) {
      // Most likely another writer's batch.
      this.earlyNotices.set(notice.ingestId, notice);
      if (this.earlyNotices.size > EARLY_NOTICES)
        this.earlyNotices.delete(this.earlyNotices.keys().next().value!);
      return;
    }
    this.byIngestId.delete(notice.ingestId);
    this.earlyNotices.delete(notice.ingestId);
    this.outstanding.delete(batch);
    if ('rejected' in notice) {
      this.rejectedSince ??= batch.queuedAt;
      const error = new GovernanceError(notice.rejected, `the sequencer rejected batch ${notice.ingestId}`);
      for (const { call } of batch.parts) call.chained?.reject(error);
      return;
    }
    batch.seq = notice.seq;
    batch.lineagePrev = notice.lineagePrev;
    this.unproven.add(batch);
    this.scheduleProof();
    this.resolveReceipts(batch);
  }

  private scheduleProof(): void {
    // A proof in flight schedules the next one when it ends.
    if (this.proofTimer || this.proving || this.closed) return;
    this.proofTimer = setTimeout(() => {
      this.proofTimer = undefined;
      this.proving = this.prove()
        .catch((e: unknown) => this.options.log?.('warn', `checkpoint proof: ${(e as Error).message}`))
        .finally(() => {
          this.proving = undefined;
          if (this.unproven.size > 0 && !this.missing) this.scheduleProof();
        });
    }, PROOF_POLL_MS);
  }

  /**
   * Checks the unproven batches a new checkpoint covers: it must verify under the trusted keys
   * and witness policy (or it proves nothing, and the batches wait), and each batch's record must
   * hold what was sealed and be a leaf of its tree.
   */
  private async prove(): Promise<void> {
    const { store } = this.options;
    const stored = await store.latestCheckpoint();
    if (!stored) return;
    // Not "only checkpoints newer than the last one checked": a commit notice can arrive after
    // the checkpoint that covers its batch (the ingest reply is late under load), and on a quiet
    // log no newer checkpoint would come to prove it.
    const coveredBy = (size: number) => [...this.unproven].filter((b) => b.seq! <= size);
    if (coveredBy(stored.seq).length === 0) return;
    const signed = parseCheckpointNote(stored.text);
    if (stored.text !== this.verifiedText) {
      const trust = this.options.checkpoints;
      try {
        verifyCheckpoint(this.suite, signed, trust.auditKeys(), trust.witnesses);
      } catch (e) {
        // Checked again at every poll (a rotated audit key may be trusted by then), said once.
        if (this.refusedSize !== stored.seq)
          this.options.log?.('warn', `checkpoint at ${stored.seq} proves nothing: ${(e as Error).message}`);
        this.refusedSize = stored.seq;
        return;
      }
      this.verifiedText = stored.text;
    }
    const { size, root } = signed.checkpoint;
    const covered = coveredBy(size);
    if (covered.length === 0) return;
    const hashes = await treeHashes(this.suite, store, size, { inclusion: covered.map((b) => b.seq! - 1) });
    for (const batch of covered) {
      const seq = batch.seq!;
      // The record as the batch and the commit notice spell it; the tree must hold exactly it.
      const text = recordText(batch);
      const proven =
        text !== undefined &&
        verifyInclusion(
          this.suite,
          tlogLeafHash(this.suite, utf8Encode(text)),
          seq - 1,
          size,
          inclusionProof(this.suite, hashes, seq - 1, size),
          root,
        );
      if (!proven) {
        const message = `the checkpoint at ${size} does not hold the batch chained as record ${seq} (halt)`;
        this.missing ??= { since: batch.queuedAt, message };
        this.options.log?.('error', message);
        return;
      }
      this.unproven.delete(batch);
    }
  }

  /** Receipts for the calls that wait for them: where each event of the batch was chained. */
  private resolveReceipts(batch: Batch): void {
    let index = 0;
    for (const { call, from, count } of batch.parts) {
      const chained = call.chained;
      if (chained) {
        for (let i = 0; i < count; i++) chained.receipts[from + i] = { seq: batch.seq!, index: index + i };
        chained.missing -= count;
        if (chained.missing === 0) chained.resolve(chained.receipts);
      }
      index += count;
    }
  }
}

/** A lineage_prev array as the sequencer spells it (§6): one entry per event. */
const PREVS = /^\[(?:null|\[[1-9]\d*,(?:0|[1-9]\d*)\])(?:,(?:null|\[[1-9]\d*,(?:0|[1-9]\d*)\]))*\]$/;

/**
 * The batch's record: its events, kid and signature, at the seq and with the lineage_prev the
 * commit notice gave — undefined when that lineage_prev is not one entry per event. Which entries
 * they are, a verifier checks against the log; that the tree holds this record, the writer.
 */
function recordText(batch: Batch): string | undefined {
  const prevs = batch.lineagePrev ?? '';
  const count = batch.parts.reduce((n, p) => n + p.count, 0);
  if (!PREVS.test(prevs) || (prevs.match(/null|\[\d/g)?.length ?? 0) !== count) return undefined;
  return `${batch.head}${prevs},"seq":${batch.seq},"val":"${batch.val}"}`;
}
