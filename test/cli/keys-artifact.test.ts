import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { keyFromJwk, nodeCrypto, publicKeyToPem, verifyKeyRecord, type KeyRecord } from '../../core/index.js';
import { base64urlDecode } from '../../core/encoding.js';
import { govctl } from '../support/govctl.js';
import { EXIT } from '../../cli/output.js';

const dir = mkdtempSync(join(tmpdir(), 'govctl-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const at = (name: string) => join(dir, name);

const vector = JSON.parse(readFileSync('test/vectors/artifact/allow-single.json', 'utf8')) as {
  artifact: string;
  keys: Record<string, string>;
};
const [vectorKid, vectorKey] = Object.entries(vector.keys)[0]!;
writeFileSync(at('vector.pub.pem'), publicKeyToPem(keyFromJwk({ kty: 'OKP', crv: 'Ed25519', x: vectorKey })));

describe('govctl keys', () => {
  it('generate writes a 0600 private key and a public key, refusing to overwrite', async () => {
    const run = await govctl('--json', 'keys', 'generate', '--out', at('root'));
    expect(run.code).toBe(EXIT.ok);
    expect(statSync(at('root.key.pem')).mode & 0o777).toBe(0o600);
    expect(JSON.parse(run.stdout)).toMatchObject({ public_key_file: at('root.pub.pem') });
    expect((await govctl('keys', 'generate', '--out', at('root'))).code).not.toBe(EXIT.ok);
  });

  it('show prints the public half only', async () => {
    const run = await govctl('--json', 'keys', 'show', at('root.key.pem'));
    expect(run.code).toBe(EXIT.ok);
    const info = JSON.parse(run.stdout) as { jwk: Record<string, string>; pem: string };
    expect(info.jwk.d).toBeUndefined();
    expect(info.pem).toContain('PUBLIC KEY');
    expect(run.stdout).not.toContain('PRIVATE');
  });

  it('certify produces a record that verifies against the root', async () => {
    await govctl('keys', 'generate', '--out', at('issuer'));
    const run = await govctl(
      '--json',
      'keys',
      'certify',
      '--root',
      at('root.key.pem'),
      '--root-kid',
      'root:test',
      '--key',
      at('issuer.pub.pem'),
      '--kid',
      'key:test',
      '--role',
      'issuer',
      '--subject',
      'governance://test',
      '--not-before',
      '2026-01-01T00:00:00Z',
      '--not-after',
      '2027-01-01T00:00:00Z',
    );
    expect(run.code).toBe(EXIT.ok);
    const record = JSON.parse(run.stdout) as KeyRecord;
    const rootX = (
      JSON.parse((await govctl('--json', 'keys', 'show', at('root.pub.pem'))).stdout) as {
        public_key: string;
      }
    ).public_key;
    const verified = verifyKeyRecord(nodeCrypto, record, new Map([['root:test', base64urlDecode(rootX)!]]));
    expect(verified).toMatchObject({ kid: 'key:test', role: 'issuer' });
  });

  it('certify refuses an unknown role with a usage error', async () => {
    const run = await govctl(
      'keys',
      'certify',
      '--root',
      at('root.key.pem'),
      '--root-kid',
      'r',
      '--key',
      at('issuer.pub.pem'),
      '--kid',
      'k',
      '--role',
      'god',
      '--subject',
      's',
    );
    expect(run.code).toBe(EXIT.usage);
    expect(run.stderr).toContain('--role');
  });
});

describe('govctl artifact', () => {
  it('inspect decodes without claiming verification', async () => {
    const run = await govctl('--json', 'artifact', 'inspect', vector.artifact);
    expect(run.code).toBe(EXIT.ok);
    expect(JSON.parse(run.stdout)).toMatchObject({ verified: false, artifact: { sig: { kid: vectorKid } } });
  });

  it('inspect of garbage exits 1 with the reason', async () => {
    const run = await govctl('artifact', 'inspect', 'not-an-artifact!');
    expect(run.code).toBe(EXIT.negative);
    expect(run.stderr).toContain('artifact.malformed');
  });

  it('verify accepts the vector inside its window with the right key', async () => {
    const run = await govctl(
      '--json',
      'artifact',
      'verify',
      vector.artifact,
      '--key',
      `${vectorKid}=${at('vector.pub.pem')}`,
      '--now',
      '2026-05-12T17:01:00Z',
    );
    expect(run.code).toBe(EXIT.ok);
    expect(JSON.parse(run.stdout)).toMatchObject({ valid: true });
  });

  it.each([
    ['expired', ['--now', '2026-05-12T17:05:01Z'], 'artifact.expired'],
    ['wrong identity', ['--now', '2026-05-12T17:01:00Z', '--identity', 'spiffe://x'], 'identity.mismatch'],
    ['revoked', ['--now', '2026-05-12T17:01:00Z', '--revoked', vectorKid], 'artifact.revoked'],
    [
      'unknown policy version',
      ['--now', '2026-05-12T17:01:00Z', '--policy-hash', 'sha3-512:' + '0'.repeat(128)],
      'policy.mismatch',
    ],
  ])('verify reports %s with exit 1', async (_name, flags, reason) => {
    const run = await govctl(
      '--json',
      'artifact',
      'verify',
      vector.artifact,
      '--key',
      `${vectorKid}=${at('vector.pub.pem')}`,
      ...flags,
    );
    expect(run.code).toBe(EXIT.negative);
    expect(JSON.parse(run.stdout)).toMatchObject({ valid: false, reason });
  });

  it('verify with another key is a bad signature', async () => {
    const run = await govctl(
      '--json',
      'artifact',
      'verify',
      vector.artifact,
      '--key',
      `${vectorKid}=${at('root.pub.pem')}`,
      '--now',
      '2026-05-12T17:01:00Z',
    );
    expect(JSON.parse(run.stdout)).toMatchObject({ valid: false, reason: 'artifact.signature.invalid' });
  });
});
