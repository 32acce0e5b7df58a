// Every benchmark script of package.json (npm run bench, bench:*) run as a process for a moment,
// asserting that it did real work and exited 0: structure, never speed. Each runs with REDIS_URL
// pointing at a decoy Redis of this test's own, which must stay empty: the benchmarks start their
// own redis-server, and a service they start must not inherit the shell's Redis (bench:authority's
// authority did, ledgered into it and issued nothing the sequencer would chain).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type TestRedis } from '../support/redis.js';
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

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let decoy: TestRedis;
let out: string;

/** The script as `npm run <name> -- args` runs it, with REDIS_URL at the decoy. */
function run(name: string, ...args: string[]): Promise<Run> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, SCRIPTS[name]!), ...args], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, REDIS_URL: decoy.url },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

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

describe.skipIf(!onPath('redis-server'))('the benchmark scripts, briefly, with REDIS_URL set', () => {
  beforeAll(async () => {
    decoy = await startRedis({ local: true });
    out = mkdtempSync(join(tmpdir(), 'gov-bench-scripts-'));
  });
  afterAll(async () => {
    await decoy?.stop();
    rmSync(out, { recursive: true, force: true });
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
