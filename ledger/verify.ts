// The third-party verifier (docs/spec/ledger.md §Verification, white paper §9.5). It trusts
// nothing it reads: every line is bounded, parsed and shape-checked before any hash or signature
// is computed, and every problem becomes a failure naming a ledger.* code and the sequence number,
// never a throw. It recomputes both chains and every producer signature (a batch costs one
// Ed25519 verification), and checks that the signed heads cover exactly the chain.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { attestationRef } from '../core/attestation.js';
import type { CryptoSuite } from '../core/crypto.js';
import { parseCanonicalText } from '../core/canonical.js';
import { base64urlDecode, utf8Decode } from '../core/encoding.js';
import { GovernanceError, type Code } from '../core/errors.js';
import {
  chainRecord,
  chainStateOf,
  eventHashRef,
  genesis,
  batchStatement,
  LINEAGE_STAGES,
  verifyHead,
  type ChainRecord,
  type ChainState,
  type SignedHead,
} from '../core/event.js';
import { leafHash, rootFromPath } from '../core/merkle.js';
import type { LedgerStore } from '../store/ledger-types.js';
import { LOG_ID } from '../store/ledger-types.js';
import { EXPORT_FORMAT, exportLines, type ExportHeader } from './export.js';
import type { ChainAnchor, LineageProof } from './types.js';
import {
  BLAKE_REF,
  checkHead,
  checkObject,
  checkRecord,
  headKeyOf,
  parseCanonicalJson,
  SHA3_REF,
  signerKeyOf,
  type LedgerKeys,
} from '../core/chain.js';

export interface VerifyFailure {
  code: Code;
  /** The sequence number the failure is about; null when it concerns the file as a whole. */
  seq: number | null;
  message: string;
}

export interface VerifyProgress {
  records: number;
  lastSeq: number;
  /** Bytes read so far and in total, when verifying a file. */
  bytes?: number;
  totalBytes?: number;
}

export interface VerifyOptions {
  suite: CryptoSuite;
  keys: LedgerKeys;
  /** The log the caller expects; by default the export's header names it (and the heads must agree). */
  log?: string;
  /**
   * A signed head obtained independently (e.g. from the public proof endpoint). The chain must
   * contain exactly the state it signs: an export cut short before it, or edited, fails.
   */
  head?: SignedHead;
  /** Accept an export that starts after seq 1 from its header's anchor; by default the whole chain is required. */
  allowRange?: boolean;
  /** Longest line read (default 1 MiB). */
  maxLineBytes?: number;
  /** Verification stops after this many failures (default 100). */
  maxFailures?: number;
  /** Lineages whose last record is remembered for lineage_prev checks (default 100,000). */
  lineageWindow?: number;
  /**
   * Producer batches remembered to tell a replayed batch (default 1,000,000: about 130 MB at
   * most). A replay of a batch older than the window goes unnoticed; batchesForgotten counts them.
   */
  batchWindow?: number;
  onProgress?: (progress: VerifyProgress) => void;
  /** Records between progress callbacks (default 10,000). */
  progressEvery?: number;
}

export interface VerifyResult {
  ok: boolean;
  log: string | undefined;
  records: number;
  firstSeq: number | undefined;
  lastSeq: number | undefined;
  /** Signed heads checked. */
  heads: number;
  /** The last signed head; when ok, it covers exactly the last record. */
  head: SignedHead | undefined;
  failures: VerifyFailure[];
  /** Records whose lineage_prev could not be checked: their lineage had left the lineage window. */
  lineageUnchecked: number;
  /** Batches that left the batch window: a later copy of one of them would not have been noticed. */
  batchesForgotten: number;
}

const VERIFIED_BATCHES = 1024;

class StopVerification extends Error {}

/** A batch's records being read; `replay` when they repeat a batch already reported as replayed. */
interface BatchRun {
  val: string;
  size: number;
  next: number;
  firstSeq: number;
  replay: boolean;
}

const seqOf = (value: unknown): number | undefined => {
  const seq = (value as { seq?: unknown } | null)?.seq;
  return Number.isSafeInteger(seq) && (seq as number) > 0 ? (seq as number) : undefined;
};

