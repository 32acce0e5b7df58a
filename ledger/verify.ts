// The third-party verifier of ledger exports v2 (docs/spec/ledger.md §10.1, white paper §9.5). It
// trusts nothing it reads: every line is bounded, parsed and shape-checked before any hash or
// signature is computed, and every problem becomes a failure naming a code and the sequence
// number, never a throw. It recomputes both chains, every producer signature (a batch costs one
// Ed25519 verification), the RFC 9162 tree of the records (a compact range: O(log n) hashes) and,
// for a whole chain, the lineage index; it checks each checkpoint's audit signature, witness
// cosignatures, root, chain and index lines against them, each lineage's stage order, and that
// the export reaches a trusted checkpoint obtained elsewhere with exactly its root and hashes.
// Proofs of single records, of consistency and of lineages are core/proofs.ts.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { batchSigner, StageOrder } from '../core/proofs.js';
import { parseCanonicalText } from '../core/canonical.js';
import { checkObject, checkRecord, parseCanonicalJson, signerKeyOf, type LedgerKeys } from '../core/chain.js';
import {
  parseCheckpointNote,
  verifyCheckpoint,
  type SignedCheckpoint,
  type WitnessPolicy,
} from '../core/checkpoint.js';
import type { CryptoSuite } from '../core/crypto.js';
import { base64Decode, base64urlDecode, bytesEqual, utf8Decode, utf8Encode } from '../core/encoding.js';
import { GovernanceError, isGovernanceError, type Code } from '../core/errors.js';
import {
  batchStatement,
  chainNext,
  EVENT_LIMITS,
  genesis,
  type ChainRecord,
  type ChainState,
  type EventPosition,
} from '../core/event.js';
import { indexKey, SparseMerkleIndex, valueOfPosition } from '../core/smt.js';
import { CompactRange, tlogLeafHash } from '../core/tlog.js';
import type { LedgerStore } from '../store/ledger-types.js';
import { LOG_ID } from '../store/ledger-types.js';
import { EXPORT_FORMAT, exportLines, type ExportHeader } from './export.js';
import type { ChainAnchor } from './types.js';

export interface VerifyFailure {
  code: Code;
  /** The sequence number the failure is about; null when it concerns the input as a whole. */
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
  /** The log the caller expects; by default the export's header names it (and the checkpoints must agree). */
  log?: string;
  /**
   * A signed checkpoint note obtained independently of the export (from the proof endpoint at
   * another time, from a witness, from an earlier audit). The export must reach its size and have
   * exactly its root and chain hashes there: an export cut short, or a history rewritten and
   * re-signed by whoever holds the audit key, fails.
   */
  checkpoint?: string;
  /** Cosignatures every checkpoint (the trusted one included) must carry: k of these witnesses. */
  witnesses?: WitnessPolicy;
  /** Accept an export that starts after seq 1 from its header's anchor; by default the whole chain is required. */
  allowRange?: boolean;
  /** Longest line read (default 1 MiB). */
  maxLineBytes?: number;
  /** Verification stops after this many failures (default 100). */
  maxFailures?: number;
  /** Lineages whose last record and stage counts are remembered (default 100,000). */
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
  /** Events in the records read. */
  events: number;
  firstSeq: number | undefined;
  lastSeq: number | undefined;
  /** Checkpoint lines read. */
  checkpoints: number;
  /** The last checkpoint that passed every check; when ok, its size is the last record's seq. */
  checkpoint: SignedCheckpoint | undefined;
  failures: VerifyFailure[];
  /** Records whose lineage_prev and stage order could not be checked: their lineage had left the window, or began before a range. */
  lineageUnchecked: number;
  /** Batches that left the batch window: a later copy of one of them would not have been noticed. */
  batchesForgotten: number;
}

class StopVerification extends Error {}

interface LineageState {
  /** The position of its latest event. */
  tail: EventPosition;
  /** Undefined when its first event was not read (a range, or the lineage left the window). */
  stages: StageOrder | undefined;
}

/** The anchor's state: both hashes and the compact range of the tree before the range. */
interface Start {
  state: ChainState;
  tree: CompactRange;
}

