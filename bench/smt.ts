// Lineage index (core/smt.ts) cost in the sequencer: µs per set() plus its share of root(), with
// 10,000 updates per root over 1,000,000 keys (new lineages, and new latest records of existing
// ones), and the rebuild after a restart. Prints figures; asserts nothing.
// Usage: node --expose-gc --import tsx bench/smt.ts [--keys 1000000 --updates 10000 --rounds 20]
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Command } from 'commander';
import { nodeCrypto } from '../core/crypto-node.js';
import { SparseMerkleIndex } from '../core/smt.js';

const options = new Command('bench/smt.ts')
  .description('lineage index: µs per set() and amortized root(), and the rebuild time')
  .option('--keys <n>', 'keys in the index', '1000000')
  .option('--updates <n>', 'set() calls per root()', '10000')
  .option('--rounds <n>', 'root() calls measured per kind of update', '20')
  .parse()
  .opts<{ keys: string; updates: string; rounds: string }>();
const size = Number(options.keys);
const updates = Number(options.updates);
const rounds = Number(options.rounds);

// Random blocks sliced into keys and values, made before the clock starts: the index copies what
// it keeps.
const slices = (n: number) => {
  const block = randomBytes(32 * n);
  return Array.from({ length: n }, (_, i) => block.subarray(32 * i, 32 * i + 32));
};
const keys = slices(size);
const values = slices(updates);
const fresh = slices(rounds * updates);
let v = 0;
const value = () => values[v++ % updates]!;

/** CPU milliseconds of this process: on a loaded machine, wall time says more about the neighbours. */
const cpu = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

const memory = () => {
  globalThis.gc?.();
  const m = process.memoryUsage();
  return m.heapUsed + m.external + m.arrayBuffers;
};
const before = memory();
let start = performance.now();
const rebuildCpu = cpu();
const index = SparseMerkleIndex.fromLeaves(
  nodeCrypto,
  keys.map((k) => [k, value()]),
);
const rebuild = performance.now() - start;
const rebuildCpuMs = cpu() - rebuildCpu;
const nodes = index.takeChanged().size;
const bytesPerKey = (memory() - before) / size;
console.log(
  `fromLeaves: ${size} keys in ${(rebuild / 1000).toFixed(1)} s (${(rebuildCpuMs / 1000).toFixed(1)} s CPU); ${nodes} nodes (${(nodes / size).toFixed(2)}/key); ` +
    `~${Math.round(bytesPerKey)} B/key${globalThis.gc === undefined ? ' (no --expose-gc: rough)' : ''}`,
);

function measure(label: string, nextKey: () => Uint8Array): void {
  let changed = 0;
  start = performance.now();
  const startCpu = cpu();
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < updates; i++) index.set(nextKey(), value());
    index.root();
    changed += index.takeChanged().size;
  }
  const per = (ms: number) => ((ms * 1000) / (rounds * updates)).toFixed(2);
  console.log(
    `${label}: ${per(performance.now() - start)} µs (${per(cpu() - startCpu)} µs CPU) per set + amortized ` +
      `root() (${rounds} roots of ${updates}), ` +
      `${(changed / (rounds * updates)).toFixed(1)} changed nodes per set, size ${index.size}`,
  );
}

const picks = Array.from({ length: rounds * updates }, () => keys[Math.floor(Math.random() * size)]!);
let p = 0;
measure('updates of existing keys', () => picks[p++]!);
let f = 0;
measure('inserts of new keys', () => fresh[f++]!);
