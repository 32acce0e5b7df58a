// Runs the LedgerStore contract against the in-memory store and against a real Redis (on Sentinel
// and Cluster: test/store/redis-connection.test.ts).
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll } from 'vitest';
import { MemoryLedgerStore } from '../../store/ledger-memory.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { ledgerStoreContract, redisLedgerFixture } from '../store/ledger-contract.js';

ledgerStoreContract('memory', async () => {
  const store = new MemoryLedgerStore('test-log');
  return { store, other: () => store, cleanup: async () => undefined };
});

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

ledgerStoreContract('redis', async () =>
  redisLedgerFixture({
    url: redis.url,
    log: 'test-log',
    prefix: `${redis.prefix}${randomBytes(4).toString('hex')}:`,
  }),
);
