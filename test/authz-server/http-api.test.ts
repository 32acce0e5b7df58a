// The HTTP side and the gRPC health service: runtime admission and attestation (white paper
// §10.3, §6.3–6.4), /healthz and gRPC health following freshness, and /metrics labels.
import { afterEach, describe, expect, it } from 'vitest';
import {
  credentials,
  loadPackageDefinition,
  type GrpcObject,
  type ServiceClientConstructor,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { encodeArtifact, lineageOf, type Artifact } from '../../core/artifact.js';
import { canonicalBytes } from '../../core/canonical.js';
import { nodeCrypto } from '../../core/crypto-node.js';
import { crockford32Encode } from '../../core/encoding.js';
import { rawPublicKey } from '../../core/keys.js';
import { verifyAttestation, type Attestation } from '../../core/attestation.js';
import { eventually, requestId, startHarness, type Harness } from './support/harness.js';
import { fixture } from './support/envoy-client.js';
import { CALLER, IMAGE, RUNTIME, nonce } from './support/world.js';
import { newAttestationId } from '../store/contract.js';

let h: Harness;
afterEach(async () => {
  await h?.close();
});

async function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`http://127.0.0.1:${h.httpPort}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-workload-identity': CALLER, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const workloadOp = { name: 'workload.run', image: IMAGE, scope: [] };
const workload = { image: IMAGE, runtime: RUNTIME };
const RESULT = 'sha3-512:' + 'cd'.repeat(64);

describe('runtime admission and attestation', () => {
  it('admits a workload whose artifact binds its image and runtime, and ledgers the admission', async () => {
    h = await startHarness();
    const artifact = await h.world.artifact({ op: workloadOp });
    const { status, body } = await post('/runtime/admit', {
      artifact,
      workload: { image: IMAGE, runtime: RUNTIME },
    });
    expect(status).toBe(200);
    expect(body).toMatchObject({
      admitted: true,
      lineage: lineageOf(artifact.id),
      lineage_event: '03 admission.granted',
    });
    expect(body.attestation_id).toMatch(/^att_[0-9A-Z]{32}$/);
    expect(h.ledger.events.map((e) => e.type)).toEqual(['authorization.consumed', 'admission.granted']);
  });

  it('refuses a workload whose image is not the bound image (policy.mismatch, ledgered)', async () => {
    h = await startHarness();
    const artifact = await h.world.issue({ op: workloadOp });
    const other = 'sha3-512:' + 'ef'.repeat(64);
    const { status, body } = await post('/runtime/admit', {
      artifact,
      workload: { image: other, runtime: RUNTIME },
    });
    expect(status).toBe(403);
    expect(body).toMatchObject({ admitted: false, reason: 'policy.mismatch' });
    expect((await h.ledger.waitFor('execution.denied'))[0]?.reason).toBe('policy.mismatch');
  });

  it('refuses a workload runtime this enforcement point does not govern', async () => {
    h = await startHarness();
    const artifact = await h.world.issue({ op: workloadOp });
    const { body } = await post('/runtime/admit', {
      artifact,
      workload: { image: IMAGE, runtime: 'k8s://elsewhere/ns/x' },
    });
    expect(body).toMatchObject({ admitted: false, reason: 'environment.mismatch' });
  });

  it('signs an attestation and completes the lineage: admit then attest give six stages in order', async () => {
    h = await startHarness();
    const artifact = await h.world.artifact({ op: workloadOp });
    const workload = { image: IMAGE, runtime: RUNTIME };
    const admitted = await post('/runtime/admit', { artifact: encodeArtifact(artifact), workload });
    const { status, body } = await post('/runtime/attest', {
      artifact: encodeArtifact(artifact),
      attestation_id: admitted.body.attestation_id,
      workload,
      result_digest: RESULT,
    });
    expect(status).toBe(200);
    const attestation = body.attestation as Attestation;
    expect(attestation).toMatchObject({
      artifact_id: artifact.id,
      result_digest: RESULT,
      runtime_identity: CALLER,
    });
    expect(verifyAttestation(nodeCrypto, attestation, rawPublicKey(h.world.producerKey))).toBe(true);
    expect(
      verifyAttestation(
        nodeCrypto,
        { ...attestation, result_digest: 'sha3-512:' + '00'.repeat(64) },
        rawPublicKey(h.world.producerKey),
      ),
    ).toBe(false);
    const lineage = h.ledger.events.filter((e) => e.lineage === lineageOf(artifact.id)).map((e) => e.type);
    // authorization.issued, stage 01, is the authority's.
    expect(lineage).toEqual([
      'authorization.consumed',
      'admission.granted',
      'execution.started',
      'attestation.signed',
      'execution.completed',
      'evidence.committed',
    ]);
  });

  /** Admits `artifact` for the test workload; the attestation id the admission gave. */
  async function admit(artifact: Artifact): Promise<string> {
    const admitted = await post('/runtime/admit', { artifact: encodeArtifact(artifact), workload });
    expect(admitted.status).toBe(200);
    return admitted.body.attestation_id as string;
  }

  const attest = (artifact: Artifact, attestationId: string) =>
    post('/runtime/attest', {
      artifact: encodeArtifact(artifact),
      attestation_id: attestationId,
      workload,
      result_digest: RESULT,
    });

  const lineageTypes = (artifact: Artifact) =>
    h.ledger.events.filter((e) => e.lineage === lineageOf(artifact.id)).map((e) => e.type);

  it('refuses to attest what was never admitted, whatever id it names (admission.unknown)', async () => {
    h = await startHarness();
    const artifact = await h.world.artifact({ op: workloadOp });
    // An id anyone can compute from the artifact (what v1 of the runtime API checked), an all-zero
    // id, and a fresh random one: none was handed out by an admission.
    const derivable =
      'att_' +
      crockford32Encode(
        nodeCrypto
          .sha3_512(
            canonicalBytes({
              kind: 'governance.admission.v1',
              artifact_id: artifact.id,
              identity: CALLER,
              image: IMAGE,
              runtime: RUNTIME,
            }),
          )
          .subarray(0, 20),
      );
    for (const id of [derivable, 'att_' + '0'.repeat(32), newAttestationId()]) {
      const { status, body } = await attest(artifact, id);
      expect(status).toBe(403);
      expect(body.error).toBe('admission.unknown');
    }
    expect(h.ledger.events).toEqual([]);
  });

  it('attests an admission once: the second attestation is refused', async () => {
    h = await startHarness();
    const artifact = await h.world.artifact({ op: workloadOp });
    const id = await admit(artifact);
    const [first, second] = await Promise.all([attest(artifact, id), attest(artifact, id)]);
    expect([first.status, second.status].sort()).toEqual([200, 403]);
    expect((await attest(artifact, id)).body.error).toBe('admission.unknown');
    expect(lineageTypes(artifact).filter((t) => t === 'attestation.signed')).toHaveLength(1);
  });

  it('gives each admission of a bounded artifact its own id, each attested once', async () => {
    h = await startHarness();
    const artifact = await h.world.artifact({
      op: workloadOp,
      use: { mode: 'bounded', nonce: nonce(), max: 2 },
    });
    const ids = [await admit(artifact), await admit(artifact)];
    expect(new Set(ids).size).toBe(2);
    for (const id of ids) expect((await attest(artifact, id)).status).toBe(200);
    // Each admission.granted names its attestation by hash; each attestation follows its own.
    const granted = h.ledger.events.filter((e) => e.type === 'admission.granted');
    expect(granted.map((e) => (e.data as Record<string, string>).attestation_ref)).toEqual(
      ids.map((id) => 'sha3-512:' + Buffer.from(nodeCrypto.sha3_512(Buffer.from(id))).toString('hex')),
    );
  });

  it('refuses to attest once the artifact or its key is revoked', async () => {
    h = await startHarness();
    const artifact = await h.world.artifact({ op: workloadOp });
    const id = await admit(artifact);
    await h.world.revoke({ artifact_id: artifact.id });
    expect(await eventually(() => h.server.registry.revocations.isArtifactRevoked(artifact.id))).toBe(true);
    const { status, body } = await attest(artifact, id);
    expect(status).toBe(403);
    expect(body.error).toBe('artifact.revoked');
    expect(lineageTypes(artifact)).toEqual(['authorization.consumed', 'admission.granted']);
  });

  it('keeps the admission open when the attestation cannot be recorded, so the workload can retry', async () => {
    h = await startHarness();
    const artifact = await h.world.artifact({ op: workloadOp });
    const id = await admit(artifact);
    h.ledger.failing = true;
    const failed = await attest(artifact, id);
    expect(failed.status).toBe(503);
    expect(failed.body.error).toBe('ledger.unavailable');
    h.ledger.failing = false;
    expect((await attest(artifact, id)).status).toBe(200);
    expect((await attest(artifact, id)).body.error).toBe('admission.unknown');
  });

  it('refuses an attestation from a caller that is not the artifact subject', async () => {
    h = await startHarness();
    const artifact = await h.world.issue({ op: workloadOp });
    const { body } = await post(
      '/runtime/attest',
      {
        artifact,
        attestation_id: 'att_' + '0'.repeat(32),
        workload: { image: IMAGE, runtime: RUNTIME },
        result_digest: RESULT,
      },
      { 'x-workload-identity': 'spiffe://governance.example/ns/other/sa/x' },
    );
    expect(body.error).toBe('identity.mismatch');
  });

  it.each([
    ['an unknown field', { artifact: 'x', workload: { image: IMAGE, runtime: RUNTIME }, extra: 1 }, 400],
    [
      'an image that is not a sha3-512 digest',
      { artifact: 'x', workload: { image: 'latest', runtime: RUNTIME } },
      400,
    ],
    ['a body that is not JSON', '{"artifact":', 400],
    [
      'a body over the size bound',
      { artifact: 'a'.repeat(70_000), workload: { image: IMAGE, runtime: RUNTIME } },
      413,
    ],
  ])('answers a clear 4xx for %s', async (_what, body, status) => {
    h = await startHarness();
    expect((await post('/runtime/admit', body)).status).toBe(status);
  });
});

function healthClient(port: number) {
  const pkg = loadPackageDefinition(
    loadSync(healthProtoPath, { keepCase: true, enums: String }),
  ) as GrpcObject;
  const Health = ((pkg.grpc as GrpcObject).health as GrpcObject).v1 as GrpcObject;
  const Client = Health.Health as ServiceClientConstructor;
  const client = new Client(
    `127.0.0.1:${port}`,
    credentials.createInsecure(),
  ) as InstanceType<ServiceClientConstructor> & {
    Check(request: { service: string }, callback: (e: Error | null, r: { status: string }) => void): void;
  };
  const status = () =>
    new Promise<string>((resolve, reject) =>
      client.Check(
        { service: 'envoy.service.auth.v3.Authorization' },
        (e: Error | null, r: { status: string }) => (e ? reject(e) : resolve(r.status)),
      ),
    );
  return { status, close: () => client.close() };
}

describe('health and metrics', () => {
  it('serves SERVING on gRPC health and /healthz only while the registry view is fresh', async () => {
    h = await startHarness();
    const health = healthClient(h.grpcPort);
    try {
      expect(await eventually(async () => (await health.status()) === 'SERVING')).toBe(true);
      expect((await fetch(`http://127.0.0.1:${h.httpPort}/healthz`)).status).toBe(200);
      h.clock.offsetMs += 11_000;
      expect(await eventually(async () => (await health.status()) === 'NOT_SERVING')).toBe(true);
      expect((await fetch(`http://127.0.0.1:${h.httpPort}/healthz`)).status).toBe(503);
    } finally {
      health.close();
    }
  });

  it('turns NOT_SERVING while the ledger is halted and back when it catches up', async () => {
    h = await startHarness();
    const health = healthClient(h.grpcPort);
    try {
      h.ledger.halted = true;
      expect(await eventually(async () => (await health.status()) === 'NOT_SERVING')).toBe(true);
      h.ledger.halted = false;
      expect(await eventually(async () => (await health.status()) === 'SERVING')).toBe(true);
    } finally {
      health.close();
    }
  });

  it('exports decisions labelled with the exact reason codes, latency, commit lag and freshness ages', async () => {
    h = await startHarness();
    await h.client.check(fixture('model-invoke', { 'request-id': requestId() }));
    await h.client.check(
      fixture('model-invoke', { artifact: await h.world.issue(), 'request-id': requestId() }),
    );
    const text = await (await fetch(`http://127.0.0.1:${h.httpPort}/metrics`)).text();
    expect(text).toMatch(/governance_authz_decisions_total\{result="deny",reason="artifact.missing"\} 1/);
    expect(text).toMatch(/governance_authz_decisions_total\{result="allow",reason=""\} 1/);
    expect(text).toMatch(/governance_authz_decisions_total\{result="deny",reason="artifact.replayed"\} 0/);
    expect(text).toMatch(/governance_authz_check_duration_seconds_count\{result="allow"\} 1/);
    expect(text).toMatch(/governance_ledger_commit_lag_seconds 0/);
    expect(text).toMatch(/governance_registry_freshness_age_seconds\{view="revocations"\} \d/);
  });
});
