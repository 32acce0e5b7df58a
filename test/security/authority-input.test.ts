// Hostile input against the authority process (authority/main.ts from a dev deployment, on a
// real Redis with the real sequencer): generated HTTP requests — malformed and truncated JSON,
// wrong types, unknown fields, invalid UTF-8, deep nesting, bodies past the limit, wrong content
// types, bad and oversized tokens, other callers' tokens — and gRPC calls — bit-flipped and
// truncated protobuf, random bytes, oversized messages and metadata, bad tokens, admin calls by
// callers the admin policy does not name. Every answer must be a clean error naming a reason
// from core/errors.ts (or a transport refusal before any handler runs), the process must stay
// up, every refused artifact request must be ledgered, and nothing may be issued to an
// unauthenticated caller or for an identity other than the caller's.
import { Client, credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAuthorityProto } from '../../authority/grpc.js';
import { REASON_TRAILER } from '../../core/protocol.js';
import { MAX_BODY_BYTES } from '../../authority/http.js';
import { DEV_ENVIRONMENT, DEV_IDENTITIES } from '../../devkit/dev-deployment.js';
import { base64urlDecode, utf8Decode } from '../../core/encoding.js';
import { CODES } from '../../core/errors.js';
import { Cluster, MODEL, WORKLOAD } from '../support/cluster.js';
import { startRedis, type TestRedis } from '../support/redis.js';

const HTTP_RUNS = 1_500;
const GRPC_RUNS = 1_000;
const OTHER = 'spiffe://prod.example.org/ns/inference/sa/other';

let redis: TestRedis;
let cluster: Cluster;
let grpc: Client;
beforeAll(async () => {
  redis = await startRedis();
  cluster = await Cluster.start({ redis, replicas: 0 });
  grpc = new Client(`127.0.0.1:${cluster.deployment.ports.authorityGrpc}`, credentials.createInsecure());
}, 60_000);
afterAll(async () => {
  grpc?.close();
  await cluster?.stop();
  await redis?.stop();
});

/** What the test did to the authority, to be matched against its ledger at the end. */
const sent = { issued: [] as string[], refused: 0, transport: 0, parser: 0, http: 0, grpc: 0 };

const validBody = {
  identity: WORKLOAD,
  op: { name: 'model.invoke', model: MODEL, scope: ['phi.read', 'phi.no_export'] },
  env: { runtime: DEV_ENVIRONMENT.runtime },
};

type Token = 'workload' | 'security' | 'policyOperator' | 'none' | { raw: string };
const token: fc.Arbitrary<Token> = fc.oneof(
  fc.constantFrom<Token>('workload', 'security', 'policyOperator', 'none'),
  fc
    .oneof(
      fc.string({ maxLength: 80 }).map((s) => `Bearer ${s}`),
      fc.constantFrom(
        'Bearer',
        'bearer x',
        'Bearer  x',
        'Basic dXNlcjpwYXNz',
        'Bearer ' + 'A'.repeat(10_000),
      ),
      fc.string({ unit: 'binary', maxLength: 60 }),
    )
    .map((raw) => ({ raw })),
);

function authorization(t: Token): string | undefined {
  if (t === 'none') return undefined;
  return typeof t === 'string' ? `Bearer ${cluster.deployment.tokens[t]}` : t.raw;
}

/** Values that are not what a field takes: other types, edges, confusables, huge and nested. */
const wrongValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    null,
    true,
    0,
    -1,
    2 ** 53,
    1e308,
    [],
    {},
    '',
    'ѕpiffe://prod.example.org/ns/inference/sa/gateway',
  ),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.integer({ min: 300, max: 5000 }).map((n) => 'x'.repeat(n)),
  fc.integer({ min: 1, max: 200 }).map((d) => JSON.parse('['.repeat(d) + ']'.repeat(d)) as unknown),
  fc.jsonValue({ maxDepth: 3 }),
);

const FIELD_PATHS = [
  ['identity'],
  ['op'],
  ['op', 'name'],
  ['op', 'model'],
  ['op', 'scope'],
  ['env'],
  ['env', 'runtime'],
  ['policy'],
  ['attributes'],
  ['op', 'params'],
  ['unknown'],
  ['op', 'name', 'x'],
];

