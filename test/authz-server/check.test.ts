// The Check shell, driven as Envoy drives it: literal CheckRequest fixtures over a real gRPC
// channel, real signatures, the dev-mode memory stores and a recording ledger writer. One test
// per behaviour; every denial must arrive as a CheckResponse, never as a gRPC error.
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeArtifact, lineageOf } from '../../core/artifact.js';
import { generatePrivateKey } from '../../core/keys.js';
import type { UseRequest, UseStateStore } from '../../store/types.js';
import { deniedBody, fixture, headerOf, type CheckAnswer } from './support/envoy-client.js';
import { eventually, requestId, startHarness, type Harness } from './support/harness.js';
import { nodeCrypto } from '../../core/crypto-node.js';
import { RegistryView } from '../../authz-server/registry-view.js';
import { BATCH_RUNTIME, CALLER, ISSUER, POLICY_REF, RUNTIME } from './support/world.js';

let h: Harness;
afterEach(async () => {
  await h?.close();
});

const PERMISSION_DENIED = 7;

function expectDenied(answer: CheckAnswer, reason: string): Record<string, unknown> {
  expect(answer.okResponse).toBeUndefined();
  expect(answer.status?.code).toBe(PERMISSION_DENIED);
  expect(headerOf(answer, 'x-execution-denied')).toBe(reason);
  const body = deniedBody(answer);
  expect(body.reason).toBe(reason);
  return body;
}

function expectAllowed(answer: CheckAnswer): void {
  expect(answer.deniedResponse).toBeUndefined();
  expect(answer.status?.code ?? 0).toBe(0);
  expect(answer.okResponse).toBeDefined();
}

function invoke(artifact: string | undefined, id = requestId(), name = 'model-invoke'): Promise<CheckAnswer> {
  return h.client.check(fixture(name, { artifact, 'request-id': id }));
}

/** A use-state store that never answers, or fails, on demand. */
function faultyUseState(behaviour: 'hang' | 'throw'): UseStateStore {
  const fail = <T>(): Promise<T> => {
    if (behaviour === 'throw') throw new TypeError('boom inside the use-state store');
    return new Promise(() => undefined);
  };
  return {
    consume: (_request: UseRequest) => fail(),
    release: () => fail(),
    closeAdmission: () => fail(),
    reopenAdmission: () => fail(),
  };
}

describe('allow', () => {
  it('allows a valid artifact once authorization.consumed and admission.granted are in the ledger', async () => {
    h = await startHarness();
    const artifact = await h.world.artifact();
    const id = requestId();
    expectAllowed(await invoke(encodeArtifact(artifact), id));
    expect(h.ledger.events.map((e) => e.type)).toEqual(['authorization.consumed', 'admission.granted']);
    for (const event of h.ledger.events) {
      expect(event).toMatchObject({
        lineage: lineageOf(artifact.id),
        artifact_id: artifact.id,
        identity: CALLER,
        operation: 'model.invoke',
        policy_required: POLICY_REF,
        policy_hash: h.world.policyHash,
        issuer: ISSUER,
        runtime: RUNTIME,
        request_id: id,
      });
    }
  });

  it('removes x-execution-artifact from the upstream request and overwrites the headers the upstream trusts', async () => {
    h = await startHarness();
    const artifact = await h.world.artifact();
    const answer = await invoke(encodeArtifact(artifact));
    expectAllowed(answer);
    expect(answer.okResponse?.headersToRemove).toEqual(['x-execution-artifact']);
    const added = answer.okResponse?.headers ?? [];
    expect(added.map((h) => h.header.key)).not.toContain('x-execution-artifact');
    // The fixture's caller sent its own x-execution-artifact-id; Envoy must overwrite it.
    expect(added).toContainEqual({
      header: { key: 'x-execution-artifact-id', value: artifact.id },
      appendAction: 'OVERWRITE_IF_EXISTS_OR_ADD',
    });
    expect(headerOf(answer, 'x-execution-lineage')).toBe(lineageOf(artifact.id));
  });

  it('reads the artifact from header_map raw values (encode_raw_headers)', async () => {
    h = await startHarness();
    expectAllowed(await invoke(await h.world.issue(), requestId(), 'model-invoke-raw-headers'));
  });

  it('admits a route whose context extension selects a listed runtime', async () => {
    h = await startHarness();
    const artifact = await h.world.issue({ env: { runtime: BATCH_RUNTIME } });
    expectAllowed(await invoke(artifact, requestId(), 'batch-route'));
    expect(h.ledger.events[0]?.runtime).toBe(BATCH_RUNTIME);
  });

  it('takes the identity from the configured header in trusted-header mode', async () => {
    h = await startHarness({
      config: { identity: { source: 'trusted-header', header: 'x-verified-identity' } },
    });
    expectAllowed(await invoke(await h.world.issue(), requestId(), 'trusted-header-identity'));
  });
});

