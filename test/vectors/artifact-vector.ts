// The language-neutral artifact vector format (docs/spec/artifact.md §Test vectors) and how
// a verifier evaluates one. Both verifiers (node:crypto and @noble) run every vector.
import {
  base64urlDecode,
  decide,
  type CryptoSuite,
  type Decision,
  type DenialReason,
  type Environment,
  type UseClaim,
} from '../../core/portable.js';
import { parseSeconds } from '../../core/time.js';

export interface ArtifactVector {
  desc: string;
  /** The x-execution-artifact header value; null when the header is absent. */
  artifact: string | null;
  /** kid → base64url of the raw 32-byte Ed25519 public key. */
  keys: Record<string, string>;
  /** The issuer (`iss`) every key in `keys` is certified for. */
  issuer: string;
  context: {
    identity: string;
    operation: { name: string; params: Record<string, string>; scope: string[]; policy: string };
    environment: Environment;
    now: string;
    /** Known policy versions: ref → hashes. */
    policies: Record<string, string[]>;
    /** Revoked artifact ids. */
    revoked: string[];
    /** Revoked key ids. */
    revoked_kids: string[];
    /** One artifact id per earlier use; all earlier uses fall into the current rate window. */
    consumed: string[];
    /** When true, the key and revocation views are stale (lookups fail). */
    issuer_unavailable?: boolean;
    skew_seconds: number;
  };
  want: 'allow' | DenialReason;
}

function allowance(claim: UseClaim): number {
  switch (claim.terms.mode) {
    case 'single':
      return 1;
    case 'bounded':
      return claim.terms.max;
    case 'rate':
      return claim.terms.rate;
  }
}

export async function evaluateVector(vector: ArtifactVector, suite: CryptoSuite): Promise<Decision> {
  const ctx = vector.context;
  const now = parseSeconds(ctx.now);
  if (now === undefined) throw new Error(`vector ${vector.desc}: bad now`);
  const unavailable = () => {
    throw new Error('registry view is stale');
  };
  return decide(
    {
      header: vector.artifact ?? undefined,
      identity: ctx.identity,
      operation: ctx.operation,
      environment: ctx.environment,
      now,
    },
    {
      suite,
      skewSeconds: ctx.skew_seconds,
      keys: (kid) => {
        if (ctx.issuer_unavailable) unavailable();
        const raw = Object.hasOwn(vector.keys, kid) ? vector.keys[kid] : undefined;
        const publicKey = raw === undefined ? undefined : base64urlDecode(raw);
        return publicKey === undefined ? undefined : { publicKey, issuer: vector.issuer };
      },
      revocations: {
        isArtifactRevoked: (id) => (ctx.issuer_unavailable ? unavailable() : ctx.revoked.includes(id)),
        isKeyRevoked: (kid) => (ctx.issuer_unavailable ? unavailable() : ctx.revoked_kids.includes(kid)),
      },
      policies: (ref, hash) => Object.hasOwn(ctx.policies, ref) && ctx.policies[ref]!.includes(hash),
      consume: (claim) => ctx.consumed.filter((id) => id === claim.artifactId).length < allowance(claim),
    },
  );
}

export function outcome(decision: Decision): 'allow' | DenialReason {
  return decision.allow ? 'allow' : decision.reason;
}
