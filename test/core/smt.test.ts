// The lineage index (core/smt.ts): its root is the one the definition gives (a brute-force
// recursion over the whole key set, written here independently), its proofs verify for present
// and absent keys and for nothing else, and its persisted nodes are exactly the compact tree's.
import { describe, expect, it } from 'vitest';
import type { CryptoSuite } from '../../core/crypto.js';
import { nodeCrypto } from '../../core/crypto-node.js';
import { portableCrypto } from '../../core/crypto-portable.js';
import { concatBytes, hexDecode, hexEncode } from '../../core/encoding.js';
import { isGovernanceError } from '../../core/errors.js';
import {
  INDEX_SHARD_BITS,
  INDEX_SHARDS,
  indexKey,
  indexShardOf,
  nodeIdDepth,
  SMT_EMPTY,
  smtPathNodeIds,
  smtProofFromNodes,
  smtProofFromShard,
  smtTopNodeIds,
  SparseMerkleIndex,
  verifySmtProof,
  type SmtProof,
} from '../../core/smt.js';

type Entry = [Uint8Array, Uint8Array];

/** The index's leaves, key || value, of [key, value] entries. */
const leavesOf = (entries: Iterable<Entry>): Uint8Array[] => [...entries].map(([k, v]) => concatBytes(k, v));

/** What takeChanges() gives when nothing changed. */
const NO_CHANGES = { top: new Map(), leaves: [] };

/** A seeded xorshift32 byte source, so a failure reproduces. */
function random(seed: number) {
  let x = seed >>> 0 || 1;
  const next = () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
  return {
    bytes(n: number): Uint8Array {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) out[i] = next() & 0xff;
      return out;
    },
    int(n: number): number {
      return next() % n;
    },
  };
}

const bitOf = (key: Uint8Array, i: number) => (key[i >> 3]! >> (7 - (i & 7))) & 1;

function flipBit(bytes: Uint8Array, i: number): Uint8Array {
  const out = bytes.slice();
  out[i >> 3]! ^= 0x80 >> (i & 7);
  return out;
}

/** The definition, verbatim: the hash of the subtree at `depth` holding `entries`. */
function referenceHash(suite: CryptoSuite, entries: Entry[], depth = 0): Uint8Array {
  if (entries.length === 0) return new Uint8Array(32);
  if (entries.length === 1)
    return suite.sha256(concatBytes(Uint8Array.of(2), entries[0]![0], entries[0]![1]));
  const left = entries.filter(([k]) => bitOf(k, depth) === 0);
  const right = entries.filter(([k]) => bitOf(k, depth) === 1);
  return suite.sha256(
    concatBytes(
      Uint8Array.of(3),
      referenceHash(suite, left, depth + 1),
      referenceHash(suite, right, depth + 1),
    ),
  );
}

/**
 * n keys: random ones, and hand-built neighbours of the first few that share 255, 200, 64 or 9
 * bits with them (long shared prefixes are rare among hashed keys, so they are built by hand).
 */
function keySet(rng: ReturnType<typeof random>, n: number): Uint8Array[] {
  const keys = new Map<string, Uint8Array>();
  const add = (k: Uint8Array) => {
    if (keys.size < n) keys.set(hexEncode(k), k);
  };
  for (const shared of [255, 200, 64, 9]) {
    const k = rng.bytes(32);
    add(k);
    add(flipBit(k, shared));
  }
  while (keys.size < n) add(rng.bytes(32));
  return [...keys.values()];
}

/** Keys absent from `keys`: random ones, and ones sharing 255, 200 or 9 bits with a present key. */
function absentKeys(rng: ReturnType<typeof random>, keys: Uint8Array[], n: number): Uint8Array[] {
  const present = new Set(keys.map(hexEncode));
  const out: Uint8Array[] = [];
  for (let i = 0; out.length < n; i++) {
    const base = keys.length > 0 && i % 2 === 0 ? keys[rng.int(keys.length)]! : rng.bytes(32);
    const k = i % 2 === 0 ? flipBit(base, [255, 200, 9][rng.int(3)]!) : base;
    if (!present.has(hexEncode(k))) out.push(k);
  }
  return out;
}

/**
 * n keys for the shard tests: random ones, and for n ≥ 50 hand-built ones: `dense`, six keys of
 * one shard sharing 12, 13, 40, 200 or 255 bits; `pair`, two keys alone in their shard, sharing
 * 100 bits; `lonely`, alone under its first 8 bits (0x00), so its leaf sits above the shard depth.
 * For n < 50, `lonely` is the first random key and `dense` and `pair` are empty.
 */
