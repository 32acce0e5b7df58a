// The authority with in-memory stores: issuance, denials, governed administration, keys and
// revocation. Every artifact is checked the way an enforcement point would, with the portable
// verifier and only what the registry publishes.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { decodeArtifact } from '../../core/artifact.js';
import { nodeCrypto } from '../../core/crypto-node.js';
import type { ChainRecord } from '../../core/event.js';
import { generatePrivateKey } from '../../core/keys.js';
import { verifyHeartbeat, verifyRevocation } from '../../core/registry.js';
import { MemoryRegistryStore } from '../../store/registry-memory.js';
import type { Authority, Issued, Outcome } from '../../authority/authority.js';
import { startHttpServer } from '../../authority/http.js';
import { TokenTable } from '../../authority/identity.js';
import { IssuerKeyring } from '../../authority/keys.js';
import { holdKey } from '../../service/keys.js';
import {
  ADMIN_POLICY,
  anonymous,
  as,
  certify,
  CUSTODIAN,
  enforce,
  example,
  GATEWAY,
  ISSUER,
  issuerKey,
  OPERATOR,
  roots,
  SECURITY,
  startAuthority,
} from './support/fixtures.js';
import { RecordingLedger } from './support/recording-ledger.js';

const summarize = {
  identity: GATEWAY,
  op: { name: 'model.invoke', model: 'clinical-summary-v4', scope: ['phi.read', 'phi.no_export'] },
  env: { runtime: 'k8s://cluster-east-1/ns/inference' },
};

const requested = {
  name: 'model.invoke',
  params: { model: 'clinical-summary-v4' },
  scope: ['phi.read'],
  policy: 'policy://medical/inference/v3',
};
const runtime = { runtime: 'k8s://cluster-east-1/ns/inference', region: 'us-east-1', tenancy: 'single' };

function issued(outcome: Outcome<Issued>): Issued {
  if (!outcome.ok) throw new Error(`expected an artifact, got ${outcome.reason}: ${outcome.message}`);
  return outcome.value;
}

let registry: MemoryRegistryStore;
let ledger: RecordingLedger;
let authority: Authority;
let keyring: IssuerKeyring;

async function withAdminPolicy(): Promise<void> {
  authority = await restart([
    { name: 'medical', source: example('medical-inference-v3') },
    { name: 'admin', source: example('governance-admin-v1') },
  ]);
}

async function restart(bootstrapPolicies = [{ name: 'medical', source: example('medical-inference-v3') }]) {
  const stopped = authority.stop();
  registry.close();
  await stopped;
  return startAuthority({ registry, ledger, reader: ledger, keyring, bootstrapPolicies });
}

beforeEach(async () => {
  registry = new MemoryRegistryStore();
  ledger = new RecordingLedger();
  keyring = new IssuerKeyring(issuerKey('key:test/1'), [issuerKey('key:test/2')]);
  authority = await startAuthority({ registry, ledger, reader: ledger, keyring });
});

afterEach(async () => {
  const stopped = authority.stop();
  registry.close(); // wakes the change-stream read the authority is blocked on
  await stopped;
});

