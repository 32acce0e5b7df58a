// Runs the LedgerStore contract against the in-memory store and against a real Redis.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll } from 'vitest';
import { MemoryLedgerStore } from '../../store/ledger-memory.js';
import { RedisLedgerStore } from '../../store/ledger-redis.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { ledgerStoreContract } from '../store/ledger-contract.js';

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

ledgerStoreContract('redis', async () => {
  const options = {
    url: redis.url,
    log: 'test-log',
    prefix: `${redis.prefix}${randomBytes(4).toString('hex')}:`,
  };
  const stores = [new RedisLedgerStore(options)];
  return {
    store: stores[0]!,
    other: () => {
      const other = new RedisLedgerStore(options);
      stores.push(other);
      return other;
    },
    cleanup: async () => {
      await Promise.all(stores.map((s) => s.close()));
    },
  };
});
