// Ledger checkpoints (docs/spec/ledger.md §7): what the sequencer publishes and witnesses cosign,
// in place of v1's signed heads. A C2SP tlog-checkpoint in a C2SP signed note, so that
// transparency-log tooling reads it: origin (the log id), tree size, the RFC 9162 root of the
// records, then three extension lines that tie it to this ledger — the dual-chain hashes of its
// last record, the lineage index root, and when it was signed. Signed by an audit key under the
// key name of the log; cosigned by witnesses (cosignature/v1) under their own names.
import type { LedgerKey } from './chain.js';
import type { CryptoSuite } from './crypto.js';
import { base64Decode, base64Encode, hexDecode, hexEncode, utf8Encode } from './encoding.js';
import { GovernanceError } from './errors.js';
import {
  ed25519KeyHash,
  formatCheckpoint,
  formatNote,
  parseCheckpoint,
  parseNote,
  verifyCosignature,
  verifyNoteSignature,
  type NoteSignature,
} from './note.js';
import { parseMillis } from './time.js';

export interface LedgerCheckpoint {
  log: string;
  /** Records 1 … size are leaves 0 … size − 1 of the tree. */
  size: number;
  /** RFC 9162 root (SHA-256) of the records' canonical texts. */
  root: Uint8Array;
  /** event_hash (SHA3-512) and event_hash_alt (BLAKE2b-512) of record `size`. */
  chain: { hash: Uint8Array; alt: Uint8Array };
  /** Root of the lineage index (core/smt.ts) over records 1 … size. */
  index: Uint8Array;
  /** When the sequencer signed it: YYYY-MM-DDTHH:MM:SS.sssZ. */
  time: string;
}

export interface SignedCheckpoint {
  checkpoint: LedgerCheckpoint;
  /** The note body the log signed and witnesses cosign. */
  body: string;
  signatures: NoteSignature[];
}

/** k of n: a checkpoint is witnessed when `threshold` distinct witnesses of the list cosigned it. */
export interface WitnessPolicy {
  threshold: number;
  witnesses: readonly { name: string; publicKey: Uint8Array }[];
}

const CHAIN_LINE = /^chain sha3-512:([0-9a-f]{128}) blake2b-512:([0-9a-f]{128})$/;
const INDEX_LINE = /^index ([A-Za-z0-9+/]{43}=)$/;
const TIME_LINE = /^time (\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)$/;

/** The note body: the tlog-checkpoint lines and this ledger's three extension lines, in this order. */
export function checkpointBody(c: LedgerCheckpoint): string {
  return formatCheckpoint({
    origin: c.log,
    size: c.size,
    root: c.root,
    extensions: [
      `chain sha3-512:${hexEncode(c.chain.hash)} blake2b-512:${hexEncode(c.chain.alt)}`,
      `index ${base64Encode(c.index)}`,
      `time ${c.time}`,
    ],
  });
}

/** Parses a checkpoint body strictly: exactly the three extension lines, canonical encodings. */
export function parseCheckpointBody(body: string): LedgerCheckpoint {
  const { origin, size, root, extensions } = parseCheckpoint(body);
  const [chainLine = '', indexLine = '', timeLine = ''] = extensions;
  const chain = CHAIN_LINE.exec(chainLine);
  const index = INDEX_LINE.exec(indexLine);
  const time = TIME_LINE.exec(timeLine);
  if (extensions.length !== 3 || !chain || !index || !time || parseMillis(time[1]!) === undefined)
    throw new GovernanceError('encoding.invalid', 'a ledger checkpoint has chain, index and time lines');
  const indexRoot = base64Decode(index[1]!);
  if (indexRoot?.length !== 32)
    throw new GovernanceError('encoding.invalid', 'the index line is not a canonical 32-byte hash');
  if (size < 1)
    throw new GovernanceError('encoding.invalid', 'a ledger checkpoint covers at least one record');
  return {
    log: origin,
    size,
    root,
    chain: { hash: hexDecode(chain[1]!)!, alt: hexDecode(chain[2]!)! },
    index: indexRoot,
    time: time[1]!,
  };
}

