// C2SP signed notes (c2sp.org/signed-note), transparency-log checkpoints (c2sp.org/tlog-checkpoint)
// and Ed25519 witness cosignatures (c2sp.org/tlog-cosignature, cosignature/v1), byte for byte as
// Go's golang.org/x/mod/sumdb/note and transparency-dev/formats write them, so that the witnesses
// and monitors of the transparency-log ecosystem can read our checkpoints and we can read theirs.
//
// Parsing is stricter than Go where Go tolerates a second spelling (non-canonical base64, a body
// ending in an empty line): one note has one accepted text. Verification never throws.
import {
  ED25519_PUBLIC_KEY_BYTES,
  ED25519_SIGNATURE_BYTES,
  type CryptoSuite,
  type Signer,
} from './crypto.js';
import {
  base64Decode,
  base64Encode,
  bytesEqual,
  concatBytes,
  hexDecode,
  hexEncode,
  utf8Encode,
} from './encoding.js';
import { GovernanceError } from './errors.js';

/**
 * The largest note we parse, in UTF-8 bytes. The spec asks verifiers to bound the size and to
 * accept at least 16 signatures of up to ~5 kB (post-quantum); 1 MiB holds NOTE_MAX_SIGNATURES
 * such lines (~6.6 kB each in base64) plus a body, so the count, not the size, is what bites for
 * any conforming note, while a hostile one still costs at most one bounded scan.
 */
export const NOTE_MAX_BYTES = 1 << 20;

/** Go's note.Open refuses more than 100 signature lines; the spec's floor is 16. */
export const NOTE_MAX_SIGNATURES = 100;

/** Signature type bytes (signed-note §Signature types). */
const TYPE_ED25519 = 0x01;
const TYPE_COSIGNATURE_V1 = 0x04;

const KEY_HASH_BYTES = 4;
const TIMESTAMP_BYTES = 8;
const CHECKPOINT_ROOT_BYTES = 32;

export interface NoteSignature {
  name: string;
  /** The 4-byte key ID, big-endian, as it stands at the start of the signature's base64. */
  keyHash: Uint8Array;
  /** The bytes after the key ID: an Ed25519 signature, or timestamp || signature for a cosignature. */
  signature: Uint8Array;
}

export interface Checkpoint {
  origin: string;
  size: number;
  root: Uint8Array;
  extensions: string[];
}

function invalid(message: string): never {
  throw new GovernanceError('encoding.invalid', message);
}

function invalidKey(message: string): never {
  throw new GovernanceError('key.invalid', message);
}

// Unicode White_Space is exactly the set Go's unicode.IsSpace tests, which the spec's
// "Unicode spaces" means (JavaScript's \s differs: it adds U+FEFF and lacks U+0085).
const WHITE_SPACE = /\p{White_Space}/u;

/** Control characters below U+0020 other than newline: the spec bars them from a whole note. */
function hasBarredControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 && c !== 0x0a) return true;
  }
  return false;
}

const EM_DASH_PREFIX = '\u2014 ';

/**
 * A key name: non-empty, no Unicode spaces, no '+' (the spec's rule). Also well-formed UTF-16
 * (so it has a UTF-8 encoding) and free of control characters, since a name that breaks those
 * could never appear in a valid note anyway.
 */
export function isValidKeyName(name: string): boolean {
  return (
    name.length > 0 &&
    name.isWellFormed() &&
    !name.includes('+') &&
    !WHITE_SPACE.test(name) &&
    !hasBarredControl(name)
  );
}

/** SHA-256(name || 0x0A || type || key)[:4] (signed-note §Signatures). */
function keyHash(suite: CryptoSuite, name: string, type: number, publicKey: Uint8Array): Uint8Array {
  if (!isValidKeyName(name)) invalidKey('the key name is empty or has a space, a "+" or a control');
  if (publicKey.length !== ED25519_PUBLIC_KEY_BYTES) invalidKey('an Ed25519 public key is 32 bytes');
  const digest = suite.sha256(concatBytes(utf8Encode(name + '\n'), Uint8Array.of(type), publicKey));
  return digest.slice(0, KEY_HASH_BYTES);
}

