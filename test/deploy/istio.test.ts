// The Kubernetes/Istio deployment: every object valid for its kind (no unknown fields), and its
// parts consistent with each other, with the mesh config and with the servers' configs. Each
// check is also shown to catch a mutated copy.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { manifestProblems } from './support/k8s.js';
import {
  authorizationPolicyProblems,
  disruptionBudgetProblems,
  kustomizationProblems,
  loadBundle,
  meshProblems,
  namespaceProblems,
  networkPolicyProblems,
  redisProblems,
  scrapeProblems,
  serviceProblems,
  templateProblems,
  workloadProblems,
  type Bundle,
} from './support/manifests.js';
import { KUSTOMIZATION, MANIFESTS_DIR, MESH_CONFIG, TEMPLATES_DIR } from './support/layout.js';
import {
  isObject,
  mutated,
  parseYamlDocuments,
  readYamlDocuments,
  repoFilesIn,
  repoPath,
} from './support/repo.js';

type Obj = Record<string, unknown>;
const bundle = loadBundle();
const find = (b: Bundle, kind: string, name: string): Obj =>
  b.objects.find((o) => o.kind === kind && (o.metadata as Obj).name === name)!;
const podSpec = (workload: Obj): Obj => ((workload.spec as Obj).template as Obj).spec as Obj;
const container = (workload: Obj): Obj => (podSpec(workload).containers as Obj[])[0]!;

describe('every manifest', () => {
  const files = [...repoFilesIn(MANIFESTS_DIR), ...repoFilesIn(TEMPLATES_DIR), MESH_CONFIG];
  it.each(files)('%s is valid for its kind, with no unknown fields', (file) => {
    const documents = readYamlDocuments(file);
    expect(documents.length).toBeGreaterThan(0);
    expect(documents.flatMap(manifestProblems)).toEqual([]);
  });

  it('includes the ConfigMaps the kustomization generates', () => {
    expect(bundle.generated.map((configMap) => (configMap.metadata as Obj).name)).toEqual([
      'authz-config',
      'authority-config',
      'sequencer-config',
      'witness-a-config',
      'witness-b-config',
      'witness-c-config',
    ]);
    expect(bundle.generated.flatMap(manifestProblems)).toEqual([]);
  });
});

