// The Kubernetes/Istio deployment as one bundle (what `kubectl apply -k istio/` creates, plus the
// operator-made Secrets and policies, plus the mesh config), and the checks that tie its parts
// together: selectors, ports, names, mounts, policies.
import { basename, dirname, posix } from 'node:path';
import { serverPorts } from './compose.js';
import { durationNanos } from './envoy-schema.js';
import { HEALTH_PATHS } from './envoy-config.js';
import { KUSTOMIZATION, MANIFESTS_DIR, MESH_CONFIG, SERVER_CONFIGS, TEMPLATES_DIR } from './layout.js';
import { Problems } from './problems.js';
import type { SequencerView } from './sequencer.js';
import { isUnder, type WitnessDeploymentView, type WitnessView } from './witnesses.js';
import { isObject, readRepoText, readYaml, readYamlDocuments, repoFileExists, repoFilesIn } from './repo.js';

type Obj = Record<string, unknown>;
const obj = (value: unknown): Obj => (isObject(value) ? value : {});
const list = (value: unknown): Obj[] => (Array.isArray(value) ? value.filter(isObject) : []);
const strings = (value: unknown): string[] => (Array.isArray(value) ? value.map(String) : []);
const byNumber = (a: number, b: number): number => a - b;

export const NAMESPACE = 'governance';
/** The label that opts a workload into enforcement. */
export const ENFORCE_LABEL = 'governance.example/enforce';
const DEFAULT_ROOT_NAMESPACE = 'istio-system';
const ISTIO_TRUST_DOMAIN = 'cluster.local';
const OUR_IMAGE = 'execution-governance';
const MAX_CHECK_TIMEOUT_NANOS = 1_000_000_000n;
/** EnvoyExternalAuthorizationGrpcProvider's fields (istio/api mesh/v1alpha1/config.proto). No
 * Istio schema for MeshConfig ships in node_modules, so this list is kept by hand. */
const GRPC_PROVIDER_FIELDS = [
  'service',
  'port',
  'timeout',
  'failOpen',
  'statusOnError',
  'includeRequestBodyInCheck',
];

export interface Bundle {
  kustomization: Obj;
  /** The objects of kustomization.yaml's resources, file by file. */
  objects: Obj[];
  /** The ConfigMaps configMapGenerator makes, by their base names. */
  generated: Obj[];
  /** Secrets and ConfigMaps the operator creates (templates/). */
  templates: Obj[];
  mesh: Obj;
  /** The Kubernetes server configs, by name (authz, authority). */
  serverConfigs: Record<string, Obj>;
  /** The uid the image runs as (the Dockerfile's USER). */
  imageUid: number;
}

export function loadBundle(): Bundle {
  const kustomization = obj(readYaml(KUSTOMIZATION));
  const root = dirname(KUSTOMIZATION);
  const objects = strings(kustomization.resources)
    .filter((resource) => repoFileExists(`${root}/${resource}`))
    .flatMap((resource) => readYamlDocuments(`${root}/${resource}`).map(obj));
  const generated = list(kustomization.configMapGenerator).map((generator) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: generator.name, namespace: generator.namespace },
    data: Object.fromEntries(
      strings(generator.files).map((file) => [basename(file), readRepoText(`${root}/${file}`)]),
    ),
  }));
  const templates = repoFilesIn(TEMPLATES_DIR).flatMap((file) => readYamlDocuments(file).map(obj));
  const serverConfigs = Object.fromEntries(
    SERVER_CONFIGS.map((config) => [config.name, obj(readYaml(config.k8s))]),
  );
  const user = /^USER\s+(\d+)/m.exec(readRepoText('Dockerfile'));
  return {
    kustomization,
    objects,
    generated,
    templates,
    mesh: obj(readYaml(MESH_CONFIG)),
    serverConfigs,
    imageUid: Number(user?.[1] ?? NaN),
  };
}

const meta = (object: Obj): Obj => obj(object.metadata);
const nameOf = (object: Obj): string => String(meta(object).name);
const ofKind = (objects: Obj[], kind: string): Obj[] => objects.filter((object) => object.kind === kind);
const workloads = (bundle: Bundle): Obj[] =>
  bundle.objects.filter((object) => object.kind === 'Deployment' || object.kind === 'StatefulSet');
const podSpec = (workload: Obj): Obj => obj(obj(obj(workload.spec).template).spec);
const podLabels = (workload: Obj): Obj => obj(obj(obj(obj(workload.spec).template).metadata).labels);
const containers = (workload: Obj): Obj[] => list(podSpec(workload).containers);

/** A Kubernetes label selector (matchLabels and matchExpressions) against labels. */
export function selects(selector: unknown, labels: Obj): boolean {
  const { matchLabels, matchExpressions } = obj(selector);
  const byLabel = Object.entries(obj(matchLabels)).every(([key, value]) => labels[key] === value);
  return (
    byLabel &&
    list(matchExpressions).every(({ key, operator, values }) => {
      const value = labels[String(key)];
      if (operator === 'In') return strings(values).includes(String(value));
      if (operator === 'NotIn') return !strings(values).includes(String(value));
      if (operator === 'Exists') return value !== undefined;
      return operator === 'DoesNotExist' && value === undefined;
    })
  );
}

