// Strict Ed25519, defined so that OpenSSL (node:crypto) and this portable code give the same
// answer for every input (docs/spec/artifact.md §Signatures):
//   - a public key must be a canonical encoding (y < p, no "negative zero" x) of a point of
//     prime order L: small-order and mixed-order keys are refused before any verification;
//   - S must be below L;
//   - the check is cofactorless and by bytes: encode([S]B − [k]A) and compare with R, which is
//     exactly what OpenSSL does, so a non-canonical R or an R with a small-order component fails.
// @noble/ed25519's own verify uses the cofactored equation, which accepts some signatures that
// OpenSSL rejects, so the portable suite verifies with noble's point arithmetic instead.
import { Point } from '@noble/ed25519';
import { sha512 } from '@noble/hashes/sha2.js';
import { bytesEqual, concatBytes } from './encoding.js';

const L = 2n ** 252n + 27742317777372353535851937790883648493n;

function littleEndian(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]!);
  return n;
}

function decodePoint(bytes: Uint8Array): Point | undefined {
  try {
    return Point.fromBytes(bytes, false);
  } catch {
    return undefined;
  }
}

/** The decoded key when it is acceptable as a public key (canonical, prime order), else undefined. */
function acceptableKey(publicKey: Uint8Array): Point | undefined {
  if (publicKey.length !== 32) return undefined;
  const point = decodePoint(publicKey);
  if (!point || point.isSmallOrder() || !point.isTorsionFree()) return undefined;
  return point;
}

export function isAcceptablePublicKey(publicKey: Uint8Array): boolean {
  return acceptableKey(publicKey) !== undefined;
}

export function verifyStrict(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== 64) return false;
  const A = acceptableKey(publicKey);
  if (!A) return false;
  const r = signature.subarray(0, 32);
  const s = littleEndian(signature.subarray(32));
  if (s >= L) return false;
  const k = littleEndian(sha512(concatBytes(r, publicKey, message))) % L;
  const expectedR = Point.BASE.multiplyUnsafe(s).subtract(A.multiplyUnsafe(k));
  return bytesEqual(expectedR.toBytes(), r);
}
