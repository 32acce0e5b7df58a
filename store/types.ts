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
  nowMs: number;
  /** When the state may be forgotten: the artifact's exp plus skew (epoch ms). */
  expiresAtMs: number;
  /** Opened atomically with the use when it is allowed: a runtime admission awaiting its attestation. */
  admission?: AdmissionGrant;
}

/**
 * An open runtime admission (white paper §10.3): the attestation id the enforcement point drew
 * at random and handed to the admitted workload, bound to what was admitted. It is the only
 * thing /runtime/attest accepts, once.
 */
export interface AdmissionGrant {
  /** "att_" + 32 Crockford base32 characters (160 random bits). */
  id: string;
  /** "sha3-512:<hex>" of what was admitted (identity, image, runtime). */
  binding: string;
  /** How long the admission stays open for its attestation. */
  ttlMs: number;
}

export interface UseStateStore {
  /**
   * Atomically consumes one use, whatever the request (no request id or retry earns a second
   * one). true: this presentation is allowed; its admission, if any, is opened in the same step.
   * single: at most one presentation is ever allowed per artifact id.
   * bounded: at most `max`, ever.
   * rate: a token bucket of capacity `rate`, refilled continuously at rate/window.
   */
  consume(request: UseRequest): Promise<boolean>;
  /**
   * Gives back the use that consume() took for `request`, and drops the admission it opened.
   * Only for a consume() that answered true after its request had been answered DENY (the
   * decision deadline passed while the store was slow): that use admitted nothing.
   */
  release(request: UseRequest): Promise<void>;
  /**
   * Atomically closes the open admission `id` of `artifactId` if its binding is `binding`: the
   * milliseconds it had left, or undefined (and nothing changes) when no such admission is open
   * — never admitted, already closed, expired, or bound to something else.
   */
  closeAdmission(artifactId: string, id: string, binding: string): Promise<number | undefined>;
  /** Opens a closed admission again (its attestation could not be recorded); no-op if open. */
  reopenAdmission(artifactId: string, admission: AdmissionGrant): Promise<void>;
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