/** Workloads in `namespace` whose pods `selector` picks. */
function selected(bundle: Bundle, namespace: unknown, selector: unknown): Obj[] {
  return workloads(bundle).filter(
    (workload) => meta(workload).namespace === namespace && selects(selector, podLabels(workload)),
  );
}

export function kustomizationProblems(bundle: Bundle): string[] {
  const problems = new Problems('kustomization: ');
  const { kustomization } = bundle;
  const root = dirname(KUSTOMIZATION);
  problems.need(
    kustomization.apiVersion === 'kustomize.config.k8s.io/v1beta1' && kustomization.kind === 'Kustomization',
    'apiVersion/kind must be kustomize.config.k8s.io/v1beta1 Kustomization',
  );
  const known = ['apiVersion', 'kind', 'resources', 'configMapGenerator'];
  for (const key of Object.keys(kustomization)) problems.need(known.includes(key), `unexpected field ${key}`);
  const resources = strings(kustomization.resources);
  for (const resource of resources)
    problems.need(repoFileExists(`${root}/${resource}`), `${resource} does not exist`);
  const listed = new Set(resources.map((resource) => posix.join(root, resource)));
  for (const file of repoFilesIn(MANIFESTS_DIR))
    problems.need(listed.has(file), `${file} is not listed in resources`);
  for (const file of listed) {
    problems.need(
      file.startsWith(`${MANIFESTS_DIR}/`),
      `${file} is outside ${MANIFESTS_DIR}/ (templates are never applied)`,
    );
  }
  for (const generator of list(kustomization.configMapGenerator)) {
    // Without it the ConfigMap lands in whatever namespace kubectl defaults to.
    problems.need(
      generator.namespace === NAMESPACE,
      `configMapGenerator ${String(generator.name)} needs namespace ${NAMESPACE}`,
    );
    for (const file of strings(generator.files))
      problems.need(repoFileExists(`${root}/${file}`), `${file} does not exist`);
  }
  return problems.list;
}

export function namespaceProblems(bundle: Bundle): string[] {
  const problems = new Problems();
  const rootNamespace = meshRootNamespace(bundle.mesh);
  problems.need(
    ofKind(bundle.objects, 'Namespace').some((namespace) => nameOf(namespace) === NAMESPACE),
    `Namespace ${NAMESPACE} is not created`,
  );
  for (const object of bundle.objects.filter((object) => object.kind !== 'Namespace')) {
    const namespace = meta(object).namespace;
    const enforcement = object.kind === 'AuthorizationPolicy' && obj(object.spec).action === 'CUSTOM';
    problems.need(
      namespace === (enforcement ? rootNamespace : NAMESPACE),
      `${String(object.kind)} ${nameOf(object)} must name namespace ${enforcement ? rootNamespace : NAMESPACE}, has ${String(namespace)}`,
    );
  }
  return problems.list;
}

/** Where a container's file path comes from: the volume mounted over it and the key inside. */
function mountedSource(
  bundle: Bundle,
  workload: Obj,
  container: Obj,
  path: string,
): { source?: Obj; key: string } {
  const mounts = list(container.volumeMounts).filter(
    (mount) => path === mount.mountPath || path.startsWith(`${String(mount.mountPath)}/`),
  );
  const mount = mounts.sort((a, b) => String(b.mountPath).length - String(a.mountPath).length)[0];
  if (!mount) return { key: path };
  const key =
    path === mount.mountPath ? String(mount.subPath) : path.slice(String(mount.mountPath).length + 1);
  return { source: mountSource(bundle, workload, mount), key };
}

/** The ConfigMap or Secret (applied, generated or a template) in a workload's namespace. */
function findSource(bundle: Bundle, workload: Obj, kind: string, name: unknown): Obj | undefined {
  return [...bundle.objects, ...bundle.generated, ...bundle.templates].find(
    (object) =>
      object.kind === kind && nameOf(object) === name && meta(object).namespace === meta(workload).namespace,
  );
}

/** The ConfigMap or Secret a volume mount of a workload shows, if it exists. */
function mountSource(bundle: Bundle, workload: Obj, mount: Obj): Obj | undefined {
  const volume = list(podSpec(workload).volumes).find((entry) => entry.name === mount.name) ?? {};
  if (isObject(volume.configMap)) return findSource(bundle, workload, 'ConfigMap', volume.configMap.name);
  if (isObject(volume.secret)) return findSource(bundle, workload, 'Secret', volume.secret.secretName);
  return undefined;
}