describe('denials named by the artifact', () => {
  it('answers 401 artifact.missing with the denial record and ledgers it', async () => {
    h = await startHarness();
    const id = requestId();
    const answer = await invoke(undefined, id);
    const body = expectDenied(answer, 'artifact.missing');
    expect(answer.deniedResponse?.status?.code).toBe('Unauthorized');
    expect(body).toMatchObject({
      event: 'execution.denied',
      identity: CALLER,
      operation: 'model.invoke',
      policy_required: POLICY_REF,
      runtime: RUNTIME,
      request_id: id,
    });
    expect(typeof body.ts).toBe('string');
    const [event] = await h.ledger.waitFor('execution.denied');
    expect(event).toMatchObject({ reason: 'artifact.missing', request_id: id, identity: CALLER });
  });

  it('denies artifact.malformed with 403', async () => {
    h = await startHarness();
    const answer = await invoke('bm90LWFuLWFydGlmYWN0');
    expectDenied(answer, 'artifact.malformed');
    expect(answer.deniedResponse?.status?.code).toBe('Forbidden');
  });

  it('denies artifact.signature.invalid for an artifact signed by an uncertified key, marking it unverified', async () => {
    h = await startHarness();
    const artifact = await h.world.artifact({
      signer: { kid: h.world.issuerKid, key: generatePrivateKey() },
    });
    const body = expectDenied(await invoke(encodeArtifact(artifact)), 'artifact.signature.invalid');
    expect(body).toMatchObject({ artifact_id: artifact.id, artifact_verified: false, issuer: ISSUER });
    const [event] = await h.ledger.waitFor('execution.denied');
    expect(event?.data).toMatchObject({ artifact_verified: false });
  });

  it('denies artifact.expired', async () => {
    h = await startHarness();
    expectDenied(await invoke(await h.world.issue({ nbf: -600, exp: -60 })), 'artifact.expired');
  });

  it('denies identity.mismatch when the peer principal is not the subject', async () => {
    h = await startHarness();
    const artifact = await h.world.issue({ sub: 'spiffe://governance.example/ns/other/sa/intruder' });
    expectDenied(await invoke(artifact), 'identity.mismatch');
  });

  it('denies policy.mismatch when the path names another model than the artifact binds', async () => {
    h = await startHarness();
    const artifact = await h.world.issue({
      op: { name: 'model.invoke', model: 'other-model', scope: ['phi.read'] },
    });
    expectDenied(await invoke(artifact), 'policy.mismatch');
  });

  it('denies policy.mismatch when the policy hash is not a known version of the policy', async () => {
    h = await startHarness();
    const artifact = await h.world.issue({ pol: { ref: POLICY_REF, hash: 'sha3-512:' + '0'.repeat(128) } });
    expectDenied(await invoke(artifact), 'policy.mismatch');
  });

  it('denies environment.mismatch when the artifact binds another region', async () => {
    h = await startHarness();
    expectDenied(await invoke(await h.world.issue({ env: { region: 'eu-west-1' } })), 'environment.mismatch');
  });

  it('denies environment.mismatch when a context extension selects a runtime the config does not list', async () => {
    h = await startHarness();
    const artifact = await h.world.issue({ env: { runtime: 'k8s://cluster-west-2/ns/inference' } });
    expectDenied(await invoke(artifact, requestId(), 'unlisted-runtime-route'), 'environment.mismatch');
  });

  it('denies artifact.revoked once a signed revocation reaches the view', async () => {
    h = await startHarness();
    const artifact = await h.world.artifact();
    await h.world.revoke({ artifact_id: artifact.id });
    expect(
      await eventually(
        async () => deniedBody(await invoke(encodeArtifact(artifact))).reason === 'artifact.revoked',
      ),
    ).toBe(true);
  });

  it('denies artifact.replayed for a second request with the same single-use artifact', async () => {
    h = await startHarness();
    const artifact = await h.world.issue();
    expectAllowed(await invoke(artifact));
    expectDenied(await invoke(artifact), 'artifact.replayed');
  });

  it("denies a replay that carries the allowed Check's own request id, sequential or concurrent", async () => {
    h = await startHarness();
    const id = requestId();
    const artifact = await h.world.issue();
    expectAllowed(await invoke(artifact, id));
    expectDenied(await invoke(artifact, id), 'artifact.replayed');
    const another = await h.world.issue();
    const answers = await Promise.all(Array.from({ length: 16 }, () => invoke(another, id)));
    expect(answers.filter((a) => a.okResponse !== undefined)).toHaveLength(1);
  });

  it.each([
    'artifact-header-twice-in-header-map',
    'artifact-header-twice-merged',
    'artifact-header-in-both-encodings',
  ])('refuses an artifact header given twice as malformed (%s)', async (name) => {
    h = await startHarness();
    const values = {
      artifact: await h.world.issue(),
      'other-artifact': await h.world.issue(),
      'request-id': requestId(),
    };
    expectDenied(await h.client.check(fixture(name, values)), 'artifact.malformed');
    expect(h.ledger.events.filter((e) => e.type === 'authorization.consumed')).toEqual([]);
  });
});