/**
 * Checks records and checkpoints fed to it one by one, in chain order. Records hold no hashes
 * of their own (§5): an edited record shows as its own failure where one can be named (its
 * signature, its lineage links, its shape) and at the next checkpoint, whose chain line and root
 * no longer recompute; the chain then resumes from that checkpoint's signed chain line, so one
 * edit is not a cascade. The tree and the lineage index, which cannot be resumed that way, stop
 * being compared after their first failure or a record missing.
 */
class ChainCheck {
  readonly failures: VerifyFailure[] = [];
  records = 0;
  events = 0;
  checkpoints = 0;
  firstSeq: number | undefined;
  lastSeq: number;
  /** The last checkpoint that passed. */
  checkpoint: SignedCheckpoint | undefined;
  /** The size of the last checkpoint read in its place (sizes strictly increase). */
  private lastCheckpointSize = 0;
  lineageUnchecked = 0;
  batchesForgotten = 0;
  /** Batch signatures seen: each batch is chained once (§4). */
  private readonly seenBatches = new Set<string>();
  private readonly signerKey;
  private readonly lineages = new Map<string, LineageState>();
  private lineagesDropped = false;
  /** False after a record that could not be chained: the hashes resume at the next checkpoint. */
  private stateKnown = true;
  private state: ChainState;
  /** The tree of the records read, leaf i = record i + 1; undefined once it cannot be followed. */
  private tree: CompactRange | undefined;
  /** The lineage index of the records read; only from the genesis, undefined once it cannot be followed. */
  private index: SparseMerkleIndex | undefined;
  /** Latest positions read since the index was last brought up to date: set once per lineage, not per event. */
  private readonly indexed = new Map<string, EventPosition>();
  /** The checkpoint the caller obtained independently, once checked, and whether the chain reached it. */
  private readonly trusted: SignedCheckpoint | undefined;
  private trustedSeen = false;

  constructor(
    private readonly options: VerifyOptions,
    readonly log: string,
    start: Start,
    /** Whether the chain starts at its genesis (every lineage then starts inside it). */
    private readonly fromGenesis: boolean,
  ) {
    this.state = start.state;
    this.tree = start.tree;
    this.index = fromGenesis ? new SparseMerkleIndex(options.suite) : undefined;
    this.lastSeq = start.state.seq;
    this.signerKey = signerKeyOf(options.keys, log);
    if (options.log !== undefined && options.log !== log)
      this.fail('ledger.head.mismatch', null, `the export is for log ${log}, not ${options.log}`);
    if (options.checkpoint !== undefined) this.trusted = this.checkTrusted(options.checkpoint);
    // A trusted checkpoint at the anchor is compared with it.
    if (this.trusted && this.trusted.checkpoint.size === start.state.seq && start.state.seq > 0)
      this.compareTrusted(this.trusted);
  }

  private checkTrusted(note: unknown): SignedCheckpoint | undefined {
    let signed: SignedCheckpoint;
    try {
      if (typeof note !== 'string') throw new Error('it is not a note text');
      signed = parseCheckpointNote(note);
    } catch (e) {
      this.fail('ledger.head.mismatch', null, `the trusted checkpoint is malformed: ${(e as Error).message}`);
      return undefined;
    }
    const { size, log } = signed.checkpoint;
    try {
      verifyCheckpoint(this.options.suite, signed, this.options.keys.audit, this.options.witnesses);
    } catch (e) {
      this.fail(verifierCode(e), size, `the trusted checkpoint at ${size}: ${(e as Error).message}`);
      return undefined;
    }
    if (log === this.log) return signed;
    this.fail('ledger.head.mismatch', size, `the trusted checkpoint is for log ${log}, not ${this.log}`);
    return undefined;
  }

  fail(code: Code, seq: number | null, message: string): void {
    this.failures.push({ code, seq, message });
    if (this.failures.length >= (this.options.maxFailures ?? 100)) {
      this.failures.push({ code, seq, message: 'verification stopped: too many failures' });
      throw new StopVerification();
    }
  }

  /** A line that is neither a record nor a checkpoint: reported at the next seq (a missing record there is reported again). */
  unreadable(message: string): void {
    this.fail('ledger.event.invalid', this.lastSeq + 1, message);
  }

