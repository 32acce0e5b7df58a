// Races between enforcement-point processes sharing one Redis: one single-use artifact
// presented 64 times at once is allowed exactly once — whether the presentations carry one
// request id (a caller can choose x-request-id), a few, or one each — and never again, whatever
// request id a later presentation carries; a bounded artifact (max N) presented 200 times at
// once is allowed exactly N times. The ledger then holds exactly one use per allow.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chainedEvents } from '../ledger/support.js';
import { artifactIdOf, Cluster, FAULT_MODELS, newRequestId, type CheckOutcome } from '../support/cluster.js';
import { startRedis, type TestRedis } from '../support/redis.js';

let redis: TestRedis;
let cluster: Cluster;
beforeAll(async () => {
  redis = await startRedis({ local: true, appendonly: true, appendfsync: 'always' });
  cluster = await Cluster.start({ redis, replicas: 2 });
  // The first Checks of a process load the Redis scripts and warm its code paths.
  for (const replica of cluster.replicas) {
    for (const artifact of await cluster.issue(3)) await cluster.check(replica, { artifact });
  }
});
afterAll(async () => {
  await cluster?.stop();
  await redis?.stop();
});

interface Presentation {
  requestId: string;
  replica: number;
  outcome: CheckOutcome;
  answeredAt: number;
}

/** How the presentations of one burst choose their x-request-id. */
type RequestIds = 'one each' | 'all the same' | 'four shared';

/** `count` presentations of one artifact at once, alternating between the two processes. */
async function presentAtOnce(
  artifact: string,
  count: number,
  ids: RequestIds = 'one each',
  path?: string,
): Promise<Presentation[]> {
  const shared = Array.from({ length: ids === 'all the same' ? 1 : 4 }, newRequestId);
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const requestId = ids === 'one each' ? newRequestId() : shared[i % shared.length]!;
      const replica = i % 2;
      const outcome = await cluster.check(cluster.replicas[replica]!, {
        artifact,
        requestId,
        ...(path ? { path } : {}),
      });
      return { requestId, replica, outcome, answeredAt: Date.now() };
    }),
  );
}

/**
 * The presentations of one artifact by outcome. The use goes to whoever reaches Redis first; a
 * winner whose answer misses the 200 ms decision deadline (on two cores shared with five
 * other processes) is denied naming the store it waited on — fail closed — and that is all
 * the tests tolerate besides artifact.replayed.
 */
function outcomes(presentations: Presentation[]) {
  const of = (test: (p: Presentation) => boolean) => presentations.filter(test);
  const allowed = of((p) => p.outcome.decision === 'allow');
  const missed = of((p) => ['state.unavailable', 'ledger.unavailable'].includes(p.outcome.reason ?? ''));
  const replayed = of((p) => p.outcome.reason === 'artifact.replayed');
  return {
    allowed,
    missed,
    replayed,
    others: of((p) => !allowed.includes(p) && !missed.includes(p) && !replayed.includes(p)),
  };
}

/** Request ids of the authorization.consumed events of each artifact, once the chain has settled and verified. */
async function consumedByArtifact(): Promise<Map<string, string[]>> {
  await cluster.settleLedger();
  const verified = await cluster.verifyLedger();
  expect(verified.failures).toEqual([]);
  const byArtifact = new Map<string, string[]>();
  // Every chained event: a record holds a producer batch of them.
  for (const { event } of await chainedEvents(cluster.ledger)) {
    if (event.type !== 'authorization.consumed') continue;
    byArtifact.set(event.artifact_id!, [...(byArtifact.get(event.artifact_id!) ?? []), event.request_id!]);
  }
  return byArtifact;
}