/** What is wrong with an env entry's valueFrom: a ConfigMap or Secret key that nobody creates. */
function envSourceProblem(bundle: Bundle, workload: Obj, entry: Obj): string | undefined {
  const from = obj(entry.valueFrom);
  const [kind, ref] = isObject(from.configMapKeyRef)
    ? ['ConfigMap', from.configMapKeyRef]
    : isObject(from.secretKeyRef)
      ? ['Secret', from.secretKeyRef]
      : [];
  if (!kind || !ref) return undefined;
  const where = `env ${String(entry.name)}: ${kind} ${String(ref.name)}`;
  if (ref.optional === true) return `${where} must not be optional`;
  const source = findSource(bundle, workload, kind, ref.name);
  return source !== undefined && String(ref.key) in obj(source.data)
    ? undefined
    : `${where} key ${String(ref.key)} is neither applied nor a template`;
}

/** Absolute paths a server config names (key files, policies): each must be mounted. */
function configPaths(value: unknown): string[] {
  if (typeof value === 'string') return value.startsWith('/etc/governance/') ? [value] : [];
  if (Array.isArray(value)) return value.flatMap(configPaths);
  return isObject(value) ? Object.values(value).flatMap(configPaths) : [];
}

export function workloadProblems(bundle: Bundle): string[] {
  const problems = new Problems();
  const accounts = ofKind(bundle.objects, 'ServiceAccount');
  const services = ofKind(bundle.objects, 'Service');
  for (const workload of workloads(bundle)) {
    const need = (ok: boolean, problem: string): void => problems.need(ok, `${nameOf(workload)}: ${problem}`);
    const spec = obj(workload.spec);
    const pod = podSpec(workload);
    const security = obj(pod.securityContext);
    need(selects(spec.selector, podLabels(workload)), 'selector does not match its own pod labels');
    need(
      accounts.some((account) => nameOf(account) === pod.serviceAccountName),
      `ServiceAccount ${String(pod.serviceAccountName)} does not exist`,
    );
    need(pod.automountServiceAccountToken === false, 'must not mount a Kubernetes API token');
    need(security.runAsNonRoot === true, 'pod must run as non-root');
    need(obj(security.seccompProfile).type === 'RuntimeDefault', 'pod needs seccompProfile RuntimeDefault');
    if (nameOf(workload) === 'authz-server') need(Number(spec.replicas) >= 2, 'needs at least 2 replicas');
    for (const volume of list(pod.volumes)) {
      const configMap = obj(volume.configMap);
      const secret = obj(volume.secret);
      need(
        secret.optional !== true && configMap.optional !== true,
        `volume ${String(volume.name)} must not be optional`,
      );
      const ref =
        'configMap' in volume
          ? ['ConfigMap', configMap.name]
          : 'secret' in volume
            ? ['Secret', secret.secretName]
            : [];
      need(
        ref.length === 0 ||
          [...bundle.objects, ...bundle.generated, ...bundle.templates].some(
            (object) =>
              object.kind === ref[0] &&
              nameOf(object) === ref[1] &&
              meta(object).namespace === meta(workload).namespace,
          ),
        `volume ${String(volume.name)}: ${String(ref[0])} ${String(ref[1])} is neither applied nor a template`,
      );
    }
    for (const container of containers(workload)) {
      const context = obj(container.securityContext);
      const resources = obj(container.resources);
      need(context.readOnlyRootFilesystem === true, 'readOnlyRootFilesystem must be true');
      need(context.allowPrivilegeEscalation === false, 'allowPrivilegeEscalation must be false');
      need(context.runAsNonRoot === true, 'container must run as non-root');
      need(strings(obj(context.capabilities).drop).includes('ALL'), 'must drop ALL capabilities');
      for (const kind of ['requests', 'limits']) {
        need(
          ['cpu', 'memory'].every((resource) => resource in obj(resources[kind])),
          `needs cpu and memory ${kind}`,
        );
      }
      if (String(container.image).startsWith(`${OUR_IMAGE}:`)) {
        need(security.runAsUser === bundle.imageUid, `runAsUser must be the image's USER ${bundle.imageUid}`);
      }
      // A server with a gRPC port is probed by the standard gRPC health service; one with an
      // HTTP port alone (the sequencer) by GET /healthz on it.
      const portNamed = (name: string) => list(container.ports).find((port) => port.name === name);
      const grpcPort = portNamed('grpc')?.containerPort;
      const httpPort = portNamed('http')?.containerPort;
      for (const probe of ['readinessProbe', 'livenessProbe']) {
        const settings = obj(container[probe]);
        const httpGet = obj(settings.httpGet);
        if (grpcPort !== undefined)
          need(
            obj(settings.grpc).port === grpcPort,
            `${probe} must be a native gRPC probe on port ${String(grpcPort)}`,
          );
        else if (httpPort !== undefined)
          need(
            httpGet.path === '/healthz' && (httpGet.port === 'http' || httpGet.port === httpPort),
            `${probe} must be GET /healthz on port ${String(httpPort)}`,
          );
      }
      for (const env of list(container.env).filter((entry) => entry.name === 'REDIS_URL')) {
        const url = /^redis:\/\/([^:/]+):(\d+)$/.exec(String(env.value));
        need(
          url !== null &&
            services.some(
              (service) =>
                nameOf(service) === url[1] &&
                list(obj(service.spec).ports).some((port) => port.port === Number(url[2])),
            ),
          `REDIS_URL ${String(env.value)} names no Service port`,
        );
      }
      for (const entry of list(container.env)) {
        const problem = envSourceProblem(bundle, workload, entry);
        need(problem === undefined, problem ?? '');
      }
      const command = strings(container.command);
      const configFile = command[command.indexOf('--config') + 1];
      if (command.includes('--config') && configFile) {
        const config = SERVER_CONFIGS.find((entry) => basename(configFile) === basename(entry.k8s));
        const paths = [configFile, ...configPaths(config ? bundle.serverConfigs[config.name] : undefined)];
        for (const path of paths) {
          const { source, key } = mountedSource(bundle, workload, container, path);
          need(
            source !== undefined && key in obj(source.data),
            `${path} is not mounted from an existing ConfigMap or Secret key`,
          );
        }
      }
    }
  }
  return problems.list;
}