  /**
   * A line that is not canonical JSON, reported at the next seq: what it holds depends on the
   * parser (a duplicate member is one value to one parser and another to the next), so it is
   * never verified. If it parses at all as a record, it takes the next seq's place in the tree
   * and the chain, so that later roots and chain lines still verify.
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
    if (value !== null && typeof value === 'object' && 'events' in value) this.unchained(expected, line);
  }

  /**
   * A record that cannot be checked, taken as record `seq`: its bytes are still a leaf of the
   * tree and a link of both chains (they cover bytes, not what the bytes say), so a checkpoint
   * signed over exactly these bytes does not fail as well.
   */
  private unchained(seq: number, text: string): void {
    const bytes = utf8Encode(text);
    this.lastSeq = seq;
    if (this.stateKnown) this.state = chainNext(this.options.suite, this.state, bytes);
    this.appendLeaf(seq, bytes);
    this.index = undefined;
  }

  /** A record line: `value` parsed from `text`, its exact (canonical) text. */
  record(value: unknown, text: string): void {
    const expected = this.lastSeq + 1;
    let checked: ReturnType<typeof checkRecord>;
    try {
      // A record is one entry of the tree, whose C2SP entry bundles give it a uint16 length (§4).
      if (Buffer.byteLength(text) > EVENT_LIMITS.recordBytes)
        throw new GovernanceError(
          'ledger.event.invalid',
          `record is longer than ${EVENT_LIMITS.recordBytes} bytes`,
        );
      checked = checkRecord(value);
    } catch (e) {
      // Taken as the expected record, whatever seq it claims.
      this.fail('ledger.event.invalid', expected, (e as Error).message);
      this.unchained(expected, text);
      return;
    }
    const { record, events } = checked;
    this.records++;
    this.events += record.events.length;
    this.firstSeq ??= record.seq;
    if (record.seq < expected) {
      // A record out of place: reported, its signature checked, but the chain goes on without it.
      this.fail(
        'ledger.sequence.invalid',
        record.seq,
        `record ${record.seq} out of order (after ${expected - 1})`,
      );
      this.checkSignature(record, events);
      return;
    }
    if (record.seq > expected) {
      const missing = record.seq - 1 > expected ? `${expected}..${record.seq - 1}` : `${expected}`;
      this.fail('ledger.sequence.invalid', expected, `record ${missing} missing (found ${record.seq})`);
      // Neither the chain, the tree nor the index can be followed past a missing record.
      this.stateKnown = false;
      this.tree = undefined;
      this.index = undefined;
    }
    const bytes = utf8Encode(text);
    if (record.seq === expected && this.stateKnown)
      this.state = chainNext(this.options.suite, this.state, bytes);
    this.lastSeq = record.seq;
    this.appendLeaf(record.seq, bytes);
    if (this.checkSignature(record, events)) this.checkReplay(record);
    this.checkLineages(record);
    if (this.trusted?.checkpoint.size === record.seq) this.compareTrusted(this.trusted);
  }

  /** Appends the record's bytes as leaf seq − 1 of the tree. */
  private appendLeaf(seq: number, bytes: Uint8Array): void {
    const leaf = tlogLeafHash(this.options.suite, bytes);
    if (this.tree && this.tree.size === seq - 1) this.tree.append(leaf);
    else this.tree = undefined;
  }

  /** The chain at the trusted checkpoint's size must be the trusted checkpoint's (§10.1). */
  private compareTrusted(trusted: SignedCheckpoint): void {
    this.trustedSeen = true;
    const { size, root, chain } = trusted.checkpoint;
    const treeDiffers = this.tree !== undefined && !bytesEqual(this.tree.root(), root);
    const chainDiffers =
      !this.stateKnown || !bytesEqual(this.state.hash, chain.hash) || !bytesEqual(this.state.alt, chain.alt);
    if (treeDiffers || chainDiffers)
      this.fail(
        'ledger.checkpoint.inconsistent',
        size,
        `the chain at ${size} is not the trusted checkpoint's: ${treeDiffers ? 'its tree root differs' : 'its chain hashes differ'}`,
      );
  }

