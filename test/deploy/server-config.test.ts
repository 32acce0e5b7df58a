// The servers' configs: each lives once per deployment kind (Docker Compose, Kubernetes), the two
// agree on everything that is not deployment-specific, and every operation the authz server
// governs has a governed route in the Envoy config deployed with it.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../authz-server/config.js';
import { connectionManagers, extAuthzOf, routeCoverageProblems } from './support/envoy-config.js';
import { durationNanos } from './support/envoy-schema.js';
import { COMPOSE_ONLY, ENVOY_CONFIGS, MESH_CONFIG, SERVER_CONFIGS } from './support/layout.js';
import { mutated, readYaml } from './support/repo.js';

type Obj = Record<string, unknown>;

function withoutKeys(config: Obj, keys: readonly string[]): Obj {
  return Object.fromEntries(Object.entries(config).filter(([key]) => !keys.includes(key)));
}

/** `config` without the settings at `paths` (dotted). */
function without(config: Obj, paths: readonly string[]): Obj {
  return mutated(config, (copy) => {
    for (const path of paths) {
      const keys = path.split('.');
      const parent = keys
        .slice(0, -1)
        .reduce<Obj | undefined>((at, key) => at?.[key] as Obj | undefined, copy);
      if (parent) delete parent[keys.at(-1)!];
    }
  });
}

describe.each(SERVER_CONFIGS)('$name config', ({ name, compose, k8s, perDeployment }) => {
  const composeOnly = COMPOSE_ONLY[name] ?? [];
  it(`${compose} and ${k8s} differ only in ${[...perDeployment, ...composeOnly].join(', ') || 'nothing'}`, () => {
    const [a, b] = [without(readYaml(compose) as Obj, composeOnly), readYaml(k8s) as Obj];
    for (const path of composeOnly) expect(without(b, [path])).toEqual(b);
    expect(withoutKeys(b, perDeployment)).toEqual(withoutKeys(a, perDeployment));
    for (const key of perDeployment) expect(Object.keys(b[key] as Obj)).toEqual(Object.keys(a[key] as Obj));
  });
});

describe.each(SERVER_CONFIGS.filter((config) => config.name === 'authz'))(
  '$name config',
  ({ compose, k8s }) => {
    it.each([compose, k8s])("%s parses with the authz server's own configuration schema", (path) => {
      const config = parseConfig(readYaml(path), { REDIS_URL: 'redis://redis:6379' });
      expect(config.routeTable).toBeDefined();
    });

    it('is rejected by that schema when a key is misspelled', () => {
      const typo = mutated(readYaml(compose) as Obj, (config) => (config.clockSkewSecond = 5));
      expect(() => parseConfig(typo, {})).toThrow(/clockSkewSecond/);
    });
  },
);

/** Envoy's (or Istio's) Check timeout, above the server's own decision deadline. */
function deadlineProblem(checkTimeout: unknown, authzPath: string): string | undefined {
  const deadlineMs = parseConfig(readYaml(authzPath), {}).decisionDeadlineMs;
  const timeout = durationNanos(checkTimeout);
  return timeout !== undefined && timeout > BigInt(deadlineMs) * 1_000_000n
    ? undefined
    : `Check timeout ${String(checkTimeout)} must exceed the server's decisionDeadlineMs ${deadlineMs}`;
}

describe.each(ENVOY_CONFIGS)('$path', ({ path, authz }) => {
  it(`routes every operation of ${authz} through the Check`, () => {
    expect(routeCoverageProblems(readYaml(path), readYaml(authz) as Obj)).toEqual([]);
  });

  it('speaks to the authz server as it listens: TLS when it serves TLS, with a client certificate when it asks for one', () => {
    const tls = (parseConfig(readYaml(authz), {}).grpc.tls ?? undefined) as Obj | undefined;
    const clusters = ((readYaml(path) as Obj).static_resources as Obj).clusters as Obj[];
    const cluster = clusters.find((c) => c.name === 'governance_authz');
    const context = ((cluster?.transport_socket as Obj | undefined)?.typed_config ?? undefined) as
      Obj | undefined;
    expect(context !== undefined).toBe(tls !== undefined);
    if (tls === undefined || context === undefined) return;
    const common = context.common_tls_context as Obj;
    const validation = common.validation_context as Obj;
    expect(validation.trusted_ca).toBeDefined();
    expect(validation.match_typed_subject_alt_names).toEqual([
      { san_type: 'DNS', matcher: { exact: context.sni } },
    ]);
    expect(((common.tls_certificates as Obj[] | undefined) ?? []).length > 0).toBe(
      tls.clientCaFile !== undefined,
    );
  });

  it("waits longer than the server's decision deadline, so a slow decision is the server's denial", () => {
    for (const { hcm } of connectionManagers(readYaml(path))) {
      expect(deadlineProblem((extAuthzOf(hcm).grpc_service as Obj).timeout, authz)).toBeUndefined();
    }
  });
});

describe(MESH_CONFIG, () => {
  it("waits longer than the server's decision deadline", () => {
    const mesh = readYaml(MESH_CONFIG) as { spec: { meshConfig: { extensionProviders: Obj[] } } };
    const provider = mesh.spec.meshConfig.extensionProviders[0]!.envoyExtAuthzGrpc as Obj;
    expect(deadlineProblem(provider.timeout, SERVER_CONFIGS[0].k8s)).toBeUndefined();
  });
});

describe('the deadline check', () => {
  it('flags a Check timeout at or below the decision deadline', () => {
    expect(deadlineProblem('0.2s', SERVER_CONFIGS[0].compose)).toMatch(
      /must exceed the server's decisionDeadlineMs 200/,
    );
  });
});

describe('the route coverage check', () => {
  const [front] = ENVOY_CONFIGS;
  const authz = readYaml(front.authz) as Obj;
  it('flags an operation Envoy has no route for', () => {
    const moved = mutated(
      authz,
      (config) => ((config.routes as Obj[])[0]!.path = '/v2/models/{model}:invoke'),
    );
    expect(routeCoverageProblems(readYaml(front.path), moved)).toEqual([
      'listener ingress: POST /v2/models/sample-1:invoke (/v2/models/{model}:invoke) has no governed route',
    ]);
  });

  it('flags an operation whose method Envoy does not route', () => {
    const get = mutated(authz, (config) => ((config.routes as Obj[])[0]!.method = 'GET'));
    expect(routeCoverageProblems(readYaml(front.path), get)).toHaveLength(1);
  });
});
