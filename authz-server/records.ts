// What a decision leaves behind: the denial record of white paper §4.4 (the JSON body Envoy
// returns and the execution.denied event), and the two events of an allowed operation's
// lineage. Fields come from validated inputs only; free text is forced to printable ASCII and
// bounded, so no request can make an event unencodable (which would turn into a ledger error).
import { decodeArtifact, lineageOf, type Artifact } from '../core/artifact.js';
import type { ArtifactFacts } from '../core/decision.js';
import type { DenialReason } from '../core/errors.js';
import type { LedgerEvent } from '../core/event.js';
import { formatMillis } from '../core/time.js';

/** §4.4: what a denial says, in the body returned to the caller and in the ledger. */
export interface DenialRecord {
  event: 'execution.denied';
  reason: DenialReason;
  identity?: string;
  operation?: string;
  policy_required?: string;
  artifact_id?: string;
  /** False when the artifact parsed but its signature was not (or could not be) verified. */
  artifact_verified?: boolean;
  issuer?: string;
  runtime: string;
  ts: string;
  request_id?: string;
}

/**
 * Who asked for what, as far as a decision got: the part of its record the request gives. A
 * decision replaces it (never edits it) as it learns more, so that a denial names only what
 * was established before it: the operation once the request was routed, the runtime once its
 * environment was resolved.
 */
export interface RequestSubject {
  readonly requestId?: string | undefined;
  /** The caller's trace (core/trace.ts), for the decision log only. */
  readonly traceId?: string | undefined;
  readonly identity?: string | undefined;
  /** The artifact header as presented; a denial names what it parses to if nothing verified it. */
  readonly artifactHeader?: string | undefined;
  readonly runtime: string;
  /** The operation decided on and the policy its route requires. */
  readonly operation?: { readonly name: string; readonly policy: string } | undefined;
}

/** Everything known about one decision when it ends, whichever way. */
export interface DecisionSubject {
  readonly nowMs: number;
  readonly identity: string | undefined;
  readonly requestId: string | undefined;
  readonly traceId: string | undefined;
  readonly operation: string | undefined;
  readonly policyRequired: string | undefined;
  readonly runtime: string;
  readonly artifact: ArtifactFacts | undefined;
}

/** What the denial record may say about an artifact nobody verified: it parsed, nothing more. */
function unverifiedFacts(header: string | undefined): ArtifactFacts | undefined {
  if (header === undefined || header === '') return undefined;
  try {
    const { artifact } = decodeArtifact(header);
    return {
      id: artifact.id,
      iss: artifact.iss,
      kid: artifact.sig.kid,
      policyRef: artifact.pol.ref,
      verified: false,
    };
  } catch {
    return undefined;
  }
}

/** The subject of a decision that started at `nowMs`; `artifact` is what decide() established, if it returned. */
export function decisionSubject(
  nowMs: number,
  request: RequestSubject,
  artifact: ArtifactFacts | undefined,
): DecisionSubject {
  return {
    nowMs,
    identity: request.identity,
    requestId: request.requestId,
    traceId: request.traceId,
    operation: request.operation?.name,
    policyRequired: request.operation?.policy,
    runtime: request.runtime,
    artifact: artifact ?? unverifiedFacts(request.artifactHeader),
  };
}

const MAX_DETAIL = 256;

/** Printable ASCII, at most `max` characters: safe in headers, logs and canonical JSON. */
export function asciiText(text: string, max = MAX_DETAIL): string {
  const cut = text.length > max ? text.slice(0, max) : text;
  return cut.replace(/[^\x20-\x7e]/g, '?');
}

export function denialRecord(subject: DecisionSubject, reason: DenialReason): DenialRecord {
  const record: DenialRecord = {
    event: 'execution.denied',
    reason,
    runtime: subject.runtime,
    ts: formatMillis(subject.nowMs),
  };
  if (subject.identity !== undefined) record.identity = subject.identity;
  if (subject.operation !== undefined) record.operation = subject.operation;
  if (subject.policyRequired !== undefined) record.policy_required = subject.policyRequired;
  if (subject.artifact !== undefined) {
    record.artifact_id = subject.artifact.id;
    record.artifact_verified = subject.artifact.verified;
    record.issuer = subject.artifact.iss;
  }
  if (subject.requestId !== undefined) record.request_id = subject.requestId;
  return record;
}

export function denialEvent(
  record: DenialRecord,
  producer: string,
  detail: string,
  kid?: string,
): LedgerEvent {
  const { event: _type, ts: _ts, artifact_verified, ...fields } = record;
  const data: Record<string, string | boolean> = { detail: asciiText(detail) };
  if (artifact_verified !== undefined) data.artifact_verified = artifact_verified;
  if (kid !== undefined) data.kid = kid;
  return { v: '1', type: 'execution.denied', time: record.ts, producer, ...fields, data };
}

/** authorization.consumed and admission.granted, in the operation's lineage. */
export function admissionEvents(
  subject: DecisionSubject,
  artifact: Artifact,
  producer: string,
  admissionData: Record<string, string>,
): LedgerEvent[] {
  const base = {
    v: '1' as const,
    time: formatMillis(subject.nowMs),
    producer,
    lineage: lineageOf(artifact.id),
    identity: artifact.sub,
    operation: artifact.op.name,
    policy_required: subject.policyRequired ?? artifact.pol.ref,
    policy_hash: artifact.pol.hash,
    artifact_id: artifact.id,
    issuer: artifact.iss,
    runtime: subject.runtime,
    ...(subject.requestId !== undefined ? { request_id: subject.requestId } : {}),
  };
  return [
    { ...base, type: 'authorization.consumed', data: { use: artifact.use.mode, kid: artifact.sig.kid } },
    { ...base, type: 'admission.granted', data: admissionData },
  ];
}
