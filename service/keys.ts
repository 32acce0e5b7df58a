// Key material from files, as every service loads it at start-up: the pinned root public keys, a
// private key, its certificate (a key record), and the check that binds them — certified by a
// pinned root, for the expected role and subject, for this very private key, valid now. Every
// problem throws key.invalid naming the file; nothing key-related is ever logged.
import { readFileSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import type { CryptoSuite, Signer } from '../core/crypto.js';
import { bytesEqual } from '../core/encoding.js';
import { GovernanceError } from '../core/errors.js';
import { keyFromJwk, keyFromPem, keySigner, rawPublicKey } from '../core/keys.js';
import {
  verifyCertifiedKey,
  type KeyRecord,
  type KeyRole,
  type PinnedRoots,
  type VerifiedKey,
} from '../core/registry.js';

export interface HeldKey {
  record: KeyRecord;
  key: VerifiedKey;
  privateKey: KeyObject;
  signer: Signer;
}

function invalid(message: string): never {
  throw new GovernanceError('key.invalid', message);
}

function readTextFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    invalid(`cannot read ${what} file ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

/** A private key, PEM (PKCS#8) or JWK. */
export function readPrivateKey(path: string): KeyObject {
  const text = readTextFile(path, 'key');
  let key: KeyObject;
  try {
    key = text.trimStart().startsWith('{') ? keyFromJwk(JSON.parse(text)) : keyFromPem(text);
  } catch (e) {
    if (e instanceof GovernanceError && e.code === 'key.invalid') throw e;
    invalid(`${path} is not an Ed25519 PEM or JWK key`);
  }
  if (key.type !== 'private') invalid(`${path} holds a public key; a signer needs the private key`);
  return key;
}

export function readPublicKey(path: string): Uint8Array {
  let key: KeyObject;
  try {
    key = keyFromPem(readTextFile(path, 'public key'));
  } catch (e) {
    if (e instanceof GovernanceError && e.code === 'key.invalid') throw e;
    invalid(`${path} is not an Ed25519 PEM key`);
  }
  if (key.type !== 'public') invalid(`${path} must be a public key`);
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

/** A service's `trust.rootKeys`, read at start-up: a problem is config.invalid naming the setting. */
export function loadPinnedRoots(entries: readonly (string | { kid: string; file: string })[]): PinnedRoots {
  try {
    return readRoots(entries);
  } catch (e) {
    throw new GovernanceError('config.invalid', `trust.rootKeys: ${(e as Error).message}`);
  }
}

export function readKeyRecord(path: string): KeyRecord {
  try {
    return JSON.parse(readTextFile(path, 'key record')) as KeyRecord;
  } catch (e) {
    if (e instanceof GovernanceError) throw e;
    invalid(`${path} is not a JSON key record`);
  }
}

export interface KeyExpectation {
  role: KeyRole;
  /** The subject the record must name (the issuer id, or the producer id); undefined: its own. */
  subject: string | undefined;
  roots: PinnedRoots;
  /** Epoch seconds. */
  now: number;
}

/**
 * Binds a private key to its certified record, checking everything a verifier would; throws
 * key.invalid naming what is wrong.
 */
export function holdKey(
  suite: CryptoSuite,
  privateKey: KeyObject,
  record: KeyRecord,
  expect: KeyExpectation,
): HeldKey {
  const key = verifyCertifiedKey(suite, record, expect.roots);
  if (key.role !== expect.role)
    invalid(`key record ${key.kid} is for role ${key.role}, not role ${expect.role}`);
  if (expect.subject !== undefined && key.subject !== expect.subject) {
    invalid(`key record ${key.kid} certifies subject ${key.subject}, not ${expect.subject}`);
  }
  if (!bytesEqual(rawPublicKey(privateKey), key.publicKey)) {
    invalid(`key record ${key.kid} certifies another public key than the private key's`);
  }
  if (expect.now < key.notBefore || expect.now >= key.notAfter) {
    invalid(`key record ${key.kid} is not valid now (${record.not_before} to ${record.not_after})`);
  }
  return { record, key, privateKey, signer: keySigner(key.kid, privateKey) };
}

/** A key file with its certificate, held; a problem is config.invalid naming both files. */
export function loadHeldKey(
  suite: CryptoSuite,
  files: { keyFile: string; certificateFile: string },
  expect: KeyExpectation,
): HeldKey {
  try {
    return holdKey(suite, readPrivateKey(files.keyFile), readKeyRecord(files.certificateFile), expect);
  } catch (e) {
    throw new GovernanceError(
      'config.invalid',
      `${files.keyFile} / ${files.certificateFile}: ${(e as Error).message}`,
    );
  }
}