describe('issuance', () => {
  it('issues an artifact that the portable verifier accepts, and ledgers it first', async () => {
    const { artifact, header, lineage } = issued(await authority.issuance.execute(as(GATEWAY), summarize));
    expect(decodeArtifact(header).artifact).toEqual(artifact);
    expect(artifact).toMatchObject({ iss: ISSUER, sub: GATEWAY, env: runtime, use: { mode: 'single' } });
    const decision = await enforce(registry, {
      header,
      identity: GATEWAY,
      operation: requested,
      environment: runtime,
    });
    expect(decision).toMatchObject({ allow: true, lineage });
    expect(ledger.of('authorization.issued')).toEqual([
      expect.objectContaining({
        artifact_id: artifact.id,
        lineage,
        identity: GATEWAY,
        policy_hash: artifact.pol.hash,
      }),
    ]);
  });

  it('binds 128 fresh random bits per artifact', async () => {
    const nonces = new Set<string>();
    for (let i = 0; i < 20; i++)
      nonces.add(issued(await authority.issuance.execute(as(GATEWAY), summarize)).artifact.use.nonce);
    expect(nonces.size).toBe(20);
  });

  it('denies what the policy does not allow, with its reason, ledgered', async () => {
    const outcome = await authority.issuance.execute(as(GATEWAY), {
      ...summarize,
      op: { ...summarize.op, model: 'other' },
    });
    expect(outcome).toMatchObject({ ok: false, reason: 'policy.denied' });
    expect(ledger.of('authorization.denied')).toEqual([
      expect.objectContaining({ reason: 'policy.denied', identity: GATEWAY, operation: 'model.invoke' }),
    ]);
  });

  it('denies an unauthenticated caller, ledgered', async () => {
    const outcome = await authority.issuance.execute(anonymous, summarize);
    expect(outcome).toMatchObject({ ok: false, reason: 'identity.unauthenticated' });
    expect(ledger.of('authorization.denied')).toEqual([
      expect.objectContaining({
        reason: 'identity.unauthenticated',
        data: expect.objectContaining({ transport: 'http' }),
      }),
    ]);
  });

  it.each([
    ['a missing operation', { identity: GATEWAY }],
    ['a bad parameter name', { op: { name: 'model.invoke', Model: 'x' } }],
    ['an unknown field', { ...summarize, extra: true }],
    ['a reserved admin operation', { op: { name: 'admin.key.rotate' } }],
    ['a non-object body', 'model.invoke'],
  ])('denies %s as request.invalid, ledgered', async (_what, body) => {
    expect(await authority.issuance.execute(as(GATEWAY), body)).toMatchObject({
      ok: false,
      reason: 'request.invalid',
    });
    expect(ledger.of('authorization.denied')[0]).toMatchObject({ reason: 'request.invalid' });
  });

  it('denies a request for another identity unless a rule allows it', async () => {
    const outcome = await authority.issuance.execute(as(GATEWAY), {
      ...summarize,
      identity: 'spiffe://prod.example.org/ns/x/sa/y',
    });
    expect(outcome).toMatchObject({ ok: false, reason: 'policy.denied' });
  });

  it('denies an operation no active policy governs as policy.unknown', async () => {
    const outcome = await authority.issuance.execute(as(GATEWAY), { op: { name: 'db.drop' } });
    expect(outcome).toMatchObject({ ok: false, reason: 'policy.unknown' });
  });

  it('withholds the artifact when the issuance cannot be ledgered', async () => {
    ledger.failing = true;
    expect(await authority.issuance.execute(as(GATEWAY), summarize)).toEqual({
      ok: false,
      reason: 'ledger.unavailable',
      message: 'the issuance could not be ledgered',
    });
  });

  it('issues nothing while the ledger is halted', async () => {
    ledger.stalled = true;
    expect(await authority.issuance.execute(as(GATEWAY), summarize)).toMatchObject({
      ok: false,
      reason: 'ledger.unavailable',
    });
  });
});

describe('keys', () => {
  it('refuses an issuer key record the pinned root did not certify', () => {
    const key = generatePrivateKey();
    const forged = certify(key, 'key:forged', {}, generatePrivateKey());
    expect(() =>
      holdKey(nodeCrypto, key, forged, { role: 'issuer', subject: ISSUER, roots, now: Date.now() / 1000 }),
    ).toThrow(/not certified by a pinned root/);
  });

  it.each([
    ['another subject', { subject: 'governance://other' }, /certifies subject governance:\/\/other, not/],
    ['another role', { role: 'producer' as const }, /for role producer, not role issuer/],
    [
      'an expired window',
      { not_before: '2020-01-01T00:00:00Z', not_after: '2020-02-01T00:00:00Z' },
      /not valid now/,
    ],
  ])('refuses an issuer key record with %s', (_what, overrides, message) => {
    const key = generatePrivateKey();
    expect(() =>
      holdKey(nodeCrypto, key, certify(key, 'key:x', overrides), {
        role: 'issuer',
        subject: ISSUER,
        roots,
        now: Date.now() / 1000,
      }),
    ).toThrow(message);
  });

  it('refuses a record certifying another public key than the private key', () => {
    const record = certify(generatePrivateKey(), 'key:x');
    expect(() =>
      holdKey(nodeCrypto, generatePrivateKey(), record, {
        role: 'issuer',
        subject: ISSUER,
        roots,
        now: Date.now() / 1000,
      }),
    ).toThrow(/another public key/);
  });

  it('rotates: old artifacts still verify, new ones carry the new kid, the rotation is ledgered', async () => {
    await withAdminPolicy();
    const before = issued(await authority.issuance.execute(as(GATEWAY), summarize));
    const rotated = await authority.admin.rotateKey(as(CUSTODIAN), {
      kid: 'key:test/2',
      attributes: { change: 'CHG-7' },
    });
    expect(rotated).toEqual({ ok: true, value: { previous_kid: 'key:test/1', kid: 'key:test/2' } });
    const after = issued(await authority.issuance.execute(as(GATEWAY), summarize));
    expect([before.artifact.sig.kid, after.artifact.sig.kid]).toEqual(['key:test/1', 'key:test/2']);
    for (const { header } of [before, after]) {
      expect(
        await enforce(registry, { header, identity: GATEWAY, operation: requested, environment: runtime }),
      ).toMatchObject({ allow: true });
    }
    expect(ledger.of('key.rotated')).toEqual([
      expect.objectContaining({
        identity: CUSTODIAN,
        data: expect.objectContaining({ previous_kid: 'key:test/1', kid: 'key:test/2' }),
      }),
    ]);
  });

  it('publishes a heartbeat signed by the active issuer key', async () => {
    const heartbeat = (await authority.heartbeat.publish())!;
    const record = (await registry.listKeyRecords()).find((r) => r.kid === heartbeat.sig.kid)!;
    expect(verifyHeartbeat(nodeCrypto, heartbeat, Buffer.from(record.public_key, 'base64url'))).toBe(true);
    expect(heartbeat).toMatchObject({ issuer: ISSUER, revocations: 0 });
  });
});

