// Keeps the soak benchmark (npm run bench:soak) working: a run of a few seconds against the full
// path must give complete figures and pass a loose threshold, and the same run must fail when no
// growth can pass (--max-growth -100). Structure only, never memory behaviour: a few seconds say
// nothing about leaks. Needs redis-server on PATH (the full path), like the smoke test.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keySigner } from '../../core/keys.js';
import { startFullPath, type FullPath } from '../../bench/lib/full-path.js';
import {
  comparedSamples,
  GATED_PROCESS,
  median,
  medianWindow,
  runSoak,
  soakChunks,
  soakSummary,
  sparkline,
  type SoakSettings,
} from '../../bench/lib/soak.js';
import { BUILTIN_PRINCIPAL, builtinShape, builtinTemplate } from '../../bench/lib/targets.js';
import { DEFAULT_MIX, signingSource, TRAFFIC_KINDS } from '../../bench/lib/traffic.js';
import { PROJECT_ROOT } from '../../devkit/dev-deployment.js';

const onPath = (command: string) =>
  (process.env.PATH ?? '').split(':').some((dir) => dir !== '' && existsSync(join(dir, command)));
const redis = onPath('redis-server');
if (!redis)
  console.warn('soak test skipped: redis-server is not on PATH (Debian: apt-get install redis-server)');

const template = builtinTemplate(BUILTIN_PRINCIPAL);
const settings = (maxGrowthPercent: number, overrides: Partial<SoakSettings> = {}): SoakSettings => ({
  shape: builtinShape(template),
  mix: DEFAULT_MIX,
  rate: 100,
  warmupMs: 500,
  durationMs: 1500,
  sampleIntervalMs: 200,
  maxGrowthPercent,
  chunkMs: 1000,
  deadlineMs: 5000,
  maxInFlight: 1000,
  ...overrides,
});

describe('soak arithmetic', () => {
  it('cuts warm-up and duration into chunks, and takes medians over a window', () => {
    expect(soakChunks({ ...settings(10), warmupMs: 30_000, durationMs: 150_000, chunkMs: 60_000 })).toEqual([
      { phase: 'warmup', ms: 30_000 },
      { phase: 'measured', ms: 60_000 },
      { phase: 'measured', ms: 60_000 },
      { phase: 'measured', ms: 30_000 },
    ]);
    expect(median([5, 1, 900, 3, 4])).toBe(4);
    expect(median([1, 2, 3, 10])).toBe(2.5);
    expect([120, 14, 6, 2].map(medianWindow)).toEqual([5, 4, 2, 1]);
    expect(sparkline([1, 1, 1])).toBe('▁▁▁');
    expect(sparkline([0, 7])).toBe('▁█');
    expect(sparkline(Array.from({ length: 600 }, (_, i) => i))).toHaveLength(60);
    const at = (t: number, phase: 'warmup' | 'measured', loaded: boolean) => ({
      t,
      phase,
      loaded,
      rssKiB: {},
    });
    const samples = [
      at(0, 'warmup', true),
      at(1, 'measured', false),
      at(2, 'measured', true),
      at(3, 'measured', true),
    ];
    expect(comparedSamples(samples).map((s) => s.t)).toEqual([2, 3]);
    expect(comparedSamples(samples.slice(0, 3)).map((s) => s.t)).toEqual([1, 2]);
  });
});

