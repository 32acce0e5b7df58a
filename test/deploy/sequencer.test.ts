// The ledger sequencer in both deployments: its configuration file valid under its own schema,
// every file it names mounted read-only (and nothing else: never the issuer's or the root's
// private key), the log it sequences and its Redis key prefix the ones the servers use. The files
// it reads come from the configuration as the schema completes it, so a new file setting is
// checked without a change here.
import { readdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSequencerMaterial } from '../../sequencer/service.js';
import { composeSequencerView, documentedFiles } from './support/compose.js';
import { COMPOSE_FILE, SERVER_CONFIGS } from './support/layout.js';
import { k8sSequencerView, loadBundle, type Bundle } from './support/manifests.js';
import { mutated, readYaml } from './support/repo.js';
import {
  resolveSequencerConfig,
  sequencerExpectations,
  sequencerProblems,
  writeSequencerFixture,
  type SequencerView,
} from './support/sequencer.js';

type Obj = Record<string, unknown>;
const fixture = writeSequencerFixture();
afterAll(() => rmSync(fixture, { recursive: true, force: true }));

type Configs = Record<'authz' | 'authority' | 'sequencer', Obj>;

/** A deployment of the sequencer, and the edits the negative tests make to a copy of it. */
interface Deployment<T> {
  name: string;
  load(): T;
  view(deployment: T): SequencerView;
  configs(deployment: T): Configs;
  /** Mounts everything the authority holds. */
  mountAuthorityKeys(copy: T): void;
  mountRootKey(copy: T): void;
  unmountKeys(copy: T): void;
  makeWritable(copy: T): void;
  unmountConfig(copy: T): void;
}

const composeConfigs = (): Configs =>
  Object.fromEntries(
    SERVER_CONFIGS.map((config) => [config.name, readYaml(config.compose) as Obj]),
  ) as Configs;
interface ComposeDeployment {
  compose: Obj;
  configs: Configs;
}
const composeService = (d: ComposeDeployment): Obj => (d.compose.services as Obj).sequencer as Obj;
const composeMounts = (d: ComposeDeployment): unknown[] => composeService(d).volumes as unknown[];
const keyMount = (file: string) => ({
  type: 'bind',
  source: `./keys/${file}`,
  target: `/etc/governance/keys/${file}`,
  read_only: true,
  bind: { create_host_path: false },
});

const compose: Deployment<ComposeDeployment> = {
  name: COMPOSE_FILE,
  load: () => ({ compose: readYaml(COMPOSE_FILE, { merge: true }) as Obj, configs: composeConfigs() }),
  view: (d) => composeSequencerView(d.compose, dirname(COMPOSE_FILE), d.configs),
  configs: (d) => d.configs,
  mountAuthorityKeys: (d) => composeMounts(d).push('./keys:/etc/governance/keys:ro'),
  mountRootKey: (d) => composeMounts(d).push(keyMount('root.key.pem')),
  unmountKeys: (d) => (composeService(d).volumes = composeMounts(d).filter((m) => typeof m === 'string')),
  makeWritable: (d) => ((composeMounts(d)[1] as Obj).read_only = false),
  unmountConfig: (d) => (composeService(d).volumes = composeMounts(d).filter((m) => typeof m !== 'string')),
};

const sequencerOf = (b: Bundle): Obj =>
  b.objects.find((o) => o.kind === 'Deployment' && (o.metadata as Obj).name === 'sequencer')!;
const podSpec = (b: Bundle): Obj => ((sequencerOf(b).spec as Obj).template as Obj).spec as Obj;
const container = (b: Bundle): Obj => (podSpec(b).containers as Obj[])[0]!;
const volume = (b: Bundle, name: string): Obj => (podSpec(b).volumes as Obj[]).find((v) => v.name === name)!;
const template = (b: Bundle, name: string): Obj =>
  b.templates.find((t) => (t.metadata as Obj).name === name)!;
