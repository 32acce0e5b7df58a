// The whole production path, each service its own process on a real Redis: the authority issues
// over its real HTTP API, the enforcement point allows the artifact once and denies its replay,
// and a third party verifies the operation's lineage from the public proof endpoints alone, with
// the portable verifier and nothing but the pinned root key.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// The third party's whole toolkit is the portable verifier library.
import {
  base64urlDecode,
  ledgerKeysOf,
  lineageOf,
  portableCrypto,
  verifyKeyRecord,
  verifyLineageProof,
  type KeyRecord,
} from '../../core/portable.js';
import { DEV_ROOT_KID } from '../../devkit/dev-deployment.js';
import { artifactIdOf, Cluster } from '../support/cluster.js';
import { startRedis, type TestRedis } from '../support/redis.js';

let redis: TestRedis;
let cluster: Cluster;

beforeAll(async () => {
  redis = await startRedis();
  cluster = await Cluster.start({ redis });
}, 120_000);

afterAll(async () => {
  await cluster?.stop();
  await redis?.stop();
});

async function proof(path: string): Promise<unknown> {
  const response = await cluster.authorityFetch(path);
  expect(response.status, path).toBe(200);
  return response.json();
}

describe('authority → enforcement point → ledger → third-party verification', () => {
  it('allows a freshly issued artifact once, denies its replay, and proves the lineage', async () => {
    const [header] = await cluster.issue(1);
    const replica = cluster.replicas[0]!;

    const first = await cluster.check(replica, { artifact: header });
    expect(first).toMatchObject({ decision: 'allow' });
    const replay = await cluster.check(replica, { artifact: header });
    expect(replay).toMatchObject({ decision: 'deny', reason: 'artifact.replayed' });

    await cluster.settleLedger();
    // A third party pins only the root key; every other key comes from the proof endpoint and
    // is accepted only with a record the root signed.
    const issuers = (await proof('/v1/proof/issuers')) as { keys: KeyRecord[] };
    const roots = new Map([[DEV_ROOT_KID, base64urlDecode(cluster.deployment.rootPublicKey)!]]);
    const certified = issuers.keys.map((record) => verifyKeyRecord(portableCrypto, record, roots));

    const id = artifactIdOf(header!);
    const lineage = lineageOf(id);
    // Every record holding an event of the lineage up to the checkpoint, each with its inclusion
    // proof, and the lineage index proof that there are no others; throws unless all of it
    // verifies. The events are found inside those records (batches) by lineage_prev.
    const result = verifyLineageProof(
      portableCrypto,
      await proof(`/v1/proof/lineage/${lineage.slice('lineage://op/'.length)}`),
      { keys: ledgerKeysOf(certified) },
    );
    expect(result.failures).toEqual([]);
    const types = result.events.map((e) => e.event.type);
    expect(types.slice(0, 3)).toEqual([
      'authorization.issued',
      'authorization.consumed',
      'admission.granted',
    ]);
    expect(result.events.every((e) => e.event.artifact_id === id && e.event.lineage === lineage)).toBe(true);
    for (const { seq, index, event } of result.events)
      expect(result.records.find((r) => r.seq === seq)?.events[index]).toEqual(event);
  });
});
