// Redaction (docs/spec/ledger.md §3.1): sensitive event members committed as salted hashes. Pure:
// the crypto suite and the salts are passed in, so a third party checks openings with the
// portable suite alone.
//
// A producer replaces a member's value by a commitment before it signs its batch, so the signed,
// chained and tree-hashed event holds only the commitment; the opening (member, salt, clear
// value) travels beside the batch and is stored beside the chain. Deleting an opening (erasure)
// touches nothing that is hashed or signed: every chain, tree, signature, lineage and proof still
// verifies from public data, and the commitment alone reveals nothing of the value (the 32-byte
// salt is uniformly random and never published apart from the opening).
//
// The construction is the salted-hash disclosure of SD-JWT (a salt, the member name and the
// value under one hash), domain-separated and over canonical bytes, with SHA-256 as the tree and
// the C2SP formats use. It is binding (a second opening is a SHA-256 collision) and hiding as
// long as the salt stays secret (256 random bits: no dictionary of likely values helps).
import { canonicalBytes, canonicalize, parseCanonicalText, type JsonValue } from './canonical.js';
import type { CryptoSuite } from './crypto.js';
import { base64urlDecode, base64urlEncode, concatBytes, hexEncode, utf8Encode } from './encoding.js';
import { GovernanceError } from './errors.js';
import { validateEvent, type LedgerEvent } from './event.js';

/**
 * The members a producer may commit. The others stay clear because verifiers and indexes read
 * them: `v`, `type` and `time` (the event's shape and the key validity it is checked against),
 * `producer` (the subject of the signing key), `lineage` (lineage_prev, the lineage index,
 * exclusion proofs), `artifact_id` (what a lineage is looked up by), `reason` (a code of
 * core/errors.ts the verifier checks), `policy_required`, `policy_hash` and `issuer` (public
 * policy and key identifiers, nothing personal).
 */
export const REDACTABLE_MEMBERS = ['identity', 'operation', 'request_id', 'runtime', 'data'] as const;
export type RedactableMember = (typeof REDACTABLE_MEMBERS)[number];

/**
 * Event types whose `data` is never committed: the lineage stage-order check (§6) reads
 * `data.attestation_ref` of admission.granted and `data.attestation.attestation_id` of
 * attestation.signed, which are references, not personal data.
 */
export const STRUCTURAL_DATA_TYPES: readonly string[] = ['admission.granted', 'attestation.signed'];

/** The domain separation string of a commitment's hash input. */
export const COMMITMENT_DOMAIN = 'governance-ledger:v2:commitment';
export const COMMITMENT_PREFIX = 'commit:sha256:';
export const SALT_BYTES = 32;
const COMMITMENT = /^commit:sha256:[0-9a-f]{64}$/;
const MEMBER_SET = new Set<string>(REDACTABLE_MEMBERS);

/** What a committed `data` member holds: exactly this object (§3.1). */
export interface CommittedData {
  commitment: string;
}

/** The opening of one commitment: the member, the salt (base64url, 32 bytes) and the clear value. */
export interface Opening {
  member: RedactableMember;
  salt: string;
  value: string | { [key: string]: JsonValue };
}

function invalid(message: string): never {
  throw new GovernanceError('ledger.redaction.invalid', message);
}

export const isRedactableMember = (member: unknown): member is RedactableMember =>
  typeof member === 'string' && MEMBER_SET.has(member);

export const isCommitment = (value: unknown): value is string =>
  typeof value === 'string' && COMMITMENT.test(value);

/**
 * The commitment text to `value` of `member` under `salt`:
 * `commit:sha256:` || hex(SHA-256(domain || 0x00 || UTF-8(member) || 0x00 || salt || canonical(value))).
 */
export function commitmentOf(
  suite: CryptoSuite,
  member: RedactableMember,
  salt: Uint8Array,
  value: JsonValue,
): string {
  if (salt.length !== SALT_BYTES) invalid(`a salt is ${SALT_BYTES} bytes`);
  const zero = new Uint8Array(1);
  const input = concatBytes(
    utf8Encode(COMMITMENT_DOMAIN),
    zero,
    utf8Encode(member),
    zero,
    salt,
    canonicalBytes(value),
  );
  return COMMITMENT_PREFIX + hexEncode(suite.sha256(input));
}

/**
 * The commitment an event holds for `member`, or undefined when the member is absent or clear. A
 * text member is committed when its value is a commitment text; `data` when it is exactly
 * `{"commitment":<commitment text>}`.
 */
export function committedMember(event: LedgerEvent, member: RedactableMember): string | undefined {
  const value: unknown = event[member];
  if (member !== 'data') return isCommitment(value) ? value : undefined;
  if (value === null || typeof value !== 'object') return undefined;
  const keys = Object.keys(value);
  const commitment = (value as Record<string, unknown>).commitment;
  return keys.length === 1 && keys[0] === 'commitment' && isCommitment(commitment) ? commitment : undefined;
}