describe('the manifest validator', () => {
  const deployment = find(bundle, 'Deployment', 'authz-server');
  it.each<[string, (copy: Obj) => unknown, RegExp]>([
    [
      'an unknown field',
      (d) => (container(d).readinesProbe = {}),
      /unknown field \/spec\/template\/spec\/containers\/0\/readinesProbe/,
    ],
    ['a wrong type', (d) => ((d.spec as Obj).replicas = 'three'), /spec\/replicas must be integer/],
    [
      'a bad enum value',
      (d) => (((d.spec as Obj).strategy as Obj).type = 'Rolling'),
      /strategy\/type must be equal to one of the allowed values/,
    ],
    [
      'a missing required field',
      (d) => delete (d.spec as Obj).selector,
      /must have required property selector/,
    ],
  ])('rejects %s', (_, mutate, expected) => {
    expect(manifestProblems(mutated(deployment, mutate))).toContainEqual(expect.stringMatching(expected));
  });

  it('rejects a kind it has no model for', () => {
    expect(manifestProblems({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' } })).toEqual([
      'v1/Pod: no model for this kind',
    ]);
  });

  it('rejects an Istio object with an unknown field or a bad value', () => {
    const policy = find(bundle, 'AuthorizationPolicy', 'execution-governance');
    expect(manifestProblems(mutated(policy, (p) => ((p.spec as Obj).providers = {})))).toEqual([
      expect.stringMatching(/unknown field \/spec\/providers/),
    ]);
    expect(manifestProblems(mutated(policy, (p) => ((p.spec as Obj).action = 'EXTERNAL')))).toContainEqual(
      expect.stringMatching(/action must be equal to one of the allowed values/),
    );
  });

  it('rejects YAML that kubectl cannot turn into JSON', () => {
    expect(() => parseYamlDocuments('portLevelMtls:\n  9192: { mode: PERMISSIVE }\n')).toThrow(
      /map key 9192 is not a string/,
    );
    expect(() => parseYamlDocuments('a: 1\na: 2\n')).toThrow(/unique/);
  });
});

const checks: Array<[string, (b: Bundle) => string[]]> = [
  ['kustomization', kustomizationProblems],
  ['namespaces', namespaceProblems],
  ['workloads', workloadProblems],
  ['services', serviceProblems],
  ['disruption budgets', disruptionBudgetProblems],
  ['network policies', networkPolicyProblems],
  ['Prometheus scrapes in plain text', scrapeProblems],
  ['mesh config', meshProblems],
  ['authorization policies', authorizationPolicyProblems],
  ['redis', redisProblems],
  ['templates', templateProblems],
];

describe('the deployment is consistent:', () => {
  it.each(checks)('%s', (_, check) => {
    expect(check(bundle)).toEqual([]);
  });
});

describe('the consistency checks flag', () => {
  const edit = (mutate: (copy: Bundle) => unknown): Bundle => mutated(bundle, mutate);
  const authz = (b: Bundle): Obj => find(b, 'Deployment', 'authz-server');
  const grpcProvider = (b: Bundle): Obj =>
    (((b.mesh.spec as Obj).meshConfig as Obj).extensionProviders as Obj[])[0]!.envoyExtAuthzGrpc as Obj;
  const enforcement = (b: Bundle): Obj => find(b, 'AuthorizationPolicy', 'execution-governance').spec as Obj;
  it.each<[string, (b: Bundle) => string[], (copy: Bundle) => unknown, RegExp]>([
    [
      'a missing resource file',
      kustomizationProblems,
      (b) => (b.kustomization.resources as string[]).push('manifests/gone.yaml'),
      /manifests\/gone\.yaml does not exist/,
    ],
    [
      'an unlisted manifest',
      kustomizationProblems,
      (b) => (b.kustomization.resources as string[]).pop(),
      /authorization-policy\.yaml is not listed/,
    ],
    [
      'an applied template',
      kustomizationProblems,
      (b) => (b.kustomization.resources as string[]).push('templates/keys-secrets.yaml'),
      /outside istio\/manifests\//,
    ],
    [
      'a generator without namespace',
      kustomizationProblems,
      (b) => delete (b.kustomization.configMapGenerator as Obj[])[0]!.namespace,
      /needs namespace governance/,
    ],
    [
      'an object without namespace',
      namespaceProblems,
      (b) => delete (find(b, 'Service', 'redis').metadata as Obj).namespace,
      /Service redis must name namespace governance/,
    ],
    [
      'a Service selecting nothing',
      serviceProblems,
      (b) =>
        ((find(b, 'Service', 'authority').spec as Obj).selector = {
          'app.kubernetes.io/name': 'authorities',
        }),
      /Service authority selects no workload/,
    ],
    [
      'a targetPort no container has',
      serviceProblems,
      (b) => (((find(b, 'Service', 'authz-server').spec as Obj).ports as Obj[])[1]!.targetPort = 'metrics'),
      /port 9192: no container port metrics/,
    ],
    [
      'a Service port that disagrees with the config',
      serviceProblems,
      (b) => (((find(b, 'Service', 'authz-server').spec as Obj).ports as Obj[])[0]!.port = 9999),
      /authz-server must expose 9191, 9192/,
    ],
    [
      'a config the server would not find',
      workloadProblems,
      (b) => ((container(authz(b)).volumeMounts as Obj[])[0]!.subPath = 'authz.yml'),
      /\/etc\/governance\/authz\.yaml is not mounted/,
    ],
    [
      'a Secret nobody creates',
      workloadProblems,
      (b) => (((podSpec(authz(b)).volumes as Obj[])[1]!.secret as Obj).secretName = 'keys'),
      /root\.pub\.pem is not mounted/,
    ],
    [
      'a ConfigMap nobody creates',
      workloadProblems,
      (b) =>
        (((podSpec(find(b, 'Deployment', 'authority')).volumes as Obj[])[2]!.configMap as Obj).name =
          'policies'),
      /volume policies: ConfigMap policies is neither applied nor a template/,
    ],
    [
      'an optional Secret',
      workloadProblems,
      (b) => (((podSpec(authz(b)).volumes as Obj[])[1]!.secret as Obj).optional = true),
      /volume keys must not be optional/,
    ],
    [
      'a writable root filesystem',
      workloadProblems,
      (b) => ((container(authz(b)).securityContext as Obj).readOnlyRootFilesystem = false),
      /readOnlyRootFilesystem/,
    ],
    [
      'kept capabilities',
      workloadProblems,
      (b) => ((container(authz(b)).securityContext as Obj).capabilities = { drop: ['NET_RAW'] }),
      /drop ALL/,
    ],
    [
      'no limits',
      workloadProblems,
      (b) => delete (container(authz(b)).resources as Obj).limits,
      /needs cpu and memory limits/,
    ],
    [
      'an HTTP probe on the gRPC server',
      workloadProblems,
      (b) => (container(authz(b)).livenessProbe = { httpGet: { port: 9192, path: '/' } }),
      /livenessProbe must be a native gRPC probe/,
    ],
    [
      'a single authz replica',
      workloadProblems,
      (b) => ((authz(b).spec as Obj).replicas = 1),
      /at least 2 replicas/,
    ],
    [
      'a uid other than the image',
      workloadProblems,
      (b) => ((podSpec(authz(b)).securityContext as Obj).runAsUser = 1001),
      /runAsUser must be the image's USER 1000/,
    ],
    [
      'a Redis URL with no Service',
      workloadProblems,
      (b) => ((container(authz(b)).env as Obj[])[0]!.value = 'redis://cache:6379'),
      /REDIS_URL redis:\/\/cache:6379 names no Service port/,
    ],
    [
      'a budget that blocks drains',
      disruptionBudgetProblems,
      (b) => ((find(b, 'PodDisruptionBudget', 'authority').spec as Obj).minAvailable = 2),
      /minAvailable must be between 1 and replicas - 1/,
    ],
    [
      'a budget selecting nothing',
      disruptionBudgetProblems,
      (b) =>
        ((find(b, 'PodDisruptionBudget', 'authz-server').spec as Obj).selector = {
          matchLabels: { app: 'authz' },
        }),
      /must select one workload, selects 0/,
    ],
    [
      'no default deny',
      networkPolicyProblems,
      (b) => (b.objects = b.objects.filter((o) => (o.metadata as Obj).name !== 'default-deny-ingress')),
      /no default-deny ingress NetworkPolicy/,
    ],
    [
      'an authz port open to everyone',
      networkPolicyProblems,
      (b) => (((find(b, 'NetworkPolicy', 'authz-server').spec as Obj).ingress as Obj[])[0]!.from = []),
      /without 'from' admits everyone/,
    ],
    [
      'another authz port opened',
      networkPolicyProblems,
      (b) =>
        (((find(b, 'NetworkPolicy', 'authz-server').spec as Obj).ingress as Obj[])[0]!.ports as Obj[]).push({
          port: 8080,
        }),
      /reachable on 9191, 9192 only/,
    ],
    [
      'redis open to other namespaces',
      networkPolicyProblems,
      (b) =>
        (((find(b, 'NetworkPolicy', 'redis').spec as Obj).ingress as Obj[])[0]!.from as Obj[]).push({
          namespaceSelector: {},
        }),
      /redis must admit only pods of its own namespace/,
    ],
    [
      'a fail-open provider',
      meshProblems,
      (b) => (grpcProvider(b).failOpen = true),
      /failOpen must be set to false/,
    ],
    [
      "Istio's 600s default timeout",
      meshProblems,
      (b) => delete grpcProvider(b).timeout,
      /timeout must be explicit/,
    ],
    [
      "Istio's 403 on error",
      meshProblems,
      (b) => delete grpcProvider(b).statusOnError,
      /statusOnError must be a 5xx/,
    ],
    [
      'a provider port that is not gRPC',
      meshProblems,
      (b) => (grpcProvider(b).port = 9192),
      /port 9192 is not the gRPC port/,
    ],
    [
      'a provider service that is not ours',
      meshProblems,
      (b) => (grpcProvider(b).service = 'authz.governance.svc.cluster.local'),
      /is not one of ours/,
    ],
    [
      'a misspelled provider field',
      meshProblems,
      (b) => (grpcProvider(b).failopen = false),
      /unknown field failopen/,
    ],
    [
      'a provider the mesh does not define',
      authorizationPolicyProblems,
      (b) => ((enforcement(b).provider as Obj).name = 'governance'),
      /provider governance is not in the mesh config/,
    ],
    [
      'health exemptions for every method',
      authorizationPolicyProblems,
      (b) => (enforcement(b).rules = (enforcement(b).rules as Obj[]).slice(0, 1)),
      /POST \/healthz must go through the Check/,
    ],
    [
      'a prefix exemption',
      authorizationPolicyProblems,
      (b) =>
        ((((enforcement(b).rules as Obj[])[0]!.to as Obj[])[0]!.operation as Obj).notPaths = ['/healthz*']),
      /GET \/healthzz must go through the Check/,
    ],
    [
      'our own pods governed by themselves',
      authorizationPolicyProblems,
      (b) =>
        ((((authz(b).spec as Obj).template as Obj).metadata as Obj).labels = {
          'app.kubernetes.io/name': 'authz-server',
          'governance.example/enforce': 'true',
        }),
      /authz-server must not carry/,
    ],
    [
      'a Redis client nobody runs as',
      authorizationPolicyProblems,
      (b) =>
        (
          ((find(b, 'AuthorizationPolicy', 'redis-clients').spec as Obj).rules as Obj[])[0]!.from as Obj[]
        ).push({ source: { principals: ['cluster.local/ns/default/sa/default'] } }),
      /principal cluster\.local\/ns\/default\/sa\/default is none of our workloads/,
    ],
    [
      'Redis without an append-only file',
      redisProblems,
      (b) => (container(find(b, 'StatefulSet', 'redis')).command = ['redis-server']),
      /needs --appendonly yes/,
    ],
    [
      'a key in a template',
      templateProblems,
      (b) => ((b.templates[0]!.data as Obj)['root.pub.pem'] = 'LS0tLS1CRUdJTi'),
      /must hold placeholders only/,
    ],
  ])('%s', (_, check, mutate, expected) => {
    expect(check(edit(mutate))).toContainEqual(expect.stringMatching(expected));
  });
});

// kubectl is not on every machine; where it is, its own kustomize renders the bundle the way
// `kubectl apply -k` will, hash-suffixed ConfigMap names and all.
const kubectl = (() => {
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe.skipIf(!kubectl)('kubectl kustomize', () => {
  it('renders every resource, valid, with the generated ConfigMaps wired into the workloads', () => {
    const rendered = parseYamlDocuments(
      execFileSync('kubectl', ['kustomize', repoPath(KUSTOMIZATION.replace(/\/[^/]+$/, ''))], {
        encoding: 'utf8',
      }),
    ).filter(isObject);
    expect(rendered.flatMap(manifestProblems)).toEqual([]);
    expect(rendered.length).toBe(bundle.objects.length + bundle.generated.length);
    const configMaps = rendered
      .filter((o) => o.kind === 'ConfigMap')
      .map((o) => String((o.metadata as Obj).name));
    const mounted = rendered
      .filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet')
      .flatMap((d) =>
        ((podSpec(d).volumes ?? []) as Obj[]).map((v) => (v.configMap as Obj | undefined)?.name),
      )
      .filter((name) => typeof name === 'string' && /-config-/.test(name));
    expect(mounted.length).toBe(6);
    for (const name of mounted) expect(configMaps).toContain(name);
  });
});
