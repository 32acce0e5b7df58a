import { describe, expect, it } from 'vitest';
import {
  generatePrivateKey,
  keyFromJwk,
  keyFromPem,
  keySigner,
  keyToJwk,
  privateKeyFromSeed,
  privateKeyToPem,
  publicKeyToPem,
  rawPublicKey,
} from '../../core/keys.js';
import { nodeCrypto } from '../../core/crypto-node.js';
import { portableCrypto } from '../../core/crypto-portable.js';
import { isGovernanceError } from '../../core/errors.js';
import { hexDecode, utf8Encode } from '../../core/encoding.js';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';

describe('Ed25519 keys', () => {
  it('derive the RFC 8032 test 1 public key from its seed', () => {
    const seed = hexDecode('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60')!;
    expect(Buffer.from(rawPublicKey(privateKeyFromSeed(seed))).toString('hex')).toBe(
      'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    );
  });

  it('round-trip through PEM and JWK', () => {
    const key = generatePrivateKey();
    const raw = rawPublicKey(key);
    expect(rawPublicKey(keyFromPem(privateKeyToPem(key)))).toEqual(raw);
    expect(rawPublicKey(keyFromPem(publicKeyToPem(key)))).toEqual(raw);
    const jwk = keyToJwk(key, 'key:test');
    expect(jwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519', kid: 'key:test' });
    expect(typeof jwk.d).toBe('string');
    expect(rawPublicKey(keyFromJwk(jwk))).toEqual(raw);
    const publicJwk = keyToJwk(keyFromPem(publicKeyToPem(key)));
    expect(publicJwk.d).toBeUndefined();
    expect(keyFromJwk(publicJwk).type).toBe('public');
  });

  it('sign so that both suites verify', async () => {
    const key = generatePrivateKey();
    const message = utf8Encode('payload');
    const signature = await keySigner('k', key).sign(message);
    for (const suite of [nodeCrypto, portableCrypto]) {
      expect(suite.verifyEd25519(rawPublicKey(key), message, signature)).toBe(true);
      expect(suite.verifyEd25519(rawPublicKey(key), utf8Encode('payloaD'), signature)).toBe(false);
    }
  });

  it.each([
    [
      'another curve',
      () => keyFromPem(publicKeyToPem(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey)),
    ],
    ['garbage PEM', () => keyFromPem('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----')],
    ['RSA JWK', () => keyFromJwk({ kty: 'RSA', n: 'x', e: 'AQAB' })],
    ['short x', () => keyFromJwk({ kty: 'OKP', crv: 'Ed25519', x: 'AAAA' })],
    [
      'x not matching d',
      () => keyFromJwk({ ...keyToJwk(generatePrivateKey()), x: keyToJwk(generatePrivateKey()).x }),
    ],
    ['a public key as signer', () => keySigner('k', keyFromPem(publicKeyToPem(generatePrivateKey())))],
    [
      'X25519 private key',
      () =>
        keySigner(
          'k',
          createPrivateKey(generateKeyPairSync('x25519').privateKey.export({ format: 'pem', type: 'pkcs8' })),
        ),
    ],
  ])('reject %s with key.invalid', (_name, action) => {
    let error: unknown;
    try {
      action();
    } catch (e) {
      error = e;
    }
    expect(isGovernanceError(error, 'key.invalid')).toBe(true);
  });
});
