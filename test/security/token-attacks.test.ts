// Known token attacks, each a named test at the Check level: a literal Envoy CheckRequest over
// the real gRPC server of the enforcement point (memory stores, real signatures), answered with
// the exact denial reason. The artifact-level vectors (test/vectors/artifact) check the decoder
// and verifier alone; these check that the whole shell — header reading, registry view, use
// state, ledger — turns each attack into the same refusal.
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeArtifact, LIMITS, payloadOf, type Artifact } from '../../core/artifact.js';
import { canonicalize } from '../../core/canonical.js';
import { base64urlEncode, utf8Encode } from '../../core/encoding.js';
import { generatePrivateKey, rawPublicKey, signSync } from '../../core/keys.js';
import { MemoryUseStateStore } from '../../store/use-state-memory.js';
import { eventually, startHarness, type Harness } from '../authz-server/support/harness.js';
import { BATCH_RUNTIME, CALLER, MODEL, POLICY_REF } from '../authz-server/support/world.js';
import { checkRequest, CheckClient, type CheckOutcome } from '../support/cluster.js';

let h: Harness;
let client: CheckClient;
let useState: MemoryUseStateStore;
let heartbeat: NodeJS.Timeout;

beforeAll(async () => {
  useState = new MemoryUseStateStore({ clock: () => h.clock.now() });
  h = await startHarness({ useState });
  heartbeat = setInterval(() => void h.world.heartbeat(), 1000);
  client = new CheckClient(h.grpcPort);
});
afterAll(async () => {
  clearInterval(heartbeat);
  client?.close();
  await h?.close();
});

const PATH = `/v1/models/${MODEL}:invoke`;

function present(
  artifact: string | undefined,
  spec: {
    principal?: string;
    path?: string;
    extra?: Record<string, string>;
    context?: Record<string, string>;
  } = {},
): Promise<CheckOutcome> {
  const request = checkRequest({ artifact, principal: spec.principal ?? CALLER, path: spec.path ?? PATH });
  Object.assign(request.attributes.request.http.headers, spec.extra ?? {});
  if (spec.context) request.attributes.context_extensions = spec.context;
  return client.check(request);
}

const denied = (reason: string): CheckOutcome => ({ decision: 'deny', reason });
const ALLOWED: CheckOutcome = { decision: 'allow', reason: undefined };

/** A header whose artifact JSON was edited after signing, spelled canonically. */
function edited(artifact: Artifact, edit: (json: Record<string, unknown>) => void): string {
  const json = structuredClone(artifact) as unknown as Record<string, unknown>;
  edit(json);
  return base64urlEncode(utf8Encode(canonicalize(json)));
}

/** The artifact with its signature replaced by one the issuer key made over other bytes. */
function signedOver(artifact: Artifact, bytes: Uint8Array): string {
  const val = base64urlEncode(signSync(h.world.issuerKey, bytes));
  return encodeArtifact({ ...artifact, sig: { ...artifact.sig, val } });
}

describe('signature algorithm attacks', () => {
  it('alg none with an empty signature is malformed', async () => {
    const artifact = await h.world.artifact();
    const header = edited(artifact, (j) => (j.sig = { alg: 'none', kid: artifact.sig.kid, val: '' }));
    expect(await present(header)).toEqual(denied('artifact.malformed'));
  });

  it('alg none with the signature left out is malformed', async () => {
    const artifact = await h.world.artifact();
    expect(await present(edited(artifact, (j) => (j.sig = { alg: 'none' })))).toEqual(
      denied('artifact.malformed'),
    );
  });

  it('HS256 keyed with the issuer public key (algorithm/key confusion) is malformed', async () => {
    const artifact = await h.world.artifact();
    const mac = createHmac('sha256', rawPublicKey(h.world.issuerKey))
      .update(canonicalize(payloadOf(artifact)))
      .digest();
    const header = edited(
      artifact,
      (j) => (j.sig = { alg: 'HS256', kid: artifact.sig.kid, val: base64urlEncode(mac) }),
    );
    expect(await present(header)).toEqual(denied('artifact.malformed'));
  });

  for (const alg of ['EdDSA', 'ED25519', 'ed25519ph', 'Ed448']) {
    it(`alg ${alg} over a valid Ed25519 signature is malformed (only "ed25519" exists)`, async () => {
      const artifact = await h.world.artifact();
      expect(await present(edited(artifact, (j) => ((j.sig as { alg: string }).alg = alg)))).toEqual(
        denied('artifact.malformed'),
      );
    });
  }

  it('an embedded key (jwk) next to the signature is malformed', async () => {
    const artifact = await h.world.artifact();
    const rogue = generatePrivateKey();
    const header = edited(artifact, (j) => {
      (j.sig as Record<string, unknown>).jwk = {
        kty: 'OKP',
        crv: 'Ed25519',
        x: base64urlEncode(rawPublicKey(rogue)),
      };
    });
    expect(await present(header)).toEqual(denied('artifact.malformed'));
  });
});

