// The decision function: one pure function from an artifact header and the request's context
// to ALLOW or DENY with a reason. Order (docs/spec/artifact.md §Decision): presence and parse →
// key, content hash and signature → validity window → identity, operation, policy and
// environment bindings → revocation → use. Nothing the presenter wrote is trusted before its
// signature verifies, so a forged artifact is always recorded as a bad signature.
import {
  LIMITS,
  artifactIdFromDigest,
  contentHash,
  decodeArtifact,
  lineageOf,
  type Artifact,
  type DecodedArtifact,
  type Environment,
  type Operation,
  type UseTerms,
} from './artifact.js';
import type { CryptoSuite } from './crypto.js';
import { bytesEqual } from './encoding.js';
import { GovernanceError, isDenialReason, isGovernanceError, type DenialReason } from './errors.js';

/** The operation the request asks for, plus the policy reference its route requires. */
export interface RequestedOperation extends Operation {
  /** The policy ref the route is governed by (`policy_required` in denial records). */
  policy: string;
}

/** An issuer key the verifier trusts, and the issuer (`iss`) its key record certifies it for. */
export interface TrustedKey {
  publicKey: Uint8Array;
  issuer: string;
}

export type KeyLookup = (kid: string) => TrustedKey | undefined;

export interface RevocationLookup {
  isArtifactRevoked(artifactId: string): boolean;
  isKeyRevoked(kid: string): boolean;
}

/** True when `hash` is a version of policy `ref` known to the registry. */
export type PolicyLookup = (ref: string, hash: string) => boolean;

export interface UseClaim {
  artifactId: string;
  /** Expiry (epoch seconds) after which the use state may be forgotten: exp + LIMITS.maxClockSkewSeconds. */
  exp: number;
  terms: UseTerms;
  now: number;
}

/** Atomically consumes one use; false when the allowance is spent. Errors end in DENY. */
export type UseConsumer = (claim: UseClaim) => boolean | Promise<boolean>;

export interface DecisionInput {
  /** The raw header value, or undefined when the header is absent. */
  header: string | undefined;
  /** The authenticated caller identity (e.g. a SPIFFE ID), or undefined. */
  identity: string | undefined;
  operation: RequestedOperation;
  environment: Environment;
  /** Epoch seconds. */
  now: number;
}

export interface DecisionContext {
  suite: CryptoSuite;
  keys: KeyLookup;
  revocations: RevocationLookup;
  policies: PolicyLookup;
  consume: UseConsumer;
  /** Clock-skew allowance in seconds (0 to LIMITS.maxClockSkewSeconds), applied to both ends of the window. */
  skewSeconds: number;
  /** Signatures of reusable artifacts already verified (optional; skips only the Ed25519 step). */
  verified?: VerifiedSignatures;
}

/** What the denial record may say about the artifact; `verified` tells whether its signature held. */
export interface ArtifactFacts {
  id: string;
  iss: string;
  kid: string;
  policyRef: string;
  verified: boolean;
}

export type Decision =
  | { allow: true; artifact: Artifact; lineage: string; facts: ArtifactFacts }
  | { allow: false; reason: DenialReason; message: string; facts?: ArtifactFacts };

function deny(reason: DenialReason, message: string, facts?: ArtifactFacts): Decision {
  return facts ? { allow: false, reason, message, facts } : { allow: false, reason, message };
}

function sameParams(bound: Record<string, string>, requested: Record<string, string>): boolean {
  const boundKeys = Object.keys(bound);
  if (boundKeys.length !== Object.keys(requested).length) return false;
  return boundKeys.every((key) => Object.hasOwn(requested, key) && requested[key] === bound[key]);
}

/**
 * Operation matching is exact: the names are equal, the parameter sets are equal (a request
 * carrying a parameter the artifact does not bind is refused, or an unbound artifact would
 * authorize every value), and the requested scope is a subset of the artifact's scope.
 */