  /** The record's batch signature: over the digest of its events, for this log, by a key that may sign each. */
  private checkSignature(record: ChainRecord, events: Uint8Array): boolean {
    const suite = this.options.suite;
    const signer = batchSigner(this.signerKey, record);
    if ('refused' in signer) {
      this.fail('ledger.signature.invalid', record.seq, `record ${record.seq}: ${signer.refused}`);
      return false;
    }
    const statement = batchStatement(suite, this.log, record.kid, record.events.length, events);
    if (suite.verifyEd25519(signer.key, statement, base64urlDecode(record.val)!)) return true;
    this.fail(
      'ledger.signature.invalid',
      record.seq,
      `record ${record.seq}: the producer signature does not verify`,
    );
    return false;
  }

  /** A batch is chained once (§4): a second record with its signature is a replay. */
  private checkReplay(record: ChainRecord): void {
    if (this.seenBatches.has(record.val)) {
      this.fail('ledger.batch.replayed', record.seq, `record ${record.seq}: its batch was chained before`);
      return;
    }
    this.seenBatches.add(record.val);
    if (this.seenBatches.size > (this.options.batchWindow ?? 1_000_000)) {
      this.seenBatches.delete(this.seenBatches.values().next().value!);
      this.batchesForgotten++;
    }
  }

  /**
   * lineage_prev (§6), the stage order of each lineage (§10.4) and the lineage index (§7): the
   * index maps each lineage to the position of its latest event.
   */
  private checkLineages(record: ChainRecord): void {
    const { seq } = record;
    for (const [index, event] of record.events.entries()) {
      const lineage = event.lineage;
      if (lineage === undefined) continue;
      if (this.index) this.indexed.set(lineage, [seq, index]);
      const known = this.lineages.get(lineage);
      const prev = record.lineage_prev[index] ?? null;
      let stages: StageOrder | undefined;
      if (known === undefined && (this.lineagesDropped || !this.fromGenesis)) {
        this.lineageUnchecked++;
      } else {
        const tail = known?.tail ?? null;
        if (prev?.[0] !== tail?.[0] || prev?.[1] !== tail?.[1])
          this.fail(
            'ledger.lineage.invalid',
            seq,
            `record ${seq}: lineage_prev of event ${index} does not name the previous event of ${lineage}`,
          );
        stages = known ? known.stages : new StageOrder(this.options.suite);
        if (stages) stages.next({ seq, index, event }, (code, at, message) => this.fail(code, at, message));
        else this.lineageUnchecked++;
      }
      this.lineages.delete(lineage);
      this.lineages.set(lineage, { tail: [seq, index], stages });
      if (this.lineages.size > (this.options.lineageWindow ?? 100_000)) {
        this.lineages.delete(this.lineages.keys().next().value!);
        this.lineagesDropped = true;
      }
    }
  }

  /** The root of the lineage index of the records read. */
  private indexRoot(): Uint8Array {
    for (const [lineage, position] of this.indexed)
      this.index!.set(indexKey(this.options.suite, lineage), valueOfPosition(position));
    this.indexed.clear();
    return this.index!.root();
  }