describe('revocation', () => {
  it('revokes an artifact: a signed record in the registry, ledgered, and counted by the heartbeat', async () => {
    await withAdminPolicy();
    const { artifact, header } = issued(await authority.issuance.execute(as(GATEWAY), summarize));
    const outcome = await authority.admin.revokeArtifact(as(SECURITY), {
      artifact_id: artifact.id,
      reason: 'leaked in a log',
      attributes: { incident: 'INC-42' },
    });
    expect(outcome).toMatchObject({ ok: true, value: { added: true } });
    const [record] = await registry.listRevocations();
    const signer = (await registry.listKeyRecords()).find((r) => r.kid === record!.sig.kid)!;
    expect(verifyRevocation(nodeCrypto, record!, Buffer.from(signer.public_key, 'base64url'))).toBe(true);
    expect(record).toMatchObject({ target: { artifact_id: artifact.id }, by: SECURITY });
    expect(ledger.of('revocation.added')).toEqual([
      expect.objectContaining({ artifact_id: artifact.id, identity: SECURITY }),
    ]);
    expect((await authority.heartbeat.publish())!.revocations).toBe(1);
    expect(
      await enforce(registry, { header, identity: GATEWAY, operation: requested, environment: runtime }),
    ).toMatchObject({
      allow: false,
      reason: 'artifact.revoked',
    });
  });

  it('revoking the active key stops issuance until a rotation', async () => {
    await withAdminPolicy();
    const attributes = { incident: 'INC-43' };
    expect(
      await authority.admin.revokeKey(as(SECURITY), { kid: 'key:test/1', reason: 'compromised', attributes }),
    ).toMatchObject({ ok: true });
    expect(await authority.issuance.execute(as(GATEWAY), summarize)).toMatchObject({
      ok: false,
      reason: 'issuer.unavailable',
    });
    await authority.admin.rotateKey(as(CUSTODIAN), { kid: 'key:test/2', attributes: { change: 'CHG-8' } });
    expect(issued(await authority.issuance.execute(as(GATEWAY), summarize)).artifact.sig.kid).toBe(
      'key:test/2',
    );
  });
});

