// The RFC 9162 tree over SHA-256 and C2SP tlog-tiles: published vectors; a direct recursive
// MTH/PATH/PROOF written here from the RFC's definitions (independent of core/tlog.ts's iterative
// ranges and of its fn/sn verifiers); tiles built incrementally against tiles computed from that
// reference; and verifiers that accept exactly the proofs they should.
import { describe, expect, it } from 'vitest';
import { nodeCrypto } from '../../core/crypto-node.js';
import { portableCrypto } from '../../core/crypto-portable.js';
import type { CryptoSuite } from '../../core/crypto.js';
import { concatBytes, hexDecode, hexEncode, utf8Encode } from '../../core/encoding.js';
import { isGovernanceError } from '../../core/errors.js';
import {
  TILE_WIDTH,
  TileBuilder,
  TileHashes,
  consistencyProof,
  emptyTreeRoot,
  entriesPath,
  inclusionProof,
  parseTilePath,
  rangeHash,
  tilePath,
  tileWidthAt,
  tilesForConsistency,
  tilesForInclusion,
  tilesForRoot,
  tlogLeafHash,
  tlogNodeHash,
  treeRoot,
  verifyConsistency,
  verifyInclusion,
  type SubtreeHashes,
  type TileId,
} from '../../core/tlog.js';

const suites = [nodeCrypto, portableCrypto];
const hex = (text: string): Uint8Array => hexDecode(text)!;
// Hex strings compare far faster in expect() than typed arrays do.
const hx = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex');
const hxs = (list: Uint8Array[]): string[] => list.map(hx);
const hxMap = (tiles: Map<string, Uint8Array>) => new Map([...tiles].map(([k, v]) => [k, hx(v)]));
type Range = [number, number];

