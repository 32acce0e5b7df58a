// The enforcement point on a real Redis: registry, use state and ledger ingest in Redis, keys
// and artifacts published and signed the way the authority does it, replicas sharing one
// Redis, and Redis going away under load and coming back.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { decodeArtifact, encodeArtifact, lineageOf } from '../../core/artifact.js';
import type { LedgerEvent } from '../../core/event.js';
import { createLedgerWriter } from '../../ledger/writer.js';
import type { LedgerWriter } from '../../ledger/types.js';
import { RedisLedgerStore } from '../../store/ledger-redis.js';
import { closeRedis, connectRedis, type RedisClient } from '../../store/redis-connection.js';
import { RedisRegistryStore } from '../../store/registry-redis.js';
import { openRedisUseState } from '../../store/redis-stores.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { deniedBody, fixture, type CheckAnswer } from './support/envoy-client.js';
import { eventually, requestId, startHarness, type Harness } from './support/harness.js';
import { World } from './support/world.js';

let redis: TestRedis;
const open: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  // Our own server with an always-synced AOF, so a restart keeps the registry and the nonces.
  redis = await startRedis({ local: true, appendonly: true, appendfsync: 'always' });
});
afterAll(async () => {
  await redis?.stop();
});
afterEach(async () => {
  for (const item of open.splice(0).reverse()) await item.close();
});

interface Replica {
  harness: Harness;
  ledgerStore: RedisLedgerStore;
  writer: LedgerWriter;
}

let testPrefix = '';
let tests = 0;
beforeEach(() => {
  testPrefix = `${redis.prefix}${++tests}:`;
});

async function client(): Promise<RedisClient> {
  const c = await connectRedis({ mode: 'standalone', url: redis.url, keyPrefix: testPrefix });
  open.push({ close: () => closeRedis(c) });
  return c;
}

/** One enforcement point replica with its own Redis connections, as main.ts wires it. */
async function replica(world?: World, commitWindowMs = 60_000): Promise<Replica> {
  const c = await client();
  if (world === undefined) {
    world = new World(new RedisRegistryStore(c));
    await world.publish();
  }
  const ledgerStore = new RedisLedgerStore({ url: redis.url, log: 'authz-test', prefix: testPrefix });
  const writer = await createLedgerWriter({
    store: ledgerStore,
    kid: world.producerKid,
    privateKey: world.producerKey,
    commitWindowMs,
    // No sequencer runs here: nothing is chained or proven, whatever audit key would sign.
    checkpoints: { auditKeys: () => new Map() },
  });
  const use = await openRedisUseState({
    redis: { mode: 'standalone', url: redis.url, keyPrefix: testPrefix },
  });
  open.push(use);
  const harness = await startHarness({ world, useState: use.useState, ledger: writer });
  // After a Redis restart the writer's commit subscription may never return, so its close is
  // bounded here (reported to the ledger owners; it is not part of what these tests check).
  const closeWriter = () => Promise.race([writer.close(), new Promise<void>((r) => setTimeout(r, 2000))]);
  open.push({ close: () => ledgerStore.close() }, { close: closeWriter }, harness);
  return { harness, ledgerStore, writer };
}

/** Every event the replica's writer put into the ingest stream. */
async function ingested(r: Replica): Promise<LedgerEvent[]> {
  const entries = await r.ledgerStore.readIngest('0-0', 1000, 0);
  return entries.flatMap((e) => (JSON.parse(e.batch) as { events: LedgerEvent[] }).events);
}

function check(h: Harness, artifact: string, id = requestId()): Promise<CheckAnswer> {
  return h.client.check(fixture('model-invoke', { artifact, 'request-id': id }));
}

describe('on a real Redis', () => {
  it('allows an artifact published and signed as the authority does, with its events in the Redis ingest stream', async () => {
    const a = await replica();
    const artifact = await a.harness.world.artifact();
    const answer = await check(a.harness, encodeArtifact(artifact));
    expect(answer.okResponse).toBeDefined();
    const events = await ingested(a);
    expect(events.filter((e) => e.lineage === lineageOf(artifact.id)).map((e) => e.type)).toEqual([
      'authorization.consumed',
      'admission.granted',
    ]);
  });

  it('keeps single use atomic across replicas, whatever request id each presentation carries', async () => {
    const a = await replica();
    const b = await replica(a.harness.world);
    const artifact = await a.harness.world.issue();
    const id = requestId();
    expect((await check(a.harness, artifact, id)).okResponse).toBeDefined();
    expect(deniedBody(await check(b.harness, artifact, id)).reason).toBe('artifact.replayed');
    expect(deniedBody(await check(a.harness, artifact, id)).reason).toBe('artifact.replayed');
    expect(deniedBody(await check(b.harness, artifact)).reason).toBe('artifact.replayed');
  });

  it('gives back a use Redis took after the Check was denied (paused), so use state and ledger agree', async () => {
    const a = await replica();
    const artifact = await a.harness.world.issue();
    redis.process!.kill('SIGSTOP');
    let whilePaused: CheckAnswer;
    try {
      whilePaused = await check(a.harness, artifact);
    } finally {
      redis.process!.kill('SIGCONT');
    }
    expect(deniedBody(whilePaused).reason).toBe('state.unavailable');
    // Redis runs the queued use on resuming; its reply reaches the enforcement point, which gives
    // the use back: the artifact, never admitted, is still good for its one use.
    expect(
      await eventually(async () => (await check(a.harness, artifact)).okResponse !== undefined, 10_000),
    ).toBe(true);
    expect(deniedBody(await check(a.harness, artifact)).reason).toBe('artifact.replayed');
    expect(
      await eventually(async () =>
        (await ingested(a)).some(
          (e) => e.type === 'admission.granted' && e.artifact_id === decodeArtifact(artifact).artifact.id,
        ),
      ),
    ).toBe(true);
    const mine = (await ingested(a)).filter((e) => e.artifact_id === decodeArtifact(artifact).artifact.id);
    expect(mine.filter((e) => e.type === 'authorization.consumed')).toHaveLength(1);
    expect(mine.find((e) => e.type === 'execution.denied')?.reason).toBe('state.unavailable');
  });

  it('denies while Redis is stopped and recovers by itself when it is back', async () => {
    const a = await replica();
    const world = a.harness.world;
    const pump = setInterval(() => void world.heartbeat().catch(() => undefined), 300);
    open.push({ close: async () => clearInterval(pump) });
    expect((await check(a.harness, await world.issue())).okResponse).toBeDefined();

    const exited = new Promise((r) => redis.process!.once('exit', r));
    redis.process!.kill('SIGKILL');
    await exited;
    const whileDown = deniedBody(await check(a.harness, await world.issue()));
    // The use-state round trip is the first Redis call of a decision: it fails fast, no queueing.
    expect(whileDown.reason).toBe('state.unavailable');
    await redis.restart();

    expect(
      await eventually(
        async () => (await check(a.harness, await world.issue())).okResponse !== undefined,
        15_000,
      ),
    ).toBe(true);
  });

  it('halts (ledger.unavailable, NOT_SERVING) when appended events stay unchained past the commit window', async () => {
    const a = await replica(undefined, 300);
    expect((await check(a.harness, await a.harness.world.issue())).okResponse).toBeDefined();
    // No sequencer runs here, so nothing is ever chained and the commit lag passes the window.
    expect(await eventually(() => a.writer.halt()?.reason === 'ledger.unavailable')).toBe(true);
    expect(deniedBody(await check(a.harness, await a.harness.world.issue())).reason).toBe(
      'ledger.unavailable',
    );
    expect(a.harness.server.health()).toMatchObject({ serving: false });
  });
});