function shardKeySet(
  rng: ReturnType<typeof random>,
  n: number,
): { keys: Uint8Array[]; dense: Uint8Array[]; pair: Uint8Array[]; lonely: Uint8Array } {
  const keys = new Map<string, Uint8Array>();
  const add = (k: Uint8Array) => keys.set(hexEncode(k), k);
  let dense: Uint8Array[] = [];
  let pair: Uint8Array[] = [];
  const reserved = new Set<number>();
  if (n >= 50) {
    const base = rng.bytes(32);
    base[0] = 0x40;
    dense = [base, ...[12, 13, 40, 200, 255].map((i) => flipBit(base, i))];
    const other = rng.bytes(32);
    other[0] = 0x80;
    pair = [other, flipBit(other, 100)];
    const lonely = rng.bytes(32);
    lonely[0] = 0x00;
    for (const k of [lonely, ...dense, ...pair]) add(k);
    reserved.add(indexShardOf(base)).add(indexShardOf(other));
  }
  while (keys.size < n) {
    const k = rng.bytes(32);
    if (n < 50 || (k[0] !== 0x00 && !reserved.has(indexShardOf(k)))) add(k);
  }
  const all = [...keys.values()];
  // Hand-built keys spread over the rounds rather than all in the first.
  const shuffled = all
    .map((k) => [rng.int(1 << 30), k] as const)
    .sort((a, b) => a[0] - b[0])
    .map(([, k]) => k);
  return { keys: shuffled, dense, pair, lonely: all[0]! };
}

function persist(store: Map<string, Uint8Array>, changes: Map<string, Uint8Array | undefined>): void {
  for (const [id, bytes] of changes) {
    if (bytes === undefined) store.delete(id);
    else store.set(id, bytes);
  }
}

const SUITES: [string, CryptoSuite][] = [
  ['nodeCrypto', nodeCrypto],
  ['portableCrypto', portableCrypto],
];

describe('indexKey', () => {
  it('is SHA-256 of the UTF-8 lineage id, in both suites', () => {
    for (const [, suite] of SUITES) {
      expect(hexEncode(indexKey(suite, 'abc'))).toBe(
        'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
      );
      expect(indexKey(suite, 'é')).toEqual(suite.sha256(Uint8Array.of(0xc3, 0xa9)));
    }
  });
});

