// Every Envoy config we ship refuses a request it could not get a decision for, tells an outage
// (503) from a denial, exempts nothing but GET on health paths, and takes the caller's identity
// and request id from Envoy rather than from the caller.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  BOOTSTRAP,
  clustersOf,
  connectionManagers,
  extAuthzOf,
  extAuthzPerRoute,
  failClosedProblems,
  routesOf,
  untrustedDownstreamGaps,
  type FailClosedContext,
} from './support/envoy-config.js';
import { EnvoySchema } from './support/envoy-schema.js';
import { ENVOY_CONFIGS } from './support/layout.js';
import { isObject, mutated, readYaml } from './support/repo.js';

type Obj = Record<string, unknown>;
let schema: EnvoySchema;
beforeAll(() => {
  schema = EnvoySchema.load();
});

function contextFor(authzPath: string): FailClosedContext {
  const authz = readYaml(authzPath) as Obj;
  return { schema, environment: isObject(authz.environment) ? authz.environment : {} };
}

describe.each(ENVOY_CONFIGS)('$path', ({ path, authz }) => {
  it('is fail-closed', () => {
    expect(failClosedProblems(readYaml(path), contextFor(authz))).toEqual([]);
  });

  it("sets every field Envoy's API marks configure_for_untrusted_downstream", () => {
    const { messages } = schema.check(BOOTSTRAP, readYaml(path));
    expect(untrustedDownstreamGaps(schema, messages)).toEqual([]);
  });
});

