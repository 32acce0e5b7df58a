// Every benchmark script of package.json (npm run bench, bench:*) run as a process for a moment,
// asserting that it did real work and exited 0: structure, never speed. Each runs with REDIS_URL
// pointing at a decoy Redis of this test's own, which must stay empty: the benchmarks start their
// own redis-server, and a service they start must not inherit the shell's Redis (bench:authority's
// authority did, ledgered into it and issued nothing the sequencer would chain).
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BenchReport } from '../../bench/lib/run.js';
import type { SoakReport } from '../../bench/lib/soak.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { runModule } from '../support/run-module.js';
import { PROJECT_ROOT } from '../support/shared.js';

const onPath = (command: string) =>
  (process.env.PATH ?? '').split(':').some((dir) => dir !== '' && existsSync(join(dir, command)));

/** The benchmark scripts of package.json: name → the module `tsx` runs. */
const SCRIPTS = Object.fromEntries(
  Object.entries(
    (
      JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as {
        scripts: Record<string, string>;
      }
    ).scripts,
  ).flatMap(([name, command]) => {
    const module = /^tsx (bench\/\S+\.ts)$/.exec(command)?.[1];
    return /^bench(:|$)/.test(name) && module !== undefined ? [[name, module]] : [];
  }),
);

let decoy: TestRedis;
let out: string;

/** The script as `npm run <name> -- args` runs it, with REDIS_URL at the decoy. */
const run = (name: string, ...args: string[]) =>
  runModule(SCRIPTS[name]!, args, { ...process.env, REDIS_URL: decoy.url });

/** Every number the first match of `pattern` captures in `text`. */
function numbers(text: string, pattern: RegExp): number[] {
  const match = pattern.exec(text);
  expect(match, `${pattern} in:\n${text}`).not.toBeNull();
  return match!.slice(1).map((n) => Number(n.replace(/,/g, '')));
}

async function decoyKeys(): Promise<number> {
  const client = new Redis(decoy.url);
  try {
    return await client.dbsize();
  } finally {
    client.disconnect();
  }
}

describe('the benchmark scripts', () => {
  it('each answers --help with its usage', async () => {
    const modules = [...Object.values(SCRIPTS), 'bench/use-state.ts'];
    const runs = await Promise.all(modules.map((module) => runModule(module, ['--help'], process.env)));
    for (const [i, result] of runs.entries()) {
      expect(result.code, `${modules[i]}: ${result.stderr}`).toBe(0);
      expect(result.stdout, modules[i]).toMatch(/^Usage: \S+ \[options\]\n\n\S.*\n[\s\S]*--help/);
    }
  });
});

