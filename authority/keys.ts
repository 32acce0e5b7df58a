// Issuer keys as the authority holds them: each a signer plus the root's certification of its
// public key. A key is usable only if its record verifies against a pinned root, names this
// issuer, is an issuer key, matches the private key, and is within its validity window; the
// authority refuses to start otherwise. Rotation switches the active key to another held key.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import type { Signer } from '../core/crypto.js';
import { nodeCrypto } from '../core/crypto-node.js';
import { GovernanceError } from '../core/errors.js';
import { keyFromJwk, keyFromPem, keySigner, publicKeyFromRaw, rawPublicKey } from '../core/keys.js';
import { verifyKeyRecord, type KeyRecord, type KeyRole, type VerifiedKey } from '../core/registry.js';

/**
 * Pinned root public keys: by kid, and kid-less ones (a bare PEM file) that vouch for a record
 * whatever root_kid it names; the signature is what counts. The same shape as the enforcement
 * point's `trust.rootKeys`.
 */
export interface PinnedRoots {
  byKid: ReadonlyMap<string, Uint8Array>;
  anyKid: readonly Uint8Array[];
}

export interface HeldKey {
  record: KeyRecord;
  key: VerifiedKey;
  signer: Signer;
}

function invalid(message: string): never {
  throw new GovernanceError('key.invalid', message);
}

/** Verifies a record against the pinned roots; throws key.invalid. */
export function verifyCertified(record: KeyRecord, roots: PinnedRoots): VerifiedKey {
  try {
    return verifyKeyRecord(nodeCrypto, record, roots.byKid);
  } catch (first) {
    const rootKid = typeof record?.cert?.root_kid === 'string' ? record.cert.root_kid : '';
    for (const root of roots.anyKid) {
      try {
        return verifyKeyRecord(nodeCrypto, record, new Map([[rootKid, root]]));
      } catch {
        // try the next pinned root
      }
    }
    throw first;
  }
}

/** What a third party compares with the root it pinned: SHA-256 of the SPKI DER, as openssl prints it. */
export function rootFingerprint(raw: Uint8Array): string {
  const der = publicKeyFromRaw(raw).export({ type: 'spki', format: 'der' });
  return 'sha256:' + createHash('sha256').update(der).digest('hex');
}

export function readPrivateKey(path: string): KeyObject {
  const text = readTextFile(path, 'key');
  const key = text.trimStart().startsWith('{') ? keyFromJwk(JSON.parse(text)) : keyFromPem(text);
  if (key.type !== 'private') invalid(`${path} holds a public key; a signer needs the private key`);
  return key;
}

export function readPublicKey(path: string): Uint8Array {
  const key = keyFromPem(readTextFile(path, 'public key'));
  if (key.type !== 'public') invalid(`${path} must hold a public key`);
  return rawPublicKey(key);
}

/** Root keys as configured: a PEM path (pinned without a kid) or {kid, file}. */
export function readRoots(entries: readonly (string | { kid: string; file: string })[]): PinnedRoots {
  const byKid = new Map<string, Uint8Array>();
  const anyKid: Uint8Array[] = [];
  for (const entry of entries) {
    if (typeof entry === 'string') anyKid.push(readPublicKey(entry));
    else byKid.set(entry.kid, readPublicKey(entry.file));
  }
  return { byKid, anyKid };
}

export function readKeyRecord(path: string): KeyRecord {
  try {
    return JSON.parse(readTextFile(path, 'key record')) as KeyRecord;
  } catch (e) {
    if (e instanceof GovernanceError) throw e;
    invalid(`${path} is not a JSON key record`);
  }
}

function readTextFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    invalid(`cannot read ${what} file ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

export interface KeyExpectation {
  role: KeyRole;
  /** The subject the record must name (the issuer id, or the producer id). */
  subject: string;
  roots: PinnedRoots;
  /** Epoch seconds. */
  now: number;
}

/**
 * Binds a private key to its certified record, checking everything a verifier would; throws
 * key.invalid naming what is wrong.
 */
export function holdKey(privateKey: KeyObject, record: KeyRecord, expect: KeyExpectation): HeldKey {
  const key = verifyCertified(record, expect.roots);
  if (key.role !== expect.role)
    invalid(`key record ${key.kid} is a ${key.role} key, not a ${expect.role} key`);
  if (key.subject !== expect.subject) {
    invalid(`key record ${key.kid} certifies ${key.subject}, not ${expect.subject}`);
  }
  if (Buffer.compare(Buffer.from(rawPublicKey(privateKey)), Buffer.from(key.publicKey)) !== 0) {
    invalid(`key record ${key.kid} certifies another public key than the private key's`);
  }
  if (expect.now < key.notBefore || expect.now >= key.notAfter) {
    invalid(`key record ${key.kid} is not valid now (${record.not_before} to ${record.not_after})`);
  }
  return { record, key, signer: keySigner(key.kid, privateKey) };
}

/** The issuer keys the authority holds, one of them active. */
export class IssuerKeyring {
  private readonly held = new Map<string, HeldKey>();
  private activeKid: string;

  constructor(active: HeldKey, standby: readonly HeldKey[] = []) {
    for (const key of [active, ...standby]) this.held.set(key.key.kid, key);
    this.activeKid = active.key.kid;
  }

  active(): HeldKey {
    return this.held.get(this.activeKid)!;
  }

  get(kid: string): HeldKey | undefined {
    return this.held.get(kid);
  }

  activate(kid: string): HeldKey {
    const key = this.held.get(kid);
    if (!key) invalid(`key ${kid} is not held by this authority`);
    this.activeKid = kid;
    return key;
  }
}
