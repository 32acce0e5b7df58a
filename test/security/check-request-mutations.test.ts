// Hostile CheckRequests against the enforcement point: generated mutations of a request that
// is allowed — bit flips and edits of the artifact header, other artifacts, duplicate and
// conflicting headers in both of Envoy's encodings, header floods, unicode confusables and
// edits in principal, path and host, path tricks (`..`, `%2F`, `//`, fragments, queries),
// pseudo-headers that disagree with the attributes, field swaps, wrong types, deep nesting and
// numbers at the edges. 100,000 of them go through the Enforcer in-process (the shell with
// memory stores and a validating ledger, as test/authz-server builds it) and 2,000 through the
// real gRPC server. Every answer must be a CheckResponse, never a thrown error or a gRPC
// error; every denial carries a reason from core/errors.ts and is recorded in the ledger; and
// nothing that changes what the decision binds — caller, method, path, artifact, environment,
// header limits — is ever allowed. Mutations of what it does not bind (host, request id, other
// headers, the query, the encoding an unchanged artifact travels in) may be allowed or denied.
import { Client, credentials, type ServiceError } from '@grpc/grpc-js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeArtifact } from '../../core/artifact.js';
import { ARTIFACT_HEADER } from '../../core/protocol.js';
import { base64urlDecode, base64urlEncode } from '../../core/encoding.js';
import { DENIAL_REASONS } from '../../core/errors.js';
import { generatePrivateKey } from '../../core/keys.js';
import { loadEnvoyAuthProto, type CheckResponseMessage } from '../../authz-server/envoy-proto.js';
import { startHarness, type Harness } from '../authz-server/support/harness.js';
import { BATCH_RUNTIME, CALLER, MODEL, nonce, RUNTIME } from '../authz-server/support/world.js';
import { CheckClient } from '../support/cluster.js';

const PATH = `/v1/models/${MODEL}:invoke`;
const HOST = 'inference.governance.example';
const ENVIRONMENT: Record<string, string> = { runtime: RUNTIME, region: 'us-east-1', tenancy: 'single' };
const LIMITS = { headers: 128, headerBytes: 65_536 }; // testConfig's limits (the defaults)
const RUNS = { artifact: 25_000, request: 25_000, headers: 15_000, structure: 15_000, combined: 20_000 };
const GRPC_RUNS = 2_000;
const BYTE_RUNS = 1_000;
const REASONS = new Set<string>(DENIAL_REASONS);

let h: Harness;
let heartbeat: NodeJS.Timeout;
let original: string;
/**
 * Artifacts that are valid except for one binding, or not valid at all: never allowed here,
 * whatever else a mutation changes (none is bound to an environment a context extension can select).
 */
let wrong: string[];

beforeAll(async () => {
  // Decided on their merits, not on time: at the default 200 ms, one Check in 100,000 could
  // meet the decision deadline on a loaded machine and be denied internal.error.
  h = await startHarness({ config: { decisionDeadlineMs: 10_000 } });
  // Keeps the registry view fresh for the whole run (revocationsSeconds is 10 in testConfig).
  heartbeat = setInterval(() => void h.world.heartbeat(), 1000);
  const w = h.world;
  const bounded = () => ({ mode: 'bounded' as const, nonce: nonce(), max: 1_000_000 });
  original = await w.issue({ use: bounded(), exp: 3600 });
  const revoked = await w.artifact({ use: bounded() });
  await w.revoke({ artifact_id: revoked.id });
  const spent = await w.issue();
  wrong = await Promise.all([
    w.issue({ use: bounded(), sub: 'spiffe://governance.example/ns/inference/sa/other' }),
    // A model no path mutation names: an artifact for a model a mutated path does name is
    // rightly allowed on that path.
    w.issue({
      use: bounded(),
      op: { name: 'model.invoke', model: 'clinical-summary-v9', scope: ['phi.read'] },
    }),
    w.issue({ use: bounded(), op: { name: 'model.batch', model: MODEL, scope: ['phi.read'] } }),
    w.issue({ use: bounded(), env: { region: 'eu-west-1' } }),
    w.issue({
      use: bounded(),
      pol: { ref: 'policy://medical/inference/v3', hash: 'sha3-512:' + '0'.repeat(128) },
    }),
    w.issue({ use: bounded(), pol: { ref: 'policy://medical/other/v1', hash: w.policyHash } }),
    w.issue({ use: bounded(), nbf: -900, exp: -600 }),
    w.issue({ use: bounded(), nbf: 600, exp: 900 }),
    w.issue({ use: bounded(), signer: { kid: 'key:rogue/1', key: generatePrivateKey() } }),
    w.issue({ use: bounded(), signer: { kid: w.producerKid, key: w.producerKey } }),
    w.issue({ use: bounded(), signer: { kid: w.issuerKid, key: w.producerKey } }),
  ]);
  wrong.push(encodeArtifact(revoked), spent);
  const first = await h.server.enforcer.check(new Draft().render());
  expect(first.ok_response).toBeDefined();
  expect((await h.server.enforcer.check(new Draft({ artifact: spent }).render())).ok_response).toBeDefined();
});
afterAll(async () => {
  clearInterval(heartbeat);
  await h?.close();
});

