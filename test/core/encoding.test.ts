import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  base64Decode,
  base64Encode,
  base64urlDecode,
  base64urlEncode,
  crockford32Encode,
  hexDecode,
  hexEncode,
} from '../../core/encoding.js';
import { formatMillis, formatSeconds, parseMillis, parseSeconds } from '../../core/time.js';

describe('base64url', () => {
  it('matches Node for random bytes and round-trips', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
        const text = base64urlEncode(bytes);
        expect(text).toBe(Buffer.from(bytes).toString('base64url'));
        expect(base64urlDecode(text)).toEqual(bytes);
      }),
    );
  });
  it.each([
    ['padding', 'AA=='],
    ['standard alphabet', 'a+/b'],
    ['whitespace', 'AA AA'],
    ['length 4n+1', 'AAAAA'],
    ['non-zero trailing bits', 'AB'],
    ['non-ASCII', 'Ä'],
  ])('rejects %s', (_name, text) => expect(base64urlDecode(text)).toBeUndefined());
});

describe('standard base64', () => {
  it('matches Node for random bytes and round-trips', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
        const text = base64Encode(bytes);
        expect(text).toBe(Buffer.from(bytes).toString('base64'));
        expect(base64Decode(text)).toEqual(bytes);
      }),
    );
  });
  it.each([
    ['missing padding', 'AA'],
    ['short padding', 'AA='],
    ['extra padding', 'AAA=='],
    ['padding alone', '===='],
    ['padding inside', 'AA==AAAA'],
    ['the url-safe alphabet', 'a-_b'],
    ['whitespace', 'AAAA AAAA'],
    ['a trailing newline', 'AAAA\n'],
    ['non-zero trailing bits', 'AB=='],
    ['non-zero trailing bits, one pad', 'AAB='],
    ['non-ASCII', 'ÄAAA'],
  ])('rejects %s', (_name, text) => expect(base64Decode(text)).toBeUndefined());
});

describe('hex and base32', () => {
  it('hex round-trips, lowercase only', () => {
    expect(hexEncode(Uint8Array.from([0, 15, 255]))).toBe('000fff');
    expect(hexDecode('000fff')).toEqual(Uint8Array.from([0, 15, 255]));
    expect(hexDecode('0F')).toBeUndefined();
    expect(hexDecode('abc')).toBeUndefined();
  });
  it('Crockford base32 encodes 5 bytes as 8 symbols', () => {
    expect(crockford32Encode(Uint8Array.from([0, 0, 0, 0, 0]))).toBe('00000000');
    expect(crockford32Encode(Uint8Array.from([255, 255, 255, 255, 255]))).toBe('ZZZZZZZZ');
    expect(crockford32Encode(Uint8Array.from([0x08, 0x42, 0x10, 0x84, 0x21]))).toBe('11111111');
  });
});

describe('RFC 3339 times', () => {
  it('round-trip whole seconds and milliseconds', () => {
    expect(parseSeconds('2026-05-12T17:00:00Z')).toBe(Date.UTC(2026, 4, 12, 17) / 1000);
    expect(formatSeconds(Date.UTC(2026, 4, 12, 17) / 1000)).toBe('2026-05-12T17:00:00Z');
    expect(parseMillis('2026-05-12T17:04:11.402Z')).toBe(Date.UTC(2026, 4, 12, 17, 4, 11, 402));
    expect(formatMillis(Date.UTC(2026, 4, 12, 17, 4, 11, 402))).toBe('2026-05-12T17:04:11.402Z');
  });
  it.each([
    '2026-05-12T17:00:00.000Z',
    '2026-05-12T17:00:00+00:00',
    '2026-05-12 17:00:00Z',
    '2026-02-30T00:00:00Z',
    '2026-05-12T24:00:00Z',
    '2026-05-12t17:00:00z',
  ])('rejects %s as a whole-second time', (text) => expect(parseSeconds(text)).toBeUndefined());
  it('rejects a whole-second time as a millisecond time', () =>
    expect(parseMillis('2026-05-12T17:00:00Z')).toBeUndefined());
});