/**
 * Checks records and heads fed to it one by one, in chain order. After a failure it carries on
 * from the record's own hashes, so one edited record is one failure, not a cascade.
 */
class ChainCheck {
  readonly failures: VerifyFailure[] = [];
  records = 0;
  heads = 0;
  firstSeq: number | undefined;
  lastSeq: number;
  head: SignedHead | undefined;
  lineageUnchecked = 0;
  batchesForgotten = 0;
  /** Batch signatures seen, with the index after the last event of each chained so far. */
  private readonly seenBatches = new Map<string, number>();
  /** The batch whose records are being read: its events must follow in index order. */
  private run: BatchRun | undefined;
  /** Whether the next record is the first one read; it may continue a batch begun before the range. */
  private firstRecord: boolean;
  /** Batch statements verified lately (a batch's records are consecutive, so a few suffice). */
  private readonly batches = new Set<string>();
  private readonly signerKey;
  private readonly lineages = new Map<string, string>();
  private lineagesDropped = false;
  /** False after an unreadable record: the next record's hashes cannot be recomputed. */
  private stateKnown = true;
  /** The head the caller obtained independently, once checked, and whether the chain reached it. */
  private readonly given: SignedHead | undefined;
  private givenHeadSeen = false;

  constructor(
    private readonly options: VerifyOptions,
    readonly log: string,
    private state: ChainState,
    /** Whether the chain starts at its genesis (every lineage then starts inside it). */
    private readonly fromGenesis: boolean,
  ) {
    this.lastSeq = state.seq;
    this.firstRecord = !fromGenesis;
    this.signerKey = signerKeyOf(options.keys, log);
    if (options.log !== undefined && options.log !== log)
      this.fail('ledger.head.mismatch', null, `the export is for log ${log}, not ${options.log}`);
    if (options.head) this.given = this.checkGivenHead(options.head);
  }

  private checkGivenHead(value: unknown): SignedHead | undefined {
    let head: SignedHead;
    try {
      head = checkHead(value);
    } catch (e) {
      this.fail('ledger.head.mismatch', null, `the given head is malformed: ${(e as Error).message}`);
      return undefined;
    }
    if (!this.checkHeadSignature(head)) return undefined;
    if (head.log === this.log) return head;
    this.fail('ledger.head.mismatch', head.seq, `the given head is for log ${head.log}, not ${this.log}`);
    return undefined;
  }

  fail(code: Code, seq: number | null, message: string): void {
    this.failures.push({ code, seq, message });
    if (this.failures.length >= (this.options.maxFailures ?? 100)) {
      this.failures.push({ code, seq, message: 'verification stopped: too many failures' });
      throw new StopVerification();
    }
  }

  /** A line that is not a record or head: reported at the next seq (a missing record there is reported again). */
  unreadable(message: string): void {
    this.fail('ledger.event.invalid', this.lastSeq + 1, message);
  }