export function operationMatches(bound: Operation, requested: Operation): boolean {
  if (bound.name !== requested.name) return false;
  if (!sameParams(bound.params, requested.params)) return false;
  const granted = new Set(bound.scope);
  return requested.scope.every((entry) => granted.has(entry));
}

/**
 * Registry views (keys, policies, revocations) throw when they are not fresh; any failure to
 * resolve them is issuer.unavailable, whatever the error said.
 */
function registryLookup<T>(lookup: () => T, message: string): T {
  try {
    return lookup();
  } catch (e) {
    throw new GovernanceError('issuer.unavailable', message, { cause: e });
  }
}

/** The key, content hash and id steps: the key the signature must verify under. Throws the denial. */
function signingKeyFor(decoded: DecodedArtifact, suite: CryptoSuite, keys: KeyLookup): TrustedKey {
  const { artifact } = decoded;
  const key = registryLookup(() => keys(artifact.sig.kid), 'issuer key lookup failed');
  if (key === undefined) throw new GovernanceError('artifact.signature.invalid', 'unknown kid');
  // A key speaks only for the issuer its record names; otherwise any trusted key could mint
  // artifacts in another authority's name.
  if (key.issuer !== artifact.iss) {
    throw new GovernanceError(
      'artifact.signature.invalid',
      'the signing key is not certified for this issuer',
    );
  }
  const digest = suite.sha3_512(decoded.payloadBytes);
  if (artifact.chash !== contentHash(digest)) {
    throw new GovernanceError('artifact.signature.invalid', 'chash is not the SHA3-512 of the payload');
  }
  if (artifact.id !== artifactIdFromDigest(digest)) {
    throw new GovernanceError('artifact.signature.invalid', 'id is not derived from the payload digest');
  }
  return key;
}

const badSignature = () =>
  new GovernanceError('artifact.signature.invalid', 'Ed25519 signature does not verify');

/** Steps up to and including the signature; throws GovernanceError with the denial reason. */
export function verifySignature(decoded: DecodedArtifact, suite: CryptoSuite, keys: KeyLookup): void {
  const key = signingKeyFor(decoded, suite, keys);
  if (!suite.verifyEd25519(key.publicKey, decoded.payloadBytes, decoded.signature)) throw badSignature();
}

/**
 * Signatures of reusable (bounded and rate) artifacts that verified, so that presenting one
 * again skips the Ed25519 step and nothing else. An entry is keyed by the content hash (which
 * decide recomputes from the presented payload every time), the signature as presented and the
 * kid, and holds the public key it verified under: a hit needs all four to be identical, so it
 * stands for exactly the verification it replaces. Single-use artifacts are never cached (their
 * second presentation is a replay anyway). Bounded; the oldest entry goes first.
 */
export class VerifiedSignatures {
  private readonly entries = new Map<string, Uint8Array>();
  constructor(readonly limit: number) {}

  private static keyOf(artifact: Artifact): string {
    return `${artifact.chash} ${artifact.sig.kid} ${artifact.sig.val}`;
  }

  has(artifact: Artifact, publicKey: Uint8Array): boolean {
    const cached = this.entries.get(VerifiedSignatures.keyOf(artifact));
    return cached !== undefined && bytesEqual(cached, publicKey);
  }

  add(artifact: Artifact, publicKey: Uint8Array): void {
    if (this.limit <= 0 || artifact.use.mode === 'single') return;
    if (this.entries.size >= this.limit) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(VerifiedSignatures.keyOf(artifact), publicKey.slice());
  }

  get size(): number {
    return this.entries.size;
  }
}

/** verifySignature, with the Ed25519 step off the event loop when the suite can, and the cache. */
async function verifySignatureFor(decoded: DecodedArtifact, ctx: DecisionContext): Promise<void> {
  const { suite, verified } = ctx;
  const key = signingKeyFor(decoded, suite, ctx.keys);
  if (verified?.has(decoded.artifact, key.publicKey)) return;
  const valid = suite.verifyEd25519Async
    ? await suite.verifyEd25519Async(key.publicKey, decoded.payloadBytes, decoded.signature)
    : suite.verifyEd25519(key.publicKey, decoded.payloadBytes, decoded.signature);
  if (!valid) throw badSignature();
  verified?.add(decoded.artifact, key.publicKey);
}

