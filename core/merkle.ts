// The Merkle tree of RFC 9162 §2.1 over SHA3-512 (leaf prefix 0x00, node prefix 0x01): the root
// and every leaf's inclusion path in one pass, and inclusion verification. Pure: the crypto suite
// is passed in. Producers' batch signatures (core/event.ts) sign such a root.
import type { CryptoSuite } from './crypto.js';
import { concatBytes } from './encoding.js';

const LEAF_PREFIX = Uint8Array.of(0x00);
const NODE_PREFIX = Uint8Array.of(0x01);

export function leafHash(suite: CryptoSuite, eventBytes: Uint8Array): Uint8Array {
  return suite.sha3_512(concatBytes(LEAF_PREFIX, eventBytes));
}

function nodeHash(suite: CryptoSuite, left: Uint8Array, right: Uint8Array): Uint8Array {
  return suite.sha3_512(concatBytes(NODE_PREFIX, left, right));
}

/** Largest power of two strictly less than n (n ≥ 2), as in RFC 6962 §2.1. */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/**
 * The root and every leaf's audit path (RFC 6962 §2.1.1, siblings from the leaf up) in one pass:
 * n − 1 node hashes, where computing each path on its own would cost n² hashes per batch.
 */
export function merkleTree(
  suite: CryptoSuite,
  leaves: Uint8Array[],
): { root: Uint8Array; paths: Uint8Array[][] } {
  const paths = leaves.map((): Uint8Array[] => []);
  const build = (start: number, end: number): Uint8Array => {
    if (end - start === 1) return leaves[start]!;
    const middle = start + split(end - start);
    const left = build(start, middle);
    const right = build(middle, end);
    for (let i = start; i < middle; i++) paths[i]!.push(right);
    for (let i = middle; i < end; i++) paths[i]!.push(left);
    return nodeHash(suite, left, right);
  };
  return { root: build(0, leaves.length), paths };
}

/**
 * RFC 9162 §2.1.3.2: the root a leaf and its audit path lead to, with any node hash (the
 * producers' SHA3-512 batch trees here, the log's SHA-256 tree in core/tlog.ts). Undefined when
 * the path's length does not fit the index and size.
 */
export function rootFromAuditPath(
  node: (left: Uint8Array, right: Uint8Array) => Uint8Array,
  leaf: Uint8Array,
  index: number,
  size: number,
  path: readonly Uint8Array[],
): Uint8Array | undefined {
  if (!Number.isSafeInteger(size) || !Number.isSafeInteger(index) || index < 0 || index >= size)
    return undefined;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of path) {
    if (sn === 0) return undefined;
    if (fn % 2 === 1 || fn === sn) {
      r = node(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = node(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : undefined;
}

/** Recomputes a batch tree's root from a leaf and its path (RFC 9162 §2.1.3.2 inclusion verification). */
export function rootFromPath(
  suite: CryptoSuite,
  leaf: Uint8Array,
  index: number,
  size: number,
  path: Uint8Array[],
): Uint8Array | undefined {
  return rootFromAuditPath((left, right) => nodeHash(suite, left, right), leaf, index, size, path);
}