/** The key ID of an Ed25519 note signature (type 0x01). */
export function ed25519KeyHash(suite: CryptoSuite, name: string, publicKey: Uint8Array): Uint8Array {
  return keyHash(suite, name, TYPE_ED25519, publicKey);
}

/** The key ID of an Ed25519 cosignature/v1 (type 0x04, c2sp.org/tlog-cosignature). */
export function cosignatureKeyHash(suite: CryptoSuite, name: string, publicKey: Uint8Array): Uint8Array {
  return keyHash(suite, name, TYPE_COSIGNATURE_V1, publicKey);
}

/** A verifier key (vkey) as Go's note.NewEd25519VerifierKey writes it: name+hash+base64(0x01 || key). */
export function verifierKey(suite: CryptoSuite, name: string, publicKey: Uint8Array): string {
  const hash = ed25519KeyHash(suite, name, publicKey);
  return `${name}+${hexEncode(hash)}+${base64Encode(concatBytes(Uint8Array.of(TYPE_ED25519), publicKey))}`;
}

/**
 * A cosigner's verifier key: name+hash+base64(0x04 || key), the hash being its cosignature key ID.
 * tlog-cosignature §Format: "Ed25519 public keys MAY be encoded as vkeys with signature type 0x04";
 * the vkey syntax is signed-note §Verifier keys (as for type 0x01 keys, only the type byte differs).
 */
export function cosignatureVerifierKey(suite: CryptoSuite, name: string, publicKey: Uint8Array): string {
  const hash = cosignatureKeyHash(suite, name, publicKey);
  return `${name}+${hexEncode(hash)}+${base64Encode(concatBytes(Uint8Array.of(TYPE_COSIGNATURE_V1), publicKey))}`;
}

function parseKey(
  suite: CryptoSuite,
  text: string,
  type: number,
  what: string,
): { name: string; publicKey: Uint8Array; keyHash: Uint8Array } {
  // Names cannot hold '+', but base64 can: split at the first two only.
  const first = text.indexOf('+');
  const second = first < 0 ? -1 : text.indexOf('+', first + 1);
  if (second < 0) invalidKey('a verifier key is <name>+<hash>+<key>');
  const name = text.slice(0, first);
  const hashHex = text.slice(first + 1, second);
  if (!isValidKeyName(name)) invalidKey('the verifier key name is not a valid key name');
  const hash = hashHex.length === 2 * KEY_HASH_BYTES ? hexDecode(hashHex) : undefined;
  if (hash === undefined) invalidKey('the verifier key hash is not 8 lowercase hex digits');
  const key = base64Decode(text.slice(second + 1));
  if (key === undefined) invalidKey('the verifier key is not canonical standard base64');
  if (key.length === 0 || key[0] !== type) {
    invalidKey(`the verifier key is not of type 0x0${type} (${what})`);
  }
  const publicKey = key.slice(1);
  if (publicKey.length !== ED25519_PUBLIC_KEY_BYTES) invalidKey('an Ed25519 public key is 32 bytes');
  if (!bytesEqual(hash, keyHash(suite, name, type, publicKey))) {
    invalidKey('the verifier key hash does not match its name and key');
  }
  return { name, publicKey, keyHash: hash };
}

/**
 * Reads an Ed25519 (type 0x01) verifier key. The hash must be 8 lowercase hex digits (the one
 * spelling Go and every other writer emit) and must match the name and key, as in Go's
 * note.NewVerifier; other key types are refused rather than misread as Ed25519.
 */
export function parseVerifierKey(
  suite: CryptoSuite,
  text: string,
): { name: string; publicKey: Uint8Array; keyHash: Uint8Array } {
  return parseKey(suite, text, TYPE_ED25519, 'Ed25519');
}

