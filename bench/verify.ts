// npm run bench:verify [-- --events 100000 --batch 64 --tree-sizes 1000,1000000]
// Third-party verification speed: builds a chain in memory (writer + sequencer), exports it to a
// file, and verifies the file with each crypto suite as an auditor would (streaming, every hash
// and signature). Then the proofs of ledger v2 (docs/spec/ledger.md §10): inclusion and
// consistency proofs verified per second with each suite, and their sizes, measured on RFC 9162
// trees of synthetic leaves (built with core/tlog.ts TileBuilder) and, for 10^9 records, from the
// formula; and whole inclusion proofs (checkpoint, record, producer signature, path) on the
// benchmark chain. Prints; asserts nothing.
import { attestationRef } from '../core/attestation.js';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { nodeCrypto } from '../core/crypto-node.js';
import { portableCrypto } from '../core/crypto-portable.js';
import { LINEAGE_STAGES, type LedgerEvent } from '../core/event.js';
import { generatePrivateKey, rawPublicKey } from '../core/keys.js';
import { formatMillis } from '../core/time.js';
import type { CryptoSuite } from '../core/crypto.js';
import { verifyInclusionProof, type InclusionProof } from '../core/proofs.js';
import {
  consistencyProof,
  inclusionProof,
  TileBuilder,
  TileHashes,
  tilePath,
  treeRoot,
  verifyConsistency,
  verifyInclusion,
} from '../core/tlog.js';
import { StoreLedgerReader } from '../ledger/reader.js';
import { exportToFile } from '../ledger/export.js';
import { Sequencer } from '../sequencer/sequencer.js';
import { verifyExportFile } from '../ledger/verify.js';
import { createLedgerWriter } from '../ledger/writer.js';
import { MemoryLedgerStore } from '../store/ledger-memory.js';

const options = new Command('bench:verify')
  .description('third-party verification speed: a chain exported to a file, verified with each crypto suite')
  .option('--events <n>', 'events in the chain', '100000')
  .option('--batch <n>', 'events per producer batch signature and record at most', '64')
  .option(
    '--suites <names>',
    'crypto suites to verify with: node, portable (comma-separated)',
    'node,portable',
  )
  .option(
    '--tree-sizes <list>',
    'tree sizes (records) at which proofs are measured, comma-separated; 10^9 is always given from the formula',
    '1000,1000000',
  )
  .parse()
  .opts<{ events: string; batch: string; suites: string; treeSizes: string }>();
const suites = [nodeCrypto, portableCrypto].filter((s) =>
  options.suites.split(',').includes(s === nodeCrypto ? 'node' : 'portable'),
);
const total = Number(options.events);
const treeSizes = options.treeSizes.split(',').map(Number);
if (!treeSizes.every((n) => Number.isSafeInteger(n) && n >= 2))
  throw new Error('--tree-sizes takes tree sizes ≥ 2, comma-separated');

const PRODUCER_ID = 'authz-server://bench';

/** Events shaped like the white paper's records (§4.4, §6.4), in 7-event lineages. */
/** Each operation's admission names its attestation by attestation_ref, as an enforcement point does. */
function stageData(type: string, op: number): Pick<LedgerEvent, 'data'> {
  const id = `att_bench${String(op).padStart(16, '0')}`;
  if (type === 'admission.granted') return { data: { attestation_ref: attestationRef(nodeCrypto, id) } };
  if (type === 'attestation.signed') return { data: { attestation: { attestation_id: id } } };
  return {};
}

function benchEvent(i: number): LedgerEvent {
  const op = Math.floor(i / LINEAGE_STAGES.length);
  const type = LINEAGE_STAGES[i % LINEAGE_STAGES.length]!;
  return {
    v: '1',
    type,
    ...stageData(type, op),
    time: formatMillis(Date.UTC(2026, 4, 12) + i),
    producer: PRODUCER_ID,
    lineage: `lineage://op/${String(op).padStart(16, '0')}`,
    identity: 'spiffe://cluster.local/ns/inference/sa/inference-gateway',
    operation: 'model.invoke',
    policy_required: 'policy://medical/inference/v3',
    artifact_id: `auth_01HZK9R2P3M7F8B4${String(op).padStart(14, '0')}`,
    issuer: 'governance://11-11/authority/prod',
    runtime: 'k8s://cluster-east-1/ns/inference',
    request_id: `req-${i}`,
  };
}