describe.skipIf(!redis)('soak benchmark (full path)', () => {
  let workDir: string;
  let full: FullPath;

  beforeAll(async () => {
    workDir = mkdtempSync(join(tmpdir(), 'gov-soak-test-'));
    full = await startFullPath(workDir, 'always');
  });
  afterAll(async () => {
    await full?.running.stop();
    rmSync(workDir, { recursive: true, force: true });
  });

  const source = () => signingSource(keySigner(full.issuer.kid, full.issuer.key), template);

  it('samples RSS through a short run, with complete figures, and passes a loose threshold', async () => {
    const report = await runSoak(full.running.target, source(), settings(1000));
    expect(report.failures).toEqual([]);
    expect(Object.keys(report.processes).sort()).toEqual([GATED_PROCESS, 'redis', 'sequencer']);
    expect(report.chunks.map((c) => c.phase)).toEqual(['warmup', 'measured', 'measured']);
    const measured = comparedSamples(report.samples);
    expect(measured.length).toBeGreaterThanOrEqual(3);
    expect(measured.every((s) => s.phase === 'measured' && s.loaded)).toBe(true);
    expect(report.samples[0]!.phase).toBe('warmup');
    for (const sample of report.samples) {
      for (const name of Object.keys(report.processes)) expect(sample.rssKiB[name]).toBeGreaterThan(0);
    }
    expect(report.window).toBe(medianWindow(measured.length));
    const growth = report.growth[GATED_PROCESS]!;
    expect(growth.baselineKiB).toBe(
      median(measured.slice(0, report.window).map((s) => s.rssKiB[GATED_PROCESS]!)),
    );
    expect(growth.endKiB).toBe(median(measured.slice(-report.window).map((s) => s.rssKiB[GATED_PROCESS]!)));
    expect(Object.keys(report.growth).sort()).toEqual([GATED_PROCESS, 'redis', 'sequencer']);
    for (const chunk of report.chunks) {
      expect(chunk.result.requests.measured).toBeGreaterThan(0);
      expect(chunk.result.latency.count).toBe(chunk.result.requests.measured);
      expect(chunk.result.invalidAllows).toBe(0);
      expect(chunk.rssKiB[GATED_PROCESS]).toBeGreaterThan(0);
    }
    const { totals } = report;
    expect(totals.requests).toBe(150);
    expect(totals.latency!.count).toBe(150);
    expect(totals.invalidAllows).toBe(0);
    expect(totals.serverCpuUsPerCheck).toBeGreaterThan(0);
    expect(Object.keys(totals.companionCpuUsPerCheck).sort()).toEqual(['redis', 'sequencer']);
    // Decisions over the whole run, warm-up included: every single-use artifact is allowed once,
    // and replays are denied as replays (the path may fail closed under load, never open).
    const decided = TRAFFIC_KINDS.reduce(
      (sum, kind) => sum + Object.values(totals.decisions[kind]).reduce((a, b) => a + b, 0),
      0,
    );
    expect(decided).toBe(200);
    expect(totals.decisions.single.allow).toBeGreaterThan(0);
    expect(totals.decisions.replay.allow).toBeUndefined();
    const summary = soakSummary(report);
    expect(summary).toMatch(/^Soak benchmark, /);
    expect(summary).toContain(`**${GATED_PROCESS} RSS: baseline `);
    expect(summary).toContain('(allowed 1000 %: ok)');
    expect(summary).not.toContain('FAILED');
  });

  it('fails the run when no growth can pass (--max-growth -100)', async () => {
    const short = { warmupMs: 0, durationMs: 600, sampleIntervalMs: 100 };
    const report = await runSoak(full.running.target, source(), settings(-100, short));
    const growth = report.growth[GATED_PROCESS]!;
    expect(report.failures).toEqual([
      expect.stringMatching(
        new RegExp(`^${GATED_PROCESS} RSS grew ${growth.growthPercent} % .*more than the allowed -100 %$`),
      ),
    ]);
    expect(soakSummary(report)).toContain('FAILED: authz-server RSS grew');
  });
});

describe('npm run bench:soak', () => {
  it('exits 2 on usage errors, before starting anything', () => {
    const soak = (...args: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'bench/soak.ts'), ...args], {
        cwd: PROJECT_ROOT,
        encoding: 'utf8',
      });
    const badFlag = soak('--max-growth', 'ten');
    expect(badFlag.status).toBe(2);
    expect(badFlag.stderr).toContain('--max-growth');
  });
});
