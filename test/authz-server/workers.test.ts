// Several enforcement-point processes on one port (`workers: 2`, authz-server/workers.ts), as
// real processes on a real Redis: connections are spread over the workers, every Check is still
// decided exactly once (a replay is denied whichever worker sees it), GET /metrics answers for
// the whole group, and a worker killed with SIGKILL is replaced while the other keeps serving.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childrenOf } from '../../bench/lib/proc-stats.js';
import { CheckClient, Cluster, checkRequest } from '../support/cluster.js';
import { startRedis, type TestRedis } from '../support/redis.js';

let redis: TestRedis;
let cluster: Cluster;

beforeAll(async () => {
  redis = await startRedis();
  cluster = await Cluster.start({ redis, workers: 2 });
}, 120_000);

afterAll(async () => {
  if (process.env.SHOW_LOGS) console.log(cluster?.logs());
  await cluster?.stop();
  await redis?.stop();
});

/** Pids of the worker processes of the enforcement point `pid` (tsx's esbuild child is not one). */
function workersOf(pid: number): number[] {
  const isWorker = (child: number) => {
    try {
      return readFileSync(`/proc/${child}/cmdline`, 'utf8').includes('authz-server/main');
    } catch {
      return false; // ended while we looked
    }
  };
  return childrenOf(pid).filter(isWorker).sort();
}

/** One Check on a connection of its own, so that node:cluster hands it to the next worker. */
async function checkOnNewConnection(port: number, artifact: string | undefined) {
  const client = new CheckClient(port, true);
  try {
    return await client.check(checkRequest(artifact === undefined ? {} : { artifact }));
  } finally {
    client.close();
  }
}

async function allowCount(httpPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('governance_authz_decisions_total{result="allow"'));
  return Number(line?.split(' ').at(-1));
}

async function waitFor(what: string, condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('authz-server with workers: 2', () => {
  it('runs two workers, decides each Check once across them and merges their metrics', async () => {
    const replica = cluster.replicas[0]!;
    const workers = workersOf(replica.process.pid!);
    expect(workers).toHaveLength(2);

    const headers = await cluster.issue(8);
    const first = await Promise.all(headers.map((h) => checkOnNewConnection(replica.grpcPort, h)));
    expect(first.map((o) => o.reason ?? o.decision)).toEqual(headers.map(() => 'allow'));
    // The replays land on either worker: the use state is shared, so each is denied.
    const replays = await Promise.all(headers.map((h) => checkOnNewConnection(replica.grpcPort, h)));
    expect(replays.map((o) => o.reason)).toEqual(headers.map(() => 'artifact.replayed'));
    // Sixteen connections went round-robin over two workers: only the merged count is 8.
    expect(await allowCount(replica.httpPort)).toBe(8);
  });

  it('replaces a worker killed with SIGKILL while the other keeps serving', async () => {
    const replica = cluster.replicas[0]!;
    const before = workersOf(replica.process.pid!);
    expect(before).toHaveLength(2);
    process.kill(before[0]!, 'SIGKILL');
    await waitFor('the worker to exit', () => !workersOf(replica.process.pid!).includes(before[0]!));
    // The primary drops the dead worker from its round-robin once it sees the IPC channel close,
    // a moment after the exit; a connection handed over in between is lost with the worker.
    await new Promise((r) => setTimeout(r, 500));
    const [header] = await cluster.issue(1);
    expect(await checkOnNewConnection(replica.grpcPort, header)).toMatchObject({ decision: 'allow' });
    expect(await checkOnNewConnection(replica.grpcPort, undefined)).toMatchObject({
      decision: 'deny',
      reason: 'artifact.missing',
    });
    await waitFor('a replacement worker', () => workersOf(replica.process.pid!).length === 2);
    const after = workersOf(replica.process.pid!);
    expect(after).toContain(before[1]);
    expect(after).not.toContain(before[0]);
    // Once it serves, connections reach it again: a round of new connections is all answered.
    const deadline = Date.now() + 20_000;
    for (;;) {
      const round = await Promise.all(
        [0, 1, 2, 3].map(() => checkOnNewConnection(replica.grpcPort, undefined)),
      );
      if (round.every((o) => o.reason === 'artifact.missing')) break;
      expect(Date.now(), JSON.stringify(round)).toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 200));
    }
  });
});
