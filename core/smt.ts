/**
 * The lineage index: a compact sparse Merkle tree, an authenticated map from 256-bit keys to
 * 32-byte values, whose root a signed checkpoint commits to. Against that root anyone can check
 * that a lineage has no record (non-membership) or what its latest record is (membership).
 *
 * Definition (byte-exact):
 * - key = SHA-256(UTF-8 of the lineage id) (`indexKey`); value = 32 bytes, opaque here.
 * - Bit i of a key is bit (7 − i mod 8) of byte ⌊i / 8⌋: bit 0 is the most significant bit of
 *   byte 0. The subtree at depth d with prefix p holds the set S of keys whose first d bits are p.
 *   Its hash is:
 *   - S empty: EMPTY, 32 zero bytes;
 *   - S = {k} with value v: leafHash(k, v) = SHA-256(0x02 || k || v);
 *   - |S| ≥ 2: SHA-256(0x03 || hash(left child) || hash(right child)), left = next bit 0.
 *   The root is the hash at depth 0. A subtree holding one key is a leaf wherever it stands, so a
 *   map has exactly one tree. The prefixes 0x02/0x03 keep these hashes apart from the RFC 9162
 *   tree of the log (0x00/0x01).
 * - A proof for key K with depth d = siblings.length ≤ 256: the terminal, the node at depth d on
 *   K's path, and the hashes of its d siblings from the bottom up (siblings[0] is the sibling at
 *   depth d, siblings[d − 1] the root's child). The terminal is `empty` (K's subtree at depth d
 *   holds no key) or `leaf` (it holds exactly one: K itself for membership, or another key with
 *   K's first d bits for non-membership).
 * - Verification recomputes the root from the terminal (EMPTY or leafHash), folding the siblings
 *   upward by K's bits (bit i − 1 says on which side the node at depth i stands), and compares it
 *   with the root. A leaf terminal must share K's first d bits; K is present if the leaf key is
 *   K, absent if the terminal is empty or another key. Below the root the terminal's sibling is
 *   never EMPTY (its parent holds at least two keys), so a proof padded with EMPTY is refused.
 *
 * Why a verifying proof cannot lie: every node hash is SHA-256 of a tagged, fixed-length input
 * (0x02 and 64 bytes for a leaf, 0x03 and 64 bytes for an internal node), so without a SHA-256
 * collision a hash opens to one node only, and EMPTY (no known preimage) to none. Folding from
 * the root downwards, each level of a verifying proof therefore is the tree's real node on K's
 * path; the terminal cannot be an internal node passed off as a leaf or EMPTY, nor a leaf moved
 * up or down the path, because that would equate a leaf hash, an internal hash or EMPTY with a
 * hash of another kind.
 *
 * Persisted nodes (one store entry per node of the compact tree, and nothing else):
 * - id = `<d>:<h>` with d the depth in decimal and h the first ⌈d/4⌉ hex digits (lowercase) of
 *   any key below, the bits after the first d zeroed; the root's id is `0:`.
 * - internal node (a prefix with ≥ 2 keys below): 0x03 || hash (33 bytes);
 * - leaf (a prefix with exactly one key, at the shallowest such depth): 0x02 || key || value
 *   (65 bytes), whose SHA-256 is its leafHash.
 * Hashed keys keep this at about 1.44 internal nodes per key. A writer choosing lineage ids to
 * lengthen paths must hash about 2^(L/2) ids to find two sharing L bits, for at most L extra
 * nodes, so the node count stays O(size) in practice (two keys sharing 255 bits: 258 nodes).
 */
import type { CryptoSuite } from './crypto.js';
import { bytesEqual, hexEncode, utf8Encode } from './encoding.js';
import { GovernanceError } from './errors.js';

export const SMT_EMPTY: Uint8Array = new Uint8Array(32);

