// The workload client library against real servers: a dev mode on free ports (gRPC and HTTP
// with development tokens), and the authority with mTLS (an openssl-minted PKI, real Redis).
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ARTIFACT_HEADER,
  AuthorityClient,
  GovernanceClientError,
  RuntimeClient,
  artifactHeaders,
  artifactMetadata,
  parseTarget,
  sha3Digest,
  withArtifact,
} from '../../index.js';
import { decodeArtifact } from '../../core/artifact.js';
import { LINEAGE_STAGES } from '../../core/event.js';
import { sendCheck } from '../../cli/commands/check.js';
import { runWorkload } from '../../examples/client/workload.js';
import {
  GATEWAY,
  INFERENCE_RUNTIME,
  lineageTypes,
  MODEL_PATH,
  SAMPLE_OPERATION,
  startTestDevMode,
  type TestDevMode,
} from '../dev/support.js';
import { mintPki, OPENSSL_ABSENT_NOTE, opensslAvailable, type TestPki } from '../support/pki.js';
import { startStack, type Stack } from '../authority/support/stack.js';

let dev: TestDevMode;
beforeAll(async () => {
  dev = await startTestDevMode();
});
afterAll(() => dev?.close());

const request = { operation: SAMPLE_OPERATION, environment: { runtime: INFERENCE_RUNTIME } };
const rejection = (promise: Promise<unknown>) =>
  promise.then(
    () => expect.unreachable('expected a GovernanceClientError'),
    (e: unknown) => {
      expect(e).toBeInstanceOf(GovernanceClientError);
      return e as GovernanceClientError;
    },
  );

describe('AuthorityClient', () => {
  it.each([
    ['gRPC', () => dev.urls.authorityGrpc],
    ['gRPC (grpc://)', () => `grpc://${dev.urls.authorityGrpc}`],
    ['HTTP', () => dev.urls.authorityHttp],
  ])('requests an artifact over %s with a development token', async (_name, target) => {
    const client = new AuthorityClient({ target: target(), token: dev.deployment.tokens.workload });
    try {
      const issued = await client.requestArtifact(request);
      const decoded = decodeArtifact(issued.header).artifact;
      expect(decoded.id).toBe(issued.id);
      expect(issued.artifact).toEqual(decoded);
      expect(issued.lineage).toBe(`lineage://op/${issued.id.slice(5)}`);
      expect(issued.expiresAt).toBe(decoded.exp);
      expect(decoded).toMatchObject({ sub: GATEWAY, op: { model: 'clinical-summary-v4' } });
    } finally {
      client.close();
    }
  });

  it('rejects with the reason the authority gave, over both transports', async () => {
    for (const target of [dev.urls.authorityGrpc, dev.urls.authorityHttp]) {
      const anonymous = new AuthorityClient({ target });
      const unauthenticated = await rejection(anonymous.requestArtifact(request));
      expect(unauthenticated.reason).toBe('identity.unauthenticated');
      expect(unauthenticated.status).toBe(target.startsWith('http') ? 401 : 16);
      anonymous.close();
      const client = new AuthorityClient({ target, token: dev.deployment.tokens.workload });
      const denied = await rejection(
        client.requestArtifact({
          ...request,
          operation: { ...SAMPLE_OPERATION, params: { model: 'clinical-summary-v2' } },
        }),
      );
      expect(denied.reason).toBe('policy.denied');
      expect(denied.message).toMatch(/frozen-models/);
      client.close();
    }
  });

  it("rejects with 'unreachable' when nothing answers", async () => {
    for (const target of ['127.0.0.1:1', 'http://127.0.0.1:1']) {
      const client = new AuthorityClient({ target, token: 'x', timeoutMs: 1000 });
      expect((await rejection(client.requestArtifact(request))).reason).toBe('unreachable');
      client.close();
    }
  });

  it('parses targets and refuses TLS ones without TLS material', () => {
    expect(parseTarget('10.0.0.1:7070')).toEqual({
      transport: 'grpc',
      address: '10.0.0.1:7070',
      secure: false,
    });
    expect(parseTarget('grpcs://a:1')).toEqual({ transport: 'grpc', address: 'a:1', secure: true });
    expect(parseTarget('https://a:1/')).toEqual({ transport: 'http', address: 'https://a:1', secure: true });
    expect(() => parseTarget('ftp://a')).toThrow(/use host:port/);
    expect(() => new AuthorityClient({ target: 'grpcs://a:1' })).toThrow(/needs tls/);
  });
});

describe('attaching an artifact', () => {
  it('to a fetch: the callee receives the header Envoy would hand to the enforcement point', async () => {
    const client = new AuthorityClient({
      target: dev.urls.authorityGrpc,
      token: dev.deployment.tokens.workload,
    });
    const issued = await client.requestArtifact(request);
    client.close();
    let received: IncomingHttpHeaders = {};
    const callee = createServer((req, res) => {
      received = req.headers;
      res.end('{}');
    });
    await new Promise<void>((resolve) => callee.listen(0, '127.0.0.1', resolve));
    try {
      const port = (callee.address() as { port: number }).port;
      await fetch(
        `http://127.0.0.1:${port}${MODEL_PATH}`,
        withArtifact(issued, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }),
      );
    } finally {
      callee.close();
    }
    expect(received['content-type']).toBe('application/json');
    const header = received[ARTIFACT_HEADER] as string;
    expect(header).toBe(issued.header);
    // What Envoy does with it: the Check allows, once.
    const check = (artifact: string) =>
      sendCheck({
        target: dev.urls.authzGrpc,
        method: 'POST',
        path: MODEL_PATH,
        host: 'governed.local',
        principal: GATEWAY,
        artifact,
        header: [],
        context: [],
        timeout: '5000',
      });
    expect(await check(header)).toMatchObject({ decision: 'allow', artifact_id: issued.id });
    expect(await check(header)).toMatchObject({ decision: 'deny', reason: 'artifact.replayed' });
  });

  it('to a headers object and to gRPC metadata, replacing any earlier value', () => {
    expect(artifactHeaders('abc', { Accept: 'x', 'X-Execution-Artifact': 'old' })).toEqual({
      Accept: 'x',
      [ARTIFACT_HEADER]: 'abc',
    });
    const metadata = artifactMetadata('abc');
    expect(metadata.get(ARTIFACT_HEADER)).toEqual(['abc']);
    expect(artifactMetadata('def', metadata).get(ARTIFACT_HEADER)).toEqual(['def']);
    expect(new Headers(withArtifact('abc', { headers: [['x-a', '1']] }).headers).get(ARTIFACT_HEADER)).toBe(
      'abc',
    );
  });
});