  /**
   * A line that is not canonical JSON, reported at the next seq: what it holds depends on the
   * parser (a duplicate member is one value to one parser and another to the next), so it is
   * never verified. If it parses at all as a record, the chain carries on from its own hashes,
   * as after a malformed record, so that later hashes and heads still verify.
   */
  notCanonical(line: string, message: string): void {
    const expected = this.lastSeq + 1;
    this.fail('encoding.invalid', expected, `the line after record ${this.lastSeq}: ${message}`);
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      return;
    }
    if (value !== null && typeof value === 'object' && 'event' in value)
      this.adopt(expected, value as Partial<ChainRecord>);
  }

  record(value: unknown): void {
    const expected = this.lastSeq + 1;
    let checked: ReturnType<typeof checkRecord>;
    try {
      checked = checkRecord(value);
    } catch (e) {
      // Taken as the expected record, whatever seq it claims.
      this.fail('ledger.event.invalid', expected, (e as Error).message);
      this.adopt(expected, value as Partial<ChainRecord>);
      return;
    }
    const { record, eventBytes } = checked;
    this.records++;
    this.firstSeq ??= record.seq;
    if (record.seq < expected) {
      // A record out of place: reported, its signature checked, but the chain goes on without it.
      this.fail(
        'ledger.sequence.invalid',
        record.seq,
        `record ${record.seq} out of order (after ${expected - 1})`,
      );
      this.checkSignature(record, eventBytes);
      return;
    }
    let recomputed: ChainState | undefined;
    if (record.seq > expected) {
      const missing = record.seq - 1 > expected ? `${expected}..${record.seq - 1}` : `${expected}`;
      this.fail('ledger.sequence.invalid', expected, `record ${missing} missing (found ${record.seq})`);
    } else if (this.stateKnown) {
      recomputed = this.checkHashes(record);
    }
    this.adopt(record.seq, record, recomputed);
    if (this.checkSignature(record, eventBytes)) this.checkBatch(record);
    this.firstRecord = false;
    this.checkLineage(record);
    const given = this.given;
    if (given && given.seq === record.seq) {
      this.givenHeadSeen = true;
      if (given.event_hash !== record.event_hash || given.event_hash_alt !== record.event_hash_alt)
        this.fail(
          'ledger.head.mismatch',
          given.seq,
          `the given head ${given.seq} does not match record ${given.seq}`,
        );
    }
  }

  /** Recomputes both hashes; returns the new state when both match. */
  private checkHashes(record: ChainRecord): ChainState | undefined {
    const { event, sig, lineage_prev } = record;
    const next = chainRecord(this.options.suite, this.state, { event, sig }, lineage_prev);
    let matches = true;
    for (const member of ['event_hash', 'event_hash_alt'] as const) {
      if (next.record[member] === record[member]) continue;
      matches = false;
      this.fail('ledger.hash.mismatch', record.seq, `${member} of record ${record.seq} does not recompute`);
    }
    return matches ? next.state : undefined;
  }

  /** Continues at `seq` from the recomputed state, or else from the record's own hashes (checked by the next record and the heads). */
  private adopt(seq: number, record: Partial<ChainRecord>, recomputed?: ChainState): void {
    this.lastSeq = seq;
    const state =
      recomputed ??
      chainStateOf({
        seq,
        event_hash: record?.event_hash as string,
        event_hash_alt: record?.event_hash_alt as string,
      });
    this.stateKnown = state !== undefined;
    if (state) this.state = state;
  }

  /**
   * The record's batch signature: its leaf and path lead to a root whose statement (for this log)
   * the kid's key signed. Verified statements are cached by everything they cover and the
   * signature, so a batch costs one Ed25519 verification.
   */
  private checkSignature(record: ChainRecord, eventBytes: Uint8Array): boolean {
    const { sig } = record;
    const suite = this.options.suite;
    const signer = this.signerKey(sig.kid, record.event);
    if ('refused' in signer) {
      this.fail('ledger.signature.invalid', record.seq, `record ${record.seq}: ${signer.refused}`);
      return false;
    }
    const key = signer.key;
    const path = sig.path.map((ref) => Buffer.from(ref.slice(9), 'hex'));
    const root = rootFromPath(suite, leafHash(suite, eventBytes), sig.index, sig.size, path);
    const cacheKey = root && `${sig.kid}|${sig.size}|${Buffer.from(root).toString('hex')}|${sig.val}`;
    const ok =
      cacheKey !== undefined &&
      (this.batches.has(cacheKey) ||
        suite.verifyEd25519(
          key,
          batchStatement(this.log, sig.kid, sig.size, root!),
          base64urlDecode(sig.val)!,
        ));
    if (!ok) {
      this.fail(
        'ledger.signature.invalid',
        record.seq,
        `record ${record.seq}: the producer signature does not verify`,
      );
    } else if (!this.batches.has(cacheKey)) {
      this.batches.add(cacheKey);
      if (this.batches.size > VERIFIED_BATCHES) this.batches.delete(this.batches.values().next().value!);
    }
    return ok;
  }

  /**
   * A batch is chained once, as one run of records with its events in index order (§4): an event
   * of a batch seen before is a replay (reported once per replayed run), and a run that skips or
   * stops short of its last event has lost events. Only the first record read may continue a
   * batch begun before it (a range or a lineage segment).
   */
  private checkBatch(record: ChainRecord): void {
    const { val, index, size } = record.sig;
    const seq = record.seq;
    const run = this.run;
    if (run?.val === val) {
      if (index < run.next && !run.replay)
        this.fail(
          'ledger.batch.replayed',
          seq,
          `record ${seq}: event ${index} of its batch is chained again`,
        );
      else if (index > run.next) this.eventsMissing(seq, run.next, index);
      this.advance(run, index);
      return;
    }
    if (run) this.stopsShort(run, seq);
    const next = this.seenBatches.get(val);
    if (next !== undefined && index < next) {
      this.fail(
        'ledger.batch.replayed',
        seq,
        `record ${seq}: event ${index} of its batch was chained before`,
      );
      this.advance({ val, size, next: index, firstSeq: seq, replay: true }, index);
      return;
    }
    // A new batch, or one resuming after a cut already reported.
    const expected = next ?? (this.firstRecord ? index : 0);
    if (index > expected) this.eventsMissing(seq, expected, index);
    this.advance({ val, size, next: expected, firstSeq: seq, replay: false }, index);
  }

  /** Moves a run past `index`; remembers how far a batch got, and keeps the run open until its last event. */
  private advance(run: BatchRun, index: number): void {
    run.next = Math.max(run.next, index + 1);
    this.run = run.next < run.size ? run : undefined;
    if (run.replay) return;
    const known = this.seenBatches.has(run.val);
    this.seenBatches.set(run.val, run.next);
    if (!known && this.seenBatches.size > (this.options.batchWindow ?? 1_000_000)) {
      this.seenBatches.delete(this.seenBatches.keys().next().value!);
      this.batchesForgotten++;
    }
  }

  /** A batch's run ended (at `seq`: another batch's record, or the end) before its last event. */
  private stopsShort(run: BatchRun, seq: number): void {
    if (run.replay) return;
    this.fail(
      'ledger.batch.incomplete',
      seq,
      `the batch chained from record ${run.firstSeq} stops before its event ${run.next} (it has ${run.size})`,
    );
  }

  private eventsMissing(seq: number, from: number, to: number): void {
    const events = to - 1 > from ? `events ${from}..${to - 1}` : `event ${from}`;
    this.fail('ledger.batch.incomplete', seq, `record ${seq}: ${events} of its batch missing before it`);
  }

  private checkLineage(record: ChainRecord): void {
    const lineage = record.event.lineage;
    if (lineage === undefined) return;
    const tail = this.lineages.get(lineage);
    const prev = record.lineage_prev ?? null;
    if (tail === undefined && (this.lineagesDropped || !this.fromGenesis)) {
      this.lineageUnchecked++;
    } else if (prev !== (tail ?? null)) {
      this.fail(
        'ledger.lineage.invalid',
        record.seq,
        `record ${record.seq}: lineage_prev does not name the previous record of ${lineage}`,
      );
    }
    this.lineages.delete(lineage);
    this.lineages.set(lineage, record.event_hash);
    if (this.lineages.size > (this.options.lineageWindow ?? 100_000)) {
      this.lineages.delete(this.lineages.keys().next().value!);
      this.lineagesDropped = true;
    }
  }

  /** A signed head: it must verify, name this log, and describe the chain right after the record it follows. */
  headLine(value: unknown): void {
    let head: SignedHead;
    try {
      head = checkHead(value);
    } catch (e) {
      this.fail(
        'ledger.head.mismatch',
        seqOf(value) ?? this.lastSeq,
        `malformed head: ${(e as Error).message}`,
      );
      return;
    }
    this.heads++;
    if (!this.checkHeadSignature(head)) return;
    if (head.log !== this.log) {
      this.fail('ledger.head.mismatch', head.seq, `head ${head.seq} is for log ${head.log}, not ${this.log}`);
    } else if (this.matchHead(head)) {
      this.head = head;
    }
  }

  checkHeadSignature(head: SignedHead): boolean {
    const signer = headKeyOf(this.options.keys, head);
    if ('refused' in signer) {
      this.fail('ledger.signature.invalid', head.seq, `head ${head.seq}: ${signer.refused}`);
      return false;
    }
    const ok = verifyHead(this.options.suite, head, signer.key);
    if (!ok)
      this.fail(
        'ledger.signature.invalid',
        head.seq,
        `head ${head.seq}: the audit signature does not verify`,
      );
    return ok;
  }

  /** Whether the head signs exactly the current state (its seq must be the last record's). */
  matchHead(head: SignedHead): boolean {
    if (head.seq > this.lastSeq) {
      this.fail(
        'ledger.head.mismatch',
        this.lastSeq + 1,
        `head ${head.seq} claims more than the chain holds (it ends at ${this.lastSeq})`,
      );
      return false;
    }
    if (head.seq < this.lastSeq || (this.head && head.seq <= this.head.seq)) {
      this.fail(
        'ledger.head.mismatch',
        head.seq,
        `head ${head.seq} is out of place (after record ${this.lastSeq})`,
      );
      return false;
    }
    if (
      !this.stateKnown ||
      head.event_hash !== eventHashRef(this.state.hash) ||
      head.event_hash_alt !== altRef(this.state.alt)
    ) {
      this.fail('ledger.head.mismatch', head.seq, `head ${head.seq} does not match record ${head.seq}`);
      return false;
    }
    return true;
  }

  /**
   * The last head must cover the last record, the given head must have been reached, and the
   * last batch must be complete (a head is signed between commits, so after a whole batch).
   */
  finish(): void {
    if (this.run) this.stopsShort(this.run, this.lastSeq + 1);
    if (!this.head) {
      this.fail('ledger.head.mismatch', this.firstSeq ?? null, 'no signed head covers the chain');
    } else if (this.lastSeq > this.head.seq) {
      this.fail(
        'ledger.head.mismatch',
        this.head.seq + 1,
        `records ${this.head.seq + 1}..${this.lastSeq} are not covered by a signed head`,
      );
    }
    const given = this.given;
    if (given && !this.givenHeadSeen) {
      if (given.seq > this.lastSeq)
        this.fail(
          'ledger.chain.truncated',
          this.lastSeq + 1,
          `the chain ends at ${this.lastSeq}, before the given head ${given.seq}: cut short, or an older chain`,
        );
      else
        this.fail(
          'ledger.head.mismatch',
          given.seq,
          `the given head ${given.seq} is not a record of the chain checked`,
        );
    }
  }
}

