// Key material from files: the pinned root public keys and this enforcement point's producer
// key with its root certificate. Every problem stops start-up with config.invalid naming the
// file; nothing key-related is ever logged.
import { readFileSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import type { CryptoSuite } from '../core/crypto.js';
import { bytesEqual } from '../core/encoding.js';
import { GovernanceError } from '../core/errors.js';
import { keyFromPem, rawPublicKey } from '../core/keys.js';
import type { KeyRecord } from '../core/registry.js';
import type { AuthzConfig } from './config.js';
import { certifiedKey, type RootKeys } from './registry-view.js';

function invalid(message: string): never {
  throw new GovernanceError('config.invalid', message);
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    invalid(`cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

function pemKey(path: string, what: string, type: 'public' | 'private'): KeyObject {
  let key: KeyObject;
  try {
    key = keyFromPem(readText(path, what));
  } catch (e) {
    if (e instanceof GovernanceError && e.code === 'config.invalid') throw e;
    invalid(`${what} ${path} is not an Ed25519 PEM key`);
  }
  if (key.type !== type) invalid(`${what} ${path} must be a ${type} key`);
  return key;
}

export function loadRootKeys(entries: AuthzConfig['trust']['rootKeys']): RootKeys {
  const byKid = new Map<string, Uint8Array>();
  const anyKid: Uint8Array[] = [];
  for (const entry of entries) {
    if (typeof entry === 'string') anyKid.push(rawPublicKey(pemKey(entry, 'root key', 'public')));
    else byKid.set(entry.kid, rawPublicKey(pemKey(entry.file, 'root key', 'public')));
  }
  return { byKid, anyKid };
}

export interface ProducerIdentity {
  id: string;
  kid: string;
  privateKey: KeyObject;
  /** The certificate, published to the registry so verifiers of our events and attestations find the key. */
  record: KeyRecord;
}

/** The producer key and its certificate, which must be a root-certified producer record for this key and id. */
export function loadProducer(
  suite: CryptoSuite,
  config: AuthzConfig['producer'],
  roots: RootKeys,
): ProducerIdentity {
  const privateKey = pemKey(config.keyFile, 'producer key', 'private');
  let record: KeyRecord;
  try {
    record = JSON.parse(readText(config.certificateFile, 'producer certificate')) as KeyRecord;
  } catch (e) {
    if (e instanceof GovernanceError) throw e;
    invalid(`producer certificate ${config.certificateFile} is not JSON`);
  }
  let verified;
  try {
    verified = certifiedKey(suite, record, roots);
  } catch (e) {
    invalid(`producer certificate ${config.certificateFile}: ${(e as Error).message}`);
  }
  if (verified.role !== 'producer')
    invalid(`producer certificate ${config.certificateFile} is not for role producer`);
  if (!bytesEqual(verified.publicKey, rawPublicKey(privateKey))) {
    invalid(`producer certificate ${config.certificateFile} is for another key than ${config.keyFile}`);
  }
  if (verified.subject !== config.id) {
    invalid(`producer certificate subject ${verified.subject} is not producer.id ${config.id}`);
  }
  return { id: config.id, kid: verified.kid, privateKey, record };
}