  /**
   * A checkpoint line: a signed note by a trusted audit key (and witnesses, under a policy) of
   * this log, right after the record of its size, whose root, chain and index lines are those of
   * the records read.
   */
  checkpointLine(value: unknown): void {
    let signed: SignedCheckpoint;
    try {
      const line = checkObject(value, 'checkpoint line', ['checkpoint']);
      if (typeof line.checkpoint !== 'string') throw new Error('checkpoint must be the note text');
      signed = parseCheckpointNote(line.checkpoint);
    } catch (e) {
      this.fail('ledger.head.mismatch', this.lastSeq, `malformed checkpoint: ${(e as Error).message}`);
      return;
    }
    this.checkpoints++;
    const { size, log, root, chain, index } = signed.checkpoint;
    let passed = true;
    try {
      verifyCheckpoint(this.options.suite, signed, this.options.keys.audit, this.options.witnesses);
    } catch (e) {
      const code = verifierCode(e);
      this.fail(code, size, `checkpoint ${size}: ${(e as Error).message}`);
      // Without a valid audit signature the checkpoint states nothing.
      if (code !== 'ledger.witness.insufficient') return;
      passed = false;
    }
    if (log !== this.log) {
      this.fail('ledger.head.mismatch', size, `checkpoint ${size} is for log ${log}, not ${this.log}`);
      return;
    }
    if (size > this.lastSeq) {
      this.fail(
        'ledger.head.mismatch',
        this.lastSeq + 1,
        `checkpoint ${size} claims more than the chain holds (it ends at ${this.lastSeq})`,
      );
      return;
    }
    if (size < this.lastSeq || size <= this.lastCheckpointSize) {
      this.fail(
        'ledger.head.mismatch',
        size,
        `checkpoint ${size} is out of place (after record ${this.lastSeq})`,
      );
      return;
    }
    this.lastCheckpointSize = size;
    if (this.tree && !bytesEqual(this.tree.root(), root)) {
      this.fail(
        'ledger.root.mismatch',
        size,
        `checkpoint ${size}: the root is not that of records 1..${size}`,
      );
      // The tree read is not the log's: later roots would all differ.
      this.tree = undefined;
      passed = false;
    }
    if (
      !this.stateKnown ||
      !bytesEqual(this.state.hash, chain.hash) ||
      !bytesEqual(this.state.alt, chain.alt)
    ) {
      this.fail(
        'ledger.hash.mismatch',
        size,
        `checkpoint ${size}: the chain of records 1..${size} does not recompute to its chain line`,
      );
      // The audit key signed this chain line: the records after it are checked from there.
      this.state = { seq: size, hash: chain.hash, alt: chain.alt };
      this.stateKnown = true;
      passed = false;
    }
    if (this.index && !bytesEqual(this.indexRoot(), index)) {
      this.fail(
        'ledger.index.mismatch',
        size,
        `checkpoint ${size}: the index root is not that of the lineages in records 1..${size}`,
      );
      this.index = undefined;
      passed = false;
    }
    if (passed) this.checkpoint = signed;
  }

  /**
   * At the end: the last batch is complete (a checkpoint is signed between commits, so after a
   * whole batch), a checkpoint covers the last record, and the trusted checkpoint was reached.
   */
  finish(): void {
    if (!this.checkpoint) {
      this.fail('ledger.head.mismatch', this.firstSeq ?? null, 'no checkpoint covers the chain');
    } else if (this.lastSeq > this.checkpoint.checkpoint.size) {
      const size = this.checkpoint.checkpoint.size;
      this.fail(
        'ledger.head.mismatch',
        size + 1,
        `records ${size + 1}..${this.lastSeq} are not covered by a checkpoint`,
      );
    }
    const trusted = this.trusted;
    if (trusted && !this.trustedSeen) {
      const size = trusted.checkpoint.size;
      if (size > this.lastSeq)
        this.fail(
          'ledger.chain.truncated',
          this.lastSeq + 1,
          `the chain ends at ${this.lastSeq}, before the trusted checkpoint at ${size}: cut short, or rewritten`,
        );
      else
        this.fail(
          'ledger.head.mismatch',
          size,
          `the trusted checkpoint at ${size} is before the range checked`,
        );
    }
  }
}

/** The code of an error thrown while verifying: its own if it is one the verifier reports (§10.1). */
const verifierCode = (e: unknown): Code =>
  isGovernanceError(e) && (e.code.startsWith('ledger.') || e.code === 'encoding.invalid')
    ? e.code
    : 'ledger.event.invalid';

/**
 * The header: exactly its members; the anchor of a range is a checkpoint at its start, which
 * must verify like any other (a trusted audit key, the witness policy), with the compact range of
 * the tree up to it, which must give the checkpoint's root.
 */