type Placement = 'map' | 'list' | 'raw' | 'both' | 'upper' | 'bothDiff' | 'comma' | 'listTwice';
type Pseudo = ':path' | ':method' | ':authority';
type Target = 'attributes' | 'source' | 'request' | 'http' | 'headers' | 'header_map' | 'context_extensions';

let requestCounter = 0;

/**
 * A request as fields, rendered into a CheckRequest the way Envoy spells it (each value in its
 * attribute and in its pseudo-header). Mutations edit the fields; the oracle reads them.
 */
class Draft {
  principal: unknown = CALLER;
  noSource = false;
  method: unknown = 'POST';
  path: unknown = PATH;
  host: unknown = HOST;
  id: unknown;
  artifact: unknown;
  placement: Placement = 'map';
  pseudo: Partial<Record<Pseudo, unknown>> = {};
  /** A second header_map entry for a pseudo-header. */
  pseudoDup: { key: Pseudo; value: string } | undefined;
  extra: [string, unknown][] = [];
  context: unknown = { ...ENVIRONMENT };
  structure: { target: Target; value: unknown } | undefined;
  /** Set by mutations no protobuf encoding can carry (wrong types, broken structure). */
  typed = false;

  constructor(init: Partial<Pick<Draft, 'artifact'>> = {}) {
    this.id = `fuzz-${++requestCounter}`;
    this.artifact = init.artifact ?? original;
  }

  /** The CheckRequest, with the structural mutation (if any) applied last. */
  render(): object {
    const headers: Record<string, unknown> = {
      ':method': this.pseudo[':method'] ?? this.method,
      ':path': this.pseudo[':path'] ?? this.path,
      ':authority': this.pseudo[':authority'] ?? this.host,
      'x-request-id': this.id,
      'content-type': 'application/json',
    };
    const list: { key: string; value?: unknown; raw_value?: Buffer }[] = [];
    const other = typeof this.artifact === 'string' ? this.artifact.slice(0, -1) + 'A' : 'x';
    const a = this.artifact;
    if (a !== undefined) {
      const raw = typeof a === 'string' ? Buffer.from(a, 'latin1') : undefined;
      switch (this.placement) {
        case 'map':
          headers[ARTIFACT_HEADER] = a;
          break;
        case 'upper':
          headers['X-Execution-Artifact'] = a;
          break;
        case 'list':
          list.push({ key: ARTIFACT_HEADER, value: a });
          break;
        case 'raw':
          list.push(raw ? { key: ARTIFACT_HEADER, raw_value: raw } : { key: ARTIFACT_HEADER, value: a });
          break;
        case 'both':
          headers[ARTIFACT_HEADER] = a;
          list.push({ key: ARTIFACT_HEADER, value: a });
          break;
        case 'bothDiff':
          headers[ARTIFACT_HEADER] = a;
          list.push({ key: ARTIFACT_HEADER, value: other });
          break;
        case 'comma':
          // A non-string value (e.g. one whose toString throws) goes in as it is: the test must
          // not be the one that trips over it.
          headers[ARTIFACT_HEADER] = typeof a === 'string' ? `${a},${other}` : a;
          break;
        case 'listTwice':
          list.push({ key: ARTIFACT_HEADER, value: a }, { key: ARTIFACT_HEADER, value: a });
          break;
      }
    }
    if (this.pseudoDup) list.push(this.pseudoDup);
    for (const [name, value] of this.extra) headers[name] = value;
    const http: Record<string, unknown> = {
      id: this.id,
      method: this.method,
      path: this.path,
      host: this.host,
      scheme: 'https',
      protocol: 'HTTP/2',
      headers,
      ...(list.length > 0 ? { header_map: { headers: list } } : {}),
    };
    const attributes: Record<string, unknown> = {
      ...(this.noSource ? {} : { source: { principal: this.principal } }),
      request: { http },
      context_extensions: this.context,
    };
    const message = { attributes };
    const s = this.structure;
    if (s) {
      const parent: Record<Target, Record<string, unknown>> = {
        attributes: message,
        source: attributes,
        request: attributes,
        http: attributes.request as Record<string, unknown>,
        headers: http,
        header_map: http,
        context_extensions: attributes,
      };
      parent[s.target][s.target] = s.value;
    }
    return message;
  }
}

