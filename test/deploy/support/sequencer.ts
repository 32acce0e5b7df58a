// The ledger sequencer in both deployments. Like the servers it reads one configuration file
// (sequencer/config.ts), which names the files it reads; each deployment is read into the same
// view (the configuration its --config path shows, the files its mounts expose) to be checked:
// the configuration valid, every file it names mounted, the log and key prefix the servers',
// and no key it does not use (never the issuer's or the root's private key).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { parseConfig as parseAuthorityConfig } from '../../../authority/config.js';
import { parseConfig as parseAuthzConfig } from '../../../authz-server/config.js';
import { base64urlEncode } from '../../../core/encoding.js';
import {
  generatePrivateKey,
  privateKeyToPem,
  publicKeyToPem,
  rawPublicKey,
  signSync,
} from '../../../core/keys.js';
import { certifyKey, type KeyRole } from '../../../core/registry.js';
import { formatSeconds } from '../../../core/time.js';
import { parseConfig, type SequencerConfig } from '../../../sequencer/config.js';
import { Problems } from './problems.js';
import { vkeyFixture, withVkeys } from './witnesses.js';

/** What `govctl keys generate --out root` names the root private key (envoy/keys/README.md). */
export const ROOT_PRIVATE_KEY = 'root.key.pem';
/** Keys for the vkey placeholders the shipped configurations hold where each deployment's go. */
const VKEYS = vkeyFixture();
/** Where the deployments mount what the services read. */
const MOUNTED = '/etc/governance/';

/** Fresh keys in a temporary folder, named as envoy/keys/README.md names them. */
export function writeSequencerFixture(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sequencer-keys-'));
  const root = generatePrivateKey();
  const now = Math.floor(Date.now() / 1000);
  const certify = (kid: string, role: KeyRole, subject: string, key = generatePrivateKey()) =>
    certifyKey(
      {
        v: '1',
        kid,
        role,
        public_key: base64urlEncode(rawPublicKey(key)),
        subject,
        not_before: formatSeconds(now - 60),
        not_after: formatSeconds(now + 3600),
      },
      'root:test',
      (message) => signSync(root, message),
    );
  const at = (name: string): string => join(dir, name);
  const audit = generatePrivateKey();
  writeFileSync(at('root.pub.pem'), publicKeyToPem(root));
  writeFileSync(at('audit.key.pem'), privateKeyToPem(audit), { mode: 0o600 });
  writeFileSync(
    at('audit.cert.json'),
    JSON.stringify(certify('key:test/audit/1', 'audit', 'governance', audit)),
  );
  const producers = [
    certify('key:test/authority/1', 'producer', 'authority://test'),
    certify('key:test/authz/1', 'producer', 'authz-server://test'),
  ];
  writeFileSync(at('producers.json'), JSON.stringify(producers));
  return dir;
}

/** The paths a configuration names under the deployments' mount root: the files it reads. */
function pathsIn(value: unknown): string[] {
  if (typeof value === 'string') return value.startsWith(MOUNTED) ? [value] : [];
  if (Array.isArray(value)) return value.flatMap(pathsIn);
  return value !== null && typeof value === 'object' ? Object.values(value).flatMap(pathsIn) : [];
}

/**
 * The files the sequencer reads, from its configuration as its own schema completes it
 * (defaults included): a file setting added to sequencer/config.ts is checked without a change here.
 */
export function filesRead(config: SequencerConfig): string[] {
  return [...new Set(pathsIn(config))];
}

/** A deployment's sequencer, as the checks below see it. */
export interface SequencerView {
  /** The configuration at its --config path, undefined when no mount holds it. */
  config: unknown;
  /** What its mounts call that configuration file (excluded from `exposed`'s checks). */
  configFile: string | undefined;
  /** The file at a container path: its name among the operator's key material (a bind mount source, a Secret key), or undefined if no mount holds it. */
  fileAt(path: string): string | undefined;
  /** The names of every file its mounts expose. */
  exposed: string[];
  /** What is wrong with where its configuration or a mount comes from. */
  problems: string[];
}

