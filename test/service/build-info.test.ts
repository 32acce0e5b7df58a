// governance_build_info: every service says which version of it runs, on which Node.
import { readFileSync } from 'node:fs';
import type { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { AuthorityMetrics } from '../../authority/metrics.js';
import { AuthzMetrics } from '../../authz-server/metrics.js';
import { SequencerMetrics } from '../../sequencer/metrics.js';
import type { SequencerStatus } from '../../sequencer/sequencer.js';
import { WitnessMetrics } from '../../witness/metrics.js';
import { PACKAGE_VERSION } from '../../service/package.js';

const version = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

describe('governance_build_info', () => {
  it.each<[string, () => Registry]>([
    [
      'authz-server',
      () =>
        new AuthzMetrics({
          ledgerCommitLagMs: () => 0,
          ledgerBatchesMissing: () => 0,
          registryAgesMs: () => ({ keysAgeMs: 0, revocationsAgeMs: 0 }),
          load: () => ({ inFlight: 0, limit: 1 }),
        }).registry,
    ],
    [
      'authority',
      () => new AuthorityMetrics({ ledger: { commitLagMs: () => 0, batchesMissing: () => 0 } }).registry,
    ],
    ['sequencer', () => new SequencerMetrics(() => ({}) as SequencerStatus).registry],
    ['witness', () => new WitnessMetrics().registry],
  ])('is 1 for %s, with the package version and Node', async (service, registry) => {
    const { values } = (await registry().getSingleMetric('governance_build_info')!.get()) as {
      values: { labels: Record<string, string>; value: number }[];
    };
    expect(values).toEqual([{ labels: { service, version, node: process.versions.node }, value: 1 }]);
    expect(PACKAGE_VERSION).toBe(version);
  });
});