describe('the fail-closed checks', () => {
  const [front] = ENVOY_CONFIGS;
  const hcm = (config: unknown): Obj => connectionManagers(config)[0]!.hcm;
  const extAuthz = (config: unknown): Obj => extAuthzOf(hcm(config));
  const route = (config: unknown, name: string): Obj =>
    routesOf(hcm(config)).find((entry) => entry.route.name === name)!.route;
  const authzCluster = (config: unknown): Obj => clustersOf(config).get('governance_authz')!;
  const problemsAfter = (mutate: (config: Obj) => void): string[] =>
    failClosedProblems(mutated(readYaml(front.path) as Obj, mutate), contextFor(front.authz));

  const cases: Array<[what: string, mutate: (config: Obj) => unknown, expected: RegExp]> = [
    [
      'failure_mode_allow: true',
      (c) => (extAuthz(c).failure_mode_allow = true),
      /failure_mode_allow must be set to false/,
    ],
    [
      'failure_mode_allow left to its default',
      (c) => delete extAuthz(c).failure_mode_allow,
      /failure_mode_allow must be set to false/,
    ],
    [
      'no explicit Check timeout',
      (c) => delete (extAuthz(c).grpc_service as Obj).timeout,
      /grpc_service\.timeout must be explicit/,
    ],
    [
      'a Check timeout above 1s',
      (c) => ((extAuthz(c).grpc_service as Obj).timeout = '5s'),
      /at most 1s, got 5s/,
    ],
    [
      'a v2 CheckRequest',
      (c) => (extAuthz(c).transport_api_version = 'V2'),
      /transport_api_version must be V3/,
    ],
    [
      'no peer certificate in the Check',
      (c) => delete extAuthz(c).include_peer_certificate,
      /include_peer_certificate/,
    ],
    [
      'status_on_error OK',
      (c) => (extAuthz(c).status_on_error = { code: 'OK' }),
      /status_on_error must be a 5xx/,
    ],
    [
      'status_on_error Forbidden',
      (c) => (extAuthz(c).status_on_error = { code: 'Forbidden' }),
      /status_on_error must be a 5xx/,
    ],
    [
      'request bodies in the Check',
      (c) => (extAuthz(c).with_request_body = { max_request_bytes: 1024 }),
      /with_request_body must not be set/,
    ],
    [
      'a header allow-list',
      (c) => (extAuthz(c).allowed_headers = { patterns: [{ exact: 'authorization' }] }),
      /allowed_headers must not be set/,
    ],
    [
      'a filter before ext_authz',
      (c) => (hcm(c).http_filters as Obj[]).unshift({ name: 'envoy.filters.http.lua' }),
      /http_filters must be exactly/,
    ],
    [
      'an HTTP/1.1 authz cluster',
      (c) => delete authzCluster(c).typed_extension_protocol_options,
      /must speak HTTP\/2/,
    ],
    [
      'an authz cluster on another port',
      (c) => {
        const socket = (
          ((authzCluster(c).load_assignment as Obj).endpoints as Obj[])[0]!.lb_endpoints as Obj[]
        )[0]!;
        (((socket.endpoint as Obj).address as Obj).socket_address as Obj).port_value = 9192;
      },
      /must target port 9191/,
    ],
    ['no circuit breakers', (c) => delete authzCluster(c).circuit_breakers, /needs circuit breakers/],
    [
      'a Check cluster that does not exist',
      (c) => ((extAuthz(c).grpc_service as Obj).envoy_grpc = { cluster_name: 'authz' }),
      /cluster authz does not exist/,
    ],
    [
      'an exempt governed route',
      (c) => (extAuthzPerRoute(route(c, 'model-invoke'))!.disabled = true),
      /route model-invoke: only GET on an exact health path/,
    ],
    [
      'an exempt prefix',
      (c) =>
        ((route(c, 'healthz').match as Obj) = {
          prefix: '/healthz',
          headers: (route(c, 'healthz').match as Obj).headers,
        }),
      /route healthz: only GET on an exact health path/,
    ],
    [
      'an exemption for every method',
      (c) => delete (route(c, 'healthz').match as Obj).headers,
      /route healthz: only GET/,
    ],
    [
      'an exemption on the whole virtual host',
      (c) =>
        (((hcm(c).route_config as Obj).virtual_hosts as Obj[])[0]!.typed_per_filter_config = route(
          c,
          'healthz',
        ).typed_per_filter_config),
      /ext_authz may be disabled on single routes only/,
    ],
    [
      'a per-route key that names no filter',
      (c) => {
        const perRoute = route(c, 'healthz').typed_per_filter_config as Obj;
        perRoute['envoy.filters.http.ext_authz_'] = perRoute['envoy.filters.http.ext_authz'];
        delete perRoute['envoy.filters.http.ext_authz'];
      },
      /key envoy\.filters\.http\.ext_authz_ names no filter/,
    ],
    [
      'context_extensions that contradict the server',
      (c) =>
        ((
          (extAuthzPerRoute(route(c, 'model-invoke'))!.check_settings as Obj).context_extensions as Obj
        ).region = 'eu-west-1'),
      /context_extensions\.region=eu-west-1 is not an environment the authz server accepts/,
    ],
    [
      'no client certificate required',
      (c) => delete connectionManagers(c)[0]!.chain.transport_socket,
      /must terminate TLS/,
    ],
    [
      'caller-chosen request ids',
      (c) => (hcm(c).preserve_external_request_id = true),
      /preserve_external_request_id/,
    ],
    [
      'RFC 1918 callers trusted as internal',
      (c) => delete hcm(c).internal_address_config,
      /internal_address_config must name loopback only/,
    ],
    ['no path normalisation', (c) => delete hcm(c).normalize_path, /normalize_path and merge_slashes/],
    [
      'headers too small for an artifact',
      (c) => (hcm(c).max_request_headers_kb = 8),
      /too small for a 8192-character artifact/,
    ],
    [
      'admin on all interfaces',
      (c) => (((c.admin as Obj).address as Obj).socket_address = { address: '0.0.0.0', port_value: 9901 }),
      /admin must listen on loopback only/,
    ],
    [
      'a route to an unknown cluster',
      (c) => ((route(c, 'model-invoke').route as Obj).cluster = 'echoo'),
      /routes to unknown cluster echoo/,
    ],
  ];
  it.each(cases)('flag %s', (_, mutate, expected) => {
    expect(problemsAfter(mutate)).toContainEqual(expect.stringMatching(expected));
  });

  it('flag a hardening field left to its default', () => {
    const config = mutated(readYaml(front.path) as Obj, (c) => delete hcm(c).request_headers_timeout);
    const { messages } = schema.check(BOOTSTRAP, config);
    expect(untrustedDownstreamGaps(schema, messages)).toEqual([
      expect.stringMatching(/\.request_headers_timeout$/),
    ]);
  });
});
