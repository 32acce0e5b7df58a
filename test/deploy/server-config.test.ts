// The servers' configs: each lives once per deployment kind (Docker Compose, Kubernetes), the two
// agree on everything that is not deployment-specific, and every operation the authz server
// governs has a governed route in the Envoy config deployed with it.
import { describe, expect, it } from 'vitest';
import { routeCoverageProblems } from './support/envoy-config.js';
import { ENVOY_CONFIGS, SERVER_CONFIGS } from './support/layout.js';
import { mutated, readYaml } from './support/repo.js';

type Obj = Record<string, unknown>;

function withoutKeys(config: Obj, keys: readonly string[]): Obj {
  return Object.fromEntries(Object.entries(config).filter(([key]) => !keys.includes(key)));
}

describe.each(SERVER_CONFIGS)('$name config', ({ compose, k8s, perDeployment }) => {
  it(`${compose} and ${k8s} differ only in ${perDeployment.join(', ') || 'nothing'}`, () => {
    const [a, b] = [readYaml(compose) as Obj, readYaml(k8s) as Obj];
    expect(withoutKeys(b, perDeployment)).toEqual(withoutKeys(a, perDeployment));
    for (const key of perDeployment) expect(Object.keys(b[key] as Obj)).toEqual(Object.keys(a[key] as Obj));
  });
});

describe.each(ENVOY_CONFIGS)('$path', ({ path, authz }) => {
  it(`routes every operation of ${authz} through the Check`, () => {
    expect(routeCoverageProblems(readYaml(path), readYaml(authz) as Obj)).toEqual([]);
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