/** What the servers deployed beside the sequencer expect of it. */
export interface SequencerExpectations {
  /** Each server config's effective ledger log and Redis key prefix, by server name. */
  servers: Record<string, { log: string; keyPrefix: string }>;
  /** The file names of the issuer's private keys (the authority config's). */
  issuerKeys: string[];
}

const keyPrefixOf = (redis: unknown): string => (redis as { keyPrefix?: string }).keyPrefix ?? '';

/** The settings that bind the sequencer to the servers, read with the servers' own schemas (defaults included). */
export function sequencerExpectations(configs: {
  authz: unknown;
  authority: unknown;
}): SequencerExpectations {
  const authz = parseAuthzConfig(configs.authz, {});
  const authority = parseAuthorityConfig(configs.authority, {});
  return {
    servers: {
      authz: { log: authz.ledger.log, keyPrefix: keyPrefixOf(authz.redis) },
      authority: { log: authority.ledger.log, keyPrefix: keyPrefixOf(authority.redis) },
    },
    issuerKeys: [authority.issuer, ...authority.issuer.standby].map((key) => basename(key.keyFile)),
  };
}

export function sequencerProblems(view: SequencerView, expect: SequencerExpectations): string[] {
  const problems = new Problems('sequencer: ');
  problems.add(view.problems);
  if (view.config === undefined) {
    problems.need(false, 'its --config file is not mounted');
    return problems.list;
  }
  let config: SequencerConfig;
  try {
    config = parseConfig(withVkeys(view.config, VKEYS), {});
  } catch (e) {
    problems.need(false, (e as Error).message);
    return problems.list;
  }
  const files = filesRead(config);
  for (const path of files) problems.need(view.fileAt(path) !== undefined, `${path} is not mounted`);
  const read = files.map((path) => view.fileAt(path)).filter((file) => file !== undefined);
  const { log } = config.ledger;
  const prefix = keyPrefixOf(config.redis);
  for (const [server, settings] of Object.entries(expect.servers)) {
    problems.need(
      log === settings.log,
      `ledger.log ${log} is not the ledger.log of the ${server} config (${settings.log})`,
    );
    problems.need(
      prefix === settings.keyPrefix,
      `redis.keyPrefix "${prefix}" is not the redis.keyPrefix of the ${server} config ("${settings.keyPrefix}")`,
    );
  }
  const auditKey = view.fileAt(config.audit.keyFile);
  for (const file of view.exposed.filter((exposed) => exposed !== view.configFile)) {
    const name = basename(file);
    if (expect.issuerKeys.includes(name)) problems.need(false, `mounts ${file}, the issuer's private key`);
    else if (name === ROOT_PRIVATE_KEY) problems.need(false, `mounts ${file}, the root's private key`);
    else if (name.endsWith('.key.pem') && file !== auditKey)
      problems.need(false, `mounts ${file}, a private key it does not use`);
    else problems.need(read.includes(file), `mounts ${file}, which its configuration does not name`);
  }
  return problems.list;
}

/**
 * A deployment's configuration with every file it names taken from `dir`, by the name the
 * deployment mounts it from: what the sequencer would read, on the fixture's keys.
 */
export function resolveSequencerConfig(view: SequencerView, dir: string): SequencerConfig {
  const config = parseConfig(withVkeys(view.config, VKEYS), {});
  const local = (path: string): string => {
    const file = view.fileAt(path);
    return file === undefined ? path : join(dir, basename(file));
  };
  return {
    ...config,
    audit: { keyFile: local(config.audit.keyFile), certificateFile: local(config.audit.certificateFile) },
    trust: {
      rootKeys: config.trust.rootKeys.map((root) =>
        typeof root === 'string' ? local(root) : { ...root, file: local(root.file) },
      ),
    },
    producerKeysFile: local(config.producerKeysFile),
  };
}