/**
 * Reads a cosigner's verifier key (type 0x04, cosignature/v1), as strictly as parseVerifierKey:
 * an Ed25519 note key (type 0x01) is refused, since the key ID of its cosignatures would differ.
 */
export function parseCosignatureVerifierKey(
  suite: CryptoSuite,
  text: string,
): { name: string; publicKey: Uint8Array; keyHash: Uint8Array } {
  return parseKey(suite, text, TYPE_COSIGNATURE_V1, 'Ed25519 cosignature/v1');
}

function utf8Length(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4; // a surrogate pair (the text is well-formed when this runs)
      i++;
    } else n += 3;
  }
  return n;
}

/** The checks every note text shares: valid UTF-8, no barred controls, bounded. */
function checkNoteCharacters(text: string, what: string): void {
  // UTF-16 length never exceeds UTF-8 length: a cheap first bound before any scan.
  if (text.length > NOTE_MAX_BYTES) invalid(`${what} is over ${NOTE_MAX_BYTES} bytes`);
  if (!text.isWellFormed()) invalid(`${what} is not valid UTF-8 (a lone surrogate)`);
  if (hasBarredControl(text)) invalid(`${what} has a control character other than newline`);
  if (utf8Length(text) > NOTE_MAX_BYTES) invalid(`${what} is over ${NOTE_MAX_BYTES} bytes`);
}

/**
 * A note body: non-empty, newline-terminated. It may hold empty lines, but not as its last line:
 * a body ending in an empty line would put two blank lines before the signatures, which the spec
 * reads as part of the body and which no signer of ours writes; refusing it keeps the
 * body/signature split obvious to every reader.
 */
function checkBody(body: string): void {
  checkNoteCharacters(body, 'the note body');
  if (body.length === 0 || !body.endsWith('\n')) {
    invalid('the note body must be non-empty and end in a newline');
  }
  if (body === '\n' || body.endsWith('\n\n')) invalid('the note body must not end in an empty line');
}

function signatureLine(sig: NoteSignature): string {
  if (!isValidKeyName(sig.name)) invalid('a signature key name is not a valid key name');
  if (sig.keyHash.length !== KEY_HASH_BYTES) invalid('a key hash is 4 bytes');
  if (sig.signature.length === 0) invalid('a signature is empty');
  return `${EM_DASH_PREFIX}${sig.name} ${base64Encode(concatBytes(sig.keyHash, sig.signature))}\n`;
}

/** The signed note: the body, one blank line, then one line per signature (signed-note §Format). */
export function formatNote(body: string, signatures: readonly NoteSignature[]): string {
  checkBody(body);
  if (signatures.length === 0) invalid('a signed note has at least one signature');
  if (signatures.length > NOTE_MAX_SIGNATURES) {
    invalid(`a note has at most ${NOTE_MAX_SIGNATURES} signatures`);
  }
  const text = body + '\n' + signatures.map(signatureLine).join('');
  checkNoteCharacters(text, 'the note');
  return text;
}

/**
 * Parses a signed note without verifying it. The body ends at the last empty line (the spec's
 * rule, and Go's LastIndex("\n\n")); everything after must be signature lines, each
 * "— <name> <base64>\n" with exactly one space on either side of the name.
 */
