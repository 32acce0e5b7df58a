// The ledger sequencer's configuration in both deployments. It has no config file: it reads
// environment variables (sequencer/config.ts), so what it requires is derived here from
// loadSequencerConfig itself, and each deployment is read into the same view (the variables the
// container gets, the files its mounts expose) to be checked against it.
import { existsSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, isAbsolute, join } from 'node:path';
import { parseConfig as parseAuthorityConfig } from '../../../authority/config.js';
import { parseConfig as parseAuthzConfig } from '../../../authz-server/config.js';
import { base64urlEncode } from '../../../core/encoding.js';
import { generatePrivateKey, privateKeyToPem, rawPublicKey, signSync } from '../../../core/keys.js';
import { certifyKey, type KeyRole } from '../../../core/registry.js';
import { formatSeconds } from '../../../core/time.js';
import { loadSequencerConfig } from '../../../sequencer/config.js';
import { Problems } from './problems.js';

export const SEQUENCER_CONFIG_SOURCE = 'sequencer/config.ts';
/** What `govctl keys generate --out root` names the root private key (envoy/keys/README.md). */
export const ROOT_PRIVATE_KEY = 'root.key.pem';

type Env = Record<string, string>;
export type SequencerLoader = (env: Env) => Promise<unknown>;

export interface SequencerFixture {
  /** The temporary folder holding the key files, named as envoy/keys/README.md names them. */
  dir: string;
  /** A complete environment that loadSequencerConfig accepts. */
  env: Env;
}

/** Fresh keys and a complete sequencer environment over them, in a temporary folder. */
export function writeSequencerFixture(): SequencerFixture {
  const dir = mkdtempSync(join(tmpdir(), 'sequencer-keys-'));
  const root = generatePrivateKey();
  const rootKid = 'root:test';
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
      rootKid,
      (message) => signSync(root, message),
    );
  const at = (name: string): string => join(dir, name);
  const audit = generatePrivateKey();
  const auditKid = 'key:test/audit/1';
  writeFileSync(at('audit.key.pem'), privateKeyToPem(audit), { mode: 0o600 });
  writeFileSync(at('audit.cert.json'), JSON.stringify(certify(auditKid, 'audit', 'governance', audit)));
  const producers = [
    certify('key:test/authority/1', 'producer', 'authority://test'),
    certify('key:test/authz/1', 'producer', 'authz-server://test'),
  ];
  writeFileSync(at('producers.json'), JSON.stringify(producers));
  return {
    dir,
    env: {
      LEDGER_LOG: 'governance',
      AUDIT_KEY_FILE: at('audit.key.pem'),
      AUDIT_KID: auditKid,
      AUDIT_CERT_FILE: at('audit.cert.json'),
      ROOT_KEYS: `${rootKid}=${base64urlEncode(rawPublicKey(root))}`,
      PRODUCER_KEYS_FILE: at('producers.json'),
    },
  };
}

export interface SequencerContract {
  /** The variables the loader refuses to start without. */
  required: string[];
  /** The variables whose value is a file the sequencer reads. */
  files: string[];
}

/** The variable the loader reports missing, if that is why it fails; any other failure throws. */
async function missingVariable(load: SequencerLoader, env: Env): Promise<string | undefined> {
  try {
    await load(env);
    return undefined;
  } catch (error) {
    const match = /^([A-Z][A-Z0-9_]*) must be set$/.exec((error as Error).message);
    if (!match) throw error;
    return match[1];
  }
}

/**
 * Runs the loader on the fixture's environment with each variable left out in turn: those it
 * then reports missing are required. A variable it requires that the fixture does not have
 * (a new one) fails here, naming it.
 */
export async function deriveSequencerContract(
  fixture: SequencerFixture,
  load: SequencerLoader = loadSequencerConfig,
): Promise<SequencerContract> {
  const unknown = await missingVariable(load, fixture.env);
  if (unknown !== undefined) {
    throw new Error(
      `${SEQUENCER_CONFIG_SOURCE} requires ${unknown}, which the test fixture does not provide: give it to the sequencer in both deployments, then to writeSequencerFixture`,
    );
  }
  const required: string[] = [];
  for (const name of Object.keys(fixture.env)) {
    const { [name]: _left, ...rest } = fixture.env;
    if ((await missingVariable(load, rest)) === name) required.push(name);
  }
  const files = Object.entries(fixture.env)
    .filter(([, value]) => isAbsolute(value) && existsSync(value) && statSync(value).isFile())
    .map(([name]) => name);
  return { required, files };
}