/** The code of an error thrown while verifying: its own if it is one the verifier reports (§10.1). */
const verifierCode = (e: unknown): Code =>
  e instanceof GovernanceError && (e.code.startsWith('ledger.') || e.code === 'encoding.invalid')
    ? e.code
    : 'ledger.event.invalid';

const altRef = (hash: Uint8Array) => 'blake2b-512:' + Buffer.from(hash).toString('hex');

/** The chain state an anchor (of a range or a lineage segment) states; throws ledger.event.invalid. */
function stateOfAnchor(value: unknown): ChainState {
  const anchor = checkObject(value, 'anchor', [
    'event_hash',
    'event_hash_alt',
    'seq',
  ]) as unknown as ChainAnchor;
  const state = chainStateOf(anchor);
  if (!state || state.seq < 1 || !SHA3_REF.test(anchor.event_hash) || !BLAKE_REF.test(anchor.event_hash_alt))
    throw new GovernanceError('ledger.event.invalid', 'anchor is malformed');
  return state;
}

function checkHeader(value: unknown): ExportHeader {
  const bad = (message: string): never => {
    throw new GovernanceError('ledger.event.invalid', `export header: ${message}`);
  };
  const header = checkObject(value, 'export header', ['anchor', 'format', 'from', 'log', 'to']);
  if (header.format !== EXPORT_FORMAT) bad(`format must be ${EXPORT_FORMAT}`);
  if (typeof header.log !== 'string' || !LOG_ID.test(header.log)) bad('log is malformed');
  const from = header.from as number;
  if (!Number.isSafeInteger(from) || from < 1) bad('from must be a positive integer');
  if (!Number.isSafeInteger(header.to) || (header.to as number) < from) bad('to must be an integer ≥ from');
  if ((from === 1) !== (header.anchor === null)) bad('anchor must be null exactly when from is 1');
  if (header.anchor !== null) {
    const anchor = checkObject(header.anchor, 'export header anchor', [
      'event_hash',
      'event_hash_alt',
      'seq',
    ]);
    if (anchor.seq !== from - 1) bad('anchor.seq must be from − 1');
  }
  return header as unknown as ExportHeader;
}

