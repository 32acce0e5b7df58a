// The one list of outcome codes. Each code is at once a typed error code, a denial reason in
// CheckResponses and ledger events, and a Prometheus label value. Add a code here or nowhere.

interface CodeInfo {
  /** 'denial' codes end a request in DENY; 'failure' codes report a broken input or record. */
  readonly kind: 'denial' | 'failure';
  readonly summary: string;
}

export const CODES = {
  // Artifact verification (white paper §4.2), in the order the decision function checks them.
  'artifact.missing': { kind: 'denial', summary: 'no authorization artifact was presented' },
  'artifact.malformed': {
    kind: 'denial',
    summary: 'the artifact is not a canonical, well-formed artifact v1',
  },
  'artifact.signature.invalid': {
    kind: 'denial',
    summary:
      'the signature or content hash does not verify against a trusted issuer key (or the kid is unknown)',
  },
  'artifact.expired': { kind: 'denial', summary: 'now is outside the artifact validity window' },
  'identity.mismatch': { kind: 'denial', summary: 'the caller is not the identity the artifact is bound to' },
  'policy.mismatch': {
    kind: 'denial',
    summary: 'the bound operation or policy version does not match what is requested',
  },
  'environment.mismatch': {
    kind: 'denial',
    summary: 'the runtime environment does not satisfy the artifact environment binding',
  },
  'artifact.revoked': { kind: 'denial', summary: 'the artifact or its signing key has been revoked' },
  'artifact.replayed': {
    kind: 'denial',
    summary: 'the artifact use allowance is spent (single use consumed, bound reached, or rate window full)',
  },
  'issuer.unavailable': {
    kind: 'denial',
    summary: 'issuer keys or revocation state cannot be resolved within the freshness window',
  },
  // Enforcement point conditions that are not about the artifact itself.
  'operation.unmapped': { kind: 'denial', summary: 'the request maps to no governed operation' },
  'state.unavailable': {
    kind: 'denial',
    summary: 'the use-state store (nonces, counters, buckets) did not answer in time',
  },
  'ledger.unavailable': {
    kind: 'denial',
    summary: 'the decision cannot be recorded, or the ledger commit lag exceeds its window (halt)',
  },
  'internal.error': { kind: 'denial', summary: 'an unexpected error; fail closed' },
  'admission.unknown': {
    kind: 'denial',
    summary:
      'an attestation names no open admission (never admitted, already attested, past its window, or another workload)',
  },
  'overload.shed': {
    kind: 'denial',
    summary:
      "over capacity, or too late for the caller's deadline: refused before it was decided (503: retry)",
  },
  // Authority decisions.
  'identity.unauthenticated': { kind: 'denial', summary: 'the caller presented no valid credential' },
  'policy.denied': { kind: 'denial', summary: 'no rule of the active policy allows the operation' },
  'policy.unknown': { kind: 'denial', summary: 'no active policy exists for the requested reference' },
  'request.invalid': { kind: 'denial', summary: 'the request does not have the required shape' },
  // Failures reported by codecs, registries and verifiers (not request decisions).
  'encoding.invalid': { kind: 'failure', summary: 'bytes are not in the canonical encoding' },
  'policy.invalid': { kind: 'failure', summary: 'a policy document failed to parse or compile' },
  'key.invalid': { kind: 'failure', summary: 'a key or key record is malformed or not certified' },
  'config.invalid': { kind: 'failure', summary: 'the configuration is invalid' },
  'ledger.event.invalid': { kind: 'failure', summary: 'a ledger event does not have the required shape' },
  'ledger.hash.mismatch': {
    kind: 'failure',
    summary: 'a recomputed chain hash differs from the recorded one',
  },
  'ledger.signature.invalid': { kind: 'failure', summary: 'a producer or head signature does not verify' },
  'ledger.sequence.invalid': {
    kind: 'failure',
    summary: 'sequence numbers are missing, repeated or out of order',
  },
  'ledger.head.mismatch': { kind: 'failure', summary: 'the signed head does not cover exactly the chain' },
  'ledger.chain.truncated': {
    kind: 'failure',
    summary: 'the chain ends before the seq of a trusted head given to the verifier (cut short, or older)',
  },
  'ledger.lineage.invalid': { kind: 'failure', summary: 'an operation lineage is broken' },
  'ledger.lineage.order': {
    kind: 'failure',
    summary: "an operation's lineage stages are out of order (white paper §6.1)",
  },
  'ledger.batch.replayed': {
    kind: 'failure',
    summary: 'a producer batch is chained again (a copy of events already in the chain)',
  },
  'ledger.batch.stale': {
    kind: 'failure',
    summary: "a producer batch reached the ingest stream outside the replay window of its events' time",
  },
  'ledger.fenced': { kind: 'failure', summary: 'a stale sequencer was fenced off' },
  // Ledger v2: the tree, checkpoints, witnesses, proofs and redaction (docs/spec/ledger.md).
  'ledger.batch.missing': {
    kind: 'denial',
    summary:
      'a batch this producer appended is not proven in a witnessed checkpoint within the commit window (halt)',
  },
  'ledger.root.mismatch': {
    kind: 'failure',
    summary: 'the tree root recomputed from the records differs from the checkpoint',
  },
  'ledger.proof.invalid': {
    kind: 'failure',
    summary: 'an inclusion, consistency or exclusion proof does not verify',
  },
  'ledger.checkpoint.inconsistent': {
    kind: 'failure',
    summary: 'a checkpoint does not extend an earlier one (a fork, or a rewritten history)',
  },
  'ledger.checkpoint.rollback': {
    kind: 'failure',
    summary: 'a checkpoint is older than one already trusted or cosigned',
  },
  'ledger.witness.insufficient': {
    kind: 'failure',
    summary: 'a checkpoint lacks the cosignatures the witness policy requires',
  },
  'ledger.index.mismatch': {
    kind: 'failure',
    summary: "the lineage index recomputed from the records differs from the checkpoint's",
  },
  'ledger.redaction.invalid': {
    kind: 'failure',
    summary: 'a redacted value does not open its commitment',
  },
  // The ledger archive (store/archive-types.ts): where sealed tiles, bundles, checkpoints and
  // openings go, so that Redis keeps only a hot tail.
  'ledger.archive.conflict': {
    kind: 'failure',
    summary: 'an immutable archive object already holds other bytes (evidence is never overwritten)',
  },
  'ledger.archive.path': {
    kind: 'failure',
    summary: 'an archive path is malformed, or names a place where the archive cannot hold an object',
  },
  'ledger.archive.size': {
    kind: 'failure',
    summary: 'an archive object is larger than 64 MiB (refused when written and when read)',
  },
} as const satisfies Record<string, CodeInfo>;

export type Code = keyof typeof CODES;
export type DenialReason = {
  [K in Code]: (typeof CODES)[K]['kind'] extends 'denial' ? K : never;
}[Code];

export const DENIAL_REASONS = (Object.keys(CODES) as Code[]).filter(
  (code): code is DenialReason => CODES[code].kind === 'denial',
);

export function isDenialReason(value: unknown): value is DenialReason {
  return typeof value === 'string' && Object.hasOwn(CODES, value) && CODES[value as Code].kind === 'denial';
}

export class GovernanceError extends Error {
  override readonly name = 'GovernanceError';
  constructor(
    readonly code: Code,
    message: string = CODES[code].summary,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isGovernanceError(e: unknown, code?: Code): e is GovernanceError {
  return e instanceof GovernanceError && (code === undefined || e.code === code);
}