/** The sequencer Deployment as test/deploy/support/sequencer.ts checks it; file names are ConfigMap or Secret keys. */
export function k8sSequencerView(bundle: Bundle): SequencerView {
  const workload =
    ofKind(bundle.objects, 'Deployment').find((deployment) => nameOf(deployment) === 'sequencer') ?? {};
  const container = containers(workload).find((entry) => entry.name === 'sequencer') ?? {};
  const problems: string[] = [];
  if (!isObject(workload.spec)) problems.push('no Deployment sequencer');
  const fileAt = (path: string): string | undefined => {
    const { source, key } = mountedSource(bundle, workload, container, path);
    return source !== undefined && key in obj(source.data) ? key : undefined;
  };
  const command = strings(container.command);
  const configFile = command.includes('--config')
    ? fileAt(command[command.indexOf('--config') + 1] ?? '')
    : undefined;
  const server = SERVER_CONFIGS.find((entry) => basename(entry.k8s) === configFile);
  const exposed = list(container.volumeMounts).flatMap((mount) => {
    const source = mountSource(bundle, workload, mount);
    if (!source) return [];
    if (mount.readOnly !== true) problems.push(`volume mount ${String(mount.name)} must be read-only`);
    return typeof mount.subPath === 'string' ? [mount.subPath] : Object.keys(obj(source.data));
  });
  return { config: server && bundle.serverConfigs[server.name], configFile, fileAt, exposed, problems };
}

export function serviceProblems(bundle: Bundle): string[] {
  const problems = new Problems();
  for (const service of ofKind(bundle.objects, 'Service')) {
    const spec = obj(service.spec);
    const targets = selected(bundle, meta(service).namespace, { matchLabels: spec.selector });
    problems.need(targets.length > 0, `Service ${nameOf(service)} selects no workload`);
    for (const port of list(spec.ports)) {
      const target = port.targetPort ?? port.port;
      const served = targets.every((workload) =>
        containers(workload).some((container) =>
          list(container.ports).some((entry) => entry.name === target || entry.containerPort === target),
        ),
      );
      problems.need(
        served,
        `Service ${nameOf(service)} port ${String(port.port)}: no container port ${String(target)}`,
      );
    }
  }
  // The ports the servers listen on (their configs) are the ports their Services expose.
  for (const config of SERVER_CONFIGS) {
    const settings = bundle.serverConfigs[config.name] ?? {};
    const wanted = serverPorts(settings).sort(byNumber);
    const serviceName = config.name === 'authz' ? 'authz-server' : config.name;
    const service = ofKind(bundle.objects, 'Service').find((entry) => nameOf(entry) === serviceName);
    const exposed = list(obj(service?.spec).ports)
      .map((port) => Number(port.port))
      .sort(byNumber);
    problems.need(
      JSON.stringify(exposed) === JSON.stringify(wanted),
      `Service ${serviceName} must expose ${wanted.join(', ')} (from ${config.k8s}), exposes ${exposed.join(', ')}`,
    );
  }
  return problems.list;
}

export function disruptionBudgetProblems(bundle: Bundle): string[] {
  const problems = new Problems();
  for (const budget of ofKind(bundle.objects, 'PodDisruptionBudget')) {
    const spec = obj(budget.spec);
    const targets = selected(bundle, meta(budget).namespace, spec.selector);
    problems.need(
      targets.length === 1,
      `PodDisruptionBudget ${nameOf(budget)} must select one workload, selects ${targets.length}`,
    );
    for (const target of targets) {
      // minAvailable equal to replicas would block every node drain.
      problems.need(
        Number(spec.minAvailable) >= 1 && Number(spec.minAvailable) < Number(obj(target.spec).replicas),
        `PodDisruptionBudget ${nameOf(budget)}: minAvailable must be between 1 and replicas - 1`,
      );
    }
  }
  return problems.list;
}

