// The ledger's witnesses in both deployments (docs/deploy/witnesses.md): the sequencer asks a
// quorum of witnesses that the deployment runs, the producers hold checkpoints to the same
// policy, each witness has its own key and its own persistent state, and only the sequencer can
// post checkpoints to them. On keys made as the docs say, the shipped configurations work: the
// witnesses cosign the log's checkpoint and the producers' policy accepts it.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig as parseAuthorityConfig } from '../../authority/config.js';
import { parseConfig as parseAuthzConfig } from '../../authz-server/config.js';
import { checkpointNote, cosigners, signCheckpoint } from '../../core/checkpoint.js';
import { nodeCrypto } from '../../core/crypto-node.js';
import { privateKeyToPem, rawPublicKey, signSync } from '../../core/keys.js';
import { witnessPolicy } from '../../service/checkpoint-trust.js';
import { parseConfig as parseSequencerConfig } from '../../sequencer/config.js';
import { httpWitnesses } from '../../sequencer/witnesses.js';
import { parseConfig as parseWitnessConfig } from '../../witness/config.js';
import { startWitnessService } from '../../witness/service.js';
import { composeWitnessNetworkProblems, composeWitnessView } from './support/compose.js';
import { COMPOSE_FILE, SERVER_CONFIGS } from './support/layout.js';
import { k8sWitnessView, loadBundle, witnessAccessProblems, type Bundle } from './support/manifests.js';
import { mutated, readYaml } from './support/repo.js';
import { vkeyFixture, withVkeys, witnessProblems, type WitnessDeploymentView } from './support/witnesses.js';

type Obj = Record<string, unknown>;

interface ComposeDeployment {
  compose: Obj;
  configs: Record<string, Obj>;
}
const loadCompose = (): ComposeDeployment => ({
  compose: readYaml(COMPOSE_FILE, { merge: true }) as Obj,
  configs: Object.fromEntries(SERVER_CONFIGS.map((config) => [config.name, readYaml(config.compose) as Obj])),
});
const composeService = (d: ComposeDeployment, name: string): Obj => (d.compose.services as Obj)[name] as Obj;

const set = (b: Bundle, name: string): Obj =>
  b.objects.find((o) => o.kind === 'StatefulSet' && (o.metadata as Obj).name === name)!;
const podSpec = (workload: Obj): Obj => ((workload.spec as Obj).template as Obj).spec as Obj;
const volume = (workload: Obj, name: string): Obj =>
  (podSpec(workload).volumes as Obj[]).find((v) => v.name === name)!;
const find = (b: Bundle, kind: string, name: string): Obj =>
  b.objects.find((o) => o.kind === kind && (o.metadata as Obj).name === name)!;

/** A deployment, and the edits its negative tests make to a copy of it. */
interface Deployment<T> {
  name: string;
  load(): T;
  view(deployment: T): WitnessDeploymentView;
  configs(deployment: T): Record<string, Obj>;
  shareKey(copy: T): void;
  mountKeyElsewhere(copy: T): void;
  forgetState(copy: T): void;
  unreachable(copy: T): void;
}

const compose: Deployment<ComposeDeployment> = {
  name: COMPOSE_FILE,
  load: loadCompose,
  view: (d) => composeWitnessView(d.compose, dirname(COMPOSE_FILE), d.configs),
  configs: (d) => d.configs,
  shareKey: (d) =>
    ((composeService(d, 'witness-b').volumes as Obj[])[1]!.source = './witness-keys/witness-a.key.pem'),
  mountKeyElsewhere: (d) =>
    (composeService(d, 'authority').volumes as string[]).push(
      './witness-keys:/etc/governance/witness-keys:ro',
    ),
  forgetState: (d) => (composeService(d, 'witness-a').volumes as unknown[]).pop(),
  unreachable: (d) => (composeService(d, 'witness-a').expose = ['8080']),
};

const kubernetes: Deployment<Bundle> = {
  name: 'istio/',
  load: loadBundle,
  view: k8sWitnessView,
  configs: (b) => b.serverConfigs,
  shareKey: (b) =>
    ((volume(set(b, 'witness-b'), 'key').secret as Obj).secretName = 'governance-witness-a-key'),
  mountKeyElsewhere: (b) =>
    (podSpec(find(b, 'Deployment', 'authority')).volumes as Obj[]).push({
      name: 'witness',
      secret: { secretName: 'governance-witness-a-key' },
    }),
  forgetState: (b) => delete (set(b, 'witness-a').spec as Obj).volumeClaimTemplates,
  unreachable: (b) => (((find(b, 'Service', 'witness-a').spec as Obj).ports as Obj[])[0]!.port = 8080),
};