describe.each(SUITES)('the lineage index with %s', (_, suite) => {
  const verify = (root: Uint8Array, key: Uint8Array, proof: SmtProof) =>
    verifySmtProof(suite, root, key, proof);

  it('has SMT_EMPTY as the root of the empty index, and proves absence in it', () => {
    expect(SMT_EMPTY).toEqual(new Uint8Array(32));
    const index = new SparseMerkleIndex(suite);
    expect(index.root()).toEqual(SMT_EMPTY);
    expect(index.size).toBe(0);
    const key = indexKey(suite, 'lineage://op/1');
    expect(index.prove(key)).toEqual({ siblings: [], terminal: { kind: 'empty' } });
    expect(verify(SMT_EMPTY, key, index.prove(key))).toEqual({ present: false });
    expect(SparseMerkleIndex.fromLeaves(suite, []).root()).toEqual(SMT_EMPTY);
    expect(index.takeChanges()).toEqual(NO_CHANGES);
  });

  it('has the root of the definition for random sets and hand-built neighbours', () => {
    const rng = random(1);
    for (const n of [1, 2, 3, 5, 17, 100, 700, 2000]) {
      const keys = keySet(rng, n);
      const entries: Entry[] = keys.map((k) => [k, rng.bytes(32)]);
      const expected = referenceHash(suite, entries);
      const index = new SparseMerkleIndex(suite);
      for (const [i, [k, v]] of entries.entries()) {
        index.set(k, v);
        // Roots taken mid-way must not disturb the later ones.
        if (i === 0 || i === 2 || i === n >> 1)
          expect(index.root()).toEqual(referenceHash(suite, entries.slice(0, i + 1)));
      }
      expect(index.root()).toEqual(expected);
      expect(index.size).toBe(n);
      expect(SparseMerkleIndex.fromLeaves(suite, leavesOf([...entries].reverse())).root()).toEqual(expected);
      for (const [k, v] of entries.slice(0, 50)) expect(index.get(k)).toEqual(v);
      for (const k of absentKeys(rng, keys, 20)) expect(index.get(k)).toBeUndefined();
    }
  });

  it('takes 256 levels for two keys differing in the last bit only', () => {
    const a = new Uint8Array(32).fill(0xff);
    const b = flipBit(a, 255);
    const entries: Entry[] = [
      [a, new Uint8Array(32).fill(1)],
      [b, new Uint8Array(32).fill(2)],
    ];
    const index = SparseMerkleIndex.fromLeaves(suite, leavesOf(entries));
    expect(index.root()).toEqual(referenceHash(suite, entries));
    const proof = index.prove(a);
    expect(proof.siblings).toHaveLength(256);
    expect(verify(index.root(), a, proof)).toEqual({ present: true, value: entries[0]![1] });
    // 256 internal nodes on the shared path, and the two leaves.
    const changes = index.takeChanges();
    expect(changes.top.size).toBe(258);
    expect(changes.leaves.map(hexEncode).sort()).toEqual(leavesOf(entries).map(hexEncode).sort());
  });

  it('proves membership of present keys and absence of absent ones', () => {
    const rng = random(2);
    const keys = keySet(rng, 300);
    const entries: Entry[] = keys.map((k) => [k, rng.bytes(32)]);
    const index = SparseMerkleIndex.fromLeaves(suite, leavesOf(entries));
    const root = index.root();
    for (const [k, v] of entries)
      expect(verify(root, k, index.prove(k))).toEqual({ present: true, value: v });
    const kinds = new Set<string>();
    for (const k of absentKeys(rng, keys, 300)) {
      const proof = index.prove(k);
      kinds.add(proof.terminal.kind);
      expect(verify(root, k, proof)).toEqual({ present: false });
    }
    // Both kinds of non-membership were exercised.
    expect(kinds).toEqual(new Set(['empty', 'leaf']));
  });

  it('refuses every single-bit flip of a sibling, the terminal or the root, and any cut or extension', () => {
    const rng = random(3);
    const keys = keySet(rng, 60);
    const index = SparseMerkleIndex.fromLeaves(
      suite,
      keys.map((k) => concatBytes(k, rng.bytes(32))),
    );
    const root = index.root();
    const absent = absentKeys(rng, keys, 40);
    const emptyCase = absent.find((k) => index.prove(k).terminal.kind === 'empty')!;
    const leafCase = absent.find((k) => index.prove(k).terminal.kind === 'leaf')!;
    // The deep pair built by keySet: its proofs run far below the rest.
    const deep = keys.find((k) => index.prove(k).siblings.length === 256)!;
    for (const key of [keys[0]!, deep, emptyCase, leafCase]) {
      const proof = index.prove(key);
      const { siblings, terminal } = proof;
      const refused = (p: SmtProof, r = root) => expect(verify(r, key, p)).toHaveProperty('invalid');
      expect(verify(root, key, proof)).not.toHaveProperty('invalid');
      // Every bit of the usual proofs; for the 256-level one, every bit of its bottom and top
      // siblings and every fifth elsewhere (each of its checks costs 256 hashes).
      const deepProof = siblings.length === 256;
      const bits = Array.from({ length: 256 }, (_, i) => i).filter((i) => !deepProof || i % 5 === 0);
      const allBits = Array.from({ length: 256 }, (_, i) => i);
      for (const i of bits) refused(proof, flipBit(root, i));
      for (const s of deepProof ? [0, 255] : siblings.keys())
        for (const i of allBits)
          refused({ siblings: siblings.map((x, j) => (j === s ? flipBit(x, i) : x)), terminal });
      if (terminal.kind === 'leaf')
        for (const i of bits) {
          refused({ siblings, terminal: { ...terminal, key: flipBit(terminal.key, i) } });
          refused({ siblings, terminal: { ...terminal, value: flipBit(terminal.value, i) } });
        }
      refused({ siblings: siblings.slice(1), terminal });
      refused({ siblings: siblings.slice(0, -1), terminal });
      for (const extra of [SMT_EMPTY, siblings[0]!, root])
        if (extra !== undefined) {
          refused({ siblings: [extra, ...siblings], terminal });
          refused({ siblings: [...siblings, extra], terminal });
        }
      refused({
        siblings,
        terminal: terminal.kind === 'empty' ? { kind: 'leaf', key, value: SMT_EMPTY } : { kind: 'empty' },
      });
      // The key binds the path: flipping one of its first d bits takes the proof elsewhere. Past
      // d, the same nodes prove the other key absent (a membership proof's leaf is not it).
      for (const i of bits) {
        const other = flipBit(key, i);
        const result = verify(root, other, proof);
        if (i < siblings.length) expect(result).toHaveProperty('invalid');
        else if (terminal.kind === 'leaf' && hexEncode(terminal.key) === hexEncode(other))
          expect(result).toEqual({ present: true, value: terminal.value });
        else expect(result).toEqual({ present: false });
      }
    }
  });

  it('cannot prove a present key absent by rearranging real nodes', () => {
    const rng = random(4);
    const keys = keySet(rng, 60);
    const entries: Entry[] = keys.map((k) => [k, rng.bytes(32)]);
    const index = SparseMerkleIndex.fromLeaves(suite, leavesOf(entries));
    const root = index.root();
    const proofs = [...keys, ...absentKeys(rng, keys, 80)].map((k) => index.prove(k));
    const terminals = [{ kind: 'empty' } as const, ...proofs.map((p) => p.terminal)];
    const leafHash = (k: Uint8Array, v: Uint8Array) => suite.sha256(concatBytes(Uint8Array.of(2), k, v));
    for (const [k, v] of entries) {
      const own = index.prove(k);
      const { siblings } = own;
      // The real hashes a forger would reach for: EMPTY, this key's leaf, the nearest siblings.
      const hashes = [SMT_EMPTY, leafHash(k, v), ...siblings.slice(0, 8)];
      // Every real proof, of any key, proves this key present with its value or nothing.
      for (const proof of proofs) {
        const result = verify(root, k, proof);
        if (!('invalid' in result)) expect(result).toEqual({ present: true, value: v });
      }
      // Any real terminal (EMPTY, a neighbour's leaf) in this key's place, one level below it
      // under any of those hashes, or one level up: refused unless it is this key's own proof.
      const crafted = terminals.flatMap((terminal): SmtProof[] => [
        { siblings, terminal },
        ...hashes.map((h) => ({ siblings: [h, ...siblings], terminal })),
        { siblings: siblings.slice(1), terminal },
      ]);
      const spell = (p: SmtProof) =>
        [...p.siblings, ...(p.terminal.kind === 'leaf' ? [p.terminal.key, p.terminal.value] : [])]
          .map(hexEncode)
          .join();
      for (const proof of crafted) {
        const result = verify(root, k, proof);
        if (!('invalid' in result)) expect(spell(proof)).toBe(spell(own));
      }
    }
  });

  it('persists exactly the compact tree, and proves from persisted nodes as prove() does', () => {
    const rng = random(5);
    const keys = keySet(rng, 1500);
    const index = new SparseMerkleIndex(suite);
    const store = new Map<string, Uint8Array>();
    const current = new Map<string, Uint8Array>();
    // The leaves takeChanges() reported, by key: the latest one of each key.
    const taken = new Map<string, Uint8Array>();
    for (let round = 0; round < 6; round++) {
      // New keys and updates of earlier ones, in batches, as the sequencer commits them.
      const batch = keys.slice(round * 250, round * 250 + 250).map((k): Entry => [k, rng.bytes(32)]);
      for (let i = 0; i < 40 && round > 0; i++) batch.push([keys[rng.int(round * 250)]!, rng.bytes(32)]);
      const set = new Map<string, Uint8Array>();
      for (const [k, v] of batch) {
        index.set(k, v);
        current.set(hexEncode(k), v);
        set.set(hexEncode(k), concatBytes(k, v));
      }
      if (round % 2 === 1) index.root();
      const changes = index.takeChanges();
      // Exact: each reported node is new or differs from what the store holds.
      for (const [id, bytes] of changes.top) expect(store.get(id), id).not.toEqual(bytes);
      persist(store, changes.top);
      // The leaves set this round, each key once with its last value.
      expect(changes.leaves.map(hexEncode).sort()).toEqual([...set.values()].map(hexEncode).sort());
      for (const leaf of changes.leaves) taken.set(hexEncode(leaf.subarray(0, 32)), leaf);
      expect(index.takeChanges()).toEqual(NO_CHANGES);
    }
    const rebuilt = SparseMerkleIndex.fromLeaves(
      suite,
      leavesOf([...current].map(([h, v]): Entry => [hexDecode(h)!, v])),
    );
    expect(rebuilt.root()).toEqual(index.root());
    // A sequencer taking over rebuilds from the leaves taken round by round: same root, and once
    // its first takeChanges() is discarded, nothing left to write.
    expect(taken.size).toBe(current.size);
    const restored = SparseMerkleIndex.fromLeaves(suite, taken.values());
    expect(restored.root()).toEqual(index.root());
    expect(restored.size).toBe(index.size);
    restored.takeChanges();
    expect(restored.takeChanges()).toEqual(NO_CHANGES);
    const full = rebuilt.takeChanges();
    expect(store.size).toBe(full.top.size);
    for (const [id, bytes] of full.top) expect(store.get(id), id).toEqual(bytes);
    expect(full.leaves.map(hexEncode).sort()).toEqual([...taken.values()].map(hexEncode).sort());
    for (const key of [...keys.slice(0, 200), ...absentKeys(rng, keys, 200)]) {
      const proof = index.prove(key);
      expect(smtProofFromNodes(suite, key, (id) => store.get(id))).toEqual(proof);
      // What the proof endpoint does: fetch the listed ids, absent ones as absent.
      const depth = proof.siblings.length;
      const fetched = (maxDepth: number) => {
        const ids = new Set(smtPathNodeIds(key, maxDepth));
        return (id: string) => (ids.has(id) ? store.get(id) : undefined);
      };
      expect(smtProofFromNodes(suite, key, fetched(depth))).toEqual(proof);
      if (depth > 0) {
        let error: unknown;
        try {
          smtProofFromNodes(suite, key, fetched(depth - 1));
        } catch (e) {
          error = e;
        }
        expect(isGovernanceError(error, 'ledger.proof.invalid')).toBe(true);
      }
    }
  });

  it('refuses malformed persisted nodes', () => {
    const index = SparseMerkleIndex.fromLeaves(
      suite,
      leavesOf([
        [new Uint8Array(32), new Uint8Array(32).fill(1)],
        [new Uint8Array(32).fill(0xff), new Uint8Array(32).fill(2)],
      ]),
    );
    const store = new Map([...index.takeChanges().top].map(([id, b]) => [id, b!]));
    const key = new Uint8Array(32);
    const broken = (id: string, bytes: Uint8Array | undefined) => () =>
      smtProofFromNodes(suite, key, (i) => (i === id ? bytes : store.get(i)));
    const leafId = smtPathNodeIds(key, 1)[1]!;
    expect(broken('0:', Uint8Array.of(3))).toThrow(/ledger|internal node/);
    expect(broken(leafId, store.get(leafId)!.slice(0, 64))).toThrow(/65-byte leaf/);
    // A leaf stored under a prefix that is not its key's.
    expect(broken(leafId, store.get(smtPathNodeIds(new Uint8Array(32).fill(0xff), 1)[1]!))).toThrow(
      /not under its prefix/,
    );
    expect(broken(leafId, undefined)).toThrow(/a node is missing/);
  });

  it('changes the root and the proof when a value is replaced', () => {
    const rng = random(6);
    const keys = keySet(rng, 200);
    const entries: Entry[] = keys.map((k) => [k, rng.bytes(32)]);
    const index = SparseMerkleIndex.fromLeaves(suite, leavesOf(entries));
    const before = index.root();
    index.takeChanges();
    const [key, old] = entries[17]!;
    const oldProof = index.prove(key);
    index.set(key, old);
    expect(index.root()).toEqual(before);
    expect(index.takeChanges()).toEqual(NO_CHANGES);
    const value = rng.bytes(32);
    index.set(key, value);
    expect(index.size).toBe(200);
    expect(index.get(key)).toEqual(value);
    const after = index.root();
    expect(after).not.toEqual(before);
    expect(after).toEqual(
      referenceHash(
        suite,
        entries.map(([k, v]): Entry => [k, k === key ? value : v]),
      ),
    );
    const newProof = index.prove(key);
    expect(newProof).not.toEqual(oldProof);
    expect(verify(after, key, newProof)).toEqual({ present: true, value });
    expect(verify(after, key, oldProof)).toHaveProperty('invalid');
    expect(verify(before, key, newProof)).toHaveProperty('invalid');
    // The leaf and each node above it changed, nothing else.
    const changes = index.takeChanges();
    expect(changes.top.size).toBe(newProof.siblings.length + 1);
    expect(changes.leaves).toEqual([concatBytes(key, value)]);
  });

  it('refuses proofs that only a root built outside the definition would verify', () => {
    // Roots a dishonest sequencer could sign: the hashes match, the structural checks must not.
    const leafHash = (k: Uint8Array, v: Uint8Array) => suite.sha256(concatBytes(Uint8Array.of(2), k, v));
    const node = (l: Uint8Array, r: Uint8Array) => suite.sha256(concatBytes(Uint8Array.of(3), l, r));
    const value = new Uint8Array(32).fill(7);
    const other = suite.sha256(Uint8Array.of(1));
    const left = new Uint8Array(32); // bit 0 is 0
    const right = new Uint8Array(32).fill(0x80); // bit 0 is 1
    // A leaf on the wrong side of the root: `right` stored where `left` keys go.
    expect(
      verify(node(leafHash(right, value), other), left, {
        siblings: [other],
        terminal: { kind: 'leaf', key: right, value },
      }),
    ).toEqual({ invalid: "the leaf key does not share the key's first 1 bits" });
    // A leaf next to EMPTY, which the compact form would have lifted into its parent's place.
    expect(
      verify(node(leafHash(left, value), SMT_EMPTY), left, {
        siblings: [SMT_EMPTY],
        terminal: { kind: 'leaf', key: left, value },
      }),
    ).toEqual({ invalid: "the terminal's sibling is EMPTY (not a compact tree)" });
    // 257 levels, past the last bit of a key.
    let root = leafHash(left, value);
    for (let i = 0; i < 257; i++) root = node(root, other);
    expect(
      verify(root, left, {
        siblings: Array.from({ length: 257 }, () => other),
        terminal: { kind: 'leaf', key: left, value },
      }),
    ).toEqual({ invalid: 'the proof is deeper than 256' });
  });

  it('answers invalid, never throws, for malformed input', () => {
    const index = SparseMerkleIndex.fromLeaves(suite, [new Uint8Array(64)]);
    const root = index.root();
    const key = new Uint8Array(32);
    const good = index.prove(key);
    expect(verify(root, key, good)).toEqual({ present: true, value: new Uint8Array(32) });
    const bad: unknown[] = [
      null,
      {},
      { siblings: 'x', terminal: { kind: 'empty' } },
      { siblings: [new Uint8Array(31)], terminal: { kind: 'empty' } },
      { siblings: [], terminal: { kind: 'other' } },
      { siblings: [], terminal: null },
      { siblings: [], terminal: { kind: 'leaf', key, value: new Uint8Array(33) } },
      { siblings: Array.from({ length: 257 }, () => root), terminal: { kind: 'empty' } },
      {
        get siblings(): never {
          throw new Error('hostile');
        },
        terminal: { kind: 'empty' },
      },
    ];
    for (const proof of bad) expect(verify(root, key, proof as SmtProof)).toHaveProperty('invalid');
    expect(verify(root.slice(1), key, good)).toHaveProperty('invalid');
    expect(verify(root, key.slice(1), good)).toHaveProperty('invalid');
    expect(() => index.set(new Uint8Array(31), new Uint8Array(32))).toThrow(RangeError);
    expect(() => index.set(key, new Uint8Array(31))).toThrow(RangeError);
    for (const leaf of [new Uint8Array(32), new Uint8Array(63), new Uint8Array(65)])
      expect(() => SparseMerkleIndex.fromLeaves(suite, [new Uint8Array(64), leaf])).toThrow(RangeError);
  });

  it('takes the nodes of depth ≤ topDepth only, and each leaf set since the last call once, latest value', () => {
    const rng = random(9);
    const entries: Entry[] = keySet(rng, 400).map((k) => [k, rng.bytes(32)]);
    const added: Entry[] = keySet(rng, 60).map((k) => [k, rng.bytes(32)]);
    const [twice, again, unchanged] = [entries[3]!, added[0]!, entries[5]!];
    const [v1, v2, v3] = [rng.bytes(32), rng.bytes(32), rng.bytes(32)];
    // One round of a sequencer: new keys, one old key set twice, one new key set twice, one old
    // key set to its current value.
    const round = (index: SparseMerkleIndex) => {
      index.set(twice[0], v1);
      for (const [k, v] of added) index.set(k, v);
      index.set(unchanged[0], unchanged[1]);
      index.set(twice[0], v2);
      index.set(again[0], v3);
    };
    const expectedLeaves = [
      concatBytes(twice[0], v2),
      concatBytes(again[0], v3),
      ...leavesOf(added.slice(1)),
    ].map(hexEncode);
    const afterRound = (topDepth?: number) => {
      const index = SparseMerkleIndex.fromLeaves(suite, leavesOf(entries));
      index.takeChanges();
      round(index);
      return topDepth === undefined ? index.takeChanges() : index.takeChanges(topDepth);
    };
    const all = afterRound();
    const depths = [...all.top.keys()].map(nodeIdDepth);
    // The round changed nodes at the root, around the shard depth and far below it.
    expect(depths).toContain(0);
    expect(depths).toContain(INDEX_SHARD_BITS);
    expect(Math.max(...depths)).toBeGreaterThan(100);
    expect(all.leaves.map(hexEncode).sort()).toEqual(expectedLeaves.sort());
    for (const topDepth of [0, 1, 5, INDEX_SHARD_BITS, 100, 256]) {
      const changes = afterRound(topDepth);
      expect(changes.top).toEqual(new Map([...all.top].filter(([id]) => nodeIdDepth(id) <= topDepth)));
      expect(changes.leaves.map(hexEncode).sort()).toEqual(expectedLeaves);
    }
    // A key set to its current value is no change.
    const index = SparseMerkleIndex.fromLeaves(suite, leavesOf(entries));
    const root = index.root();
    index.takeChanges();
    index.set(unchanged[0], unchanged[1].slice());
    expect(index.takeChanges()).toEqual(NO_CHANGES);
    expect(index.takeChanges(INDEX_SHARD_BITS)).toEqual(NO_CHANGES);
    expect(index.root()).toEqual(root);
  });

  it('proves from the stored top nodes and the key’s shard leaves exactly as prove() does', () => {
    const rng = random(7);
    // The number of keys in the shard of each key proved: 0, 1, 2 and many must all occur.
    const shardSizes = new Set<string>();
    let aboveShardDepth = 0;
    let belowShardDepth = 0;
    for (const n of [1, 2, 3, 50, 5000]) {
      const { keys, dense, lonely } = shardKeySet(rng, n);
      const index = new SparseMerkleIndex(suite);
      // The store: the top nodes as takeChanges(INDEX_SHARD_BITS) gives them, round by round.
      const top = new Map<string, Uint8Array>();
      const current = new Map<string, Uint8Array>();
      const rounds = Math.min(3, keys.length);
      for (let round = 0; round < rounds; round++) {
        const from = Math.floor((round * keys.length) / rounds);
        const to = Math.floor(((round + 1) * keys.length) / rounds);
        const batch: Entry[] = keys.slice(from, to).map((k) => [k, rng.bytes(32)]);
        for (let i = 0; i < 20 && from > 0; i++) batch.push([keys[rng.int(from)]!, rng.bytes(32)]);
        for (const [k, v] of batch) {
          index.set(k, v);
          current.set(hexEncode(k), concatBytes(k, v));
        }
        const changes = index.takeChanges(INDEX_SHARD_BITS);
        persist(top, changes.top);
        const byShard = new Map<number, Uint8Array[]>();
        for (const leaf of current.values()) {
          const shard = indexShardOf(leaf);
          byShard.set(shard, [...(byShard.get(shard) ?? []), leaf]);
        }
        const root = index.root();
        const present = keys.slice(0, to);
        const tested = [
          ...present.slice(0, 150),
          ...present.filter((k) => dense.includes(k) || k === lonely),
          ...absentKeys(rng, present, 100),
          // Absent keys in the dense shard and in the lonely key's shard.
          ...[
            ...dense.slice(0, 1).flatMap((k) => [flipBit(k, 100), flipBit(k, 254)]),
            flipBit(lonely, 20),
          ].filter((k) => !current.has(hexEncode(k))),
          // Keys not set yet.
          ...keys.slice(to, to + 20),
        ];
        for (const key of tested) {
          const shardLeaves = byShard.get(indexShardOf(key)) ?? [];
          shardSizes.add(shardLeaves.length > 2 ? 'many' : String(shardLeaves.length));
          const listed = new Set(smtTopNodeIds(key));
          const asked: string[] = [];
          const proof = smtProofFromShard(
            suite,
            key,
            (id) => {
              asked.push(id);
              return listed.has(id) ? top.get(id) : undefined;
            },
            shardLeaves,
          );
          expect(proof).toEqual(index.prove(key));
          // Only the listed top ids were asked for.
          for (const id of asked) expect(listed.has(id), id).toBe(true);
          const present = current.get(hexEncode(key));
          expect(verify(root, key, proof)).toEqual(
            present ? { present: true, value: present.subarray(32) } : { present: false },
          );
          if (proof.siblings.length > INDEX_SHARD_BITS) belowShardDepth++;
          else aboveShardDepth++;
        }
        if (keys.slice(0, to).includes(lonely)) {
          // Alone in its shard, its leaf sits above the shard depth: the top nodes alone prove it.
          const proof = index.prove(lonely);
          expect(proof.siblings.length).toBeLessThan(INDEX_SHARD_BITS);
          expect(smtProofFromShard(suite, lonely, (id) => top.get(id), [])).toEqual(proof);
        }
      }
      // The store holds exactly the top nodes of the tree, as a store rebuilt from scratch would.
      const full = SparseMerkleIndex.fromLeaves(suite, current.values()).takeChanges(INDEX_SHARD_BITS);
      expect(top).toEqual(full.top);
    }
    expect(shardSizes).toEqual(new Set(['0', '1', '2', 'many']));
    expect(aboveShardDepth).toBeGreaterThan(0);
    expect(belowShardDepth).toBeGreaterThan(0);
  });

  it('gives no verifying proof from a shard missing one of its leaves or holding an extra one', () => {
    const rng = random(8);
    const { keys, dense, pair } = shardKeySet(rng, 3000);
    const leaves = keys.map((k) => concatBytes(k, rng.bytes(32)));
    const index = SparseMerkleIndex.fromLeaves(suite, leaves);
    const root = index.root();
    const top = new Map([...index.takeChanges(INDEX_SHARD_BITS).top].map(([id, b]) => [id, b!]));
    const outcomes = new Set<string>();
    const outcome = (key: Uint8Array, shardLeaves: Uint8Array[]): string => {
      let proof: SmtProof;
      try {
        proof = smtProofFromShard(suite, key, (id) => top.get(id), shardLeaves);
      } catch (e) {
        expect(isGovernanceError(e, 'ledger.proof.invalid'), String(e)).toBe(true);
        return 'thrown';
      }
      const result = verify(root, key, proof);
      return 'invalid' in result ? 'invalid' : 'verified';
    };
    // Present and absent keys of a shard of many keys and of one of two.
    const tested = [...dense.slice(0, 3), flipBit(dense[0]!, 100), ...pair, flipBit(pair[0]!, 30)];
    for (const key of tested) {
      const shard = indexShardOf(key);
      const shardLeaves = leaves.filter((l) => indexShardOf(l) === shard);
      expect(shardLeaves.length).toBeGreaterThanOrEqual(2);
      expect(outcome(key, shardLeaves)).toBe('verified');
      for (let i = 0; i < shardLeaves.length; i++) {
        const result = outcome(key, shardLeaves.toSpliced(i, 1));
        expect(result, `without leaf ${i}`).not.toBe('verified');
        outcomes.add(result);
      }
      // Another key of the shard, or one of its keys with another value.
      const extra = concatBytes(key.subarray(0, 1), rng.bytes(63));
      extra[1] = (key[1]! & 0xf0) | (extra[1]! & 0x0f);
      expect(indexShardOf(extra)).toBe(shard);
      expect(outcome(key, [...shardLeaves, extra])).not.toBe('verified');
      const stale = concatBytes(shardLeaves[0]!.subarray(0, 32), rng.bytes(32));
      expect(outcome(key, [...shardLeaves.slice(1), stale])).not.toBe('verified');
    }
    // Both ways of failing were seen: a missing node, and a proof to another root.
    expect(outcomes).toEqual(new Set(['thrown', 'invalid']));
  });
});