function withField(path: string[], value: unknown): unknown {
  const body = structuredClone(validBody) as Record<string, unknown>;
  let node = body;
  for (const key of path.slice(0, -1)) {
    if (node[key] === null || typeof node[key] !== 'object') node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path.at(-1)!] = value;
  return body;
}

/** A body as bytes: a valid request with one field replaced, or bytes that are not one at all. */
const body: fc.Arbitrary<Buffer> = fc.oneof(
  fc
    .tuple(fc.constantFrom(...FIELD_PATHS), wrongValue)
    .map(([path, value]) => Buffer.from(JSON.stringify(withField(path, value)) ?? '')),
  fc
    .constantFrom(OTHER, WORKLOAD, undefined)
    .map((identity) => Buffer.from(JSON.stringify({ ...validBody, identity }))),
  fc.string({ maxLength: 200 }).map((s) => Buffer.from(s)),
  fc.nat(200).map((n) => Buffer.from(JSON.stringify(validBody).slice(0, n))),
  fc.tuple(fc.nat(400), fc.nat(7)).map(([at, bit]) => {
    const bytes = Buffer.from(JSON.stringify(validBody));
    bytes[at % bytes.length]! ^= 1 << bit;
    return bytes;
  }),
  fc.constantFrom(
    Buffer.from([0xc3, 0x28, 0x7b, 0x7d]),
    Buffer.from('{"identity":"\ud800"}'),
    Buffer.from('['.repeat(30_000) + ']'.repeat(30_000)),
    Buffer.alloc(MAX_BODY_BYTES + 1, 0x20),
    Buffer.from(`{"identity":"${'a'.repeat(MAX_BODY_BYTES)}"}`),
    Buffer.from(`{"__proto__":{"identity":"${OTHER}"},"op":${JSON.stringify(validBody.op)}}`),
    Buffer.from('{"identity":"x","identity":"y"}'),
  ),
);

interface HttpCase {
  token: Token;
  body: Buffer;
  contentType: string;
  method: string;
  path: string;
}

const httpCase: fc.Arbitrary<HttpCase> = fc.record({
  token,
  body,
  contentType: fc.constantFrom(
    'application/json',
    'application/json; charset=utf-8',
    'text/plain',
    '',
    'application/JSON',
    'application/json;charset=latin1',
  ),
  method: fc.constantFrom('POST', 'POST', 'POST', 'GET', 'PUT'),
  path: fc.constantFrom(
    '/v1/govern/execute',
    '/v1/govern/execute',
    '/v1/govern/execute/',
    '/v1/govern/%65xecute',
    '/V1/govern/execute',
  ),
});

/** A header character fetch refuses to send or Node's HTTP parser refuses to read. */
const unsendable = (ch: string) => {
  const code = ch.charCodeAt(0);
  return (code < 0x20 && code !== 0x09) || code === 0x7f || code > 0xff;
};

/** The subject of an issued artifact header. */
const subjectOf = (header: string) =>
  (JSON.parse(utf8Decode(base64urlDecode(header)!)!) as { sub: string }).sub;

/** Parsed JSON of an HTTP request body, or undefined when it is not a JSON object. */
function parsedBody(bytes: Buffer): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(bytes.toString('utf8')) as unknown;
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

describe('the HTTP API under hostile requests', () => {
  it(
    `${HTTP_RUNS} generated requests: clean errors with reason codes, nothing for the wrong caller`,
    { timeout: 120_000 },
    async () => {
      await fc.assert(
        fc.asyncProperty(httpCase, async (c) => {
          const headers: Record<string, string> = {};
          if (c.contentType) headers['content-type'] = c.contentType;
          const auth = authorization(c.token);
          if (auth !== undefined) headers.authorization = auth;
          let response: Response;
          try {
            response = await cluster.authorityFetch(c.path, {
              method: c.method,
              headers,
              ...(c.method === 'GET' ? {} : { body: c.body }),
            });
          } catch {
            // A header value fetch will not send (not a byte string), or with control bytes that
            // Node's HTTP parser answers with 400 before any handler (the process must survive it).
            expect([...(auth ?? '')].some(unsendable)).toBe(true);
            sent.parser++;
            return;
          }
          sent.http++;
          const text = await response.text();
          const answer = JSON.parse(text) as Record<string, unknown>;
          if (response.status === 200) {
            // Issued only to the workload's own token, for itself.
            expect(c.token).toBe('workload');
            const requested = parsedBody(c.body)?.identity;
            expect([undefined, WORKLOAD]).toContain(requested);
            expect(subjectOf(answer.artifact_header as string)).toBe(WORKLOAD);
            sent.issued.push(answer.artifact_id as string);
          } else {
            expect(response.status).toBeGreaterThanOrEqual(400);
            expect(Object.keys(CODES)).toContain(answer.reason);
            if (c.path === '/v1/govern/execute' && c.method === 'POST') sent.refused++;
          }
        }),
        { numRuns: HTTP_RUNS },
      );
    },
  );

  it('header blocks past 16 KiB are refused by the HTTP server (431) before any handler', async () => {
    const response = await cluster.authorityFetch('/v1/govern/execute', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-flood': 'a'.repeat(20_000) },
      body: JSON.stringify(validBody),
    });
    expect(response.status).toBe(431);
  });
});