/** A deterministic PRNG (mulberry32), so a failing case can be replayed. */
function random(seed: number): (n: number) => number {
  let a = seed;
  return (n) => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

const isPowerOfTwo = (n: number) => n > 0 && Number.isInteger(Math.log2(n));

/** RFC 9162 §2.1 as written: MTH, PATH and PROOF by recursion, over already-hashed leaves. */
function reference(suite: CryptoSuite, leaves: Uint8Array[], memoFrom = 2) {
  // Shared subtrees are memoized so that trees of 200,000 leaves stay cheap (there, small ones are
  // not, to bound memory).
  const memo = new Map<string, Uint8Array>();
  const mth = (start: number, end: number): Uint8Array => {
    if (end - start === 0) return suite.sha256(new Uint8Array(0));
    if (end - start === 1) return leaves[start]!;
    const key = `${start}:${end}`;
    const known = memo.get(key);
    if (known) return known;
    const k = split(end - start);
    const hash = suite.sha256(concatBytes(Uint8Array.of(1), mth(start, start + k), mth(start + k, end)));
    if (end - start >= memoFrom) memo.set(key, hash);
    return hash;
  };
  const path = (m: number, start: number, end: number): Range[] => {
    if (end - start === 1) return [];
    const k = split(end - start);
    return m < k
      ? [...path(m, start, start + k), [start + k, end]]
      : [...path(m - k, start + k, end), [start, start + k]];
  };
  const subproof = (m: number, start: number, end: number, b: boolean): Range[] => {
    if (m === end - start) return b ? [] : [[start, end]];
    const k = split(end - start);
    return m <= k
      ? [...subproof(m, start, start + k, b), [start + k, end]]
      : [...subproof(m - k, start + k, end, false), [start, start + k]];
  };
  const hashes = (ranges: Range[]) => ranges.map(([s, e]) => mth(s, e));
  return {
    mth,
    pathRanges: (m: number, n: number) => path(m, 0, n),
    proofRanges: (m: number, n: number) => subproof(m, 0, n, true),
    PATH: (m: number, n: number) => hashes(path(m, 0, n)),
    PROOF: (m: number, n: number) => hashes(subproof(m, 0, n, true)),
    /** Perfect subtree hashes straight from MTH, as a SubtreeHashes source. */
    source: { hash: (h: number, i: number) => mth(i * 2 ** h, (i + 1) * 2 ** h) } satisfies SubtreeHashes,
  };
}

/** Stand-ins for leaf hashes where only the tree over them is under test: hashing 200,000 entries
 * would cost more than the rest of the test. */
function fakeLeaves(n: number, seed: number): Uint8Array[] {
  const rand = random(seed);
  const bytes = Uint8Array.from({ length: n * 32 }, () => rand(256));
  return Array.from({ length: n }, (_, i) => bytes.subarray(i * 32, (i + 1) * 32));
}

const leavesOf = (suite: CryptoSuite, n: number, tag = 'entry') =>
  Array.from({ length: n }, (_, i) => tlogLeafHash(suite, utf8Encode(`${tag} ${i}`)));

/**
 * The order in which a verifier combines an inclusion proof: whether each sibling lies left or
 * right of the leaf. A proof verifies for another index or size exactly when this is unchanged
 * (the size binds a proof only through its shape; a signed checkpoint binds the size itself).
 */
function inclusionShape(ref: ReturnType<typeof reference>, index: number, size: number): string {
  return ref
    .pathRanges(index, size)
    .map(([, e]) => (e <= index ? 'L' : 'R'))
    .join('');
}

/** The same for consistency: the first hash covers the old tree's last leaf (the old root when
 * the old size is a power of two, which the proof leaves out); left hashes make both roots,
 * right hashes only the new one. */
function consistencyShape(ref: ReturnType<typeof reference>, size1: number, size2: number): string {
  const ranges = ref.proofRanges(size1, size2);
  const first: Range = isPowerOfTwo(size1) ? [0, size1] : ranges.shift()!;
  return `${isPowerOfTwo(size1) ? 'P' : 'F'}:${ranges.map(([, e]) => (e <= first[0] ? 'L' : 'R')).join('')}`;
}

/** Each proof with one bit flipped, one hash dropped, one added, or one hash of the wrong length. */
function corruptions(proof: Uint8Array[], extra: Uint8Array, everyBit: boolean): Uint8Array[][] {
  const out: Uint8Array[][] = [];
  proof.forEach((hash, j) => {
    for (let bit = 0; bit < (everyBit ? 256 : 1); bit++) {
      const b = everyBit ? bit : (j * 37 + 11) % 256;
      const flipped = hash.slice();
      flipped[b >> 3]! ^= 1 << (b & 7);
      out.push(proof.map((h, k) => (k === j ? flipped : h)));
    }
    out.push(proof.map((h, k) => (k === j ? h.subarray(0, 31) : h)));
    out.push(proof.map((h, k) => (k === j ? concatBytes(h, Uint8Array.of(0)) : h)));
  });
  if (proof.length > 0) out.push(proof.slice(1), proof.slice(0, -1));
  out.push([...proof, extra], [extra, ...proof], [...proof, new Uint8Array(0)]);
  return out;
}

function flips(hash: Uint8Array): Uint8Array[] {
  return Array.from({ length: 256 }, (_, b) => {
    const flipped = hash.slice();
    flipped[b >> 3]! ^= 1 << (b & 7);
    return flipped;
  });
}

describe('RFC 6962 reference vectors', () => {
  // The 8-leaf tree, its roots and proofs of certificate-transparency's merkle tests, as carried
  // on in github.com/transparency-dev/merkle proof/verify_test.go (inclusion leaf numbers there
  // are 1-based; here they are indexes).
  const data = [
    '',
    '00',
    '10',
    '2021',
    '3031',
    '40414243',
    '5051525354555657',
    '606162636465666768696a6b6c6d6e6f',
  ].map(hex);
  const roots = [
    '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
    'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
    'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
    'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
    '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
    'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
    '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
  ];
  const inclusions: [number, number, string[]][] = [
    [0, 1, []],
    [
      0,
      8,
      [
        '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
        '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
        '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
      ],
    ],
    [
      5,
      8,
      [
        'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
        'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
        'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
      ],
    ],
    [2, 3, ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125']],
    [
      1,
      5,
      [
        '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
        '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
        'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      ],
    ],
  ];
  const consistencies: [number, number, string[]][] = [
    [1, 1, []],
    [
      1,
      8,
      [
        '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
        '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
        '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
      ],
    ],
    [
      6,
      8,
      [
        '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
        'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
        'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
      ],
    ],
    [
      2,
      5,
      [
        '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
        'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      ],
    ],
    [
      6,
      7,
      [
        '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
        'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
        'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
      ],
    ],
  ];

  describe.each(suites)('$name', (suite) => {
    const leaves = data.map((d) => tlogLeafHash(suite, d));
    const builder = TileBuilder.empty(suite);
    builder.append(leaves);
    const tiles = builder.takeChanged();
    const source = new TileHashes(suite, 8, ({ level, index, width }) =>
      tiles.get(tilePath(level, index, width)),
    );

    it('hashes the empty tree as SHA-256 of the empty string', () => {
      expect(hexEncode(emptyTreeRoot(suite))).toBe(
        'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      );
      expect(treeRoot(suite, source, 0)).toEqual(emptyTreeRoot(suite));
      expect(TileBuilder.empty(suite).root()).toEqual(emptyTreeRoot(suite));
    });

    it('gives the published roots of sizes 1 to 8', () => {
      const grown = TileBuilder.empty(suite);
      for (let n = 1; n <= 8; n++) {
        grown.append([leaves[n - 1]!]);
        expect(hexEncode(grown.root())).toBe(roots[n - 1]);
        expect(hexEncode(treeRoot(suite, source, n))).toBe(roots[n - 1]);
      }
    });

    it.each(inclusions)(
      'gives and verifies the published inclusion proof of leaf %i in %i',
      (i, n, proof) => {
        expect(inclusionProof(suite, source, i, n).map(hexEncode)).toEqual(proof);
        expect(verifyInclusion(suite, leaves[i]!, i, n, proof.map(hex), hex(roots[n - 1]!))).toBe(true);
      },
    );

    it.each(consistencies)(
      'gives and verifies the published consistency proof from %i to %i',
      (m, n, proof) => {
        expect(consistencyProof(suite, source, m, n).map(hexEncode)).toEqual(proof);
        expect(verifyConsistency(suite, m, n, proof.map(hex), hex(roots[m - 1]!), hex(roots[n - 1]!))).toBe(
          true,
        );
      },
    );

    it('refuses the published proofs for a wrong index or size (as transparency-dev/merkle probes them)', () => {
      for (const [i, n, p] of inclusions.slice(1)) {
        const proof = p.map(hex);
        const root = hex(roots[n - 1]!);
        for (const [i2, n2] of [
          [i - 1, n],
          [i + 1, n],
          [i ^ 2, n],
          [i, n * 2],
          [i, Math.floor(n / 2)],
        ])
          expect(verifyInclusion(suite, leaves[i]!, i2!, n2!, proof, root)).toBe(false);
      }
      for (const [m, n, p] of consistencies.slice(1)) {
        const proof = p.map(hex);
        const [r1, r2] = [hex(roots[m - 1]!), hex(roots[n - 1]!)];
        for (const [m2, n2] of [
          [m - 1, n],
          [m + 1, n],
          [m ^ 2, n],
          [m, n * 2],
          [m, Math.floor(n / 2)],
        ])
          expect(verifyConsistency(suite, m2!, n2!, proof, r1, r2)).toBe(false);
        expect(verifyConsistency(suite, m, n, proof, r2, r1)).toBe(false);
        expect(verifyConsistency(suite, m, n, [], r1, r2)).toBe(false);
      }
    });
  });
});

// The sweeps collect disagreements and assert once: an expect() per probe would cost more than
// the hashing. The portable suite, slower and checked to hash alike below, gets the smaller sweeps
// where the largest would take seconds.
const sweeps = [
  { suite: nodeCrypto, shapes: 70, flips: 8, cuts: 40 },
  { suite: portableCrypto, shapes: 24, flips: 5, cuts: 16 },
].map((s) => [s.suite.name, s] as const);

describe.each(sweeps)('against the recursive definitions (%s)', (_name, { suite, shapes }) => {
  const leaves = leavesOf(suite, 600);
  const ref = reference(suite, leaves);

  it('gives MTH for every size from 1 to 600, from perfect subtrees and incrementally', () => {
    const builder = TileBuilder.empty(suite);
    const wrong: number[] = [];
    for (let n = 1; n <= 600; n++) {
      builder.append([leaves[n - 1]!]);
      const expected = hx(ref.mth(0, n));
      if (hx(treeRoot(suite, ref.source, n)) !== expected || hx(builder.root()) !== expected) wrong.push(n);
    }
    expect(wrong).toEqual([]);
  });

  it('gives PATH and PROOF for every pair of sizes up to 70, within ceil(log2 n) (+1), and they verify', () => {
    const wrong: string[] = [];
    for (let n = 1; n <= 70; n++) {
      const root = ref.mth(0, n);
      const bound = Math.ceil(Math.log2(n));
      for (let m = 0; m < n; m++) {
        const path = inclusionProof(suite, ref.source, m, n);
        if (hxs(path).join() !== hxs(ref.PATH(m, n)).join()) wrong.push(`PATH(${m}, ${n})`);
        if (path.length > bound) wrong.push(`PATH(${m}, ${n}) has ${path.length} hashes`);
        if (!verifyInclusion(suite, leaves[m]!, m, n, path, root)) wrong.push(`PATH(${m}, ${n}) fails`);
      }
      for (let m = 1; m <= n; m++) {
        const proof = consistencyProof(suite, ref.source, m, n);
        if (hxs(proof).join() !== hxs(ref.PROOF(m, n)).join()) wrong.push(`PROOF(${m}, ${n})`);
        // One more than an inclusion path at most: from 3 to 4 it is d[2], d[3] and MTH(D[0:2]).
        if (proof.length > bound + 1) wrong.push(`PROOF(${m}, ${n}) has ${proof.length} hashes`);
        if (!verifyConsistency(suite, m, n, proof, ref.mth(0, m), root))
          wrong.push(`PROOF(${m}, ${n}) fails`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('accepts an inclusion proof for another index or size only where its shape is the same', () => {
    const wrong: string[] = [];
    let refused = 0;
    for (let n = 1; n <= shapes; n++) {
      const root = ref.mth(0, n);
      for (let m = 0; m < n; m++) {
        const proof = ref.PATH(m, n);
        const shape = inclusionShape(ref, m, n);
        for (const [m2, n2] of [
          [m - 1, n],
          [m + 1, n],
          [m ^ 1, n],
          [0, n],
          [n - 1, n],
          [m, n - 1],
          [m, n + 1],
          [m, 2 * n],
          [m, Math.floor(n / 2)],
          [m, m],
        ] as const) {
          if (m2 === m && n2 === n) continue;
          const valid = m2 >= 0 && m2 < n2 && inclusionShape(ref, m2, n2) === shape;
          if (verifyInclusion(suite, leaves[m]!, m2, n2, proof, root) !== valid)
            wrong.push(`PATH(${m}, ${n}) as (${m2}, ${n2})`);
          if (!valid) refused++;
        }
      }
    }
    expect(wrong).toEqual([]);
    expect(refused).toBeGreaterThan(shapes * shapes);
  });

  it('accepts a consistency proof for other sizes only where its shape is the same', () => {
    const wrong: string[] = [];
    let refused = 0;
    for (let n = 2; n <= shapes; n++) {
      const root2 = ref.mth(0, n);
      for (let m = 1; m < n; m++) {
        const proof = ref.PROOF(m, n);
        const root1 = ref.mth(0, m);
        const shape = consistencyShape(ref, m, n);
        for (const [m2, n2] of [
          [m - 1, n],
          [m + 1, n],
          [m ^ 2, n],
          [1, n],
          [m, n - 1],
          [m, n + 1],
          [m, 2 * n],
          [m, Math.floor(n / 2)],
        ] as const) {
          const valid = m2 > 0 && m2 < n2 && consistencyShape(ref, m2, n2) === shape;
          if (verifyConsistency(suite, m2, n2, proof, root1, root2) !== valid)
            wrong.push(`PROOF(${m}, ${n}) as (${m2}, ${n2})`);
          if (!valid) refused++;
        }
        if (verifyConsistency(suite, m, n, proof, root2, root1))
          wrong.push(`PROOF(${m}, ${n}) roots swapped`);
      }
    }
    expect(wrong).toEqual([]);
    expect(refused).toBeGreaterThan(shapes * shapes);
  });
});

describe.each(sweeps)('verification refuses tampering (%s)', (_name, { suite, flips: flipSizes, cuts }) => {
  const leaves = leavesOf(suite, 70);
  const ref = reference(suite, leaves);
  const other = suite.sha256(utf8Encode('some other hash'));

  it('refuses every single-bit flip of an inclusion proof, leaf or root, and cut or padded proofs', () => {
    const wrong: string[] = [];
    for (let n = 1; n <= flipSizes; n++) {
      const root = ref.mth(0, n);
      for (let m = 0; m < n; m++) {
        const proof = ref.PATH(m, n);
        corruptions(proof, other, true).forEach((bad, j) => {
          if (verifyInclusion(suite, leaves[m]!, m, n, bad, root)) wrong.push(`PATH(${m}, ${n}) #${j}`);
        });
        flips(root).forEach((bad, j) => {
          if (verifyInclusion(suite, leaves[m]!, m, n, proof, bad)) wrong.push(`PATH(${m}, ${n}) root #${j}`);
        });
        flips(leaves[m]!).forEach((bad, j) => {
          if (verifyInclusion(suite, bad, m, n, proof, root)) wrong.push(`PATH(${m}, ${n}) leaf #${j}`);
        });
      }
    }
    expect(wrong).toEqual([]);
  });

  it('refuses every single-bit flip of a consistency proof or either root, and cut or padded proofs', () => {
    const wrong: string[] = [];
    for (let n = 1; n <= flipSizes; n++) {
      const root2 = ref.mth(0, n);
      for (let m = 1; m <= n; m++) {
        const root1 = ref.mth(0, m);
        const proof = ref.PROOF(m, n);
        corruptions(proof, other, true).forEach((bad, j) => {
          if (verifyConsistency(suite, m, n, bad, root1, root2)) wrong.push(`PROOF(${m}, ${n}) #${j}`);
        });
        flips(root1).forEach((bad, j) => {
          if (verifyConsistency(suite, m, n, proof, bad, root2)) wrong.push(`PROOF(${m}, ${n}) root1 #${j}`);
        });
        flips(root2).forEach((bad, j) => {
          if (verifyConsistency(suite, m, n, proof, root1, bad)) wrong.push(`PROOF(${m}, ${n}) root2 #${j}`);
        });
      }
    }
    expect(wrong).toEqual([]);
  });

  it('refuses cut, padded and flipped proofs at every size up to 40 (16)', () => {
    const wrong: string[] = [];
    for (let n = 1; n <= cuts; n++) {
      const root = ref.mth(0, n);
      for (let m = 0; m < n; m++)
        corruptions(ref.PATH(m, n), other, false).forEach((bad, j) => {
          if (verifyInclusion(suite, leaves[m]!, m, n, bad, root)) wrong.push(`PATH(${m}, ${n}) #${j}`);
        });
      for (let m = 1; m <= n; m++)
        corruptions(ref.PROOF(m, n), other, false).forEach((bad, j) => {
          if (verifyConsistency(suite, m, n, bad, ref.mth(0, m), root)) wrong.push(`PROOF(${m}, ${n}) #${j}`);
        });
    }
    expect(wrong).toEqual([]);
  });

  it('returns false, never throws, for malformed input', () => {
    const root = ref.mth(0, 5);
    const proof = ref.PATH(2, 5);
    const notBytes = 'not bytes' as unknown as Uint8Array;
    for (const [i, n] of [
      [-1, 5],
      [5, 5],
      [0, 0],
      [0.5, 5],
      [2, 5.5],
      [2, Number.NaN],
      [2, Number.POSITIVE_INFINITY],
      [2, 2 ** 53],
    ])
      expect(verifyInclusion(suite, leaves[2]!, i!, n!, proof, root)).toBe(false);
    expect(verifyInclusion(suite, notBytes, 2, 5, proof, root)).toBe(false);
    expect(verifyInclusion(suite, leaves[2]!, 2, 5, proof, notBytes)).toBe(false);
    expect(verifyInclusion(suite, leaves[2]!, 2, 5, [...proof.slice(1), notBytes], root)).toBe(false);
    expect(verifyInclusion(suite, leaves[2]!, 2, 5, notBytes as unknown as Uint8Array[], root)).toBe(false);
    expect(verifyInclusion(suite, root.subarray(0, 31), 0, 1, [], root.subarray(0, 31))).toBe(false);

    const [r3, r5] = [ref.mth(0, 3), ref.mth(0, 5)];
    const cproof = ref.PROOF(3, 5);
    for (const [m, n] of [
      [5, 3],
      [-1, 5],
      [3, 5.5],
      [Number.NaN, 5],
      [3, 2 ** 53],
    ])
      expect(verifyConsistency(suite, m!, n!, cproof, r3, r5)).toBe(false);
    expect(verifyConsistency(suite, 3, 5, cproof, notBytes, r5)).toBe(false);
    expect(verifyConsistency(suite, 3, 5, [notBytes, ...cproof.slice(1)], r3, r5)).toBe(false);
    expect(verifyConsistency(suite, 3, 5, notBytes as unknown as Uint8Array[], r3, r5)).toBe(false);
  });

  it('needs no proof between equal sizes or from the empty tree, and refuses one', () => {
    const [r5, r6] = [ref.mth(0, 5), ref.mth(0, 6)];
    const empty = emptyTreeRoot(suite);
    expect(verifyConsistency(suite, 5, 5, [], r5, r5)).toBe(true);
    expect(verifyConsistency(suite, 5, 5, [], r5, r6)).toBe(false);
    expect(verifyConsistency(suite, 5, 5, [r5], r5, r5)).toBe(false);
    expect(verifyConsistency(suite, 0, 0, [], empty, empty)).toBe(true);
    expect(verifyConsistency(suite, 0, 6, [], empty, r6)).toBe(true);
    expect(verifyConsistency(suite, 0, 6, [r6], empty, r6)).toBe(false);
    expect(verifyConsistency(suite, 0, 6, [], r5, r6)).toBe(false);
    expect(verifyConsistency(suite, 0, 0, [], r5, r5)).toBe(false);
  });
});

describe('proofs of large trees', () => {
  const suite = nodeCrypto;
  /**
   * A consistent tree of any size without its leaves: every leaf is the same except a few
   * `marked` ones, so a subtree without a marked leaf has a hash that depends on its height only,
   * and the rest are a few recursive hashes each. Deterministic, and proofs from it verify.
   */
  function sparse(marked: number[]): SubtreeHashes {
    const plain = [suite.sha256(utf8Encode('plain leaf'))];
    const memo = new Map<string, Uint8Array>();
    const node = (l: Uint8Array, r: Uint8Array) => suite.sha256(concatBytes(Uint8Array.of(1), l, r));
    const hash = (h: number, i: number): Uint8Array => {
      const [start, end] = [i * 2 ** h, (i + 1) * 2 ** h];
      if (!marked.some((x) => x >= start && x < end)) {
        while (plain.length <= h) plain.push(node(plain.at(-1)!, plain.at(-1)!));
        return plain[h]!;
      }
      if (h === 0) return suite.sha256(utf8Encode(`marked leaf ${i}`));
      const key = `${h}/${i}`;
      let known = memo.get(key);
      if (!known) memo.set(key, (known = node(hash(h - 1, 2 * i), hash(h - 1, 2 * i + 1))));
      return known;
    };
    return { hash };
  }

  function check(n: number, indexes: number[], bound: number): string[] {
    const source = sparse(indexes.flatMap((i) => [i, Math.max(0, i - 1), Math.min(n - 1, i + 1)]));
    const root = treeRoot(suite, source, n);
    const wrong: string[] = [];
    for (const index of indexes) {
      const path = inclusionProof(suite, source, index, n);
      if (path.length > bound) wrong.push(`PATH(${index}, ${n}) has ${path.length} hashes`);
      const leaf = source.hash(0, index);
      if (!verifyInclusion(suite, leaf, index, n, path, root)) wrong.push(`PATH(${index}, ${n}) fails`);
      if (index > 0 && verifyInclusion(suite, leaf, index - 1, n, path, root))
        wrong.push(`PATH(${index}, ${n}) −1`);
      if (index + 1 < n && verifyInclusion(suite, leaf, index + 1, n, path, root))
        wrong.push(`PATH(${index}, ${n}) +1`);
      const m = index + 1;
      const proof = consistencyProof(suite, source, m, n);
      if (proof.length > bound + 1) wrong.push(`PROOF(${m}, ${n}) has ${proof.length} hashes`);
      const root1 = treeRoot(suite, source, m);
      if (!verifyConsistency(suite, m, n, proof, root1, root)) wrong.push(`PROOF(${m}, ${n}) fails`);
      if (m > 1 && verifyConsistency(suite, m - 1, n, proof, root1, root)) wrong.push(`PROOF(${m}, ${n}) −1`);
    }
    return wrong;
  }

  it('keeps proofs within ceil(log2 n) hashes (one more for consistency) at n = 1,000,000', () => {
    const rand = random(1);
    const n = 1_000_000;
    const indexes = [0, 1, n - 2, n - 1, 2 ** 19 - 1, 2 ** 19, ...Array.from({ length: 60 }, () => rand(n))];
    expect(check(n, indexes, 20)).toEqual([]);
  });

  it('works beyond 32-bit sizes, up to 2^53 − 1 leaves', () => {
    const rand = random(2);
    for (const n of [2 ** 32, 2 ** 32 + 1, 2 ** 40 + 12345, Number.MAX_SAFE_INTEGER]) {
      const indexes = [0, n - 1, 2 ** 31 + 7, 2 ** 32 - 1, rand(2 ** 30) * 2 ** 20 + rand(2 ** 20)].filter(
        (i) => i < n,
      );
      expect(check(n, indexes, Math.ceil(Math.log2(n)))).toEqual([]);
    }
  });

  it('refuses a range that is not one of an RFC 9162 tree', () => {
    const source = sparse([5]);
    expect(() => rangeHash(suite, source, 1, 3)).toThrow(RangeError);
    expect(() => rangeHash(suite, source, 2, 6)).toThrow(RangeError);
    expect(() => rangeHash(suite, source, 3, 3)).toThrow(RangeError);
    expect(rangeHash(suite, source, 4, 7)).toEqual(tlogNodeHash(suite, source.hash(1, 2), source.hash(0, 6)));
    expect(() => inclusionProof(suite, source, 5, 5)).toThrow(RangeError);
    expect(() => consistencyProof(suite, source, 0, 5)).toThrow(RangeError);
    expect(() => consistencyProof(suite, source, 6, 5)).toThrow(RangeError);
  });
});

describe('C2SP tlog-tiles paths', () => {
  it('encodes the index in 3-digit groups, as the spec example 1234067 → x001/x234/067', () => {
    expect(tilePath(0, 1234067)).toBe('tile/0/x001/x234/067');
    expect(tilePath(2, 0)).toBe('tile/2/000');
    expect(tilePath(1, 999)).toBe('tile/1/999');
    expect(tilePath(1, 1000)).toBe('tile/1/x001/000');
    expect(tilePath(63, 5, 17)).toBe('tile/63/005.p/17');
    expect(tilePath(0, 1234067, 256)).toBe('tile/0/x001/x234/067');
    expect(entriesPath(1234067)).toBe('tile/entries/x001/x234/067');
    expect(entriesPath(0, 1)).toBe('tile/entries/000.p/1');
    expect(entriesPath(Number.MAX_SAFE_INTEGER, 255)).toBe('tile/entries/x009/x007/x199/x254/x740/991.p/255');
  });

  it('parses exactly what it writes', () => {
    const rand = random(3);
    for (let trial = 0; trial < 2000; trial++) {
      const index = [0, 1, 999, 1000, Number.MAX_SAFE_INTEGER, rand(10 ** (1 + rand(15)))][trial % 6]!;
      const width = [1 + rand(255), TILE_WIDTH][trial % 2]!;
      const level = rand(64);
      expect(parseTilePath(tilePath(level, index, width))).toEqual({ level, index, width });
      expect(parseTilePath(entriesPath(index, width))).toEqual({ entries: true, index, width });
    }
    expect(parseTilePath('tile/0/x001/x234/067')).toEqual({ level: 0, index: 1234067, width: 256 });
    expect(parseTilePath('tile/entries/x001/x234/067.p/8')).toEqual({
      entries: true,
      index: 1234067,
      width: 8,
    });
  });

  it.each([
    'tile/0/1',
    'tile/0/01',
    'tile/0/0001',
    'tile/0/x000/001',
    'tile/0/x001',
    'tile/0/001/x002',
    'tile/0/x1/234',
    'tile/0/X001/234',
    'tile/0/000.p/256',
    'tile/0/000.p/0',
    'tile/0/000.p/010',
    'tile/0/000.p/',
    'tile/0/000.p/1000',
    'tile/00/000',
    'tile/64/000',
    'tile/-1/000',
    'tile/entry/000',
    'tile/entries/000.p/256',
    '/tile/0/000',
    'tile/0/000/',
    'tile/0/000\n',
    'tile/0/x009/x007/x199/x254/x740/992',
    'tile/0/x999/x999/x999/x999/x999/x999/999',
    '',
  ])('refuses %j', (path) => {
    expect(parseTilePath(path)).toBeUndefined();
  });

  it('refuses to write a path for a level, index or width that has none', () => {
    for (const [level, index, width] of [
      [64, 0, 256],
      [-1, 0, 256],
      [0.5, 0, 256],
      [0, -1, 256],
      [0, 1.5, 256],
      [0, 2 ** 53, 256],
      [0, 0, 0],
      [0, 0, 257],
      [0, 0, 2.5],
    ])
      expect(() => tilePath(level!, index!, width!)).toThrow(RangeError);
    expect(() => entriesPath(0, 0)).toThrow(RangeError);
  });

  it('sizes tiles as the spec describes a tree of 70,000 and of 256 leaves', () => {
    // "273 full level 0 tiles, one partial level 0 tile of width 112, one full level 1 tile, one
    // partial level 1 tile of width 17, and one partial level 2 tile of width 1."
    expect(tileWidthAt(70_000, 0, 272)).toBe(256);
    expect(tileWidthAt(70_000, 0, 273)).toBe(112);
    expect(tileWidthAt(70_000, 0, 274)).toBe(0);
    expect(tileWidthAt(70_000, 1, 0)).toBe(256);
    expect(tileWidthAt(70_000, 1, 1)).toBe(17);
    expect(tileWidthAt(70_000, 2, 0)).toBe(1);
    expect(tileWidthAt(70_000, 3, 0)).toBe(0);
    // "a tree of size 256 will be represented by a full level 0 tile and a partial level 1 tile
    // of width 1."
    const builder = TileBuilder.empty(nodeCrypto);
    builder.append(leavesOf(nodeCrypto, 256));
    expect([...builder.takeChanged().keys()]).toEqual(['tile/0/000', 'tile/1/000.p/1']);
  });
});

/** Every tile of a tree of `size` leaves, from the reference MTH, as C2SP paths → bytes. */
function referenceTiles(ref: ReturnType<typeof reference>, size: number): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (let level = 0; Math.floor(size / TILE_WIDTH ** level) > 0; level++) {
    const span = TILE_WIDTH ** level;
    const count = Math.floor(size / span);
    for (let index = 0; index * TILE_WIDTH < count; index++) {
      const width = Math.min(TILE_WIDTH, count - index * TILE_WIDTH);
      const hashes = Array.from({ length: width }, (_, j) =>
        ref.mth((index * TILE_WIDTH + j) * span, (index * TILE_WIDTH + j + 1) * span),
      );
      out.set(tilePath(level, index, width), concatBytes(...hashes));
    }
  }
  return out;
}

/** Keeps, for each tile, only its widest version (the store's view of the newest tree). */
function newest(tiles: Map<string, Uint8Array>): Map<string, Uint8Array> {
  const best = new Map<string, [string, Uint8Array]>();
  for (const [path, bytes] of tiles) {
    const t = parseTilePath(path)!;
    const key = 'entries' in t ? `e/${t.index}` : `${t.level}/${t.index}`;
    const known = best.get(key);
    if (!known || known[1].length < bytes.length) best.set(key, [path, bytes]);
  }
  return new Map([...best.values()]);
}

/** A getTile over stored tiles that answers with the exact width or any wider version. */
function reader(store: Map<string, Uint8Array>, asked?: TileId[]) {
  return (tile: TileId): Uint8Array | undefined => {
    asked?.push(tile);
    for (let w = tile.width; w <= TILE_WIDTH; w++) {
      const bytes = store.get(tilePath(tile.level, tile.index, w));
      if (bytes) return bytes;
    }
    return undefined;
  };
}

const sortTiles = (tiles: TileId[]) =>
  [...new Map(tiles.map((t) => [`${t.level}/${t.index}`, t])).values()].sort(
    (a, b) => a.level - b.level || a.index - b.index,
  );

describe('tiles', () => {
  it('builds, resumes and serves ~200,000 leaves as a fresh build and the reference would', () => {
    const suite = nodeCrypto;
    const total = 200_000 + 4321;
    const leaves = fakeLeaves(total, 5);
    const ref = reference(suite, leaves, 16);
    const rand = random(4);
    const builder = TileBuilder.empty(suite);
    const store = new Map<string, Uint8Array>();
    let resumed: TileBuilder | undefined;
    let size = 0;
    while (size < total) {
      // Mostly small batches, as a sequencer sees them, and now and then a large one.
      const batch = Math.min(total - size, rand(8) === 0 ? rand(20_000) : 1 + rand(300));
      builder.append(leaves.slice(size, size + batch));
      resumed?.append(leaves.slice(size, size + batch));
      size += batch;
      expect(builder.size).toBe(size);
      const changed = builder.takeChanged();
      if (resumed) {
        expect(resumed.size).toBe(size);
        expect(hxMap(resumed.takeChanged())).toEqual(hxMap(changed));
        expect(hx(resumed.root())).toBe(hx(builder.root()));
      }
      for (const path of changed.keys()) {
        const t = parseTilePath(path) as TileId;
        expect(tileWidthAt(size, t.level, t.index), path).toBe(t.width);
      }
      for (const [path, bytes] of changed) store.set(path, bytes);
      expect(hx(builder.root())).toBe(hx(ref.mth(0, size)));
      if (!resumed && size >= total / 2) resumed = TileBuilder.resume(suite, size, reader(store));
    }
    expect(resumed).toBeDefined();

    const expected = referenceTiles(ref, total);
    expect(hxMap(newest(store))).toEqual(hxMap(expected));
    const fresh = TileBuilder.empty(suite);
    fresh.append(leaves);
    expect(hxMap(fresh.takeChanged())).toEqual(hxMap(expected));
    // Every width ever written is a prefix of the tile as it ends up.
    const wrong: string[] = [];
    for (const [path, bytes] of store) {
      const t = parseTilePath(path) as TileId;
      const final = expected.get(tilePath(t.level, t.index, tileWidthAt(total, t.level, t.index)))!;
      if (hx(bytes) !== hx(final.subarray(0, bytes.length))) wrong.push(path);
    }
    expect(wrong).toEqual([]);

    for (let trial = 0; trial < 40; trial++) {
      const n = 1 + rand(total);
      const m = 1 + rand(n);
      const index = rand(n);
      const asked: TileId[] = [];
      const root = treeRoot(suite, new TileHashes(suite, n, reader(store, asked)), n);
      expect(hx(root)).toBe(hx(ref.mth(0, n)));
      expect(sortTiles(asked)).toEqual(tilesForRoot(n));

      asked.length = 0;
      const path = inclusionProof(suite, new TileHashes(suite, n, reader(store, asked)), index, n);
      expect(hxs(path)).toEqual(hxs(ref.PATH(index, n)));
      expect(sortTiles(asked)).toEqual(tilesForInclusion(index, n));
      expect(verifyInclusion(suite, leaves[index]!, index, n, path, root)).toBe(true);

      asked.length = 0;
      const proof = consistencyProof(suite, new TileHashes(suite, n, reader(store, asked)), m, n);
      expect(hxs(proof)).toEqual(hxs(ref.PROOF(m, n)));
      expect(sortTiles(asked)).toEqual(tilesForConsistency(m, n));
      expect(verifyConsistency(suite, m, n, proof, ref.mth(0, m), root)).toBe(true);

      const resumedThere = TileBuilder.resume(suite, n, reader(store));
      expect(hx(resumedThere.root())).toBe(hx(root));
    }
  });

  it('gives every tile at its partial width on each take, and a full tile once', () => {
    const suite = nodeCrypto;
    const leaves = fakeLeaves(70_000, 6);
    const builder = TileBuilder.empty(suite);
    builder.append(leaves.slice(0, 255));
    expect([...builder.takeChanged().keys()]).toEqual(['tile/0/000.p/255']);
    expect(builder.takeChanged().size).toBe(0);
    builder.append([]);
    expect(builder.takeChanged().size).toBe(0);
    builder.append(leaves.slice(255, 300));
    expect([...builder.takeChanged().keys()]).toEqual(['tile/0/000', 'tile/0/001.p/44', 'tile/1/000.p/1']);
    builder.append(leaves.slice(300, 70_000));
    const keys = [...builder.takeChanged().keys()];
    expect(keys.filter((k) => k.startsWith('tile/0/') && !k.includes('.p/'))).toHaveLength(272);
    expect(keys.filter((k) => k.includes('.p/'))).toEqual([
      'tile/0/273.p/112',
      'tile/1/001.p/17',
      'tile/2/000.p/1',
    ]);
    expect(keys).toContain('tile/1/000');
  });

  it('refuses missing, short and out-of-tree reads with ledger.proof.invalid', () => {
    const suite = nodeCrypto;
    const builder = TileBuilder.empty(suite);
    builder.append(leavesOf(suite, 600));
    const store = builder.takeChanged();
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return isGovernanceError(e, 'ledger.proof.invalid');
      }
      return 'no error';
    };
    const source = new TileHashes(suite, 600, reader(store));
    expect(code(() => source.hash(0, 600))).toBe(true);
    expect(code(() => source.hash(9, 1))).toBe(true);
    expect(code(() => source.hash(-1, 0))).toBe(true);
    expect(code(() => source.hash(0.5, 0))).toBe(true);
    expect(source.hash(9, 0)).toEqual(reference(suite, leavesOf(suite, 600)).mth(0, 512));

    const without = new Map(store);
    without.delete('tile/0/002.p/88');
    expect(code(() => treeRoot(suite, new TileHashes(suite, 600, reader(without)), 600))).toBe(true);
    expect(code(() => TileBuilder.resume(suite, 600, reader(without)))).toBe(true);
    // An older, narrower partial tile cannot stand in for a wider one.
    const short = (tile: TileId) =>
      store.get(tilePath(tile.level, tile.index, tile.width))?.subarray(0, 32 * 87);
    expect(code(() => treeRoot(suite, new TileHashes(suite, 600, short), 600))).toBe(true);
    expect(code(() => TileBuilder.resume(suite, 600, short))).toBe(true);
    // A wider one can: only its prefix is read.
    expect(treeRoot(suite, new TileHashes(suite, 590, reader(store)), 590)).toEqual(
      reference(suite, leavesOf(suite, 600)).mth(0, 590),
    );
    expect(() => builder.append([new Uint8Array(31)])).toThrow(RangeError);
    expect(builder.size).toBe(600);
  });
});

describe('both crypto suites', () => {
  it('give the same hashes, roots, proofs and tiles', () => {
    const data = Array.from({ length: 3000 }, (_, i) => utf8Encode(`payload ${i}`.repeat(i % 7)));
    const [a, b] = suites.map((suite) => {
      const leaves = data.map((d) => tlogLeafHash(suite, d));
      const builder = TileBuilder.empty(suite);
      const tiles = new Map<string, Uint8Array>();
      const roots: Uint8Array[] = [];
      for (let n = 0; n < leaves.length; n += 97) {
        builder.append(leaves.slice(n, n + 97));
        for (const [path, bytes] of builder.takeChanged()) tiles.set(path, bytes);
        roots.push(builder.root());
      }
      const source = new TileHashes(suite, leaves.length, reader(tiles));
      return {
        empty: emptyTreeRoot(suite),
        node: tlogNodeHash(suite, leaves[1]!, leaves[2]!),
        leaves,
        roots,
        tiles,
        path: inclusionProof(suite, source, 1234, leaves.length),
        proof: consistencyProof(suite, source, 1234, leaves.length),
      };
    });
    const plain = (x: object) =>
      JSON.stringify(x, (_k, v: unknown) =>
        v instanceof Uint8Array ? hx(v) : v instanceof Map ? [...v] : v,
      );
    expect(newest(a!.tiles).size).toBe(13);
    expect(plain(a!)).toBe(plain(b!));
  });
});
