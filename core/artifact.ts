// Authorization artifact v1 (docs/spec/artifact.md): its shape, limits, derived fields,
// issuance and strict decoding. Pure: the crypto suite is passed in.
import { canonicalBytes, parseCanonical, type JsonValue } from './canonical.js';
import type { CryptoSuite, Signer } from './crypto.js';
import { base64urlDecode, base64urlEncode, crockford32Encode, hexEncode } from './encoding.js';
import { GovernanceError } from './errors.js';
import { ARTIFACT_ID_PATTERN, LINEAGE_PREFIX } from './protocol.js';
// Until every importer names core/protocol.ts (see the restructuring notes).
import { parseSeconds } from './time.js';

export const ARTIFACT_VERSION = '1';

export const LIMITS = {
  /** Characters of the base64url header value. */
  headerChars: 8192,
  /** Identifiers (iss, sub, pol.ref, env.*, parameter values). */
  stringChars: 256,
  opNameChars: 128,
  params: 16,
  scopeEntries: 32,
  scopeEntryChars: 64,
  kidChars: 128,
  /** Longest validity window an artifact may carry (nbf to exp). */
  lifetimeSeconds: 86_400,
  maxUses: 1_000_000,
  maxRateWindowSeconds: 86_400,
  /**
   * The largest clock-skew allowance any enforcement point may use. Use state is kept until
   * exp plus this, whatever the local allowance, so a replica with a larger allowance can never
   * accept an artifact whose use state another replica has already forgotten.
   */
  maxClockSkewSeconds: 300,
} as const;

export type UseTerms =
  | { mode: 'single'; nonce: string }
  | { mode: 'bounded'; nonce: string; max: number }
  | { mode: 'rate'; nonce: string; rate: number; window: number };

/** An operation: its name, string parameters and scope (a set, sorted). */
export interface Operation {
  name: string;
  params: Record<string, string>;
  scope: string[];
}

export interface Environment {
  runtime: string;
  region: string;
  tenancy: string;
}

/** The signed part of an artifact, in wire shape (operation parameters sit inline in `op`). */
export interface ArtifactPayload {
  v: typeof ARTIFACT_VERSION;
  iss: string;
  sub: string;
  op: { name: string; scope: string[]; [param: string]: string | string[] };
  pol: { ref: string; hash: string };
  env: Environment;
  nbf: string;
  exp: string;
  use: UseTerms;
}

export interface ArtifactSignature {
  alg: 'ed25519';
  kid: string;
  val: string;
}

export interface Artifact extends ArtifactPayload {
  id: string;
  chash: string;
  sig: ArtifactSignature;
}

/** A decoded artifact with everything the decision needs precomputed. */
export interface DecodedArtifact {
  artifact: Artifact;
  /** Canonical bytes of the payload: what is hashed and signed. */
  payloadBytes: Uint8Array;
  signature: Uint8Array;
  operation: Operation;
  nbf: number;
  exp: number;
}

const PRINTABLE_ID = /^[\x21-\x7e]+$/;
const PRINTABLE_TEXT = /^[\x20-\x7e]+$/;
const OP_NAME = /^[A-Za-z][A-Za-z0-9._-]*$/;
const PARAM_NAME = /^[a-z][a-z0-9_]{0,63}$/;
const SCOPE_ENTRY = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;
/** Key ids: a map key with a fixed alphabet, never a path (no "..") or anything to interpret. */
export const KID_PATTERN = /^(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/;
const NONCE = /^[A-Za-z0-9_-]{22}$/;
const SHA3_REF = /^sha3-512:[0-9a-f]{128}$/;
const SIG_VAL = /^[A-Za-z0-9_-]{86}$/;

const RESERVED_OP_KEYS = new Set(['name', 'scope']);

function malformed(message: string): never {
  throw new GovernanceError('artifact.malformed', message);
}

type Obj = Record<string, JsonValue>;

function object(
  value: JsonValue | undefined,
  path: string,
  required: readonly string[],
  optional: readonly string[] = [],
): Obj {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    malformed(`${path} must be an object`);
  for (const key of required) if (!Object.hasOwn(value, key)) malformed(`${path}.${key} is missing`);
  for (const key of Object.keys(value)) {
    if (!required.includes(key) && !optional.includes(key))
      malformed(`${path}.${key} is not a field of artifact v1`);
  }
  return value;
}

function text(value: JsonValue | undefined, path: string, pattern: RegExp, maxChars: number): string {
  if (typeof value !== 'string') malformed(`${path} must be a string`);
  if (value.length > maxChars) malformed(`${path} is longer than ${maxChars} characters`);
  if (!pattern.test(value)) malformed(`${path} has characters outside its alphabet`);
  return value;
}

function integer(value: JsonValue | undefined, path: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) malformed(`${path} must be a safe integer`);
  if (value < min || value > max) malformed(`${path} must be between ${min} and ${max}`);
  return value;
}

