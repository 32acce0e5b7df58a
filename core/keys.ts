// Ed25519 key handling on Node: generation, deterministic derivation for test vectors, and
// import/export as PKCS#8/SPKI PEM and as JWK (RFC 8037, kty "OKP", crv "Ed25519").
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import type { Signer } from './crypto.js';
import { isAcceptablePublicKey } from './ed25519.js';
import { base64urlDecode, base64urlEncode } from './encoding.js';
import { GovernanceError } from './errors.js';

export interface Ed25519Jwk {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  d?: string;
  kid?: string;
}

// RFC 8410 PKCS#8 prefix for an Ed25519 private key; the 32-byte seed follows it.
const PKCS8_ED25519_PREFIX = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);

function invalidKey(message: string): never {
  throw new GovernanceError('key.invalid', message);
}

function assertEd25519(key: KeyObject): KeyObject {
  if (key.asymmetricKeyType !== 'ed25519')
    invalidKey(`expected an Ed25519 key, got ${key.asymmetricKeyType}`);
  // Small-order and non-canonical public keys verify forged signatures under lax verifiers.
  if (key.type === 'public') {
    const x = base64urlDecode(key.export({ format: 'jwk' }).x ?? '');
    if (!x || !isAcceptablePublicKey(x)) invalidKey('not a canonical prime-order Ed25519 public key');
  }
  return key;
}

export function generatePrivateKey(): KeyObject {
  return generateKeyPairSync('ed25519').privateKey;
}

/** Deterministic key from a 32-byte seed: for test vectors and fixtures only. */
export function privateKeyFromSeed(seed: Uint8Array): KeyObject {
  if (seed.length !== 32) invalidKey('an Ed25519 seed is 32 bytes');
  const der = new Uint8Array(PKCS8_ED25519_PREFIX.length + 32);
  der.set(PKCS8_ED25519_PREFIX);
  der.set(seed, PKCS8_ED25519_PREFIX.length);
  return createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' });
}

/** The 32 raw bytes of the public key of a private or public key. */
export function rawPublicKey(key: KeyObject): Uint8Array {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  const jwk = assertEd25519(publicKey).export({ format: 'jwk' });
  return base64urlDecode(jwk.x!)!;
}

export function publicKeyFromRaw(raw: Uint8Array): KeyObject {
  if (!isAcceptablePublicKey(raw)) invalidKey('not a canonical prime-order Ed25519 public key');
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: base64urlEncode(raw) }, format: 'jwk' });
}

export function publicKeyToPem(key: KeyObject): string {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  return assertEd25519(publicKey).export({ format: 'pem', type: 'spki' }).toString();
}

export function privateKeyToPem(key: KeyObject): string {
  return assertEd25519(key).export({ format: 'pem', type: 'pkcs8' }).toString();
}

/** Reads an SPKI or PKCS#8 PEM; a private key PEM yields the private key. */
export function keyFromPem(pem: string): KeyObject {
  try {
    return assertEd25519(pem.includes('PRIVATE KEY') ? createPrivateKey(pem) : createPublicKey(pem));
  } catch (e) {
    if (e instanceof GovernanceError) throw e;
    invalidKey('not an Ed25519 PEM key');
  }
}

export function keyToJwk(key: KeyObject, kid?: string): Ed25519Jwk {
  const jwk = assertEd25519(key).export({ format: 'jwk' });
  const out: Ed25519Jwk = { kty: 'OKP', crv: 'Ed25519', x: jwk.x! };
  if (key.type === 'private') out.d = jwk.d!;
  if (kid !== undefined) out.kid = kid;
  return out;
}

export function keyFromJwk(jwk: unknown): KeyObject {
  const j = jwk as Partial<Ed25519Jwk> | null;
  if (
    j === null ||
    typeof j !== 'object' ||
    j.kty !== 'OKP' ||
    j.crv !== 'Ed25519' ||
    typeof j.x !== 'string'
  ) {
    invalidKey('not an Ed25519 OKP JWK');
  }
  const x = base64urlDecode(j.x);
  if (x === undefined || x.length !== 32) invalidKey('JWK x is not 32 bytes of base64url');
  try {
    if (typeof j.d === 'string') {
      const key = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', x: j.x, d: j.d }, format: 'jwk' });
      // A JWK whose x does not belong to d would make signatures verify under another key.
      if (base64urlEncode(rawPublicKey(key)) !== j.x) invalidKey('JWK x does not match d');
      return key;
    }
    return publicKeyFromRaw(x);
  } catch (e) {
    if (e instanceof GovernanceError) throw e;
    invalidKey('JWK is not a valid Ed25519 key');
  }
}

/** A signer over a private key held in process memory (a file or an environment secret). */
export function keySigner(kid: string, privateKey: KeyObject): Signer {
  assertEd25519(privateKey);
  if (privateKey.type !== 'private') invalidKey('a signer needs a private key');
  return {
    kid,
    sign: async (message) => new Uint8Array(sign(null, message, privateKey)),
  };
}

/** Synchronous signing, for producers that sign on the hot path with an in-memory key. */
export function signSync(privateKey: KeyObject, message: Uint8Array): Uint8Array {
  return new Uint8Array(sign(null, message, privateKey));
}
