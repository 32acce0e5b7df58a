// The sequencer process (sequencer/main.ts) on a real redis-server, seen through its HTTP port:
// /healthz SERVING while it leads or stands by with Redis answering, NOT_SERVING with the
// problem while Redis does not answer, and /metrics counting what it chains and signs; SIGTERM
// stops it cleanly.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChainRecord } from '../../core/event.js';
import { formatMillis } from '../../core/time.js';
import { createLedgerWriter } from '../../ledger/writer.js';
import { RedisLedgerStore } from '../../store/ledger-redis.js';
import { testEvent, until } from '../ledger/support.js';
import {
  sequencerDeployment,
  signalAndWait,
  spawnSequencer,
  type SequencerDeployment,
  type SequencerProcess,
} from '../ledger/sequencer-process.js';
import { startRedis, type TestRedis } from '../support/redis.js';

const LEASE_MS = 1000;
let dir: string;
let redis: TestRedis;
let deployment: SequencerDeployment;
const processes: SequencerProcess[] = [];
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gov-sequencer-service-'));
  // Its own redis-server: the test pauses it.
  redis = await startRedis({ local: true });
  deployment = sequencerDeployment(dir, redis.url);
});
afterAll(async () => {
  for (const p of processes) await signalAndWait(p.child, 'SIGKILL');
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function spawn(): Promise<SequencerProcess> {
  const p = await spawnSequencer(deployment, { leaseMs: LEASE_MS, headIntervalMs: 100 });
  processes.push(p);
  return p;
}

async function health(p: SequencerProcess): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${p.url}/healthz`);
  return { status: res.status, body: await res.json() };
}

/** The value of an unlabelled metric in the Prometheus text exposition. */
async function metric(p: SequencerProcess, name: string): Promise<number> {
  const text = await (await fetch(`${p.url}/metrics`)).text();
  const value = new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1];
  if (value === undefined) throw new Error(`no metric ${name} in:\n${text}`);
  return Number(value);
}

describe('a sequencer process, through its HTTP port', () => {
  let leader: SequencerProcess;
  let standby: SequencerProcess;

  it('serves once it leads, and counts what it chains and signs', async () => {
    leader = await spawn();
    await until(async () => (await metric(leader, 'governance_sequencer_leading')) === 1, 10_000, 'to lead');
    expect(await health(leader)).toEqual({ status: 200, body: { status: 'SERVING', problems: [] } });
    expect(await metric(leader, 'governance_sequencer_leases_acquired_total')).toBe(1);

    const store = new RedisLedgerStore({ url: redis.url, log: deployment.log });
    const writer = await createLedgerWriter({ store, ...deployment.producer });
    try {
      const events = [1, 2, 3].map((i) =>
        testEvent(i, 'execution.denied', {
          producer: deployment.producer.subject,
          time: formatMillis(Date.now()),
        }),
      );
      // One call, one producer batch: one record of three events.
      expect(await writer.appendAndWait(events, 10_000)).toEqual(
        [0, 1, 2].map((index) => ({ seq: 1, index })),
      );
      await until(
        async () => (await metric(leader, 'governance_sequencer_last_checkpoint_size')) === 1,
        10_000,
        'a head',
      );
      const [record] = await store.records(1, 1);
      expect((JSON.parse(record!.text) as ChainRecord).events).toHaveLength(3);
    } finally {
      await writer.close();
      await store.close();
    }
    // A record is a batch: one chained.
    expect(await metric(leader, 'governance_sequencer_records_chained_total')).toBe(1);
    expect(await metric(leader, 'governance_sequencer_entries_rejected_total')).toBe(0);
    expect(await metric(leader, 'governance_sequencer_checkpoints_published_total')).toBeGreaterThanOrEqual(
      1,
    );
    const signedAt = await metric(leader, 'governance_sequencer_last_checkpoint_timestamp_seconds');
    expect(Math.abs(signedAt - Date.now() / 1000)).toBeLessThan(30);
    // Process metrics, as the other services have them.
    expect(await metric(leader, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect((await fetch(`${leader.url}/v1/anything`)).status).toBe(404);
  });

  it('serves while it stands by for the lease', async () => {
    standby = await spawn();
    await until(async () => (await health(standby)).status === 200, 10_000, 'the standby to serve');
    expect(await metric(standby, 'governance_sequencer_leading')).toBe(0);
    expect(await metric(standby, 'governance_sequencer_records_chained_total')).toBe(0);
    expect(await metric(standby, 'governance_sequencer_last_checkpoint_timestamp_seconds')).toBe(0);
  });

  it('is NOT_SERVING, naming why, while Redis does not answer, and serves again after', async () => {
    redis.process!.kill('SIGSTOP');
    try {
      for (const p of [leader, standby]) {
        await until(async () => (await health(p)).status === 503, 5 * LEASE_MS, 'NOT_SERVING');
        expect((await health(p)).body).toEqual({
          status: 'NOT_SERVING',
          problems: [expect.stringMatching(/^the ledger store has not answered for \d+ ms$/)],
        });
      }
    } finally {
      redis.process!.kill('SIGCONT');
    }
    for (const p of [leader, standby])
      await until(async () => (await health(p)).status === 200, 10 * LEASE_MS, 'SERVING again');
    // Right after the pause both may still believe they lead: the one whose lease lapsed learns
    // it at its next renewal (its commits are fenced meanwhile). Then exactly one leads.
    const leading = () =>
      Promise.all([leader, standby].map((p) => metric(p, 'governance_sequencer_leading')));
    await until(async () => (await leading()).sort().join() === '0,1', 10 * LEASE_MS, 'exactly one leading');
  });

  it('stops on SIGTERM with exit code 0', async () => {
    for (const p of [standby, leader]) {
      const exited = new Promise<number | null>((resolve) => p.child.once('exit', resolve));
      p.child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  });
});
