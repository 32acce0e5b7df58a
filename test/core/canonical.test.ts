import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { canonicalBytes, canonicalize, parseCanonical } from '../../core/canonical.js';
import { utf8Encode } from '../../core/encoding.js';
import { isGovernanceError } from '../../core/errors.js';
import { SHARED_ABSENT_NOTE, sharedPath } from '../support/shared.js';

const jcsDir = sharedPath('vectors', 'jcs');
const jcsCases = jcsDir ? readdirSync(join(jcsDir, 'input')).filter((n) => n.endsWith('.json')) : [];

describe.skipIf(!jcsDir)(
  `RFC 8785 reference vectors (../shared/vectors/jcs) ${jcsDir ? '' : SHARED_ABSENT_NOTE}`,
  () => {
    it('has cases', () => expect(jcsCases.length).toBeGreaterThan(0));
    it.each(jcsCases)('%s canonicalizes byte for byte', (name) => {
      const input = JSON.parse(readFileSync(join(jcsDir!, 'input', name), 'utf8')) as unknown;
      const expected = readFileSync(join(jcsDir!, 'output', name));
      const hex = readFileSync(join(jcsDir!, 'outhex', name.replace('.json', '.txt')), 'utf8').replace(
        /\s+/g,
        '',
      );
      const bytes = canonicalBytes(input);
      expect(Buffer.from(bytes).equals(expected)).toBe(true);
      expect(Buffer.from(bytes).toString('hex')).toBe(hex);
      // Canonical output is a fixed point of the strict decoder.
      expect(canonicalize(parseCanonical(bytes))).toBe(expected.toString('utf8'));
    });
  },
);

function rejects(text: string | Uint8Array): boolean {
  try {
    parseCanonical(typeof text === 'string' ? utf8Encode(text) : text);
    return false;
  } catch (e) {
    return isGovernanceError(e, 'encoding.invalid');
  }
}

describe('canonical encoder', () => {
  it('sorts keys by UTF-16 code units, recursively', () => {
    expect(
      canonicalize({
        b: 1,
        a: { d: [3, { z: 1, y: 2 }], c: null },
        '\u20ac': 1,
        '\ud83d\ude00': 2,
        '\ufb33': 3,
      }),
    ).toBe('{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1,"\u20ac":1,"\ud83d\ude00":2,"\ufb33":3}');
  });
  it('serializes numbers as ECMAScript does', () => {
    expect(canonicalize([-0, 1e21, 1e-7, 0.1 + 0.2, 2 ** 53])).toBe(
      '[0,1e+21,1e-7,0.30000000000000004,9007199254740992]',
    );
  });
  it.each([
    ['NaN', NaN],
    ['Infinity', Infinity],
    ['undefined member', { a: undefined }],
    ['bigint', 1n],
    ['function', () => 1],
    ['lone surrogate', '\ud800'],
    ['lone surrogate key', { '\udc00': 1 }],
    ['class instance', new Date(0)],
    ['nesting deeper than 32', JSON.parse('['.repeat(33) + ']'.repeat(33)) as unknown],
  ])('rejects %s', (_name, value) => {
    expect(() => canonicalize(value)).toThrow(/./);
  });
});

describe('strict decoder', () => {
  it('accepts canonical JSON', () => {
    expect(parseCanonical(utf8Encode('{"a":[1,"x",true,null]}'))).toEqual({ a: [1, 'x', true, null] });
  });
  it.each([
    ['whitespace', '{"a": 1}'],
    ['key order', '{"b":1,"a":2}'],
    ['duplicate key', '{"a":1,"a":1}'],
    ['escape variant', '{"a":"\\u0041"}'],
    ['escaped solidus', '{"a":"\\/"}'],
    ['uppercase unicode escape', '{"a":"\\u001F"}'],
    ['non-canonical number 1.0', '[1.0]'],
    ['non-canonical number 1E2', '[1E2]'],
    ['lone surrogate escape', '["\\ud800"]'],
    ['byte-order mark', '\ufeff{}'],
    ['trailing newline', '{}\n'],
    ['not JSON', '{'],
  ])('rejects %s', (_name, text) => {
    expect(rejects(text)).toBe(true);
  });
  it('rejects invalid UTF-8', () => {
    expect(rejects(new Uint8Array([0x22, 0xc3, 0x28, 0x22]))).toBe(true);
  });
});
