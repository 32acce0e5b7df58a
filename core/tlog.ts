// The Merkle tree of RFC 9162 §2.1 over SHA-256 (leaf prefix 0x00, node prefix 0x01, the empty
// tree hashing to SHA-256("")), exactly as RFC 6962 and C2SP tlog-tiles use it, so that
// transparency-log tooling can read the ledger: roots, inclusion and consistency proofs and their
// verification, and the tiles of C2SP tlog-tiles (https://c2sp.org/tlog-tiles). Pure: the crypto
// suite is passed in and hashes come from a SubtreeHashes source, so one implementation serves
// the sequencer (tiles it builds), servers (tiles in a store) and clients (tiles fetched).
//
// Tree sizes reach 2^53 − 1, beyond the 32 bits of JavaScript's bitwise operators, so the index
// arithmetic below divides and multiplies by powers of two instead of shifting.
import type { CryptoSuite } from './crypto.js';
import { bytesEqual, concatBytes } from './encoding.js';
import { GovernanceError } from './errors.js';

export const TLOG_HASH_BYTES = 32;
/** Each tile covers 8 levels of the tree, so it holds 2^8 hashes. */
export const TILE_HEIGHT = 8;
export const TILE_WIDTH = 256;
/** C2SP tlog-tiles allows levels 0 to 63. */
const MAX_TILE_LEVEL = 63;

const LEAF_PREFIX = Uint8Array.of(0x00);
const NODE_PREFIX = Uint8Array.of(0x01);

export function tlogLeafHash(suite: CryptoSuite, data: Uint8Array): Uint8Array {
  return suite.sha256(concatBytes(LEAF_PREFIX, data));
}

export function tlogNodeHash(suite: CryptoSuite, left: Uint8Array, right: Uint8Array): Uint8Array {
  return suite.sha256(concatBytes(NODE_PREFIX, left, right));
}

export function emptyTreeRoot(suite: CryptoSuite): Uint8Array {
  return suite.sha256(new Uint8Array(0));
}

/** Hashes of perfect aligned subtrees: (height h, index i) covers leaves [i·2^h, (i+1)·2^h). */
export interface SubtreeHashes {
  hash(height: number, index: number): Uint8Array;
}

interface Subtree {
  readonly height: number;
  readonly index: number;
}

const isCount = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;

function isHash(x: unknown): x is Uint8Array {
  return x instanceof Uint8Array && x.length === TLOG_HASH_BYTES;
}

/** Largest power of two strictly less than n (n ≥ 2): RFC 9162's split point k. */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function isPowerOfTwo(n: number): boolean {
  return n >= 1 && 2 ** Math.round(Math.log2(n)) === n;
}

/**
 * The maximal perfect subtrees covering [start, end), left to right. They are aligned, and their
 * fold from the right is MTH(D[start:end]), only when start is a multiple of the largest power of
 * two ≤ end − start: the case of every range in a root or proof.
 */
function subtrees(start: number, end: number): Subtree[] {
  if (!isCount(start) || !isCount(end) || start >= end)
    throw new RangeError(`[${start}, ${end}) is not a non-empty range of leaves`);
  const out: Subtree[] = [];
  for (let p = start; p < end;) {
    let height = 0;
    while (2 ** (height + 1) <= end - p) height++;
    const width = 2 ** height;
    if (p % width !== 0) throw new RangeError(`[${start}, ${end}) is not a range of an RFC 9162 tree`);
    out.push({ height, index: p / width });
    p += width;
  }
  return out;
}

/** MTH(D[start:end]) from the subtree hashes, for a range that occurs in RFC 9162 roots and proofs. */
export function rangeHash(suite: CryptoSuite, source: SubtreeHashes, start: number, end: number): Uint8Array {
  const parts = subtrees(start, end);
  const last = parts[parts.length - 1]!;
  let hash = source.hash(last.height, last.index);
  for (let j = parts.length - 2; j >= 0; j--)
    hash = tlogNodeHash(suite, source.hash(parts[j]!.height, parts[j]!.index), hash);
  return hash;
}