const servers: Array<ReturnType<typeof startWitnessService>> = [];
const dirs: string[] = [];
afterAll(async () => {
  for (const server of servers) await (await server).stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function describeWitnesses<T>(deployment: Deployment<T>): void {
  describe(`the witnesses in ${deployment.name}`, () => {
    const original = deployment.load();
    const problems = (d: T): string[] => witnessProblems(deployment.view(d));

    it('are the ones the sequencer lists, a quorum, each on its own key and state, one policy for all', () => {
      expect(deployment.view(original).witnesses.map((w) => w.workload)).toEqual([
        'witness-a',
        'witness-b',
        'witness-c',
      ]);
      expect(problems(original)).toEqual([]);
    });

    it("cosign the log's checkpoint on the operator's keys, and the producers accept it", async () => {
      const dir = mkdtempSync(join(tmpdir(), 'witnesses-'));
      dirs.push(dir);
      const keys = vkeyFixture();
      const configs = withVkeys(deployment.configs(original), keys);
      const sequencer = parseSequencerConfig(configs.sequencer, {});
      const urls = new Map<string, string>();
      for (const witness of deployment.view(original).witnesses) {
        const config = parseWitnessConfig(withVkeys(witness.config, keys), {});
        const keyFile = join(dir, `${witness.workload}.key.pem`);
        writeFileSync(keyFile, privateKeyToPem(keys.witnesses.get(config.name)!), { mode: 0o600 });
        const running = startWitnessService(
          { ...config, keyFile, stateDir: join(dir, witness.workload), http: { host: '127.0.0.1', port: 0 } },
          pino({ level: 'silent' }),
        );
        servers.push(running);
        urls.set(config.name, `http://127.0.0.1:${(await running).httpPort}`);
      }
      const witnesses = httpWitnesses({
        threshold: sequencer.witnesses.threshold,
        witnesses: sequencer.witnesses.list.map((w) => ({ ...w, url: urls.get(w.name)! })),
      });
      const signed = signCheckpoint(
        nodeCrypto,
        {
          log: sequencer.ledger.log,
          size: 1,
          root: new Uint8Array(32).fill(1),
          chain: { hash: new Uint8Array(64).fill(2), alt: new Uint8Array(64).fill(3) },
          index: new Uint8Array(32).fill(4),
          time: new Date().toISOString(),
        },
        { publicKey: rawPublicKey(keys.audit), sign: (message) => signSync(keys.audit, message) },
      );
      const cosignatures = await witnesses.cosign(checkpointNote(signed), 1, () => Promise.resolve([]));
      expect(cosignatures).toHaveLength(3);
      const witnessed = { ...signed, signatures: [...signed.signatures, ...cosignatures.slice(0, 2)] };
      for (const producer of [
        parseAuthzConfig(configs.authz, {}).ledger.witnesses,
        parseAuthorityConfig(configs.authority, {}).ledger.witnesses,
      ]) {
        const policy = witnessPolicy(nodeCrypto, producer)!;
        expect(cosigners(nodeCrypto, witnessed, policy).length).toBeGreaterThanOrEqual(policy.threshold);
        const one = { ...signed, signatures: [...signed.signatures, cosignatures[0]!] };
        expect(cosigners(nodeCrypto, one, policy).length).toBeLessThan(policy.threshold);
      }
    });

    const sequencerConfig = (d: T): Obj => deployment.configs(d).sequencer!;
    const policyOf = (d: T): Obj => sequencerConfig(d).witnesses as Obj;
    const listOf = (d: T): Obj[] => policyOf(d).list as Obj[];
    const producerPolicy = (d: T, name: string): Obj =>
      (deployment.configs(d)[name]!.ledger as Obj).witnesses as Obj;
    it.each<[string, (copy: T) => unknown, RegExp]>([
      ['no cosignature required', (d) => (policyOf(d).threshold = 0), /at least one cosignature/],
      ['a threshold two quorums can miss each other at', (d) => (policyOf(d).threshold = 1), /needs 2k > n/],
      [
        'a threshold one witness down stops',
        (d) => (policyOf(d).threshold = 3),
        /stops at the first witness down/,
      ],
      [
        'a producer holding checkpoints to another threshold',
        (d) => (producerPolicy(d, 'authz').threshold = 1),
        /authz holds checkpoints to 1 cosignatures, the sequencer publishes at 2/,
      ],
      [
        'a producer trusting a witness the sequencer does not ask',
        (d) => ((producerPolicy(d, 'authority').keys as string[])[2] = '<witness vkey of example.org/w>'),
        /authority's ledger\.witnesses\.keys must be the sequencer's witness keys/,
      ],
      [
        'a listed witness not deployed',
        (d) =>
          listOf(d).push({
            name: 'example.org/w',
            url: 'http://w:7380',
            key: '<witness vkey of example.org/w>',
          }),
        /example\.org\/w is listed by the sequencer but not deployed/,
      ],
      [
        'a witness the sequencer does not list',
        (d) => listOf(d).pop(),
        /witness-c: governance\.example\/witness-c is not in the sequencer's list/,
      ],
      [
        'a URL that is not the witness',
        (d) => (listOf(d)[0]!.url = 'http://witness-b:7380'),
        /governance\.example\/witness-a: http:\/\/witness-b:7380 is not witness-a/,
      ],
      [
        'a witness of another log',
        (d) => ((deployment.configs(d)['witness-b']!.logs as Obj[])[0]!.origin = 'audit'),
        /witness-b: must witness exactly the log governance/,
      ],
      ['two witnesses on one key', (d) => deployment.shareKey(d), /witness-b: shares its key/],
      [
        'a witness key another workload mounts',
        (d) => deployment.mountKeyElsewhere(d),
        /witness-a: its key .* is also mounted by authority/,
      ],
      [
        'a witness without persistent state',
        (d) => deployment.forgetState(d),
        /witness-a: its stateDir .* writable persistent volume/,
      ],
      [
        'a witness the sequencer cannot reach',
        (d) => deployment.unreachable(d),
        /witness-a: .*reached on 8080, listens on 7380/,
      ],
    ])('flag %s', (_, mutate, expected) => {
      expect(problems(mutated(original, mutate))).toContainEqual(expect.stringMatching(expected));
    });
  });
}

describeWitnesses(compose);
describeWitnesses(kubernetes);

describe('who reaches the witnesses in istio/', () => {
  const bundle = loadBundle();
  it('only the sequencer, in the namespace, and only it may post checkpoints', () => {
    expect(witnessAccessProblems(bundle)).toEqual([]);
  });

  it.each<[string, (copy: Bundle) => unknown, RegExp]>([
    [
      'another workload let through the NetworkPolicy',
      (b) =>
        (((find(b, 'NetworkPolicy', 'witnesses').spec as Obj).ingress as Obj[])[0]!.from as Obj[]).push({
          podSelector: { matchLabels: { 'app.kubernetes.io/name': 'authority' } },
        }),
      /admits pods of this namespace other than the sequencer/,
    ],
    [
      'add-checkpoint open to any identity',
      (b) =>
        delete ((find(b, 'AuthorizationPolicy', 'witness-submitters').spec as Obj).rules as Obj[])[0]!.from,
      /POST \/add-checkpoint is allowed to others than cluster\.local\/ns\/governance\/sa\/sequencer/,
    ],
    [
      'no AuthorizationPolicy',
      (b) => (b.objects = b.objects.filter((o) => (o.metadata as Obj).name !== 'witness-submitters')),
      /no AuthorizationPolicy limits who may post checkpoints/,
    ],
  ])('flags %s', (_, mutate, expected) => {
    expect(witnessAccessProblems(mutated(bundle, mutate))).toContainEqual(expect.stringMatching(expected));
  });
});

describe(`who reaches the witnesses in ${COMPOSE_FILE}`, () => {
  const { compose: file } = loadCompose();
  it('only the sequencer shares their network', () => {
    expect(composeWitnessNetworkProblems(file)).toEqual([]);
  });

  it('flags another service on their network', () => {
    const copy = mutated(
      file,
      (c) => (((c.services as Obj)['authz-server'] as Obj).networks = ['default', 'witnesses']),
    );
    expect(composeWitnessNetworkProblems(copy)).toContainEqual(
      'witnesses: witness-a: authz-server shares a network with it',
    );
  });
});
