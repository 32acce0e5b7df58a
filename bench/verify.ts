// npm run bench:verify [-- --events 100000 --batch 64]
// Third-party verification speed: builds a chain in memory (writer + sequencer), exports it to a
// file, and verifies the file with each crypto suite as an auditor would (streaming, every hash
// and signature). Prints events verified per second; asserts nothing.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { nodeCrypto } from '../core/crypto-node.js';
import { portableCrypto } from '../core/crypto-portable.js';
import { LINEAGE_STAGES, type LedgerEvent } from '../core/event.js';
import { generatePrivateKey, rawPublicKey } from '../core/keys.js';
import { formatMillis } from '../core/time.js';
import { exportToFile } from '../ledger/export.js';
import { Sequencer } from '../sequencer/sequencer.js';
import { verifyExportFile } from '../ledger/verify.js';
import { createLedgerWriter } from '../ledger/writer.js';
import { MemoryLedgerStore } from '../store/ledger-memory.js';

const options = new Command('bench:verify')
  .description('third-party verification speed: a chain exported to a file, verified with each crypto suite')
  .option('--events <n>', 'events in the chain', '100000')
  .option('--batch <n>', 'events per producer batch signature', '64')
  .parse()
  .opts<{ events: string; batch: string }>();
const total = Number(options.events);

const PRODUCER_ID = 'authz-server://bench';

/** Events shaped like the white paper's records (§4.4, §6.4), in 7-event lineages. */
function benchEvent(i: number): LedgerEvent {
  const op = Math.floor(i / LINEAGE_STAGES.length);
  return {
    v: '1',
    type: LINEAGE_STAGES[i % LINEAGE_STAGES.length]!,
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
const writer = await createLedgerWriter({ store, ...producer, maxBatch: Number(options.batch) });
for (let i = 0; i < total; i += 1000) {
  await writer.append(Array.from({ length: Math.min(1000, total - i) }, (_, j) => benchEvent(i + j)));
}
while ((await store.tip()).signedSeq < total) await new Promise((r) => setTimeout(r, 50));
await writer.close();
await sequencer.stop();

const dir = mkdtempSync(join(tmpdir(), 'bench-verify-'));
try {
  const path = join(dir, 'export.jsonl');
  const lines = await exportToFile(store, path);
  const bytes = statSync(path).size;
  console.log(
    `verification benchmark: ${total.toLocaleString('en')} records and ${(lines - total - 1).toLocaleString('en')} signed heads, ` +
      `producer batches of ≤ ${options.batch}, export ${(bytes / 1e6).toFixed(1)} MB ` +
      `(${Math.round(bytes / total)} B/record); node ${process.version}, load average ${loadavg()[0]!.toFixed(1)} on ${cpus().length} cores`,
  );
  const keys = {
    producers: producerKeys,
    audit: new Map([[audit.kid, { publicKey: rawPublicKey(audit.key) }]]),
  };
  for (const suite of [nodeCrypto, portableCrypto]) {
    const started = performance.now();
    const cpu = process.cpuUsage();
    const result = await verifyExportFile(path, { suite, keys });
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    if (!result.ok)
      throw new Error(`the benchmark chain did not verify: ${JSON.stringify(result.failures[0])}`);
    console.log(
      `  ${suite.name.padEnd(12)} ${Math.round(result.records / seconds).toLocaleString('en')} events verified/s ` +
        `(${seconds.toFixed(2)} s, ${(((used.user + used.system) / 1e6 / result.records) * 1e6).toFixed(1)} µs CPU/event, both chains, every signature)`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