const KEY_BYTES = 32;
const VALUE_BYTES = 32;
const MAX_DEPTH = 256;
const LEAF_TAG = 0x02;
const NODE_TAG = 0x03;
const LEAF_BYTES = 1 + KEY_BYTES + VALUE_BYTES;
const NODE_BYTES = 1 + 32;
/** In memory, a leaf is key || value and an internal node its hash: see SparseMerkleIndex. */
const KEY_VALUE_BYTES = KEY_BYTES + VALUE_BYTES;

export function indexKey(suite: CryptoSuite, id: string): Uint8Array {
  return suite.sha256(utf8Encode(id));
}

/**
 * How the index is stored (docs/spec/ledger.md §11.1): the nodes of depth ≤ INDEX_SHARD_BITS as
 * nodes, and below them, per shard (the keys sharing their first INDEX_SHARD_BITS bits), only
 * the leaves, from which a reader computes the shard's subtree. Not part of what a proof is.
 */
export const INDEX_SHARD_BITS = 12;
export const INDEX_SHARDS = 1 << INDEX_SHARD_BITS;

/** The shard of a key (or of a leaf, key || value): its first INDEX_SHARD_BITS bits. */
export function indexShardOf(key: Uint8Array): number {
  return (key[0]! << 4) | (key[1]! >> 4);
}

/** The depth of a node id (`<d>:<h>`). */
export function nodeIdDepth(id: string): number {
  return Number(id.slice(0, id.indexOf(':')));
}

export type SmtTerminal = { kind: 'empty' } | { kind: 'leaf'; key: Uint8Array; value: Uint8Array };

export interface SmtProof {
  siblings: Uint8Array[];
  terminal: SmtTerminal;
}

export type SmtVerification = { present: true; value: Uint8Array } | { present: false } | { invalid: string };

function bit(key: Uint8Array, i: number): number {
  return (key[i >> 3]! >> (7 - (i & 7))) & 1;
}

/** Whether a and b agree on their first `bits` bits. */
function sharePrefix(a: Uint8Array, b: Uint8Array, bits: number): boolean {
  const whole = bits >> 3;
  for (let i = 0; i < whole; i++) if (a[i] !== b[i]) return false;
  const rest = bits & 7;
  return rest === 0 || ((a[whole]! ^ b[whole]!) & (0xff << (8 - rest)) & 0xff) === 0;
}

/** The first bit where two different keys differ. */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  let i = 0;
  while (a[i] === b[i]) i++;
  return i * 8 + Math.clz32(a[i]! ^ b[i]!) - 24;
}

// One buffer for every hash input: hashing is synchronous, and neither suite keeps its input, so
// reusing it saves an allocation per node.
const scratch = new Uint8Array(1 + 64);

function nodeHash(suite: CryptoSuite, left: Uint8Array, right: Uint8Array): Uint8Array {
  scratch[0] = NODE_TAG;
  scratch.set(left, 1);
  scratch.set(right, 33);
  return suite.sha256(scratch);
}

/** leafHash from key || value (64 bytes). */
function leafHash(suite: CryptoSuite, keyValue: Uint8Array): Uint8Array {
  scratch[0] = LEAF_TAG;
  scratch.set(keyValue, 1);
  return suite.sha256(scratch);
}

