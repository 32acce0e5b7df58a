// The ledger sequencer in both deployments: every variable loadSequencerConfig requires, the files
// they name mounted read-only (and nothing else: never the issuer's or the root's private key),
// the log it sequences the one the servers append to. What it requires is derived from the
// loader itself, so a new required variable fails here until both deployments provide it.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childEnvironment } from '../../devkit/server-process.js';
import { GovernanceError, isGovernanceError } from '../../core/errors.js';
import { base64urlEncode } from '../../core/encoding.js';
import { generatePrivateKey, publicKeyToPem, rawPublicKey, signSync } from '../../core/keys.js';
import { certifyKey } from '../../core/registry.js';
import { formatSeconds } from '../../core/time.js';
import { loadSequencerConfig } from '../../sequencer/config.js';
import { composeSequencerView, documentedFiles } from './support/compose.js';
import { COMPOSE_FILE, OPERATOR_ENV_FILES, SERVER_CONFIGS } from './support/layout.js';
import { k8sSequencerView, loadBundle, workloadProblems, type Bundle } from './support/manifests.js';
import { runModule } from '../support/run-module.js';
import { mutated, readYaml, repoPath } from './support/repo.js';
import {
  deriveSequencerContract,
  requiredCallsIn,
  resolveSequencerEnv,
  SEQUENCER_CONFIG_SOURCE,
  sequencerExpectations,
  sequencerProblems,
  writeSequencerFixture,
  type SequencerView,
} from './support/sequencer.js';

type Obj = Record<string, unknown>;
const fixture = writeSequencerFixture();
afterAll(() => rmSync(fixture.dir, { recursive: true, force: true }));
const contract = await deriveSequencerContract(fixture);

describe(`what ${SEQUENCER_CONFIG_SOURCE} requires`, () => {
  it('is every variable loadSequencerConfig refuses to start without, as its required() calls say', () => {
    const source = readFileSync(repoPath(SEQUENCER_CONFIG_SOURCE), 'utf8');
    expect([...contract.required].sort()).toEqual([...new Set(requiredCallsIn(source))].sort());
    expect(contract.required).toEqual(
      expect.arrayContaining(['LEDGER_LOG', 'AUDIT_KEY_FILE', 'AUDIT_KID', 'AUDIT_CERT_FILE', 'ROOT_KEYS']),
    );
  });

  it("is what the sequencer's --help lists as required", async () => {
    const help = await runModule('sequencer/main.ts', ['--help'], childEnvironment());
    const listed = /^Required +(.+)$/m.exec(help.stdout)?.[1]?.split(', ');
    expect(listed?.sort()).toEqual([...contract.required].sort());
  });

  it('knows the files it reads', () => {
    expect([...contract.files].sort()).toEqual(['AUDIT_CERT_FILE', 'AUDIT_KEY_FILE', 'PRODUCER_KEYS_FILE']);
  });

  it('would fail on a variable the loader starts to require', async () => {
    const stricter = async (env: Record<string, string>) => {
      if (!env.LEDGER_SHARDS) throw new GovernanceError('config.invalid', 'LEDGER_SHARDS must be set');
      return loadSequencerConfig(env);
    };
    await expect(deriveSequencerContract(fixture, stricter)).rejects.toThrow(
      /requires LEDGER_SHARDS, which the test fixture does not provide/,
    );
  });

  it('would see a variable the loader no longer requires', async () => {
    const laxer = (env: Record<string, string>) =>
      loadSequencerConfig({ AUDIT_KID: 'key:test/audit/1', ...env });
    expect(await deriveSequencerContract(fixture, laxer)).toMatchObject({
      required: expect.not.arrayContaining(['AUDIT_KID']) as unknown,
    });
  });
});