export function treeRoot(suite: CryptoSuite, source: SubtreeHashes, size: number): Uint8Array {
  if (!isCount(size)) throw new RangeError(`${size} is not a tree size`);
  return size === 0 ? emptyTreeRoot(suite) : rangeHash(suite, source, 0, size);
}

/** The leaf ranges whose hashes make PATH(index, D[size]) (RFC 9162 §2.1.3.1), from the leaf up. */
function inclusionRanges(index: number, size: number): [number, number][] {
  if (!isCount(size) || !isCount(index) || index >= size)
    throw new RangeError(`leaf ${index} is not in a tree of ${size} leaves`);
  const out: [number, number][] = [];
  let start = 0;
  let end = size;
  while (end - start > 1) {
    const k = split(end - start);
    if (index < start + k) {
      out.push([start + k, end]);
      end = start + k;
    } else {
      out.push([start, start + k]);
      start += k;
    }
  }
  // The recursion appends the sibling of each level after the path below it.
  return out.reverse();
}

/** The leaf ranges whose hashes make PROOF(size1, D[size2]) (RFC 9162 §2.1.4.1). */
function consistencyRanges(size1: number, size2: number): [number, number][] {
  if (!isCount(size1) || !isCount(size2) || size1 < 1 || size1 > size2)
    throw new RangeError(`no consistency proof from ${size1} to ${size2} leaves`);
  const out: [number, number][] = [];
  let start = 0;
  let end = size2;
  // SUBPROOF's flag b: true while the old tree is still a left part of the current subtree, whose
  // hash the verifier already holds as the old root.
  let complete = true;
  for (;;) {
    if (size1 - start === end - start) {
      if (!complete) out.push([start, end]);
      break;
    }
    const k = split(end - start);
    if (size1 - start <= k) {
      out.push([start + k, end]);
      end = start + k;
    } else {
      out.push([start, start + k]);
      start += k;
      complete = false;
    }
  }
  return out.reverse();
}

/** PATH(index, D[size]) of RFC 9162 §2.1.3.1. Throws RangeError unless 0 ≤ index < size. */
export function inclusionProof(
  suite: CryptoSuite,
  source: SubtreeHashes,
  index: number,
  size: number,
): Uint8Array[] {
  return inclusionRanges(index, size).map(([s, e]) => rangeHash(suite, source, s, e));
}

/** PROOF(size1, D[size2]) of RFC 9162 §2.1.4.1. Throws RangeError unless 0 < size1 ≤ size2. */
export function consistencyProof(
  suite: CryptoSuite,
  source: SubtreeHashes,
  size1: number,
  size2: number,
): Uint8Array[] {
  return consistencyRanges(size1, size2).map(([s, e]) => rangeHash(suite, source, s, e));
}

/**
 * RFC 9162 §2.1.3.2: the root a leaf and its audit path lead to. Undefined when the path's
 * length does not fit the index and size.
 */