function concat2(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

const isBytes = (x: unknown, length: number): x is Uint8Array =>
  x instanceof Uint8Array && x.length === length;

/** Never throws: a malformed proof is `invalid` like a wrong one. */
export function verifySmtProof(
  suite: CryptoSuite,
  root: Uint8Array,
  key: Uint8Array,
  proof: SmtProof,
): SmtVerification {
  try {
    return verify(suite, root, key, proof);
  } catch (e) {
    // Only a hostile object (a throwing getter, a proxy) gets here: the checks below cover data.
    return { invalid: `malformed proof: ${e instanceof Error ? e.message : String(e)}` };
  }
}

function verify(suite: CryptoSuite, root: Uint8Array, key: Uint8Array, proof: SmtProof): SmtVerification {
  if (!isBytes(root, 32)) return { invalid: 'the root is not 32 bytes' };
  if (!isBytes(key, KEY_BYTES)) return { invalid: 'the key is not 32 bytes' };
  if (typeof proof !== 'object' || proof === null) return { invalid: 'the proof is not an object' };
  const { siblings, terminal } = proof;
  if (!Array.isArray(siblings)) return { invalid: 'siblings is not an array' };
  const depth = siblings.length;
  if (depth > MAX_DEPTH) return { invalid: `the proof is deeper than ${MAX_DEPTH}` };
  for (const [i, s] of siblings.entries())
    if (!isBytes(s, 32)) return { invalid: `sibling ${i} is not 32 bytes` };
  if (typeof terminal !== 'object' || terminal === null) return { invalid: 'the terminal is not an object' };

  let hash: Uint8Array;
  let present: boolean;
  if (terminal.kind === 'empty') {
    hash = SMT_EMPTY;
    present = false;
  } else if (terminal.kind === 'leaf') {
    if (!isBytes(terminal.key, KEY_BYTES) || !isBytes(terminal.value, VALUE_BYTES))
      return { invalid: 'the leaf key or value is not 32 bytes' };
    if (!sharePrefix(terminal.key, key, depth))
      return { invalid: `the leaf key does not share the key's first ${depth} bits` };
    hash = leafHash(suite, concat2(terminal.key, terminal.value));
    present = bytesEqual(terminal.key, key);
  } else {
    return { invalid: 'unknown terminal kind' };
  }
  // The terminal's parent holds ≥ 2 keys, so a true proof never has an EMPTY sibling there.
  // Refusing one keeps proofs unique; the hash comparison would refuse it anyway.
  if (depth > 0 && bytesEqual(siblings[0]!, SMT_EMPTY))
    return { invalid: "the terminal's sibling is EMPTY (not a compact tree)" };

  for (let i = 0; i < depth; i++) {
    const sibling = siblings[i]!;
    hash = bit(key, depth - 1 - i) === 0 ? nodeHash(suite, hash, sibling) : nodeHash(suite, sibling, hash);
  }
  if (!bytesEqual(hash, root)) return { invalid: 'the recomputed root differs' };
  return present && terminal.kind === 'leaf'
    ? { present: true, value: terminal.value.slice() }
    : { present: false };
}

// --- Node ids --------------------------------------------------------------------------------

const HEX = '0123456789abcdef';
/** Lowercase hex digit (char code) → value. */
const HEX_VALUE = new Uint8Array(128);
for (let i = 0; i < 16; i++) HEX_VALUE[HEX.charCodeAt(i)] = i;

/** Bit i of the key whose hex is given. */
function hexBit(hex: string, i: number): number {
  return (HEX_VALUE[hex.charCodeAt(i >> 2)]! >> (3 - (i & 3))) & 1;
}

/**
 * The id of the depth-d prefix of the key whose hex is `hex`, or with `flip` of its sibling (the
 * same prefix with bit d − 1 inverted).
 */
function nodeId(hex: string, depth: number, flip = false): string {
  if (depth === 0) return '0:';
  const digits = (depth + 3) >> 2;
  const unused = digits * 4 - depth;
  let last = HEX_VALUE[hex.charCodeAt(digits - 1)]! & ((0xf << unused) & 0xf);
  if (flip) last ^= 1 << unused;
  return `${depth}:${hex.slice(0, digits - 1)}${HEX[last]!}`;
}

/**
 * The ids a proof for `key` can need, down to depth `maxDepth`: the node on the key's path at
 * every depth 0..maxDepth, and its sibling at every depth 1..maxDepth (path first, then
 * siblings, each from the root down). Fetch them all (absent ones are absent nodes) and pass
 * them to smtProofFromNodes; if it reports a missing node, the path goes deeper: fetch again with
 * a larger maxDepth. Random keys put n keys' leaves within about 2·log2(n) + 8 of the root.
 */
export function smtPathNodeIds(key: Uint8Array, maxDepth: number): string[] {
  checkKey(key);
  if (!Number.isSafeInteger(maxDepth) || maxDepth < 0)
    throw new RangeError('maxDepth is a non-negative integer');
  const hex = hexEncode(key);
  const last = Math.min(maxDepth, MAX_DEPTH);
  const ids: string[] = [];
  for (let d = 0; d <= last; d++) ids.push(nodeId(hex, d));
  for (let d = 1; d <= last; d++) ids.push(nodeId(hex, d, true));
  return ids;
}

function checkKey(key: Uint8Array): void {
  if (!isBytes(key, KEY_BYTES)) throw new RangeError('an index key is 32 bytes');
}

function checkValue(value: Uint8Array): void {
  if (!isBytes(value, VALUE_BYTES)) throw new RangeError('an index value is 32 bytes');
}

function proofError(message: string): GovernanceError {
  return new GovernanceError('ledger.proof.invalid', `lineage index: ${message}`);
}

/** A stored node checked for shape, or undefined for an absent one. */
function storedNode(id: string, bytes: Uint8Array | undefined): Uint8Array | undefined {
  if (bytes === undefined) return undefined;
  if (!(bytes instanceof Uint8Array)) throw proofError(`node ${id} is not bytes`);
  if (bytes[0] === NODE_TAG && bytes.length === NODE_BYTES) return bytes;
  if (bytes[0] === LEAF_TAG && bytes.length === LEAF_BYTES) return bytes;
  throw proofError(`node ${id} is neither a 33-byte internal node nor a 65-byte leaf`);
}

/** The hash of a stored node (0x02 || key || value hashes to its leafHash as it is). */
function storedHash(suite: CryptoSuite, node: Uint8Array | undefined): Uint8Array {
  if (node === undefined) return SMT_EMPTY;
  return node[0] === NODE_TAG ? node.slice(1) : suite.sha256(node).slice();
}

/** The terminal for a leaf's key || value, or an absent node. */
function terminalOf(keyValue: Uint8Array | undefined): SmtTerminal {
  return keyValue === undefined
    ? { kind: 'empty' }
    : { kind: 'leaf', key: keyValue.slice(0, KEY_BYTES), value: keyValue.slice(KEY_BYTES) };
}

/**
 * A proof from persisted nodes (`nodes` answers undefined for an id it has no node for). A path
 * cut short by the fetch shows as an internal node with no child on either side, or with one leaf
 * child only, which no compact tree has: that, and any malformed node, throws
 * GovernanceError('ledger.proof.invalid'). The proof itself is still to be verified by whoever
 * trusts a root: the store is not trusted here.
 */
export function smtProofFromNodes(
  suite: CryptoSuite,
  key: Uint8Array,
  nodes: (id: string) => Uint8Array | undefined,
): SmtProof {
  checkKey(key);
  const hex = hexEncode(key);
  const siblings: Uint8Array[] = [];
  let node = storedNode('0:', nodes('0:'));
  let depth = 0;
  while (node !== undefined && node[0] === NODE_TAG) {
    if (depth === MAX_DEPTH) throw proofError('an internal node at depth 256');
    const childId = nodeId(hex, depth + 1);
    const siblingId = nodeId(hex, depth + 1, true);
    const child = storedNode(childId, nodes(childId));
    const sibling = storedNode(siblingId, nodes(siblingId));
    const keysBelow = (n: Uint8Array | undefined) => (n === undefined ? 0 : n[0] === LEAF_TAG ? 1 : 2);
    if (keysBelow(child) + keysBelow(sibling) < 2)
      throw proofError(`node ${nodeId(hex, depth)} has under two keys below: a node is missing`);
    siblings.push(storedHash(suite, sibling));
    node = child;
    depth++;
  }
  if (node !== undefined && !sharePrefix(node.subarray(1, 1 + KEY_BYTES), key, depth))
    throw proofError(`the leaf at ${nodeId(hex, depth)} is not under its prefix`);
  return { siblings: siblings.reverse(), terminal: terminalOf(node?.subarray(1)) };
}

/**
 * A proof for `key` as the index is stored (see INDEX_SHARD_BITS): `top` answers the nodes of
 * depth ≤ INDEX_SHARD_BITS, and the nodes below come from the leaves of the key's shard. Below
 * that depth the whole tree's nodes on the key's path are those of the tree of its shard's leaves
 * alone, which share those bits. Throws as smtProofFromNodes does; the proof is still to be
 * verified against a trusted root.
 */
export function smtProofFromShard(
  suite: CryptoSuite,
  key: Uint8Array,
  top: (id: string) => Uint8Array | undefined,
  shardLeaves: Iterable<Uint8Array>,
): SmtProof {
  let shard: SparseMerkleIndex | undefined;
  return smtProofFromNodes(suite, key, (id) => {
    if (nodeIdDepth(id) <= INDEX_SHARD_BITS) return top(id);
    shard ??= SparseMerkleIndex.fromLeaves(suite, shardLeaves);
    return shard.storedNode(id);
  });
}

/** The ids of the stored top nodes (depth ≤ INDEX_SHARD_BITS) a proof for `key` can need. */
export function smtTopNodeIds(key: Uint8Array): string[] {
  return smtPathNodeIds(key, INDEX_SHARD_BITS);
}

// --- The in-memory index -----------------------------------------------------------------------

/** An internal node created by set() until root() computes its hash. */
const PENDING_HASH = new Uint8Array(0);

const isLeaf = (node: Uint8Array) => node.length === KEY_VALUE_BYTES;

/** The persisted form (see the format above) of an in-memory node. */
function encodeNode(node: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + node.length);
  out[0] = isLeaf(node) ? LEAF_TAG : NODE_TAG;
  out.set(node, 1);
  return out;
}