/**
 * Commits the given members of a (clear, valid) event. `salt` gives a fresh 32-byte salt per
 * call (random in production; fixed only in test vectors). Members the event lacks are skipped,
 * and so is the `data` of STRUCTURAL_DATA_TYPES. Returns the committed event and the canonical
 * texts of its openings, in the order of `members`. Throws ledger.event.invalid for an invalid
 * event.
 */
export function commitEvent(
  suite: CryptoSuite,
  event: LedgerEvent,
  members: readonly RedactableMember[],
  salt: () => Uint8Array,
): { event: LedgerEvent; openings: string[] } {
  validateEvent(event);
  const committed: LedgerEvent = { ...event };
  const openings: string[] = [];
  for (const member of new Set(members)) {
    if (!isRedactableMember(member)) invalid(`event.${String(member)} may not be committed`);
    const value = event[member];
    if (value === undefined) continue;
    if (member === 'data' && STRUCTURAL_DATA_TYPES.includes(event.type)) continue;
    const bytes = salt();
    const commitment = commitmentOf(suite, member, bytes, value);
    if (member === 'data') committed.data = { commitment };
    else committed[member] = commitment;
    openings.push(canonicalize({ member, salt: base64urlEncode(bytes), value }));
  }
  validateEvent(committed);
  return { event: committed, openings };
}

/**
 * Parses an opening strictly: canonical JSON text (or a parsed value, which is then encoded
 * canonically), exactly `member`, `salt` and `value`; a redactable member; a salt of exactly 32
 * bytes in canonical base64url; a value of the member's type (text, or an object for `data`).
 * Throws ledger.redaction.invalid.
 */
export function parseOpening(opening: unknown): Opening {
  let value: unknown = opening;
  if (typeof opening === 'string') {
    try {
      value = parseCanonicalText(opening);
    } catch (e) {
      invalid(`opening: ${(e as Error).message}`);
    }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) invalid('an opening is an object');
  const object = value as Record<string, unknown>;
  const keys = Object.keys(object).sort();
  if (keys.join(',') !== 'member,salt,value')
    invalid('an opening has exactly the members member, salt and value');
  const { member, salt, value: clear } = object;
  if (!isRedactableMember(member)) invalid(`opening.member ${JSON.stringify(member)} may not be committed`);
  const bytes = typeof salt === 'string' ? base64urlDecode(salt) : undefined;
  if (bytes?.length !== SALT_BYTES) invalid(`opening.salt is not the base64url of ${SALT_BYTES} bytes`);
  if (member === 'data') {
    if (clear === null || typeof clear !== 'object' || Array.isArray(clear))
      invalid('the opening of data has an object value');
  } else if (typeof clear !== 'string') {
    invalid(`the opening of ${member} has a text value`);
  }
  return { member, salt: salt as string, value: clear as Opening['value'] };
}

/**
 * Whether `opening` opens the commitment text `committed`: it parses strictly (parseOpening) and
 * recomputes to the same commitment. Never throws.
 */
export function openCommitment(suite: CryptoSuite, committed: string, opening: unknown): boolean {
  try {
    if (!isCommitment(committed)) return false;
    const { member, salt, value } = parseOpening(opening);
    return commitmentOf(suite, member, base64urlDecode(salt)!, value) === committed;
  } catch {
    return false;
  }
}

/**
 * Checks openings against the (committed) event they belong to, and returns the event with the
 * opened members in the clear: each opening must parse strictly, name a member the event holds a
 * commitment for, name no member twice, open that commitment, and give a valid clear event (§3).
 * Members without an opening stay committed. Throws ledger.redaction.invalid.
 */
export function verifyOpenings(
  suite: CryptoSuite,
  event: LedgerEvent,
  openings: readonly unknown[],
): LedgerEvent {
  const clear: LedgerEvent = { ...event };
  const seen = new Set<string>();
  for (const [i, raw] of openings.entries()) {
    const opening = parseOpening(raw);
    if (seen.has(opening.member)) invalid(`opening ${i}: ${opening.member} is opened twice`);
    seen.add(opening.member);
    const committed = committedMember(event, opening.member);
    if (committed === undefined) invalid(`opening ${i}: the event holds no commitment for ${opening.member}`);
    if (!openCommitment(suite, committed, opening))
      invalid(`opening ${i}: does not open the commitment of ${opening.member}`);
    if (opening.member === 'data') clear.data = opening.value as { [key: string]: JsonValue };
    else clear[opening.member] = opening.value as string;
  }
  try {
    validateEvent(clear);
  } catch (e) {
    invalid(`the opened event is not a valid event: ${(e as Error).message}`);
  }
  return clear;
}
