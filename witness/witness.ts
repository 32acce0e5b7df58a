// The witness of C2SP tlog-witness (https://c2sp.org/tlog-witness): add-checkpoint's checks, in
// the spec's order, and its replies byte for byte. A cosignature (cosignature/v1) states that the
// checkpoint is the largest consistent tree the witness has seen for the origin, so the witness
// cosigns only a checkpoint signed by a key it trusts for the origin and proven to extend the
// one it cosigned last, and records it durably before the cosignature leaves.
import type { CryptoSuite, Signer } from '../core/crypto.js';
import { bytesEqual, utf8Decode } from '../core/encoding.js';
import type { Code } from '../core/errors.js';
import {
  cosign,
  formatNote,
  parseCheckpoint,
  parseNote,
  verifyNoteSignature,
  type Checkpoint,
  type NoteSignature,
} from '../core/note.js';
import { emptyTreeRoot, verifyConsistency } from '../core/tlog.js';
import { TLOG_SIZE_CONTENT_TYPE, formatTreeSizeBody, parseAddCheckpoint } from '../core/witness.js';
import type { WitnessStateDir } from './state.js';

/** Why a request was refused, as the metrics count it. */
export type Refusal = 'conflict' | 'inconsistent' | 'unknown' | 'malformed';

export interface WitnessReply {
  status: number;
  contentType: string;
  body: string;
  refusal?: Refusal;
  /** The failure code of a refusal, for the log line. */
  code?: Code;
  /** The origin and size the request was about, once known. */
  origin?: string;
  size?: number;
}

/** A log's key, as parseVerifierKey reads it from the configuration. */
export interface LogKey {
  name: string;
  publicKey: Uint8Array;
  keyHash: Uint8Array;
}

export interface WitnessOptions {
  suite: CryptoSuite;
  /** The witness's key name (its cosignature lines carry it). */
  name: string;
  signer: Signer;
  publicKey: Uint8Array;
  /** The keys trusted per origin. */
  logs: ReadonlyMap<string, readonly LogKey[]>;
  state: WitnessStateDir;
  /** Epoch milliseconds; the cosignature timestamp is in whole seconds. */
  now?: () => number;
}

const TEXT = 'text/plain; charset=utf-8';

function refuse(status: number, refusal: Refusal, code: Code, message: string): WitnessReply {
  return { status, contentType: TEXT, body: `${code}: ${message}\n`, refusal, code };
}

export class Witness {
  /** The tail of each origin's queue: requests for one origin run one at a time. */
  private readonly queues = new Map<string, Promise<unknown>>();
  private readonly emptyRoot: Uint8Array;

  constructor(private readonly options: WitnessOptions) {
    this.emptyRoot = emptyTreeRoot(options.suite);
  }

  /** Answers one add-checkpoint body; throws only when the state cannot be read or written. */
  async addCheckpoint(bytes: Uint8Array): Promise<WitnessReply> {
    const { suite } = this.options;
    const text = utf8Decode(bytes);
    if (text === undefined) return refuse(400, 'malformed', 'encoding.invalid', 'the body is not UTF-8');
    let oldSize: number;
    let proof: Uint8Array[];
    let noteText: string;
    let body: string;
    let signatures: NoteSignature[];
    let checkpoint: Checkpoint;
    try {
      ({ oldSize, proof, note: noteText } = parseAddCheckpoint(text));
      ({ body, signatures } = parseNote(noteText));
      checkpoint = parseCheckpoint(body);
    } catch (e) {
      return refuse(400, 'malformed', 'encoding.invalid', (e as Error).message);
    }
    const about = { origin: checkpoint.origin, size: checkpoint.size };
    const keys = this.options.logs.get(checkpoint.origin);
    if (keys === undefined) {
      return { ...refuse(404, 'unknown', 'key.invalid', 'unknown origin'), ...about };
    }
    // Signatures by other keys (other witnesses' cosignatures among them) are ignored.
    const signed = keys.some((key) =>
      signatures.some((sig) => verifyNoteSignature(suite, body, sig, key.name, key.publicKey)),
    );
    if (!signed) {
      return {
        ...refuse(403, 'unknown', 'ledger.signature.invalid', 'no signature by a key trusted for the origin'),
        ...about,
      };
    }
    if (oldSize > checkpoint.size) {
      return {
        ...refuse(
          400,
          'malformed',
          'ledger.checkpoint.rollback',
          'the old size is above the checkpoint size',
        ),
        ...about,
      };
    }
    const reply = await this.serialized(checkpoint.origin, () =>
      this.check(oldSize, proof, noteText, body, checkpoint),
    );
    return { ...reply, ...about };
  }

  /** The checks against the recorded state and the update, under the origin's queue. */
  private async check(
    oldSize: number,
    proof: Uint8Array[],
    noteText: string,
    body: string,
    checkpoint: Checkpoint,
  ): Promise<WitnessReply> {
    const { suite, state } = this.options;
    const recorded = await state.read(checkpoint.origin);
    const recordedSize = recorded?.size ?? 0;
    const recordedRoot = recorded?.root ?? this.emptyRoot;
    if (oldSize !== recordedSize) {
      // The one refusal whose body a client reads: the size to prove from (rollbacks land here).
      return {
        status: 409,
        contentType: TLOG_SIZE_CONTENT_TYPE,
        body: formatTreeSizeBody(recordedSize),
        refusal: 'conflict',
        code:
          checkpoint.size < recordedSize ? 'ledger.checkpoint.rollback' : 'ledger.checkpoint.inconsistent',
      };
    }
    if (oldSize === 0 && proof.length > 0) {
      return refuse(422, 'inconsistent', 'ledger.proof.invalid', 'the proof from size 0 must be empty');
    }
    if (oldSize === checkpoint.size) {
      // Nothing to prove: the same size must be the same tree (the empty tree included).
      if (!bytesEqual(recordedRoot, checkpoint.root)) {
        return refuse(409, 'conflict', 'ledger.checkpoint.inconsistent', 'another root at the cosigned size');
      }
      if (proof.length > 0) {
        return refuse(
          422,
          'inconsistent',
          'ledger.proof.invalid',
          'the proof between equal sizes must be empty',
        );
      }
    } else if (
      oldSize > 0 &&
      !verifyConsistency(suite, oldSize, checkpoint.size, proof, recordedRoot, checkpoint.root)
    ) {
      return refuse(
        422,
        'inconsistent',
        'ledger.checkpoint.inconsistent',
        'the consistency proof does not verify',
      );
    }
    const { name, signer, publicKey } = this.options;
    const timestamp = Math.floor((this.options.now ?? Date.now)() / 1000);
    const cosignature = await cosign(suite, body, name, signer, timestamp, publicKey);
    // Durable before the cosignature leaves (tlog-witness §add-checkpoint).
    await state.write({
      origin: checkpoint.origin,
      size: checkpoint.size,
      root: checkpoint.root,
      note: noteText,
    });
    // formatNote writes the line exactly as a note holds it; the reply is that line alone.
    const note = formatNote(body, [cosignature]);
    return { status: 200, contentType: TEXT, body: note.slice(body.length + 1) };
  }

  private serialized<T>(origin: string, run: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(origin) ?? Promise.resolve();
    const result = previous.then(run, run);
    const tail = result.catch(() => undefined);
    this.queues.set(origin, tail);
    // Forget an idle origin, so hostile origins cannot grow the map (they never reach here anyway).
    void tail.then(() => {
      if (this.queues.get(origin) === tail) this.queues.delete(origin);
    });
    return result;
  }
}
