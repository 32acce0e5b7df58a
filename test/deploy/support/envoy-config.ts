// What makes an Envoy config of ours fail-closed, as checks that return what is wrong: an empty
// list is a pass. The configs spell fields by their proto names (a test checks), so the checks
// read them that way.
import { LIMITS } from '../../../core/artifact.js';
import { ARTIFACT_HEADER } from '../../../core/protocol.js';
import { durationNanos, type EnvoySchema, type VisitedMessage } from './envoy-schema.js';
import { Problems } from './problems.js';
import { isObject } from './repo.js';

export const BOOTSTRAP = 'envoy.config.bootstrap.v3.Bootstrap';
export const EXT_AUTHZ_FILTER = 'envoy.filters.http.ext_authz';
const ROUTER_FILTER = 'envoy.filters.http.router';
const HCM_TYPE = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const TLS_TYPE = 'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
const HTTP_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
/** The only paths a route may exempt from the Check, and only for GET. */
export const HEALTH_PATHS = ['/healthz', '/readyz'];
export const AUTHZ_GRPC_PORT = 9191;
const MAX_CHECK_TIMEOUT_NANOS = 1_000_000_000n;
/** Envoy's default max_request_headers_kb. */
const DEFAULT_HEADERS_KB = 60;

type Obj = Record<string, unknown>;
const obj = (value: unknown): Obj => (isObject(value) ? value : {});
const list = (value: unknown): Obj[] => (Array.isArray(value) ? value.filter(isObject) : []);
const typeUrl = (name: string): string => `type.googleapis.com/${name}`;

export interface ConnectionManager {
  where: string;
  chain: Obj;
  hcm: Obj;
}

export function listenersOf(bootstrap: unknown): Obj[] {
  return list(obj(obj(bootstrap).static_resources).listeners);
}

export function listenerPorts(bootstrap: unknown): unknown[] {
  return listenersOf(bootstrap).map((listener) => obj(obj(listener.address).socket_address).port_value);
}

export function connectionManagers(bootstrap: unknown): ConnectionManager[] {
  return listenersOf(bootstrap).flatMap((listener) =>
    list(listener.filter_chains).flatMap((chain) =>
      list(chain.filters)
        .map((filter) => obj(filter.typed_config))
        .filter((config) => config['@type'] === typeUrl(HCM_TYPE))
        .map((hcm) => ({ where: `listener ${String(listener.name)}`, chain, hcm })),
    ),
  );
}

export interface RouteEntry {
  where: string;
  route: Obj;
}

export function routesOf(hcm: Obj): RouteEntry[] {
  return list(obj(hcm.route_config).virtual_hosts).flatMap((host) =>
    list(host.routes).map((route) => ({ where: `route ${String(route.name)}`, route })),
  );
}

export function clustersOf(bootstrap: unknown): Map<string, Obj> {
  const clusters = list(obj(obj(bootstrap).static_resources).clusters);
  return new Map(clusters.map((cluster) => [String(cluster.name), cluster]));
}

export function endpointsOf(cluster: Obj): Array<{ address: unknown; port: unknown }> {
  return list(obj(cluster.load_assignment).endpoints)
    .flatMap((locality) => list(locality.lb_endpoints))
    .map((entry) => obj(obj(obj(entry.endpoint).address).socket_address))
    .map((socket) => ({ address: socket.address, port: socket.port_value }));
}

/** The ext_authz per-route settings of a route, virtual host or route config, if any. */
export function extAuthzPerRoute(scope: Obj): Obj | undefined {
  const config = obj(scope.typed_per_filter_config)[EXT_AUTHZ_FILTER];
  return isObject(config) ? config : undefined;
}

export function extAuthzOf(hcm: Obj): Obj {
  return obj(list(hcm.http_filters).find((filter) => filter.name === EXT_AUTHZ_FILTER)?.typed_config);
}

export interface FailClosedContext {
  schema: EnvoySchema;
  /** The `environment` of the authz server config this Envoy config is deployed with. */
  environment: Record<string, unknown>;
}

/** Everything that would let a request through without a decision, or blur an outage. */
export function failClosedProblems(bootstrap: unknown, context: FailClosedContext): string[] {
  const problems = new Problems();
  const need = problems.need.bind(problems);
  const admin = obj(obj(obj(obj(bootstrap).admin).address).socket_address);
  need(['127.0.0.1', '::1'].includes(String(admin.address)), 'admin must listen on loopback only');
  const clusters = clustersOf(bootstrap);
  const managers = connectionManagers(bootstrap);
  need(managers.length > 0, 'no HTTP connection manager found');
  for (const { where, chain, hcm } of managers) {
    const here = new Problems(`${where}: `);
    const filters = list(hcm.http_filters).map((filter) => filter.name);
    here.need(
      JSON.stringify(filters) === JSON.stringify([EXT_AUTHZ_FILTER, ROUTER_FILTER]),
      `http_filters must be exactly [ext_authz, router] (nothing may act before the decision or clear the route cache after it), got ${filters.join(', ')}`,
    );
    here.add(extAuthzProblems(extAuthzOf(hcm), clusters, context));
    here.add(downstreamProblems(chain, hcm));
    here.add(routeProblems(hcm, filters, clusters, context));
    problems.add(here.list);
  }
  return problems.list;
}

