// core/trace.ts: the trace id of a request from W3C Trace Context or B3 headers, strictly read,
// and nothing from a header that is malformed (ignored, never a denial).
import { describe, expect, it } from 'vitest';
import { traceIdOf, traceIdOfB3, traceIdOfTraceparent } from '../../core/trace.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

describe('traceparent (W3C Trace Context)', () => {
  it('gives the trace id of a well-formed value', () => {
    expect(traceIdOfTraceparent(`00-${TRACE}-${SPAN}-01`)).toBe(TRACE);
    // A later version may append fields; the first four keep their meaning.
    expect(traceIdOfTraceparent(`01-${TRACE}-${SPAN}-00-future`)).toBe(TRACE);
  });

  it.each([
    ['uppercase hex', `00-${TRACE.toUpperCase()}-${SPAN}-01`],
    ['the invalid version ff', `ff-${TRACE}-${SPAN}-01`],
    ['an all-zero trace id', `00-${'0'.repeat(32)}-${SPAN}-01`],
    ['an all-zero parent id', `00-${TRACE}-${'0'.repeat(16)}-01`],
    ['version 00 with more after the flags', `00-${TRACE}-${SPAN}-01-x`],
    ['a short trace id', `00-${TRACE.slice(2)}-${SPAN}-01`],
    ['surrounding space', ` 00-${TRACE}-${SPAN}-01`],
    ['an empty value', ''],
  ])('ignores %s', (_what, value) => {
    expect(traceIdOfTraceparent(value)).toBeUndefined();
  });
});

describe('B3', () => {
  it('gives the trace id of a single b3 header, a 64-bit one left-padded to 32 digits', () => {
    expect(traceIdOfB3(`${TRACE}-${SPAN}-1`)).toBe(TRACE);
    expect(traceIdOfB3(`${SPAN}-${SPAN}`)).toBe(`${'0'.repeat(16)}${SPAN}`);
    expect(traceIdOfB3(`${TRACE}-${SPAN}-d-${SPAN}`)).toBe(TRACE);
  });

  it.each([
    ['0'],
    ['1'],
    [`${TRACE}`],
    [`${TRACE}-${SPAN}-1-${SPAN}-x`],
    [`${TRACE}-short`],
    [`${'0'.repeat(32)}-${SPAN}`],
  ])('ignores b3: %s', (value) => {
    expect(traceIdOfB3(value)).toBeUndefined();
  });
});

describe('the trace of a request', () => {
  const none = { traceparent: undefined, b3: undefined, xB3TraceId: undefined };

  it('prefers traceparent, then b3, then x-b3-traceid, and skips a malformed one', () => {
    const other = 'a'.repeat(32);
    expect(
      traceIdOf({ traceparent: `00-${TRACE}-${SPAN}-01`, b3: `${other}-${SPAN}`, xB3TraceId: other }),
    ).toBe(TRACE);
    expect(traceIdOf({ ...none, traceparent: 'garbage', b3: `${other}-${SPAN}` })).toBe(other);
    expect(traceIdOf({ ...none, xB3TraceId: SPAN })).toBe(`${'0'.repeat(16)}${SPAN}`);
    expect(traceIdOf({ ...none, xB3TraceId: 'XYZ' })).toBeUndefined();
    expect(traceIdOf(none)).toBeUndefined();
  });
});
