// Registry records that cross trust boundaries: certified key records (a root key vouches for
// each issuer, producer and audit key), revocation records, and policy hashes. Enforcement
// points pin only root public keys and accept another key only through a valid record, so a
// write into Redis cannot inject a key. Pure: the crypto suite is passed in.
import { canonicalBytes, type JsonValue } from './canonical.js';
import type { CryptoSuite } from './crypto.js';
import { base64urlDecode, base64urlEncode, hexEncode } from './encoding.js';
import { KID_PATTERN } from './artifact.js';
import { isAcceptablePublicKey } from './ed25519.js';
import { GovernanceError } from './errors.js';
import { parseSeconds } from './time.js';

export type KeyRole = 'issuer' | 'producer' | 'audit';
const KEY_ROLES: readonly KeyRole[] = ['issuer', 'producer', 'audit'];

export interface KeyRecordBody {
  v: '1';
  kid: string;
  role: KeyRole;
  /** base64url of the raw 32-byte Ed25519 public key. */
  public_key: string;
  /** Whose key: the issuer id (`iss`), the producer id, or the ledger log id. */
  subject: string;
  not_before: string;
  not_after: string;
}

export interface KeyRecord extends KeyRecordBody {
  /** The root key's signature over the record statement. */
  cert: { alg: 'ed25519'; root_kid: string; val: string };
}

export interface RevocationBody {
  v: '1';
  /** Either an artifact id or a key id is revoked; revocations are never removed. */
  target: { artifact_id: string } | { kid: string };
  reason: string;
  time: string;
  by: string;
}

export interface RevocationRecord extends RevocationBody {
  sig: { alg: 'ed25519'; kid: string; val: string };
}

const PRINTABLE = /^[\x21-\x7e]{1,256}$/;
const KEY_BODY_MEMBERS = new Set(['v', 'kid', 'role', 'public_key', 'subject', 'not_before', 'not_after']);
const CERT_MEMBERS = new Set(['alg', 'root_kid', 'val']);

/** The bytes the root signs: the record without `cert`, with the domain separator `kind` (docs/spec/ledger.md §8.1). */
export function keyRecordStatement(body: KeyRecordBody): Uint8Array {
  return canonicalBytes({ ...body, kind: 'governance.key-record.v1' });
}

function revocationStatement(body: RevocationBody): Uint8Array {
  return canonicalBytes({ ...body, kind: 'governance.revocation.v1' });
}

export function certifyKey(
  body: KeyRecordBody,
  rootKid: string,
  sign: (message: Uint8Array) => Uint8Array,
): KeyRecord {
  checkKeyBody(body);
  return {
    ...body,
    cert: { alg: 'ed25519', root_kid: rootKid, val: base64urlEncode(sign(keyRecordStatement(body))) },
  };
}

function checkKeyBody(body: KeyRecordBody): Uint8Array {
  const bad = (m: string): never => {
    throw new GovernanceError('key.invalid', m);
  };
  // A member the checks below do not know would be signed over without meaning anything.
  for (const key of Object.keys(body))
    if (!KEY_BODY_MEMBERS.has(key)) bad(`key record member ${key.slice(0, 64)} is not allowed`);
  if (body.v !== '1') bad('key record v must be "1"');
  if (typeof body.kid !== 'string' || !KID_PATTERN.test(body.kid)) bad('key record kid is malformed');
  if (!KEY_ROLES.includes(body.role)) bad('key record role must be issuer, producer or audit');
  if (typeof body.subject !== 'string' || !PRINTABLE.test(body.subject))
    bad('key record subject is malformed');
  const raw = typeof body.public_key === 'string' ? base64urlDecode(body.public_key) : undefined;
  if (!raw || !isAcceptablePublicKey(raw))
    bad('key record public_key is not a canonical prime-order Ed25519 key');
  const nb = parseSeconds(body.not_before);
  const na = parseSeconds(body.not_after);
  if (nb === undefined || na === undefined || na <= nb) bad('key record validity window is malformed');
  return raw!;
}

export interface VerifiedKey {
  kid: string;
  role: KeyRole;
  subject: string;
  publicKey: Uint8Array;
  notBefore: number;
  notAfter: number;
}

/**
 * Verifies a key record against the pinned root keys (root kid → raw public key). Throws
 * key.invalid. Validity in time is the caller's decision (issuance uses not_before/not_after;
 * verification of old artifacts keeps a key until its artifacts have expired).
 */
