// Send times for the open loop. Node's timers have millisecond granularity and fire up to a
// millisecond late, which at 1,000 req/s would add ~0.5 ms to every latency measured from the
// intended send time. A worker thread sleeping with Atomics.wait (microsecond timeouts) releases
// each request on time and tells the main thread how many are due; a busy main thread still
// sends late, and that lateness is counted in latency, as it should be.
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';

// Plain JavaScript evaluated in the worker (with no loader: execArgv is emptied), so it starts
// fast and runs the same under tsx, vitest and dist/. It waits for the origin, then paces.
const PACER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { intervalNs, count } = workerData;
const sleeper = new Int32Array(new SharedArrayBuffer(4));
parentPort.once('message', (origin) => {
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
  parentPort.close();
});
`;

export interface Pacer {
  /**
   * Starts releasing: request i is due at origin + i / rate (process.hrtime.bigint() time), and
   * `onDue(released)` gets the number due so far.
   */
  start(origin: bigint, onDue: (released: number) => void): void;
  dueAt(i: number): bigint;
  /** Settles when every request has been released, or the worker failed. */
  done: Promise<void>;
  stop(): Promise<void>;
}

/** A pacer for `count` requests at `rate` per second, resolved once its thread runs (before the clock starts). */
export async function createPacer(rate: number, count: number): Promise<Pacer> {
  const intervalNs = BigInt(Math.round(1e9 / rate));
  const worker = new Worker(PACER_SOURCE, { eval: true, execArgv: [], workerData: { intervalNs, count } });
  const done = new Promise<void>((resolve, reject) => {
    worker.once('error', reject);
    worker.once('exit', () => resolve());
  });
  await Promise.race([once(worker, 'online'), done]);
  let origin = 0n;
  return {
    start(at, onDue) {
      origin = at;
      worker.on('message', onDue);
      worker.postMessage(at);
    },
    dueAt: (i) => origin + BigInt(i) * intervalNs,
    done,
    async stop() {
      await worker.terminate();
    },
  };
}