const withoutMount = (b: Bundle, name: string) =>
  (container(b).volumeMounts = (container(b).volumeMounts as Obj[]).filter((m) => m.name !== name));

const kubernetes: Deployment<Bundle> = {
  name: 'istio/',
  load: loadBundle,
  view: k8sSequencerView,
  configs: (b) => b.serverConfigs as Configs,
  mountAuthorityKeys: (b) => ((volume(b, 'keys').secret as Obj).secretName = 'governance-authority-keys'),
  mountRootKey: (b) => ((template(b, 'governance-sequencer-keys').data as Obj)['root.key.pem'] = ''),
  unmountKeys: (b) => withoutMount(b, 'keys'),
  makeWritable: (b) =>
    ((container(b).volumeMounts as Obj[]).find((m) => m.name === 'keys')!.readOnly = false),
  unmountConfig: (b) => withoutMount(b, 'config'),
};

function describeSequencer<T>(deployment: Deployment<T>): void {
  describe(`the sequencer in ${deployment.name}`, () => {
    const original = deployment.load();
    const problems = (d: T): string[] =>
      sequencerProblems(deployment.view(d), sequencerExpectations(deployment.configs(d)));

    it("gets a valid configuration, every file it names mounted read-only, the servers' log, no other keys", () => {
      expect(problems(original)).toEqual([]);
    });

    it('starts on that configuration, with the key files named as envoy/keys/README.md names them', async () => {
      expect(documentedFiles('envoy/keys')).toEqual(expect.arrayContaining(readdirSync(fixture)));
      const config = resolveSequencerConfig(deployment.view(original), fixture);
      expect(config.ledger.log).toBe('governance');
      const material = await loadSequencerMaterial(config);
      expect((await material.producerKeys()).size).toBe(2);
    });

    const flags = (mutate: (copy: T) => unknown, expected: RegExp): void => {
      expect(problems(mutated(original, mutate))).toContainEqual(expect.stringMatching(expected));
    };
    const sequencerConfig = (d: T): Obj => deployment.configs(d).sequencer;

    it.each<[string, (copy: T) => unknown, RegExp]>([
      [
        'its configuration not mounted',
        (d) => deployment.unmountConfig(d),
        /its --config file is not mounted/,
      ],
      [
        'a setting its schema refuses',
        (d) => (sequencerConfig(d).leaseMs = 'fast'),
        /config\.invalid|invalid configuration: leaseMs/,
      ],
      [
        'a log the servers do not append to',
        (d) => (sequencerConfig(d).ledger = { log: 'governance-2' }),
        /ledger\.log governance-2 is not the ledger\.log of the authz config \(governance\)/,
      ],
      [
        'a server that appends to another log',
        (d) => (deployment.configs(d).authority.ledger = { log: 'audit' }),
        /ledger\.log governance is not the ledger\.log of the authority config \(audit\)/,
      ],
      [
        'a Redis key prefix the servers do not use',
        (d) => (sequencerConfig(d).redis = { ...(sequencerConfig(d).redis as Obj), keyPrefix: 'eu:' }),
        /redis\.keyPrefix "eu:" is not the redis\.keyPrefix of the authz config/,
      ],
      [
        'its keys not mounted',
        (d) => deployment.unmountKeys(d),
        /\/etc\/governance\/keys\/audit\.key\.pem is not mounted/,
      ],
      [
        'a file path outside its mounts',
        (d) => (sequencerConfig(d).producerKeysFile = '/etc/governance/producers.json'),
        /\/etc\/governance\/producers\.json is not mounted/,
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

describe('the sequencer in istio/, further', () => {
  it('flags a Secret key the configuration names but the Secret lacks', () => {
    const copy = mutated(
      kubernetes.load(),
      (b) => delete (template(b, 'governance-sequencer-keys').data as Obj)['producers.json'],
    );
    expect(
      sequencerProblems(kubernetes.view(copy), sequencerExpectations(kubernetes.configs(copy))),
    ).toContainEqual('sequencer: /etc/governance/keys/producers.json is not mounted');
  });
});
