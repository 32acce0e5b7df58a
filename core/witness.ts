// The wire format of the C2SP tlog-witness protocol (https://c2sp.org/tlog-witness): the body of
// POST add-checkpoint and of its 409 reply, shared by the witness (witness/) and the sequencer's
// client (sequencer/witnesses.ts) so that both read and write one spelling. Pure; the strict
// parsing refuses every second spelling (leading zeros, non-canonical base64, CRLF), so a body
// has one meaning.
import { base64Decode, base64Encode } from './encoding.js';
import { GovernanceError } from './errors.js';

/** "The client MUST NOT send more than 63 consistency proof lines." */
export const ADD_CHECKPOINT_MAX_PROOF_LINES = 63;

/** The Content-Type of a 409 reply whose body is the witness's latest cosigned size. */
export const TLOG_SIZE_CONTENT_TYPE = 'text/x.tlog.size';

/** A consistency-proof line holds one SHA-256 hash: the tree is RFC 9162 over SHA-256. */
const PROOF_HASH_BYTES = 32;

const DECIMAL = /^(?:0|[1-9][0-9]*)$/;

export interface AddCheckpointRequest {
  /** The size of the checkpoint the witness last cosigned, as the client believes it. */
  oldSize: number;
  /** RFC 9162 consistency proof from oldSize to the checkpoint's size. */
  proof: Uint8Array[];
  /** The signed checkpoint note, unparsed. */
  note: string;
}

function invalid(message: string): never {
  throw new GovernanceError('encoding.invalid', message);
}

/** A tree size in ASCII decimal without leading zeros, up to 2^53 - 1; undefined otherwise. */
export function parseTreeSize(text: string): number | undefined {
  if (!DECIMAL.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** "old <size>\n", one base64 line per proof hash, "\n", then the note (tlog-witness §add-checkpoint). */
export function formatAddCheckpoint(request: AddCheckpointRequest): string {
  if (!Number.isSafeInteger(request.oldSize) || request.oldSize < 0) invalid('the old size is not a size');
  if (request.proof.length > ADD_CHECKPOINT_MAX_PROOF_LINES) {
    invalid(`a consistency proof has at most ${ADD_CHECKPOINT_MAX_PROOF_LINES} hashes`);
  }
  if (!request.proof.every((h) => h.length === PROOF_HASH_BYTES)) invalid('a proof hash is 32 bytes');
  const lines = request.proof.map((h) => base64Encode(h) + '\n').join('');
  return `old ${request.oldSize}\n${lines}\n${request.note}`;
}

/**
 * Reads an add-checkpoint body; throws encoding.invalid for anything but the one spelling. The
 * note is returned unparsed: the witness tells a malformed note (400) from an unknown origin
 * (404) or key (403) itself.
 */
export function parseAddCheckpoint(body: string): AddCheckpointRequest {
  const end = body.indexOf('\n');
  if (end < 0) invalid('the body has no old size line');
  const oldLine = body.slice(0, end);
  if (!oldLine.startsWith('old ')) invalid('the first line is not "old <size>"');
  const oldSize = parseTreeSize(oldLine.slice(4));
  if (oldSize === undefined) invalid('the old size is not a decimal size without leading zeros');
  const proof: Uint8Array[] = [];
  let at = end + 1;
  for (;;) {
    const next = body.indexOf('\n', at);
    if (next < 0) invalid('the proof lines are not followed by an empty line');
    const line = body.slice(at, next);
    at = next + 1;
    if (line.length === 0) break;
    if (proof.length === ADD_CHECKPOINT_MAX_PROOF_LINES) {
      invalid(`more than ${ADD_CHECKPOINT_MAX_PROOF_LINES} consistency proof lines`);
    }
    const hash = base64Decode(line);
    if (hash === undefined || hash.length !== PROOF_HASH_BYTES) {
      invalid('a consistency proof line is not the standard base64 of a 32-byte hash');
    }
    proof.push(hash);
  }
  const note = body.slice(at);
  if (note.length === 0) invalid('the body has no checkpoint after the empty line');
  return { oldSize, proof, note };
}

/** The body of a 409 reply: the latest cosigned size and a newline. */
export function formatTreeSizeBody(size: number): string {
  return `${size}\n`;
}

/** Reads a 409 reply body; undefined unless it is exactly "<size>\n". */
export function parseTreeSizeBody(body: string): number | undefined {
  return body.endsWith('\n') ? parseTreeSize(body.slice(0, -1)) : undefined;
}
