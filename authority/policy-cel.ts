// The CEL dialect policy rules are written in. Rules see only the explicit inputs below and may
// call only functions whose result depends on their arguments alone, so the same inputs and the
// same policy always give the same decision on any host. Every rule also gets a static upper
// bound on its evaluation cost at publish time: CEL has no loops, but comprehensions multiply
// and cel.bind doubles, and the evaluator has no budget of its own, so a rule that could run
// long on hostile input is refused before it can ever be active.
import { Environment, type ASTNode } from '@marcbachmann/cel-js';
import { LIMITS } from '../core/artifact.js';

/** Client-supplied request attributes (e.g. a ticket id), bounded like artifact parameters. */
export const ATTRIBUTE_LIMITS = { entries: 16, keyChars: 64, valueChars: LIMITS.stringChars } as const;

export const EXPRESSION_LIMITS = {
  chars: 4096,
  /** Upper bound of the estimated evaluation cost of one rule (≈ character comparisons). */
  cost: 200_000,
} as const;

/** The inputs a rule sees, in the shape handed to the evaluator. */
export interface CelInputs {
  identity: string;
  operation: { name: string; params: Record<string, string>; scope: string[] };
  environment: { runtime: string; region: string; tenancy: string };
  request: { caller: string; transport: string; attributes: Record<string, string> };
  now: Date;
}

const celEnvironment = new Environment({
  limits: { maxAstNodes: 1000, maxDepth: 32, maxListElements: 256, maxMapEntries: 64, maxCallArguments: 4 },
})
  .registerVariable('identity', 'string')
  .registerVariable({
    name: 'operation',
    schema: { name: 'string', params: 'map<string, string>', scope: 'list<string>' },
  })
  .registerVariable({
    name: 'environment',
    schema: { runtime: 'string', region: 'string', tenancy: 'string' },
  })
  .registerVariable({
    name: 'request',
    schema: { caller: 'string', transport: 'string', attributes: 'map<string, string>' },
  })
  .registerVariable('now', 'google.protobuf.Timestamp');

/**
 * Upper bounds of a value: `len` for its own length (characters, elements or entries) and
 * `inner` for the length of anything nested in it.
 */
interface Bound {
  len: number;
  inner: number;
}

interface Shape {
  bound: Bound;
  fields?: Record<string, Shape>;
}

const SCALAR: Bound = { len: 1, inner: 0 };
const text = (chars: number): Shape => ({ bound: { len: chars, inner: 0 } });

// The bounds the request validation enforces (authority/request.ts checks the same limits).
const INPUT_SHAPES: Record<string, Shape> = {
  identity: text(LIMITS.stringChars),
  operation: {
    bound: { len: 3, inner: LIMITS.stringChars },
    fields: {
      name: text(LIMITS.opNameChars),
      params: { bound: { len: LIMITS.params, inner: LIMITS.stringChars } },
      scope: { bound: { len: LIMITS.scopeEntries, inner: LIMITS.scopeEntryChars } },
    },
  },
  environment: {
    bound: { len: 3, inner: LIMITS.stringChars },
    fields: {
      runtime: text(LIMITS.stringChars),
      region: text(LIMITS.stringChars),
      tenancy: text(LIMITS.stringChars),
    },
  },
  request: {
    bound: { len: 3, inner: LIMITS.stringChars },
    fields: {
      caller: text(LIMITS.stringChars),
      transport: text(8),
      attributes: { bound: { len: ATTRIBUTE_LIMITS.entries, inner: ATTRIBUTE_LIMITS.valueChars } },
    },
  },
  now: { bound: SCALAR },
  // google.protobuf.Timestamp / Duration type constants.
  google: { bound: SCALAR },
};

const COMPREHENSIONS = new Set(['all', 'exists', 'exists_one', 'map', 'filter']);
/** Receiver methods whose cost is linear in the receiver and argument lengths. */
const LINEAR_METHODS = new Set(['startsWith', 'endsWith', 'size', 'lowerAscii', 'upperAscii', 'trim']);
/** Receiver methods that search: quadratic in the naive worst case. */
const SEARCH_METHODS = new Set(['contains', 'indexOf', 'lastIndexOf', 'split']);
/** Getters that read a timestamp or duration in UTC (the variants taking a time zone depend on the host's tz data). */
const TIME_GETTERS = new Set([
  'getDate',
  'getDayOfMonth',
  'getDayOfWeek',
  'getFullYear',
  'getHours',
  'getMinutes',
  'getSeconds',
  'getMilliseconds',
  'getMonth',
]);
const CONVERSIONS = new Set(['int', 'uint', 'double', 'string', 'bool', 'dyn', 'type', 'size']);
// A timestamp string without an explicit offset would be read in the host's local time zone.
const TIMESTAMP_LITERAL = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

export class CelRuleError extends Error {
  constructor(
    message: string,
    /** Character offset in the expression. */
    readonly offset: number,
  ) {
    super(message);
  }
}

