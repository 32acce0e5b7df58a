// The archive layout's lineage index shards (store/archive-layout.ts): their paths, and the shard
// object's encoding, which a reader refuses unless it is the one encodeShardLeaves writes.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { concatBytes, hexEncode } from '../../core/encoding.js';
import { isGovernanceError } from '../../core/errors.js';
import { indexShardOf } from '../../core/smt.js';
import { decodeShardLeaves, encodeShardLeaves, indexShardPath } from '../../store/archive-layout.js';

/** A random leaf (key || value) of `shard`. */
function leafIn(shard: number): Uint8Array {
  const leaf = new Uint8Array(randomBytes(64));
  leaf[0] = shard >> 4;
  leaf[1] = ((shard & 0xf) << 4) | (leaf[1]! & 0x0f);
  return leaf;
}

/** The code of the GovernanceError `f` throws, or 'no error'. */
function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return isGovernanceError(e) ? e.code : `not a GovernanceError: ${String(e)}`;
  }
  return 'no error';
}

const PATH = 'index/abc/1024';

describe('index shard paths', () => {
  it('names a shard by three lowercase hex digits and a version in decimal', () => {
    expect(indexShardPath(0xabc, 1024)).toBe('index/abc/1024');
    expect(indexShardPath(5, 7)).toBe('index/005/7');
    expect(indexShardPath(0, 1)).toBe('index/000/1');
    expect(indexShardPath(4095, 123456789)).toBe('index/fff/123456789');
  });
});

describe('index shard objects', () => {
  it('round-trip, sorted by key', () => {
    const leaves = Array.from({ length: 40 }, () => leafIn(0xabc));
    // Keys that differ only in their last byte, or past the shard bits only.
    const near = leaves[0]!.slice();
    near[31]! ^= 1;
    leaves.push(near, concatBytes(leafIn(0xabc).subarray(0, 2), new Uint8Array(62)));
    const given = leaves.map(hexEncode);
    const bytes = encodeShardLeaves(leaves);
    expect(bytes.length).toBe(64 * leaves.length);
    // The argument is left as it was.
    expect(leaves.map(hexEncode)).toEqual(given);
    const decoded = decodeShardLeaves(bytes, 0xabc, PATH);
    expect(decoded.map(hexEncode)).toEqual([...given].sort());
    // Encoding is canonical: any order of the same leaves gives the same bytes.
    expect(encodeShardLeaves([...leaves].reverse())).toEqual(bytes);
    expect(encodeShardLeaves(decoded)).toEqual(bytes);
    expect(encodeShardLeaves([])).toEqual(new Uint8Array(0));
    expect(decodeShardLeaves(new Uint8Array(0), 7, PATH)).toEqual([]);
    for (const shard of [0, 1, 4095]) {
      const one = leafIn(shard);
      expect(indexShardOf(one)).toBe(shard);
      expect(decodeShardLeaves(encodeShardLeaves([one]), shard, PATH)).toEqual([one]);
    }
  });

  it('is refused unless a sequence of 64-byte leaves of the shard in strictly increasing key order', () => {
    const leaves = Array.from({ length: 5 }, () => leafIn(0xabc));
    const bytes = encodeShardLeaves(leaves);
    const refused = (b: Uint8Array, shard = 0xabc) => codeOf(() => decodeShardLeaves(b, shard, PATH));
    expect(refused(bytes)).toBe('no error');
    // Not a multiple of 64 bytes.
    for (const length of [1, 63, 65, bytes.length - 1, bytes.length + 1])
      expect(refused(concatBytes(bytes, new Uint8Array(64)).subarray(0, length)), `${length}`).toBe(
        'encoding.invalid',
      );
    // A key outside the shard: the whole object under another shard, or one leaf of another.
    expect(refused(bytes, 0xabd)).toBe('encoding.invalid');
    expect(refused(bytes, 0xbbc)).toBe('encoding.invalid');
    expect(refused(encodeShardLeaves([...leaves, leafIn(0xabd)]))).toBe('encoding.invalid');
    expect(refused(encodeShardLeaves([leafIn(0xabb), ...leaves]))).toBe('encoding.invalid');
    expect(refused(bytes, -1)).toBe('encoding.invalid');
    expect(refused(bytes, 4096)).toBe('encoding.invalid');
    // A repeated key, with the same value or another.
    const sorted = decodeShardLeaves(bytes, 0xabc, PATH);
    const again = concatBytes(sorted[2]!.subarray(0, 32), new Uint8Array(32).fill(9));
    expect(refused(concatBytes(...sorted.slice(0, 3), sorted[2]!, ...sorted.slice(3)))).toBe(
      'encoding.invalid',
    );
    expect(refused(encodeShardLeaves([...sorted, again]))).toBe('encoding.invalid');
    // Keys out of order: two neighbours swapped, or all reversed.
    expect(refused(concatBytes(sorted[0]!, sorted[2]!, sorted[1]!, sorted[3]!, sorted[4]!))).toBe(
      'encoding.invalid',
    );
    expect(refused(concatBytes(...[...sorted].reverse()))).toBe('encoding.invalid');
    expect(refused(concatBytes(...sorted))).toBe('no error');
  });
});
