// Keeps the Check benchmark harness working: a short run against both baselines must produce
// complete, consistent figures, and a server that allows what must be denied must fail the run.
// Structure only, never speed: performance goals live in the benchmark output.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generatePrivateKey, keySigner } from '../../core/keys.js';
import { startFullPath } from '../../bench/lib/full-path.js';
import { h2loadVersion } from '../../bench/lib/h2load.js';
import { runBench, type BenchSettings, type ScenarioResult } from '../../bench/lib/run.js';
import {
  BUILTIN_HOST,
  BUILTIN_PRINCIPAL,
  builtinTemplate,
  startBaseline,
  type RunningTarget,
} from '../../bench/lib/targets.js';
import { DEFAULT_MIX, signingSource, TRAFFIC_KINDS } from '../../bench/lib/traffic.js';

const issuer = { kid: 'key:bench/smoke', key: generatePrivateKey() };
const template = builtinTemplate(BUILTIN_PRINCIPAL);
const source = signingSource(keySigner(issuer.kid, issuer.key), template);
const h2load = h2loadVersion();
let workDir: string;
let noop: RunningTarget;
let floor: RunningTarget;

function settings(overrides: Partial<BenchSettings> = {}): BenchSettings {
  return {
    shape: {
      principal: BUILTIN_PRINCIPAL,
      method: 'POST',
      path: '/v1/models/clinical-summary-v4:invoke',
      host: BUILTIN_HOST,
      contextExtensions: { ...template.env },
    },
    mix: DEFAULT_MIX,
    closedLoop: [8],
    openLoop: [200],
    warmupMs: 150,
    durationMs: 350,
    deadlineMs: 5000,
    connections: 1,
    maxRate: 5000,
    maxInFlight: 1000,
    h2load:
      h2load === undefined ? undefined : { clients: 1, streamsPerClient: 4, bodies: ['allow', 'missing'] },
    workDir,
    ...overrides,
  };
}

const onPath = (command: string) =>
  (process.env.PATH ?? '').split(':').some((dir) => dir !== '' && existsSync(join(dir, command)));

const total = (outcomes: ScenarioResult['outcomes']) =>
  TRAFFIC_KINDS.reduce((sum, kind) => sum + Object.values(outcomes[kind]).reduce((a, b) => a + b, 0), 0);

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'gov-bench-smoke-'));
  [noop, floor] = await Promise.all([startBaseline('noop', issuer), startBaseline('crypto-floor', issuer)]);
});

afterAll(async () => {
  await Promise.all([noop?.stop(), floor?.stop()]);
  rmSync(workDir, { recursive: true, force: true });
});

describe('Check benchmark harness', () => {
  it('drives both baselines closed and open loop with complete, consistent figures', async () => {
    const report = await runBench([floor.target, noop.target], source, settings({ h2load: undefined }));
    expect(report.failures).toEqual([]);
    expect(report.scenarios.map((s) => `${s.target} ${s.scenario}`)).toEqual([
      'crypto-floor closed c=8',
      'noop closed c=8',
      'crypto-floor open 200/s',
      'noop open 200/s',
    ]);
    for (const s of report.scenarios) {
      expect(s.requests.measured).toBeGreaterThan(0);
      expect(total(s.outcomes)).toBe(s.requests.warmup + s.requests.measured);
      expect(s.latency.count).toBe(s.requests.measured);
      expect(s.latency.p50Us).toBeGreaterThan(0);
      expect(s.latency.p50Us).toBeLessThanOrEqual(s.latency.p99Us);
      expect(s.latency.p99Us).toBeLessThanOrEqual(s.latency.maxUs);
      expect(s.invalidAllows).toBe(0);
      expect(s.unexpected).toEqual({});
      expect(s.serverCpuUsPerCheck).toBeGreaterThanOrEqual(0);
      expect(s.clientCpuUsPerCheck).toBeGreaterThan(0);
      expect(s.serverMemory!.rssKiB).toBeGreaterThan(0);
      if (s.mode.kind === 'open') expect(s.sendLag!.count).toBe(s.requests.measured);
    }
    const floorRun = report.scenarios[0]!;
    expect(Object.keys(floorRun.outcomes['bad-signature'])).toEqual(['artifact.signature.invalid']);
    expect(Object.keys(floorRun.outcomes.missing)).toEqual(['artifact.missing']);
    expect(Object.keys(report.scenarios[1]!.outcomes.missing)).toEqual(['allow']);
    // Open-loop throughput is the set rate: only closed loops are compared.
    expect(report.ratios.map((r) => `${r.scenario}: ${r.target} / ${r.baseline}`)).toEqual([
      'closed c=8: crypto-floor / noop',
    ]);
  });

  it.skipIf(h2load === undefined)('drives both baselines with h2load over a probed gRPC body', async () => {
    const report = await runBench(
      [floor.target, noop.target],
      source,
      settings({ closedLoop: [], openLoop: [] }),
    );
    expect(report.failures).toEqual([]);
    expect(report.h2load.map((h) => [h.target, h.body, h.probe])).toEqual([
      ['crypto-floor', 'allow', 'allow'],
      ['noop', 'allow', 'allow'],
      ['crypto-floor', 'missing', 'artifact.missing'],
      ['noop', 'missing', 'allow'],
    ]);
    for (const run of report.h2load) {
      expect(run.result!.requests.total).toBeGreaterThan(0);
      expect(run.result!.latency.count).toBe(run.result!.requests.succeeded);
      expect(run.serverCpuUsPerCheck).toBeGreaterThanOrEqual(0);
    }
  });

  it.skipIf(!onPath('redis-server'))(
    'drives the full path without allowing what must be denied',
    async () => {
      const full = await startFullPath(workDir, 'always');
      try {
        const fullSource = signingSource(keySigner(full.issuer.kid, full.issuer.key), template);
        const report = await runBench(
          [full.running.target],
          fullSource,
          settings({ openLoop: [], h2load: undefined }),
        );
        const [run] = report.scenarios;
        expect(report.failures).toEqual([]);
        expect(run!.invalidAllows).toBe(0);
        expect(total(run!.outcomes)).toBe(run!.requests.warmup + run!.requests.measured);
        expect(run!.latency.count).toBe(run!.requests.measured);
        expect(run!.outcomes.single.allow).toBeGreaterThan(0);
        // Under load the path may fail closed (state or ledger unavailable); it never allows a replay.
        expect(Object.keys(run!.outcomes.replay)).toContain('artifact.replayed');
        expect(Object.keys(run!.companionCpuUsPerCheck).sort()).toEqual(['redis', 'sequencer']);
      } finally {
        await full.running.stop();
      }
    },
  );

  it('fails the run when the server allows requests that must be denied', async () => {
    const allowsEverything = { ...noop.target, name: 'target', enforcement: 'full' as const };
    const report = await runBench([allowsEverything], source, settings({ openLoop: [], h2load: undefined }));
    const [run] = report.scenarios;
    const wronglyAllowed = ['replay', 'bad-signature', 'missing'] as const;
    expect(run!.invalidAllows).toBe(
      wronglyAllowed.reduce((sum, kind) => sum + run!.outcomes[kind].allow!, 0),
    );
    expect(run!.invalidAllows).toBeGreaterThan(0);
    expect(report.failures).toEqual([
      `target closed c=8: ${run!.invalidAllows} requests that must be denied were allowed`,
    ]);
  });
});
