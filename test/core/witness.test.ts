// The tlog-witness wire format (core/witness.ts) and cosigner verifier keys (core/note.ts): the
// spec's example body read back byte for byte, the one spelling accepted, and vkeys of type 0x04.
import { describe, expect, it } from 'vitest';
import { nodeCrypto } from '../../core/crypto-node.js';
import { base64Encode, hexEncode } from '../../core/encoding.js';
import { isGovernanceError } from '../../core/errors.js';
import {
  cosignatureKeyHash,
  cosignatureVerifierKey,
  parseCosignatureVerifierKey,
  parseVerifierKey,
  verifierKey,
} from '../../core/note.js';
import { formatAddCheckpoint, parseAddCheckpoint, parseTreeSizeBody } from '../../core/witness.js';

// c2sp.org/tlog-witness §add-checkpoint, "Example request body".
const SPEC_BODY =
  'old 20852014\n' +
  'PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n' +
  'jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n' +
  '5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n' +
  '/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n' +
  '\n' +
  'example.com/behind-the-sofa\n' +
  '20852163\n' +
  'CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n' +
  '\n' +
  '— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n' +
  '— example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=\n';

const PUBLIC_KEY = Uint8Array.from({ length: 32 }, (_, i) => i);

describe('add-checkpoint bodies', () => {
  it("reads the spec's example and writes it back byte for byte", () => {
    const request = parseAddCheckpoint(SPEC_BODY);
    expect(request.oldSize).toBe(20852014);
    expect(request.proof.map(base64Encode)[0]).toBe('PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=');
    expect(request.proof).toHaveLength(4);
    expect(request.note.startsWith('example.com/behind-the-sofa\n20852163\n')).toBe(true);
    expect(formatAddCheckpoint(request)).toBe(SPEC_BODY);
  });

  it.each([
    ['old 020852014', SPEC_BODY.replace('old 20852014', 'old 020852014')],
    ['Old', SPEC_BODY.replace('old', 'Old')],
    ['CRLF', SPEC_BODY.replace('old 20852014\n', 'old 20852014\r\n')],
    ['unpadded base64', SPEC_BODY.replace('Dpkaw=\n', 'Dpkaw\n')],
    ['a size above 2^53 - 1', SPEC_BODY.replace('old 20852014', 'old 9007199254740992')],
    ['no empty line', 'old 0\nexample.com/behind-the-sofa\n'],
    ['nothing after the empty line', 'old 0\n\n'],
  ])('refuses %s', (_name, body) => {
    let error: unknown;
    try {
      parseAddCheckpoint(body);
    } catch (e) {
      error = e;
    }
    expect(isGovernanceError(error, 'encoding.invalid')).toBe(true);
  });

  it('reads a 409 body: the decimal size and a newline, nothing else', () => {
    expect(parseTreeSizeBody('20852014\n')).toBe(20852014);
    expect(parseTreeSizeBody('0\n')).toBe(0);
    for (const bad of ['20852014', '020\n', ' 1\n', '1\n\n', ''])
      expect(parseTreeSizeBody(bad)).toBeUndefined();
  });
});

describe('cosigner verifier keys', () => {
  it('are name+hash+base64(0x04 || key), the hash being the cosignature key ID', () => {
    const vkey = cosignatureVerifierKey(nodeCrypto, 'witness.example/w1', PUBLIC_KEY);
    const hash = hexEncode(cosignatureKeyHash(nodeCrypto, 'witness.example/w1', PUBLIC_KEY));
    expect(vkey).toBe(`witness.example/w1+${hash}+${base64Encode(Uint8Array.of(4, ...PUBLIC_KEY))}`);
    expect(parseCosignatureVerifierKey(nodeCrypto, vkey)).toEqual({
      name: 'witness.example/w1',
      publicKey: PUBLIC_KEY,
      keyHash: cosignatureKeyHash(nodeCrypto, 'witness.example/w1', PUBLIC_KEY),
    });
  });

  it('are not read as note keys, nor note keys as cosigner keys', () => {
    const cosigner = cosignatureVerifierKey(nodeCrypto, 'w', PUBLIC_KEY);
    const signer = verifierKey(nodeCrypto, 'w', PUBLIC_KEY);
    expect(() => parseVerifierKey(nodeCrypto, cosigner)).toThrow(/type 0x01/);
    expect(() => parseCosignatureVerifierKey(nodeCrypto, signer)).toThrow(/type 0x04/);
  });
});
