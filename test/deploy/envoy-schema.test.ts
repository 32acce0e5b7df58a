// The Envoy configs parse as Envoy's own v3 Bootstrap, checked strictly; and the strict checker
// rejects what Envoy would.
import { beforeAll, describe, expect, it } from 'vitest';
import { BOOTSTRAP, clustersOf, connectionManagers, extAuthzOf } from './support/envoy-config.js';
import { EnvoySchema } from './support/envoy-schema.js';
import { ENVOY_CONFIGS } from './support/layout.js';
import { mutated, readYaml } from './support/repo.js';

type Obj = Record<string, unknown>;
let schema: EnvoySchema;
beforeAll(() => {
  schema = EnvoySchema.load();
});

describe.each(ENVOY_CONFIGS)('$path', ({ path }) => {
  it('is a valid envoy.config.bootstrap.v3.Bootstrap, every typed_config included', () => {
    const result = schema.check(BOOTSTRAP, readYaml(path));
    expect(result.issues).toEqual([]);
    // The walk reached into the Any payloads, not just the bootstrap's own fields.
    expect(result.messages.map((message) => message.type)).toEqual(
      expect.arrayContaining([
        'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
        'envoy.extensions.filters.http.ext_authz.v3.ExtAuthz',
        'envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute',
        'envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
      ]),
    );
  });

  it('spells every field by its proto name, as the fail-closed checks read them', () => {
    expect(schema.check(BOOTSTRAP, readYaml(path)).jsonNamed).toEqual([]);
  });
});

describe('the strict checker', () => {
  const extAuthz = (config: Obj): Obj => extAuthzOf(connectionManagers(config)[0]!.hcm);
  const cluster = (config: Obj): Obj => clustersOf(config).get('governance_authz')!;
  const issuesAfter = (mutate: (config: Obj) => unknown): string[] =>
    schema.check(BOOTSTRAP, mutated(readYaml(ENVOY_CONFIGS[0].path) as Obj, mutate)).issues;

  const cases: Array<[what: string, mutate: (config: Obj) => unknown, expected: RegExp]> = [
    [
      'an unknown field',
      (c) => (extAuthz(c).failure_mode_alow = false),
      /failure_mode_alow: unknown field of envoy\.extensions\.filters\.http\.ext_authz\.v3\.ExtAuthz/,
    ],
    [
      'a misspelled @type',
      (c) =>
        (extAuthz(c)['@type'] = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuth'),
      /@type: .*ExtAuth" is not a type\.googleapis\.com\/ URL of a known type/,
    ],
    [
      'a wrong scalar type',
      (c) => (extAuthz(c).failure_mode_allow = 'false'),
      /failure_mode_allow: "false" is not a valid bool/,
    ],
    [
      'a bad enum value',
      (c) => (extAuthz(c).transport_api_version = 'V4'),
      /"V4" is not a value of envoy\.config\.core\.v3\.ApiVersion/,
    ],
    [
      'a bad Duration string',
      (c) => ((extAuthz(c).grpc_service as Record<string, unknown>).timeout = '250ms'),
      /timeout: expected a duration string/,
    ],
    [
      'a misspelled filter name',
      (c) =>
        ((connectionManagers(c)[0]!.hcm.http_filters as Array<Record<string, unknown>>)[0]!.name =
          'envoy.filters.http.extauthz'),
      /"envoy\.filters\.http\.extauthz" is not the extension name of its typed_config/,
    ],
    [
      'a deprecated field',
      (c) => (cluster(c).http2_protocol_options = {}),
      /deprecated field envoy\.config\.cluster\.v3\.Cluster\.http2_protocol_options/,
    ],
    [
      'a deprecated enum value',
      (c) => (extAuthz(c).transport_api_version = 'V2'),
      /deprecated enum value V2/,
    ],
    [
      'a missing required field (PGV)',
      (c) => delete connectionManagers(c)[0]!.hcm.stat_prefix,
      /stat_prefix: violates \(validate\.rules\)\.string/,
    ],
    [
      'a PGV range violation',
      (c) => (cluster(c).connect_timeout = '0s'),
      /connect_timeout: violates \(validate\.rules\)\.duration/,
    ],
    [
      'two members of one oneof',
      (c) => (extAuthz(c).http_service = {}),
      /oneof services has several members set/,
    ],
    [
      'a field given by both names',
      (c) => (extAuthz(c).failureModeAllow = false),
      /failure_mode_allow given twice/,
    ],
    ['a null value', (c) => (extAuthz(c).stat_prefix = null), /null is not a value/],
    [
      'a protocol-options key Envoy would not find',
      (c) => {
        const options = cluster(c).typed_extension_protocol_options as Record<string, unknown>;
        options['envoy.extensions.upstreams.http.v3.HttpProtocolOption'] =
          options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'];
        delete options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'];
      },
      /key names neither envoy\.extensions\.upstreams\.http\.v3\.HttpProtocolOptions nor its extension/,
    ],
  ];
  it.each(cases)('rejects %s', (_, mutate, expected) => {
    const issues = issuesAfter(mutate);
    expect(issues).toEqual([expect.stringMatching(expected)]);
  });

  it('accepts lowerCamel JSON names, as Envoy does', () => {
    const issues = issuesAfter((c) => {
      const config = extAuthz(c);
      config.failureModeAllow = config.failure_mode_allow;
      delete config.failure_mode_allow;
    });
    expect(issues).toEqual([]);
  });

  it('reads well-known types in their JSON forms', () => {
    const check = (type: string, value: unknown): string[] => schema.check(type, value).issues;
    expect(check('google.protobuf.Duration', '1.5s')).toEqual([]);
    expect(check('google.protobuf.Duration', '1.5')).toHaveLength(1);
    expect(check('google.protobuf.UInt32Value', 5)).toEqual([]);
    expect(check('google.protobuf.UInt32Value', -5)).toHaveLength(1);
    expect(check('google.protobuf.BoolValue', 'true')).toHaveLength(1);
    expect(check('google.protobuf.Struct', { any: ['json', 1] })).toEqual([]);
    expect(check('google.protobuf.Struct', ['not', 'an', 'object'])).toHaveLength(1);
    expect(
      check('google.protobuf.Any', { '@type': 'type.googleapis.com/google.protobuf.Duration', value: '2s' }),
    ).toEqual([]);
    expect(
      check('google.protobuf.Any', { '@type': 'type.googleapis.com/google.protobuf.Duration', value: 2 }),
    ).toHaveLength(1);
  });

  it('checks map keys and 64-bit integers by their proto types', () => {
    const monitor = (bytes: unknown): string[] =>
      schema.check('google.protobuf.Any', {
        '@type': 'type.googleapis.com/envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig',
        max_heap_size_bytes: bytes,
      }).issues;
    expect(monitor(1073741824)).toEqual([]);
    expect(monitor('18446744073709551615')).toEqual([]);
    expect(monitor('18446744073709551616')).toHaveLength(1);
    expect(monitor(1.5)).toHaveLength(1);
  });

  it('resolves type URLs by exact name and only with the type.googleapis.com/ prefix', () => {
    expect(
      schema.typeOfUrl('type.googleapis.com/envoy.extensions.filters.http.router.v3.Router'),
    ).toBeDefined();
    expect(
      schema.typeOfUrl('type.googleapis.com/envoy.extensions.filters.http.router.v3.Routerr'),
    ).toBeUndefined();
    // The type URL prefix is part of the contract, not decoration.
    expect(schema.typeOfUrl('envoy.extensions.filters.http.router.v3.Router')).toBeUndefined();
  });
});
