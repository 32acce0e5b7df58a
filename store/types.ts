// The store contract: the domain-level atomic operations that the authority, the enforcement
// point and the ledger need. Two implementations pass one contract suite
// (test/store/contract.ts): Redis (production; standalone, Sentinel or Cluster) and in-memory
// (dev mode). Every operation either completes atomically or throws; callers turn a throw into
// a DENY. Keys are designed for Redis Cluster: each atomic operation touches one hash slot.
import type { JsonValue } from '../core/canonical.js';
import type { UseTerms } from '../core/artifact.js';
import type { KeyRecord, RegistryHeartbeat, RevocationRecord } from '../core/registry.js';

/** One presentation of an artifact, as the use-state store sees it. */
export interface UseRequest {
  artifactId: string;
  terms: UseTerms;
  /**
   * Envoy's request id (attributes.request.http.id). A Check retried for the same request within
   * `retryWindowMs` of the first decision gets the same answer (Envoy may send Check twice for one
   * request); after the window it is a replay like any other.
   */
  requestId: string | undefined;
  nowMs: number;
  /** When the state may be forgotten: the artifact's exp plus skew (epoch ms). */
  expiresAtMs: number;
  retryWindowMs: number;
}

export interface UseStateStore {
  /**
   * Atomically consumes one use. true: this presentation is allowed (a first use, a use within
   * the bound or the rate, or a retry of an allowed request within the retry window).
   * single: at most one request id is ever allowed per artifact id.
   * bounded: at most `max` distinct request ids, ever.
   * rate: a token bucket of capacity `rate`, refilled continuously at rate/window.
   */
  consume(request: UseRequest): Promise<boolean>;
}

export interface PolicyVersion {
  ref: string;
  /** "sha3-512:<hex>" of the canonical document (core/registry.ts policyHash). */
  hash: string;
  document: JsonValue;
  published_at: string;
}

export type RegistryChange =
  | { kind: 'key'; kid: string }
  | { kind: 'policy'; hash: string }
  | { kind: 'activation'; ref: string; hash: string }
  /** target: "artifact_id:<artifact id>" or "kid:<kid>". */
  | { kind: 'revocation'; target: string }
  | { kind: 'heartbeat' };

export interface RegistryStore {
  /** Key records are immutable by kid; putting a different record under a known kid throws. */
  putKeyRecord(record: KeyRecord): Promise<void>;
  listKeyRecords(): Promise<KeyRecord[]>;
  /**
   * Policy versions are immutable by hash; putting the same hash again is a no-op (the same hash
   * under another ref throws). The hash must be policyHash() of the document.
   */
  putPolicyVersion(version: PolicyVersion): Promise<void>;
  getPolicyVersion(hash: string): Promise<PolicyVersion | undefined>;
  listPolicyVersions(): Promise<Omit<PolicyVersion, 'document'>[]>;
  /** Makes `hash` (a known version of `ref`) the active version; throws otherwise. */
  activatePolicy(ref: string, hash: string): Promise<void>;
  /** ref → active hash. */
  activePolicies(): Promise<Record<string, string>>;
  /** Adds a revocation; false when the target was already revoked. Never removed. */
  addRevocation(record: RevocationRecord): Promise<boolean>;
  listRevocations(): Promise<RevocationRecord[]>;
  putHeartbeat(heartbeat: RegistryHeartbeat): Promise<void>;
  latestHeartbeat(): Promise<RegistryHeartbeat | undefined>;
  /**
   * Changes after `cursor` ('0' for all), in order, waiting up to `blockMs` for the first
   * when there are none. Followers apply them to a local view. The change log is capped: a
   * cursor that fell behind it gets ChangesTrimmedError (store/registry-rules.ts): reload the
   * snapshot, then follow from its resumeCursor.
   */
  changes(
    cursor: string,
    count: number,
    blockMs: number,
  ): Promise<{ cursor: string; changes: RegistryChange[] }>;
}
