// Several enforcement-point processes on one port (`workers` > 1): one Node process runs its
// JavaScript on one core, so a bigger machine runs one worker per core. node:cluster's primary
// holds the listening sockets and hands each accepted connection to a worker in turn; every
// worker is a complete enforcement point (its own registry view, use-state connection and
// ledger writer, all signing with the one producer key), so a worker fails closed on its own and
// a dead worker costs only the connections it held. The primary runs no decision: it starts the
// workers, replaces a worker that dies, stops them all on SIGTERM, and merges their metrics so
// that GET /metrics on any worker shows the whole process group.
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import type { Logger } from 'pino';
import { GovernanceError } from '../core/errors.js';

type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

/** Messages between the primary and its workers; the `governance` member keeps them apart from others. */
type WorkerMessage =
  | { governance: 'ready'; grpcPort: number; httpPort: number }
  | { governance: 'metrics'; id: number }
  | { governance: 'metrics-json'; id: number; json?: MetricsJson }
  | { governance: 'metrics-text'; id: number; text: string };

const isWorkerMessage = (m: unknown): m is WorkerMessage =>
  typeof m === 'object' && m !== null && typeof (m as { governance?: unknown }).governance === 'string';

/** How long the primary waits for every worker's metrics before merging what it has. */
const METRICS_WAIT_MS = 1000;
/** A replacement for a worker that died is started after this pause (no hot restart loop). */
const RESTART_DELAY_MS = 1000;
const STOP_WAIT_MS = 10_000;
/** Set in the environment of the workers this module forks: the supervisor's pid. */
const WORKER_OF = 'GOV_AUTHZ_WORKER_OF';

export interface Supervisor {
  stop(): Promise<void>;
}

/**
 * The primary's side: starts `count` workers and resolves once each is serving. A worker that
 * exits before it serves fails the start-up (config.invalid with its exit status: the worker
 * printed why); one that dies later is replaced.
 */
export async function superviseWorkers(count: number, logger: Logger): Promise<Supervisor> {
  let stopping = false;
  const metricRequests = new Map<number, { jsons: MetricsJson[]; waiting: number; done: () => void }>();
  let nextRequest = 0;

  const collectMetrics = async (requester: Worker, id: number) => {
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
    const request = nextRequest++;
    const jsons: MetricsJson[] = [];
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, METRICS_WAIT_MS);
      metricRequests.set(request, {
        jsons,
        waiting: workers.length,
        done: () => {
          clearTimeout(timer);
          resolve();
        },
      });
      for (const worker of workers)
        worker.send({ governance: 'metrics-json', id: request } satisfies WorkerMessage);
    });
    metricRequests.delete(request);
    const text = await AggregatorRegistry.aggregate(jsons).metrics();
    if (requester.isConnected())
      requester.send({ governance: 'metrics-text', id, text } satisfies WorkerMessage);
  };

  const listen = (worker: Worker) =>
    worker.on('message', (message: unknown) => {
      if (!isWorkerMessage(message)) return;
      if (message.governance === 'metrics') void collectMetrics(worker, message.id);
      if (message.governance === 'metrics-json') {
        const pending = metricRequests.get(message.id);
        if (!pending) return;
        if (message.json) pending.jsons.push(message.json);
        if (--pending.waiting === 0) pending.done();
      }
    });

  const fork = (): Promise<{ grpcPort: number; httpPort: number }> =>
    new Promise((resolve, reject) => {
      const worker = cluster.fork({ [WORKER_OF]: String(process.pid) });
      listen(worker);
      let serving = false;
      worker.on('message', (message: unknown) => {
        if (isWorkerMessage(message) && message.governance === 'ready') {
          serving = true;
          resolve({ grpcPort: message.grpcPort, httpPort: message.httpPort });
        }
      });
      worker.on('exit', (code, signal) => {
        if (!serving) {
          reject(
            new GovernanceError(
              'config.invalid',
              `worker ${worker.process.pid} exited during start-up (${signal ?? `status ${code}`})`,
            ),
          );
          return;
        }
        if (stopping) return;
        logger.error({ pid: worker.process.pid, code, signal }, 'authz worker died; starting a replacement');
        setTimeout(() => {
          if (!stopping)
            fork().catch((e: unknown) =>
              logger.error({ problem: (e as Error).message }, 'replacement worker failed'),
            );
        }, RESTART_DELAY_MS).unref();
      });
    });

  const stop = async () => {
    stopping = true;
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
    await Promise.all(
      workers.map(
        (worker) =>
          new Promise<void>((resolve) => {
            if (worker.isDead()) return resolve();
            const kill = setTimeout(() => worker.process.kill('SIGKILL'), STOP_WAIT_MS);
            worker.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            worker.process.kill('SIGTERM');
          }),
      ),
    );
  };

  try {
    // The workers share the ports, so the first one's are the group's.
    const [ports] = await Promise.all(Array.from({ length: count }, fork));
    logger.info(
      { workers: count, ...ports, pids: Object.values(cluster.workers ?? {}).map((w) => w?.process.pid) },
      'authz workers serving',
    );
    return { stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/**
 * The worker's side: tells the primary it serves, answers its requests for this worker's metrics,
 * and returns what GET /metrics should answer (the whole group's, merged by the primary).
 */
export function joinSupervisor(
  ports: { grpcPort: number; httpPort: number },
  ownMetrics: () => Promise<MetricsJson>,
): () => Promise<string> {
  const send = (message: WorkerMessage) => process.send?.(message);
  const waiting = new Map<number, (text: string) => void>();
  let nextId = 0;
  process.on('message', (message: unknown) => {
    if (!isWorkerMessage(message)) return;
    if (message.governance === 'metrics-json') {
      ownMetrics().then(
        (json) => send({ governance: 'metrics-json', id: message.id, json }),
        () => send({ governance: 'metrics-json', id: message.id }),
      );
    }
    if (message.governance === 'metrics-text') {
      waiting.get(message.id)?.(message.text);
      waiting.delete(message.id);
    }
  });
  send({ governance: 'ready', ...ports });
  return () =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error('the primary did not answer with the merged metrics'));
      }, 2 * METRICS_WAIT_MS);
      waiting.set(id, (text) => {
        clearTimeout(timer);
        resolve(text);
      });
      send({ governance: 'metrics', id });
    });
}

/**
 * True in a worker this module's supervisor forked. A node:cluster worker of another process
 * manager (pm2's cluster mode, for one) is not one: it serves alone, asks no primary for metrics.
 */
export const isWorkerProcess = () => cluster.isWorker && process.env[WORKER_OF] === String(process.ppid);

/** True under another cluster manager, where this process cannot start workers of its own. */
export const isForeignWorker = () => cluster.isWorker && !isWorkerProcess();