describe(`the files ${SEQUENCER_CONFIG_SOURCE} reads`, () => {
  // The fixture's own files, and the bad ones in a folder of their own (the fixture's holds only
  // the files the deployments name).
  const at = (name: string) => join(fixture.dir, name);
  let bad: string;
  beforeAll(() => {
    bad = mkdtempSync(join(tmpdir(), 'sequencer-bad-files-'));
  });
  afterAll(() => rmSync(bad, { recursive: true, force: true }));
  const write = (name: string, text: string) => {
    writeFileSync(join(bad, name), text);
    return join(bad, name);
  };
  // Certified under the pinned root's kid, by another key.
  const now = Math.floor(Date.now() / 1000);
  const otherRoot = certifyKey(
    {
      v: '1',
      kid: 'key:test/other/1',
      role: 'producer',
      public_key: base64urlEncode(rawPublicKey(generatePrivateKey())),
      subject: 'authz-server://other',
      not_before: formatSeconds(now - 60),
      not_after: formatSeconds(now + 3600),
    },
    fixture.env.ROOT_KEYS!.split('=')[0]!,
    (message) => signSync(generatePrivateKey(), message),
  );

  it.each<[string, () => Record<string, string>, RegExp]>([
    [
      'a missing audit key',
      () => ({ AUDIT_KEY_FILE: at('absent.pem') }),
      /^cannot read AUDIT_KEY_FILE \S+absent\.pem: ENOENT$/,
    ],
    [
      'an audit key file holding no key',
      () => ({ AUDIT_KEY_FILE: at('producers.json') }),
      /^AUDIT_KEY_FILE \S+producers\.json: not an Ed25519 PEM key$/,
    ],
    [
      'a public audit key',
      () => ({ AUDIT_KEY_FILE: write('audit.pub.pem', publicKeyToPem(generatePrivateKey())) }),
      /^AUDIT_KEY_FILE \S+audit\.pub\.pem holds no private key$/,
    ],
    [
      'an audit record that is not JSON',
      () => ({ AUDIT_CERT_FILE: at('audit.key.pem') }),
      /^AUDIT_CERT_FILE \S+audit\.key\.pem is not JSON$/,
    ],
    [
      'a missing producer records file',
      () => ({ PRODUCER_KEYS_FILE: at('absent.json') }),
      /^cannot read PRODUCER_KEYS_FILE \S+absent\.json: ENOENT$/,
    ],
    [
      'producer records that are not an array',
      () => ({ PRODUCER_KEYS_FILE: write('one.json', '{}') }),
      /^PRODUCER_KEYS_FILE \S+one\.json must hold an array of key records$/,
    ],
    [
      'a producer record no pinned root certifies',
      () => ({ PRODUCER_KEYS_FILE: write('foreign.json', JSON.stringify([otherRoot])) }),
      /^PRODUCER_KEYS_FILE \S+foreign\.json record 0: key record key:test\/other\/1 is not certified by a pinned root$/,
    ],
    [
      'a producer record of the wrong shape',
      () => ({ PRODUCER_KEYS_FILE: write('shapeless.json', '[{"kid": 1}]') }),
      /^PRODUCER_KEYS_FILE \S+shapeless\.json record 0: /,
    ],
    [
      'a producer records file over 1 MiB',
      () => ({ PRODUCER_KEYS_FILE: write('huge.json', `[${' '.repeat(1 << 20)}]`) }),
      /^PRODUCER_KEYS_FILE \S+huge\.json is larger than 1048576 bytes$/,
    ],
  ])('refuses %s with one line naming the variable and the file', async (_what, change, message) => {
    let error: unknown;
    try {
      await loadSequencerConfig({ ...fixture.env, ...change() });
    } catch (e) {
      error = e;
    }
    expect(isGovernanceError(error, 'config.invalid'), String(error)).toBe(true);
    expect((error as Error).message).toMatch(message);
  });
});

/** A deployment of the sequencer, and the edits the negative tests make to a copy of it. */
interface Deployment<T> {
  name: string;
  load(): T;
  view(deployment: T): SequencerView;
  configs(deployment: T): { authz: Obj; authority: Obj };
  without(copy: T, variable: string): void;
  setEnv(copy: T, variable: string, value: string): void;
  /** Mounts everything the authority holds. */
  mountAuthorityKeys(copy: T): void;
  mountRootKey(copy: T): void;
  unmountKeys(copy: T): void;
  makeWritable(copy: T): void;
}

const composeServerConfigs = () => {
  const path = (name: string) => SERVER_CONFIGS.find((config) => config.name === name)!.compose;
  return { authz: readYaml(path('authz')) as Obj, authority: readYaml(path('authority')) as Obj };
};
interface ComposeDeployment {
  compose: Obj;
  configs: { authz: Obj; authority: Obj };
}
const composeService = (d: ComposeDeployment): Obj => (d.compose.services as Obj).sequencer as Obj;
const keyMount = (file: string) => ({
  type: 'bind',
  source: `./keys/${file}`,
  target: `/etc/governance/keys/${file}`,
  read_only: true,
  bind: { create_host_path: false },
});

