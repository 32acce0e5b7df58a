// A worker thread of sequencer/open-pool.ts: opens ingest entries (openEntry) for the sequencer,
// with node:crypto whatever suite the sequencer was given (the suites agree on every input).
import { parentPort, workerData } from 'node:worker_threads';
import { nodeCrypto } from '../core/crypto-node.js';
import { openEntry } from '../ledger/ingest.js';
import type { OpenWorkerData, OpenWorkerMessage, OpenWorkerReply } from './open-pool.js';

const { log } = workerData as OpenWorkerData;
let producers = new Map((workerData as OpenWorkerData).producers);

parentPort!.on('message', (message: OpenWorkerMessage) => {
  if (message.kind === 'producers') {
    producers = new Map(message.producers);
    return;
  }
  const results = message.texts.map((text) => openEntry(nodeCrypto, log, text, producers));
  parentPort!.postMessage({ id: message.id, results } satisfies OpenWorkerReply);
});
parentPort!.postMessage({ ready: true } satisfies OpenWorkerReply);
