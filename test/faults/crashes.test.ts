// Crashes in the ledger path with real processes: the sequencer killed (kill -9) twice in the
// middle of a 10,000-event burst from a real writer, and Redis killed (kill -9, appendfsync
// always) right after acknowledged appends and again in the middle of a burst. Afterwards
// every acknowledged event is chained exactly once and the chain verifies.
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { formatMillis } from '../../core/time.js';
import { DEV_AUTHZ_PRODUCER } from '../../devkit/dev-deployment.js';
import type { LedgerWriter } from '../../ledger/types.js';
import { chainedEventCounter, chainedEvents, testEvent } from '../ledger/support.js';
import { Cluster } from '../support/cluster.js';
import { startRedis, type TestRedis } from '../support/redis.js';

let redis: TestRedis | undefined;
let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  await redis?.stop();
});

async function start(): Promise<Cluster> {
  redis = await startRedis({ local: true, appendonly: true, appendfsync: 'always' });
  cluster = await Cluster.start({ redis, replicas: 0 });
  return cluster;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Appends events first..first+count-1 (request ids req-<i>) in calls of 50, one call every
 * 5 ms, as the enforcement points' producer; resolves with the ids whose append was acknowledged
 * and those whose append failed. Before event `at` of a gate it waits for the gate to open.
 */
async function burst(
  writer: LedgerWriter,
  first: number,
  count: number,
  gates: { at: number; open: Promise<void> }[] = [],
): Promise<{ acknowledged: string[]; failed: string[] }> {
  const calls: Promise<{ ids: string[]; ok: boolean }>[] = [];
  for (let from = first; from < first + count; from += 50) {
    for (const gate of gates) if (from >= gate.at) await gate.open;
    const events = Array.from({ length: Math.min(50, first + count - from) }, (_, i) =>
      testEvent(from + i, 'execution.denied', {
        producer: DEV_AUTHZ_PRODUCER,
        time: formatMillis(Date.now()),
      }),
    );
    const ids = events.map((e) => e.request_id!);
    calls.push(
      writer.append(events).then(
        () => ({ ids, ok: true }),
        () => ({ ids, ok: false }),
      ),
    );
    await sleep(5);
  }
  const settled = await Promise.all(calls);
  return {
    acknowledged: settled.filter((c) => c.ok).flatMap((c) => c.ids),
    failed: settled.filter((c) => !c.ok).flatMap((c) => c.ids),
  };
}

/** Chained copies of each test event (request ids req-<i>), after the ledger settled and verified. */
async function chained(c: Cluster): Promise<Map<string, number>> {
  await c.settleLedger(60_000);
  const verified = await c.verifyLedger();
  expect(verified.failures).toEqual([]);
  expect(verified.ok).toBe(true);
  expect(await c.ledger.deadLetters(10)).toEqual([]);
  const copies = new Map<string, number>();
  // A record holds a producer batch: events are counted in the records' events.
  for (const { event } of await chainedEvents(c.ledger)) {
    if (event.request_id?.startsWith('req-'))
      copies.set(event.request_id, (copies.get(event.request_id) ?? 0) + 1);
  }
  return copies;
}

/** Waits until `count` events are chained (counted by `chained`, a chainedEventCounter). */
async function waitForEvents(c: Cluster, chained: () => Promise<number>, count: number, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while ((await chained()) < count) {
    if (Date.now() > deadline) throw new Error(`fewer than ${count} events chained\n${c.logs()}`);
    await sleep(10);
  }
}

describe('sequencer killed mid-burst', () => {
  it('chains all 10,000 acknowledged events exactly once after two kill -9 and restarts', async () => {
    const c = await start();
    const writer = await c.ledgerWriter({ commitWindowMs: 600_000 });
    const chainedCount = chainedEventCounter(c.ledger);
    const base = await chainedCount();
    // A record holds a batch of 50 events: the sequencer chains a backlog of thousands at once.
    // So that each kill lands mid-burst, the burst holds back its events past 4,000 (8,000) until
    // the first (second) kill and restart are done, appending as fast as before up to there.
    const restarted = [0, 1].map(() => {
      let open!: () => void;
      return { open: new Promise<void>((resolve) => (open = resolve)), opened: () => open() };
    });
    const appending = burst(writer, 0, 10_000, [
      { at: 4_000, open: restarted[0]!.open },
      { at: 8_000, open: restarted[1]!.open },
    ]);
    const kills: number[] = [];
    for (const [k, at] of [2_500, 6_000].entries()) {
      await waitForEvents(c, chainedCount, base + at);
      await c.sequencer.kill('SIGKILL');
      kills.push((await chainedCount()) - base);
      await sleep(300);
      c.sequencer.start();
      restarted[k]!.opened();
    }
    const { acknowledged, failed } = await appending;
    expect(failed).toEqual([]);
    expect(acknowledged.length).toBe(10_000);
    const copies = await chained(c);
    expect(acknowledged.filter((id) => copies.get(id) !== 1)).toEqual([]);
    expect(copies.size).toBe(10_000);
    console.log(
      `[faults] sequencer killed at chained events ${kills.join(', ')} of 10000: 0 lost, 0 duplicated`,
    );
    // The kills landed mid-burst: neither before anything was chained nor after everything was.
    for (const at of kills) expect(at).toBeLessThan(10_000);
  });
});

describe('Redis killed with appendfsync always', () => {
  it('keeps every acknowledged event, appended before the kill or around it, exactly once', async () => {
    const c = await start();
    const writer = await c.ledgerWriter({ commitWindowMs: 600_000 });
    const before = await burst(writer, 0, 3_000);
    expect(before.failed).toEqual([]);
    const kill = async () => {
      const exited = once(redis!.process!, 'exit');
      redis!.process!.kill('SIGKILL');
      await exited;
    };
    await kill();
    await redis!.restart();

    // Now a burst with Redis killed in its middle: appends in flight fail (never acknowledged).
    const during = burst(writer, 3_000, 3_000);
    await sleep(200);
    await kill();
    await sleep(500);
    await redis!.restart();
    const around = await during;
    expect(around.acknowledged.length).toBeGreaterThan(0);
    expect(around.failed.length).toBeGreaterThan(0);

    const copies = await chained(c);
    const acknowledged = [...before.acknowledged, ...around.acknowledged];
    expect(acknowledged.filter((id) => copies.get(id) !== 1)).toEqual([]);
    // An append whose reply was lost may or may not have landed, but never twice.
    expect(around.failed.filter((id) => (copies.get(id) ?? 0) > 1)).toEqual([]);
    console.log(
      `[faults] redis kill -9: ${acknowledged.length} acknowledged, 0 lost, 0 duplicated; ` +
        `${around.failed.length} unacknowledged (${around.failed.filter((id) => copies.has(id)).length} landed)`,
    );
  });
});
