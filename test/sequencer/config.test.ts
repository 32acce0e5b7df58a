// The sequencer's configuration file (sequencer/config.ts) and the files it names
// (sequencer/service.ts loadSequencerMaterial): a valid file with its defaults, each kind of
// invalid file refused with config.invalid naming the field or the file, and the environment
// overrides every service accepts.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { nodeCrypto } from '../../core/crypto-node.js';
import { isGovernanceError } from '../../core/errors.js';
import { cosignatureVerifierKey, verifierKey } from '../../core/note.js';
import { base64urlEncode } from '../../core/encoding.js';
import { generatePrivateKey, keyFromPem, publicKeyToPem, rawPublicKey, signSync } from '../../core/keys.js';
import { certifyKey, type KeyRecord } from '../../core/registry.js';
import { formatSeconds } from '../../core/time.js';
import { DEV_LOG, DEV_ROOT_KID, writeDevDeployment } from '../../devkit/dev-deployment.js';
import { loadConfig, parseConfig, type SequencerConfig } from '../../sequencer/config.js';
import { loadSequencerMaterial } from '../../sequencer/service.js';

type Obj = Record<string, unknown>;
const dir = mkdtempSync(join(tmpdir(), 'gov-sequencer-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const deployment = writeDevDeployment(join(dir, 'deployment'), { redisUrl: 'redis://redis:6379' });
const file = parse(readFileSync(deployment.files.sequencerConfig, 'utf8')) as Obj;
const keys = (name: string) => join(dir, 'deployment', 'keys', name);

/** The config.invalid message of `action`, failing the test if it throws anything else or nothing. */
async function refusal(action: () => unknown): Promise<string> {
  let error: unknown;
  try {
    await action();
  } catch (e) {
    error = e;
  }
  expect(isGovernanceError(error, 'config.invalid'), String(error)).toBe(true);
  return (error as Error).message;
}

/** A witness entry whose key is a valid cosigner key of that name. */
const witness = (name: string) => ({
  name,
  url: `https://${name}.example`,
  key: cosignatureVerifierKey(nodeCrypto, name, new Uint8Array(32).fill(7)),
});

const write = (name: string, text: string): string => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};

describe('the configuration file', () => {
  it('reads the file a development deployment writes, with the defaults of what it leaves out', () => {
    expect(loadConfig(deployment.files.sequencerConfig, {})).toEqual({
      http: { host: '127.0.0.1', port: 0 },
      redis: { mode: 'standalone', url: 'redis://redis:6379' },
      ledger: { log: DEV_LOG, replicas: 0, replicaTimeoutMs: 1000, hotRecords: 4096, hotMs: 30_000 },
      audit: { keyFile: keys('audit.key.pem'), certificateFile: keys('audit.cert.json') },
      trust: { rootKeys: [{ kid: DEV_ROOT_KID, file: keys('root.pub.pem') }] },
      producerKeysFile: keys('producers.json'),
      leaseMs: 3000,
      replayWindowMs: 600_000,
      headIntervalMs: 1000,
      openWorkers: 0,
      witnesses: { threshold: 0, list: [] },
      logLevel: 'warn',
    } satisfies SequencerConfig);
  });

  it('reads a witness list, each key a cosigner vkey of its name', () => {
    const witnesses = { threshold: 1, list: [witness('w1'), witness('w2')] };
    expect(parseConfig({ ...file, witnesses }).witnesses).toEqual(witnesses);
  });

  it('defaults to the shipped key layout and port', () => {
    expect(
      parseConfig({ redis: { mode: 'cluster', nodes: [{ host: 'redis-0', port: 6379 }] } }),
    ).toMatchObject({
      http: { host: '0.0.0.0', port: 7090 },
      ledger: { log: 'governance' },
      audit: {
        keyFile: '/etc/governance/keys/audit.key.pem',
        certificateFile: '/etc/governance/keys/audit.cert.json',
      },
      trust: { rootKeys: ['/etc/governance/keys/root.pub.pem'] },
      producerKeysFile: '/etc/governance/keys/producers.json',
    });
  });

  it('reads an archive, a directory or an S3 bucket, and the hot tail Redis keeps below it', () => {
    const ledger = { log: 'governance', hotRecords: 1024, hotMs: 10_000 };
    expect(
      parseConfig({ ...file, ledger: { ...ledger, archive: { type: 'fs', dir: '/var/lib/archive' } } })
        .ledger,
    ).toEqual({
      ...ledger,
      replicas: 0,
      replicaTimeoutMs: 1000,
      archive: { type: 'fs', dir: '/var/lib/archive' },
    });
    const s3 = {
      type: 's3',
      bucket: 'ledger-archive',
      prefix: 'prod',
      endpoint: 'https://minio.example:9000',
    };
    expect(parseConfig({ ...file, ledger: { ...ledger, archive: s3 } }).ledger.archive).toEqual(s3);
    expect(parseConfig({ ...file, replayWindowMs: 60_000 }).replayWindowMs).toBe(60_000);
  });

  it.each<[string, Obj, RegExp]>([
    [
      'an archive of no known type',
      { ledger: { log: 'governance', archive: { type: 'ftp', dir: '/x' } } },
      /ledger\.archive\.type: /,
    ],
    [
      'S3 credentials in the file',
      { ledger: { log: 'governance', archive: { type: 's3', bucket: 'b-b-b', secretAccessKey: 'x' } } },
      /Unrecognized key: "secretAccessKey"/,
    ],
    [
      'a hot tail below one bundle',
      { ledger: { log: 'governance', hotRecords: 100 } },
      /ledger\.hotRecords: /,
    ],
    ['a replay window under ten seconds', { replayWindowMs: 1000 }, /replayWindowMs: /],
    [
      'an unknown setting',
      { leaseMS: 1000 },
      /^invalid configuration: \(root\): Unrecognized key: "leaseMS"$/,
    ],
    [
      'an unknown setting in a section',
      { audit: { keyFile: 'k', certificateFile: 'c', kid: 'x' } },
      /audit: Unrecognized key: "kid"/,
    ],
    ['no Redis', { redis: undefined }, /^invalid configuration: redis: /],
    ['a Redis of no known mode', { redis: { mode: 'replicated' } }, /redis\.mode: /],
    [
      'a Redis URL of another scheme',
      { redis: { mode: 'standalone', url: 'http://redis' } },
      /url: must be a redis:\/\/ or rediss:\/\/ URL/,
    ],
    [
      'a Redis setting its schema does not know',
      { redis: { mode: 'standalone', url: 'redis://r', db: 2 } },
      /Unrecognized key: "db"/,
    ],
    ['a log id that is none', { ledger: { log: 'two words' } }, /ledger\.log: /],
    ['too many replicas', { ledger: { log: 'governance', replicas: 17 } }, /ledger\.replicas: /],
    ['a lease too short to renew', { leaseMs: 100 }, /leaseMs: /],
    ['a lease given as text', { leaseMs: '3000' }, /leaseMs: /],
    ['a fractional head interval', { headIntervalMs: 2.5 }, /headIntervalMs: /],
    ['negative open workers', { openWorkers: -1 }, /openWorkers: /],
    ['no root key', { trust: { rootKeys: [] } }, /trust\.rootKeys: /],
    ['an empty producer file name', { producerKeysFile: '' }, /producerKeysFile: /],
    ['a port out of range', { http: { port: 70_000 } }, /http\.port: /],
    ['a gRPC listener it does not have', { grpc: { port: 7091 } }, /Unrecognized key: "grpc"/],
    ['an unknown log level', { logLevel: 'loud' }, /logLevel: /],
    [
      'a witness threshold above the witnesses listed',
      { witnesses: { threshold: 2, list: [witness('w1')] } },
      /witnesses\.threshold: 2 is more than the 1 witnesses listed/,
    ],
    [
      'a witness key that is a note key (type 0x01)',
      { witnesses: { list: [{ ...witness('w1'), key: verifierKey(nodeCrypto, 'w1', new Uint8Array(32)) }] } },
      /witnesses\.list\.0\.key: .*type 0x04/,
    ],
    [
      "a witness key of another witness's name",
      { witnesses: { list: [{ ...witness('w1'), key: witness('w2').key }] } },
      /witnesses\.list\.0\.key: is named w2/,
    ],
    ['a witness listed twice', { witnesses: { list: [witness('w1'), witness('w1')] } }, /list\.1\.name: /],
    [
      'a witness URL that is not http(s)',
      { witnesses: { list: [{ ...witness('w1'), url: 'ftp://w' }] } },
      /witnesses\.list\.0\.url: /,
    ],
  ])('refuses %s, naming it', async (_what, change, message) => {
    expect(await refusal(() => parseConfig({ ...file, ...change }))).toMatch(message);
  });

  it.each<[string, string, RegExp]>([
    ['no mapping', '- a\n- b\n', /the configuration must be a mapping/],
    ['duplicate keys', 'leaseMs: 1000\nleaseMs: 2000\n', /is not valid YAML: .*unique/i],
    ['broken YAML', 'redis: { mode: standalone\n', /is not valid YAML/],
  ])('refuses a file with %s', async (_what, text, message) => {
    expect(await refusal(() => loadConfig(write('bad.yaml', text), {}))).toMatch(message);
  });

  it('refuses a file it cannot read, naming it', async () => {
    const missing = join(dir, 'absent.yaml');
    expect(await refusal(() => loadConfig(missing, {}))).toBe(
      `cannot read configuration file ${missing}: ENOENT`,
    );
  });
});

describe('the environment overrides', () => {
  it('moves Redis (REDIS_URL, REDIS_MODE…) and keeps the key prefix of the file', () => {
    const prefixed = { ...file, redis: { ...(file.redis as Obj), keyPrefix: 'eu:' } };
    expect(parseConfig(prefixed, { REDIS_URL: 'redis://other:6380' }).redis).toEqual({
      mode: 'standalone',
      url: 'redis://other:6380',
      keyPrefix: 'eu:',
    });
    expect(
      parseConfig(prefixed, {
        REDIS_MODE: 'sentinel',
        REDIS_SENTINELS: 's-0:26379',
        REDIS_SENTINEL_NAME: 'gov',
      }).redis,
    ).toEqual({ mode: 'sentinel', sentinels: [{ host: 's-0', port: 26379 }], name: 'gov', keyPrefix: 'eu:' });
  });

  it('sets the HTTP listener and the log level, and nothing else', () => {
    const config = parseConfig(file, {
      GOV_SEQUENCER_HTTP_HOST: '0.0.0.0',
      GOV_SEQUENCER_HTTP_PORT: '7091',
      GOV_SEQUENCER_LOG_LEVEL: 'debug',
      // Not a listener it has: ignored, like another service's variables.
      GOV_SEQUENCER_GRPC_PORT: '7092',
      GOV_AUTHZ_HTTP_PORT: '9999',
    });
    expect(config).toMatchObject({ http: { host: '0.0.0.0', port: 7091 }, logLevel: 'debug' });
    expect(config).not.toHaveProperty('grpc');
  });

  it.each<[NodeJS.ProcessEnv, RegExp]>([
    [{ GOV_SEQUENCER_HTTP_PORT: 'http' }, /^GOV_SEQUENCER_HTTP_PORT must be a port number, got "http"$/],
    [{ GOV_SEQUENCER_HTTP_PORT: '70000' }, /http\.port: /],
    [{ GOV_SEQUENCER_LOG_LEVEL: 'loud' }, /logLevel: /],
    [{ REDIS_MODE: 'cluster' }, /^REDIS_CLUSTER_NODES must be set \(REDIS_MODE cluster\)$/],
  ])('refuses %j, naming it', async (env, message) => {
    expect(await refusal(() => parseConfig(file, env))).toMatch(message);
  });
});

describe('the files it names', () => {
  const config = loadConfig(deployment.files.sequencerConfig, {});
  const rootKey = keyFromPem(readFileSync(keys('root.key.pem'), 'utf8'));
  const now = Math.floor(Date.now() / 1000);
  /** A key record of `role` for `subject`, certified by the deployment's root, or by a stranger. */
  const record = (role: 'producer' | 'audit', subject: string, root = rootKey): KeyRecord =>
    certifyKey(
      {
        v: '1',
        kid: `key:test/${role}/${subject}`,
        role,
        public_key: base64urlEncode(rawPublicKey(generatePrivateKey())),
        subject,
        not_before: formatSeconds(now - 60),
        not_after: formatSeconds(now + 3600),
      },
      DEV_ROOT_KID,
      (message) => signSync(root, message),
    );
  const stranger = publicKeyToPem(generatePrivateKey());
  const audit = (change: Partial<SequencerConfig['audit']>) => ({ audit: { ...config.audit, ...change } });
  const auditFiles = `${keys('audit.key.pem')} / ${keys('audit.cert.json')}`;

  it('are loaded: the audit key for the log, and the producer keys, read again on each call', async () => {
    const material = await loadSequencerMaterial(config);
    expect(material.audit.key).toMatchObject({ role: 'audit', subject: DEV_LOG, kid: deployment.auditKid });
    expect([...(await material.producerKeys()).keys()]).toEqual(['key:dev/authority/1', 'key:dev/authz/1']);
    const records = JSON.parse(readFileSync(config.producerKeysFile, 'utf8')) as KeyRecord[];
    const path = write('producers-grown.json', JSON.stringify(records));
    const grown = await loadSequencerMaterial({ ...config, producerKeysFile: path });
    write('producers-grown.json', JSON.stringify([...records, record('producer', 'authz-server://new')]));
    expect((await grown.producerKeys()).has('key:test/producer/authz-server://new')).toBe(true);
  });

  it.each<[string, () => Partial<SequencerConfig>, RegExp]>([
    [
      'a root key file that is missing',
      () => ({ trust: { rootKeys: [join(dir, 'absent.pem')] } }),
      /^trust\.rootKeys: cannot read public key file \S+absent\.pem: ENOENT$/,
    ],
    [
      'a root key that certified nothing here',
      () => ({ trust: { rootKeys: [write('stranger.pub.pem', stranger)] } }),
      /audit\.cert\.json: key record key:dev\/audit\/1 is not certified by a pinned root$/,
    ],
    [
      'a missing audit key',
      () => audit({ keyFile: join(dir, 'absent.pem') }),
      /^\S+absent\.pem \/ \S+audit\.cert\.json: cannot read key file \S+absent\.pem: ENOENT$/,
    ],
    [
      'an audit key file holding no key',
      () => audit({ keyFile: write('nokey.pem', 'no key here\n') }),
      /^\S+nokey\.pem \/ \S+audit\.cert\.json: not an Ed25519 PEM key$/,
    ],
    [
      'a public audit key',
      () => audit({ keyFile: write('audit.pub.pem', stranger) }),
      /audit\.pub\.pem holds a public key; a signer needs the private key$/,
    ],
    [
      'an audit certificate that is not JSON',
      () => audit({ certificateFile: config.audit.keyFile }),
      /audit\.key\.pem is not a JSON key record$/,
    ],
    [
      'an audit certificate of another key',
      () => audit({ certificateFile: write('other-audit.json', JSON.stringify(record('audit', DEV_LOG))) }),
      /certifies another public key than the private key's$/,
    ],
    [
      'an audit certificate for another log',
      () => ({ ledger: { ...config.ledger, log: 'governance' } }),
      new RegExp(`^${auditFiles}: key record key:dev/audit/1 certifies subject ${DEV_LOG}, not governance$`),
    ],
    [
      'a producer certificate as the audit one',
      () => audit({ certificateFile: keys('authz-producer.cert.json') }),
      /key record key:dev\/authz\/1 is for role producer, not role audit$/,
    ],
    [
      'a missing producer records file',
      () => ({ producerKeysFile: join(dir, 'absent.json') }),
      /^cannot read producerKeysFile \S+absent\.json: ENOENT$/,
    ],
    [
      'producer records that are not JSON',
      () => ({ producerKeysFile: config.audit.keyFile }),
      /^producerKeysFile \S+audit\.key\.pem is not JSON$/,
    ],
    [
      'producer records that are not an array',
      () => ({ producerKeysFile: write('one.json', '{}') }),
      /^producerKeysFile \S+one\.json must hold an array of key records$/,
    ],
    [
      'a producer record no pinned root certifies',
      () => ({
        producerKeysFile: write(
          'foreign.json',
          JSON.stringify([record('producer', 'authz-server://other', generatePrivateKey())]),
        ),
      }),
      /^producerKeysFile \S+foreign\.json record 0: key record key:test\/producer\/authz-server:\/\/other is not certified by a pinned root$/,
    ],
    [
      'a producer record of the wrong shape',
      () => ({ producerKeysFile: write('shapeless.json', '[{"kid": 1}]') }),
      /^producerKeysFile \S+shapeless\.json record 0: /,
    ],
    [
      'a producer records file over 1 MiB',
      () => ({ producerKeysFile: write('huge.json', `[${' '.repeat(1 << 20)}]`) }),
      /^producerKeysFile \S+huge\.json is larger than 1048576 bytes$/,
    ],
  ])('refuses %s with one line naming the file', async (_what, change, message) => {
    expect(await refusal(() => loadSequencerMaterial({ ...config, ...change() }))).toMatch(message);
  });
});
