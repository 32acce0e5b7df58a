// Races between enforcement-point processes sharing one Redis: one single-use artifact
// presented 64 times at once is allowed exactly once, and a Check retried by Envoy with the
// same request id inside the retry window gets the same decision; a bounded artifact (max N)
// presented 200 times at once is allowed exactly N times. The ledger then holds exactly one
// use per allow.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactIdOf, Cluster, FAULT_MODELS, newRequestId, type CheckOutcome } from '../support/cluster.js';
import { startRedis, type TestRedis } from '../support/redis.js';

const RETRY_WINDOW_MS = 1000; // requestIdRetryWindowMs, the enforcement point's default

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

/** `count` presentations of one artifact at once, alternating between the two processes. */
async function presentAtOnce(artifact: string, count: number, path?: string): Promise<Presentation[]> {
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const requestId = newRequestId();
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
  for (const event of await cluster.ledgerEvents()) {
    if (event.type !== 'authorization.consumed') continue;
    byArtifact.set(event.artifact_id!, [...(byArtifact.get(event.artifact_id!) ?? []), event.request_id!]);
  }
  return byArtifact;
}

describe('single use across two enforcement points', () => {
  const ROUNDS = 16;
  const PRESENTATIONS = 64;

  it(`allows each of ${ROUNDS} artifacts exactly once out of ${PRESENTATIONS} simultaneous presentations; retries get the same decision`, async () => {
    const artifacts = await cluster.issue(ROUNDS);
    /** Per artifact: the request id that won its use, and how many times it was allowed (retries too). */
    const winners = new Map<string, { requestId: string; allows: number }>();
    let retried = 0;
    for (const [round, artifact] of artifacts.entries()) {
      const { allowed, missed, replayed, others } = outcomes(await presentAtOnce(artifact, PRESENTATIONS));
      expect(others.map((p) => p.outcome)).toEqual([]);
      expect(allowed.length).toBeLessThanOrEqual(1);
      expect(allowed.length + missed.length).toBe(1);
      expect(replayed.length).toBe(PRESENTATIONS - 1);
      const winner = allowed[0] ?? missed[0]!;
      const record = { requestId: winner.requestId, allows: allowed.length };
      winners.set(artifactIdOf(artifact), record);
      if (allowed.length === 0 || Date.now() - winner.answeredAt > RETRY_WINDOW_MS / 2) continue;

      // Envoy retries on the other process, with the same request id, inside the window.
      const retry = (p: Presentation) =>
        cluster.check(cluster.replicas[1 - p.replica]!, { artifact, requestId: p.requestId });
      expect(await retry(winner)).toEqual({ decision: 'allow', reason: undefined });
      record.allows++;
      expect(await retry(replayed[0]!)).toEqual({ decision: 'deny', reason: 'artifact.replayed' });
      retried++;
      if (round >= ROUNDS - 2) {
        // Past the window the same request id is a replay like any other.
        await new Promise((r) => setTimeout(r, RETRY_WINDOW_MS + 200));
        expect(await retry(winner)).toEqual({ decision: 'deny', reason: 'artifact.replayed' });
      }
    }
    const allowedRounds = [...winners.values()].filter((w) => w.allows > 0).length;
    console.log(
      `[faults] single use: ${ROUNDS} x ${PRESENTATIONS} presentations, ${allowedRounds} allowed once, ${ROUNDS - allowedRounds} winners past the deadline, 0 allowed twice; ${retried} retries matched`,
    );
    expect(allowedRounds).toBeGreaterThanOrEqual(ROUNDS - 1);
    expect(retried).toBeGreaterThanOrEqual(ROUNDS - 2);
    // Only the winning request ever used the artifact, once per allow (an allowed retry is
    // recorded again); a winner denied at the deadline may have been recorded (its append landed).
    const consumed = await consumedByArtifact();
    for (const [artifactId, winner] of winners) {
      const requestIds = consumed.get(artifactId) ?? [];
      expect(requestIds.every((id) => id === winner.requestId)).toBe(true);
      if (winner.allows > 0) expect(requestIds.length).toBe(winner.allows);
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
    const allowedIds = new Map<string, Set<string>>();
    let missedTotal = 0;
    for (const artifact of artifacts) {
      const { allowed, missed, replayed, others } = outcomes(
        await presentAtOnce(artifact, PRESENTATIONS, `/v1/models/${model}:invoke`),
      );
      expect(others.map((p) => p.outcome)).toEqual([]);
      expect(allowed.length + missed.length).toBe(max);
      expect(replayed.length).toBe(PRESENTATIONS - max);
      missedTotal += missed.length;
      allowedIds.set(artifactIdOf(artifact), new Set(allowed.map((p) => p.requestId)));
    }
    console.log(
      `[faults] bounded use: ${ARTIFACTS} x ${PRESENTATIONS} presentations, ${ARTIFACTS * max - missedTotal} allowed, ${missedTotal} uses past the deadline, 0 over max=${max}`,
    );
    // A "missed" use was spent by a Check answered DENY because the 200 ms decision deadline
    // passed first (200 presentations at once on two processes sharing two cores): fail-closed,
    // never over max — the assertions above are the safety ones. How many miss depends on the
    // machine's speed, so this only checks that the deadline is the exception, not the rule.
    expect(missedTotal).toBeLessThan((ARTIFACTS * max) / 4);
    const consumed = await consumedByArtifact();
    for (const [artifactId, requestIds] of allowedIds) {
      const recorded = new Set(consumed.get(artifactId) ?? []);
      for (const id of requestIds) expect(recorded.has(id)).toBe(true);
      expect(recorded.size).toBeLessThanOrEqual(max);
    }
  });
});