function rootFromAuditPath(
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

/** RFC 9162 §2.1.3.2. False, never a throw, for any malformed input. */
export function verifyInclusion(
  suite: CryptoSuite,
  leafHash: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  if (!isCount(size) || !isCount(index) || index >= size) return false;
  if (!isHash(leafHash) || !isHash(root) || !Array.isArray(proof) || !proof.every(isHash)) return false;
  const computed = rootFromAuditPath((l, r) => tlogNodeHash(suite, l, r), leafHash, index, size, proof);
  return computed !== undefined && bytesEqual(computed, root);
}

/** RFC 9162 §2.1.4.2. False, never a throw, for any malformed input. */
export function verifyConsistency(
  suite: CryptoSuite,
  size1: number,
  size2: number,
  proof: readonly Uint8Array[],
  root1: Uint8Array,
  root2: Uint8Array,
): boolean {
  if (!isCount(size1) || !isCount(size2) || size1 > size2) return false;
  if (!isHash(root1) || !isHash(root2) || !Array.isArray(proof) || !proof.every(isHash)) return false;
  // The RFC defines proofs for 0 < size1 < size2 only. Equal sizes need none: the trees are the
  // same tree. The empty tree is a prefix of every tree, so nothing is proven from size 0 either;
  // its root is SHA-256("") by definition, and a claimed empty tree with another root is refused.
  if (size1 === 0 && !bytesEqual(root1, emptyTreeRoot(suite))) return false;
  if (size1 === size2) return proof.length === 0 && bytesEqual(root1, root2);
  if (size1 === 0) return proof.length === 0;
  if (proof.length === 0) return false;
  // A power-of-two old tree is a complete left subtree of the new one: the proof leaves out its
  // hash, the old root, which the verifier holds.
  const path = isPowerOfTwo(size1) ? [root1, ...proof] : proof;
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (fn % 2 === 1) {
    fn = (fn - 1) / 2;
    sn = Math.floor(sn / 2);
  }
  let fr = path[0]!;
  let sr = path[0]!;
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = tlogNodeHash(suite, c, fr);
      sr = tlogNodeHash(suite, c, sr);
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2;
        sn = Math.floor(sn / 2);
      }
    } else {
      sr = tlogNodeHash(suite, sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && bytesEqual(fr, root1) && bytesEqual(sr, root2);
}

// C2SP tlog-tiles paths.

/** N as zero-padded 3-digit groups, all but the last prefixed "x": 1234067 → x001/x234/067. */
/** A tile index as C2SP tlog-tiles spells it in paths: 3-digit groups, all but the last prefixed "x". */
export function encodeTileIndex(index: number): string {
  const digits = String(index);
  const padded = digits.padStart(Math.ceil(digits.length / 3) * 3, '0');
  const groups = padded.match(/\d{3}/g)!;
  return groups.map((g, j) => (j < groups.length - 1 ? `x${g}` : g)).join('/');
}

function checkTile(index: number, width: number): void {
  if (!isCount(index)) throw new RangeError(`${index} is not a tile index`);
  if (!Number.isInteger(width) || width < 1 || width > TILE_WIDTH)
    throw new RangeError(`${width} is not a tile width`);
}

/** "tile/<L>/<N>[.p/<W>]"; the suffix names a partial tile of width 1 to 255. */
export function tilePath(level: number, index: number, width: number = TILE_WIDTH): string {
  if (!Number.isInteger(level) || level < 0 || level > MAX_TILE_LEVEL)
    throw new RangeError(`${level} is not a tile level`);
  checkTile(index, width);
  return `tile/${level}/${encodeTileIndex(index)}${width === TILE_WIDTH ? '' : `.p/${width}`}`;
}

/** "tile/entries/<N>[.p/<W>]": the entry bundle beside level-0 tile N. */
export function entriesPath(index: number, width: number = TILE_WIDTH): string {
  checkTile(index, width);
  return `tile/entries/${encodeTileIndex(index)}${width === TILE_WIDTH ? '' : `.p/${width}`}`;
}

/** A C2SP entry bundle: each entry as a big-endian uint16 length and its bytes (§7.2 of docs/spec/ledger.md). */
export function encodeEntryBundle(entries: Uint8Array[]): Uint8Array {
  const bundle = new Uint8Array(entries.reduce((n, e) => n + 2 + e.length, 0));
  let at = 0;
  for (const entry of entries) {
    if (entry.length > 0xffff)
      throw new RangeError(`an entry of ${entry.length} bytes does not fit a bundle`);
    bundle[at] = entry.length >> 8;
    bundle[at + 1] = entry.length & 0xff;
    bundle.set(entry, at + 2);
    at += 2 + entry.length;
  }
  return bundle;
}

/** The entries of a bundle, which must be exactly `count` entries filling every byte; undefined otherwise. */
export function decodeEntryBundle(bundle: Uint8Array, count: number): Uint8Array[] | undefined {
  const entries: Uint8Array[] = [];
  let at = 0;
  while (at < bundle.length && entries.length < count) {
    if (at + 2 > bundle.length) return undefined;
    const length = (bundle[at]! << 8) | bundle[at + 1]!;
    if (at + 2 + length > bundle.length) return undefined;
    entries.push(bundle.subarray(at + 2, at + 2 + length));
    at += 2 + length;
  }
  return entries.length === count && at === bundle.length ? entries : undefined;
}

const TILE_PATH = /^tile\/(entries|0|[1-9]\d?)\/((?:x\d{3}\/)*\d{3})(?:\.p\/([1-9]\d{0,2}))?$/;

/**
 * The inverse of tilePath and entriesPath, accepting only the one spelling they produce, so that
 * a path names one tile: no extra leading zero groups, no ".p/256", no ".p/0", no level above 63.
 */
export function parseTilePath(
  path: string,
):
  | { level: number; index: number; width: number }
  | { entries: true; index: number; width: number }
  | undefined {
  if (typeof path !== 'string') return undefined;
  const m = TILE_PATH.exec(path);
  if (m === null) return undefined;
  const [, l, n, w] = m;
  const index = Number(n!.replace(/[x/]/g, ''));
  if (!isCount(index) || encodeTileIndex(index) !== n) return undefined;
  // Only an absent suffix names a full tile.
  const width = w === undefined ? TILE_WIDTH : Number(w);
  if (w !== undefined && width >= TILE_WIDTH) return undefined;
  if (l === 'entries') return { entries: true, index, width };
  const level = Number(l);
  if (level > MAX_TILE_LEVEL) return undefined;
  return { level, index, width };
}

/** A tile: level L holds hashes at height 8L; width 1..256 (256 is a full tile). */
export interface TileId {
  level: number;
  index: number;
  width: number;
}

/**
 * Width of tile (level, index) in a tree of `size` leaves, 0 if it does not exist yet: the level
 * has c = floor(size / 256^level) complete height-8·level subtrees, so floor(c / 256) full tiles
 * and a partial one of width c mod 256 if that is not 0.
 */
export function tileWidthAt(size: number, level: number, index: number): number {
  if (!isCount(size) || !isCount(level) || !isCount(index))
    throw new RangeError(`no tile ${level}/${index} in a tree of ${size} leaves`);
  // Division by a power of two is exact in binary floating point, so floor is exact too.
  const c = Math.floor(size / TILE_WIDTH ** level);
  const full = Math.floor(c / TILE_WIDTH);
  if (index < full) return TILE_WIDTH;
  return index === full ? c % TILE_WIDTH : 0;
}

/** The tile whose hashes a subtree's hash is computed from (its own tile when height is 8L). */
function tileOf(size: number, { height, index }: Subtree): TileId {
  const level = Math.floor(height / TILE_HEIGHT);
  const first = index * 2 ** (height - level * TILE_HEIGHT);
  const tile = Math.floor(first / TILE_WIDTH);
  return { level, index: tile, width: tileWidthAt(size, level, tile) };
}

function tilesOf(size: number, ranges: [number, number][]): TileId[] {
  const tiles = new Map<string, TileId>();
  for (const [start, end] of ranges)
    for (const part of subtrees(start, end)) {
      const tile = tileOf(size, part);
      tiles.set(`${tile.level}/${tile.index}`, tile);
    }
  return [...tiles.values()].sort((a, b) => a.level - b.level || a.index - b.index);
}

/** The tiles treeRoot reads, so a caller can fetch them all in one round trip. */
export function tilesForRoot(size: number): TileId[] {
  if (!isCount(size)) throw new RangeError(`${size} is not a tree size`);
  return size === 0 ? [] : tilesOf(size, [[0, size]]);
}

/** The tiles inclusionProof reads. */
export function tilesForInclusion(index: number, size: number): TileId[] {
  return tilesOf(size, inclusionRanges(index, size));
}

/** The tiles consistencyProof reads. */
export function tilesForConsistency(size1: number, size2: number): TileId[] {
  return tilesOf(size2, consistencyRanges(size1, size2));
}

function proofInvalid(message: string): GovernanceError {
  return new GovernanceError('ledger.proof.invalid', message);
}

/** The bytes of a tile at `tile.width`, from a getTile that may hand back a wider version. */
function readTile(getTile: (tile: TileId) => Uint8Array | undefined, tile: TileId): Uint8Array {
  const bytes = getTile(tile);
  const length = tile.width * TLOG_HASH_BYTES;
  if (!(bytes instanceof Uint8Array) || bytes.length < length)
    throw proofInvalid(
      `tile ${tilePath(tile.level, tile.index, tile.width)} is ${bytes === undefined ? 'missing' : 'too short'}`,
    );
  return bytes.subarray(0, length);
}

/**
 * SubtreeHashes over tiles: tile (level L, index N) holds the hashes at height 8L of indexes
 * N·256 … N·256+W−1, 32 bytes each, concatenated. hash(h, i) reads the tile at level floor(h/8)
 * and hashes inside it for heights not a multiple of 8. Tiles and inner hashes are memoized, so
 * one instance serves one request (a proof and a root) and is then dropped.
 */
export class TileHashes implements SubtreeHashes {
  readonly #tiles = new Map<string, Uint8Array>();
  readonly #inner = new Map<string, Uint8Array>();

  /**
   * getTile is asked for the width the tile has in a tree of `size`; it may return a wider
   * version (a later, longer partial tile or the full tile): only the prefix is used. A missing or
   * too short tile, or a hash outside the tree, throws GovernanceError('ledger.proof.invalid').
   */
  constructor(
    private readonly suite: CryptoSuite,
    readonly size: number,
    private readonly getTile: (tile: TileId) => Uint8Array | undefined,
  ) {
    if (!isCount(size)) throw new RangeError(`${size} is not a tree size`);
  }

  hash(height: number, index: number): Uint8Array {
    if (!isCount(height) || !isCount(index) || (index + 1) * 2 ** height > this.size)
      throw proofInvalid(`no subtree at height ${height}, index ${index} in a tree of ${this.size} leaves`);
    return this.#hash(height, index).slice();
  }

  #hash(height: number, index: number): Uint8Array {
    if (height % TILE_HEIGHT === 0) {
      const level = height / TILE_HEIGHT;
      const tile = Math.floor(index / TILE_WIDTH);
      const offset = (index - tile * TILE_WIDTH) * TLOG_HASH_BYTES;
      return this.#tile(level, tile).subarray(offset, offset + TLOG_HASH_BYTES);
    }
    const key = `${height}/${index}`;
    let hash = this.#inner.get(key);
    if (hash === undefined) {
      hash = tlogNodeHash(
        this.suite,
        this.#hash(height - 1, 2 * index),
        this.#hash(height - 1, 2 * index + 1),
      );
      this.#inner.set(key, hash);
    }
    return hash;
  }

  #tile(level: number, index: number): Uint8Array {
    const key = `${level}/${index}`;
    let bytes = this.#tiles.get(key);
    if (bytes === undefined) {
      bytes = readTile(this.getTile, { level, index, width: tileWidthAt(this.size, level, index) });
      this.#tiles.set(key, bytes);
    }
    return bytes;
  }
}