type Grpc = { code: number; reason: string | undefined; details: string } | { ok: Buffer };

function call(method: string, bytes: Buffer, metadata: Metadata): Promise<Grpc> {
  return new Promise((resolve) =>
    grpc.makeUnaryRequest(
      method,
      (b: Buffer) => b,
      (b: Buffer) => b,
      bytes,
      metadata,
      { deadline: Date.now() + 5000 },
      (error: ServiceError | null, reply?: Buffer) =>
        resolve(
          error
            ? {
                code: error.code,
                reason: error.metadata?.get(REASON_TRAILER)[0] as string | undefined,
                details: error.details,
              }
            : { ok: reply! },
        ),
    ),
  );
}

type Serializer = { requestSerialize(value: unknown): Buffer; responseDeserialize(bytes: Buffer): unknown };
const definition = loadAuthorityProto() as unknown as Record<string, Record<string, Serializer>>;
const requestArtifact = definition['governance.v1.Authority']!.RequestArtifact!;

/** A RequestArtifact message as protobuf bytes, for an identity. */
const encoded = (identity: string) =>
  requestArtifact.requestSerialize({
    identity,
    operation: { name: 'model.invoke', params: { model: MODEL }, scope: ['phi.read', 'phi.no_export'] },
    environment: { runtime: DEV_ENVIRONMENT.runtime },
  });

/**
 * Admin calls that would matter if they got through, each with callers the admin policy does
 * not allow to make it (security on-call may revoke, but only with an incident ticket).
 */
const ADMIN: [string, Record<string, unknown>, Token[]][] = [
  [
    'RevokeKey',
    { kid: 'key:dev/issuer/1', reason: 'fuzz', attributes: { incident: 'INC-1' } },
    ['workload', 'policyOperator', 'none'],
  ],
  ['RevokeKey', { kid: 'key:dev/issuer/1', reason: 'fuzz' }, ['security']],
  [
    'RevokeArtifact',
    { artifact_id: 'auth_' + '0'.repeat(32), reason: 'fuzz', attributes: { incident: 'INC-1' } },
    ['workload', 'policyOperator'],
  ],
  [
    'PublishPolicy',
    {
      source:
        'policy: policy://x/y/v1\noperations: [model.invoke]\nrules: [{id: a, effect: allow, when: "true", terms: {ttl_seconds: 60, use: {mode: single}}}]',
    },
    ['workload', 'security', 'none'],
  ],
  [
    'ActivatePolicy',
    { ref: 'policy://medical/inference/v3', hash: 'sha3-512:' + '0'.repeat(128) },
    ['workload', 'security'],
  ],
  [
    'RotateIssuerKey',
    { kid: 'key:dev/issuer/2', attributes: { change: 'CHG-1' } },
    ['workload', 'security', 'policyOperator'],
  ],
  ['RegisterRuntime', { runtime: 'k8s://cluster-east-1/ns/x' }, ['workload', 'security', 'policyOperator']],
];

