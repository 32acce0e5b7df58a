// Send times for the open loop. Node's timers have millisecond granularity and fire up to a
// millisecond late, which at 1,000 req/s would add ~0.5 ms to every latency measured from the
// intended send time. A worker thread sleeping with Atomics.wait (microsecond timeouts) releases
// each request on time and tells the main thread how many are due; a busy main thread still
// sends late, and that lateness is counted in latency, as it should be.
import { Worker } from 'node:worker_threads';

// Plain JavaScript evaluated in the worker, so it runs the same under tsx, vitest and dist/.
const PACER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { origin, intervalNs, count } = workerData;
const sleeper = new Int32Array(new SharedArrayBuffer(4));
let released = 0;
while (released < count) {
  const elapsed = process.hrtime.bigint() - origin;
  const due = elapsed < 0n ? 0 : Math.min(count, Number(elapsed / intervalNs) + 1);
  if (due > released) {
    released = due;
    parentPort.postMessage(released);
  } else {
    Atomics.wait(sleeper, 0, 0, Number(BigInt(released) * intervalNs - elapsed) / 1e6);
  }
}
`;

export interface Pacer {
  /** When request i is due (process.hrtime.bigint() time). */
  dueAt(i: number): bigint;
  /** Settles when every request has been released, or the worker failed. */
  done: Promise<void>;
  stop(): Promise<void>;
}

/**
 * Releases `count` requests at `rate` per second from `origin` (process.hrtime.bigint()): request
 * i is due at origin + i / rate. `onDue(released)` gets the number due so far.
 */
export function startPacer(
  origin: bigint,
  rate: number,
  count: number,
  onDue: (released: number) => void,
): Pacer {
  const intervalNs = BigInt(Math.round(1e9 / rate));
  const worker = new Worker(PACER_SOURCE, { eval: true, workerData: { origin, intervalNs, count } });
  worker.on('message', onDue);
  const done = new Promise<void>((resolve, reject) => {
    worker.once('error', reject);
    worker.once('exit', () => resolve());
  });
  return {
    dueAt: (i) => origin + BigInt(i) * intervalNs,
    done,
    async stop() {
      await worker.terminate();
    },
  };
}