function emptyResult(failure: VerifyFailure): VerifyResult {
  return {
    ok: false,
    log: undefined,
    records: 0,
    firstSeq: undefined,
    lastSeq: undefined,
    heads: 0,
    head: undefined,
    failures: [failure],
    lineageUnchecked: 0,
    batchesForgotten: 0,
  };
}

/** Verifies export lines (header, records and heads). Never throws for bad input. */
export async function verifyLines(
  lines: AsyncIterable<string> | Iterable<string>,
  options: VerifyOptions,
  progress: () => Pick<VerifyProgress, 'bytes' | 'totalBytes'> = () => ({}),
): Promise<VerifyResult> {
  let check: ChainCheck | undefined;
  let header: ExportHeader | undefined;
  const every = options.progressEvery ?? 10_000;
  let reported = 0;
  const report = () =>
    options.onProgress?.({ records: check!.records, lastSeq: check!.lastSeq, ...progress() });
  try {
    for await (const line of lines) {
      if (!check) {
        header = checkHeader(parseCanonicalJson(line, 'export header'));
        check = openCheck(header, options);
        continue;
      }
      let value: unknown;
      try {
        value = parseCanonicalText(line);
      } catch (e) {
        check.notCanonical(line, (e as Error).message);
        continue;
      }
      const kind = value !== null && typeof value === 'object' && !Array.isArray(value) ? value : {};
      if ('event' in kind) {
        check.record(value);
        if (check.records - reported >= every) {
          reported = check.records;
          report();
        }
      } else if ('log' in kind) {
        check.headLine(value);
      } else {
        check.unreadable(`the line after record ${check.lastSeq} is neither a record nor a head`);
      }
    }
    if (!check || !header)
      return emptyResult({ code: 'ledger.event.invalid', seq: null, message: 'the export is empty' });
    if (check.lastSeq !== header.to)
      check.fail('ledger.head.mismatch', check.lastSeq + 1, `the header declares records up to ${header.to}`);
    check.finish();
  } catch (e) {
    if (!(e instanceof StopVerification)) {
      const failure: VerifyFailure = {
        code: verifierCode(e),
        seq: check ? check.lastSeq + 1 : null,
        message: (e as Error).message,
      };
      if (!check) return emptyResult(failure);
      check.failures.push(failure);
    }
  }
  report();
  return {
    ok: check!.failures.length === 0,
    log: check!.log,
    records: check!.records,
    firstSeq: check!.firstSeq,
    lastSeq: check!.records > 0 ? check!.lastSeq : undefined,
    heads: check!.heads,
    head: check!.head,
    failures: check!.failures,
    lineageUnchecked: check!.lineageUnchecked,
    batchesForgotten: check!.batchesForgotten,
  };
}