describe('index shards and node ids', () => {
  it('puts a key in the shard of its first 12 bits, and reads the depth of a node id', () => {
    expect(INDEX_SHARD_BITS).toBe(12);
    expect(INDEX_SHARDS).toBe(4096);
    const key = (b0: number, b1: number, rest = 0) => {
      const k = new Uint8Array(32).fill(rest);
      k[0] = b0;
      k[1] = b1;
      return k;
    };
    expect(indexShardOf(key(0x00, 0x00))).toBe(0);
    expect(indexShardOf(key(0x00, 0x10))).toBe(1);
    expect(indexShardOf(key(0x00, 0x0f, 0xff))).toBe(0);
    expect(indexShardOf(key(0xab, 0xcd))).toBe(0xabc);
    expect(indexShardOf(key(0xff, 0xff))).toBe(4095);
    // A leaf (key || value) is in its key's shard.
    expect(indexShardOf(concatBytes(key(0xab, 0xcd), new Uint8Array(32).fill(0xff)))).toBe(0xabc);
    expect(nodeIdDepth('0:')).toBe(0);
    expect(nodeIdDepth('12:abc')).toBe(12);
    expect(nodeIdDepth('13:abc8')).toBe(13);
    const ids = smtPathNodeIds(key(0xab, 0xcd), 256);
    expect(ids.map(nodeIdDepth)).toEqual([
      ...Array.from({ length: 257 }, (_, d) => d),
      ...Array.from({ length: 256 }, (_, d) => d + 1),
    ]);
    expect(smtTopNodeIds(key(0xab, 0xcd))).toEqual(smtPathNodeIds(key(0xab, 0xcd), INDEX_SHARD_BITS));
  });
});