describe('denials named by the enforcement point', () => {
  it('denies operation.unmapped for a request no route maps', async () => {
    h = await startHarness();
    const body = expectDenied(
      await invoke(await h.world.issue(), requestId(), 'unmapped-route'),
      'operation.unmapped',
    );
    expect(body.operation).toBeUndefined();
  });

  it('denies request.invalid for an encoded slash in the path', async () => {
    h = await startHarness();
    expectDenied(await invoke(await h.world.issue(), requestId(), 'encoded-slash'), 'request.invalid');
  });

  it.each([
    ['a length-delimited field cut short', [0x0a, 0x05, 0x12]],
    ['a length that is an unterminated varint', [0x0a, 0xff, 0xff]],
    ['a group end with no group open', [0x0c]],
  ])('denies request.invalid for bytes that are not a CheckRequest: %s', async (_desc, bytes) => {
    h = await startHarness();
    // grpc-js would answer a deserializer error with gRPC INTERNAL, which failure_mode_allow
    // could turn into an allow: the answer must be a denial like any other malformed request.
    expectDenied(await h.client.checkBytes(Buffer.from(bytes)), 'request.invalid');
    const [event] = await h.ledger.waitFor('execution.denied');
    expect(event).toMatchObject({ reason: 'request.invalid' });
  });

  it('denies issuer.unavailable past the heartbeat freshness bound and recovers with a fresh heartbeat', async () => {
    h = await startHarness();
    h.clock.offsetMs += 11_000;
    expectDenied(await invoke(await h.world.issue()), 'issuer.unavailable');
    await h.world.heartbeat();
    expect(await eventually(async () => (await invoke(await h.world.issue())).okResponse !== undefined)).toBe(
      true,
    );
  });

  it('denies issuer.unavailable while the revocation view holds fewer revocations than the heartbeat counts', async () => {
    h = await startHarness();
    await h.world.heartbeat(h.clock.now(), 3);
    expect(
      await eventually(
        async () => deniedBody(await invoke(await h.world.issue())).reason === 'issuer.unavailable',
      ),
    ).toBe(true);
  });

  it('denies artifacts of a key whose record no pinned root certified', async () => {
    h = await startHarness();
    const rogueRoot = generatePrivateKey();
    const rogueKey = generatePrivateKey();
    await h.world.store.putKeyRecord(h.world.keyRecord('key:rogue/1', rogueKey, 'issuer', rogueRoot));
    await h.world.heartbeat();
    await new Promise((r) => setTimeout(r, 200));
    const artifact = await h.world.issue({ signer: { kid: 'key:rogue/1', key: rogueKey } });
    expectDenied(await invoke(artifact), 'artifact.signature.invalid');
    const metrics = await h.server.metrics.registry.getSingleMetricAsString(
      'governance_authz_registry_problems_total',
    );
    expect(metrics).toMatch(/kind="key"} [1-9]/);
  });

  it('denies ledger.unavailable while the writer is halted, and allows again when it catches up', async () => {
    h = await startHarness();
    h.ledger.halted = true;
    expectDenied(await invoke(await h.world.issue()), 'ledger.unavailable');
    h.ledger.halted = false;
    expectAllowed(await invoke(await h.world.issue()));
  });

  it('denies ledger.batch.missing for good once a checkpoint left one of its batches out, and says so in metrics', async () => {
    h = await startHarness();
    h.ledger.missing = true;
    expectDenied(await invoke(await h.world.issue()), 'ledger.batch.missing');
    expect(h.server.health()).toMatchObject({ serving: false });
    const gauge = await h.server.metrics.registry.getSingleMetricAsString(
      'governance_ledger_batches_missing',
    );
    expect(gauge).toMatch(/governance_ledger_batches_missing 1/);
  });

  it('denies ledger.unavailable when the admission events cannot be appended', async () => {
    h = await startHarness();
    h.ledger.failing = true;
    expectDenied(await invoke(await h.world.issue()), 'ledger.unavailable');
  });

  it('denies state.unavailable when the use-state store throws', async () => {
    h = await startHarness({ useState: faultyUseState('throw') });
    expectDenied(await invoke(await h.world.issue()), 'state.unavailable');
  });

  it('denies state.unavailable at the decision deadline when the use-state store never answers', async () => {
    h = await startHarness({ useState: faultyUseState('hang'), config: { decisionDeadlineMs: 100 } });
    expectDenied(await invoke(await h.world.issue()), 'state.unavailable');
  });

  it('turns an exception inside a registry lookup into a denial, not a gRPC error', async () => {
    h = await startHarness({
      registry: (deps) => {
        const view = new RegistryView({
          store: deps.registryStore,
          suite: nodeCrypto,
          roots: deps.roots,
          clock: deps.clock!,
          keysSeconds: 30,
          revocationsSeconds: 10,
          skewSeconds: 5,
          blockMs: 50,
        });
        return {
          start: () => view.start(),
          stop: () => view.stop(),
          keys: view.keys,
          revocations: view.revocations,
          freshness: (nowMs) => view.freshness(nowMs),
          policies: () => {
            throw new TypeError('policy index corrupted');
          },
        };
      },
    });
    expectDenied(await invoke(await h.world.issue()), 'issuer.unavailable');
  });

  it('turns an exception in the shell itself into internal.error', async () => {
    h = await startHarness();
    h.ledger.halt = () => {
      throw new Error('boom');
    };
    expectDenied(await invoke(await h.world.issue()), 'internal.error');
  });

  it('still records the decision when the client cancelled the call', async () => {
    // The client cancels while the admission events are being appended (the ledger answers only
    // when the test says so): the decision is recorded all the same.
    h = await startHarness({ config: { decisionDeadlineMs: 10_000 } });
    let release!: () => void;
    h.ledger.hold = new Promise((resolve) => (release = resolve));
    const artifact = await h.world.artifact();
    const cancel = new AbortController();
    const answer = h.client.check(
      fixture('model-invoke', { artifact: encodeArtifact(artifact), 'request-id': requestId() }),
      5000,
      cancel.signal,
    );
    expect(await eventually(() => h!.ledger.held === 1, 10_000)).toBe(true);
    cancel.abort();
    await expect(answer).rejects.toThrow(/CANCELLED|Cancelled/);
    release();
    const consumed = await h.ledger.waitFor('authorization.consumed');
    expect(consumed[0]?.artifact_id).toBe(artifact.id);
  });
});