/** The `required(env, 'NAME')` calls of the loader's source. */
export function requiredCallsIn(source: string): string[] {
  return [...source.matchAll(/\brequired\(\s*env\s*,\s*'([A-Z][A-Z0-9_]*)'\s*\)/g)].map((match) => match[1]!);
}

/** A deployment's sequencer, as the checks below see it. */
export interface SequencerView {
  /** Each variable the container gets: its literal value, or undefined when it comes from elsewhere (an env file, a ConfigMap), whose existence the view has checked. */
  env: Map<string, string | undefined>;
  /** The file at a container path: its name among the operator's key material (a bind mount source, a Secret key), or undefined if no mount holds it. */
  fileAt(path: string): string | undefined;
  /** The names of every file its mounts expose. */
  exposed: string[];
  /** What is wrong with where a variable or a mount comes from. */
  problems: string[];
}

/** What the servers deployed beside the sequencer expect of it. */
export interface SequencerExpectations {
  contract: SequencerContract;
  /** Each server config's effective ledger log and Redis key prefix, by server name. */
  servers: Record<string, { log: string; keyPrefix: string }>;
  /** The file names of the issuer's private keys (the authority config's). */
  issuerKeys: string[];
}

/** The settings that bind the sequencer to the servers, read with the servers' own schemas (defaults included). */
export function sequencerExpectations(
  contract: SequencerContract,
  configs: { authz: unknown; authority: unknown },
): SequencerExpectations {
  const authz = parseAuthzConfig(configs.authz, {});
  const authority = parseAuthorityConfig(configs.authority, {});
  const prefix = (redis: unknown): string => (redis as { keyPrefix?: string }).keyPrefix ?? '';
  return {
    contract,
    servers: {
      authz: { log: authz.ledger.log, keyPrefix: prefix(authz.redis) },
      authority: { log: authority.ledger.log, keyPrefix: prefix(authority.redis) },
    },
    issuerKeys: [authority.issuer, ...authority.issuer.standby].map((key) => basename(key.keyFile)),
  };
}

export function sequencerProblems(view: SequencerView, expect: SequencerExpectations): string[] {
  const problems = new Problems('sequencer: ');
  problems.add(view.problems);
  const { env } = view;
  for (const name of expect.contract.required) problems.need(env.has(name), `${name} is not provided`);
  const files = expect.contract.files.filter((name) => env.has(name));
  for (const name of files) {
    const path = env.get(name);
    problems.need(
      path !== undefined && view.fileAt(path) !== undefined,
      path === undefined ? `${name} must be a literal path` : `${name} ${path} is not mounted`,
    );
  }
  const read = files.map((name) => view.fileAt(env.get(name) ?? '')).filter((file) => file !== undefined);
  const log = env.get('LEDGER_LOG');
  const prefix = env.get('LEDGER_KEY_PREFIX') ?? '';
  for (const [server, settings] of Object.entries(expect.servers)) {
    problems.need(
      log === settings.log,
      log === undefined
        ? `LEDGER_LOG must be a literal value, to be checked against the ${server} config`
        : `LEDGER_LOG ${log} is not the ledger.log of the ${server} config (${settings.log})`,
    );
    problems.need(
      prefix === settings.keyPrefix,
      `LEDGER_KEY_PREFIX "${prefix}" is not the redis.keyPrefix of the ${server} config ("${settings.keyPrefix}")`,
    );
  }
  const auditKey = view.fileAt(env.get('AUDIT_KEY_FILE') ?? '');
  for (const file of view.exposed) {
    const name = basename(file);
    if (expect.issuerKeys.includes(name)) problems.need(false, `mounts ${file}, the issuer's private key`);
    else if (name === ROOT_PRIVATE_KEY) problems.need(false, `mounts ${file}, the root's private key`);
    else if (name.endsWith('.key.pem') && file !== auditKey)
      problems.need(false, `mounts ${file}, a private key it does not use`);
    else problems.need(read.includes(file), `mounts ${file}, which none of its variables names`);
  }
  return problems.list;
}

/**
 * The environment a deployment gives the sequencer, with its literal values as they are and its
 * files taken from `dir` by the name the deployment mounts them from; variables whose values the
 * operator supplies (ROOT_KEYS) and that must match the keys (AUDIT_KID) come from `own`.
 */
export function resolveSequencerEnv(
  view: SequencerView,
  contract: SequencerContract,
  dir: string,
  own: Env,
): Env {
  const env: Env = {};
  for (const [name, value] of view.env) {
    const file = value !== undefined && contract.files.includes(name) ? view.fileAt(value) : undefined;
    if (file !== undefined) env[name] = join(dir, basename(file));
    else if (value !== undefined) env[name] = value;
  }
  return { ...env, ...own };
}
