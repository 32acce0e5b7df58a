import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as ed from '@noble/ed25519';
import { Point } from '@noble/ed25519';
import { sha512 } from '@noble/hashes/sha2.js';
import { hexDecode, hexEncode } from '../../core/encoding.js';
import { isAcceptablePublicKey } from '../../core/ed25519.js';
import { privateKeyFromSeed, rawPublicKey, signSync } from '../../core/keys.js';
import { nodeCrypto } from '../../core/crypto-node.js';
import { portableCrypto } from '../../core/crypto-portable.js';
import { SHARED_ABSENT_NOTE, sharedPath } from '../support/shared.js';

ed.hashes.sha512 = sha512;

/** A point of order 8 (RFC 8032 curve, the standard torsion generator). */
const SMALL_ORDER_8 = Point.fromHex('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a');

interface WycheproofFile {
  numberOfTests: number;
  testGroups: {
    publicKey: { pk: string };
    tests: { tcId: number; comment: string; msg: string; sig: string; result: string }[];
  }[];
}

const file = sharedPath('vectors', 'ed25519', 'wycheproof_ed25519_test.json');
const data = file ? (JSON.parse(readFileSync(file, 'utf8')) as WycheproofFile) : undefined;
const cases = (data?.testGroups ?? []).flatMap((group) =>
  group.tests.map((t) => ({ ...t, pk: group.publicKey.pk, label: `tc${t.tcId} ${t.comment || t.result}` })),
);

describe.skipIf(!data)(
  `Wycheproof Ed25519 (../shared/vectors/ed25519) ${data ? '' : SHARED_ABSENT_NOTE}`,
  () => {
    it('has all 151 cases', () => {
      expect(cases.length).toBe(data!.numberOfTests);
      expect(cases.length).toBe(151);
    });
    for (const suite of [nodeCrypto, portableCrypto]) {
      it.each(cases)(`${suite.name}: $label`, ({ pk, msg, sig, result }) => {
        const verdict = suite.verifyEd25519(hexDecode(pk)!, hexDecode(msg)!, hexDecode(sig)!);
        expect(verdict).toBe(result === 'valid');
      });
    }
    it.each(cases)(`node:crypto off the event loop: $label`, async ({ pk, msg, sig, result }) => {
      const verdict = await nodeCrypto.verifyEd25519Async!(hexDecode(pk)!, hexDecode(msg)!, hexDecode(sig)!);
      expect(verdict).toBe(result === 'valid');
    });
  },
);

describe('hash functions agree across suites', () => {
  it.each([0, 1, 135, 136, 137, 1000])('on %i bytes', (n) => {
    const data = Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7) & 0xff);
    expect(nodeCrypto.sha3_512(data)).toEqual(portableCrypto.sha3_512(data));
    expect(nodeCrypto.blake2b_512(data)).toEqual(portableCrypto.blake2b_512(data));
  });
  it('match known answers for the empty string', () => {
    expect(Buffer.from(nodeCrypto.sha3_512(new Uint8Array())).toString('hex')).toBe(
      'a69f73cca23a9ac5c8b567dc185a756e97c982164fe25859e0d1dcc1475c80a615b2123af1f5f94c11e3e9402c3ac558f500199d95b6d3e301758586281dcd26',
    );
    expect(Buffer.from(nodeCrypto.blake2b_512(new Uint8Array())).toString('hex')).toBe(
      '786a02f742015903c6c6fd852552d272912f4740e15847618a86e217f71f5419d25e1031afee585313896444934eb04b903a685b1448b755d56f701afe9be2ce',
    );
  });
});