export function parseNote(text: string): { body: string; signatures: NoteSignature[] } {
  checkNoteCharacters(text, 'the note');
  const split = text.lastIndexOf('\n\n');
  if (split < 0) invalid('the note has no blank line before its signatures');
  const body = text.slice(0, split + 1);
  checkBody(body);
  const block = text.slice(split + 2);
  if (block.length === 0 || !block.endsWith('\n')) invalid('the signature lines must end in a newline');
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > NOTE_MAX_SIGNATURES) invalid(`a note has at most ${NOTE_MAX_SIGNATURES} signatures`);
  const signatures = lines.map((line) => {
    if (!line.startsWith(EM_DASH_PREFIX)) invalid('a signature line must start with an em dash and a space');
    const rest = line.slice(EM_DASH_PREFIX.length);
    const space = rest.indexOf(' ');
    if (space < 0) invalid('a signature line is "— <name> <base64>"');
    const name = rest.slice(0, space);
    if (!isValidKeyName(name)) invalid('a signature key name is not a valid key name');
    const raw = base64Decode(rest.slice(space + 1));
    if (raw === undefined) invalid('a signature is not canonical standard base64');
    if (raw.length < KEY_HASH_BYTES + 1) invalid('a signature is a 4-byte key hash and at least one byte');
    return { name, keyHash: raw.slice(0, KEY_HASH_BYTES), signature: raw.slice(KEY_HASH_BYTES) };
  });
  return { body, signatures };
}

/**
 * Signs a note body with Ed25519 (type 0x01). The Signer interface carries no public key, and
 * the key ID is a hash of it, so the caller passes the key the signer holds; the signature is
 * checked against it, so that a signer holding another key fails here and not in every verifier.
 */
export async function signNote(
  body: string,
  name: string,
  signer: Signer,
  suite: CryptoSuite,
  publicKey: Uint8Array,
): Promise<NoteSignature> {
  checkBody(body);
  const keyHash = ed25519KeyHash(suite, name, publicKey);
  const message = utf8Encode(body);
  const signature = await signer.sign(message);
  if (!suite.verifyEd25519(publicKey, message, signature)) {
    invalidKey('the signer did not produce an Ed25519 signature under the given public key');
  }
  return { name, keyHash, signature };
}

/** True when sig is an Ed25519 note signature over body by (name, publicKey); never throws. */
export function verifyNoteSignature(
  suite: CryptoSuite,
  body: string,
  sig: NoteSignature,
  name: string,
  publicKey: Uint8Array,
): boolean {
  try {
    checkBody(body);
    if (sig.name !== name || !bytesEqual(sig.keyHash, ed25519KeyHash(suite, name, publicKey))) return false;
    if (sig.signature.length !== ED25519_SIGNATURE_BYTES) return false;
    return suite.verifyEd25519(publicKey, utf8Encode(body), sig.signature);
  } catch {
    return false;
  }
}

const DECIMAL = /^(?:0|[1-9][0-9]*)$/;

function checkCheckpoint(c: Checkpoint): void {
  const line = (text: string) => text.length > 0 && !text.includes('\n');
  if (!line(c.origin)) invalid('the checkpoint origin must be one non-empty line');
  if (WHITE_SPACE.test(c.origin[0]!) || WHITE_SPACE.test(c.origin.at(-1)!)) {
    invalid('the checkpoint origin must not start or end with a space');
  }
  if (!Number.isSafeInteger(c.size) || c.size < 0) invalid('the checkpoint size is not a safe integer ≥ 0');
  if (c.root.length !== CHECKPOINT_ROOT_BYTES) invalid('the checkpoint root hash is 32 bytes');
  if (!c.extensions.every(line)) invalid('a checkpoint extension line must be one non-empty line');
}

/** The checkpoint note body (tlog-checkpoint §Note text). */
export function formatCheckpoint(c: Checkpoint): string {
  checkCheckpoint(c);
  const body = [c.origin, String(c.size), base64Encode(c.root), ...c.extensions].join('\n') + '\n';
  checkBody(body);
  return body;
}

/**
 * Reads a checkpoint note body. The spec allows any uint64 tree size; sizes above
 * Number.MAX_SAFE_INTEGER (2^53 - 1) are refused, since a number could not hold them exactly
 * and no log of ours comes near.
 */