/** Parses a signed checkpoint note; throws encoding.invalid for anything but one. */
export function parseCheckpointNote(text: string): SignedCheckpoint {
  const { body, signatures } = parseNote(text);
  return { checkpoint: parseCheckpointBody(body), body, signatures };
}

export function checkpointNote(signed: Pick<SignedCheckpoint, 'body' | 'signatures'>): string {
  return formatNote(signed.body, signed.signatures);
}

/** The log's signature: Ed25519 by the audit key, under the log id as key name. */
export function signCheckpoint(
  suite: CryptoSuite,
  checkpoint: LedgerCheckpoint,
  auditKey: { publicKey: Uint8Array; sign: (message: Uint8Array) => Uint8Array },
): SignedCheckpoint {
  const body = checkpointBody(checkpoint);
  const signature: NoteSignature = {
    name: checkpoint.log,
    keyHash: ed25519KeyHash(suite, checkpoint.log, auditKey.publicKey),
    signature: auditKey.sign(utf8Encode(body)),
  };
  return { checkpoint, body, signatures: [signature] };
}

function withinValidity(key: LedgerKey, time: string): boolean {
  if (!key.validity) return true;
  const at = parseMillis(time);
  return at !== undefined && at >= key.validity.notBefore * 1000 && at <= key.validity.notAfter * 1000;
}

/**
 * The trusted audit key that signed the checkpoint, at a `time` within its validity, or why
 * none did. Signatures under other names (witnesses) or by unknown keys are not the log's.
 */
export function checkpointSigner(
  suite: CryptoSuite,
  signed: SignedCheckpoint,
  auditKeys: ReadonlyMap<string, LedgerKey>,
): { kid: string } | { refused: string } {
  const { log, time } = signed.checkpoint;
  let outside: string | undefined;
  for (const sig of signed.signatures) {
    if (sig.name !== log) continue;
    for (const [kid, key] of auditKeys) {
      if (!verifyNoteSignature(suite, signed.body, sig, log, key.publicKey)) continue;
      if (withinValidity(key, time)) return { kid };
      outside = `audit key ${kid} is not valid at ${time}`;
    }
  }
  return {
    refused: outside ?? `no trusted audit key signed the checkpoint of ${log} at ${signed.checkpoint.size}`,
  };
}

/** The witnesses of the policy whose cosignature on this body verifies, each counted once. */
export function cosigners(suite: CryptoSuite, signed: SignedCheckpoint, policy: WitnessPolicy): string[] {
  const names = new Set<string>();
  for (const witness of policy.witnesses) {
    if (names.has(witness.name)) continue;
    const valid = signed.signatures.some(
      (sig) =>
        sig.name === witness.name &&
        verifyCosignature(suite, signed.body, sig, witness.name, witness.publicKey) !== undefined,
    );
    if (valid) names.add(witness.name);
  }
  return [...names];
}

/**
 * A checkpoint's standing before trusting anything it commits to: signed by a trusted audit key
 * (ledger.signature.invalid) and, under a policy, cosigned by enough witnesses
 * (ledger.witness.insufficient). Throws the failure; returns the audit kid.
 */
export function verifyCheckpoint(
  suite: CryptoSuite,
  signed: SignedCheckpoint,
  auditKeys: ReadonlyMap<string, LedgerKey>,
  policy?: WitnessPolicy,
): { kid: string; cosigners: string[] } {
  const signer = checkpointSigner(suite, signed, auditKeys);
  if ('refused' in signer) throw new GovernanceError('ledger.signature.invalid', signer.refused);
  const names = policy ? cosigners(suite, signed, policy) : [];
  if (policy && names.length < policy.threshold)
    throw new GovernanceError(
      'ledger.witness.insufficient',
      `${names.length} of the ${policy.threshold} witness cosignatures required`,
    );
  return { kid: signer.kid, cosigners: names };
}