function extAuthzProblems(extAuthz: Obj, clusters: Map<string, Obj>, context: FailClosedContext): string[] {
  const problems = new Problems('ext_authz: ');
  const need = problems.need.bind(problems);
  need(extAuthz.failure_mode_allow === false, 'failure_mode_allow must be set to false');
  need(extAuthz.transport_api_version === 'V3', 'transport_api_version must be V3');
  need(extAuthz.include_peer_certificate === true, 'include_peer_certificate must be true');
  const status = obj(extAuthz.status_on_error).code;
  const statusNumber =
    context.schema.enumValues('envoy.type.v3.StatusCode')[String(status)] ?? Number(status);
  need(statusNumber >= 500, `status_on_error must be a 5xx, told apart from denials, got ${String(status)}`);
  for (const field of [
    'with_request_body',
    'allowed_headers',
    'disallowed_headers',
    'failure_mode_allow_header_add',
    'filter_enabled',
    'filter_enabled_metadata',
    'http_service',
  ]) {
    need(!(field in extAuthz), `${field} must not be set`);
  }
  need(extAuthz.clear_route_cache !== true, 'clear_route_cache must not be true');
  const grpc = obj(extAuthz.grpc_service);
  const timeout = durationNanos(grpc.timeout);
  need(
    timeout !== undefined && timeout > 0n && timeout <= MAX_CHECK_TIMEOUT_NANOS,
    `grpc_service.timeout must be explicit, above 0 and at most 1s, got ${String(grpc.timeout)}`,
  );
  const clusterName = String(obj(grpc.envoy_grpc).cluster_name);
  const cluster = clusters.get(clusterName);
  need(cluster !== undefined, `cluster ${clusterName} does not exist`);
  if (!cluster) return problems.list;
  const http2 = obj(obj(obj(cluster.typed_extension_protocol_options)[HTTP_OPTIONS]).explicit_http_config);
  need('http2_protocol_options' in http2, `cluster ${clusterName} must speak HTTP/2 explicitly`);
  const endpoints = endpointsOf(cluster);
  need(
    endpoints.length > 0 && endpoints.every((endpoint) => endpoint.port === AUTHZ_GRPC_PORT),
    `cluster ${clusterName} must target port ${AUTHZ_GRPC_PORT}`,
  );
  const connect = durationNanos(cluster.connect_timeout);
  need(
    connect !== undefined && connect <= MAX_CHECK_TIMEOUT_NANOS,
    `cluster ${clusterName}: connect_timeout ≤ 1s`,
  );
  need(
    list(obj(cluster.circuit_breakers).thresholds).length > 0,
    `cluster ${clusterName} needs circuit breakers`,
  );
  return problems.list;
}

/** Identity and request-id handling: who the caller is must come from Envoy, not the caller. */
function downstreamProblems(chain: Obj, hcm: Obj): string[] {
  const problems = new Problems();
  const need = problems.need.bind(problems);
  const tls = obj(obj(chain.transport_socket).typed_config);
  need(tls['@type'] === typeUrl(TLS_TYPE), 'the filter chain must terminate TLS');
  need(tls.require_client_certificate === true, 'require_client_certificate must be true');
  need(
    isObject(obj(obj(tls.common_tls_context).validation_context).trusted_ca),
    'client certificates must be verified against a trusted CA',
  );
  need(hcm.use_remote_address === true, 'use_remote_address must be true');
  need(hcm.preserve_external_request_id !== true, 'preserve_external_request_id must not be true');
  need(hcm.generate_request_id !== false, 'generate_request_id must not be false');
  const internal = list(obj(hcm.internal_address_config).cidr_ranges);
  need(
    internal.length > 0 &&
      internal.every((range) => ['127.0.0.1', '::1'].includes(String(range.address_prefix))),
    'internal_address_config must name loopback only, so that every caller is external and gets a fresh x-request-id',
  );
  need(
    hcm.normalize_path === true && hcm.merge_slashes === true,
    'normalize_path and merge_slashes must be true',
  );
  need(
    hcm.path_with_escaped_slashes_action === 'REJECT_REQUEST',
    'path_with_escaped_slashes_action: REJECT_REQUEST',
  );
  const headersKb =
    typeof hcm.max_request_headers_kb === 'number' ? hcm.max_request_headers_kb : DEFAULT_HEADERS_KB;
  need(
    headersKb * 1024 > LIMITS.headerChars + ARTIFACT_HEADER.length + 4,
    `max_request_headers_kb too small for a ${LIMITS.headerChars}-character artifact`,
  );
  return problems.list;
}

