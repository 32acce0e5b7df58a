// What both use-state stores check and compute before touching state, so that the Redis and
// the in-memory implementation accept, refuse and reject exactly the same presentations.
import { LIMITS, type UseTerms } from '../core/artifact.js';
import { ARTIFACT_ID_PATTERN, ATTESTATION_ID_PATTERN } from '../core/protocol.js';
import { GovernanceError } from '../core/errors.js';
import type { AdmissionGrant, UseRequest } from './types.js';

const BINDING = /^sha3-512:[0-9a-f]{128}$/;
/** An admission stays open for its attestation at most a week (runtimeApi.attestWithinSeconds). */
export const MAX_ADMISSION_TTL_MS = 7 * 86_400_000;

/** A rate bucket in integer units: one token is `cost` units, so continuous refill is exact. */
export interface Bucket {
  capacity: number;
  cost: number;
  refillPerMs: number;
  /** Elapsed time after which the bucket is full whatever it held (capacity / refillPerMs). */
  fullAfterMs: number;
}

/** A validated presentation. */
export interface Presentation {
  artifactId: string;
  terms: UseTerms;
  nowMs: number;
  expiresAtMs: number;
  admission: AdmissionGrant | undefined;
}

function invalid(message: string): never {
  throw new GovernanceError('request.invalid', message);
}

function integerIn(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    invalid(`${name} must be an integer between ${min} and ${max}`);
  }
  return value;
}

function checkTerms(terms: unknown): UseTerms {
  if (terms === null || typeof terms !== 'object') invalid('terms must be an object');
  const t = terms as Record<string, unknown>;
  switch (t.mode) {
    case 'single':
      break;
    case 'bounded':
      integerIn(t.max, 'terms.max', 1, LIMITS.maxUses);
      break;
    case 'rate':
      integerIn(t.rate, 'terms.rate', 1, LIMITS.maxUses);
      integerIn(t.window, 'terms.window', 1, LIMITS.maxRateWindowSeconds);
      break;
    default:
      invalid('terms.mode must be single, bounded or rate');
  }
  return terms as UseTerms;
}

export function checkArtifactId(artifactId: unknown): string {
  if (typeof artifactId !== 'string' || !ARTIFACT_ID_PATTERN.test(artifactId)) {
    invalid('artifactId is not an artifact id');
  }
  return artifactId;
}

/** Validates an admission's id and binding (and its lifetime, when `withTtl`). */
export function checkAdmission(admission: unknown, withTtl: boolean): AdmissionGrant {
  if (admission === null || typeof admission !== 'object') invalid('admission must be an object');
  const a = admission as Record<string, unknown>;
  if (typeof a.id !== 'string' || !ATTESTATION_ID_PATTERN.test(a.id)) {
    invalid('admission.id is not an attestation id');
  }
  if (typeof a.binding !== 'string' || !BINDING.test(a.binding)) invalid('admission.binding is malformed');
  const ttlMs = withTtl ? integerIn(a.ttlMs, 'admission.ttlMs', 1, MAX_ADMISSION_TTL_MS) : 0;
  return { id: a.id, binding: a.binding, ttlMs };
}

/**
 * Validates a presentation. Throws GovernanceError('request.invalid') for a malformed one, so it
 * never reaches the store; returns undefined when the state's lifetime is already over, which
 * the caller refuses without writing.
 */
export function presentationOf(request: UseRequest): Presentation | undefined {
  const artifactId = checkArtifactId(request.artifactId);
  const terms = checkTerms(request.terms);
  const nowMs = integerIn(request.nowMs, 'nowMs', 0, Number.MAX_SAFE_INTEGER);
  const expiresAtMs = integerIn(request.expiresAtMs, 'expiresAtMs', 0, Number.MAX_SAFE_INTEGER);
  const admission = request.admission === undefined ? undefined : checkAdmission(request.admission, true);
  if (expiresAtMs <= nowMs) return undefined;
  return { artifactId, terms, nowMs, expiresAtMs, admission };
}

/**
 * Units per token are the window in ms, so a bucket of `rate` tokens per `window` s refills by
 * exactly `rate` units per ms. With rate ≤ 10^6 and window ≤ 86 400 s every quantity stays below
 * 2^53, exact both in JavaScript and in Redis Lua (doubles).
 */
export function bucketOf(terms: Extract<UseTerms, { mode: 'rate' }>): Bucket {
  const windowMs = terms.window * 1000;
  return { capacity: terms.rate * windowMs, cost: windowMs, refillPerMs: terms.rate, fullAfterMs: windowMs };
}

/** The use-state key of an artifact; the braces make it the Cluster hash tag. */
export function useKey(artifactId: string): string {
  return `gov:use:{${artifactId}}`;
}

/** An open admission of an artifact, in the same hash slot as the artifact's state. */
export function admissionKey(artifactId: string, admissionId: string): string {
  return `${useKey(artifactId)}:adm:${admissionId}`;
}

/** The bucket's units at `nowMs`; a clock that went backwards neither refills nor rewinds. */
export function refill(
  bucket: Bucket,
  state: { units: number; atMs: number },
  nowMs: number,
): { units: number; atMs: number } {
  if (nowMs <= state.atMs) return state;
  const elapsed = nowMs - state.atMs;
  const units =
    elapsed >= bucket.fullAfterMs
      ? bucket.capacity
      : Math.min(bucket.capacity, state.units + elapsed * bucket.refillPerMs);
  return { units, atMs: nowMs };
}