/**
 * In-memory index for the sequencer: updates are applied in bulk and the root recomputed only
 * over dirty paths. Nodes are kept in a Map keyed by prefix so the store can persist exactly the
 * nodes that changed.
 *
 * The map holds exactly the persisted node set, so takeChanges() is exact and memory is O(size).
 * Its values drop the tag byte (a leaf is key || value, 64 bytes; an internal node its hash, 32
 * bytes), which keeps them within V8's on-heap typed-array limit (64 bytes): a 65-byte array
 * would cost an off-heap backing store each, and most of the time would go to the GC. set()
 * changes the tree's shape at once and records the key as dirty; root() rehashes only the
 * internal nodes above dirty keys, in one descent over the sorted dirty keys, so paths that
 * share nodes hash them once. Stored arrays are never modified in place: a change stores a new
 * one.
 */
export class SparseMerkleIndex {
  private readonly nodes = new Map<string, Uint8Array>();
  /** Hex of the keys set since the last root(). */
  private dirty = new Set<string>();
  /** Ids of nodes created or changed since the last takeChanges(). */
  private changed = new Set<string>();
  /** Leaves (key || value) set since the last takeChanges(), by the key's hex. */
  private changedLeaves = new Map<string, Uint8Array>();
  private count = 0;
  private rootHash: Uint8Array = SMT_EMPTY;