interface Estimate {
  cost: number;
  bound: Bound;
  shape?: Shape;
}

const widest = (...bounds: Bound[]): Bound => ({
  len: Math.max(...bounds.map((b) => b.len)),
  inner: Math.max(...bounds.map((b) => Math.max(b.len, b.inner))),
});
const depth = (b: Bound) => Math.max(b.len, b.inner, 1);

/** Static cost estimate with an allow-list of functions; throws CelRuleError. */
function estimate(node: ASTNode, locals: ReadonlyMap<string, Shape>): Estimate {
  const fail = (message: string): never => {
    throw new CelRuleError(message, node.start);
  };
  const sub = (n: ASTNode, scope = locals) => estimate(n, scope);
  switch (node.op) {
    case 'value': {
      const v = node.args;
      return { cost: 1, bound: typeof v === 'string' ? { len: v.length, inner: 0 } : SCALAR };
    }
    case 'id': {
      const shape = locals.get(node.args) ?? INPUT_SHAPES[node.args];
      if (!shape) fail(`unknown variable ${node.args}`);
      return { cost: 1, bound: shape!.bound, shape };
    }
    case '.':
    case '.?': {
      const [target, field] = node.args;
      const t = sub(target);
      const shape = t.shape?.fields?.[field];
      return {
        cost: t.cost + 1,
        bound: shape?.bound ?? { len: t.bound.inner, inner: t.bound.inner },
        ...(shape ? { shape } : {}),
      };
    }
    case '[]':
    case '[?]': {
      const [target, key] = node.args;
      const t = sub(target);
      const k = sub(key);
      return { cost: t.cost + k.cost + depth(k.bound), bound: { len: t.bound.inner, inner: t.bound.inner } };
    }
    case 'list':
    case 'map': {
      const parts = node.op === 'list' ? node.args : node.args.flat();
      const items = parts.map((n) => sub(n));
      return {
        cost: 1 + items.reduce((c, e) => c + e.cost, 0),
        bound: { len: node.op === 'list' ? items.length : items.length / 2, ...inner(items) },
      };
    }
    case '?:': {
      const [c, a, b] = node.args.map((n) => sub(n)) as [Estimate, Estimate, Estimate];
      return { cost: c.cost + Math.max(a.cost, b.cost), bound: widest(a.bound, b.bound) };
    }
    case '&&':
    case '||': {
      const [a, b] = node.args.map((n) => sub(n)) as [Estimate, Estimate];
      return { cost: a.cost + b.cost, bound: SCALAR };
    }
    case '!_':
    case '-_': {
      const a = sub(node.args);
      return { cost: a.cost + 1, bound: SCALAR };
    }
    case '+': {
      const [a, b] = node.args.map((n) => sub(n)) as [Estimate, Estimate];
      const bound = { len: a.bound.len + b.bound.len, inner: Math.max(a.bound.inner, b.bound.inner) };
      return { cost: a.cost + b.cost + bound.len, bound };
    }
    case '==':
    case '!=':
    case '<':
    case '<=':
    case '>':
    case '>=':
    case 'in': {
      const [a, b] = node.args.map((n) => sub(n)) as [Estimate, Estimate];
      // Deep equality, or membership: every element of b compared with a.
      const compare = node.op === 'in' ? depth(b.bound) * depth(a.bound) : depth(widest(a.bound, b.bound));
      return { cost: a.cost + b.cost + compare, bound: SCALAR };
    }
    case '-':
    case '*':
    case '/':
    case '%': {
      const [a, b] = node.args.map((n) => sub(n)) as [Estimate, Estimate];
      return { cost: a.cost + b.cost + 1, bound: SCALAR };
    }
    case 'call':
      return estimateCall(node.args[0], node.args[1], node, locals);
    case 'rcall':
      return estimateMethod(node.args[0], node.args[1], node.args[2], node, locals);
  }
}

function inner(items: Estimate[]): { inner: number } {
  return { inner: items.reduce((m, e) => Math.max(m, e.bound.len, e.bound.inner), 0) };
}

function estimateCall(
  name: string,
  args: ASTNode[],
  node: ASTNode,
  locals: ReadonlyMap<string, Shape>,
): Estimate {
  const literal = (what: string, check: (s: string) => boolean): Estimate => {
    const arg = args[0];
    if (args.length !== 1 || arg?.op !== 'value' || typeof arg.args !== 'string' || !check(arg.args)) {
      throw new CelRuleError(`${name}() takes one ${what} string literal in policies`, node.start);
    }
    return { cost: arg.args.length, bound: SCALAR };
  };
  if (name === 'has') return { cost: 2, bound: SCALAR };
  if (name === 'timestamp') {
    if (args[0]?.op === 'value' && typeof args[0].args === 'bigint') return { cost: 1, bound: SCALAR };
    return literal('RFC 3339 (with Z or an offset)', (s) => TIMESTAMP_LITERAL.test(s));
  }
  if (name === 'duration') return literal('duration', (s) => s.length <= 64);
  if (!CONVERSIONS.has(name)) {
    throw new CelRuleError(`function ${name}() is not available in policies`, node.start);
  }
  const items = args.map((n) => estimate(n, locals));
  const cost = items.reduce((c, e) => c + e.cost + depth(e.bound), 1);
  // string(x) of a number or bool is short; of a string it is the string.
  return { cost, bound: name === 'string' || name === 'dyn' ? widest(...items.map((e) => e.bound)) : SCALAR };
}