describe('single use across two enforcement points', () => {
  const ROUNDS = 18;
  const PRESENTATIONS = 64;
  const MODES: RequestIds[] = ['all the same', 'four shared', 'one each'];

  it(`allows each of ${ROUNDS} artifacts exactly once out of ${PRESENTATIONS} simultaneous presentations, whatever their request ids, and never again`, async () => {
    const artifacts = await cluster.issue(ROUNDS);
    /** Per artifact: the presentation that won its use, and how many times it was allowed. */
    const winners = new Map<string, { requestId: string; allows: number }>();
    for (const [round, artifact] of artifacts.entries()) {
      const mode = MODES[round % MODES.length]!;
      const { allowed, missed, replayed, others } = outcomes(
        await presentAtOnce(artifact, PRESENTATIONS, mode),
      );
      expect(others.map((p) => p.outcome)).toEqual([]);
      expect(allowed.length).toBeLessThanOrEqual(1);
      // A winner denied at the deadline while its use was in flight is given the use back, which
      // another presentation of the burst may then win: still at most one allow.
      expect(allowed.length + missed.length).toBeGreaterThanOrEqual(1);
      expect(replayed.length).toBe(PRESENTATIONS - allowed.length - missed.length);
      const winner = allowed[0] ?? missed[0]!;
      winners.set(artifactIdOf(artifact), { requestId: winner.requestId, allows: allowed.length });
      if (allowed.length === 0) continue;
      // Presented again on either process, with the winner's own request id or another: a replay.
      for (const replica of cluster.replicas) {
        for (const requestId of [winner.requestId, newRequestId()]) {
          expect(await cluster.check(replica, { artifact, requestId })).toEqual({
            decision: 'deny',
            reason: 'artifact.replayed',
          });
        }
      }
    }
    const allowedRounds = [...winners.values()].filter((w) => w.allows > 0).length;
    console.log(
      `[faults] single use: ${ROUNDS} x ${PRESENTATIONS} presentations (${MODES.join(', ')} request ids), ${allowedRounds} allowed once, ${ROUNDS - allowedRounds} winners past the deadline, 0 allowed twice`,
    );
    expect(allowedRounds).toBeGreaterThanOrEqual(ROUNDS - 2);
    // Only the winning presentation ever used the artifact, once; a winner denied at the deadline
    // in its ledger stage may have been recorded (its append landed), one denied in its use stage
    // was given its use back and recorded nothing.
    const consumed = await consumedByArtifact();
    for (const [artifactId, winner] of winners) {
      const requestIds = consumed.get(artifactId) ?? [];
      expect(requestIds.every((id) => id === winner.requestId)).toBe(true);
      if (winner.allows > 0) expect(requestIds.length).toBe(1);
      else expect(requestIds.length).toBeLessThanOrEqual(1);
    }
  });
});

describe('bounded use across two enforcement points', () => {
  const ARTIFACTS = 5;
  const PRESENTATIONS = 200;
  const { model, max } = FAULT_MODELS.bounded;

  it(`allows each of ${ARTIFACTS} artifacts exactly max=${max} times out of ${PRESENTATIONS} simultaneous presentations`, async () => {
    const artifacts = await cluster.issue(ARTIFACTS, model);
    const allowedIds = new Map<string, string[]>();
    let missedTotal = 0;
    for (const artifact of artifacts) {
      const { allowed, missed, replayed, others } = outcomes(
        await presentAtOnce(artifact, PRESENTATIONS, 'four shared', `/v1/models/${model}:invoke`),
      );
      expect(others.map((p) => p.outcome)).toEqual([]);
      expect(allowed.length).toBeLessThanOrEqual(max);
      expect(allowed.length + missed.length).toBeGreaterThanOrEqual(max);
      expect(replayed.length).toBe(PRESENTATIONS - allowed.length - missed.length);
      missedTotal += missed.length;
      allowedIds.set(
        artifactIdOf(artifact),
        allowed.map((p) => p.requestId),
      );
    }
    console.log(
      `[faults] bounded use: ${ARTIFACTS} x ${PRESENTATIONS} presentations (four shared request ids), ${missedTotal} past the deadline, none over max=${max}`,
    );
    // A "missed" presentation won a use but was answered DENY because the 200 ms decision deadline
    // passed first (200 presentations at once on two processes sharing two cores): fail-closed,
    // never over max — the assertions above are the safety ones. How many miss depends on the
    // machine's speed, so this only checks that the deadline is the exception, not the rule.
    expect(missedTotal).toBeLessThan((ARTIFACTS * max) / 4);
    const consumed = await consumedByArtifact();
    for (const [artifactId, requestIds] of allowedIds) {
      const recorded = consumed.get(artifactId) ?? [];
      for (const id of requestIds) expect(recorded).toContain(id);
      expect(recorded.length).toBeGreaterThanOrEqual(requestIds.length);
      expect(recorded.length).toBeLessThanOrEqual(max);
    }
  });
});
