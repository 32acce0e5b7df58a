import { readFileSync } from 'node:fs';
import { fc, test as propertyTest } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { nodeCrypto } from '../../core/crypto-node.js';
import { policyHash } from '../../core/registry.js';
import { EXPRESSION_LIMITS } from '../../authority/policy-cel.js';
import {
  compilePolicy,
  evaluatePolicy,
  governs,
  PolicyError,
  type CompiledPolicy,
  type PolicyInput,
  type PolicyProblem,
} from '../../authority/policy.js';

const medical = readFileSync('examples/policies/medical-inference-v3.yaml', 'utf8');
const admin = readFileSync('examples/policies/governance-admin-v1.yaml', 'utf8');
const GATEWAY = 'spiffe://prod.example.org/ns/inference/sa/gateway';

const summarize: PolicyInput = {
  identity: GATEWAY,
  caller: GATEWAY,
  operation: {
    name: 'model.invoke',
    params: { model: 'clinical-summary-v4' },
    scope: ['phi.no_export', 'phi.read'],
  },
  environment: { runtime: 'k8s://cluster-east-1/ns/inference' },
  transport: 'http',
  attributes: {},
  now: Date.parse('2026-05-12T17:00:00Z') / 1000,
};

function problemsOf(source: string): PolicyProblem[] {
  try {
    compilePolicy(source);
  } catch (e) {
    if (e instanceof PolicyError) return e.problems;
    throw e;
  }
  throw new Error('the policy compiled');
}

/** A one-rule policy around a condition. */
const withCondition = (when: string) =>
  `policy: policy://test/p/v1\noperations: [x]\nrules:\n  - id: r\n    effect: allow\n    when: '${when}'\n`;

describe('policy documents', () => {
  it('compile the shipped examples, hashing the parsed document', () => {
    for (const source of [medical, admin]) {
      const policy = compilePolicy(source);
      expect(policy.hash).toBe(policyHash(nodeCrypto, policy.document));
    }
  });

  it('hash the same for the same document in YAML and in JSON', () => {
    const yaml = compilePolicy(medical);
    expect(compilePolicy(JSON.stringify(yaml.document, null, 2)).hash).toBe(yaml.hash);
  });

  it('report a YAML syntax error with its line and column', () => {
    const [problem] = problemsOf('policy: policy://a/b\noperations: [x]\n\trules: []\n');
    expect(problem).toEqual({ path: '', line: 3, column: 1, message: 'Tabs are not allowed as indentation' });
  });

  it('report an unknown field at the key that is wrong', () => {
    const source = medical.replace('    effect: deny\n', '    effect: deny\n    priority: 3\n');
    const [problem] = problemsOf(source);
    const line = source.split('\n').findIndex((l) => l.includes('priority: 3')) + 1;
    expect(problem).toEqual({
      path: 'rules[0].priority',
      line,
      column: 5,
      message: 'is not a field of a policy document',
    });
  });

  it('report a CEL error at its line and column inside a folded block', () => {
    const source = medical.replace(
      'operation.params.model == "clinical-summary-v4" &&\n      "phi',
      'operation.params.model == clinical &&\n      "phi',
    );
    const [problem] = problemsOf(source);
    const lines = source.split('\n');
    const line = lines.findIndex((l) => l.includes('== clinical &&')) + 1;
    expect(problem).toMatchObject({
      path: 'rules[2].when',
      line,
      column: lines[line - 1]!.indexOf('clinical') + 1,
    });
  });

  it('refuse duplicate keys, duplicate rule ids and aliases', () => {
    expect(
      problemsOf('policy: policy://a/b\npolicy: policy://a/c\noperations: [x]\nrules: []\n')[0]!.message,
    ).toMatch(/unique|duplicate/i);
    const twice = `${withCondition('true')}  - id: r\n    effect: deny\n    when: 'false'\n`;
    expect(problemsOf(twice).map((p) => p.message)).toEqual(['duplicate rule id r']);
    const alias = 'policy: policy://a/b\noperations: &ops [x]\nalso: *ops\nrules: []\n';
    expect(problemsOf(alias).some((p) => p.message === 'aliases are not allowed')).toBe(true);
  });

  it.each([
    ['a regular expression', 'identity.matches("a+")', /matches\(\) is not available/],
    ['a time zone', 'now.getHours("Europe/Paris") > 1', /time zone/],
    ['a local-time timestamp', 'now > timestamp("2026-01-01T00:00:00")', /RFC 3339/],
    ['cel.bind', 'cel.bind(x, identity, x == identity)', /cel.bind\(\) is not available/],
    ['a non-bool result', 'identity', /not bool/],
    ['an unknown variable', 'user == "a"', /user/],
  ])('refuse a rule that uses %s', (_what, when, message) => {
    const [problem] = problemsOf(withCondition(when));
    expect(problem!.path).toBe('rules[0].when');
    expect(problem!.message).toMatch(message);
  });

  it('refuse a rule whose worst-case cost exceeds the bound', () => {
    const nested =
      'operation.scope.all(a, operation.scope.all(b, operation.scope.all(c, (a + b + c).contains(identity))))';
    expect(problemsOf(withCondition(nested))[0]!.message).toMatch(/estimated worst-case cost \d+ exceeds/);
  });

  it('accept a bounded comprehension under the limit', () => {
    const policy = compilePolicy(withCondition('operation.scope.all(s, s.startsWith("phi."))'));
    expect(policy.rules[0]!.condition.cost).toBeLessThan(EXPRESSION_LIMITS.cost);
  });

  it('govern operations by exact name and by prefix.*', () => {
    const policy = compilePolicy(admin);
    expect(governs(policy, 'admin.key.rotate')).toBe(true);
    expect(governs(policy, 'administer')).toBe(false);
    expect(governs(compilePolicy(medical), 'model.invokeX')).toBe(false);
  });
});