  constructor(private readonly suite: CryptoSuite) {}

  /**
   * Rebuilds an index from its leaves, each key || value (64 bytes), after a sequencer restart
   * or to prove from one shard's leaves; a repeated key keeps its last value. Every node and leaf
   * counts as changed: the first takeChanges() gives them all, to write to a store being rebuilt
   * or to discard over an intact one.
   */
  static fromLeaves(suite: CryptoSuite, leaves: Iterable<Uint8Array>): SparseMerkleIndex {
    const index = new SparseMerkleIndex(suite);
    const byHex = new Map<string, Uint8Array>();
    for (const leaf of leaves) {
      if (!isBytes(leaf, KEY_VALUE_BYTES)) throw new RangeError('an index leaf is 64 bytes');
      byHex.set(hexEncode(leaf.subarray(0, KEY_BYTES)), leaf.slice());
    }
    index.changedLeaves = new Map(byHex);
    // Lowercase hex sorts like the bits, so each subtree is a contiguous run.
    const hexes = [...byHex.keys()].sort();
    const build = (depth: number, lo: number, hi: number): Uint8Array => {
      const id = nodeId(hexes[lo]!, depth);
      index.changed.add(id);
      if (hi - lo === 1) {
        const leaf = byHex.get(hexes[lo]!)!;
        index.nodes.set(id, leaf);
        return leafHash(suite, leaf);
      }
      const split = firstWithBit(hexes, lo, hi, depth);
      const left = split > lo ? build(depth + 1, lo, split) : SMT_EMPTY;
      const right = split < hi ? build(depth + 1, split, hi) : SMT_EMPTY;
      const hash = nodeHash(suite, left, right).slice();
      index.nodes.set(id, hash);
      return hash;
    };
    if (hexes.length > 0) index.rootHash = build(0, 0, hexes.length);
    index.count = hexes.length;
    return index;
  }

