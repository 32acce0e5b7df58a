// The authority end to end: real Redis, the real ledger (writer, sequencer, reader), gRPC and
// HTTPS on 127.0.0.1 with a test PKI minted by openssl, real signatures. Artifacts are checked
// with the PORTABLE verifier against what the registry publishes; proofs are checked the way a
// third party would, from the proof endpoints alone.
import { createPublicKey, createHash } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import {
  credentials,
  loadPackageDefinition,
  status,
  type ChannelCredentials,
  type Client,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeArtifact, type Artifact } from '../../core/artifact.js';
import { portableCrypto } from '../../core/crypto-portable.js';
import { base64urlDecode } from '../../core/encoding.js';
import { parseCheckpointNote, verifyCheckpoint } from '../../core/checkpoint.js';
import type { ChainRecord, LedgerEvent } from '../../core/event.js';
import { verifyInclusionProof, verifyLineageProof } from '../../core/proofs.js';
import { tilePath } from '../../core/tlog.js';
import { policyHash, verifyKeyRecord, type KeyRecord } from '../../core/registry.js';
import { formatMillis } from '../../core/time.js';
import { ledgerKeysOf } from '../../core/chain.js';
import { rawPublicKey } from '../../core/keys.js';
import type { KeyPair, TestPki } from '../support/pki.js';
import { mintPki, OPENSSL_ABSENT_NOTE, opensslAvailable } from '../support/pki.js';
import { loadAuthorityProto } from '../../authority/grpc.js';
import { CUSTODIAN, enforce, GATEWAY, OPERATOR, rootKey, SECURITY } from './support/fixtures.js';
import { GATEWAY_TOKEN, LOG, PRODUCER, startStack, unary, type Stack } from './support/stack.js';

const requested = {
  name: 'model.invoke',
  params: { model: 'clinical-summary-v4' },
  scope: ['phi.read'],
  policy: 'policy://medical/inference/v3',
};
const runtime = { runtime: 'k8s://cluster-east-1/ns/inference', region: 'us-east-1', tenancy: 'single' };
const summarizeGrpc = {
  operation: {
    name: 'model.invoke',
    params: { model: 'clinical-summary-v4' },
    scope: ['phi.read', 'phi.no_export'],
  },
  environment: { runtime: runtime.runtime },
};
const summarizeJson = {
  identity: GATEWAY,
  op: { name: 'model.invoke', model: 'clinical-summary-v4', scope: ['phi.read', 'phi.no_export'] },
  env: { runtime: runtime.runtime },
};

interface HttpReply {
  status: number;
  body: Record<string, unknown>;
}