describe('RuntimeClient', () => {
  const workload = { image: sha3Digest('img'), runtime: INFERENCE_RUNTIME };

  it('admits and attests: the lineage then holds all seven stages', async () => {
    const client = new AuthorityClient({
      target: dev.urls.authorityGrpc,
      token: dev.deployment.tokens.workload,
    });
    const issued = await client.requestArtifact({
      ...request,
      operation: { ...SAMPLE_OPERATION, params: { ...SAMPLE_OPERATION.params, image: workload.image } },
    });
    client.close();
    const runtime = new RuntimeClient({ url: dev.urls.authzHttp });
    const admission = await runtime.admit(issued, workload);
    expect(admission).toMatchObject({ artifactId: issued.id, lineage: issued.lineage });
    expect((await rejection(runtime.admit(issued, workload))).reason).toBe('artifact.replayed');

    const wrong = await rejection(
      runtime.attest({
        artifact: issued,
        attestationId: 'att_' + '0'.repeat(32),
        workload,
        resultDigest: sha3Digest('r'),
      }),
    );
    expect(wrong).toMatchObject({ reason: 'admission.unknown', status: 403 });
    const receipt = await runtime.attest({
      artifact: issued,
      attestationId: admission.attestationId,
      workload,
      resultDigest: sha3Digest('result'),
    });
    expect(receipt.attestation).toMatchObject({
      attestation_id: admission.attestationId,
      result_digest: sha3Digest('result'),
    });
    expect(receipt.events).toEqual(LINEAGE_STAGES.slice(3));
    expect(await lineageTypes(`${dev.urls.authorityHttp}/v1/proof/lineage/${issued.id}`)).toEqual([
      ...LINEAGE_STAGES,
    ]);
  });

  it('digests as sha3-512:<hex>', () => {
    expect(sha3Digest('')).toBe(
      'sha3-512:a69f73cca23a9ac5c8b567dc185a756e97c982164fe25859e0d1dcc1475c80a615b2123af1f5f94c11e3e9402c3ac558f500199d95b6d3e301758586281dcd26',
    );
    expect(sha3Digest(new Uint8Array())).toBe(sha3Digest(''));
  });
});

describe('examples/client/workload.ts', () => {
  it('runs against the dev mode', async () => {
    const lines: string[] = [];
    const receipt = await runWorkload({
      authority: dev.urls.authorityGrpc,
      runtimeUrl: dev.urls.authzHttp,
      token: dev.deployment.tokens.workload,
      log: (line) => lines.push(line),
    });
    expect(receipt.events).toEqual(LINEAGE_STAGES.slice(3));
    expect(lines.join('\n')).toMatch(
      /issued auth_[\s\S]*attached as content-type, x-execution-artifact[\s\S]*admitted as att_/,
    );
  });

  it('does not run when refused', async () => {
    const lines: string[] = [];
    await expect(
      runWorkload({
        authority: dev.urls.authorityGrpc,
        runtimeUrl: dev.urls.authzHttp,
        token: 'dev-wrong',
        log: (l) => lines.push(l),
      }),
    ).rejects.toBeInstanceOf(GovernanceClientError);
    expect(lines).toEqual([expect.stringMatching(/^not run: identity\.unauthenticated/)]);
  });
});

describe.skipIf(!opensslAvailable())('mTLS', () => {
  let pki: TestPki;
  let stack: Stack;
  beforeAll(async () => {
    pki = mintPki();
    stack = await startStack({ pki, devTokens: [] });
  });
  afterAll(async () => {
    await stack?.stop();
    pki?.cleanup();
  });

  it('identifies the workload by the SPIFFE ID in its certificate, over gRPC and HTTPS', async () => {
    const svid = pki.client(`URI:${GATEWAY}`);
    const tls = { ca: pki.ca, cert: svid.cert, key: svid.key };
    for (const target of [`grpcs://127.0.0.1:${stack.grpc.port}`, `https://127.0.0.1:${stack.http.port}`]) {
      const client = new AuthorityClient({ target, tls });
      try {
        expect((await client.requestArtifact(request)).artifact.sub).toBe(GATEWAY);
      } finally {
        client.close();
      }
    }
  });

  it('is refused without a client certificate', async () => {
    const https = new AuthorityClient({
      target: `https://127.0.0.1:${stack.http.port}`,
      tls: { ca: pki.ca },
    });
    expect((await rejection(https.requestArtifact(request))).reason).toBe('identity.unauthenticated');
    const grpc = new AuthorityClient({
      target: `grpcs://127.0.0.1:${stack.grpc.port}`,
      tls: { ca: pki.ca },
      timeoutMs: 2000,
    });
    expect((await rejection(grpc.requestArtifact(request))).reason).toBe('unreachable');
    grpc.close();
  });
});

if (!opensslAvailable()) console.warn(OPENSSL_ABSENT_NOTE);