  get size(): number {
    return this.count;
  }

  get(key: Uint8Array): Uint8Array | undefined {
    checkKey(key);
    const { node } = this.locate(hexEncode(key));
    return node !== undefined && bytesEqual(node.subarray(0, KEY_BYTES), key)
      ? node.slice(KEY_BYTES)
      : undefined;
  }

  /** Inserts or replaces; the hashes wait for root(). */
  set(key: Uint8Array, value: Uint8Array): void {
    checkKey(key);
    checkValue(value);
    const hex = hexEncode(key);
    const { depth, node } = this.locate(hex);
    const leaf = concat2(key, value);
    if (node === undefined) {
      this.count++;
    } else {
      const other = node.subarray(0, KEY_BYTES);
      if (bytesEqual(other, key)) {
        if (bytesEqual(node.subarray(KEY_BYTES), value)) return;
      } else {
        // The leaf moves down to where the two keys part; the nodes from here to there are new
        // internal nodes (the first replaces the leaf under the same id).
        const split = firstDifference(key, other);
        for (let d = depth; d <= split; d++) this.put(nodeId(hex, d), PENDING_HASH);
        this.put(nodeId(hex, split + 1, true), node);
        this.count++;
        this.put(nodeId(hex, split + 1), leaf);
        this.dirty.add(hex);
        this.changedLeaves.set(hex, leaf);
        return;
      }
    }
    this.put(nodeId(hex, depth), leaf);
    this.dirty.add(hex);
    this.changedLeaves.set(hex, leaf);
  }

  /** The root, rehashing the nodes above the keys set since the last call. */
  root(): Uint8Array {
    if (this.dirty.size === 0) return this.rootHash.slice();
    const hexes = [...this.dirty].sort();
    this.dirty = new Set();
    const rehash = (depth: number, lo: number, hi: number): Uint8Array => {
      const hex = hexes[lo]!;
      const id = nodeId(hex, depth);
      const node = this.nodes.get(id)!;
      if (isLeaf(node)) return leafHash(this.suite, node);
      const split = firstWithBit(hexes, lo, hi, depth);
      // A side without dirty keys keeps its hash; its id is the sibling of the other side's
      // child, so ids come from the dirty keys alone.
      const left =
        split > lo ? rehash(depth + 1, lo, split) : this.hashAt(nodeId(hexes[split]!, depth + 1, true));
      const right = split < hi ? rehash(depth + 1, split, hi) : this.hashAt(nodeId(hex, depth + 1, true));
      // A copy: nodeCrypto's digest is a view into a larger Buffer.
      const hash = nodeHash(this.suite, left, right).slice();
      this.put(id, hash);
      return hash;
    };
    this.rootHash = rehash(0, 0, hexes.length);
    return this.rootHash.slice();
  }

  prove(key: Uint8Array): SmtProof {
    checkKey(key);
    this.root();
    const hex = hexEncode(key);
    const { depth, node } = this.locate(hex);
    const siblings: Uint8Array[] = [];
    for (let d = depth; d >= 1; d--) siblings.push(this.hashAt(nodeId(hex, d, true)).slice());
    return { siblings, terminal: terminalOf(node) };
  }

