import { createPublicKey, hash, verify, type KeyObject } from 'node:crypto';
import { ED25519_PUBLIC_KEY_BYTES, ED25519_SIGNATURE_BYTES, type CryptoSuite } from './crypto.js';
import { isAcceptablePublicKey } from './ed25519.js';
import { base64urlEncode } from './encoding.js';

// Building a KeyObject (and validating the key, see ed25519.ts) costs more than a verification;
// keys come from a small trusted registry, so the cache stays small, and it is bounded anyway.
const MAX_CACHED_KEYS = 1024;
const keyCache = new Map<string, KeyObject | null>();

function publicKeyObject(raw: Uint8Array): KeyObject | null {
  const x = base64urlEncode(raw);
  let key = keyCache.get(x);
  if (key === undefined) {
    // OpenSSL accepts small-order and non-canonical keys; refusing them here keeps it in
    // agreement with the portable suite.
    if (!isAcceptablePublicKey(raw)) key = null;
    else
      try {
        key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' });
      } catch {
        key = null;
      }
    if (keyCache.size >= MAX_CACHED_KEYS) keyCache.clear();
    keyCache.set(x, key);
  }
  return key;
}

// One-shot hash (Node ≥ 20.12): no Hash object per call, which is most of the cost of hashing the
// short inputs (Merkle nodes, leaves) the ledger hashes by the thousand. The digest comes back as
// latin1 text (one character per byte) and is copied into Buffer's pool: a 'buffer' result gets
// an ArrayBuffer of its own, which costs about as much again as hashing a Merkle node.
function digest(algorithm: string, data: Uint8Array): Uint8Array {
  const out = Buffer.from(hash(algorithm, data, 'binary'), 'latin1');
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

export const nodeCrypto: CryptoSuite = {
  name: 'node:crypto',
  sha3_512: (data) => digest('sha3-512', data),
  blake2b_512: (data) => digest('blake2b512', data),
  sha256: (data) => digest('sha256', data),
  verifyEd25519(publicKey, message, signature) {
    if (publicKey.length !== ED25519_PUBLIC_KEY_BYTES || signature.length !== ED25519_SIGNATURE_BYTES) {
      return false;
    }
    const key = publicKeyObject(publicKey);
    if (key === null) return false;
    try {
      return verify(null, message, key, signature);
    } catch {
      return false;
    }
  },
  verifyEd25519Async(publicKey, message, signature) {
    if (publicKey.length !== ED25519_PUBLIC_KEY_BYTES || signature.length !== ED25519_SIGNATURE_BYTES) {
      return Promise.resolve(false);
    }
    const key = publicKeyObject(publicKey);
    if (key === null) return Promise.resolve(false);
    return new Promise((resolve) => {
      try {
        verify(null, message, key, signature, (error, valid) => resolve(error === null && valid));
      } catch {
        resolve(false);
      }
    });
  },
};