function validateScope(value: JsonValue | undefined, path: string): string[] {
  if (!Array.isArray(value)) malformed(`${path} must be an array`);
  if (value.length > LIMITS.scopeEntries) malformed(`${path} has more than ${LIMITS.scopeEntries} entries`);
  const scope = value.map((entry, i) => text(entry, `${path}[${i}]`, SCOPE_ENTRY, LIMITS.scopeEntryChars));
  // A scope is a set; one canonical spelling (strictly ascending) keeps content ids unique.
  for (let i = 1; i < scope.length; i++) {
    if (!(scope[i - 1]! < scope[i]!)) malformed(`${path} must be sorted and without duplicates`);
  }
  return scope;
}

function validateOperation(value: JsonValue | undefined): Operation {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) malformed('op must be an object');
  const name = text(value.name, 'op.name', OP_NAME, LIMITS.opNameChars);
  const scope = validateScope(value.scope, 'op.scope');
  const params: Record<string, string> = {};
  let count = 0;
  for (const [key, item] of Object.entries(value)) {
    if (RESERVED_OP_KEYS.has(key)) continue;
    if (!PARAM_NAME.test(key))
      malformed(`op parameter name ${JSON.stringify(key.slice(0, 64))} is not allowed`);
    if (++count > LIMITS.params) malformed(`op has more than ${LIMITS.params} parameters`);
    params[key] = text(item, `op.${key}`, PRINTABLE_TEXT, LIMITS.stringChars);
  }
  return { name, params, scope };
}

function validateUse(value: JsonValue | undefined): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) malformed('use must be an object');
  switch (value.mode) {
    case 'single':
      object(value, 'use', ['mode', 'nonce']);
      break;
    case 'bounded':
      object(value, 'use', ['mode', 'nonce', 'max']);
      integer(value.max, 'use.max', 1, LIMITS.maxUses);
      break;
    case 'rate':
      object(value, 'use', ['mode', 'nonce', 'rate', 'window']);
      integer(value.rate, 'use.rate', 1, LIMITS.maxUses);
      integer(value.window, 'use.window', 1, LIMITS.maxRateWindowSeconds);
      break;
    default:
      malformed('use.mode must be single, bounded or rate');
  }
  // 22 characters hold 132 bits; the last 4 must be zero so the nonce is exactly 128 bits.
  if (base64urlDecode(text(value.nonce, 'use.nonce', NONCE, 22))?.length !== 16) {
    malformed('use.nonce is not 128 bits of canonical base64url');
  }
}

/** Checks the payload fields; returns the parsed operation and window. */
function validatePayloadFields(root: Obj): { operation: Operation; nbf: number; exp: number } {
  if (root.v !== ARTIFACT_VERSION) malformed('v must be "1"');
  text(root.iss, 'iss', PRINTABLE_ID, LIMITS.stringChars);
  text(root.sub, 'sub', PRINTABLE_ID, LIMITS.stringChars);
  const operation = validateOperation(root.op);
  const pol = object(root.pol, 'pol', ['ref', 'hash']);
  text(pol.ref, 'pol.ref', PRINTABLE_ID, LIMITS.stringChars);
  text(pol.hash, 'pol.hash', SHA3_REF, 137);
  const env = object(root.env, 'env', ['runtime', 'region', 'tenancy']);
  for (const key of ['runtime', 'region', 'tenancy'] as const) {
    text(env[key], `env.${key}`, PRINTABLE_ID, LIMITS.stringChars);
  }
  const nbf = parseSeconds(text(root.nbf, 'nbf', PRINTABLE_ID, 20));
  const exp = parseSeconds(text(root.exp, 'exp', PRINTABLE_ID, 20));
  if (nbf === undefined)
    malformed('nbf must be an RFC 3339 UTC time in whole seconds (YYYY-MM-DDTHH:MM:SSZ)');
  if (exp === undefined)
    malformed('exp must be an RFC 3339 UTC time in whole seconds (YYYY-MM-DDTHH:MM:SSZ)');
  if (exp <= nbf) malformed('exp must be after nbf');
  if (exp - nbf > LIMITS.lifetimeSeconds)
    malformed(`validity window longer than ${LIMITS.lifetimeSeconds} s`);
  validateUse(root.use);
  return { operation, nbf, exp };
}

