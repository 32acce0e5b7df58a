// The RFC 9162 §2.1 tree over SHA3-512: merkleTree's root is the spec's MTH (computed here from
// the recursive definition, independently of the one-pass implementation), every path it gives
// verifies with rootFromPath, and a path never verifies for another leaf, index or size.
import { describe, expect, it } from 'vitest';
import { concatBytes, utf8Encode } from '../../core/encoding.js';
import { nodeCrypto } from '../../core/crypto-node.js';
import { leafHash, merkleTree, rootFromPath } from '../../core/merkle.js';

const suite = nodeCrypto;

/** MTH(D[n]) as RFC 9162 §2.1.1 defines it, over already-hashed leaves. */
function mth(leaves: Uint8Array[]): Uint8Array {
  if (leaves.length === 1) return leaves[0]!;
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return suite.sha3_512(concatBytes(Uint8Array.of(1), mth(leaves.slice(0, k)), mth(leaves.slice(k))));
}

const leavesOf = (n: number) =>
  Array.from({ length: n }, (_, i) => leafHash(suite, utf8Encode(`event ${i}`)));

describe('merkleTree', () => {
  it('hashes a leaf as SHA3-512(0x00 || bytes)', () => {
    const bytes = utf8Encode('{"a":1}');
    expect(leafHash(suite, bytes)).toEqual(suite.sha3_512(concatBytes(Uint8Array.of(0), bytes)));
  });

  it('gives the RFC 9162 root and a verifying path for every leaf, sizes 1 to 40', () => {
    for (let n = 1; n <= 40; n++) {
      const leaves = leavesOf(n);
      const { root, paths } = merkleTree(suite, leaves);
      expect(root).toEqual(mth(leaves));
      for (let i = 0; i < n; i++) expect(rootFromPath(suite, leaves[i]!, i, n, paths[i]!)).toEqual(root);
    }
  });

  it('refuses a path for another leaf, index or size, and a path cut or extended', () => {
    const leaves = leavesOf(13);
    const { root, paths } = merkleTree(suite, leaves);
    const path = paths[5]!;
    expect(rootFromPath(suite, leaves[6]!, 5, 13, path)).not.toEqual(root);
    expect(rootFromPath(suite, leaves[5]!, 4, 13, path)).not.toEqual(root);
    // The size binds the path's shape only; the signed statement binds the size itself.
    expect(rootFromPath(suite, leaves[5]!, 5, 8, path)).toBeUndefined();
    expect(rootFromPath(suite, leaves[5]!, 5, 40, path)).toBeUndefined();
    expect(rootFromPath(suite, leaves[5]!, 5, 13, path.slice(1))).toBeUndefined();
    expect(rootFromPath(suite, leaves[5]!, 5, 13, [...path, path[0]!])).toBeUndefined();
    for (const [index, size] of [
      [-1, 13],
      [13, 13],
      [0, 0],
      [0.5, 13],
    ]) {
      expect(rootFromPath(suite, leaves[0]!, index!, size!, path)).toBeUndefined();
    }
  });
});
