// The portable suite: @noble only, no Node built-ins, so third parties (and browsers) can
// verify artifacts and ledgers with audited code that is independent of OpenSSL.
import { blake2b } from '@noble/hashes/blake2.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { sha3_512 } from '@noble/hashes/sha3.js';
import type { CryptoSuite } from './crypto.js';
import { verifyStrict } from './ed25519.js';

export const portableCrypto: CryptoSuite = {
  name: '@noble',
  sha3_512: (data) => sha3_512(data),
  blake2b_512: (data) => blake2b(data, { dkLen: 64 }),
  sha256: (data) => sha256(data),
  verifyEd25519: (publicKey, message, signature) => verifyStrict(publicKey, message, signature),
};
