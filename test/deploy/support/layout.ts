// Where the deployment files live, and which server config each Envoy config is deployed with.
export const ENVOY_CONFIGS = [
  { name: 'front-proxy', path: 'envoy/front-proxy/envoy.yaml', authz: 'envoy/config/authz.yaml' },
  { name: 'sidecar', path: 'envoy/sidecar/envoy.yaml', authz: 'istio/config/authz.yaml' },
] as const;

/** Each server config (the witnesses' too) and its twin: Docker Compose's and Kubernetes'. */
export const SERVER_CONFIGS = [
  {
    name: 'authz',
    compose: 'envoy/config/authz.yaml',
    k8s: 'istio/config/authz.yaml',
    perDeployment: ['environment'],
  },
  {
    name: 'authority',
    compose: 'envoy/config/authority.yaml',
    k8s: 'istio/config/authority.yaml',
    perDeployment: [],
  },
  {
    name: 'sequencer',
    compose: 'envoy/config/sequencer.yaml',
    k8s: 'istio/config/sequencer.yaml',
    perDeployment: [],
  },
  ...(['a', 'b', 'c'] as const).map(
    (x) =>
      ({
        name: `witness-${x}`,
        compose: `envoy/config/witness-${x}.yaml`,
        k8s: `istio/config/witness-${x}.yaml`,
        perDeployment: [],
      }) as const,
  ),
] as const;

/**
 * Settings only the Compose twin has, by server: TLS on the Check listener, which in Kubernetes
 * the mesh provides.
 */
export const COMPOSE_ONLY: Record<string, readonly string[]> = { authz: ['grpc.tls'] };

export const COMPOSE_FILE = 'envoy/docker-compose.yaml';
export const KUSTOMIZATION = 'istio/kustomization.yaml';
export const MESH_CONFIG = 'istio/mesh-config.yaml';
export const MANIFESTS_DIR = 'istio/manifests';
export const TEMPLATES_DIR = 'istio/templates';
/** The folder of the witnesses' keys in the Compose stack: never one another service mounts. */
export const WITNESS_KEYS_DIR = 'envoy/witness-keys';