const compose: Deployment<ComposeDeployment> = {
  name: COMPOSE_FILE,
  load: () => ({ compose: readYaml(COMPOSE_FILE, { merge: true }) as Obj, configs: composeServerConfigs() }),
  view: (d) => composeSequencerView(d.compose, dirname(COMPOSE_FILE), OPERATOR_ENV_FILES),
  configs: (d) => d.configs,
  without: (d, variable) => {
    delete (composeService(d).environment as Obj)[variable];
    const envFiles = Object.values(OPERATOR_ENV_FILES) as readonly (readonly string[])[];
    if (envFiles.some((variables) => variables.includes(variable))) delete composeService(d).env_file;
  },
  setEnv: (d, variable, value) => ((composeService(d).environment as Obj)[variable] = value),
  mountAuthorityKeys: (d) => (composeService(d).volumes = ['./keys:/etc/governance/keys:ro']),
  mountRootKey: (d) => (composeService(d).volumes as Obj[]).push(keyMount('root.key.pem')),
  unmountKeys: (d) => (composeService(d).volumes = []),
  makeWritable: (d) => ((composeService(d).volumes as Obj[])[0]!.read_only = false),
};

const sequencerOf = (b: Bundle): Obj =>
  b.objects.find((o) => o.kind === 'Deployment' && (o.metadata as Obj).name === 'sequencer')!;
const podSpec = (b: Bundle): Obj => ((sequencerOf(b).spec as Obj).template as Obj).spec as Obj;
const container = (b: Bundle): Obj => (podSpec(b).containers as Obj[])[0]!;
const volume = (b: Bundle, name: string): Obj => (podSpec(b).volumes as Obj[]).find((v) => v.name === name)!;
const template = (b: Bundle, name: string): Obj =>
  b.templates.find((t) => (t.metadata as Obj).name === name)!;
const envEntry = (b: Bundle, name: string): Obj => (container(b).env as Obj[]).find((e) => e.name === name)!;

const kubernetes: Deployment<Bundle> = {
  name: 'istio/',
  load: loadBundle,
  view: k8sSequencerView,
  configs: (b) => ({ authz: b.serverConfigs.authz!, authority: b.serverConfigs.authority! }),
  without: (b, variable) =>
    (container(b).env = (container(b).env as Obj[]).filter((e) => e.name !== variable)),
  setEnv: (b, variable, value) =>
    (container(b).env = [
      ...(container(b).env as Obj[]).filter((e) => e.name !== variable),
      { name: variable, value },
    ]),
  mountAuthorityKeys: (b) => ((volume(b, 'keys').secret as Obj).secretName = 'governance-authority-keys'),
  mountRootKey: (b) => ((template(b, 'governance-sequencer-keys').data as Obj)['root.key.pem'] = ''),
  unmountKeys: (b) =>
    (container(b).volumeMounts = (container(b).volumeMounts as Obj[]).filter((m) => m.name !== 'keys')),
  makeWritable: (b) =>
    ((container(b).volumeMounts as Obj[]).find((m) => m.name === 'keys')!.readOnly = false),
};

