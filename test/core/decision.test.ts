import { randomBytes } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import {
  LIMITS,
  decide,
  encodeArtifact,
  VerifiedSignatures,
  generatePrivateKey,
  GovernanceError,
  isGovernanceError,
  keySigner,
  nodeCrypto,
  rawPublicKey,
  signArtifact,
  type ArtifactPayload,
  type CryptoSuite,
  type DecisionContext,
  type DecisionInput,
} from '../../core/index.js';
import { basePayload } from '../vectors/generate.js';

const key = generatePrivateKey();
const signer = keySigner('key:test', key);
const header = encodeArtifact(await signArtifact(basePayload, signer, nodeCrypto));

const input: DecisionInput = {
  header,
  identity: basePayload.sub,
  operation: {
    name: 'model.invoke',
    params: { model: 'clinical-summary-v4' },
    scope: ['phi.read'],
    policy: basePayload.pol.ref,
  },
  environment: basePayload.env,
  now: Date.parse('2026-05-12T17:02:00Z') / 1000,
};

function context(overrides: Partial<DecisionContext> = {}): DecisionContext {
  return {
    suite: nodeCrypto,
    keys: (kid) =>
      kid === 'key:test' ? { publicKey: rawPublicKey(key), issuer: basePayload.iss } : undefined,
    revocations: { isArtifactRevoked: () => false, isKeyRevoked: () => false },
    policies: () => true,
    consume: () => true,
    skewSeconds: 0,
    ...overrides,
  };
}

const boom = () => {
  throw new Error('boom');
};

describe('decide', () => {
  it('allows a valid artifact and names its lineage', async () => {
    const decision = await decide(input, context());
    expect(decision.allow).toBe(true);
    if (decision.allow) expect(decision.lineage).toBe('lineage://op/' + decision.artifact.id.slice(5));
  });

  it.each([
    ['key lookup throws', { keys: boom }, 'issuer.unavailable'],
    [
      'revocation lookup throws',
      { revocations: { isArtifactRevoked: boom, isKeyRevoked: () => false } },
      'issuer.unavailable',
    ],
    ['policy lookup throws', { policies: boom }, 'issuer.unavailable'],
    ['use store throws', { consume: boom }, 'state.unavailable'],
    ['use store rejects', { consume: () => Promise.reject(new Error('ECONNREFUSED')) }, 'state.unavailable'],
    [
      'use store times out as a typed error',
      { consume: () => Promise.reject(new GovernanceError('ledger.unavailable')) },
      'ledger.unavailable',
    ],
    [
      'use store throws a failure code',
      { consume: () => Promise.reject(new GovernanceError('config.invalid')) },
      'internal.error',
    ],
    [
      'the crypto suite throws',
      { suite: { ...nodeCrypto, verifyEd25519: boom, verifyEd25519Async: boom } as CryptoSuite },
      'internal.error',
    ],
    [
      'the off-thread verification rejects',
      { suite: { ...nodeCrypto, verifyEd25519Async: () => Promise.reject(new Error('pool')) } },
      'internal.error',
    ],
  ] as const)('denies when %s, never throws', async (_name, overrides, reason) => {
    const decision = await decide(input, context(overrides as Partial<DecisionContext>));
    expect(decision).toMatchObject({ allow: false, reason });
  });

  it('does not consume a use when an earlier check fails', async () => {
    const consume = vi.fn(() => true);
    const decision = await decide({ ...input, identity: 'spiffe://other' }, context({ consume }));
    expect(decision).toMatchObject({ allow: false, reason: 'identity.mismatch' });
    expect(consume).not.toHaveBeenCalled();
  });

  it('marks facts as unverified when the signature fails', async () => {
    const decision = await decide(
      input,
      context({ keys: () => ({ publicKey: rawPublicKey(generatePrivateKey()), issuer: basePayload.iss }) }),
    );
    expect(decision).toMatchObject({
      allow: false,
      reason: 'artifact.signature.invalid',
      facts: { verified: false },
    });
  });

  it('keeps use state until exp plus the largest skew any replica may use, not its own', async () => {
    const consume = vi.fn(() => true);
    await decide(input, context({ consume, skewSeconds: 7 }));
    expect(consume).toHaveBeenCalledWith(
      expect.objectContaining({
        terms: basePayload.use,
        exp: Date.parse(basePayload.exp) / 1000 + LIMITS.maxClockSkewSeconds,
        now: input.now,
      }),
    );
  });

  it.each([
    ['now is NaN', { now: NaN }, {}],
    ['now is Infinity', { now: Infinity }, {}],
    ['skew is NaN', {}, { skewSeconds: NaN }],
    ['skew is Infinity', {}, { skewSeconds: Infinity }],
    ['skew is negative', {}, { skewSeconds: -1 }],
    ['skew exceeds the protocol maximum', {}, { skewSeconds: LIMITS.maxClockSkewSeconds + 1 }],
  ])('denies when %s (never fails open on a broken clock)', async (_name, inputOverride, ctxOverride) => {
    const expired = { ...input, now: Date.parse('2026-06-01T00:00:00Z') / 1000, ...inputOverride };
    const decision = await decide(expired, context(ctxOverride));
    expect(decision).toMatchObject({ allow: false, reason: 'internal.error' });
  });
});