describe('key confusion', () => {
  it("the enforcement point's own producer key (certified, role producer) cannot sign artifacts", async () => {
    const { producerKid, producerKey } = h.world;
    const header = await h.world.issue({ signer: { kid: producerKid, key: producerKey } });
    expect(await present(header)).toEqual(denied('artifact.signature.invalid'));
  });

  it('the root key cannot sign artifacts', async () => {
    const header = await h.world.issue({ signer: { kid: 'root:test/2026', key: h.world.rootKey } });
    expect(await present(header)).toEqual(denied('artifact.signature.invalid'));
  });

  it("another key's signature under the issuer's kid does not verify", async () => {
    const header = await h.world.issue({ signer: { kid: h.world.issuerKid, key: h.world.producerKey } });
    expect(await present(header)).toEqual(denied('artifact.signature.invalid'));
  });

  it('an issuer key record a Redis writer planted without a root certificate is ignored', async () => {
    const rogueRoot = generatePrivateKey();
    const key = generatePrivateKey();
    await h.world.store.putKeyRecord(h.world.keyRecord('key:planted/1', key, 'issuer', rogueRoot));
    await new Promise((r) => setTimeout(r, 200)); // the view follows the change stream
    const header = await h.world.issue({ signer: { kid: 'key:planted/1', key } });
    expect(await present(header)).toEqual(denied('artifact.signature.invalid'));
  });
});