describe('policy evaluation', () => {
  const policy = compilePolicy(medical);

  it('allows with the first matching allow rule and its terms', () => {
    const decision = evaluatePolicy(policy, summarize);
    expect(decision).toMatchObject({
      allow: true,
      rule: 'clinical-summary',
      terms: { ttlSeconds: 300, use: { mode: 'single' } },
      environment: { runtime: 'k8s://cluster-east-1/ns/inference', region: 'us-east-1', tenancy: 'single' },
    });
  });

  it('denies by default, saying why the nearest rule did not match', () => {
    const decision = evaluatePolicy(policy, {
      ...summarize,
      operation: { ...summarize.operation, scope: ['phi.read', 'phi.no_export', 'phi.write'].sort() },
    });
    expect(decision).toEqual({
      allow: false,
      message:
        'no rule of policy://medical/inference/v3 allows model.invoke (rule clinical-summary: scope phi.write is not granted)',
    });
  });

  it('lets a deny rule win over a matching allow rule', () => {
    const scope = ['export.s3', 'phi.no_export', 'phi.read'];
    const decision = evaluatePolicy(policy, { ...summarize, operation: { ...summarize.operation, scope } });
    expect(decision).toMatchObject({ allow: false, rule: 'no-export' });
  });

  it('refuses a request on behalf of another identity unless the rule allows it', () => {
    const clinician = 'spiffe://prod.example.org/ns/clinicians/sa/ward-7';
    const byGateway = {
      ...summarize,
      identity: clinician,
      caller: 'spiffe://prod.example.org/ns/edge/sa/api-gateway',
    };
    expect(evaluatePolicy(policy, byGateway)).toMatchObject({ allow: true, rule: 'gateway-on-behalf' });
    expect(evaluatePolicy(policy, { ...byGateway, caller: GATEWAY })).toMatchObject({ allow: false });
  });

  it('does not match a rule whose fixed environment the request contradicts', () => {
    const decision = evaluatePolicy(policy, { ...summarize, environment: { region: 'eu-west-1' } });
    expect(decision).toMatchObject({
      allow: false,
      message: expect.stringContaining('environment.region must be us-east-1'),
    });
  });

  it('decides on the explicit now only', () => {
    const batch: PolicyInput = {
      ...summarize,
      identity: 'spiffe://prod.example.org/ns/triage/sa/nightly',
      caller: 'spiffe://prod.example.org/ns/triage/sa/nightly',
      operation: { name: 'model.batch', params: {}, scope: ['phi.read'] },
      environment: {},
      attributes: { ticket: 'CHG-1' },
    };
    const at = (time: string) => evaluatePolicy(policy, { ...batch, now: Date.parse(time) / 1000 }).allow;
    expect(at('2026-05-12T02:00:00Z')).toBe(true);
    expect(at('2026-05-12T06:00:00Z')).toBe(false);
  });

  it('treats an allow rule that fails to evaluate as not matching, and a deny rule as matching', () => {
    const erring = 'operation.params.model == "m"';
    const allowOnly = compilePolicy(withCondition(erring));
    const noModel = { ...summarize, operation: { name: 'x', params: {}, scope: [] } };
    expect(evaluatePolicy(allowOnly, noModel)).toMatchObject({
      allow: false,
      message: expect.stringContaining('failed to evaluate'),
    });
    const denyErring = compilePolicy(
      `${withCondition('true')}  - id: d\n    effect: deny\n    when: '${erring}'\n`,
    );
    expect(evaluatePolicy(denyErring, noModel)).toMatchObject({ allow: false, rule: 'd' });
  });

  const word = fc.stringMatching(/^[a-z][a-z0-9_.-]{0,20}$/);
  const inputs = fc.record({
    identity: fc.constantFrom(GATEWAY, 'spiffe://prod.example.org/ns/triage/sa/x', 'spiffe://other/x'),
    model: fc.constantFrom('clinical-summary-v4', 'clinical-summary-v3', 'other'),
    scope: fc.uniqueArray(fc.constantFrom('phi.read', 'phi.no_export', 'phi.write', 'export.s3'), {
      maxLength: 4,
    }),
    region: fc.option(fc.constantFrom('us-east-1', 'eu-west-1'), { nil: undefined }),
    ticket: fc.option(word, { nil: undefined }),
    now: fc.integer({ min: 1_700_000_000, max: 1_900_000_000 }),
  });

  propertyTest.prop([inputs], { numRuns: 1000 })(
    'is deterministic: same inputs and policy hash, same decision',
    ({ identity, model, scope, region, ticket, now }) => {
      const input: PolicyInput = {
        identity,
        caller: identity,
        operation: { name: 'model.invoke', params: { model }, scope: [...scope].sort() },
        environment: region ? { region } : {},
        transport: 'grpc',
        attributes: ticket ? { ticket } : {},
        now,
      };
      const again: CompiledPolicy = compilePolicy(medical);
      expect(again.hash).toBe(policy.hash);
      expect(evaluatePolicy(again, structuredClone(input))).toEqual(evaluatePolicy(policy, input));
    },
  );
});