function describeSequencer<T>(deployment: Deployment<T>): void {
  describe(`the sequencer in ${deployment.name}`, () => {
    const original = deployment.load();
    const problems = (d: T): string[] =>
      sequencerProblems(deployment.view(d), sequencerExpectations(contract, deployment.configs(d)));

    it("gets every required variable, its files mounted read-only, the servers' log, no other keys", () => {
      expect(problems(original)).toEqual([]);
    });

    it('starts on that environment, with the key files named as envoy/keys/README.md names them', async () => {
      expect(documentedFiles('envoy/keys')).toEqual(expect.arrayContaining(readdirSync(fixture.dir)));
      const own = { ROOT_KEYS: fixture.env.ROOT_KEYS!, AUDIT_KID: fixture.env.AUDIT_KID! };
      const env = resolveSequencerEnv(deployment.view(original), contract, fixture.dir, own);
      const config = await loadSequencerConfig(env);
      expect(config.log).toBe('governance');
      expect((await config.options.producerKeys()).size).toBe(2);
    });

    const flags = (mutate: (copy: T) => unknown, expected: RegExp): void => {
      expect(problems(mutated(original, mutate))).toContainEqual(expect.stringMatching(expected));
    };

    it.each(contract.required)('flags a copy without %s', (variable) => {
      flags((d) => deployment.without(d, variable), new RegExp(`^sequencer: ${variable} is not provided$`));
    });

    it.each<[string, (copy: T) => unknown, RegExp]>([
      [
        'a log the servers do not append to',
        (d) => deployment.setEnv(d, 'LEDGER_LOG', 'governance-2'),
        /LEDGER_LOG governance-2 is not the ledger\.log of the authz config \(governance\)/,
      ],
      [
        'a server that appends to another log',
        (d) => (deployment.configs(d).authority.ledger = { log: 'audit' }),
        /LEDGER_LOG governance is not the ledger\.log of the authority config \(audit\)/,
      ],
      [
        'a Redis key prefix the servers do not use',
        (d) => deployment.setEnv(d, 'LEDGER_KEY_PREFIX', 'eu:'),
        /LEDGER_KEY_PREFIX "eu:" is not the redis\.keyPrefix of the authz config/,
      ],
      [
        'its keys not mounted',
        (d) => deployment.unmountKeys(d),
        /AUDIT_KEY_FILE \S+audit\.key\.pem is not mounted/,
      ],
      [
        'a file path outside its mounts',
        (d) => deployment.setEnv(d, 'AUDIT_CERT_FILE', '/etc/audit.cert.json'),
        /AUDIT_CERT_FILE \/etc\/audit\.cert\.json is not mounted/,
      ],
      ['a writable key mount', (d) => deployment.makeWritable(d), /must be read-only/],
      [
        "the authority's keys",
        (d) => deployment.mountAuthorityKeys(d),
        /issuer\.key\.pem, the issuer's private key/,
      ],
      [
        "the authority's producer key",
        (d) => deployment.mountAuthorityKeys(d),
        /authority-producer\.key\.pem, a private key it does not use/,
      ],
      ["the root's private key", (d) => deployment.mountRootKey(d), /root\.key\.pem, the root's private key/],
    ])('flags %s', (_, mutate, expected) => flags(mutate, expected));
  });
}

describeSequencer(compose);
describeSequencer(kubernetes);

describe('the sequencer in envoy/docker-compose.yaml, further', () => {
  const original = compose.load();
  const problems = (d: ComposeDeployment): string[] =>
    sequencerProblems(compose.view(d), sequencerExpectations(contract, d.configs));

  it.each<[string, (copy: ComposeDeployment) => unknown, RegExp]>([
    [
      'an env file nobody is told to make',
      (d) => (composeService(d).env_file = './keys/sequencer.env'),
      /env_file \.\/keys\/sequencer\.env is not an env file the operator is told to make/,
    ],
    [
      'an env file Compose may skip',
      (d) => (composeService(d).env_file = [{ path: './keys/root-keys.env', required: false }]),
      /env_file \.\/keys\/root-keys\.env must be required/,
    ],
    [
      'a variable taken from the shell',
      (d) => ((composeService(d).environment as Obj).AUDIT_KID = null),
      /AUDIT_KID is not provided/,
    ],
  ])('flags %s', (_, mutate, expected) => {
    expect(problems(mutated(original, mutate))).toContainEqual(expect.stringMatching(expected));
  });
});

describe('the sequencer in istio/, further', () => {
  const original = kubernetes.load();
  const rootKeysRef = (b: Bundle): Obj => (envEntry(b, 'ROOT_KEYS').valueFrom as Obj).configMapKeyRef as Obj;
  it.each<[string, (copy: Bundle) => unknown, RegExp]>([
    [
      'a ConfigMap nobody creates',
      (b) => (rootKeysRef(b).name = 'root-keys'),
      /env ROOT_KEYS: ConfigMap root-keys key ROOT_KEYS is neither applied nor a template/,
    ],
    [
      'a key the ConfigMap does not have',
      (b) => (rootKeysRef(b).key = 'root_keys'),
      /env ROOT_KEYS: ConfigMap governance-root-keys key root_keys is neither applied nor a template/,
    ],
    [
      'an optional ConfigMap',
      (b) => (rootKeysRef(b).optional = true),
      /env ROOT_KEYS: .* must not be optional/,
    ],
  ])('flags %s, as do the workload checks', (_, mutate, expected) => {
    const copy = mutated(original, mutate);
    const view = kubernetes.view(copy);
    expect(sequencerProblems(view, sequencerExpectations(contract, kubernetes.configs(copy)))).toEqual(
      expect.arrayContaining([expect.stringMatching(expected), 'sequencer: ROOT_KEYS is not provided']),
    );
    expect(workloadProblems(copy)).toContainEqual(expect.stringMatching(expected));
  });

  it('flags a Secret key the file variable names but the Secret lacks', () => {
    const copy = mutated(
      original,
      (b) => delete (template(b, 'governance-sequencer-keys').data as Obj)['producers.json'],
    );
    expect(
      sequencerProblems(kubernetes.view(copy), sequencerExpectations(contract, kubernetes.configs(copy))),
    ).toContainEqual('sequencer: PRODUCER_KEYS_FILE /etc/governance/keys/producers.json is not mounted');
  });
});