export function networkPolicyProblems(bundle: Bundle): string[] {
  const problems = new Problems();
  const policies = ofKind(bundle.objects, 'NetworkPolicy');
  problems.need(
    policies.some((policy) => {
      const spec = obj(policy.spec);
      return (
        Object.keys(obj(spec.podSelector)).length === 0 &&
        strings(spec.policyTypes).includes('Ingress') &&
        !spec.ingress
      );
    }),
    'no default-deny ingress NetworkPolicy',
  );
  const ours = new Set(workloads(bundle).map(podLabels));
  for (const policy of policies) {
    const spec = obj(policy.spec);
    const name = `NetworkPolicy ${nameOf(policy)}`;
    if (Object.keys(obj(spec.podSelector)).length > 0) {
      problems.need(
        selected(bundle, meta(policy).namespace, spec.podSelector).length > 0,
        `${name} selects no workload`,
      );
    }
    for (const rule of list(spec.ingress)) {
      const peers = list(rule.from);
      problems.need(peers.length > 0, `${name}: an ingress rule without 'from' admits everyone`);
      problems.need(
        peers.every((peer) => !('ipBlock' in peer)),
        `${name}: ipBlock peers are not expected`,
      );
      problems.need(list(rule.ports).length > 0, `${name}: an ingress rule without ports admits every port`);
      for (const peer of peers.filter((entry) => !('namespaceSelector' in entry))) {
        // A bare podSelector means pods of this namespace: they must be ours.
        const picks = [...ours].filter((labels) => selects(peer.podSelector, labels));
        problems.need(picks.length > 0, `${name}: a podSelector peer matches none of our workloads`);
      }
    }
  }
  const portsFor = (workload: string): number[] =>
    policies
      .filter((policy) => selects(obj(policy.spec).podSelector, { 'app.kubernetes.io/name': workload }))
      .flatMap((policy) => list(obj(policy.spec).ingress))
      .flatMap((rule) => list(rule.ports).map((port) => Number(port.port)))
      .sort(byNumber);
  const authz = bundle.serverConfigs.authz;
  const authzPorts = [obj(authz?.grpc).port, obj(authz?.http).port].map(Number).sort(byNumber);
  problems.need(
    JSON.stringify(portsFor('authz-server')) === JSON.stringify(authzPorts),
    `authz-server must be reachable on ${authzPorts.join(', ')} only, is on ${portsFor('authz-server').join(', ')}`,
  );
  const redisPolicy = policies.find(
    (policy) =>
      Object.keys(obj(obj(policy.spec).podSelector)).length > 0 &&
      selects(obj(policy.spec).podSelector, { 'app.kubernetes.io/name': 'redis' }),
  );
  const redisPeers = list(obj(redisPolicy?.spec).ingress).flatMap((rule) => list(rule.from));
  problems.need(
    redisPeers.length > 0 && redisPeers.every((peer) => Object.keys(peer).join() === 'podSelector'),
    'redis must admit only pods of its own namespace',
  );
  return problems.list;
}

/**
 * Every port a NetworkPolicy opens to Prometheus is plain text for it: PERMISSIVE for those pods
 * in a PeerAuthentication, since the namespace default is STRICT and Prometheus scrapes from
 * outside the mesh (peer-authentication.yaml). Otherwise the scrape fails the mesh's TLS and the
 * service's alerts go silent.
 */
export function scrapeProblems(bundle: Bundle): string[] {
  const problems = new Problems();
  const peerAuthentications = ofKind(bundle.objects, 'PeerAuthentication');
  for (const policy of ofKind(bundle.objects, 'NetworkPolicy')) {
    const { namespace } = meta(policy);
    const spec = obj(policy.spec);
    for (const rule of list(spec.ingress)) {
      const fromPrometheus = list(rule.from).some(
        (peer) => obj(obj(peer.podSelector).matchLabels)['app.kubernetes.io/name'] === 'prometheus',
      );
      if (!fromPrometheus) continue;
      for (const workload of selected(bundle, namespace, spec.podSelector)) {
        for (const port of list(rule.ports).map((entry) => String(entry.port))) {
          const plain = peerAuthentications.some(
            (peerAuthentication) =>
              meta(peerAuthentication).namespace === namespace &&
              selects(obj(peerAuthentication.spec).selector, podLabels(workload)) &&
              obj(obj(obj(peerAuthentication.spec).portLevelMtls)[port]).mode === 'PERMISSIVE',
          );
          problems.need(
            plain,
            `NetworkPolicy ${nameOf(policy)} opens ${port} of ${nameOf(workload)} to Prometheus, ` +
              'but no PeerAuthentication makes that port PERMISSIVE',
          );
        }
      }
    }
  }
  return problems.list;
}

