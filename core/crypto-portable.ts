// The portable suite: @noble only, no Node built-ins, so third parties (and browsers) can
// verify artifacts and ledgers with audited code that is independent of OpenSSL.
import * as ed from '@noble/ed25519';
import { blake2b } from '@noble/hashes/blake2.js';
import { sha3_512 } from '@noble/hashes/sha3.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { ED25519_PUBLIC_KEY_BYTES, ED25519_SIGNATURE_BYTES, type CryptoSuite } from './crypto.js';

ed.hashes.sha512 = sha512;

export const portableCrypto: CryptoSuite = {
  name: '@noble',
  sha3_512: (data) => sha3_512(data),
  blake2b_512: (data) => blake2b(data, { dkLen: 64 }),
  verifyEd25519(publicKey, message, signature) {
    if (publicKey.length !== ED25519_PUBLIC_KEY_BYTES || signature.length !== ED25519_SIGNATURE_BYTES) {
      return false;
    }
    try {
      // zip215: false selects RFC 8032's strict decoding, which is what OpenSSL implements.
      return ed.verify(signature, message, publicKey, { zip215: false });
    } catch {
      return false;
    }
  },
};