/** The right edge of one level: its partial tile, and that tile's maximal perfect subtrees. */
interface Edge {
  /** Full tiles before the partial one, so the partial tile's index. */
  full: number;
  hashes: Uint8Array[];
  /** Heights (within the tile) strictly decreasing left to right, like a binary counter. */
  stack: { height: number; hash: Uint8Array }[];
}

/**
 * Builds the tiles incrementally: the ledger's sequencer appends leaf hashes in batches and stores
 * the tiles that changed. It holds the right-edge partial tile of each level and nothing more, so
 * its memory stays bounded (under 256 hashes a level) however long the log grows.
 */
export class TileBuilder {
  #size = 0;
  readonly #edges: Edge[] = [];
  /** Full tiles completed since the last takeChanged. */
  readonly #full = new Map<string, Uint8Array>();
  /** Levels whose partial tile changed since the last takeChanged. */
  readonly #dirty = new Set<number>();
  #root: Uint8Array | undefined;

  private constructor(private readonly suite: CryptoSuite) {}

  static empty(suite: CryptoSuite): TileBuilder {
    return new TileBuilder(suite);
  }

  /**
   * Resumes at `size` from the stored right-edge (partial) tiles of every level; getTile as for
   * TileHashes. Throws GovernanceError('ledger.proof.invalid') if one is missing or too short.
   */
  static resume(
    suite: CryptoSuite,
    size: number,
    getTile: (tile: TileId) => Uint8Array | undefined,
  ): TileBuilder {
    if (!isCount(size)) throw new RangeError(`${size} is not a tree size`);
    const builder = new TileBuilder(suite);
    builder.#size = size;
    for (let level = 0; Math.floor(size / TILE_WIDTH ** level) > 0; level++) {
      const c = Math.floor(size / TILE_WIDTH ** level);
      const edge = builder.#edge(level);
      edge.full = Math.floor(c / TILE_WIDTH);
      const width = c % TILE_WIDTH;
      if (width === 0) continue;
      const bytes = readTile(getTile, { level, index: edge.full, width });
      for (let j = 0; j < width; j++)
        builder.#push(edge, bytes.slice(j * TLOG_HASH_BYTES, (j + 1) * TLOG_HASH_BYTES));
    }
    return builder;
  }