describe.skipIf(!onPath('redis-server'))('the benchmark scripts, briefly, with REDIS_URL set', () => {
  beforeAll(async () => {
    decoy = await startRedis({ local: true });
    out = mkdtempSync(join(tmpdir(), 'gov-bench-scripts-'));
  });
  afterAll(async () => {
    await decoy?.stop();
    rmSync(out, { recursive: true, force: true });
  });

  it('covers every benchmark script of package.json', () => {
    expect(Object.keys(SCRIPTS).sort()).toEqual([
      'bench',
      'bench:authority',
      'bench:ledger',
      'bench:soak',
      'bench:verify',
    ]);
  });

  it('npm run bench allows and denies Checks on the full path', async () => {
    const result = await run(
      'bench',
      '--json',
      ...['--baselines', 'none', '--concurrency', '2', '--rate', 'none', '--no-h2load'],
      ...['--duration', '0.3', '--warmup', '0.1', '--out', out],
    );
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as BenchReport;
    expect(report.failures).toEqual([]);
    const [full] = report.scenarios;
    expect(report.scenarios.map((s) => `${s.target} ${s.scenario}`)).toEqual(['full closed c=2']);
    expect(full!.requests.measured).toBeGreaterThan(0);
    expect(full!.outcomes.single.allow).toBeGreaterThan(0);
    expect(full!.outcomes.missing['artifact.missing']).toBeGreaterThan(0);
    expect(await decoyKeys()).toBe(0);
  }, 120_000);

  it('npm run bench -- --overload prints its phases on the full path', async () => {
    // The recovery phase is 2 s + 5 s whatever the options: about 15 s in all.
    const result = await run(
      'bench',
      ...['--overload', '2', '--duration', '1', '--warmup', '0.2', '--concurrency', '4'],
      ...['--max-rate', '1000', '--out', out],
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^\| phase \| offered \| answered\/s \| allowed \| overload\.shed \|/m);
    for (const phase of ['1. capacity', '2. overload', '3. recovery, first 2 s', '3. recovery, next 5 s'])
      expect(result.stdout).toMatch(new RegExp(`^\\| ${phase.replace('.', '\\.')} \\| `, 'm'));
    const [capacity] = numbers(result.stdout, /X = (\d+) decided Checks\/s/);
    expect(capacity).toBeGreaterThan(0);
    expect(result.stdout).toMatch(/^- no invalid allow: yes \(0\)$/m);
    for (const goal of ['every Check answered within 250 ms', 'excess shed early', 'recovery within 2 s'])
      expect(result.stdout).toMatch(new RegExp(`^- ${goal}[^:]*: (yes|NO) — `, 'm'));
    expect(await decoyKeys()).toBe(0);
  }, 120_000);

  it('npm run bench:soak samples the full path under load and allows Checks', async () => {
    const result = await run(
      'bench:soak',
      '--json',
      ...['--duration', '0.6', '--warmup', '0.2', '--rate', '50', '--sample-interval', '0.2'],
      ...['--chunk', '1', '--max-growth', '1000', '--out', out],
    );
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as SoakReport;
    expect(report.failures).toEqual([]);
    expect(report.totals.requests).toBeGreaterThan(0);
    expect(report.totals.decisions.single.allow).toBeGreaterThan(0);
    expect(report.samples.length).toBeGreaterThanOrEqual(2);
    expect(await decoyKeys()).toBe(0);
  }, 120_000);

  it('npm run bench:ledger chains events', async () => {
    const result = await run(
      'bench:ledger',
      ...['--seconds', '1', '--warmup', '0.5', '--writers', '1', '--concurrency', '1', '--fsync', 'no'],
    );
    expect(result.code, result.stderr).toBe(0);
    const [events, records] = numbers(result.stdout, /chained ([\d,]+) events in ([\d,]+) records/);
    expect(records).toBeGreaterThan(0);
    expect(events).toBeGreaterThanOrEqual(records!);
    // The floor and the bytes stored per event are printed beside the rates.
    expect(result.stdout).toMatch(
      /floor on this machine: [\d.]+ µs per event .*; all parts [\d.]+× the floor/,
    );
    expect(result.stdout).toMatch(/stored per event: \d+ B .* canonical event of \d+ B: [\d.]+×/);
    expect(await decoyKeys()).toBe(0);
  }, 120_000);

  it('npm run bench:ledger -- --logs 2 chains partitioned logs, each with its own sequencer', async () => {
    const result = await run(
      'bench:ledger',
      ...[
        '--logs',
        '2',
        '--writers',
        '2',
        '--seconds',
        '1',
        '--warmup',
        '0.5',
        '--concurrency',
        '1',
        '--fsync',
        'no',
      ],
    );
    expect(result.code, result.stderr).toBe(0);
    const perLog = [...result.stdout.matchAll(/log (\S+): [\d,]+ events chained\/s \(([\d,]+) events\)/g)];
    expect(perLog.map((m) => m[1])).toEqual(['governance-dev', 'governance-dev-2']);
    for (const m of perLog) expect(Number(m[2]!.replaceAll(',', ''))).toBeGreaterThan(0);
    expect(await decoyKeys()).toBe(0);
  }, 120_000);

  it('npm run bench:ledger -- --soak archives, trims Redis to its hot tail and samples its memory', async () => {
    const result = await run(
      'bench:ledger',
      ...[
        '--soak',
        '4',
        '--sample',
        '2',
        '--warmup',
        '0.5',
        '--rate',
        '1500',
        '--batch',
        '4',
        '--events',
        '4',
      ],
      ...['--hot-records', '256', '--hot-ms', '0', '--fsync', 'no'],
    );
    expect(result.code, result.stderr).toBe(0);
    const samples = [
      ...result.stdout.matchAll(
        /soak \d+ s: used_memory [\d.]+ MiB; records (\d+) \((\d+) in redis, archived (\d+)\)/g,
      ),
    ];
    expect(samples).toHaveLength(2);
    const [records, inRedis, archived] = samples.at(-1)!.slice(1).map(Number) as [number, number, number];
    // Sealed bundles are archived, and Redis keeps the hot tail: at most 256 records below the
    // archive's frontier, plus the bundle in progress.
    expect(archived).toBeGreaterThanOrEqual(512);
    expect(inRedis).toBeLessThan(records);
    expect(inRedis).toBeLessThanOrEqual(records - archived + 256 + 255);
    expect(result.stdout).toMatch(/archive \d+ B per archived event/);
    expect(await decoyKeys()).toBe(0);
  }, 120_000);

  it('npm run bench:verify verifies an exported chain and proofs with both crypto suites', async () => {
    // 10^6 records is the default; a tree of 10^3 keeps the short run short.
    const result = await run('bench:verify', '--events', '700', '--tree-sizes', '1000');
    expect(result.code, result.stderr).toBe(0);
    const [events, records] = numbers(
      result.stdout,
      /verification benchmark: ([\d,]+) events in ([\d,]+) records/,
    );
    expect(events).toBe(700);
    expect(records).toBeGreaterThan(0);
    for (const suite of ['node:crypto', '@noble']) {
      const [rate] = numbers(result.stdout, new RegExp(`${suite} +([\\d,]+) events verified/s`));
      expect(rate, suite).toBeGreaterThan(0);
      const [whole] = numbers(
        result.stdout,
        new RegExp(`${suite} +([\\d,]+) whole inclusion proofs verified/s`),
      );
      expect(whole, suite).toBeGreaterThan(0);
      const [inclusion, consistency] = numbers(
        result.stdout,
        new RegExp(
          `${suite} +([\\d,]+) inclusion proofs verified/s, ([\\d,]+) consistency proofs verified/s`,
        ),
      );
      expect(inclusion, suite).toBeGreaterThan(0);
      expect(consistency, suite).toBeGreaterThan(0);
    }
    // ⌈log2 1000⌉ = 10 hashes of 32 bytes; consistency at most one more.
    expect(result.stdout).toMatch(/10\^3 records \(measured[^)]*\): inclusion ≤ 10 hashes \(320 B; /);
    const [consistencyHashes] = numbers(result.stdout, /10\^3 records .* consistency ≤ (\d+) hashes/);
    expect(consistencyHashes).toBeLessThanOrEqual(11);
    expect(result.stdout).toContain(
      '10^9 records (formula): inclusion ≤ 30 hashes (960 B), consistency ≤ 31 hashes (992 B)',
    );
  });

  it('npm run bench:authority issues artifacts over both transports, all chained', async () => {
    const result = await run('bench:authority', '--seconds', '0.5', '--warmup', '0.2', '--concurrency', '4');
    expect(result.code, result.stderr).toBe(0);
    for (const transport of ['http', 'grpc']) {
      const section = result.stdout.slice(result.stdout.indexOf(`  ${transport}:`));
      const [issued] = numbers(section, /issued (\d+) artifacts/);
      expect(issued).toBeGreaterThan(0);
      const [chained, ledgered] = numbers(section, /ledger: (\d+) events chained for (\d+) issued/);
      expect(ledgered).toBe(issued);
      expect(chained).toBeGreaterThanOrEqual(issued!);
    }
    expect(await decoyKeys()).toBe(0);
  }, 120_000);
});