type Entry = { key?: unknown; value?: unknown; raw_value?: unknown };
const asObject = (value: unknown): Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};

/**
 * The oracle: whether a rendered request differs from the allowed one in something the decision
 * binds — caller, method, path (before the query), the artifact (exactly once per encoding,
 * unchanged), the environment selected by context extensions, or the header limits. It reads
 * the message with the plainest semantics; anything unreadable differs, except containers the
 * decision does not need (an absent header encoding, non-object context extensions).
 */
function mustDeny(message: object): boolean {
  const attributes = asObject((message as { attributes?: unknown }).attributes);
  const http = asObject(asObject(attributes.request).http);
  const map = asObject(http.headers);
  const list = Array.isArray(asObject(http.header_map).headers)
    ? (asObject(http.header_map).headers as Entry[])
    : [];
  const occurrences = (name: string) => [
    Object.keys(map)
      .filter((k) => k.toLowerCase() === name)
      .map((k) => map[k]),
    list
      .filter((e) => typeof e?.key === 'string' && e.key.toLowerCase() === name)
      .map((e) => e.value ?? (Buffer.isBuffer(e.raw_value) ? e.raw_value.toString('latin1') : e.raw_value)),
  ];
  /** Present at most once per encoding, each time equal to `expected` (and at least once if `required`). */
  const consistent = (name: string, expected: unknown, required: boolean) => {
    const [inMap, inList] = occurrences(name);
    return (
      inMap!.length <= 1 &&
      inList!.length <= 1 &&
      (!required || inMap!.length + inList!.length > 0) &&
      [...inMap!, ...inList!].every((v) => v === expected)
    );
  };
  const path = http.path;
  const context = attributes.context_extensions;
  const contextOk =
    context === null ||
    typeof context !== 'object' ||
    Array.isArray(context) ||
    Object.entries(context).every(([k, v]) => Object.hasOwn(ENVIRONMENT, k) && ENVIRONMENT[k] === v);
  let count = 0;
  let bytes = 0;
  for (const [key, value] of Object.entries(map)) {
    count++;
    bytes += key.length + (typeof value === 'string' ? value.length : 0);
  }
  for (const e of list) {
    count++;
    const value = e?.value ?? e?.raw_value;
    bytes +=
      String(e?.key ?? '').length + (typeof value === 'string' || Buffer.isBuffer(value) ? value.length : 0);
  }
  return !(
    asObject(attributes.source).principal === CALLER &&
    http.method === 'POST' &&
    consistent(':method', 'POST', false) &&
    typeof path === 'string' &&
    path.split('?')[0] === PATH &&
    !path.includes('#') &&
    consistent(':path', path, false) &&
    consistent(ARTIFACT_HEADER, original, true) &&
    contextOk &&
    count <= LIMITS.headers &&
    bytes <= LIMITS.headerBytes
  );
}

type Mutation = (draft: Draft) => void;

const CONFUSABLE: Record<string, string> = {
  a: 'а',
  c: 'с',
  e: 'е',
  i: 'і',
  o: 'о',
  p: 'р',
  s: 'ѕ',
  x: 'х',
  y: 'у',
  '/': '∕',
  ':': '：',
  '.': '․',
  '-': '‐',
};