function estimateMethod(
  name: string,
  receiver: ASTNode,
  args: ASTNode[],
  node: ASTNode,
  locals: ReadonlyMap<string, Shape>,
): Estimate {
  const fail = (message: string): never => {
    throw new CelRuleError(message, node.start);
  };
  if (receiver.op === 'id' && receiver.args === 'cel') {
    fail(`cel.${name}() is not available in policies (it can double a value at every use)`);
  }
  const recv = estimate(receiver, locals);
  if (COMPREHENSIONS.has(name)) {
    const variable = args[0];
    if (variable?.op !== 'id') fail(`${name}() needs a variable name as its first argument`);
    const element: Shape = { bound: { len: recv.bound.inner, inner: recv.bound.inner } };
    const scope = new Map(locals).set(variable!.args as string, element);
    const body = args.slice(1).map((n) => estimate(n, scope));
    const perElement = body.reduce((c, e) => c + e.cost, 1);
    const cost = recv.cost + recv.bound.len * perElement;
    const last = body[body.length - 1]!.bound;
    const bound =
      name === 'map'
        ? { len: recv.bound.len, inner: Math.max(last.len, last.inner) }
        : name === 'filter'
          ? recv.bound
          : SCALAR;
    return { cost, bound };
  }
  const items = args.map((n) => estimate(n, locals));
  const argCost = items.reduce((c, e) => c + e.cost, recv.cost);
  const argLen = items.reduce((m, e) => Math.max(m, e.bound.len), 0);
  if (LINEAR_METHODS.has(name)) {
    return {
      cost: argCost + recv.bound.len + argLen,
      bound: name === 'size' || name.endsWith('With') ? SCALAR : recv.bound,
    };
  }
  if (SEARCH_METHODS.has(name)) {
    const cost = argCost + recv.bound.len * Math.max(1, argLen);
    const bound = name === 'split' ? { len: recv.bound.len + 1, inner: recv.bound.len } : SCALAR;
    return { cost, bound };
  }
  if (name === 'substring') return { cost: argCost + recv.bound.len, bound: recv.bound };
  if (name === 'join') {
    const len = recv.bound.len * (recv.bound.inner + argLen);
    return { cost: argCost + len, bound: { len, inner: 0 } };
  }
  if (TIME_GETTERS.has(name)) {
    if (args.length > 0) fail(`${name}() with a time zone depends on the host's time zone data; use UTC`);
    return { cost: argCost + 1, bound: SCALAR };
  }
  if (name === 'matches') fail('matches() is not available in policies (regular expressions can backtrack)');
  return fail(`method ${name}() is not available in policies`);
}

export interface CompiledCondition {
  /** Estimated worst-case cost (see EXPRESSION_LIMITS.cost). */
  cost: number;
  evaluate(inputs: CelInputs): unknown;
}

/** Parses, type-checks and bounds a rule condition; throws CelRuleError with an offset. */
export function compileCondition(source: string): CompiledCondition {
  if (source.length > EXPRESSION_LIMITS.chars) {
    throw new CelRuleError(`expression longer than ${EXPRESSION_LIMITS.chars} characters`, 0);
  }
  let parsed: ReturnType<Environment['parse']>;
  try {
    parsed = celEnvironment.parse(source);
  } catch (e) {
    throw celError(e);
  }
  const checked = parsed.check();
  if (!checked.valid) throw celError(checked.error);
  if (checked.type !== 'bool') throw new CelRuleError(`expression is of type ${checked.type}, not bool`, 0);
  const { cost } = estimate(parsed.ast, new Map());
  if (cost > EXPRESSION_LIMITS.cost) {
    throw new CelRuleError(
      `estimated worst-case cost ${cost} exceeds the limit of ${EXPRESSION_LIMITS.cost} ` +
        '(nest fewer comprehensions or compare shorter values)',
      0,
    );
  }
  return { cost, evaluate: (inputs) => parsed(inputs) };
}

function celError(e: unknown): CelRuleError {
  const err = e as { summary?: string; message?: string; range?: { start: number } } | undefined;
  const message = err?.summary ?? err?.message?.split('\n')[0] ?? 'invalid expression';
  return new CelRuleError(message, err?.range?.start ?? 0);
}