function checkHeader(options: VerifyOptions, value: unknown): { header: ExportHeader; start: Start } {
  const { suite } = options;
  const bad = (message: string): never => {
    throw new GovernanceError('ledger.event.invalid', `export header: ${message}`);
  };
  const header = checkObject(value, 'export header', ['anchor', 'format', 'from', 'log', 'to']);
  if (header.format !== EXPORT_FORMAT) bad(`format must be ${EXPORT_FORMAT}`);
  if (typeof header.log !== 'string' || !LOG_ID.test(header.log)) bad('log is malformed');
  const log = header.log as string;
  const from = header.from as number;
  if (!Number.isSafeInteger(from) || from < 1) bad('from must be a positive integer');
  if (!Number.isSafeInteger(header.to) || (header.to as number) < from) bad('to must be an integer ≥ from');
  if ((from === 1) !== (header.anchor === null)) bad('anchor must be null exactly when from is 1');
  if (header.anchor === null)
    return {
      header: header as unknown as ExportHeader,
      start: { state: genesis(suite, log), tree: CompactRange.empty(suite) },
    };
  const anchor = checkObject(header.anchor, 'export header anchor', [
    'checkpoint',
    'tree',
  ]) as unknown as ChainAnchor;
  if (typeof anchor.checkpoint !== 'string') bad('anchor.checkpoint must be a checkpoint note');
  const signed = parseCheckpointNote(anchor.checkpoint);
  verifyCheckpoint(suite, signed, options.keys.audit, options.witnesses);
  const { size, root, chain } = signed.checkpoint;
  if (signed.checkpoint.log !== log) bad(`anchor.checkpoint is of log ${signed.checkpoint.log}`);
  if (size !== from - 1) bad('anchor.checkpoint must be of size from − 1');
  const hashes = Array.isArray(anchor.tree)
    ? anchor.tree.map((h) => (typeof h === 'string' ? base64Decode(h) : undefined))
    : [];
  if (!Array.isArray(anchor.tree) || hashes.some((h) => h?.length !== 32))
    bad('anchor.tree must be a list of base64 hashes');
  let tree: CompactRange;
  try {
    tree = CompactRange.of(suite, size, hashes as Uint8Array[]);
  } catch {
    return bad(`anchor.tree must hold one hash per bit set in ${size}`);
  }
  if (!bytesEqual(tree.root(), root))
    throw new GovernanceError(
      'ledger.root.mismatch',
      "export header: anchor.tree is not the anchor checkpoint's tree",
    );
  return {
    header: header as unknown as ExportHeader,
    start: { state: { seq: size, hash: chain.hash, alt: chain.alt }, tree },
  };
}

function emptyResult(failure: VerifyFailure): VerifyResult {
  return {
    ok: false,
    log: undefined,
    records: 0,
    events: 0,
    firstSeq: undefined,
    lastSeq: undefined,
    checkpoints: 0,
    checkpoint: undefined,
    failures: [failure],
    lineageUnchecked: 0,
    batchesForgotten: 0,
  };
}

/** Verifies export lines (header, records and checkpoints). Never throws for bad input. */
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
        const opened = checkHeader(options, parseCanonicalJson(line, 'export header'));
        header = opened.header;
        check = new ChainCheck(options, header.log, opened.start, header.anchor === null);
        if (header.anchor && !options.allowRange)
          check.fail(
            'ledger.sequence.invalid',
            1,
            `the export starts at seq ${header.from}, not at the genesis`,
          );
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
      if ('events' in kind) {
        check.record(value, line);
        if (check.records - reported >= every) {
          reported = check.records;
          report();
        }
      } else if ('checkpoint' in kind) {
        check.checkpointLine(value);
      } else {
        check.unreadable(`the line after record ${check.lastSeq} is neither a record nor a checkpoint`);
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
    events: check!.events,
    firstSeq: check!.firstSeq,
    lastSeq: check!.records > 0 ? check!.lastSeq : undefined,
    checkpoints: check!.checkpoints,
    checkpoint: check!.checkpoint,
    failures: check!.failures,
    lineageUnchecked: check!.lineageUnchecked,
    batchesForgotten: check!.batchesForgotten,
  };
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

/** Verifies the chain in a store up to its latest checkpoint (the same checks as for an export). */
export function verifyStore(store: LedgerStore, options: VerifyOptions): Promise<VerifyResult> {
  return verifyLines(exportLines(store, {}, options.suite), options);
}