  get size(): number {
    return this.#size;
  }

  append(leafHashes: readonly Uint8Array[]): void {
    // Checked before any change, so a refused batch leaves the builder as it was.
    if (!leafHashes.every(isHash)) throw new RangeError(`a leaf hash is ${TLOG_HASH_BYTES} bytes`);
    if (!isCount(this.#size + leafHashes.length))
      throw new RangeError('the tree would outgrow 2^53 − 1 leaves');
    for (const leaf of leafHashes) this.#add(0, leaf.slice());
    this.#size += leafHashes.length;
    if (leafHashes.length > 0) this.#root = undefined;
  }

  /** The root at the current size, from the edges' subtrees: cached until the next append. */
  root(): Uint8Array {
    if (this.#root === undefined) {
      // Higher levels cover earlier leaves, so the subtrees run left to right from the top level
      // down; folding them from the right gives MTH (RFC 9162 §2.1.1).
      const parts = this.#edges.toReversed().flatMap((edge) => edge.stack.map((s) => s.hash));
      let root = parts.length === 0 ? emptyTreeRoot(this.suite) : parts[parts.length - 1]!;
      for (let j = parts.length - 2; j >= 0; j--) root = tlogNodeHash(this.suite, parts[j]!, root);
      this.#root = root;
    }
    return this.#root.slice();
  }

  /**
   * Tiles written or rewritten since the last call, as C2SP paths → bytes: a full tile once, when
   * it fills; a partial tile at its current width (earlier widths are left to the caller's store,
   * which serves them for older checkpoints).
   */
  takeChanged(): Map<string, Uint8Array> {
    const out = new Map(this.#full);
    for (const level of [...this.#dirty].sort((a, b) => a - b)) {
      const edge = this.#edges[level]!;
      if (edge.hashes.length > 0)
        out.set(tilePath(level, edge.full, edge.hashes.length), concatBytes(...edge.hashes));
    }
    this.#full.clear();
    this.#dirty.clear();
    return out;
  }

  #edge(level: number): Edge {
    while (this.#edges.length <= level) this.#edges.push({ full: 0, hashes: [], stack: [] });
    return this.#edges[level]!;
  }

  #push(edge: Edge, hash: Uint8Array): void {
    edge.hashes.push(hash);
    edge.stack.push({ height: 0, hash });
    for (let n = edge.stack.length; n >= 2 && edge.stack[n - 1]!.height === edge.stack[n - 2]!.height; n--) {
      const right = edge.stack.pop()!;
      const left = edge.stack.pop()!;
      edge.stack.push({ height: left.height + 1, hash: tlogNodeHash(this.suite, left.hash, right.hash) });
    }
  }

  #add(level: number, hash: Uint8Array): void {
    const edge = this.#edge(level);
    this.#push(edge, hash);
    this.#dirty.add(level);
    if (edge.hashes.length < TILE_WIDTH) return;
    // A full tile's perfect subtrees have merged into one: the height-8 hash the level above holds.
    this.#full.set(tilePath(level, edge.full), concatBytes(...edge.hashes));
    const top = edge.stack[0]!.hash;
    edge.full++;
    edge.hashes = [];
    edge.stack = [];
    this.#add(level + 1, top);
  }
}

/**
 * A compact range of [0, size): the hashes of the maximal aligned perfect subtrees covering it,
 * left to right, strictly decreasing in height (one per bit set in size). It is what a verifier
 * replaying a log keeps of the tree — O(log size) hashes — to append leaves and recompute the
 * root at any size; a range export's anchor carries it (docs/spec/ledger.md §9).
 */
export class CompactRange {
  readonly #stack: { height: number; hash: Uint8Array }[] = [];
  #size = 0;

  private constructor(private readonly suite: CryptoSuite) {}

  static empty(suite: CryptoSuite): CompactRange {
    return new CompactRange(suite);
  }

  /**
   * The range of [0, size) from its subtree hashes (as `compactRangeHashes` lists them). Throws
   * RangeError unless there is exactly one 32-byte hash per bit set in size.
   */
  static of(suite: CryptoSuite, size: number, hashes: readonly Uint8Array[]): CompactRange {
    const range = new CompactRange(suite);
    if (!isCount(size)) throw new RangeError(`${size} is not a tree size`);
    const parts = size === 0 ? [] : subtrees(0, size);
    if (hashes.length !== parts.length || !hashes.every(isHash))
      throw new RangeError(`a compact range of ${size} leaves is ${parts.length} hashes of 32 bytes`);
    parts.forEach((part, j) => range.#stack.push({ height: part.height, hash: hashes[j]!.slice() }));
    range.#size = size;
    return range;
  }

  get size(): number {
    return this.#size;
  }

  /** The subtree hashes, left to right. */
  hashes(): Uint8Array[] {
    return this.#stack.map((s) => s.hash.slice());
  }

  append(leafHash: Uint8Array): void {
    if (!isHash(leafHash)) throw new RangeError(`a leaf hash is ${TLOG_HASH_BYTES} bytes`);
    if (!isCount(this.#size + 1)) throw new RangeError('the tree would outgrow 2^53 − 1 leaves');
    const stack = this.#stack;
    stack.push({ height: 0, hash: leafHash.slice() });
    while (stack.length >= 2 && stack[stack.length - 1]!.height === stack[stack.length - 2]!.height) {
      const right = stack.pop()!;
      const left = stack.pop()!;
      stack.push({ height: left.height + 1, hash: tlogNodeHash(this.suite, left.hash, right.hash) });
    }
    this.#size++;
  }

  /** MTH(D[0:size]): the subtrees folded from the right (SHA-256("") for the empty tree). */
  root(): Uint8Array {
    const stack = this.#stack;
    if (stack.length === 0) return emptyTreeRoot(this.suite);
    let root = stack[stack.length - 1]!.hash;
    for (let j = stack.length - 2; j >= 0; j--) root = tlogNodeHash(this.suite, stack[j]!.hash, root);
    return root.slice();
  }
}

/** The hashes of the compact range of [0, size) from a SubtreeHashes source, left to right. */
export function compactRangeHashes(source: SubtreeHashes, size: number): Uint8Array[] {
  if (!isCount(size)) throw new RangeError(`${size} is not a tree size`);
  return size === 0 ? [] : subtrees(0, size).map((part) => source.hash(part.height, part.index));
}
