// GET /v1/proof/openings/<seq> (docs/spec/ledger.md §3.1): the openings of the committed members
// of a record's events, each with its event's index, served only to the authenticated identities
// the configuration lists; records and proofs stay public and committed.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeCrypto } from '../../core/crypto-node.js';
import { committedMember, verifyOpenings } from '../../core/redaction.js';
import type { Authority } from '../../authority/authority.js';
import { startHttpServer } from '../../authority/http.js';
import { TokenTable } from '../../authority/identity.js';
import type { RunningServer } from '../../authority/grpc.js';
import type { ChainRecord } from '../../core/event.js';
import { StoreLedgerReader } from '../../ledger/reader.js';
import { MemoryRegistryStore } from '../../store/registry-memory.js';
import { TestLedger, memoryStores, testEvent, until } from '../ledger/support.js';
import { GATEWAY, SECURITY, startAuthority } from './support/fixtures.js';
import { RecordingLedger } from './support/recording-ledger.js';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('the openings endpoint', () => {
  let ledger: TestLedger;
  let registry: MemoryRegistryStore;
  let authority: Authority;
  let server: RunningServer;
  let base: string;
  let receipts: { seq: number; index: number }[];

  beforeAll(async () => {
    ledger = new TestLedger(memoryStores());
    ledger.sequencer();
    const writer = await ledger.writer({ redact: ['identity', 'data'] });
    // One call, one batch: both events in record 1.
    receipts = await writer.appendAndWait([
      testEvent(1, 'execution.denied', { data: { patient: 'MRN-7' } }),
      testEvent(2, 'execution.denied', { data: { patient: 'MRN-8' } }),
    ]);
    await until(async () => (await ledger.store.tip()).signedSeq === 1, 10_000, 'a checkpoint');
    registry = new MemoryRegistryStore();
    authority = await startAuthority({
      registry,
      ledger: new RecordingLedger(),
      reader: new StoreLedgerReader(nodeCrypto, ledger.store),
      openingReaders: [SECURITY],
    });
    server = await startHttpServer(authority, {
      host: '127.0.0.1',
      port: 0,
      identity: {
        tokens: new TokenTable([
          { identity: SECURITY, sha256: sha256('security-token') },
          { identity: GATEWAY, sha256: sha256('gateway-token') },
        ]),
        trustDomains: [],
      },
    });
    base = `http://127.0.0.1:${server.port}`;
  });

  afterAll(async () => {
    await server?.close();
    const stopped = authority?.stop();
    registry?.close();
    await stopped;
    await ledger?.close();
  });

  const get = async (path: string, token?: string) => {
    const res = await fetch(`${base}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  type Served = { index: number; opening: unknown }[];
  const openingsOf = (served: Served, index: number) =>
    served.filter((o) => o.index === index).map((o) => o.opening);

  it('serves the openings to a listed reader by event index; they open the public, committed record', async () => {
    expect(receipts).toEqual([
      { seq: 1, index: 0 },
      { seq: 1, index: 1 },
    ]);
    const { status, body } = await get('/v1/proof/openings/1', 'security-token');
    expect(status).toBe(200);
    expect(body.seq).toBe(1);
    const served = body.openings as Served;
    expect(served.map((o) => o.index).sort()).toEqual([0, 0, 1, 1]);
    const record = ((await get('/v1/proof/ledger?from=1&to=1')).body.records as ChainRecord[])[0]!;
    expect(record.events).toHaveLength(2);
    for (const [index, patient] of ['MRN-7', 'MRN-8'].entries()) {
      const event = record.events[index]!;
      expect(committedMember(event, 'identity')).toMatch(/^commit:sha256:/);
      expect(JSON.stringify(event)).not.toContain(patient);
      const clear = verifyOpenings(nodeCrypto, event, openingsOf(served, index));
      expect(clear.data).toEqual({ patient });
    }
  });

  it("refuses one event's openings as those of another event of the record", async () => {
    const served = (await get('/v1/proof/openings/1', 'security-token')).body.openings as Served;
    const record = ((await get('/v1/proof/ledger?from=1&to=1')).body.records as ChainRecord[])[0]!;
    expect(() => verifyOpenings(nodeCrypto, record.events[1]!, openingsOf(served, 0))).toThrow();
  });

  it('refuses a caller who is not listed (403) or not authenticated (401)', async () => {
    expect(await get('/v1/proof/openings/1', 'gateway-token')).toMatchObject({
      status: 403,
      body: { reason: 'policy.denied' },
    });
    expect(await get('/v1/proof/openings/1')).toMatchObject({
      status: 401,
      body: { reason: 'identity.unauthenticated' },
    });
    expect((await get('/v1/proof/openings/0', 'security-token')).status).toBe(400);
  });

  it('serves none of an event once its openings are erased, and none at all once all are', async () => {
    for (const member of ['identity', 'data'])
      expect(await ledger.store.eraseOpening(1, 0, member)).toBe(true);
    expect(await ledger.store.eraseOpening(1, 0, 'identity')).toBe(false);
    const left = await get('/v1/proof/openings/1', 'security-token');
    expect(left.status).toBe(200);
    expect((left.body.openings as Served).map((o) => o.index)).toEqual([1, 1]);
    for (const member of ['identity', 'data'])
      expect(await ledger.store.eraseOpening(1, 1, member)).toBe(true);
    expect(await get('/v1/proof/openings/1', 'security-token')).toMatchObject({
      status: 200,
      body: { seq: 1, openings: [] },
    });
  });
});