async function eventually<T>(probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(!opensslAvailable())('authority over gRPC and HTTPS, with Redis', () => {
  let pki: TestPki;
  let stack: Stack;
  const certs: Record<string, KeyPair> = {};

  const tls = (who?: string): ChannelCredentials =>
    credentials.createSsl(
      Buffer.from(pki.ca),
      who ? Buffer.from(certs[who]!.key) : null,
      who ? Buffer.from(certs[who]!.cert) : null,
    );

  function http(
    method: string,
    path: string,
    options: { json?: unknown; raw?: string; headers?: Record<string, string>; as?: KeyPair } = {},
  ): Promise<HttpReply> {
    const body = options.raw ?? (options.json === undefined ? undefined : JSON.stringify(options.json));
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        `${stack.httpUrl}${path}`,
        {
          method,
          ca: pki.ca,
          ...(options.as ? { key: options.as.key, cert: options.as.cert } : {}),
          headers: {
            ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
            ...options.headers,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            resolve({
              status: res.statusCode ?? 0,
              body: text.startsWith('{') ? JSON.parse(text) : { text },
            });
          });
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  /** Ledger records checkpointed so far, from the public proof endpoint. */
  async function chained(): Promise<ChainRecord[]> {
    const note = (await http('GET', '/v1/proof/checkpoint')).body.checkpoint as string | null;
    if (!note) return [];
    const { size } = parseCheckpointNote(note).checkpoint;
    const records: ChainRecord[] = [];
    for (let from = 1; from <= size;) {
      const page = (await http('GET', `/v1/proof/ledger?from=${from}&to=${size}`)).body as {
        records: ChainRecord[];
        next?: number;
      };
      records.push(...page.records);
      from = page.next ?? size + 1;
    }
    return records;
  }

  /** The first checkpointed event that matches, found inside its record (a batch). */
  const ledgered = (match: (e: LedgerEvent) => boolean) =>
    eventually(async () => (await chained()).flatMap((r) => r.events).find(match));

  beforeAll(async () => {
    pki = mintPki();
    for (const [name, id] of Object.entries({ GATEWAY, CUSTODIAN, SECURITY, OPERATOR })) {
      certs[name] = pki.client(`URI:${id}`);
    }
    certs.FOREIGN = pki.foreignClient(`URI:${GATEWAY}`);
    stack = await startStack({ pki, policies: ['medical-inference-v3', 'governance-admin-v1'] });
  });

  afterAll(async () => {
    await stack?.stop();
    pki?.cleanup();
  });

  it('issues over gRPC to the SPIFFE ID of the client certificate; the portable verifier accepts it', async () => {
    const reply = await unary<{
      artifact: string;
      artifact_id: string;
      lineage: string;
      artifact_json: string;
    }>(stack.grpcClient('Authority', tls('GATEWAY')), 'RequestArtifact', summarizeGrpc);
    if (!reply.ok) throw new Error(reply.details);
    const { artifact } = decodeArtifact(reply.value.artifact);
    expect(artifact.sub).toBe(GATEWAY);
    expect(JSON.parse(reply.value.artifact_json)).toEqual(artifact);
    const decision = await enforce(stack.registry, {
      header: reply.value.artifact,
      identity: GATEWAY,
      operation: requested,
      environment: runtime,
    });
    expect(decision).toMatchObject({ allow: true, lineage: reply.value.lineage });
  });

  it('issues over HTTPS in the white paper shape: decoded artifact and header value', async () => {
    const reply = await http('POST', '/v1/govern/execute', { json: summarizeJson, as: certs.GATEWAY });
    expect(reply.status).toBe(200);
    const { decision, artifact_id, artifact, artifact_header, lineage } = reply.body;
    expect(decision).toBe('allow');
    expect(decodeArtifact(artifact_header as string).artifact).toEqual(artifact);
    expect((artifact as Artifact).id).toBe(artifact_id);
    expect(lineage).toBe(`lineage://op/${(artifact_id as string).slice(5)}`);
  });

  it('accepts a development bearer token over HTTP', async () => {
    const reply = await http('POST', '/v1/govern/execute', {
      json: summarizeJson,
      headers: { authorization: `Bearer ${GATEWAY_TOKEN}` },
    });
    expect(reply.body).toMatchObject({ decision: 'allow', artifact: { sub: GATEWAY } });
  });

  it('denies an unauthenticated HTTPS caller with 401 identity.unauthenticated, ledgered', async () => {
    const reply = await http('POST', '/v1/govern/execute', { json: summarizeJson });
    expect(reply).toEqual({
      status: 401,
      body: {
        decision: 'deny',
        reason: 'identity.unauthenticated',
        message: 'no client certificate and no bearer token',
      },
    });
    await ledgered((e) => e.type === 'authorization.denied' && e.reason === 'identity.unauthenticated');
  });

  it('does not identify a caller by a certificate from another CA', async () => {
    const reply = await http('POST', '/v1/govern/execute', { json: summarizeJson, as: certs.FOREIGN });
    expect(reply.body).toMatchObject({ reason: 'identity.unauthenticated' });
  });

  it('refuses a gRPC connection without a client certificate', async () => {
    const reply = await unary(stack.grpcClient('Authority', tls()), 'RequestArtifact', summarizeGrpc);
    expect(reply).toMatchObject({ ok: false, code: status.UNAVAILABLE });
  });

  it('denies over gRPC with PERMISSION_DENIED and the reason in the trailers', async () => {
    const other = { ...summarizeGrpc, operation: { ...summarizeGrpc.operation, params: { model: 'other' } } };
    const reply = await unary(stack.grpcClient('Authority', tls('GATEWAY')), 'RequestArtifact', other);
    expect(reply).toMatchObject({ ok: false, code: status.PERMISSION_DENIED, reason: 'policy.denied' });
  });

  it('decides the same inputs the same way under the same policy hash, 1,000 times over gRPC', async () => {
    const client = stack.grpcClient('Authority', tls('GATEWAY'));
    const outcomes = new Set<string>();
    for (let batch = 0; batch < 20; batch++) {
      const replies = await Promise.all(
        Array.from({ length: 50 }, () =>
          unary<{ artifact: string }>(client, 'RequestArtifact', summarizeGrpc),
        ),
      );
      for (const reply of replies) {
        outcomes.add(
          reply.ok
            ? `allow ${decodeArtifact(reply.value.artifact).artifact.pol.hash}`
            : `deny ${reply.reason}`,
        );
      }
    }
    expect([...outcomes]).toEqual([expect.stringMatching(/^allow sha3-512:[0-9a-f]{128}$/)]);
  });

  it('rotates through the Admin API: old artifacts still verify, new ones carry the new kid', async () => {
    const issue = async () => {
      const reply = await unary<{ artifact: string }>(
        stack.grpcClient('Authority', tls('GATEWAY')),
        'RequestArtifact',
        summarizeGrpc,
      );
      if (!reply.ok) throw new Error(reply.details);
      return reply.value.artifact;
    };
    const before = await issue();
    const rotated = await unary(stack.grpcClient('Admin', tls('CUSTODIAN')), 'RotateIssuerKey', {
      kid: 'key:test/2',
      attributes: { change: 'CHG-1' },
    });
    expect(rotated).toEqual({ ok: true, value: { previous_kid: 'key:test/1', kid: 'key:test/2' } });
    const after = await issue();
    expect([before, after].map((h) => decodeArtifact(h).artifact.sig.kid)).toEqual([
      'key:test/1',
      'key:test/2',
    ]);
    for (const header of [before, after]) {
      const decision = await enforce(stack.registry, {
        header,
        identity: GATEWAY,
        operation: requested,
        environment: runtime,
      });
      expect(decision.allow).toBe(true);
    }
    await ledgered((e) => e.type === 'key.rotated' && e.identity === CUSTODIAN);
  });

  it('revokes through the Admin API: the revocation reaches the registry, the ledger and the proof endpoint', async () => {
    const issuedReply = await http('POST', '/v1/govern/execute', { json: summarizeJson, as: certs.GATEWAY });
    const artifactId = issuedReply.body.artifact_id as string;
    const reply = await unary<{ revocation_json: string; added: boolean }>(
      stack.grpcClient('Admin', tls('SECURITY')),
      'RevokeArtifact',
      { artifact_id: artifactId, reason: 'leaked', attributes: { incident: 'INC-1' } },
    );
    if (!reply.ok) throw new Error(reply.details);
    expect(reply.value.added).toBe(true);
    const stored = await stack.registry.listRevocations();
    expect(stored.map((r) => r.target)).toContainEqual({ artifact_id: artifactId });
    await ledgered((e) => e.type === 'revocation.added' && e.artifact_id === artifactId);
    const proof = (await http('GET', '/v1/proof/revocations')).body.revocations as { target: unknown }[];
    expect(proof.map((r) => r.target)).toContainEqual({ artifact_id: artifactId });
  });

  it('refuses a policy that does not compile, naming line and column', async () => {
    const source =
      'policy: policy://x/y/v1\noperations: [x]\nrules:\n  - id: r\n    effect: allow\n    when: identity ==\n';
    const reply = await unary(stack.grpcClient('Admin', tls('OPERATOR')), 'PublishPolicy', { source });
    expect(reply).toMatchObject({ ok: false, code: status.INVALID_ARGUMENT, reason: 'policy.invalid' });
    expect(!reply.ok && reply.details).toMatch(/policy\.invalid: 6:\d+ rules\[0\]\.when: /);
  });

  it('serves what a third party needs to verify keys, heads, policies and a lineage', async () => {
    const issuedReply = await http('POST', '/v1/govern/execute', { json: summarizeJson, as: certs.GATEWAY });
    const artifactId = issuedReply.body.artifact_id as string;

    const issuers = (await http('GET', '/v1/proof/issuers')).body as {
      roots: { kid: string; public_key: string; fingerprint: string }[];
      keys: KeyRecord[];
    };
    const spki = createPublicKey(rootKey).export({ type: 'spki', format: 'der' });
    expect(issuers.roots).toEqual([
      {
        kid: 'root:test',
        public_key: expect.any(String),
        fingerprint: `sha256:${createHash('sha256').update(spki).digest('hex')}`,
      },
    ]);
    const pinned = new Map([['root:test', base64urlDecode(issuers.roots[0]!.public_key)!]]);
    const keys = issuers.keys.map((record) => verifyKeyRecord(portableCrypto, record, pinned));

    // The lineage answer holds what the latest checkpoint covers, and says nothing of the rest.
    const proof = await eventually(async () => {
      const reply = (await http('GET', `/v1/proof/lineage/${artifactId}`)).body;
      return (reply.records as unknown[]).length > 0 ? reply : undefined;
    });
    expect(proof).not.toHaveProperty('pending');
    const trust = { keys: ledgerKeysOf(keys), log: LOG };
    const verified = verifyLineageProof(portableCrypto, proof, trust);
    expect(verified.failures).toEqual([]);
    expect(verified.events.map((e) => [e.event.type, e.event.artifact_id])).toEqual([
      ['authorization.issued', artifactId],
    ]);
    const [issuance] = verified.events;
    expect(verified.records.map((r) => r.seq)).toEqual([issuance!.seq]);
    expect(verified.records[0]!.events[issuance!.index]).toEqual(issuance!.event);

    const { checkpoint } = (await http('GET', '/v1/proof/checkpoint')).body as { checkpoint: string };
    const signed = parseCheckpointNote(checkpoint);
    expect(verifyCheckpoint(portableCrypto, signed, trust.keys.audit).kid).toBe(
      [...trust.keys.audit.keys()][0],
    );
    // The same checkpoint and the record's tiles as C2SP tlog-tiles serve them, for standard clients.
    expect((await http('GET', '/v1/ledger/checkpoint')).body.text).toBe(checkpoint);
    const width = Math.min(256, signed.checkpoint.size);
    const leaves = (await http('GET', `/v1/ledger/${tilePath(0, 0, width)}`)).body.text as string;
    expect(Buffer.byteLength(leaves, 'latin1')).toBeGreaterThan(0);
    expect((await http('GET', `/v1/ledger/${tilePath(0, 0, 256)}.p/300`)).status).toBe(404);
    // The inclusion proof of the issuance's record (its batch): the event is in it, at its index.
    const inclusion = (await http('GET', `/v1/proof/inclusion?seq=${issuance!.seq}`)).body;
    const included = verifyInclusionProof(portableCrypto, inclusion, trust).record;
    expect(included.seq).toBe(issuance!.seq);
    expect(included.events[issuance!.index]).toEqual(issuance!.event);

    const policies = (await http('GET', '/v1/proof/policies')).body as { active: Record<string, string> };
    const hash = policies.active['policy://medical/inference/v3']!;
    const version = (await http('GET', `/v1/proof/policies/${hash}`)).body;
    expect(policyHash(portableCrypto, version.document as never)).toBe(hash);
  });

  it('serves a lineage proof over gRPC (Proof.GetLineage): proof_json alone, no pending count', async () => {
    const issuedReply = await http('POST', '/v1/govern/execute', { json: summarizeJson, as: certs.GATEWAY });
    const artifactId = issuedReply.body.artifact_id as string;
    const issuers = (await http('GET', '/v1/proof/issuers')).body as { keys: KeyRecord[] };
    const pinned = new Map([['root:test', rawPublicKeyOfRoot()]]);
    const trust = {
      keys: ledgerKeysOf(issuers.keys.map((record) => verifyKeyRecord(portableCrypto, record, pinned))),
      log: LOG,
    };
    const client = stack.grpcClient('Proof', tls('GATEWAY'));
    const reply = await eventually(async () => {
      const answer = await unary<Record<string, unknown>>(client, 'GetLineage', { op: artifactId });
      if (!answer.ok) throw new Error(answer.details);
      const proof = JSON.parse(answer.value.proof_json as string) as { records: unknown[] };
      return proof.records.length > 0 ? answer.value : undefined;
    });
    expect(Object.keys(reply)).toEqual(['proof_json']);
    // Field 2 (pending) is reserved: the log keeps no per-lineage list to count it from.
    const response = loadAuthorityProto()['governance.v1.GetLineageResponse'] as unknown as {
      type: { field: { name: string; number: number }[]; reservedRange: { start: number }[] };
    };
    expect(response.type.field.map((f) => [f.name, f.number])).toEqual([['proof_json', 1]]);
    expect(response.type.reservedRange.map((r) => r.start)).toContain(2);
    const verified = verifyLineageProof(portableCrypto, JSON.parse(reply.proof_json as string), trust);
    expect(verified.lineage).toBe(`lineage://op/${artifactId.slice(5)}`);
    expect(verified.events.map((e) => e.event.type)).toEqual(['authorization.issued']);
  });

  it('pages the raw ledger with a bounded page size', async () => {
    // 510 records guarantee more than one page whatever ran before. A record is a batch, and the
    // writer seals what one turn of the event loop queues: one append awaited after the other
    // makes one record each.
    for (let i = 0; i < 510; i++) {
      await stack.ledger.append([
        {
          v: '1',
          type: 'authorization.denied',
          time: formatMillis(Date.now()),
          producer: PRODUCER,
          reason: 'request.invalid',
          request_id: `page-${i}`,
        },
      ]);
    }
    await eventually(async () => (await stack.ledgerStore.tip()).signedSeq >= 510 || undefined, 30_000);
    const page = (await http('GET', '/v1/proof/ledger?from=1&to=1000000')).body as {
      records: ChainRecord[];
      next?: number;
    };
    expect(page.records.map((r) => r.seq)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
    expect(page.next).toBe(501);
  });

  it.each([
    ['a wrong content type', { raw: '{}', headers: { 'content-type': 'text/plain' } }, 415],
    ['an oversized body', { raw: `{"x":"${'a'.repeat(70_000)}"}` }, 413],
    ['a body that is not JSON', { raw: '{"identity":' }, 400],
  ])('refuses %s with a JSON reason', async (_what, options, expected) => {
    const reply = await http('POST', '/v1/govern/execute', { ...options, as: certs.GATEWAY });
    expect(reply).toMatchObject({ status: expected, body: { reason: 'request.invalid' } });
  });

  it.each([
    ['an unknown path', 'GET', '/v1/nothing', 404],
    ['GET on the execute endpoint', 'GET', '/v1/govern/execute', 405],
    ['a malformed ledger range', 'GET', '/v1/proof/ledger?from=0&to=x', 400],
  ])('answers %s with a JSON error', async (_what, method, path, expected) => {
    const reply = await http(method, path);
    expect(reply).toMatchObject({ status: expected, body: { reason: 'request.invalid' } });
  });

  it('answers a read of an unknown policy version with NOT_FOUND and 404', async () => {
    const hash = `sha3-512:${'0'.repeat(128)}`;
    const reply = await unary(stack.grpcClient('Proof', tls('GATEWAY')), 'GetPolicy', { hash });
    expect(reply).toMatchObject({ ok: false, code: status.NOT_FOUND, reason: 'policy.unknown' });
    expect(await http('GET', `/v1/proof/policies/${hash}`)).toMatchObject({
      status: 404,
      body: { reason: 'policy.unknown' },
    });
  });

  it('exposes /healthz and Prometheus /metrics', async () => {
    expect((await http('GET', '/healthz')).body).toEqual({ status: 'serving' });
    const metrics = (await http('GET', '/metrics')).body.text as string;
    expect(metrics).toMatch(
      /governance_authority_decisions_total\{kind="issue",decision="allow",reason=""\} \d+/,
    );
  });

  it('serves the gRPC health service and reflection', async () => {
    const require = createRequire(import.meta.url);
    const protoDir = join(dirname(require.resolve('@grpc/reflection/package.json')), 'build/proto');
    const definitions = loadSync(['grpc/reflection/v1/reflection.proto'], {
      includeDirs: [protoDir],
      keepCase: true,
    });
    const healthPath = require('grpc-health-check').protoPath as string;
    const health = loadPackageDefinition(
      loadSync(healthPath, { keepCase: true, enums: String }),
    ) as never as {
      grpc: { health: { v1: { Health: new (a: string, c: ChannelCredentials) => Client } } };
    };
    const address = `127.0.0.1:${stack.grpc.port}`;
    const check = await unary(new health.grpc.health.v1.Health(address, tls('GATEWAY')), 'Check', {
      service: 'governance.v1.Authority',
    });
    expect(check).toEqual({ ok: true, value: { status: 'SERVING' } });
    const reflection = loadPackageDefinition(definitions) as never as {
      grpc: { reflection: { v1: { ServerReflection: new (a: string, c: ChannelCredentials) => Client } } };
    };
    const client = new reflection.grpc.reflection.v1.ServerReflection(address, tls('GATEWAY'));
    const services = await new Promise<string[]>((resolve, reject) => {
      const call = (
        client as never as { ServerReflectionInfo(): NodeJS.ReadWriteStream & { write(m: object): void } }
      ).ServerReflectionInfo();
      call.on('data', (m: { list_services_response?: { service: { name: string }[] } }) => {
        resolve(m.list_services_response!.service.map((s) => s.name));
        call.end();
      });
      call.on('error', reject);
      call.write({ list_services: '' });
    });
    expect(services).toEqual(
      expect.arrayContaining(['governance.v1.Authority', 'governance.v1.Admin', 'governance.v1.Proof']),
    );
    client.close();
  });
});

describe('authority without an admin policy, with Redis', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      devTokens: [{ identity: OPERATOR, sha256: createHash('sha256').update('op').digest('hex') }],
    });
  });
  afterAll(() => stack?.stop());

  it('denies admin operations as policy.unknown, ledgered as admin.denied', async () => {
    const reply = await unary(
      stack.grpcClient('Admin'),
      'RotateIssuerKey',
      { kid: 'key:test/2' },
      { authorization: 'Bearer op' },
    );
    expect(reply).toMatchObject({ ok: false, code: status.FAILED_PRECONDITION, reason: 'policy.unknown' });
    const denied = await eventually(async () => {
      const { signedSeq } = await stack.ledgerStore.tip();
      const records = signedSeq > 0 ? await stack.reader.range(1, signedSeq) : [];
      return records.flatMap((r) => r.events).find((e) => e.type === 'admin.denied');
    });
    expect(denied).toMatchObject({
      identity: OPERATOR,
      operation: 'admin.key.rotate',
      reason: 'policy.unknown',
    });
  });
});

/** The pinned root's raw public key, as a third party holds it. */
function rawPublicKeyOfRoot(): Uint8Array {
  return rawPublicKey(rootKey);
}

if (!opensslAvailable()) console.warn(OPENSSL_ABSENT_NOTE);