function routeProblems(
  hcm: Obj,
  filters: unknown[],
  clusters: Map<string, Obj>,
  context: FailClosedContext,
): string[] {
  const problems = new Problems();
  const need = problems.need.bind(problems);
  const routeConfig = obj(hcm.route_config);
  const hosts = list(routeConfig.virtual_hosts);
  for (const scope of [routeConfig, ...hosts, ...routesOf(hcm).map((entry) => entry.route)]) {
    for (const key of Object.keys(obj(scope.typed_per_filter_config))) {
      need(filters.includes(key), `typed_per_filter_config key ${key} names no filter of the chain`);
    }
  }
  for (const scope of [routeConfig, ...hosts]) {
    need(extAuthzPerRoute(scope)?.disabled !== true, 'ext_authz may be disabled on single routes only');
  }
  const exempt: string[] = [];
  for (const { where, route } of routesOf(hcm)) {
    const match = obj(route.match);
    const perRoute = extAuthzPerRoute(route);
    if (perRoute?.disabled === true) {
      exempt.push(String(match.path));
      const getOnly =
        JSON.stringify(match.headers) ===
        JSON.stringify([{ name: ':method', string_match: { exact: 'GET' } }]);
      need(
        HEALTH_PATHS.includes(String(match.path)) && getOnly && Object.keys(match).length === 2,
        `${where}: only GET on an exact health path may skip the Check`,
      );
    }
    const extensions = obj(obj(perRoute?.check_settings).context_extensions);
    // The server accepts its configured value or one listed in environment.contextExtensions.
    const alternatives = obj(context.environment.contextExtensions);
    for (const [key, value] of Object.entries(extensions)) {
      need(
        ['runtime', 'region', 'tenancy'].includes(key) &&
          (context.environment[key] === value ||
            (Array.isArray(alternatives[key]) && alternatives[key].includes(value))),
        `${where}: context_extensions.${key}=${String(value)} is not an environment the authz server accepts`,
      );
    }
    if ('route' in route) {
      const cluster = obj(route.route).cluster;
      need(
        typeof cluster === 'string' && clusters.has(cluster),
        `${where}: routes to unknown cluster ${String(cluster)}`,
      );
    }
  }
  need(exempt.includes('/healthz'), '/healthz must be exempt from the Check');
  return problems.list;
}

/** Fields Envoy marks configure_for_untrusted_downstream that a config leaves at their default. */
export function untrustedDownstreamGaps(schema: EnvoySchema, messages: VisitedMessage[]): string[] {
  return messages.flatMap((message) =>
    schema
      .untrustedDownstreamFields(message.type)
      .filter((field) => !message.fields.has(field))
      .map((field) => `${message.path || '(root)'}.${field}`),
  );
}

/** The route Envoy picks for (method, path): the first whose match applies. */
export function routeFor(hcm: Obj, method: string, path: string): RouteEntry | undefined {
  return routesOf(hcm).find(({ route }) => {
    const { path: exact, prefix, safe_regex: regex, headers, ...rest } = obj(route.match);
    if (Object.keys(rest).length > 0)
      throw new Error(`route match fields not understood: ${Object.keys(rest).join()}`);
    const methodOk = list(headers).every(
      (header) => header.name === ':method' && obj(header.string_match).exact === method,
    );
    // Envoy's safe_regex must match the whole path (query string removed).
    const pathOk =
      exact !== undefined
        ? path === exact
        : prefix !== undefined
          ? path.startsWith(String(prefix))
          : new RegExp(`^(?:${String(obj(regex).regex)})$`).test(path);
    return methodOk && pathOk;
  });
}

/** Operations the authz server knows that Envoy would not send it through a governed route. */
export function routeCoverageProblems(bootstrap: unknown, authz: Obj): string[] {
  const problems = new Problems();
  for (const { method, path } of list(authz.routes)) {
    const sample = String(path).replace(/\{[^}]+\}/g, 'sample-1');
    for (const { where, hcm } of connectionManagers(bootstrap)) {
      const entry = routeFor(hcm, String(method), sample);
      problems.need(
        entry !== undefined && extAuthzPerRoute(entry.route)?.disabled !== true && 'route' in entry.route,
        `${where}: ${String(method)} ${sample} (${String(path)}) has no governed route`,
      );
    }
  }
  return problems.list;
}