function openCheck(header: ExportHeader, options: VerifyOptions): ChainCheck {
  const start = header.anchor ? stateOfAnchor(header.anchor) : genesis(options.suite, header.log);
  const check = new ChainCheck(options, header.log, start, header.anchor === null);
  if (header.anchor && !options.allowRange)
    check.fail('ledger.sequence.invalid', 1, `the export starts at seq ${header.from}, not at the genesis`);
  return check;
}

/** Lines of a file, each at most maxBytes, decoded as strict UTF-8. */
async function* fileLines(
  path: string,
  maxBytes: number,
  onBytes: (bytes: number) => void,
): AsyncGenerator<string> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const decode = (parts: Buffer[]) => {
    const text = utf8Decode(Buffer.concat(parts));
    if (text === undefined) throw new GovernanceError('encoding.invalid', 'a line is not valid UTF-8');
    return text;
  };
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    onBytes(chunk.length);
    let start = 0;
    for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, start)) {
      if (pendingBytes + nl - start > maxBytes) break;
      pending.push(chunk.subarray(start, nl));
      yield decode(pending);
      pending = [];
      pendingBytes = 0;
      start = nl + 1;
    }
    pending.push(chunk.subarray(start));
    pendingBytes += chunk.length - start;
    if (pendingBytes > maxBytes)
      throw new GovernanceError('ledger.event.invalid', `a line is longer than ${maxBytes} bytes`);
  }
  if (pendingBytes > 0) yield decode(pending);
}