/** Edits of a string: confusables, case, inserts, deletes, truncation, padding, control bytes, floods. */
function edited(base: string): fc.Arbitrary<string> {
  const at = fc.nat(base.length);
  return fc.oneof(
    fc
      .tuple(at, fc.nat(3))
      .map(([i, n]) =>
        [...base].map((ch, j) => (j >= i && j <= i + n ? (CONFUSABLE[ch] ?? ch) : ch)).join(''),
      ),
    at.map((i) => base.slice(0, i) + base.charAt(i).toUpperCase() + base.slice(i + 1)),
    fc
      .tuple(at, fc.string({ unit: 'grapheme', maxLength: 4 }))
      .map(([i, s]) => base.slice(0, i) + s + base.slice(i)),
    fc
      .tuple(at, fc.string({ unit: 'binary', maxLength: 3 }))
      .map(([i, s]) => base.slice(0, i) + s + base.slice(i + 1)),
    fc.tuple(at, fc.nat(8)).map(([i, n]) => base.slice(0, i) + base.slice(i + n + 1)),
    fc
      .constantFrom(' ', '\t', '\n', '\r\n', '\0', '%00', '/', '\\', '\u200b', '\ufeff', ',', ';')
      .chain((pad) => fc.constantFrom(pad + base, base + pad)),
    at.map(
      (i) => base.slice(0, i) + '%' + base.charCodeAt(i).toString(16).padStart(2, '0') + base.slice(i + 1),
    ),
    fc.integer({ min: 1, max: 80 }).map((k) => base.repeat(k * 10)),
    fc.string({ unit: 'binary', maxLength: 40 }),
  );
}

/** Values of the wrong type, numbers at the edges, nesting, and an object whose toString throws. */
const hostile: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    0,
    -0,
    NaN,
    Infinity,
    -Infinity,
    2 ** 53,
    -(2 ** 53),
    1e308,
    5e-324,
    null,
    true,
    false,
    [],
    {},
  ),
  fc
    .integer({ min: 1, max: 500 })
    .map((depth) => JSON.parse('{"a":'.repeat(depth) + '1' + '}'.repeat(depth)) as unknown),
  fc.integer({ min: 1, max: 5000 }).map((n) => new Array<string>(n).fill('a')),
  fc.constant({
    toString() {
      throw new Error('hostile toString');
    },
  }),
  fc.jsonValue({ maxDepth: 3 }),
);

const PATH_TRICKS = [
  '/v1/models/../models/clinical-summary-v4:invoke',
  '/v1/models/./clinical-summary-v4:invoke',
  '/v1//models/clinical-summary-v4:invoke',
  '//v1/models/clinical-summary-v4:invoke',
  '/v1/models/clinical-summary-v4%3Ainvoke',
  '/v1/models%2Fclinical-summary-v4:invoke',
  '/v1/models/clinical-summary-v4:invoke%2F..%2Fadmin',
  '/v1/models/%63linical-summary-v4:invoke',
  '/v1/models/clinical-summary-v4:invoke/',
  '/v1/models/clinical-summary-v4:invoke/..',
  '/v1/models/clinical-summary-v4:invoke#fragment',
  '/v1/models/clinical-summary-v4:invoke?#',
  '/v1/models/clinical-summary-v4:invoke;matrix=1',
  '/V1/models/clinical-summary-v4:invoke',
  '/v1/models/clinical-summary-v3:invoke',
  '/v1/models/clinical-summary-v4:batch',
  '\\v1\\models\\clinical-summary-v4:invoke',
  'https://attacker.example/v1/models/clinical-summary-v4:invoke',
  'v1/models/clinical-summary-v4:invoke',
  '*',
  '',
  '/v1/models/clinical‐summary-v4:invoke',
];
const QUERIES = [
  '?',
  '?a=b',
  '?model=clinical-summary-v3',
  '?../../admin',
  '?%2F..%2F',
  '?x=' + 'q'.repeat(1000),
];