const producer = { kid: 'producer:bench/1', privateKey: generatePrivateKey() };
const producerKeys = new Map([
  [producer.kid, { publicKey: rawPublicKey(producer.privateKey), subject: PRODUCER_ID }],
]);
const audit = { kid: 'audit:bench/1', key: generatePrivateKey() };
const store = new MemoryLedgerStore('bench-verify');
const sequencer = new Sequencer({
  store,
  auditKid: audit.kid,
  auditKey: audit.key,
  producerKeys: async () => producerKeys,
  headIntervalMs: 1000,
});
sequencer.start();
const writer = await createLedgerWriter({
  store,
  ...producer,
  maxBatch: Number(options.batch),
  checkpoints: { auditKeys: () => new Map([[audit.kid, { publicKey: rawPublicKey(audit.key) }]]) },
});
for (let i = 0; i < total; i += 1000) {
  await writer.append(Array.from({ length: Math.min(1000, total - i) }, (_, j) => benchEvent(i + j)));
}
// Every batch proven in a checkpoint: all events chained and covered.
while (writer.commitLagMs() > 0) await new Promise((r) => setTimeout(r, 50));
const { seq: records } = await store.tip();
await writer.close();
await sequencer.stop();

const dir = mkdtempSync(join(tmpdir(), 'bench-verify-'));
try {
  const path = join(dir, 'export.jsonl');
  const lines = await exportToFile(store, path);
  const bytes = statSync(path).size;
  console.log(
    `verification benchmark: ${total.toLocaleString('en')} events in ${records.toLocaleString('en')} records and ` +
      `${(lines - records - 1).toLocaleString('en')} checkpoints, producer batches of ≤ ${options.batch}, ` +
      `export ${(bytes / 1e6).toFixed(1)} MB (${Math.round(bytes / total)} B/event); node ${process.version}, ` +
      `load average ${loadavg()[0]!.toFixed(1)} on ${cpus().length} cores`,
  );
  const keys = {
    producers: producerKeys,
    audit: new Map([[audit.kid, { publicKey: rawPublicKey(audit.key) }]]),
  };
  for (const suite of suites) {
    const started = performance.now();
    const cpu = process.cpuUsage();
    const result = await verifyExportFile(path, { suite, keys });
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    if (!result.ok)
      throw new Error(`the benchmark chain did not verify: ${JSON.stringify(result.failures[0])}`);
    console.log(
      `  ${suite.name.padEnd(12)} ${Math.round(result.events / seconds).toLocaleString('en')} events verified/s ` +
        `(${seconds.toFixed(2)} s, ${(((used.user + used.system) / 1e6 / result.events) * 1e6).toFixed(1)} µs CPU/event, both chains, every signature)`,
    );
  }
  await wholeInclusionProofs(keys);
  treeProofs();
} finally {
  rmSync(dir, { recursive: true, force: true });
}

/** Runs `verify` over the samples, round-robin, for about `seconds`; verifications per second. */
function rate(samples: number, verify: (i: number) => boolean, seconds = 0.25): number {
  let done = 0;
  const started = performance.now();
  const until = started + seconds * 1000;
  do {
    for (let j = 0; j < 64; j++, done++)
      if (!verify(done % samples)) throw new Error('a benchmark proof did not verify');
  } while (performance.now() < until);
  return done / ((performance.now() - started) / 1000);
}

function perSecond(n: number): string {
  return Math.round(n).toLocaleString('en');
}

/** 1000000 → "10^6"; other sizes as they are. */
function power(n: number): string {
  const e = Math.log10(n);
  return Number.isInteger(e) ? `10^${e}` : n.toLocaleString('en');
}

/**
 * Whole inclusion proofs as `govctl inclusion` verifies them, on the benchmark chain: the
 * checkpoint note's Ed25519 signature, the record's checks, its producer's batch signature and
 * the path. The signatures dominate; the path is the tree-proof figure below.
 */
async function wholeInclusionProofs(keys: Parameters<typeof verifyInclusionProof>[2]['keys']): Promise<void> {
  const reader = new StoreLedgerReader(nodeCrypto, store);
  const seqs = Array.from({ length: Math.min(records, 64) }, (_, i) => 1 + Math.floor((i * records) / 64));
  const proofs: InclusionProof[] = await Promise.all(seqs.map((seq) => reader.inclusionProof(seq)));
  for (const suite of suites) {
    const verified = rate(
      proofs.length,
      (i) => verifyInclusionProof(suite, proofs[i], { keys }).record.seq > 0,
    );
    console.log(
      `  ${suite.name.padEnd(12)} ${perSecond(verified)} whole inclusion proofs verified/s ` +
        `(checkpoint and producer signatures, record of a whole batch, path; ${records.toLocaleString('en')} records)`,
    );
  }
}