/** Verifies an export file, streaming, in memory bounded by the line limit and the lineage window. */
export async function verifyExportFile(path: string, options: VerifyOptions): Promise<VerifyResult> {
  let totalBytes: number;
  try {
    totalBytes = (await stat(path)).size;
  } catch (e) {
    return emptyResult({
      code: 'ledger.event.invalid',
      seq: null,
      message: `cannot read ${path}: ${(e as Error).message}`,
    });
  }
  let bytes = 0;
  const lines = fileLines(path, options.maxLineBytes ?? 1 << 20, (n) => (bytes += n));
  return verifyLines(lines, options, () => ({ bytes, totalBytes }));
}

/** Verifies the chain in a store up to its latest signed head (the same checks as for an export). */
export function verifyStore(store: LedgerStore, options: VerifyOptions): Promise<VerifyResult> {
  return verifyLines(exportLines(store), options);
}

export interface LineageVerifyResult {
  ok: boolean;
  /** The lineage's records, in chain order (those the proof holds). */
  records: ChainRecord[];
  /** The signed heads the proof's segments end at. */
  heads: SignedHead[];
  failures: VerifyFailure[];
}

/** Most records a lineage proof may hold (bounds the work an untrusted proof can cause). */
const MAX_PROOF_RECORDS = 1_000_000;

/**
 * Verifies one operation's lineage (white paper §9.5): every segment recomputes from its anchor
 * (the genesis when null) to a signed head, the lineage's records link by lineage_prev from the
 * first (null) to the last, and each is in the chain under a head signed by an audit key.
 */
export function verifyLineageProof(proof: unknown, options: VerifyOptions): LineageVerifyResult {
  const result: LineageVerifyResult = { ok: false, records: [], heads: [], failures: [] };
  const fail = (code: Code, seq: number | null, message: string) =>
    result.failures.push({ code, seq, message });
  const { lineage, segments } = (proof ?? {}) as Partial<LineageProof>;
  if (typeof lineage !== 'string' || !Array.isArray(segments) || segments.length === 0) {
    fail('ledger.lineage.invalid', null, 'a lineage proof has a lineage and at least one segment');
    return result;
  }
  const total = segments.reduce((n, s) => n + (Array.isArray(s?.records) ? s.records.length : 0), 0);
  if (total > MAX_PROOF_RECORDS) {
    fail('ledger.lineage.invalid', null, `a lineage proof holds at most ${MAX_PROOF_RECORDS} records`);
    return result;
  }
  let previousEnd = 0;
  for (const segment of segments) {
    const checked = verifySegment(segment, options, previousEnd);
    result.failures.push(...checked.failures);
    if (!checked.head) return result;
    result.heads.push(checked.head);
    previousEnd = checked.head.seq;
    for (const record of segment.records as ChainRecord[])
      if (record?.event?.lineage === lineage) result.records.push(record);
  }
  if (result.records.length === 0)
    fail('ledger.lineage.invalid', null, `the proof holds no record of ${lineage}`);
  let prev: string | null = null;
  for (const record of result.records) {
    if ((record.lineage_prev ?? null) !== prev) {
      fail(
        'ledger.lineage.invalid',
        record.seq,
        `record ${record.seq}: lineage_prev does not name the previous record of ${lineage}`,
      );
    }
    prev = record.event_hash;
  }
  checkStageOrder(options.suite, result.records, fail);
  result.ok = result.failures.length === 0;
  return result;
}

