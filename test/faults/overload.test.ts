// Overload (issue #18, authz-server/overload.ts): a burst far above what an enforcement point may
// take at once is answered, not queued — what it cannot take is shed overload.shed before any
// decision, recorded in the ledger like any denial — no artifact is allowed twice, and once the
// burst is over the path allows again by itself, without a ledger halt. The shape is asserted,
// not the speed: a small in-flight limit makes the burst an overload on any machine.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Cluster, type CheckOutcome } from '../support/cluster.js';
import { startRedis, type TestRedis } from '../support/redis.js';

/** Artifacts of the burst, each presented twice at once, so that a double allow would show. */
const ARTIFACTS = 120;
/** How long the path may take to allow again after the burst; generous for a loaded CI machine. */
const RECOVERY_BOUND_MS = 20_000;

let redis: TestRedis;
let cluster: Cluster;
beforeAll(async () => {
  redis = await startRedis({ local: true, appendonly: true, appendfsync: 'always' });
  cluster = await Cluster.start({ redis, overload: { maxInFlight: 4, minInFlight: 2 } });
});
afterAll(async () => {
  await cluster?.stop();
  await redis?.stop();
});

const countBy = (outcomes: CheckOutcome[]) =>
  outcomes.reduce<Record<string, number>>((n, o) => {
    const key = o.decision === 'deny' ? (o.reason ?? 'unnamed') : o.decision;
    n[key] = (n[key] ?? 0) + 1;
    return n;
  }, {});

it('sheds a burst it cannot take (overload.shed), allows nothing twice, and allows again after', async () => {
  const pool = await cluster.issue(ARTIFACTS);
  await cluster.settleLedger();
  const replica = cluster.replicas[0]!;
  const artifacts = [...pool, ...pool];
  const outcomes = await Promise.all(artifacts.map((artifact) => cluster.check(replica, { artifact })));
  const counts = countBy(outcomes);

  // Every Check answered with a decision: none left to time out or fail.
  expect(counts.error ?? 0, JSON.stringify(counts)).toBe(0);
  expect(counts['overload.shed'] ?? 0, JSON.stringify(counts)).toBeGreaterThan(0);
  // Every denial names why: shed, the second presentation of a spent artifact, or a store that
  // missed the deadline (fail closed; on a loaded machine).
  const named = new Set([
    'allow',
    'overload.shed',
    'artifact.replayed',
    'state.unavailable',
    'ledger.unavailable',
  ]);
  expect(
    Object.keys(counts).filter((k) => !named.has(k)),
    JSON.stringify(counts),
  ).toEqual([]);
  // No artifact allowed twice.
  const allowedTimes = new Map<string, number>();
  outcomes.forEach((o, i) => {
    if (o.decision === 'allow') allowedTimes.set(artifacts[i]!, (allowedTimes.get(artifacts[i]!) ?? 0) + 1);
  });
  expect([...allowedTimes.values()].every((n) => n === 1)).toBe(true);

  // After the burst the path allows again: each artifact no Check spent is allowed, once.
  const shedOnly = pool.filter((a) =>
    outcomes.every((o, i) => artifacts[i] !== a || o.reason === 'overload.shed'),
  );
  const unspent = shedOnly.slice(0, 5);
  const [fresh] = await cluster.issue(1);
  const ended = Date.now();
  const later: CheckOutcome[] = [];
  for (const artifact of [...unspent, fresh!]) {
    let outcome: CheckOutcome;
    do {
      outcome = await cluster.check(replica, { artifact });
      later.push(outcome);
      // Shed Checks spend nothing: the same artifact is presented again.
    } while (outcome.reason === 'overload.shed' && Date.now() - ended < RECOVERY_BOUND_MS);
    expect(outcome, JSON.stringify(countBy(later))).toEqual({ decision: 'allow', reason: undefined });
  }
  // No halt on the way back: what was not allowed was shed.
  expect(later.filter((o) => o.decision === 'deny' && o.reason !== 'overload.shed')).toEqual([]);

  // Every shed Check is a denial in the ledger, with its reason.
  await cluster.settleLedger();
  const shedInLedger = (await cluster.ledgerEvents()).filter(
    (e) => e.type === 'execution.denied' && e.reason === 'overload.shed',
  ).length;
  expect(shedInLedger).toBe(
    (counts['overload.shed'] ?? 0) + later.filter((o) => o.reason === 'overload.shed').length,
  );
  expect((await cluster.verifyLedger()).failures).toEqual([]);
});