  /**
   * What changed since the last call, for persistence: the nodes of depth ≤ topDepth by id, as
   * stored (see the format above), and the leaves set (key || value), one per key. Without a
   * delete operation no node is ever deleted (a leaf pushed down leaves an internal node under
   * its old id), but a store applying `top` honours undefined.
   */
  takeChanges(topDepth = MAX_DEPTH): { top: Map<string, Uint8Array | undefined>; leaves: Uint8Array[] } {
    this.root();
    const top = new Map<string, Uint8Array | undefined>();
    for (const id of this.changed) {
      if (nodeIdDepth(id) > topDepth) continue;
      const node = this.nodes.get(id);
      top.set(id, node === undefined ? undefined : encodeNode(node));
    }
    const leaves = [...this.changedLeaves.values()];
    this.changed = new Set();
    this.changedLeaves = new Map();
    return { top, leaves };
  }

  /** The stored form of node `id` (see the format above), or undefined when there is none. */
  storedNode(id: string): Uint8Array | undefined {
    // A proof asks for many nodes: rehash only when a set() is pending (root() copies the hash).
    if (this.dirty.size > 0) this.root();
    const node = this.nodes.get(id);
    return node === undefined ? undefined : encodeNode(node);
  }

  private put(id: string, node: Uint8Array): void {
    this.nodes.set(id, node);
    this.changed.add(id);
  }

  private hashAt(id: string): Uint8Array {
    const node = this.nodes.get(id);
    if (node === undefined) return SMT_EMPTY;
    return isLeaf(node) ? leafHash(this.suite, node) : node;
  }

  /**
   * The terminal on the path of the key whose hex is given: the leaf (key || value) where the
   * path ends, or the depth of its first absent node. Nodes exist on the path down to the
   * terminal and nowhere below it, so a binary search over depths finds it in 9 lookups rather
   * than one per level.
   */
  private locate(hex: string): { depth: number; node: Uint8Array | undefined } {
    let top = this.nodes.get('0:');
    if (top === undefined) return { depth: 0, node: undefined };
    let lo = 0; // deepest depth known to hold a node on the path
    let hi = MAX_DEPTH + 1; // shallowest depth known to hold none
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      const node = this.nodes.get(nodeId(hex, mid));
      if (node === undefined) hi = mid;
      else {
        lo = mid;
        top = node;
      }
    }
    // The deepest node is a leaf (the terminal) or an internal node whose child on the path is
    // absent (the terminal is that EMPTY child).
    return isLeaf(top) ? { depth: lo, node: top } : { depth: lo + 1, node: undefined };
  }
}

/** In hexes[lo, hi), sorted and sharing `depth` bits, the first with bit `depth` set (hi if none). */
function firstWithBit(hexes: string[], lo: number, hi: number, depth: number): number {
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (hexBit(hexes[mid]!, depth) === 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The lineage index's value for a position (docs/spec/ledger.md §7.5): the record's seq as 8
 * bytes and the event's index as 2, big-endian, then 22 zero bytes (values are 32 bytes).
 */
export function valueOfPosition([seq, index]: readonly [number, number]): Uint8Array {
  const value = new Uint8Array(VALUE_BYTES);
  const view = new DataView(value.buffer);
  view.setBigUint64(0, BigInt(seq));
  view.setUint16(8, index);
  return value;
}

/** The position an index value holds, or undefined when it is not one (padding not zero, seq 0 or unsafe). */
export function positionOfValue(value: Uint8Array): [number, number] | undefined {
  if (value.length !== VALUE_BYTES || value.subarray(10).some((b) => b !== 0)) return undefined;
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  const seq = Number(view.getBigUint64(0));
  return seq >= 1 && Number.isSafeInteger(seq) ? [seq, view.getUint16(8)] : undefined;
}
