import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { hexDecode } from '../../core/encoding.js';
import { nodeCrypto } from '../../core/crypto-node.js';
import { portableCrypto } from '../../core/crypto-portable.js';
import { SHARED_ABSENT_NOTE, sharedPath } from '../support/shared.js';

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
