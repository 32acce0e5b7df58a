// Policy documents (docs/policy.md): parsing with source positions, validation, compilation of
// the CEL rules, the policy hash, and deterministic evaluation. Pure: no clock, no I/O.
//
// Precedence: every deny rule is checked first and any match denies; otherwise the first allow
// rule (in document order) that matches gives the decision and the artifact terms; otherwise
// deny. A rule whose condition fails to evaluate counts as matching if it is a deny rule and as
// not matching if it is an allow rule, so an evaluation error can only ever deny.
import { isMap, isScalar, LineCounter, parseDocument, visit, type Document, type Node } from 'yaml';
import { z } from 'zod';
import { LIMITS, type Environment, type Operation } from '../core/artifact.js';
import type { JsonValue } from '../core/canonical.js';
import { nodeCrypto } from '../core/crypto-node.js';
import { GovernanceError } from '../core/errors.js';
import { policyHash } from '../core/registry.js';
import { CelRuleError, compileCondition, type CelInputs, type CompiledCondition } from './policy-cel.js';

export const POLICY_LIMITS = { sourceBytes: 256 * 1024, rules: 64, operations: 64 } as const;

export const POLICY_REF = /^policy:\/\/[a-z0-9][a-z0-9._-]*(\/[a-z0-9][a-z0-9._-]*)*$/;
const OPERATION_PATTERN = /^[A-Za-z][A-Za-z0-9._-]*(\.\*)?$/;
const SCOPE_ENTRY = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;

const identifier = z
  .string()
  .min(1)
  .max(LIMITS.stringChars)
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');

const useTerms = z.discriminatedUnion('mode', [
  z.strictObject({ mode: z.literal('single') }),
  z.strictObject({ mode: z.literal('bounded'), max: z.int().min(1).max(LIMITS.maxUses) }),
  z.strictObject({
    mode: z.literal('rate'),
    rate: z.int().min(1).max(LIMITS.maxUses),
    window: z.int().min(1).max(LIMITS.maxRateWindowSeconds),
  }),
]);

const termsSchema = z.strictObject({
  ttl_seconds: z.int().min(1).max(LIMITS.lifetimeSeconds),
  use: useTerms,
  scope: z
    .array(z.string().max(LIMITS.scopeEntryChars).regex(SCOPE_ENTRY, 'is not a scope entry'))
    .max(LIMITS.scopeEntries)
    .refine((s) => new Set(s).size === s.length, 'has duplicate entries')
    .optional(),
  environment: z
    .strictObject({
      runtime: identifier.optional(),
      region: identifier.optional(),
      tenancy: identifier.optional(),
    })
    .optional(),
});

const ruleSchema = z.discriminatedUnion('effect', [
  z.strictObject({
    id: z.string().regex(/^[a-z][a-z0-9_-]{0,63}$/, 'must be lower case letters, digits, - or _'),
    description: z.string().max(1024).optional(),
    effect: z.literal('allow'),
    when: z.string().min(1),
    on_behalf: z.boolean().optional(),
    terms: termsSchema.optional(),
  }),
  z.strictObject({
    id: z.string().regex(/^[a-z][a-z0-9_-]{0,63}$/, 'must be lower case letters, digits, - or _'),
    description: z.string().max(1024).optional(),
    effect: z.literal('deny'),
    when: z.string().min(1),
  }),
]);

const documentSchema = z.strictObject({
  policy: z.string().max(LIMITS.stringChars).regex(POLICY_REF, 'must look like policy://domain/name/v1'),
  description: z.string().max(4096).optional(),
  operations: z
    .array(z.string().max(LIMITS.opNameChars).regex(OPERATION_PATTERN, 'must be an operation name or name.*'))
    .min(1)
    .max(POLICY_LIMITS.operations),
  rules: z.array(ruleSchema).min(1).max(POLICY_LIMITS.rules),
});

type PolicyDocument = z.infer<typeof documentSchema>;
export type UseMode = z.infer<typeof useTerms>;

export interface RuleTerms {
  ttlSeconds: number;
  use: UseMode;
  /** The most the artifact may carry; the artifact binds the requested scope. */
  scope: readonly string[];
  /** Fixed environment values; a request that names another value does not match. */
  environment: Partial<Environment>;
}

interface CompiledRule {
  id: string;
  effect: 'allow' | 'deny';
  onBehalf: boolean;
  terms?: RuleTerms;
  condition: CompiledCondition;
}

export interface CompiledPolicy {
  ref: string;
  hash: string;
  /** The parsed document as JSON: what the hash covers and what the registry stores. */
  document: JsonValue;
  operations: readonly string[];
  rules: readonly CompiledRule[];
}

export interface PolicyProblem {
  /** Where in the document, e.g. "rules[2].when". */
  path: string;
  /** 1-based; 0 when unknown. */
  line: number;
  column: number;
  message: string;
}

export class PolicyError extends GovernanceError {
  constructor(readonly problems: PolicyProblem[]) {
    super('policy.invalid', problems.map(formatProblem).join('; '));
  }
}

