// The guided demo: every step gives its expected result against a dev mode on free ports, a
// wrong expectation makes it fail, and `npm run demo` (cli/demo.ts) runs against a dev mode
// already running or one it starts itself.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LINEAGE_STAGES } from '../../core/event.js';
import { runDemo } from '../../cli/demo-lifecycle.js';
import { freePort } from '../support/redis.js';
import { PROJECT_ROOT } from '../support/shared.js';
import { startTestDevMode, type TestDevMode } from './support.js';

let dev: TestDevMode;
beforeAll(async () => {
  dev = await startTestDevMode();
});
afterAll(() => dev?.close());

describe('runDemo', () => {
  it('walks the whole lifecycle and every step gives the expected result', async () => {
    const lines: string[] = [];
    const steps = await runDemo(dev, (line) => lines.push(line));
    const output = lines.join('\n');
    expect(steps.filter((s) => !s.ok)).toEqual([]);
    expect(steps).toHaveLength(9);
    expect(output).toMatch(/Check: ALLOW/);
    for (const reason of [
      'artifact.replayed',
      'artifact.signature.invalid',
      'artifact.expired',
      'artifact.revoked',
    ])
      expect(output).toContain(`DENY   403 ${reason}`);
    // The seven stages of white paper §6.4, in order, each with its short chain hash.
    const tree = [...output.matchAll(/\+- (\d\d) (\S+) +record \d+ event \d+/g)];
    expect(tree.map((m) => m[2])).toEqual([...LINEAGE_STAGES]);
    expect(tree.map((m) => m[1])).toEqual(['01', '02', '03', '04', '05', '06', '07']);
    expect(output).toMatch(/verified \d+ records \(seq 1\.\.\d+\) of log governance-dev/);
  });

  it('fails, and stops, when a step does not give the expected result', async () => {
    const stranger = { ...dev.deployment, tokens: { ...dev.deployment.tokens, workload: 'dev-not-a-token' } };
    const lines: string[] = [];
    const steps = await runDemo({ ...dev, deployment: stranger }, (line) => lines.push(line));
    expect(steps).toHaveLength(1);
    expect(steps[0]).toMatchObject({ ok: false });
    expect(lines.join('\n')).toMatch(/identity\.unauthenticated[\s\S]*UNEXPECTED/);
  });
});

describe('npm run demo (cli/demo.ts)', () => {
  const TSX = join(PROJECT_ROOT, 'node_modules/.bin/tsx');
  const run = (...args: string[]) => {
    const child = spawn(TSX, [join(PROJECT_ROOT, 'cli/demo.ts'), ...args], { stdio: 'pipe' });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
      child.on('exit', (code) => resolve({ code, stdout, stderr })),
    );
  };
  const portFlags = (ports: {
    authorityGrpc: number;
    authorityHttp: number;
    authzGrpc: number;
    authzHttp: number;
  }) => [
    '--authority-grpc-port',
    String(ports.authorityGrpc),
    '--authority-http-port',
    String(ports.authorityHttp),
    '--authz-grpc-port',
    String(ports.authzGrpc),
    '--authz-http-port',
    String(ports.authzHttp),
    '--sequencer-http-port',
    '0',
  ];

  it('runs against the dev mode answering on the ports, from its folder', async () => {
    const result = await run('--dir', dev.deployment.dir, ...portFlags(dev.ports));
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain(`Against the dev mode running from ${dev.deployment.dir}`);
    expect(result.stdout).toMatch(/All 9 steps gave the expected result/);
    expect(result.code).toBe(0);
  });

  it("refuses a folder that is not the running dev mode's", async () => {
    const other = mkdtempSync(join(tmpdir(), 'gov-demo-'));
    try {
      const result = await run('--dir', other, ...portFlags(dev.ports));
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/was not started from .*--dir/);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('starts a dev mode in-process when none answers, and stops it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gov-demo-'));
    try {
      const ports = {
        authorityGrpc: await freePort(),
        authorityHttp: await freePort(),
        authzGrpc: await freePort(),
        authzHttp: await freePort(),
      };
      const result = await run('--dir', dir, ...portFlags(ports));
      expect(result.stdout).toMatch(/starting one in this process/);
      expect(result.stdout).toMatch(/All 9 steps gave the expected result/);
      expect(result.code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