/** Mutations that keep every field a string (they survive protobuf encoding on the wire). */
function wireMutations(): fc.Arbitrary<Mutation>[] {
  const artifactBytes = fc
    .record({ kind: fc.constantFrom('flip', 'truncate', 'append'), at: fc.nat(1 << 16), bit: fc.nat(7) })
    .map(({ kind, at, bit }): Mutation => (d) => {
      const bytes = base64urlDecode(original)!;
      const i = at % bytes.length;
      const mutated =
        kind === 'flip'
          ? bytes.map((b, j) => (j === i ? b ^ (1 << bit) : b))
          : kind === 'truncate'
            ? bytes.slice(0, i)
            : new Uint8Array([...bytes, ...new Uint8Array(bit + 1).fill(at & 0xff)]);
      d.artifact = base64urlEncode(mutated);
    });
  return [
    artifactBytes,
    edited(original).map(
      (value): Mutation =>
        (d) =>
          void (d.artifact = value),
    ),
    fc.nat().map(
      (i): Mutation =>
        (d) =>
          void (d.artifact = wrong[i % wrong.length]),
    ),
    fc.constantFrom<Placement>('map', 'list', 'raw', 'both', 'upper', 'bothDiff', 'comma', 'listTwice').map(
      (placement): Mutation =>
        (d) =>
          void (d.placement = placement),
    ),
    fc.constant<Mutation>((d) => void (d.artifact = undefined)),
    edited(CALLER).map(
      (value): Mutation =>
        (d) =>
          void (d.principal = value),
    ),
    fc.constant<Mutation>((d) => void (d.noSource = true)),
    fc
      .oneof(
        fc.constantFrom(...PATH_TRICKS),
        edited(PATH),
        fc.constantFrom(...QUERIES).map((q) => PATH + q),
      )
      .map(
        (value): Mutation =>
          (d) =>
            void (d.path = value),
      ),
    fc
      .oneof(fc.constantFrom('GET', 'PUT', 'post', 'Post', 'POST ', 'CONNECT', 'OPTIONS', ''), edited('POST'))
      .map(
        (value): Mutation =>
          (d) =>
            void (d.method = value),
      ),
    edited(HOST).map(
      (value): Mutation =>
        (d) =>
          void (d.host = value),
    ),
    edited('req-1').map(
      (value): Mutation =>
        (d) =>
          void (d.id = value),
    ),
    fc
      .tuple(
        fc.constantFrom<Pseudo>(':path', ':method', ':authority'),
        fc.boolean(),
        fc.string({ maxLength: 40 }),
      )
      .map(([key, dup, value]): Mutation => (d) => {
        if (dup) d.pseudoDup = { key, value };
        else d.pseudo[key] = value;
      }),
    fc
      .oneof(
        fc.constant<Record<string, string>>({}),
        fc.constant({ runtime: BATCH_RUNTIME }),
        fc.constant({ region: 'eu-west-1' }),
        fc.dictionary(
          fc.constantFrom('runtime', 'region', 'tenancy', 'image', '__proto__', 'x'),
          fc.string(),
        ),
        fc.constant({ ...ENVIRONMENT, extra: 'x' }),
      )
      .map(
        (context): Mutation =>
          (d) =>
            void (d.context = context),
      ),
    fc
      .tuple(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 0, max: 2000 }))
      .map(([n, size]): Mutation => (d) => {
        const special = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'x-execution-artifact-id'];
        for (let i = 0; i < n; i++) d.extra.push([special[i] ?? `x-flood-${i}`, 'v'.repeat(size)]);
      }),
    fc
      .tuple(
        fc.constantFrom('principal', 'method', 'path', 'host', 'id', 'artifact' as const),
        fc.constantFrom('principal', 'method', 'path', 'host', 'id', 'artifact' as const),
      )
      .map(([a, b]): Mutation => (d) => {
        const va = d[a];
        d[a] = d[b];
        d[b] = va;
      }),
  ];
}

/** Mutations that only an in-process caller can make: wrong types and broken structure. */
function inProcessMutations(): fc.Arbitrary<Mutation>[] {
  const field = fc.constantFrom('principal', 'method', 'path', 'host', 'id', 'artifact', 'context' as const);
  return [
    fc.tuple(field, hostile).map(([name, value]): Mutation => (d) => {
      d[name] = value;
      d.typed = true;
    }),
    fc
      .tuple(
        fc.constantFrom<Target>(
          'attributes',
          'source',
          'request',
          'http',
          'headers',
          'header_map',
          'context_extensions',
        ),
        hostile,
      )
      .map(([target, value]): Mutation => (d) => {
        d.structure = { target, value };
        d.typed = true;
      }),
    hostile.map((value): Mutation => (d) => {
      d.extra.push(['x-typed', value]);
      d.typed = true;
    }),
  ];
}

/** A bounded rendering of a hostile message for failure output. */
function printable(message: object): string {
  try {
    return JSON.stringify(message, (_k, v: unknown) =>
      typeof v === 'string' && v.length > 120 ? `${v.slice(0, 60)}…(${v.length})` : v,
    ).slice(0, 3000);
  } catch (e) {
    return `(unprintable: ${(e as Error).message})`;
  }
}

interface Tally {
  cases: number;
  allowed: number;
  /** Denials of in-process-only requests whose event the ledger refused. */
  unrecorded: number;
  reasons: Map<string, number>;
}

