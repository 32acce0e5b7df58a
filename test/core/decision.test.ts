import { describe, expect, it, vi } from 'vitest';
import {
  LIMITS,
  decide,
  encodeArtifact,
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
      { suite: { ...nodeCrypto, verifyEd25519: boom } as CryptoSuite },
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
