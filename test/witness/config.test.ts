// The witness's configuration (witness/config.ts), its process (witness/main.ts) and govctl
// witness: defaults, refusals naming the field, and the verifier key govctl prints.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../cli/output.js';
import { nodeCrypto } from '../../core/crypto-node.js';
import { isGovernanceError } from '../../core/errors.js';
import { generatePrivateKey, privateKeyToPem, publicKeyToPem, rawPublicKey } from '../../core/keys.js';
import { cosignatureVerifierKey, verifierKey } from '../../core/note.js';
import { parseConfig } from '../../witness/config.js';
import { govctl } from '../support/govctl.js';
import { runModule } from '../support/run-module.js';
import { PROJECT_ROOT } from '../support/shared.js';
import { TestLog, post } from './support.js';

const dir = mkdtempSync(join(tmpdir(), 'gov-witness-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const log = new TestLog('example.com/log', 1);
const minimal = { name: 'witness.example/w1', keyFile: '/k.pem', stateDir: '/state' };

function refusal(raw: unknown): string {
  try {
    parseConfig(raw);
  } catch (e) {
    expect(isGovernanceError(e, 'config.invalid')).toBe(true);
    return (e as Error).message;
  }
  throw new Error('accepted');
}

describe('the witness configuration', () => {
  it('defaults the listener to 0.0.0.0:7380, no logs, level info', () => {
    expect(parseConfig(minimal)).toEqual({
      ...minimal,
      http: { host: '0.0.0.0', port: 7380 },
      logs: [],
      logLevel: 'info',
    });
  });

  it('takes GOV_WITNESS_HTTP_PORT and ignores the REDIS_* variables of other services', () => {
    const config = parseConfig(minimal, { GOV_WITNESS_HTTP_PORT: '9000', REDIS_URL: 'redis://r:6379' });
    expect(config.http.port).toBe(9000);
  });

  it.each([
    ['a log key that is no verifier key', { logs: [{ origin: 'o', keys: ['nope'] }] }, /logs\.0\.keys\.0/],
    [
      'a cosigner key (type 0x04) as a log key',
      { logs: [{ origin: 'o', keys: [cosignatureVerifierKey(nodeCrypto, 'o', new Uint8Array(32))] }] },
      /type 0x01/,
    ],
    [
      'an origin listed twice',
      {
        logs: [
          { origin: log.origin, keys: [log.vkey] },
          { origin: log.origin, keys: [log.vkey] },
        ],
      },
      /listed twice/,
    ],
    ['a name with a space', { name: 'a b' }, /name/],
    ['an unknown setting', { witnesses: 1 }, /Unrecognized key/],
  ])('refuses %s', (_name, change, message) => {
    expect(refusal({ ...minimal, ...change })).toMatch(message);
  });
});

describe('witness/main.js', () => {
  it('answers --help without Redis in its usage', async () => {
    const run = await runModule('witness/main.ts', ['--help'], { PATH: process.env.PATH });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.startsWith('usage: node dist/witness/main.js --config <file.yaml>')).toBe(true);
    expect(run.stdout).toContain('GOV_WITNESS_HTTP_HOST, GOV_WITNESS_HTTP_PORT');
    expect(run.stdout).not.toContain('REDIS');
  });

  it('exits 2 naming the field when a log key is bad', async () => {
    const path = join(dir, 'bad.yaml');
    writeFileSync(path, 'name: w\nkeyFile: /k\nstateDir: /s\nlogs: [{origin: o, keys: [bad]}]\n');
    const run = await runModule('witness/main.ts', ['--config', path], { PATH: process.env.PATH });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^witness: cannot start: config\.invalid: logs\.0\.keys\.0: /);
  });
});

describe('govctl witness vkey', () => {
  it("prints the witness's cosignature verifier key from its PEM key and name", async () => {
    const key = generatePrivateKey();
    const file = join(dir, 'witness.key.pem');
    writeFileSync(file, privateKeyToPem(key), { mode: 0o600 });
    const run = await govctl('witness', 'vkey', '--key', file, '--name', 'witness.example/w1');
    expect(run.code, run.stderr).toBe(EXIT.ok);
    expect(run.stdout).toBe(
      cosignatureVerifierKey(nodeCrypto, 'witness.example/w1', rawPublicKey(key)) + '\n',
    );
  });

  it('refuses a name a key name cannot have, exit 2', async () => {
    const file = join(dir, 'witness.key.pem');
    const run = await govctl('witness', 'vkey', '--key', file, '--name', 'has space');
    expect(run.code).toBe(EXIT.usage);
  });
});

describe('govctl witness log-vkey', () => {
  it("prints the log's verifier key from its audit public or private key, as Go's note package reads it", async () => {
    const key = generatePrivateKey();
    const privateFile = join(dir, 'audit.key.pem');
    const publicFile = join(dir, 'audit.pub.pem');
    writeFileSync(privateFile, privateKeyToPem(key), { mode: 0o600 });
    writeFileSync(publicFile, publicKeyToPem(key));
    const expected = verifierKey(nodeCrypto, 'governance', rawPublicKey(key)) + '\n';
    for (const file of [publicFile, privateFile]) {
      const run = await govctl('witness', 'log-vkey', '--audit-key', file, '--log', 'governance');
      expect(run.code, run.stderr).toBe(EXIT.ok);
      expect(run.stdout).toBe(expected);
    }
  });

  it('refuses a file that holds no Ed25519 key, exit 2', async () => {
    const file = join(dir, 'not-a-key.pem');
    writeFileSync(file, 'hello');
    const run = await govctl('witness', 'log-vkey', '--audit-key', file, '--log', 'governance');
    expect(run.code).toBe(EXIT.usage);
  });
});

describe('govctl witness serve', () => {
  it('serves add-checkpoint until SIGTERM, then exits 0', async () => {
    const keyFile = join(dir, 'serve.key.pem');
    writeFileSync(keyFile, privateKeyToPem(generatePrivateKey()), { mode: 0o600 });
    const path = join(dir, 'serve.yaml');
    writeFileSync(
      path,
      [
        'http: {host: 127.0.0.1, port: 0}',
        'name: witness.example/w1',
        `keyFile: ${keyFile}`,
        `stateDir: ${join(dir, 'serve-state')}`,
        `logs: [{origin: ${log.origin}, keys: ["${log.vkey}"]}]`,
        'logLevel: silent',
        '',
      ].join('\n'),
    );
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'cli/govctl.ts', '--json', 'witness', 'serve', '--config', path],
      { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    let out = '';
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.trimEnd().endsWith('}')) resolve((JSON.parse(out) as { http_port: number }).http_port);
      });
      void exited.then(() => reject(new Error(`exited: ${out}`)));
    });
    expect((await post(port, await log.request(0, 1))).status).toBe(200);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