describe('the two verifiers agree on adversarial keys and signatures', () => {
  // The eight torsion points (small order), and encodings that only a lax decoder accepts.
  const torsion = Array.from({ length: 8 }, (_, i) =>
    i === 0 ? Point.ZERO : SMALL_ORDER_8.multiplyUnsafe(BigInt(i)),
  );
  const honestKey = privateKeyFromSeed(new Uint8Array(32).fill(3));
  const honestPub = rawPublicKey(honestKey);
  const message = new TextEncoder().encode('agreement');
  const honestSig = signSync(honestKey, message);
  const L = 2n ** 252n + 27742317777372353535851937790883648493n;
  const le = (n: bigint) => Uint8Array.from({ length: 32 }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn));
  const nonCanonical = [
    // y = p + 1 (the identity spelled with an unreduced y), and "negative zero" x.
    le(2n ** 255n - 19n + 1n),
    Uint8Array.from([1, ...new Array<number>(30).fill(0), 0x80]),
  ];
  const publicKeys = [
    honestPub,
    ...torsion.map((t) => t.toBytes()),
    ...nonCanonical,
    honestPoint().add(torsion[1]!).toBytes(),
  ];
  const rValues = [
    honestSig.subarray(0, 32),
    ...torsion.map((t) => Point.fromBytes(honestSig.subarray(0, 32)).add(t).toBytes()),
    ...torsion.map((t) => t.toBytes()),
    Point.BASE.multiply(5n).toBytes(),
    ...nonCanonical,
  ];
  const sValues = [littleEndian(honestSig.subarray(32)), littleEndian(honestSig.subarray(32)) + L, 0n, 5n];

  function honestPoint() {
    return Point.fromBytes(rawPublicKey(honestKey));
  }

  it(`on ${publicKeys.length * rValues.length * sValues.length} combinations`, async () => {
    const accepted = new Set<string>();
    for (const pub of publicKeys) {
      for (const r of rValues) {
        for (const s of sValues) {
          const sig = new Uint8Array([...r, ...le(s)]);
          const verdict = nodeCrypto.verifyEd25519(pub, message, sig);
          expect(
            portableCrypto.verifyEd25519(pub, message, sig),
            `pub ${hexEncode(pub)} sig ${hexEncode(sig)}`,
          ).toBe(verdict);
          expect(await nodeCrypto.verifyEd25519Async!(pub, message, sig), 'off the event loop').toBe(verdict);
          if (verdict) accepted.add(hexEncode(pub) + hexEncode(sig));
        }
      }
    }
    // Only the honest signature verifies (R + the zero torsion point repeats it).
    expect([...accepted]).toEqual([hexEncode(honestPub) + hexEncode(honestSig)]);
  });

  it('refuse a signer-crafted R with a small-order component (accepted by cofactored verifiers)', () => {
    // S = r + k·a for R = [r]B + T: the cofactored equation holds, the cofactorless one does not.
    const seed = new Uint8Array(32).fill(3);
    const { scalar } = ed.utils.getExtendedPublicKey(seed);
    const r = 1234567n;
    const R = Point.BASE.multiply(r).add(SMALL_ORDER_8).toBytes();
    const k = littleEndian(sha512(new Uint8Array([...R, ...honestPub, ...message]))) % L;
    const sig = new Uint8Array([...R, ...le((r + k * scalar) % L)]);
    expect(ed.verify(sig, message, honestPub, { zip215: false })).toBe(true);
    for (const suite of [nodeCrypto, portableCrypto])
      expect(suite.verifyEd25519(honestPub, message, sig)).toBe(false);
  });

  it('refuse the identity key with R = [5]B, S = 5 (valid for any message under a lax verifier)', () => {
    const sig = new Uint8Array([...Point.BASE.multiply(5n).toBytes(), ...le(5n)]);
    for (const suite of [nodeCrypto, portableCrypto])
      expect(suite.verifyEd25519(Point.ZERO.toBytes(), message, sig)).toBe(false);
  });

  it('accept every honest key', () => {
    for (let i = 0; i < 20; i++)
      expect(isAcceptablePublicKey(rawPublicKey(privateKeyFromSeed(new Uint8Array(32).fill(i))))).toBe(true);
  });
});

function littleEndian(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]!);
  return n;
}