const artifactCall = fc.record({
  token: fc.oneof(token, fc.constant<Token>({ raw: 'Bearer ' + 'B'.repeat(20_000) })),
  kind: fc.constant('artifact'),
  bytes: fc.oneof(
    fc.constantFrom(WORKLOAD, OTHER, '', DEV_IDENTITIES.security).map(encoded),
    fc.tuple(fc.nat(300), fc.nat(7)).map(([at, bit]) => {
      const bytes = Buffer.from(encoded(WORKLOAD));
      bytes[at % bytes.length]! ^= 1 << bit;
      return bytes;
    }),
    fc.nat(200).map((n) => encoded(WORKLOAD).subarray(0, n)),
    fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
    fc.constant(Buffer.alloc(5 * 1024 * 1024, 0x0a)),
  ),
});
const adminCall = fc.constantFrom(...ADMIN).chain(([method, request, forbidden]) =>
  fc.record({
    token: fc.oneof(
      fc.constantFrom(...forbidden),
      token.filter((t) => typeof t === 'object'),
    ),
    kind: fc.constant(method),
    bytes: fc.constant(definition['governance.v1.Admin']![method]!.requestSerialize(request)),
  }),
);
const grpcCase = fc.oneof(artifactCall, adminCall);

describe('the gRPC API under hostile calls', () => {
  it(
    `${GRPC_RUNS} generated calls: a status with a reason code, nothing for the wrong caller, no admin action`,
    { timeout: 120_000 },
    async () => {
      await fc.assert(
        fc.asyncProperty(grpcCase, async ({ token: t, kind, bytes }) => {
          const metadata = new Metadata();
          const auth = authorization(t);
          if (auth !== undefined) {
            try {
              metadata.set('authorization', auth);
            } catch {
              return; // grpc-js refuses metadata values that are not printable ASCII
            }
          }
          const service = kind === 'artifact' ? 'Authority/RequestArtifact' : `Admin/${kind}`;
          const reply = await call(`/governance.v1.${service}`, bytes, metadata);
          sent.grpc++;
          if ('ok' in reply) {
            // Only artifact requests by the workload for itself succeed; no admin call may.
            expect(kind).toBe('artifact');
            expect(t).toBe('workload');
            const issued = requestArtifact.responseDeserialize(reply.ok) as {
              artifact_id: string;
              artifact: string;
            };
            expect(subjectOf(issued.artifact)).toBe(WORKLOAD);
            sent.issued.push(issued.artifact_id);
          } else if (reply.reason === undefined) {
            // Refused by grpc-js before the handler: undecodable or oversized messages.
            expect([status.INTERNAL, status.RESOURCE_EXHAUSTED]).toContain(reply.code);
            expect(reply.details).toMatch(/deserializing|larger than max/);
            sent.transport++;
          } else {
            expect(reply.code).not.toBe(status.OK);
            expect(Object.keys(CODES)).toContain(reply.reason);
            if (kind === 'artifact') sent.refused++;
          }
        }),
        { numRuns: GRPC_RUNS },
      );
    },
  );
});

describe('afterwards', () => {
  it(
    'the process is up and serving, and the ledger holds exactly what was issued and refused',
    { timeout: 60_000 },
    async () => {
      expect(cluster.authority.running).toBe(true);
      expect((await cluster.authorityFetch('/healthz')).status).toBe(200);
      const { status: issuedStatus, body: issued } = await cluster.requestArtifact(validBody);
      expect(issuedStatus).toBe(200);
      sent.issued.push(issued.artifact_id as string);

      await cluster.settleLedger();
      const verified = await cluster.verifyLedger();
      expect(verified.failures).toEqual([]);
      const events = await cluster.ledgerEvents();
      const issuedEvents = events.filter((e) => e.type === 'authorization.issued');
      expect(issuedEvents.map((e) => e.artifact_id).sort()).toEqual([...sent.issued].sort());
      for (const event of issuedEvents) {
        expect(event.identity).toBe(WORKLOAD);
        expect((event.data as { caller: string }).caller).toBe(WORKLOAD);
      }
      // Every refused artifact request is evidence too (the admin denials are ledgered as admin.denied).
      expect(events.filter((e) => e.type === 'authorization.denied').length).toBe(sent.refused);
      console.log(
        `[security] authority input: ${sent.http} HTTP requests, ${sent.grpc} gRPC calls; ` +
          `${sent.issued.length} issued (all to the workload for itself), ${sent.refused} artifact requests refused and ledgered, ` +
          `${sent.transport} refused by grpc-js and ${sent.parser} by Node's HTTP parser before any handler`,
      );
    },
  );
});