function meshRootNamespace(mesh: Obj): string {
  const root = obj(obj(mesh.spec).meshConfig).rootNamespace;
  return typeof root === 'string' ? root : DEFAULT_ROOT_NAMESPACE;
}

function meshProviders(mesh: Obj): Obj[] {
  return list(obj(obj(mesh.spec).meshConfig).extensionProviders);
}

export function meshProblems(bundle: Bundle): string[] {
  const problems = new Problems('mesh config: ');
  const providers = meshProviders(bundle.mesh);
  const names = providers.map((provider) => provider.name);
  problems.need(new Set(names).size === names.length, 'extension provider names must be unique');
  for (const provider of providers.filter((entry) => 'envoyExtAuthzGrpc' in entry)) {
    const grpc = obj(provider.envoyExtAuthzGrpc);
    const need = (ok: boolean, problem: string): void =>
      problems.need(ok, `${String(provider.name)}: ${problem}`);
    for (const key of Object.keys(grpc)) need(GRPC_PROVIDER_FIELDS.includes(key), `unknown field ${key}`);
    const [service, namespace, ...rest] = String(grpc.service).split('.');
    const target = ofKind(bundle.objects, 'Service').find(
      (entry) => nameOf(entry) === service && meta(entry).namespace === namespace,
    );
    need(
      rest.join('.') === 'svc.cluster.local' && target !== undefined,
      `service ${String(grpc.service)} is not one of ours`,
    );
    need(
      list(obj(target?.spec).ports).some((port) => port.port === grpc.port && port.name === 'grpc'),
      `port ${String(grpc.port)} is not the gRPC port of ${String(grpc.service)}`,
    );
    const timeout = durationNanos(grpc.timeout);
    need(
      timeout !== undefined && timeout > 0n && timeout <= MAX_CHECK_TIMEOUT_NANOS,
      `timeout must be explicit (Istio's default is 600s), above 0 and at most 1s, got ${String(grpc.timeout)}`,
    );
    need(grpc.failOpen === false, 'failOpen must be set to false');
    need(
      /^5\d\d$/.test(String(grpc.statusOnError)),
      `statusOnError must be a 5xx (Istio's default is 403), got ${String(grpc.statusOnError)}`,
    );
    need(!('includeRequestBodyInCheck' in grpc), 'includeRequestBodyInCheck must not be set');
  }
  return problems.list;
}

/** Whether an Istio string match (exact, `prefix*`, `*suffix`, `*`) matches. */
function istioMatch(patterns: string[], value: string): boolean {
  return patterns.some((pattern) =>
    pattern === '*'
      ? true
      : pattern.endsWith('*')
        ? value.startsWith(pattern.slice(0, -1))
        : pattern.startsWith('*')
          ? value.endsWith(pattern.slice(1))
          : value === pattern,
  );
}

/** Whether a CUSTOM policy's rules send (method, path) to the provider; undefined if unreadable. */
function policyApplies(rules: Obj[], method: string, path: string): boolean | undefined {
  const known = ['paths', 'notPaths', 'methods', 'notMethods'];
  let applies = false;
  for (const rule of rules) {
    if (Object.keys(rule).some((key) => key !== 'to')) return undefined;
    const operations = list(rule.to).map((entry) => obj(entry.operation));
    if (operations.some((operation) => Object.keys(operation).some((key) => !known.includes(key))))
      return undefined;
    const matches = operations.some(
      (operation) =>
        (!('paths' in operation) || istioMatch(strings(operation.paths), path)) &&
        (!('notPaths' in operation) || !istioMatch(strings(operation.notPaths), path)) &&
        (!('methods' in operation) || istioMatch(strings(operation.methods), method)) &&
        (!('notMethods' in operation) || !istioMatch(strings(operation.notMethods), method)),
    );
    applies ||= matches;
  }
  return applies;
}

