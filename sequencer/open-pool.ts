// Worker threads that open ingest entries for the sequencer (parse, validate, hash and verify:
// about half of its CPU per event), so that opening the next entries runs on other cores while
// the sequencer's own thread chains the current ones. The results are those of openEntry on the
// sequencer's thread; a worker that fails fails the open calls it holds (the sequencer then
// stops leading and starts again), and is replaced on the next call.
import { Worker } from 'node:worker_threads';
import type { OpenResult } from '../ledger/ingest.js';
import type { ProducerKey } from '../core/chain.js';

export interface OpenWorkerData {
  log: string;
  producers: [string, ProducerKey][];
}

export type OpenWorkerMessage =
  { kind: 'open'; id: number; texts: string[] } | { kind: 'producers'; producers: [string, ProducerKey][] };

/** What a worker posts back: once that it has loaded, then the results of each open message. */
export type OpenWorkerReply = { ready: true } | { id: number; results: OpenResult[] };

const here = import.meta.url;

function startWorker(workerData: OpenWorkerData): Worker {
  if (!here.endsWith('.ts')) return new Worker(new URL('./open-worker.js', here), { workerData });
  // From the TypeScript sources (development and tests) the worker loads through tsx as its
  // parent does: Node 20 does not pass module hooks on to worker threads.
  const entry = JSON.stringify(new URL('./open-worker.ts', here).href);
  return new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${entry}); })`, {
    eval: true,
    workerData,
  });
}

type Pending = { resolve: (results: OpenResult[]) => void; reject: (error: Error) => void };

class PoolWorker {
  private worker!: Worker;
  private loaded!: Promise<void>;
  private live = false;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;

  constructor(private readonly data: () => OpenWorkerData) {
    this.start();
  }

  /** Resolves once the worker has loaded its modules; rejects if it failed to. */
  ready(): Promise<void> {
    return this.loaded;
  }

  run(texts: string[]): Promise<OpenResult[]> {
    if (!this.live) this.start();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ kind: 'open', id, texts } satisfies OpenWorkerMessage);
    });
  }

  post(message: OpenWorkerMessage): void {
    if (this.live) this.worker.postMessage(message);
  }

  async close(): Promise<void> {
    this.live = false;
    await this.worker.terminate();
  }

  private start(): void {
    const worker = startWorker(this.data());
    let loaded!: () => void;
    let failedToLoad!: (error: Error) => void;
    this.loaded = new Promise((resolve, reject) => {
      loaded = resolve;
      failedToLoad = reject;
    });
    this.loaded.catch(() => undefined);
    worker.on('message', (reply: OpenWorkerReply) => {
      if ('ready' in reply) return loaded();
      this.pending.get(reply.id)?.resolve(reply.results);
      this.pending.delete(reply.id);
    });
    const fail = (error: Error) => {
      failedToLoad(error);
      if (this.worker !== worker) return;
      this.live = false;
      for (const { reject } of this.pending.values()) reject(error);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`an open worker exited (code ${code})`)));
    this.worker = worker;
    this.live = true;
  }
}

export class OpenPool {
  private readonly workers: PoolWorker[];
  private producers: [string, ProducerKey][];

  /** Starts `size` workers at once (they load while the sequencer gets ready). */
  constructor(
    size: number,
    private readonly log: string,
    producers: ReadonlyMap<string, ProducerKey>,
  ) {
    this.producers = [...producers];
    this.workers = Array.from(
      { length: size },
      () => new PoolWorker(() => ({ log: this.log, producers: this.producers })),
    );
  }

  /** Resolves once every worker has loaded; rejects if one failed to. */
  async ready(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.ready()));
  }

  setProducers(producers: ReadonlyMap<string, ProducerKey>): void {
    this.producers = [...producers];
    for (const worker of this.workers) worker.post({ kind: 'producers', producers: this.producers });
  }

  /** Opens the entries, split over the workers; results in the order of the texts. */
  async open(texts: string[]): Promise<OpenResult[]> {
    const chunk = Math.ceil(texts.length / this.workers.length);
    const parts = await Promise.all(
      this.workers.flatMap((worker, i) => {
        const part = texts.slice(i * chunk, (i + 1) * chunk);
        return part.length === 0 ? [] : [worker.run(part)];
      }),
    );
    return parts.flat();
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
  }
}