const CONSUMER_REASONS = new Set<string>(['state.unavailable', 'ledger.unavailable']);

export async function decide(input: DecisionInput, ctx: DecisionContext): Promise<Decision> {
  if (input.header === undefined || input.header === '') {
    return deny('artifact.missing', 'no x-execution-artifact header');
  }
  let decoded: DecodedArtifact;
  try {
    decoded = decodeArtifact(input.header);
  } catch (e) {
    return deny('artifact.malformed', isGovernanceError(e) ? e.message : 'undecodable artifact');
  }
  const { artifact } = decoded;
  const facts: ArtifactFacts = {
    id: artifact.id,
    iss: artifact.iss,
    kid: artifact.sig.kid,
    policyRef: artifact.pol.ref,
    verified: false,
  };
  try {
    await verifySignatureFor(decoded, ctx);
    facts.verified = true;

    // Written as "inside the window" so that a NaN anywhere is outside it.
    const { now } = input;
    const skew = ctx.skewSeconds;
    if (!(
      Number.isFinite(now) &&
      Number.isSafeInteger(skew) &&
      skew >= 0 &&
      skew <= LIMITS.maxClockSkewSeconds
    )) {
      return deny('internal.error', 'clock or skew allowance is not usable', facts);
    }
    if (!(decoded.nbf - skew <= now)) return deny('artifact.expired', 'not yet valid (nbf)', facts);
    if (!(now <= decoded.exp + skew)) return deny('artifact.expired', 'expired (exp)', facts);

    if (input.identity === undefined || input.identity !== artifact.sub) {
      return deny('identity.mismatch', 'caller identity is not the artifact subject', facts);
    }
    if (!operationMatches(decoded.operation, input.operation)) {
      return deny('policy.mismatch', 'requested operation is not the bound operation', facts);
    }
    if (artifact.pol.ref !== input.operation.policy) {
      return deny('policy.mismatch', 'artifact is bound to another policy than the route requires', facts);
    }
    if (!registryLookup(() => ctx.policies(artifact.pol.ref, artifact.pol.hash), 'policy lookup failed')) {
      return deny('policy.mismatch', 'policy hash is not a known version of the policy', facts);
    }
    const env = artifact.env;
    const runtime = input.environment;
    if (env.runtime !== runtime.runtime || env.region !== runtime.region || env.tenancy !== runtime.tenancy) {
      return deny('environment.mismatch', 'runtime environment differs from the bound environment', facts);
    }

    const revoked = registryLookup(
      () => ctx.revocations.isArtifactRevoked(artifact.id) || ctx.revocations.isKeyRevoked(artifact.sig.kid),
      'revocation lookup failed',
    );
    if (revoked) return deny('artifact.revoked', 'artifact or signing key revoked', facts);

    let consumed: boolean;
    try {
      consumed = await ctx.consume({
        artifactId: artifact.id,
        exp: decoded.exp + LIMITS.maxClockSkewSeconds,
        terms: artifact.use,
        now,
      });
    } catch (e) {
      // Only the store's own outage codes pass through; anything else it throws is unexpected.
      if (isGovernanceError(e) && CONSUMER_REASONS.has(e.code)) throw e;
      const code = isGovernanceError(e) ? 'internal.error' : 'state.unavailable';
      throw new GovernanceError(code, 'use state could not be updated', { cause: e });
    }
    if (!consumed) return deny('artifact.replayed', `use allowance (${artifact.use.mode}) is spent`, facts);
    return { allow: true, artifact, lineage: lineageOf(artifact.id), facts };
  } catch (e) {
    if (isGovernanceError(e) && isDenialReason(e.code)) return deny(e.code, e.message, facts);
    return deny('internal.error', 'unexpected error during decision', facts);
  }
}