export function verifyKeyRecord(
  suite: CryptoSuite,
  record: KeyRecord,
  roots: ReadonlyMap<string, Uint8Array>,
): VerifiedKey {
  if (record === null || typeof record !== 'object' || Array.isArray(record))
    throw new GovernanceError('key.invalid', 'a key record is an object');
  const { cert, ...body } = record;
  const raw = checkKeyBody(body);
  if (
    cert === null ||
    typeof cert !== 'object' ||
    Object.keys(cert).some((key) => !CERT_MEMBERS.has(key)) ||
    cert.alg !== 'ed25519' ||
    typeof cert.root_kid !== 'string' ||
    typeof cert.val !== 'string'
  ) {
    throw new GovernanceError(
      'key.invalid',
      'key record has no certificate of the form {alg, root_kid, val}',
    );
  }
  const root = roots.get(cert.root_kid);
  const signature = base64urlDecode(cert.val);
  if (!root || signature?.length !== 64 || !suite.verifyEd25519(root, keyRecordStatement(body), signature)) {
    throw new GovernanceError('key.invalid', `key record ${body.kid} is not certified by a pinned root`);
  }
  return {
    kid: body.kid,
    role: body.role,
    subject: body.subject,
    publicKey: raw,
    notBefore: parseSeconds(body.not_before)!,
    notAfter: parseSeconds(body.not_after)!,
  };
}

/**
 * The root public keys a verifier pinned: by kid, and kid-less ones (a bare PEM file) that vouch
 * for a record whatever root_kid it names; the signature is what counts.
 */
export interface PinnedRoots {
  byKid: ReadonlyMap<string, Uint8Array>;
  anyKid: readonly Uint8Array[];
}

/** verifyKeyRecord against pinned roots: the root of the record's root_kid, else each kid-less root. */
export function verifyCertifiedKey(suite: CryptoSuite, record: KeyRecord, roots: PinnedRoots): VerifiedKey {
  try {
    return verifyKeyRecord(suite, record, roots.byKid);
  } catch (first) {
    const rootKid = typeof record?.cert?.root_kid === 'string' ? record.cert.root_kid : '';
    for (const root of roots.anyKid) {
      try {
        return verifyKeyRecord(suite, record, new Map([[rootKid, root]]));
      } catch {
        // try the next pinned root
      }
    }
    throw first;
  }
}

export function signRevocation(
  body: RevocationBody,
  kid: string,
  sign: (message: Uint8Array) => Uint8Array,
): RevocationRecord {
  return { ...body, sig: { alg: 'ed25519', kid, val: base64urlEncode(sign(revocationStatement(body))) } };
}

export function verifyRevocation(
  suite: CryptoSuite,
  record: RevocationRecord,
  publicKey: Uint8Array,
): boolean {
  const { sig, ...body } = record;
  const signature = typeof sig?.val === 'string' ? base64urlDecode(sig.val) : undefined;
  if (!signature) return false;
  try {
    return suite.verifyEd25519(publicKey, revocationStatement(body), signature);
  } catch {
    return false;
  }
}

/** A policy's hash: "sha3-512:" + hex of SHA3-512 over its canonical JSON form. */
export function policyHash(suite: CryptoSuite, document: JsonValue): string {
  return 'sha3-512:' + hexEncode(suite.sha3_512(canonicalBytes(document)));
}

/**
 * The authority's signed liveness and completeness statement, published every second or so.
 * An enforcement point denies everything (issuer.unavailable) when the newest heartbeat is
 * older than its freshness bound, or when its revocation view holds fewer revocations than
 * the heartbeat counts: a dead authority or a lagging view can never let a revoked artifact in.
 */
export interface RegistryHeartbeatBody {
  v: '1';
  issuer: string;
  time: string;
  /** Revocations published so far (they are never removed, so the count only grows). */
  revocations: number;
}

export interface RegistryHeartbeat extends RegistryHeartbeatBody {
  sig: { alg: 'ed25519'; kid: string; val: string };
}

function heartbeatStatement(body: RegistryHeartbeatBody): Uint8Array {
  return canonicalBytes({ ...body, kind: 'governance.registry-heartbeat.v1' });
}

export function signHeartbeat(
  body: RegistryHeartbeatBody,
  kid: string,
  sign: (message: Uint8Array) => Uint8Array,
): RegistryHeartbeat {
  return { ...body, sig: { alg: 'ed25519', kid, val: base64urlEncode(sign(heartbeatStatement(body))) } };
}

export function verifyHeartbeat(
  suite: CryptoSuite,
  heartbeat: RegistryHeartbeat,
  publicKey: Uint8Array,
): boolean {
  const { sig, ...body } = heartbeat;
  const signature = typeof sig?.val === 'string' ? base64urlDecode(sig.val) : undefined;
  if (!signature || !Number.isSafeInteger(body.revocations) || body.revocations < 0) return false;
  try {
    return suite.verifyEd25519(publicKey, heartbeatStatement(body), signature);
  } catch {
    return false;
  }
}