const PAYLOAD_FIELDS = ['v', 'iss', 'sub', 'op', 'pol', 'env', 'nbf', 'exp', 'use'] as const;
const ARTIFACT_FIELDS = [...PAYLOAD_FIELDS, 'id', 'chash', 'sig'] as const;

export function payloadOf(artifact: Artifact): ArtifactPayload {
  const { v, iss, sub, op, pol, env, nbf, exp, use } = artifact;
  return { v, iss, sub, op, pol, env, nbf, exp, use };
}

/** chash: "sha3-512:" + hex of SHA3-512 over the canonical payload bytes. */
export function contentHash(digest: Uint8Array): string {
  return 'sha3-512:' + hexEncode(digest);
}

/** The id: "auth_" + Crockford base32 of the first 20 bytes (160 bits) of the payload digest. */
export function artifactIdFromDigest(digest: Uint8Array): string {
  return 'auth_' + crockford32Encode(digest.subarray(0, 20));
}

/** The lineage of the operation an artifact authorizes shares the artifact id's suffix. */
export function lineageOf(artifactId: string): string {
  return LINEAGE_PREFIX + artifactId.slice('auth_'.length);
}

/** Wire shape of an operation: parameters inline beside name and scope. */
export function operationToWire(operation: Operation): ArtifactPayload['op'] {
  for (const key of Object.keys(operation.params)) {
    if (RESERVED_OP_KEYS.has(key)) malformed(`operation parameter ${key} collides with op.${key}`);
  }
  return { ...operation.params, name: operation.name, scope: [...operation.scope].sort() };
}

/**
 * Decodes and validates a header value. Throws GovernanceError('artifact.malformed') for
 * anything that is not a canonical artifact v1 within the limits; checks no signature.
 */
export function decodeArtifact(header: string): DecodedArtifact {
  if (header.length > LIMITS.headerChars) malformed(`header longer than ${LIMITS.headerChars} characters`);
  const bytes = base64urlDecode(header);
  if (bytes === undefined) malformed('header is not unpadded base64url');
  let root: JsonValue;
  try {
    root = parseCanonical(bytes);
  } catch (e) {
    malformed(`artifact is not canonical JSON: ${(e as Error).message}`);
  }
  const obj = object(root, 'artifact', ARTIFACT_FIELDS);
  const { operation, nbf, exp } = validatePayloadFields(obj);
  text(obj.id, 'id', ARTIFACT_ID_PATTERN, 37);
  text(obj.chash, 'chash', SHA3_REF, 137);
  const sig = object(obj.sig, 'sig', ['alg', 'kid', 'val']);
  if (sig.alg !== 'ed25519') malformed('sig.alg must be "ed25519"');
  text(sig.kid, 'sig.kid', KID_PATTERN, LIMITS.kidChars);
  const signature = base64urlDecode(text(sig.val, 'sig.val', SIG_VAL, 86));
  if (signature === undefined) malformed('sig.val is not canonical base64url');
  const artifact = obj as unknown as Artifact;
  return { artifact, payloadBytes: canonicalBytes(payloadOf(artifact)), signature, operation, nbf, exp };
}

/** The header value for an artifact: base64url (unpadded) of its canonical bytes. */
export function encodeArtifact(artifact: Artifact): string {
  return base64urlEncode(canonicalBytes(artifact));
}

/**
 * Signs a payload into an artifact. The payload is validated with the same rules a verifier
 * applies, so an issuer cannot produce an artifact that every enforcement point would refuse.
 */
export async function signArtifact(
  payload: ArtifactPayload,
  signer: Signer,
  suite: CryptoSuite,
): Promise<Artifact> {
  // canonicalBytes first: it refuses anything that is not plain JSON, so the field checks below
  // see exactly what a verifier will parse.
  const payloadBytes = canonicalBytes(payload);
  validatePayloadFields(payload as unknown as Obj);
  if (!KID_PATTERN.test(signer.kid)) malformed('the signer kid is not a valid kid');
  const digest = suite.sha3_512(payloadBytes);
  const signature = await signer.sign(payloadBytes);
  const artifact: Artifact = {
    ...payload,
    id: artifactIdFromDigest(digest),
    chash: contentHash(digest),
    sig: { alg: 'ed25519', kid: signer.kid, val: base64urlEncode(signature) },
  };
  // Field limits alone allow artifacts whose header exceeds the header limit; check the whole.
  if (encodeArtifact(artifact).length > LIMITS.headerChars) {
    malformed(`header longer than ${LIMITS.headerChars} characters`);
  }
  return artifact;
}