function formatProblem(p: PolicyProblem): string {
  return `${p.line > 0 ? `${p.line}:${p.column} ` : ''}${p.path ? `${p.path}: ` : ''}${p.message}`;
}

function pathText(path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (out, key) => (typeof key === 'number' ? `${out}[${key}]` : out ? `${out}.${String(key)}` : String(key)),
    '',
  );
}

class SourceMap {
  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  position(offset: number): { line: number; column: number } {
    const { line, col } = this.lines.linePos(offset);
    return { line, column: col };
  }

  /** The node at a path, or its nearest existing ancestor; a key name selects the key itself. */
  node(path: readonly PropertyKey[], key?: string): Node | undefined {
    for (let n = path.length; n >= 0; n--) {
      const node = this.doc.getIn(path.slice(0, n) as unknown[], true) as Node | undefined;
      if (!node && n > 0) continue;
      const target = node ?? (this.doc.contents as Node | null) ?? undefined;
      if (key !== undefined && n === path.length && isMap(target)) {
        const pair = target.items.find((p) => isScalar(p.key) && p.key.value === key);
        if (pair && isScalar(pair.key)) return pair.key;
      }
      return target;
    }
    return undefined;
  }

  problem(path: readonly PropertyKey[], message: string, key?: string): PolicyProblem {
    const range = this.node(path, key)?.range;
    const at = range ? this.position(range[0]) : { line: 0, column: 0 };
    return { path: pathText(key ? [...path, key] : path), ...at, message };
  }

  /**
   * Position of a character of a scalar's value. Block and folded scalars change only
   * whitespace, so the n-th non-space character of the value is the n-th of the source.
   */
  valueOffset(path: readonly PropertyKey[], valueOffset: number, value: string, source: string): number {
    const node = this.node(path);
    if (!node?.range) return 0;
    const [start, end] = node.range;
    let j = start;
    for (let i = 0; i <= valueOffset && i < value.length; i++) {
      const c = value[i]!;
      if (/\s/.test(c)) continue;
      while (j < end && source[j] !== c) j++;
      if (i < valueOffset) j++;
    }
    return Math.min(j, end);
  }
}

function parseSource(source: string): { doc: Document; map: SourceMap } {
  const problems: PolicyProblem[] = [];
  if (Buffer.byteLength(source, 'utf8') > POLICY_LIMITS.sourceBytes) {
    throw new PolicyError([
      { path: '', line: 0, column: 0, message: `larger than ${POLICY_LIMITS.sourceBytes} bytes` },
    ]);
  }
  const lines = new LineCounter();
  // YAML 1.2 core schema, and JSON is YAML: one parser gives positions for both formats.
  const doc = parseDocument(source, {
    lineCounter: lines,
    schema: 'core',
    uniqueKeys: true,
    prettyErrors: false,
  });
  const map = new SourceMap(doc, lines);
  for (const error of [...doc.errors, ...doc.warnings]) {
    problems.push({ path: '', ...map.position(error.pos[0]), message: error.message.split('\n')[0]! });
  }
  // Aliases would let a small document expand into a huge one and hide what a rule says.
  visit(doc, {
    Alias(_, node) {
      problems.push({
        path: '',
        ...map.position(node.range?.[0] ?? 0),
        message: 'aliases are not allowed',
      });
    },
  });
  if (problems.length > 0) throw new PolicyError(problems);
  return { doc, map };
}

/**
 * Parses, validates and compiles a policy document (YAML or JSON). Throws PolicyError
 * ('policy.invalid') listing every problem with its line and column.
 */
export function compilePolicy(source: string): CompiledPolicy {
  const { doc, map } = parseSource(source);
  const raw = doc.toJS() as unknown;
  const parsed = documentSchema.safeParse(raw);
  if (!parsed.success) {
    throw new PolicyError(
      parsed.error.issues.flatMap((issue) =>
        issue.code === 'unrecognized_keys'
          ? issue.keys.map((key) => map.problem(issue.path, 'is not a field of a policy document', key))
          : [map.problem(issue.path, issue.message)],
      ),
    );
  }
  const document = parsed.data;
  const problems: PolicyProblem[] = [];
  const rules = compileRules(document, source, map, problems);
  if (problems.length > 0) throw new PolicyError(problems);
  const json = raw as JsonValue;
  return {
    ref: document.policy,
    hash: policyHash(nodeCrypto, json),
    document: json,
    operations: document.operations,
    rules,
  };
}