describe('governed administration', () => {
  const bad = `policy: policy://medical/inference/v4
operations: [model.invoke]
rules:
  - id: broken
    effect: allow
    when: >
      identity == "x" &&
      operation.nme == "model.invoke"
`;

  it('denies every admin operation while no admin policy is active, ledgered', async () => {
    const outcome = await authority.admin.publishPolicy(as(OPERATOR), {
      source: example('medical-inference-v3'),
    });
    expect(outcome).toMatchObject({ ok: false, reason: 'policy.unknown' });
    expect(ledger.of('admin.denied')).toEqual([
      expect.objectContaining({
        reason: 'policy.unknown',
        identity: OPERATOR,
        operation: 'admin.policy.publish',
        policy_required: ADMIN_POLICY,
      }),
    ]);
  });

  it('denies an admin the admin policy does not allow, ledgered', async () => {
    await withAdminPolicy();
    const outcome = await authority.admin.rotateKey(as(OPERATOR), { kid: 'key:test/2' });
    expect(outcome).toMatchObject({ ok: false, reason: 'policy.denied' });
    expect(ledger.of('admin.denied').at(-1)).toMatchObject({ reason: 'policy.denied', identity: OPERATOR });
  });

  it('refuses a policy that does not compile, with line and column, and ledgers the refusal', async () => {
    await withAdminPolicy();
    const outcome = await authority.admin.publishPolicy(as(OPERATOR), { source: bad });
    expect(outcome).toMatchObject({
      ok: false,
      reason: 'policy.invalid',
      problems: [{ path: 'rules[0].when', line: 8, column: 17, message: 'No such key: nme' }],
    });
    expect(ledger.of('admin.denied').at(-1)).toMatchObject({ reason: 'policy.invalid' });
    expect((await registry.listPolicyVersions()).map((v) => v.ref)).not.toContain(
      'policy://medical/inference/v4',
    );
  });

  it('publishes and activates a new version, which then decides and is bound by new artifacts', async () => {
    await withAdminPolicy();
    const longer = example('medical-inference-v3').replace('ttl_seconds: 300', 'ttl_seconds: 120');
    const published = await authority.admin.publishPolicy(as(OPERATOR), { source: longer });
    if (!published.ok) throw new Error(published.message);
    const before = issued(await authority.issuance.execute(as(GATEWAY), summarize));
    expect(before.artifact.pol.hash).not.toBe(published.value.hash);
    expect(await authority.admin.activatePolicy(as(OPERATOR), published.value)).toMatchObject({ ok: true });
    const after = issued(await authority.issuance.execute(as(GATEWAY), summarize)).artifact;
    expect(after.pol.hash).toBe(published.value.hash);
    expect(Date.parse(after.exp) - Date.parse(after.nbf)).toBe(120_000);
    expect(ledger.of('policy.activated').at(-1)).toMatchObject({
      identity: OPERATOR,
      policy_hash: published.value.hash,
    });
  });

  it('registers a runtime and ledgers it', async () => {
    await withAdminPolicy();
    const platform = 'spiffe://prod.example.org/ns/platform/sa/deployer';
    const outcome = await authority.admin.registerRuntime(as(platform), {
      runtime: 'k8s://cluster-east-1/ns/new',
      region: 'us-east-1',
    });
    expect(outcome).toMatchObject({
      ok: true,
      value: { runtime: 'k8s://cluster-east-1/ns/new', registered_by: platform },
    });
    expect(ledger.of('runtime.registered')).toEqual([
      expect.objectContaining({ runtime: 'k8s://cluster-east-1/ns/new' }),
    ]);
    expect(await authority.proofs.runtimes()).toHaveLength(1);
  });
});