/**
 * The stages of one operation in the order white paper §6.1 gives them (docs/spec/ledger.md
 * §10.2): authorization.issued first and once; each admission.granted after an
 * authorization.consumed of its own (an artifact of bounded use is admitted again and again);
 * each execution.started after an admission.granted of its own, and each later stage of the
 * execution after one of the stage before it. Stages are counted, not matched, so a lineage that
 * stops early (issued only, or admitted and never run) is in order. Other event types may follow
 * authorization.issued anywhere. An attestation.signed must moreover answer an earlier runtime
 * admission not attested yet: SHA3-512 of its attestation_id is that admission.granted's
 * attestation_ref (docs/authz-server.md, "Attestations").
 */
function checkStageOrder(
  suite: CryptoSuite,
  records: readonly ChainRecord[],
  fail: (code: Code, seq: number, message: string) => void,
): void {
  const seen = LINEAGE_STAGES.map(() => 0);
  /** attestation_refs of the admissions not attested yet. */
  const open: string[] = [];
  records.forEach(({ seq, event: { type, data } }, i) => {
    const stage = (LINEAGE_STAGES as readonly string[]).indexOf(type);
    if (i === 0 && stage !== 0) {
      fail(
        'ledger.lineage.order',
        seq,
        `record ${seq}: the lineage starts with ${type}, not authorization.issued`,
      );
    } else if (i > 0 && stage === 0) {
      fail(
        'ledger.lineage.order',
        seq,
        `record ${seq}: authorization.issued after the lineage's first record`,
      );
    } else if (stage >= 2 && seen[stage]! >= seen[stage - 1]!) {
      fail(
        'ledger.lineage.order',
        seq,
        `record ${seq}: ${type} without a ${LINEAGE_STAGES[stage - 1]} of its own before it`,
      );
    }
    if (stage >= 0) seen[stage]!++;
    const fields = (data ?? {}) as Record<string, unknown>;
    if (type === 'admission.granted' && typeof fields.attestation_ref === 'string') {
      open.push(fields.attestation_ref);
    } else if (type === 'attestation.signed') {
      const id = (fields.attestation as { attestation_id?: unknown } | undefined)?.attestation_id;
      const at = typeof id === 'string' ? open.indexOf(attestationRef(suite, id)) : -1;
      if (at < 0) {
        fail(
          'ledger.lineage.order',
          seq,
          `record ${seq}: the attestation answers no earlier admission.granted of this lineage that is not attested yet`,
        );
      } else {
        open.splice(at, 1);
      }
    }
  });
}

/** One segment: from its anchor through its records to its signed head. */
function verifySegment(
  segment: unknown,
  options: VerifyOptions,
  previousEnd: number,
): { failures: VerifyFailure[]; head?: SignedHead } {
  const {
    anchor,
    records,
    head: rawHead,
  } = (segment ?? {}) as Partial<{ anchor: ChainAnchor | null; records: unknown[]; head: unknown }>;
  let head: SignedHead;
  let start: ChainState;
  try {
    head = checkHead(rawHead);
    if (!Array.isArray(records) || records.length === 0)
      throw new GovernanceError('ledger.lineage.invalid', 'a segment holds records');
    if (options.log !== undefined && head.log !== options.log)
      throw new GovernanceError(
        'ledger.head.mismatch',
        `the proof is for log ${head.log}, not ${options.log}`,
      );
    start = anchor ? stateOfAnchor(anchor) : genesis(options.suite, head.log);
  } catch (e) {
    return {
      failures: [{ code: verifierCode(e), seq: seqOf(rawHead) ?? null, message: (e as Error).message }],
    };
  }
  const check = new ChainCheck({ ...options, head: undefined }, head.log, start, anchor === null);
  try {
    if (start.seq < previousEnd)
      check.fail(
        'ledger.sequence.invalid',
        start.seq + 1,
        `segment starting at ${start.seq + 1} overlaps the previous one`,
      );
    for (const record of records) check.record(record);
    check.headLine(head);
    check.finish();
  } catch (e) {
    if (!(e instanceof StopVerification)) throw e;
  }
  return { failures: check.failures, head };
}