function compileRules(
  document: PolicyDocument,
  source: string,
  map: SourceMap,
  problems: PolicyProblem[],
): CompiledRule[] {
  const seen = new Set<string>();
  return document.rules.flatMap((rule, index): CompiledRule[] => {
    if (seen.has(rule.id)) problems.push(map.problem(['rules', index, 'id'], `duplicate rule id ${rule.id}`));
    seen.add(rule.id);
    let condition: CompiledCondition;
    try {
      condition = compileCondition(rule.when);
    } catch (e) {
      if (!(e instanceof CelRuleError)) throw e;
      const path = ['rules', index, 'when'];
      const offset = map.valueOffset(path, e.offset, rule.when, source);
      problems.push({ path: pathText(path), ...map.position(offset), message: e.message });
      return [];
    }
    const compiled: CompiledRule = { id: rule.id, effect: rule.effect, onBehalf: false, condition };
    if (rule.effect === 'allow') {
      compiled.onBehalf = rule.on_behalf ?? false;
      if (rule.terms) {
        compiled.terms = {
          ttlSeconds: rule.terms.ttl_seconds,
          use: rule.terms.use,
          scope: rule.terms.scope ?? [],
          environment: rule.terms.environment ?? {},
        };
      }
    }
    return [compiled];
  });
}

/** True when the policy lists the operation by name or by a `prefix.*` pattern. */
export function governs(policy: CompiledPolicy, operationName: string): boolean {
  return policy.operations.some((pattern) =>
    pattern.endsWith('.*') ? operationName.startsWith(pattern.slice(0, -1)) : pattern === operationName,
  );
}

export interface PolicyInput {
  /** The identity the artifact would be bound to. */
  identity: string;
  operation: Operation;
  /** What the request says about the environment; absent fields may be fixed by a rule. */
  environment: Partial<Environment>;
  /** The authenticated caller (equals identity unless requesting on behalf of another). */
  caller: string;
  transport: 'grpc' | 'http' | 'internal';
  attributes: Record<string, string>;
  /** Epoch seconds, whole. The only notion of time a rule has. */
  now: number;
}

export type PolicyDecision =
  | { allow: true; rule: string; terms?: RuleTerms; environment: Partial<Environment> }
  | { allow: false; rule?: string; message: string };

function celInputs(input: PolicyInput): CelInputs {
  return {
    identity: input.identity,
    operation: { name: input.operation.name, params: input.operation.params, scope: input.operation.scope },
    environment: {
      runtime: input.environment.runtime ?? '',
      region: input.environment.region ?? '',
      tenancy: input.environment.tenancy ?? '',
    },
    request: { caller: input.caller, transport: input.transport, attributes: input.attributes },
    now: new Date(input.now * 1000),
  };
}

/** The rule's verdict: true, false, or the evaluation error's message. */
function holds(rule: CompiledRule, inputs: CelInputs): boolean | string {
  try {
    const value = rule.condition.evaluate(inputs);
    return typeof value === 'boolean' ? value : 'condition did not give a bool';
  } catch (e) {
    return (e as Error).message.split('\n')[0] ?? 'evaluation failed';
  }
}

/** Why the rule's terms cannot serve the request, or undefined when they can. */
function termsMismatch(terms: RuleTerms, input: PolicyInput): string | undefined {
  const extra = input.operation.scope.filter((entry) => !terms.scope.includes(entry));
  if (extra.length > 0) return `scope ${extra.join(',')} is not granted`;
  for (const key of ['runtime', 'region', 'tenancy'] as const) {
    const fixed = terms.environment[key];
    const asked = input.environment[key];
    if (fixed !== undefined && asked !== undefined && fixed !== asked) {
      return `environment.${key} must be ${fixed}`;
    }
  }
  return undefined;
}

export function evaluatePolicy(policy: CompiledPolicy, input: PolicyInput): PolicyDecision {
  const inputs = celInputs(input);
  for (const rule of policy.rules) {
    if (rule.effect !== 'deny') continue;
    const verdict = holds(rule, inputs);
    if (verdict === true) return { allow: false, rule: rule.id, message: `denied by rule ${rule.id}` };
    if (typeof verdict === 'string') {
      return { allow: false, rule: rule.id, message: `deny rule ${rule.id} failed to evaluate: ${verdict}` };
    }
  }
  let nearMiss: string | undefined;
  const onBehalf = input.caller !== input.identity;
  for (const rule of policy.rules) {
    if (rule.effect !== 'allow') continue;
    if (onBehalf && !rule.onBehalf) {
      nearMiss ??= `rule ${rule.id} does not allow requests on behalf of another identity`;
      continue;
    }
    const verdict = holds(rule, inputs);
    if (verdict !== true) {
      if (typeof verdict === 'string') nearMiss ??= `rule ${rule.id} failed to evaluate: ${verdict}`;
      continue;
    }
    const mismatch = rule.terms && termsMismatch(rule.terms, input);
    if (mismatch) {
      nearMiss ??= `rule ${rule.id}: ${mismatch}`;
      continue;
    }
    const environment = { ...rule.terms?.environment, ...input.environment };
    return rule.terms
      ? { allow: true, rule: rule.id, terms: rule.terms, environment }
      : { allow: true, rule: rule.id, environment };
  }
  return {
    allow: false,
    message: `no rule of ${policy.ref} allows ${input.operation.name}${nearMiss ? ` (${nearMiss})` : ''}`,
  };
}