/** Applies the mutations, sends the request, and asserts the outcome is safe and recorded. */
async function expectSafe(
  mutations: Mutation[],
  send: (message: object) => Promise<CheckResponseMessage | { grpcError: string }>,
  tally: Tally,
): Promise<void> {
  const draft = new Draft();
  for (const mutate of mutations) mutate(draft);
  const message = draft.render();
  const before = h.ledger.events.length;
  const answer = await send(message);
  tally.cases++;
  expect(answer).not.toHaveProperty('grpcError');
  const response = answer as CheckResponseMessage;
  const shown = () => `${printable(message)} → ${JSON.stringify(response).slice(0, 300)}`;
  const allowed = response.status?.code === 0 && response.ok_response !== undefined;
  await h.server.enforcer.drain();
  if (allowed) {
    tally.allowed++;
    expect(mustDeny(message), shown()).toBe(false);
    expect(h.ledger.events.length - before, shown()).toBe(2);
  } else {
    const reason = response.denied_response?.headers.find((x) => x.header.key === 'x-execution-denied')
      ?.header.value;
    expect(response.status?.code, shown()).toBe(7);
    expect(REASONS.has(reason ?? ''), shown()).toBe(true);
    expect(JSON.parse(response.denied_response!.body)).toMatchObject({ reason });
    const key = `${draft.typed ? 'typed:' : ''}${reason}`;
    tally.reasons.set(key, (tally.reasons.get(key) ?? 0) + 1);
    // A request Envoy can send must not be able to make its denial unrecordable. Values no
    // protobuf can carry (a number as principal) may yield an event the ledger refuses.
    const recorded = h.ledger.events.length - before;
    if (draft.typed) tally.unrecorded += 1 - recorded;
    else expect(recorded, shown()).toBe(1);
  }
  if (h.ledger.events.length > 10_000) h.ledger.events.splice(0);
  // Checks on memory stores settle in microtasks; yield so heartbeats and the registry view run.
  if (tally.cases % 100 === 0) await new Promise((r) => setTimeout(r, 1));
}

const totals: Tally = { cases: 0, allowed: 0, unrecorded: 0, reasons: new Map() };
const inProcess = (message: object) => h.server.enforcer.check(message);
const mutationList = (arbs: fc.Arbitrary<Mutation>[]) =>
  fc.array(fc.oneof(...arbs), { minLength: 1, maxLength: 3 });

describe('mutated CheckRequests, in-process', () => {
  const wire = () => wireMutations();
  const properties: [string, number, () => fc.Arbitrary<Mutation[]>][] = [
    [
      'the artifact header: bit flips, edits, truncation, other artifacts, placement',
      RUNS.artifact,
      () => mutationList(wire().slice(0, 5)),
    ],
    [
      'caller, path, method, host and request id: confusables, path tricks, edits',
      RUNS.request,
      () => mutationList(wire().slice(5, 11)),
    ],
    [
      'headers: pseudo-header conflicts, duplicates, floods, environment, swaps',
      RUNS.headers,
      () => mutationList(wire().slice(11)),
    ],
    [
      'structure: wrong types, deep nesting, numbers at the edges, throwing values',
      RUNS.structure,
      () => mutationList(inProcessMutations()),
    ],
    ['any combination of the above', RUNS.combined, () => mutationList([...wire(), ...inProcessMutations()])],
  ];
  for (const [name, runs, arbitrary] of properties) {
    it(`${name} (${runs} cases)`, { timeout: 300_000 }, async () => {
      await fc.assert(
        fc.asyncProperty(arbitrary(), (mutations) => expectSafe(mutations, inProcess, totals)),
        { numRuns: runs },
      );
    });
  }

  it('totals: 100,000 cases, none of them unsafe, and the oracle let some through', () => {
    console.log(
      `[security] CheckRequest mutations in-process: ${totals.cases} cases, ${totals.allowed} allowed (benign), ` +
        `${totals.unrecorded} denials of wrong-typed requests unrecordable, ` +
        `reasons ${JSON.stringify(Object.fromEntries(totals.reasons))}`,
    );
    expect(totals.cases).toBeGreaterThanOrEqual(100_000);
    expect(totals.allowed).toBeGreaterThan(0);
    expect(totals.reasons.size).toBeGreaterThan(8);
    // Requests Envoy can send are decided on their merits: the stores and the registry view were
    // healthy throughout, and no input reached an unexpected exception.
    for (const outage of [
      'issuer.unavailable',
      'state.unavailable',
      'ledger.unavailable',
      'internal.error',
    ]) {
      expect(totals.reasons.get(outage)).toBeUndefined();
    }
  });
});

