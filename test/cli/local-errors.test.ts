// govctl and the user's own input: a path that does not exist, a folder that cannot hold a file,
// a URL that is none. Each is a usage error (exit 2) naming the path, found before any server is
// asked anything; never "unavailable" (3) with a raw ENOENT, never a ledger that is "NOT verified"
// because of a typo.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { nodeCrypto } from '../../core/crypto-node.js';
import { generatePrivateKey, publicKeyToPem, rawPublicKey } from '../../core/keys.js';
import { cosignatureVerifierKey } from '../../core/note.js';
import { EXIT } from '../../cli/output.js';
import { govctl } from '../support/govctl.js';
import { PROJECT_ROOT } from '../support/shared.js';

const dir = mkdtempSync(join(tmpdir(), 'govctl-local-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const missing = join(dir, 'absent.txt');
const noFolder = join(dir, 'no-folder');
const root = join(dir, 'root.pub.pem');
writeFileSync(root, publicKeyToPem(generatePrivateKey()));
// Nothing listens there: a command that asked a server first would fail as unavailable (3).
const CLOSED_URL = 'http://127.0.0.1:1';
const CLOSED_TARGET = '127.0.0.1:1';
const WITNESS = cosignatureVerifierKey(nodeCrypto, 'witness.example/w1', rawPublicKey(generatePrivateKey()));

describe('govctl --version', () => {
  it('prints the package version', async () => {
    const { version } = JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as {
      version: string;
    };
    for (const flag of ['--version', '-V']) {
      const run = await govctl(flag);
      expect(run.code).toBe(EXIT.ok);
      expect(run.stdout).toBe(`${version}\n`);
    }
  });
});

describe('govctl and local files', () => {
  it.each<[string, string[], string]>([
    [
      'ledger verify --file',
      ['ledger', 'verify', '--file', missing, '--root', root, '--url', CLOSED_URL],
      `cannot read ${missing}: ENOENT`,
    ],
    [
      'artifact inspect',
      ['artifact', 'inspect', `@${missing}`],
      `cannot read artifact file ${missing}: ENOENT`,
    ],
    [
      'check --artifact',
      ['check', '--target', CLOSED_TARGET, '--path', '/v1/x', '--artifact', `@${missing}`],
      `cannot read artifact file ${missing}: ENOENT`,
    ],
    [
      'revoke',
      ['revoke', `@${missing}`, '--reason', 'r', '--token', 't', '--authority', CLOSED_TARGET],
      `cannot read artifact file ${missing}: ENOENT`,
    ],
    ['keys show', ['keys', 'show', missing], `cannot read key file ${missing}: ENOENT`],
    [
      'keys generate',
      ['keys', 'generate', '--out', join(noFolder, 'k')],
      `cannot write private key ${join(noFolder, 'k')}.key.pem: ENOENT`,
    ],
    [
      'ledger export --out',
      ['ledger', 'export', '--out', join(noFolder, 'x.jsonl'), '--url', CLOSED_URL],
      `cannot create ${join(noFolder, 'x.jsonl')}: ENOENT`,
    ],
    [
      'lineage --root',
      ['lineage', 'auth_x', '--root', missing, '--url', CLOSED_URL],
      `key.invalid: cannot read public key file ${missing}: ENOENT`,
    ],
    [
      'bench --artifacts-file',
      ['bench', '--target', CLOSED_TARGET, '--artifacts-file', missing, '--mix', 'single=1'],
      `cannot read artifacts file ${missing}: ENOENT`,
    ],
    [
      'bench --signing-key',
      ['bench', '--target', CLOSED_TARGET, '--signing-key', missing, '--kid', 'k'],
      `cannot read signing key ${missing}: ENOENT`,
    ],
    [
      'check --target',
      ['check', '--target', 'bad target!!', '--path', '/v1/x'],
      '--target must be host:port, got "bad target!!"',
    ],
    [
      'check --target with no port in range',
      ['check', '--target', '127.0.0.1:99999', '--path', '/v1/x'],
      '--target must be host:port, got "127.0.0.1:99999"',
    ],
    [
      'check --timeout',
      ['check', '--target', CLOSED_TARGET, '--path', '/v1/x', '--timeout', '0'],
      '--timeout must be a positive integer',
    ],
    [
      'checkpoint --url',
      ['checkpoint', '--url', 'proof.example', '--root', root],
      '--url must be an http:// or https:// URL, got "proof.example"',
    ],
    [
      'checkpoint --trusted',
      ['checkpoint', '--trusted', missing, '--root', root, '--url', CLOSED_URL],
      `cannot read checkpoint ${missing}: ENOENT`,
    ],
    [
      'checkpoint --trusted that is no checkpoint',
      ['checkpoint', '--trusted', root, '--root', root, '--url', CLOSED_URL],
      `--trusted ${root} is not a checkpoint note: the note has no blank line before its signatures`,
    ],
    [
      'checkpoint --witness',
      ['checkpoint', '--witness', 'w+00000000+AQ==', '--root', root, '--url', CLOSED_URL],
      '--witness "w+00000000+AQ==": the verifier key is not of type 0x04 (Ed25519 cosignature/v1)',
    ],
    [
      'checkpoint --witnesses-required beyond the witnesses',
      ['checkpoint', '--witness', WITNESS, '--witnesses-required', '2', '--root', root, '--url', CLOSED_URL],
      '--witnesses-required 2 is more than the 1 distinct witness(es) given',
    ],
    [
      'inclusion --witnesses-required without witnesses',
      ['inclusion', '1', '--witnesses-required', '1', '--root', root, '--url', CLOSED_URL],
      '--witnesses-required needs the witness keys (--witness <vkey>)',
    ],
    [
      'inclusion <seq>',
      ['inclusion', '0', '--root', root, '--url', CLOSED_URL],
      '<seq> must be a positive integer',
    ],
    [
      'inclusion <seq> that is negative',
      ['inclusion', '-3', '--root', root, '--url', CLOSED_URL],
      '<seq> must be a positive integer',
    ],
    [
      'lineage --wait that is negative',
      ['lineage', 'auth_x', '--wait', '-1', '--root', root, '--url', CLOSED_URL],
      '--wait must be a non-negative integer',
    ],
    [
      'lineage --absent-stage',
      ['lineage', 'auth_x', '--absent-stage', 'execution.begun', '--root', root, '--url', CLOSED_URL],
      '--absent-stage "execution.begun" is not an event type',
    ],
    [
      'ledger verify --checkpoint',
      ['ledger', 'verify', '--checkpoint', missing, '--root', root, '--url', CLOSED_URL],
      `cannot read checkpoint ${missing}: ENOENT`,
    ],
  ])('%s: exit 2 naming it', async (_what, args, message) => {
    const run = await govctl(...args);
    expect(run.stderr).toBe(`govctl: ${message}\n`);
    expect(run.code).toBe(EXIT.usage);
    expect(run.stdout).not.toContain('NOT verified');
  });

  it('a failed export leaves no file behind, so the same command can run again', async () => {
    const out = join(dir, 'export.jsonl');
    for (let attempt = 0; attempt < 2; attempt++) {
      const run = await govctl('ledger', 'export', '--out', out, '--url', CLOSED_URL);
      expect(run.code).toBe(EXIT.unavailable);
      expect(run.stderr).toMatch(/^govctl: unreachable: /);
      expect(existsSync(out)).toBe(false);
    }
  });
});