const freshNonce = () => randomBytes(16).toString('base64url');

describe('the verified-signature cache', () => {
  const reusable = async (use: ArtifactPayload['use'], signWith = key) =>
    encodeArtifact(await signArtifact({ ...basePayload, use }, keySigner('key:test', signWith), nodeCrypto));
  const bounded = { mode: 'bounded', nonce: freshNonce(), max: 10 } as const;
  /** A suite counting the Ed25519 verifications that really run. */
  function countingSuite() {
    const counter = { calls: 0 };
    const suite: CryptoSuite = {
      ...nodeCrypto,
      verifyEd25519: (...args) => (counter.calls++, nodeCrypto.verifyEd25519(...args)),
      verifyEd25519Async: (...args) => (counter.calls++, nodeCrypto.verifyEd25519Async!(...args)),
    };
    return { suite, counter };
  }

  it('skips the Ed25519 step for a bounded artifact presented again, and only that step', async () => {
    const { suite, counter } = countingSuite();
    const verified = new VerifiedSignatures(16);
    const presented = { ...input, header: await reusable(bounded) };
    expect((await decide(presented, context({ suite, verified }))).allow).toBe(true);
    expect((await decide(presented, context({ suite, verified }))).allow).toBe(true);
    expect(counter.calls).toBe(1);
    // Everything after the signature still runs on a cache hit.
    const cases: [Partial<DecisionInput>, Partial<DecisionContext>, string][] = [
      [{ now: Date.parse('2026-06-01T00:00:00Z') / 1000 }, {}, 'artifact.expired'],
      [{ identity: 'spiffe://other' }, {}, 'identity.mismatch'],
      [{ environment: { ...basePayload.env, region: 'eu-west-1' } }, {}, 'environment.mismatch'],
      [{}, { policies: () => false }, 'policy.mismatch'],
      [{}, { revocations: { isArtifactRevoked: () => true, isKeyRevoked: () => false } }, 'artifact.revoked'],
      [{}, { revocations: { isArtifactRevoked: () => false, isKeyRevoked: () => true } }, 'artifact.revoked'],
      [{}, { consume: () => false }, 'artifact.replayed'],
    ];
    for (const [inputOverride, ctxOverride, reason] of cases) {
      const decision = await decide(
        { ...presented, ...inputOverride },
        context({ suite, verified, ...ctxOverride }),
      );
      expect(decision, reason).toMatchObject({ allow: false, reason });
    }
    expect(counter.calls).toBe(1);
  });

  it('verifies again when the signature, the key or the payload differ from the cached one', async () => {
    const { suite, counter } = countingSuite();
    const verified = new VerifiedSignatures(16);
    const header = await reusable(bounded);
    expect((await decide({ ...input, header }, context({ suite, verified }))).allow).toBe(true);
    // The same artifact with its signature's last character changed.
    const parsed = JSON.parse(Buffer.from(header, 'base64url').toString()) as { sig: { val: string } };
    const last = parsed.sig.val.at(-1) === 'A' ? 'Q' : 'A';
    parsed.sig.val = parsed.sig.val.slice(0, -1) + last;
    const forged = Buffer.from(JSON.stringify(parsed)).toString('base64url');
    expect(await decide({ ...input, header: forged }, context({ suite, verified }))).toMatchObject({
      allow: false,
      reason: 'artifact.signature.invalid',
    });
    // The same kid now certified with another public key: the cached verification does not hold.
    const other = rawPublicKey(generatePrivateKey());
    const rekeyed = context({ suite, verified, keys: () => ({ publicKey: other, issuer: basePayload.iss }) });
    expect(await decide({ ...input, header }, rekeyed)).toMatchObject({
      allow: false,
      reason: 'artifact.signature.invalid',
    });
    expect(counter.calls).toBe(3);
  });

  it('never caches single-use artifacts, and stays within its bound', async () => {
    const { suite, counter } = countingSuite();
    const verified = new VerifiedSignatures(2);
    await decide(input, context({ suite, verified }));
    await decide(input, context({ suite, verified }));
    expect(counter.calls).toBe(2);
    expect(verified.size).toBe(0);
    for (let i = 0; i < 5; i++) {
      const header = await reusable({ ...bounded, nonce: freshNonce() });
      expect((await decide({ ...input, header }, context({ suite, verified }))).allow).toBe(true);
    }
    expect(verified.size).toBe(2);
  });
});

describe('signArtifact', () => {
  it.each([
    ['an unsorted scope', (p: ArtifactPayload) => (p.op.scope = ['b', 'a'])],
    ['an inverted window', (p: ArtifactPayload) => (p.exp = '2026-05-12T16:00:00Z')],
    ['a short nonce', (p: ArtifactPayload) => (p.use.nonce = 'abc')],
  ])('refuses to sign %s', async (_name, mutate) => {
    const payload = structuredClone(basePayload);
    mutate(payload);
    const error = await signArtifact(payload, signer, nodeCrypto).catch((e: unknown) => e);
    expect(isGovernanceError(error, 'artifact.malformed')).toBe(true);
  });
});