describe('a halted ledger', () => {
  const PLATFORM = 'spiffe://prod.example.org/ns/platform/sa/deployer';

  it.each([
    [
      'ledger.batch.missing',
      (l: RecordingLedger): void => {
        l.missing = true;
      },
    ],
    [
      'ledger.unavailable',
      (l: RecordingLedger): void => {
        l.stalled = true;
      },
    ],
  ] as const)(
    'refuses every admin operation while halted with %s, acts on none, and ledgers each refusal with its reason',
    async (reason, haltLedger) => {
      await withAdminPolicy();
      // Everything below would be allowed by the admin policy on a ledger that is not halted.
      const longer = example('medical-inference-v3').replace('ttl_seconds: 300', 'ttl_seconds: 120');
      const published = await authority.admin.publishPolicy(as(OPERATOR), { source: longer });
      if (!published.ok) throw new Error(published.message);
      const { artifact } = issued(await authority.issuance.execute(as(GATEWAY), summarize));
      const versionsBefore = await registry.listPolicyVersions();
      const activeBefore = await registry.activePolicies();
      const allowedBefore = ledger.of('admin.allowed').length;
      haltLedger(ledger);
      const halt = ledger.halt()!;
      const incident = { incident: 'INC-44' };
      const outcomes = {
        'admin.policy.publish': await authority.admin.publishPolicy(as(OPERATOR), {
          source: longer.replace('ttl_seconds: 120', 'ttl_seconds: 60'),
        }),
        'admin.policy.activate': await authority.admin.activatePolicy(as(OPERATOR), published.value),
        'admin.key.rotate': await authority.admin.rotateKey(as(CUSTODIAN), {
          kid: 'key:test/2',
          attributes: { change: 'CHG-9' },
        }),
        'admin.key.revoke': await authority.admin.revokeKey(as(SECURITY), {
          kid: 'key:test/1',
          reason: 'compromised',
          attributes: incident,
        }),
        'admin.artifact.revoke': await authority.admin.revokeArtifact(as(SECURITY), {
          artifact_id: artifact.id,
          reason: 'leaked in a log',
          attributes: incident,
        }),
        'admin.runtime.register': await authority.admin.registerRuntime(as(PLATFORM), {
          runtime: 'k8s://cluster-east-1/ns/new',
          region: 'us-east-1',
        }),
      };
      for (const outcome of Object.values(outcomes))
        expect(outcome).toEqual({ ok: false, reason, message: halt.message });
      expect(ledger.of('admin.denied').map((e) => [e.operation, e.reason, e.data?.message])).toEqual(
        Object.keys(outcomes).map((operation) => [operation, reason, halt.message]),
      );
      // Nothing was acted on: no verdict allowed, no version, activation, key, revocation or runtime.
      expect(ledger.of('admin.allowed')).toHaveLength(allowedBefore);
      expect(await registry.listPolicyVersions()).toEqual(versionsBefore);
      expect(await registry.activePolicies()).toEqual(activeBefore);
      expect(keyring.active().key.kid).toBe('key:test/1');
      expect(await registry.listRevocations()).toEqual([]);
      expect(await authority.proofs.runtimes()).toEqual([]);
    },
  );

  it("reports the ledger writer's missing batches and commit lag in /metrics", async () => {
    const server = await startHttpServer(authority, {
      host: '127.0.0.1',
      port: 0,
      identity: { tokens: new TokenTable([]), trustDomains: [] },
    });
    try {
      const metrics = async () => (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
      const before = await metrics();
      expect(before).toMatch(/^governance_ledger_batches_missing 0$/m);
      expect(before).toMatch(/^governance_ledger_commit_lag_seconds 0$/m);
      ledger.missing = true;
      const after = await metrics();
      expect(after).toMatch(/^# HELP governance_ledger_batches_missing \S/m);
      expect(after).toMatch(/^governance_ledger_batches_missing 1$/m);
      expect(after).toMatch(/^# HELP governance_ledger_commit_lag_seconds \S/m);
      expect(after).toMatch(/^governance_ledger_commit_lag_seconds 60$/m);
    } finally {
      await server.close();
    }
  });
});

describe('replicas', () => {
  it('follow activations and revocations made by another replica through the registry', async () => {
    await withAdminPolicy();
    const replica = await startAuthority({
      registry,
      ledger,
      reader: ledger,
      keyring,
      bootstrapPolicies: [],
    });
    try {
      const shorter = example('medical-inference-v3').replace('ttl_seconds: 300', 'ttl_seconds: 60');
      const published = await authority.admin.publishPolicy(as(OPERATOR), { source: shorter });
      if (!published.ok) throw new Error(published.message);
      await authority.admin.activatePolicy(as(OPERATOR), published.value);
      const { artifact } = issued(await authority.issuance.execute(as(GATEWAY), summarize));
      await authority.admin.revokeArtifact(as(SECURITY), {
        artifact_id: artifact.id,
        reason: 'test',
        attributes: { incident: 'INC-9' },
      });
      await vi.waitFor(async () => {
        expect(issued(await replica.issuance.execute(as(GATEWAY), summarize)).artifact.pol.hash).toBe(
          published.value.hash,
        );
        expect((await replica.heartbeat.publish())!.revocations).toBe(1);
      });
    } finally {
      const stopped = replica.stop();
      registry.close();
      await stopped;
    }
  });
});

describe('proof', () => {
  it('lists issuer records and the pinned root with its fingerprint', async () => {
    const issuers = await authority.proofs.issuers();
    expect(issuers.active_kid).toBe('key:test/1');
    expect(issuers.keys.map((k) => k.kid)).toEqual(['key:test/1']);
    expect(issuers.roots).toEqual([
      expect.objectContaining({
        kid: 'root:test',
        fingerprint: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
      }),
    ]);
  });

  it('serves the lineage of an issued artifact: the record holding its issuance', async () => {
    const { artifact, lineage } = issued(await authority.issuance.execute(as(GATEWAY), summarize));
    const proof = await authority.proofs.lineage(artifact.id);
    expect(proof.lineage).toBe(lineage);
    expect(proof).not.toHaveProperty('pending');
    const events = proof.records.flatMap((r) =>
      (JSON.parse(r.record) as ChainRecord).events.filter((e) => e.lineage === lineage),
    );
    expect(events.map((e) => [e.type, e.artifact_id])).toEqual([['authorization.issued', artifact.id]]);
  });

  it('serves a lineage that has no event as an empty, proven list', async () => {
    issued(await authority.issuance.execute(as(GATEWAY), summarize));
    const proof = await authority.proofs.lineage('auth_00000000000000000000000000000000');
    expect(proof).toMatchObject({ lineage: 'lineage://op/00000000000000000000000000000000', records: [] });
  });

  it('pages the ledger with a bounded page size', async () => {
    const page = await authority.proofs.ledger(1, 10_000);
    expect(page.records.length).toBeLessThanOrEqual(500);
    expect(page.next).toBe(501);
  });
});