export function authorizationPolicyProblems(bundle: Bundle): string[] {
  const problems = new Problems();
  const policies = ofKind(bundle.objects, 'AuthorizationPolicy');
  const enforcement = policies.filter((policy) => obj(policy.spec).action === 'CUSTOM');
  problems.need(
    enforcement.length === 1,
    `expected one CUSTOM AuthorizationPolicy, found ${enforcement.length}`,
  );
  const providers = meshProviders(bundle.mesh).map((provider) => provider.name);
  for (const policy of enforcement) {
    const spec = obj(policy.spec);
    const need = (ok: boolean, problem: string): void =>
      problems.need(ok, `AuthorizationPolicy ${nameOf(policy)}: ${problem}`);
    need(
      providers.includes(obj(spec.provider).name),
      `provider ${String(obj(spec.provider).name)} is not in the mesh config`,
    );
    need(ENFORCE_LABEL in obj(obj(spec.selector).matchLabels), `must select workloads by ${ENFORCE_LABEL}`);
    const samples = [
      ...HEALTH_PATHS.flatMap((path) => ['GET', 'POST', 'DELETE'].map((method) => [method, path])),
      ...['/v1/models/m:invoke', '/', '/healthz/x', '/healthzz', '/readyz/../v1'].flatMap((path) =>
        ['GET', 'POST'].map((method) => [method, path]),
      ),
    ];
    for (const [method, path] of samples) {
      const exempt = method === 'GET' && HEALTH_PATHS.includes(path!);
      const applies = policyApplies(list(spec.rules), method!, path!);
      need(applies === !exempt, `${method} ${path} must ${exempt ? 'skip' : 'go through'} the Check`);
    }
  }
  for (const workload of workloads(bundle)) {
    // Our own pods must never wait on themselves.
    problems.need(
      !(ENFORCE_LABEL in podLabels(workload)),
      `${nameOf(workload)} must not carry ${ENFORCE_LABEL}`,
    );
  }
  const accounts = new Set(
    workloads(bundle).map(
      (workload) => `${String(meta(workload).namespace)}/${String(podSpec(workload).serviceAccountName)}`,
    ),
  );
  for (const policy of policies.filter((entry) => obj(entry.spec).action === 'ALLOW')) {
    for (const principal of list(obj(policy.spec).rules)
      .flatMap((rule) => list(rule.from))
      .flatMap((from) => strings(obj(from.source).principals))) {
      const match = new RegExp(`^${ISTIO_TRUST_DOMAIN}/ns/([^/]+)/sa/([^/]+)$`).exec(principal);
      problems.need(
        match !== null && accounts.has(`${match[1]}/${match[2]}`),
        `AuthorizationPolicy ${nameOf(policy)}: principal ${principal} is none of our workloads`,
      );
    }
  }
  return problems.list;
}

export function redisProblems(bundle: Bundle): string[] {
  const problems = new Problems('redis: ');
  const redis = ofKind(bundle.objects, 'StatefulSet').find((set) => nameOf(set) === 'redis');
  if (!redis) return ['redis: no StatefulSet'];
  const spec = obj(redis.spec);
  const command = strings(containers(redis)[0]?.command).join(' ');
  problems.need(command.includes('--appendonly yes'), 'needs --appendonly yes');
  const dir = /--dir (\S+)/.exec(command)?.[1];
  const claims = list(spec.volumeClaimTemplates).map((claim) => nameOf(claim));
  const mount = list(containers(redis)[0]?.volumeMounts).find((entry) => entry.mountPath === dir);
  problems.need(
    mount !== undefined && claims.includes(String(mount.name)),
    'its --dir must be a volumeClaimTemplate mount',
  );
  const service = ofKind(bundle.objects, 'Service').find((entry) => nameOf(entry) === spec.serviceName);
  problems.need(obj(service?.spec).clusterIP === 'None', 'serviceName must be a headless Service');
  return problems.list;
}

export function templateProblems(bundle: Bundle): string[] {
  const problems = new Problems();
  for (const file of repoFilesIn(TEMPLATES_DIR)) {
    const documents = readYamlDocuments(file).map(obj);
    const kind = documents[0]?.kind === 'Secret' ? 'secret generic' : 'configmap';
    problems.need(
      readRepoText(file).includes(`kubectl -n ${NAMESPACE} create ${kind}`),
      `${file} must show how to create it`,
    );
  }
  for (const template of bundle.templates) {
    const values = Object.values(obj(template.data));
    // A template with a value in it is a key (or a policy) committed to the repository.
    problems.need(
      values.every((value) => value === ''),
      `template ${nameOf(template)} must hold placeholders only`,
    );
  }
  return problems.list;
}

const WITNESS_COMPONENT = { 'app.kubernetes.io/component': 'witness' };

/** The witnesses' StatefulSets. */
const witnessSets = (bundle: Bundle): Obj[] =>
  ofKind(bundle.objects, 'StatefulSet').filter((set) =>
    selects({ matchLabels: WITNESS_COMPONENT }, podLabels(set)),
  );

