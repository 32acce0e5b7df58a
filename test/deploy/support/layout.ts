// Where the deployment files live, and which server config each Envoy config is deployed with.
export const ENVOY_CONFIGS = [
  { name: 'front-proxy', path: 'envoy/front-proxy/envoy.yaml', authz: 'envoy/config/authz.yaml' },
  { name: 'sidecar', path: 'envoy/sidecar/envoy.yaml', authz: 'istio/config/authz.yaml' },
] as const;

/** Each server config and its twin: Docker Compose's and Kubernetes'. */
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
] as const;

export const COMPOSE_FILE = 'envoy/docker-compose.yaml';
export const KUSTOMIZATION = 'istio/kustomization.yaml';
export const MESH_CONFIG = 'istio/mesh-config.yaml';
export const MANIFESTS_DIR = 'istio/manifests';
export const TEMPLATES_DIR = 'istio/templates';

/**
 * Env files the operator makes for Docker Compose (never committed), and the variables each
 * holds: their folder's README shows how to write them.
 */
export const OPERATOR_ENV_FILES = { 'envoy/keys/root-keys.env': ['ROOT_KEYS'] } as const;