describe('the trace of a Check', () => {
  let traced: Harness | undefined;
  afterEach(async () => {
    await traced?.close();
    traced = undefined;
  });

  /** A harness whose decision log lines (JSON) are kept. */
  async function withLog(level: 'info' | 'debug'): Promise<Record<string, unknown>[]> {
    const lines: Record<string, unknown>[] = [];
    const logger = pino(
      { level },
      { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
    );
    traced = await startHarness({ logger });
    return lines;
  }
  const decisions = (lines: Record<string, unknown>[]) => lines.filter((line) => line.msg === 'decision');

  it("names the caller's W3C trace in the decision log, allowed (debug) or denied", async () => {
    const lines = await withLog('debug');
    const artifact = await traced!.world.issue();
    const request = fixture('model-invoke-traced', { artifact, 'request-id': requestId() });
    expect((await traced!.client.check(request)).okResponse).toBeDefined();
    expect((await traced!.client.check({ ...request })).deniedResponse).toBeDefined();
    expect(decisions(lines).map((line) => [line.decision, line.trace_id])).toEqual([
      ['allow', '4bf92f3577b34da6a3ce929d0e0e4736'],
      ['deny', '4bf92f3577b34da6a3ce929d0e0e4736'],
    ]);
  });

  it('names no trace when the trace context is repeated or malformed, and decides the same', async () => {
    const lines = await withLog('info');
    const repeated = fixture('model-invoke-traced', { 'request-id': requestId() });
    type Obj = Record<string, Record<string, unknown>>;
    const http = ((repeated.attributes as unknown as Obj).request as Obj).http as Obj;
    const headers = http.headers as Record<string, string>;
    headers.traceparent = `${headers.traceparent},00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`;
    headers['x-b3-traceid'] = 'not-hex';
    const answer = await traced!.client.check(repeated);
    expect(headerOf(answer, 'x-execution-denied')).toBe('artifact.missing');
    expect(decisions(lines)).toHaveLength(1);
    expect(decisions(lines)[0]!.trace_id).toBeUndefined();
  });
});