describe('kid injection', () => {
  const malformedKids = [
    '../../../../etc/passwd',
    '/etc/passwd',
    'key:11-11/test/../issuer-1',
    "key:1' OR '1'='1",
    'key:1;DROP TABLE keys;--',
    'key:1\u0000',
    'key:1%2F..%2F..',
    'k'.repeat(LIMITS.kidChars + 1),
  ];
  for (const kid of malformedKids) {
    it(`kid ${JSON.stringify(kid.length > 40 ? kid.slice(0, 20) + '…' : kid)} is malformed`, async () => {
      const artifact = await h.world.artifact();
      expect(await present(edited(artifact, (j) => ((j.sig as { kid: string }).kid = kid)))).toEqual(
        denied('artifact.malformed'),
      );
    });
  }

  it('a URL kid, properly signed, is an unknown kid and is never fetched', async () => {
    let fetched = 0;
    const server = createServer((_req, res) => {
      fetched++;
      res.end('{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const kid = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
      const header = await h.world.issue({ signer: { kid, key: h.world.issuerKey } });
      expect(await present(header)).toEqual(denied('artifact.signature.invalid'));
      expect(fetched).toBe(0);
    } finally {
      server.close();
    }
  });
});

describe('signatures over another form of the payload', () => {
  it('signed over JSON with another key order: signature invalid', async () => {
    const artifact = await h.world.artifact();
    expect(await present(signedOver(artifact, utf8Encode(JSON.stringify(payloadOf(artifact)))))).toEqual(
      denied('artifact.signature.invalid'),
    );
  });

  it('signed over JSON with whitespace: signature invalid', async () => {
    const artifact = await h.world.artifact();
    const spaced = utf8Encode(JSON.stringify(JSON.parse(canonicalize(payloadOf(artifact))), null, 1));
    expect(await present(signedOver(artifact, spaced))).toEqual(denied('artifact.signature.invalid'));
  });

  it('signed over the whole artifact instead of the payload: signature invalid', async () => {
    const artifact = await h.world.artifact();
    const { sig: _sig, ...unsigned } = artifact;
    expect(await present(signedOver(artifact, utf8Encode(canonicalize(unsigned))))).toEqual(
      denied('artifact.signature.invalid'),
    );
  });

  it('a valid artifact in a non-canonical spelling (whitespace) is malformed', async () => {
    const artifact = await h.world.artifact();
    const header = base64urlEncode(utf8Encode(JSON.stringify(JSON.parse(canonicalize(artifact)), null, 2)));
    expect(await present(header)).toEqual(denied('artifact.malformed'));
  });

  it('a valid artifact in padded or standard base64 is malformed', async () => {
    const artifact = await h.world.artifact();
    const standard = Buffer.from(canonicalize(artifact)).toString('base64');
    expect(await present(standard)).toEqual(denied('artifact.malformed'));
    expect(await present(encodeArtifact(artifact) + '==')).toEqual(denied('artifact.malformed'));
  });

  it("another artifact's signature, id and content hash grafted onto a payload: signature invalid", async () => {
    const victim = await h.world.artifact();
    const donor = await h.world.artifact({ sub: 'spiffe://governance.example/ns/other/sa/x' });
    const header = edited(donor, (j) => {
      j.sub = victim.sub;
    });
    expect(await present(header)).toEqual(denied('artifact.signature.invalid'));
  });
});

describe('an artifact re-used outside its bindings', () => {
  it('for another identity', async () => {
    const header = await h.world.issue();
    expect(await present(header, { principal: 'spiffe://governance.example/ns/inference/sa/other' })).toEqual(
      denied('identity.mismatch'),
    );
  });

  it('for another identity claimed in a header (the identity is the mTLS peer, not a header)', async () => {
    const header = await h.world.issue({ sub: 'spiffe://governance.example/ns/admin/sa/root' });
    const spoof = {
      'x-forwarded-client-cert': 'URI=spiffe://governance.example/ns/admin/sa/root',
      'x-spiffe-id': 'spiffe://governance.example/ns/admin/sa/root',
    };
    expect(await present(header, { extra: spoof })).toEqual(denied('identity.mismatch'));
  });

  it('for another operation (another model in the path)', async () => {
    const header = await h.world.issue();
    expect(await present(header, { path: '/v1/models/clinical-summary-v3:invoke' })).toEqual(
      denied('policy.mismatch'),
    );
  });

  it('for another environment (a context extension selecting another runtime)', async () => {
    const header = await h.world.issue();
    expect(await present(header, { context: { runtime: BATCH_RUNTIME } })).toEqual(
      denied('environment.mismatch'),
    );
  });

  it('under a policy hash that is not a known version of the policy', async () => {
    const header = await h.world.issue({ pol: { ref: POLICY_REF, hash: 'sha3-512:' + 'ab'.repeat(64) } });
    expect(await present(header)).toEqual(denied('policy.mismatch'));
  });

  it('under another policy than the route requires', async () => {
    const header = await h.world.issue({
      pol: { ref: 'policy://medical/other/v1', hash: h.world.policyHash },
    });
    expect(await present(header)).toEqual(denied('policy.mismatch'));
  });

  it('passed in the query string instead of the header', async () => {
    const header = await h.world.issue();
    expect(await present(undefined, { path: `${PATH}?x-execution-artifact=${header}` })).toEqual(
      denied('artifact.missing'),
    );
  });
});

describe('revocation', () => {
  it("a revoked key's artifacts are denied, the ones issued before the revocation included", async () => {
    const key = generatePrivateKey();
    const kid = 'key:11-11/test/issuer-2';
    await h.world.store.putKeyRecord(h.world.keyRecord(kid, key, 'issuer'));
    const [before, probe] = await Promise.all([0, 1].map(() => h.world.issue({ signer: { kid, key } })));
    expect(await eventually(async () => (await present(probe)).decision === 'allow')).toBe(true);
    await h.world.revoke({ kid });
    expect(await eventually(async () => (await present(before)).reason === 'artifact.revoked')).toBe(true);
    expect(await present(await h.world.issue({ signer: { kid, key } }))).toEqual(denied('artifact.revoked'));
  });

  it('a revoked artifact is denied', async () => {
    const artifact = await h.world.artifact();
    await h.world.revoke({ artifact_id: artifact.id });
    expect(
      await eventually(async () => (await present(encodeArtifact(artifact))).reason === 'artifact.revoked'),
    ).toBe(true);
  });
});

describe('replay', () => {
  it('a single-use artifact presented twice', async () => {
    const header = await h.world.issue();
    expect(await present(header)).toEqual(ALLOWED);
    expect(await present(header)).toEqual(denied('artifact.replayed'));
  });

  it('a replay after the use state is gone is expired, never allowed', async () => {
    const artifact = await h.world.artifact({ nbf: -10, exp: 5 });
    const header = encodeArtifact(artifact);
    expect(await present(header)).toEqual(ALLOWED);
    expect(await present(header)).toEqual(denied('artifact.replayed'));
    // Past exp + the largest skew allowance any replica may use, the use state is dropped.
    h.clock.offsetMs += (5 + LIMITS.maxClockSkewSeconds + 1) * 1000;
    try {
      await h.world.heartbeat();
      expect(await eventually(() => h.server.health().serving)).toBe(true);
      expect(useState.retainedUntil(artifact.id)).toBeUndefined();
      expect(await present(header)).toEqual(denied('artifact.expired'));
    } finally {
      h.clock.offsetMs = 0;
      await h.world.heartbeat();
    }
  });

  it('an expired artifact that was never used', async () => {
    expect(await present(await h.world.issue({ nbf: -600, exp: -300 }))).toEqual(denied('artifact.expired'));
  });

  it('an artifact that is not valid yet', async () => {
    expect(await present(await h.world.issue({ nbf: 60, exp: 300 }))).toEqual(denied('artifact.expired'));
  });
});