export function parseCheckpoint(body: string): Checkpoint {
  checkBody(body);
  const lines = body.slice(0, -1).split('\n');
  if (lines.length < 3) invalid('a checkpoint has an origin, a size and a root hash line');
  const [origin, sizeText, rootText, ...extensions] = lines as [string, string, string, ...string[]];
  if (!DECIMAL.test(sizeText)) invalid('the checkpoint size is not a decimal without leading zeros');
  const size = Number(sizeText);
  if (!Number.isSafeInteger(size)) invalid('the checkpoint size is above 2^53 - 1');
  const root = base64Decode(rootText);
  if (root === undefined) invalid('the checkpoint root hash is not canonical standard base64');
  const c: Checkpoint = { origin, size, root, extensions };
  checkCheckpoint(c);
  return c;
}

/**
 * The message an Ed25519 cosignature/v1 signs: "cosignature/v1\ntime <ts>\n" and then the whole
 * checkpoint body, extension lines included (tlog-cosignature §Ed25519 signed message). The
 * spec allows timestamps up to 2^63 - 1; we keep to safe integers.
 */
export function cosignatureMessage(body: string, timestamp: number): Uint8Array {
  checkBody(body);
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
    invalid('a cosignature timestamp is a safe integer ≥ 0');
  }
  return utf8Encode(`cosignature/v1\ntime ${timestamp}\n${body}`);
}

function uint64BigEndian(value: number): Uint8Array {
  const out = new Uint8Array(TIMESTAMP_BYTES);
  const view = new DataView(out.buffer);
  view.setUint32(0, Math.floor(value / 2 ** 32));
  view.setUint32(4, value % 2 ** 32);
  return out;
}

/**
 * Cosigns a checkpoint as a witness: the signature is timestamp (u64, big-endian) followed by
 * Ed25519 over cosignatureMessage, under key ID type 0x04. The body must be a checkpoint, since
 * a cosignature states something about a log's tree. As with signNote, the caller passes the
 * signer's public key and the signature is checked against it.
 */
export async function cosign(
  suite: CryptoSuite,
  body: string,
  name: string,
  signer: Signer,
  timestamp: number,
  publicKey: Uint8Array,
): Promise<NoteSignature> {
  parseCheckpoint(body);
  const keyHash = cosignatureKeyHash(suite, name, publicKey);
  const message = cosignatureMessage(body, timestamp);
  const signature = await signer.sign(message);
  if (!suite.verifyEd25519(publicKey, message, signature)) {
    invalidKey('the signer did not produce an Ed25519 signature under the given public key');
  }
  return { name, keyHash, signature: concatBytes(uint64BigEndian(timestamp), signature) };
}

/**
 * The timestamp of a valid cosignature/v1 by (name, publicKey) over the checkpoint body, or
 * undefined: for a wrong name or key ID, a malformed body or signature, a timestamp beyond
 * 2^53 - 1, or a signature that does not verify. Never throws.
 */
export function verifyCosignature(
  suite: CryptoSuite,
  body: string,
  sig: NoteSignature,
  name: string,
  publicKey: Uint8Array,
): { timestamp: number } | undefined {
  try {
    parseCheckpoint(body);
    if (sig.name !== name || !bytesEqual(sig.keyHash, cosignatureKeyHash(suite, name, publicKey))) {
      return undefined;
    }
    if (sig.signature.length !== TIMESTAMP_BYTES + ED25519_SIGNATURE_BYTES) return undefined;
    const view = new DataView(sig.signature.buffer, sig.signature.byteOffset, TIMESTAMP_BYTES);
    // At 2^53 and above this rounds, but stays at least 2^53, which cosignatureMessage refuses:
    // a rounded decimal is never put in place of the one that was signed.
    const timestamp = view.getUint32(0) * 2 ** 32 + view.getUint32(4);
    const message = cosignatureMessage(body, timestamp);
    return suite.verifyEd25519(publicKey, message, sig.signature.subarray(TIMESTAMP_BYTES))
      ? { timestamp }
      : undefined;
  } catch {
    return undefined;
  }
}