/** The witnesses as test/deploy/support/witnesses.ts checks them. */
export function k8sWitnessView(bundle: Bundle): WitnessDeploymentView {
  const secretsOf = (workload: Obj): string[] =>
    list(podSpec(workload).volumes).flatMap((volume) =>
      isObject(volume.secret) ? [String(volume.secret.secretName)] : [],
    );
  const witnesses = witnessSets(bundle).map((workload): WitnessView => {
    const container = containers(workload)[0] ?? {};
    const command = strings(container.command);
    const configPath = command.includes('--config') ? command[command.indexOf('--config') + 1] : undefined;
    const { source, key } = configPath ? mountedSource(bundle, workload, container, configPath) : { key: '' };
    const entry = SERVER_CONFIGS.find((config) => basename(config.k8s) === key);
    const config =
      source !== undefined && key in obj(source.data) && entry ? bundle.serverConfigs[entry.name] : undefined;
    const keyFile = String(obj(config).keyFile ?? '');
    const keyAt = mountedSource(bundle, workload, container, keyFile);
    const secret =
      keyAt.source?.kind === 'Secret' && keyAt.key in obj(keyAt.source.data)
        ? nameOf(keyAt.source)
        : undefined;
    const stateDir = String(obj(config).stateDir ?? '');
    const mount = list(container.volumeMounts)
      .filter((entry) => isUnder(stateDir, String(entry.mountPath)))
      .sort((a, b) => String(b.mountPath).length - String(a.mountPath).length)[0];
    const claims = list(obj(workload.spec).volumeClaimTemplates).map(nameOf);
    const service = ofKind(bundle.objects, 'Service').find(
      (entry) =>
        meta(entry).namespace === meta(workload).namespace &&
        Object.keys(obj(obj(entry.spec).selector)).length > 0 &&
        selects({ matchLabels: obj(entry.spec).selector }, podLabels(workload)),
    );
    const containerPort = (target: unknown): unknown =>
      typeof target === 'string'
        ? list(container.ports).find((port) => port.name === target)?.containerPort
        : target;
    const listening = Number(obj(obj(config).http).port ?? 7380);
    const port = list(obj(service?.spec).ports).find(
      (entry) => containerPort(entry.targetPort ?? entry.port) === listening,
    )?.port;
    return {
      workload: nameOf(workload),
      config,
      address: {
        host: service ? nameOf(service) : '(no Service)',
        port: port === undefined ? undefined : Number(port),
      },
      keySource: secret && `Secret ${secret}`,
      keyAlsoMountedBy: workloads(bundle)
        .filter((other) => other !== workload && secret !== undefined && secretsOf(other).includes(secret))
        .map(nameOf),
      state: mount && {
        volume: `${nameOf(workload)}/${String(mount.name)}`,
        persistent: claims.includes(String(mount.name)),
        writable: mount.readOnly !== true,
      },
    };
  });
  return {
    sequencer: bundle.serverConfigs.sequencer ?? {},
    producers: { authz: bundle.serverConfigs.authz ?? {}, authority: bundle.serverConfigs.authority ?? {} },
    witnesses,
  };
}

/**
 * Who may reach the witnesses: in this namespace only the sequencer (the NetworkPolicies), and
 * POST /add-checkpoint only from its mesh identity (the AuthorizationPolicies).
 */
export function witnessAccessProblems(bundle: Bundle): string[] {
  const problems = new Problems('witnesses: ');
  const sets = witnessSets(bundle);
  problems.need(sets.length > 0, 'no witness StatefulSet');
  const sequencerLabels = { 'app.kubernetes.io/name': 'sequencer' };
  const sequencerAccount = `cluster.local/ns/${NAMESPACE}/sa/sequencer`;
  for (const set of sets) {
    const labels = podLabels(set);
    const need = (ok: boolean, problem: string): void => problems.need(ok, `${nameOf(set)}: ${problem}`);
    const peers = ofKind(bundle.objects, 'NetworkPolicy')
      .filter((policy) => selects(obj(policy.spec).podSelector, labels))
      .flatMap((policy) => list(obj(policy.spec).ingress))
      .flatMap((rule) => list(rule.from));
    // A peer without namespaceSelector is a pod of this namespace: only the sequencer.
    const local = peers.filter((peer) => !('namespaceSelector' in peer));
    need(local.length > 0, 'the sequencer cannot reach it (NetworkPolicy)');
    need(
      local.every((peer) =>
        workloads(bundle).every(
          (workload) =>
            !selects(peer.podSelector, podLabels(workload)) ||
            (selects(peer.podSelector, sequencerLabels) && nameOf(workload) === 'sequencer'),
        ),
      ),
      'a NetworkPolicy admits pods of this namespace other than the sequencer',
    );
    const allows = ofKind(bundle.objects, 'AuthorizationPolicy').filter(
      (policy) => obj(policy.spec).action === 'ALLOW' && selects(obj(policy.spec).selector, labels),
    );
    need(allows.length > 0, 'no AuthorizationPolicy limits who may post checkpoints');
    for (const rule of allows.flatMap((policy) => list(obj(policy.spec).rules))) {
      const operations = list(rule.to).map((entry) => obj(entry.operation));
      const posts =
        operations.length === 0 ||
        operations.some(
          (operation) =>
            (!('paths' in operation) ||
              strings(operation.paths).some((path) => path === '/add-checkpoint' || path.includes('*'))) &&
            (!('methods' in operation) || strings(operation.methods).includes('POST')),
        );
      if (!posts) continue;
      const sources = list(rule.from).map((entry) => obj(entry.source));
      need(
        sources.length > 0 &&
          sources.every(
            (source) =>
              Object.keys(source).join() === 'principals' &&
              strings(source.principals).join() === sequencerAccount,
          ),
        `POST /add-checkpoint is allowed to others than ${sequencerAccount}`,
      );
    }
  }
  return problems.list;
}