describe('mutated CheckRequests over the real gRPC server', () => {
  it(`${GRPC_RUNS} cases: always a CheckResponse, never a gRPC error`, { timeout: 120_000 }, async () => {
    const client = new CheckClient(h.grpcPort);
    const tally: Tally = { cases: 0, allowed: 0, unrecorded: 0, reasons: new Map() };
    const overGrpc = (message: object) => client.send(message, 30_000);
    try {
      await fc.assert(
        fc.asyncProperty(mutationList(wireMutations()), (mutations) =>
          expectSafe(mutations, overGrpc, tally),
        ),
        { numRuns: GRPC_RUNS },
      );
    } finally {
      client.close();
    }
    console.log(
      `[security] CheckRequest mutations over gRPC: ${tally.cases} cases, ${tally.allowed} allowed (benign)`,
    );
    expect(tally.cases).toBe(GRPC_RUNS);
  });
});

describe('CheckRequest bytes over the real gRPC server', () => {
  /** Bit flips, cuts, and bytes spliced in: many decode to nothing a protobuf parser accepts. */
  const corrupt = (encoded: Buffer): fc.Arbitrary<Buffer> =>
    fc
      .array(
        fc.oneof(
          fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })).map(([at, bit]) => (b: Buffer) => {
            const out = Buffer.from(b);
            if (out.length > 0) out[at % out.length]! ^= 1 << bit;
            return out;
          }),
          fc.nat().map((at) => (b: Buffer) => b.subarray(0, at % (b.length + 1))),
          fc
            .tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 8 }))
            .map(([at, bytes]) => (b: Buffer) => {
              const i = at % (b.length + 1);
              return Buffer.concat([b.subarray(0, i), bytes, b.subarray(i)]);
            }),
        ),
        { minLength: 1, maxLength: 3 },
      )
      .map((edits) => edits.reduce((b, edit) => edit(b), encoded));

  it(
    `${BYTE_RUNS} corrupted encodings: a CheckResponse, request.invalid when undecodable`,
    { timeout: 120_000 },
    async () => {
      const check = loadEnvoyAuthProto().service['Check']!;
      const encoded = check.requestSerialize(new Draft().render()) as Buffer;
      const client = new Client(`127.0.0.1:${h.grpcPort}`, credentials.createInsecure());
      const tally = { cases: 0, undecodable: 0, allowed: 0 };
      const send = (bytes: Buffer) =>
        new Promise<CheckResponseMessage | { grpcError: string }>((resolve) =>
          client.makeUnaryRequest(
            '/envoy.service.auth.v3.Authorization/Check',
            (b: Buffer) => b,
            (b: Buffer) => check.responseDeserialize(b) as CheckResponseMessage,
            bytes,
            { deadline: Date.now() + 30_000 },
            (error: ServiceError | null, response?: CheckResponseMessage) =>
              resolve(error ? { grpcError: `grpc ${error.code}: ${error.details}` } : response!),
          ),
        );
      try {
        await fc.assert(
          fc.asyncProperty(corrupt(encoded), async (bytes) => {
            let decoded: object | undefined;
            try {
              decoded = check.requestDeserialize(bytes) as object;
            } catch {
              decoded = undefined;
            }
            const answer = await send(bytes);
            tally.cases++;
            expect(answer).not.toHaveProperty('grpcError');
            const response = answer as CheckResponseMessage;
            const reason = response.denied_response?.headers.find(
              (x) => x.header.key === 'x-execution-denied',
            )?.header.value;
            if (decoded === undefined) {
              tally.undecodable++;
              expect(reason).toBe('request.invalid');
            } else if (response.status.code === 0) {
              tally.allowed++;
              expect(mustDeny(decoded), printable(decoded)).toBe(false);
            } else {
              expect(REASONS.has(reason ?? '')).toBe(true);
            }
          }),
          { numRuns: BYTE_RUNS },
        );
      } finally {
        client.close();
      }
      console.log(
        `[security] corrupted CheckRequest bytes over gRPC: ${tally.cases} cases, ` +
          `${tally.undecodable} undecodable (denied request.invalid), ${tally.allowed} allowed (benign)`,
      );
      expect(tally.undecodable).toBeGreaterThan(0);
    },
  );
});