/** A tree of n synthetic leaves and what it takes to prove in it: the tiles, root, proof sources. */
function syntheticTree(n: number): { hashes: TileHashes; root: Uint8Array; leaf: (i: number) => Uint8Array } {
  // Synthetic leaf hashes (the index, big-endian, in 32 bytes): proofs never look inside a leaf.
  const leaf = (i: number) => {
    const hash = new Uint8Array(32);
    new DataView(hash.buffer).setFloat64(24, i);
    return hash;
  };
  const builder = TileBuilder.empty(nodeCrypto);
  const tiles = new Map<string, Uint8Array>();
  const CHUNK = 4096;
  for (let i = 0; i < n; i += CHUNK) {
    builder.append(Array.from({ length: Math.min(CHUNK, n - i) }, (_, j) => leaf(i + j)));
    for (const [path, bytes] of builder.takeChanged()) tiles.set(path, bytes);
  }
  const hashes = new TileHashes(nodeCrypto, n, (t) => tiles.get(tilePath(t.level, t.index, t.width)));
  return { hashes, root: builder.root(), leaf };
}

/** Inclusion and consistency proofs: sizes and verifications per second with each suite. */
function treeProofs(): void {
  const SAMPLES = 256;
  console.log(
    'tree proofs (RFC 9162, SHA-256; proof bytes = 32 × hashes, raw): inclusion ≤ ⌈log2 n⌉ hashes, consistency ≤ ⌈log2 n⌉ + 1',
  );
  for (const n of treeSizes) {
    const built = performance.now();
    const { hashes, root, leaf } = syntheticTree(n);
    const buildSeconds = (performance.now() - built) / 1000;
    // Leaf 0 and tree size 1 are among the deepest; the rest spread over the tree.
    const indexes = Array.from({ length: SAMPLES }, (_, i) => (i === 0 ? 0 : Math.floor(Math.random() * n)));
    const olds = Array.from({ length: SAMPLES }, (_, i) =>
      i === 0 ? 1 : 1 + Math.floor(Math.random() * (n - 1)),
    );
    const inclusion = indexes.map((i) => ({
      i,
      leaf: leaf(i),
      proof: inclusionProof(nodeCrypto, hashes, i, n),
    }));
    const consistency = olds.map((m) => ({
      m,
      root: treeRoot(nodeCrypto, hashes, m),
      proof: consistencyProof(nodeCrypto, hashes, m, n),
    }));
    const longest = (proofs: { proof: Uint8Array[] }[]) => Math.max(...proofs.map((p) => p.proof.length));
    const mean = (proofs: { proof: Uint8Array[] }[]) =>
      proofs.reduce((sum, p) => sum + p.proof.length, 0) / proofs.length;
    const [incl, cons] = [longest(inclusion), longest(consistency)];
    console.log(
      `  ${power(n)} records (measured; tree built in ${buildSeconds.toFixed(1)} s): ` +
        `inclusion ≤ ${incl} hashes (${incl * 32} B; mean ${mean(inclusion).toFixed(1)}), ` +
        `consistency ≤ ${cons} hashes (${cons * 32} B; mean ${mean(consistency).toFixed(1)})`,
    );
    for (const suite of [nodeCrypto, portableCrypto] as CryptoSuite[]) {
      const inclusionRate = rate(SAMPLES, (j) => {
        const p = inclusion[j]!;
        return verifyInclusion(suite, p.leaf, p.i, n, p.proof, root);
      });
      const consistencyRate = rate(SAMPLES, (j) => {
        const p = consistency[j]!;
        return verifyConsistency(suite, p.m, n, p.proof, p.root, root);
      });
      console.log(
        `    ${suite.name.padEnd(12)} ${perSecond(inclusionRate)} inclusion proofs verified/s, ` +
          `${perSecond(consistencyRate)} consistency proofs verified/s`,
      );
    }
  }
  const billion = 1e9;
  const depth = Math.ceil(Math.log2(billion));
  console.log(
    `  ${power(billion)} records (formula): inclusion ≤ ${depth} hashes (${depth * 32} B), ` +
      `consistency ≤ ${depth + 1} hashes (${(depth + 1) * 32} B)`,
  );
}
