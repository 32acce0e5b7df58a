// What both use-state stores check and compute before touching state, so that the Redis and
// the in-memory implementation accept, refuse and reject exactly the same presentations.
import { LIMITS, type UseTerms } from '../core/artifact.js';
import { GovernanceError } from '../core/errors.js';
import type { UseRequest } from './types.js';

const ARTIFACT_ID = /^auth_[0-9A-HJKMNP-TV-Z]{32}$/;
const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;
/** Envoy re-sends a Check within seconds; a longer window only keeps retry markers alive. */
export const MAX_RETRY_WINDOW_MS = 60_000;

/** A rate bucket in integer units: one token is `cost` units, so continuous refill is exact. */
export interface Bucket {
  capacity: number;
  cost: number;
  refillPerMs: number;
  /** Elapsed time after which the bucket is full whatever it held (capacity / refillPerMs). */
  fullAfterMs: number;
}

/** A validated presentation. `requestId` is undefined when it earns no retry privilege. */
export interface Presentation {
  artifactId: string;
  terms: UseTerms;
  requestId: string | undefined;
  nowMs: number;
  expiresAtMs: number;
  retryWindowMs: number;
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

/**
 * Validates a presentation. Throws GovernanceError('request.invalid') for a malformed one, so it
 * never reaches the store; returns undefined when the state's lifetime is already over, which
 * the caller refuses without writing.
 */
export function presentationOf(request: UseRequest): Presentation | undefined {
  const { artifactId, requestId } = request;
  if (typeof artifactId !== 'string' || !ARTIFACT_ID.test(artifactId)) {
    invalid('artifactId is not an artifact id');
  }
  const terms = checkTerms(request.terms);
  const nowMs = integerIn(request.nowMs, 'nowMs', 0, Number.MAX_SAFE_INTEGER);
  const expiresAtMs = integerIn(request.expiresAtMs, 'expiresAtMs', 0, Number.MAX_SAFE_INTEGER);
  const retryWindowMs = integerIn(request.retryWindowMs, 'retryWindowMs', 0, MAX_RETRY_WINDOW_MS);
  if (expiresAtMs <= nowMs) return undefined;
  // A request id that is absent, empty, oversized or not printable ASCII earns no retry privilege.
  const retryable = typeof requestId === 'string' && REQUEST_ID.test(requestId) && retryWindowMs > 0;
  return {
    artifactId,
    terms,
    requestId: retryable ? requestId : undefined,
    nowMs,
    expiresAtMs,
    retryWindowMs: retryable ? retryWindowMs : 0,
  };
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

/** The retry marker of one request, in the same hash slot as its artifact's state. */
export function retryKey(artifactId: string, requestId: string): string {
  return `${useKey(artifactId)}:req:${requestId}`;
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
