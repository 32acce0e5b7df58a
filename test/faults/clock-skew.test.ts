// The enforcement points' clocks skewed beyond the 5 s allowance, forward and back, under load
// (test/support/clock-shim.ts offsets Date.now in the server processes; Redis keeps true time).
// Forward, the authority's heartbeat looks stale: everything is denied issuer.unavailable (or
// ledger.unavailable, when a pending batch looks old). Back, every fresh artifact looks not yet
// valid: artifact.expired. Once the clocks are right again, allows resume by themselves.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { base64urlDecode, utf8Decode } from '../../core/encoding.js';
import { parseSeconds } from '../../core/time.js';
import { Cluster, FAULT_MODELS } from '../support/cluster.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { expectSurvived, runFaultScenario, type Fault, type ScenarioOptions } from './scenario.js';

const SKEW_ALLOWANCE_S = 5; // clockSkewSeconds in the dev deployment's authz.yaml

let redis: TestRedis;
let cluster: Cluster;
beforeAll(async () => {
  redis = await startRedis({ local: true, appendonly: true, appendfsync: 'always' });
  cluster = await Cluster.start({ redis, replicas: 2, clockShim: true });
});
afterAll(async () => {
  await cluster?.stop();
  await redis?.stop();
});

const setSkew = (ms: number) => Promise.all(cluster.replicas.map((r) => r.setClockOffset(ms)));

function skew(name: string, offsetMs: number, reasons: string[]): Fault {
  return {
    name,
    inject: async () => {
      await setSkew(offsetMs);
      return Date.now();
    },
    heal: async () => {
      await setSkew(0);
    },
    reasons,
  };
}

const options: ScenarioOptions = { faultMs: 4000, ledgerReachable: true };

it('denies every Check while the clocks are 60 s ahead, and recovers when they are right', async () => {
  const fault = skew('clock-forward-60s', 60_000, ['issuer.unavailable', 'ledger.unavailable']);
  expectSurvived(await runFaultScenario(cluster, fault, options), fault, options);
});

it('denies every Check while the clocks are 60 s behind, and recovers when they are right', async () => {
  // The authority's heartbeat is then in this clock's future: the view is stale, nothing is decided.
  const fault = skew('clock-back-60s', -60_000, ['issuer.unavailable']);
  expectSurvived(await runFaultScenario(cluster, fault, options), fault, options);
});

describe('an artifact expired in true time, presented with the clock set back beyond the allowance', () => {
  const path = `/v1/models/${FAULT_MODELS.shortLived.model}:invoke`;
  let artifact: string | undefined;
  let nbfMs = 0;

  it('is denied artifact.expired while the clock is right', async () => {
    [artifact] = await cluster.issue(1, FAULT_MODELS.shortLived.model);
    const { nbf, exp } = JSON.parse(utf8Decode(base64urlDecode(artifact!)!)!) as { nbf: string; exp: string };
    nbfMs = parseSeconds(nbf)! * 1000;
    const expiredAt = (parseSeconds(exp)! + SKEW_ALLOWANCE_S + 2) * 1000;
    await new Promise((r) => setTimeout(r, expiredAt - Date.now()));
    expect(await cluster.check(cluster.replicas[0]!, { artifact, path })).toEqual({
      decision: 'deny',
      reason: 'artifact.expired',
    });
  });

  // Once a fail-open: the view bounded the heartbeat's age from above only, so after the clock
  // jumped back the last heartbeat looked fresh and an expired artifact was allowed. A heartbeat
  // more than the allowance in the future now makes the view stale (registry-view.ts freshness).
  it('is denied when the clock is set back to its nbf (beyond the allowance)', async () => {
    const replica = cluster.replicas[0]!;
    const back = nbfMs - Date.now();
    expect(-back).toBeGreaterThan(SKEW_ALLOWANCE_S * 1000);
    try {
      await replica.setClockOffset(back);
      expect((await cluster.check(replica, { artifact, path })).decision).toBe('deny');
    } finally {
      await replica.setClockOffset(0);
    }
  });
});
