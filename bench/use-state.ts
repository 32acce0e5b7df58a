// Sequential consume() latency of the use-state stores: 10,000 calls per use mode, one at a time,
// on Redis over loopback and in memory. Prints figures; asserts nothing.
// Usage: npx tsx bench/use-state.ts   (REDIS_URL if set, else a redis-server from PATH)
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Command } from 'commander';
import type { UseTerms } from '../core/artifact.js';
import { crockford32Encode } from '../core/encoding.js';
import { closeRedis, connectRedis } from '../store/redis-connection.js';
import type { UseRequest, UseStateStore } from '../store/types.js';
import { MemoryUseStateStore } from '../store/use-state-memory.js';
import { RedisUseStateStore } from '../store/use-state-redis.js';
import { startRedisServer } from '../devkit/server-process.js';

new Command('bench/use-state.ts')
  .description(
    'sequential consume() latency of the use-state stores, in memory and on Redis ' +
      '(REDIS_URL if set, else a redis-server of its own); no options',
  )
  .parse();

const CALLS = 10_000;
const WARMUP = 1_000;
const NONCE = 'AAAAAAAAAAAAAAAAAAAAAA';

const newArtifactId = () => 'auth_' + crockford32Encode(randomBytes(20));

/** Each scenario makes the next presentation; every one of them is allowed. */
const SCENARIOS: Record<string, () => () => UseRequest> = {
  'single (a new artifact each call)': () => () => request(newArtifactId(), { mode: 'single', nonce: NONCE }),
  'bounded (one artifact, max 10^6)': () => {
    const id = newArtifactId();
    return () => request(id, { mode: 'bounded', nonce: NONCE, max: 1_000_000 });
  },
  'rate (one artifact, 10^6 per s)': () => {
    const id = newArtifactId();
    return () => request(id, { mode: 'rate', nonce: NONCE, rate: 1_000_000, window: 1 });
  },
};

function request(artifactId: string, terms: UseTerms): UseRequest {
  const nowMs = Date.now();
  return { artifactId, terms, nowMs, expiresAtMs: nowMs + 60_000 };
}

async function measure(store: UseStateStore, next: () => UseRequest): Promise<string> {
  for (let i = 0; i < WARMUP; i++) await store.consume(next());
  const latencies = new Float64Array(CALLS);
  const started = performance.now();
  for (let i = 0; i < CALLS; i++) {
    const t0 = performance.now();
    const allowed = await store.consume(next());
    latencies[i] = performance.now() - t0;
    if (!allowed) throw new Error(`presentation ${i} was refused`);
  }
  const totalMs = performance.now() - started;
  latencies.sort();
  const at = (q: number) => ((latencies[Math.min(CALLS - 1, Math.floor(q * CALLS))] ?? 0) * 1000).toFixed(0);
  return (
    `${totalMs.toFixed(0).padStart(6)} ms total, ${((totalMs * 1000) / CALLS).toFixed(1).padStart(6)} µs/call, ` +
    `${Math.round(CALLS / (totalMs / 1000))
      .toString()
      .padStart(7)} calls/s, p50 ${at(0.5)} µs, p99 ${at(0.99)} µs, max ${at(1)} µs`
  );
}

async function run(name: string, store: UseStateStore): Promise<void> {
  console.log(`${name}: ${CALLS.toLocaleString('en')} sequential consume() calls per mode`);
  for (const [scenario, make] of Object.entries(SCENARIOS)) {
    console.log(`  ${scenario.padEnd(36)} ${await measure(store, make())}`);
  }
}

/** REDIS_URL, or a throwaway redis-server (persistence off) on a free loopback port. */
async function redisTarget(): Promise<{ url: string; stop(): Promise<void> }> {
  if (process.env.REDIS_URL) return { url: process.env.REDIS_URL, stop: async () => undefined };
  const dir = mkdtempSync(join(tmpdir(), 'bench-use-state-'));
  const server = await startRedisServer(dir);
  return {
    url: server.url,
    async stop() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function main(): Promise<void> {
  console.log(`Node ${process.version}, ${process.platform}/${process.arch}`);
  const memory = new MemoryUseStateStore();
  try {
    await run('memory', memory);
  } finally {
    memory.close();
  }
  const { url, stop } = await redisTarget();
  try {
    const client = await connectRedis({
      mode: 'standalone',
      url,
      keyPrefix: `bench:${randomBytes(4).toString('hex')}:`,
    });
    try {
      const info = await client.info('server');
      const version = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
      await run(
        `redis ${version} at ${new URL(url).host} (one connection, Lua per call)`,
        new RedisUseStateStore(client),
      );
    } finally {
      await closeRedis(client);
    }
  } finally {
    await stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
