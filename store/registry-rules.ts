// What both registry stores check before storing, and how records are stored: shapes and sizes
// are validated here (a store is not trusted, so signatures are verified by the enforcement
// point against its pinned roots, not here), and every record is kept as canonical JSON so that
// "the same record again" is a byte comparison.
import { KID_PATTERN } from '../core/artifact.js';
import { z } from 'zod';
import { canonicalize, type JsonValue } from '../core/canonical.js';
import { nodeCrypto } from '../core/crypto-node.js';
import { GovernanceError, type Code } from '../core/errors.js';
import {
  policyHash,
  type KeyRecord,
  type RegistryHeartbeat,
  type RevocationRecord,
} from '../core/registry.js';
import { parseMillis, parseSeconds } from '../core/time.js';
import { ARTIFACT_ID_PATTERN } from '../core/protocol.js';
import type { PolicyVersion, RegistryChange } from './types.js';

/** Key records, revocations and heartbeats: a few hundred bytes each when well formed. */
export const MAX_RECORD_BYTES = 16 * 1024;
/** A policy version including its document. */
export const MAX_POLICY_BYTES = 256 * 1024;
/** Changes kept for followers; one that falls further behind reloads the snapshot. */
export const DEFAULT_CHANGE_CAP = 100_000;
export const MAX_CHANGES_PER_READ = 1_000;
export const MAX_BLOCK_MS = 60_000;

const PRINTABLE_ID = /^[\x21-\x7e]{1,256}$/;
const PRINTABLE_TEXT = /^[\x20-\x7e]{1,1024}$/;
const PUBLIC_KEY = /^[A-Za-z0-9_-]{43}$/;
const SIGNATURE = /^[A-Za-z0-9_-]{86}$/;
const POLICY_HASH = /^sha3-512:[0-9a-f]{128}$/;

const kid = z.string().regex(KID_PATTERN);
const printableId = z.string().regex(PRINTABLE_ID);
const secondsTime = z.string().refine((t) => parseSeconds(t) !== undefined, 'must be YYYY-MM-DDTHH:MM:SSZ');
// Revocations and heartbeats are stamped to the second or to the millisecond.
const anyTime = z
  .string()
  .refine(
    (t) => parseSeconds(t) !== undefined || parseMillis(t) !== undefined,
    'must be an RFC 3339 UTC time',
  );
const signature = z.strictObject({ alg: z.literal('ed25519'), kid, val: z.string().regex(SIGNATURE) });

const keyRecordSchema = z
  .strictObject({
    v: z.literal('1'),
    kid,
    role: z.enum(['issuer', 'producer', 'audit']),
    public_key: z.string().regex(PUBLIC_KEY),
    subject: printableId,
    not_before: secondsTime,
    not_after: secondsTime,
    cert: z.strictObject({ alg: z.literal('ed25519'), root_kid: kid, val: z.string().regex(SIGNATURE) }),
  })
  .refine(
    (r) => parseSeconds(r.not_after)! > parseSeconds(r.not_before)!,
    'not_after must follow not_before',
  );

const revocationSchema = z.strictObject({
  v: z.literal('1'),
  target: z.union([
    z.strictObject({ artifact_id: z.string().regex(ARTIFACT_ID_PATTERN) }),
    z.strictObject({ kid }),
  ]),
  reason: z.string().regex(PRINTABLE_TEXT),
  time: anyTime,
  by: printableId,
  sig: signature,
});

const heartbeatSchema = z.strictObject({
  v: z.literal('1'),
  issuer: printableId,
  time: anyTime,
  revocations: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  sig: signature,
});

const policyVersionSchema = z.strictObject({
  ref: printableId,
  hash: z.string().regex(POLICY_HASH),
  document: z.json(),
  published_at: anyTime,
});

const changeSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('key'), kid }),
  z.strictObject({ kind: z.literal('policy'), hash: z.string().regex(POLICY_HASH) }),
  z.strictObject({ kind: z.literal('activation'), ref: printableId, hash: z.string().regex(POLICY_HASH) }),
  z.strictObject({ kind: z.literal('revocation'), target: z.string().max(256) }),
  z.strictObject({ kind: z.literal('heartbeat') }),
]);

function validate<T>(schema: z.ZodType<T>, value: unknown, code: Code, what: string): T {
  const result = schema.safeParse(value);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join('.') || what}: ${i.message}`);
    throw new GovernanceError(code, `${what} is malformed: ${problems.join('; ')}`);
  }
  return result.data;
}

function canonicalWithin(value: unknown, maxBytes: number, code: Code, what: string): string {
  let json: string;
  try {
    json = canonicalize(value);
  } catch (cause) {
    throw new GovernanceError(code, `${what} has no canonical JSON form`, { cause });
  }
  if (Buffer.byteLength(json, 'utf8') > maxBytes) {
    throw new GovernanceError(code, `${what} is larger than ${maxBytes} bytes`);
  }
  return json;
}

export function storedKeyRecord(record: KeyRecord): { kid: string; json: string } {
  const parsed = validate(keyRecordSchema, record, 'key.invalid', 'key record');
  return { kid: parsed.kid, json: canonicalWithin(parsed, MAX_RECORD_BYTES, 'key.invalid', 'key record') };
}

/** Checks the shape, the size, and that `hash` is the hash of the document (before storing). */
export function storedPolicyVersion(version: PolicyVersion): {
  hash: string;
  ref: string;
  json: string;
  metaJson: string;
} {
  // Size first: the document is hashed only once it is known to be small. The schema is strict,
  // so the canonical form of what it accepts is this one.
  const json = canonicalWithin(version, MAX_POLICY_BYTES, 'policy.invalid', 'policy version');
  const parsed = validate(policyVersionSchema, version, 'policy.invalid', 'policy version');
  if (policyHash(nodeCrypto, parsed.document as JsonValue) !== parsed.hash) {
    throw new GovernanceError(
      'policy.invalid',
      `policy version ${parsed.ref}: hash is not the document's hash`,
    );
  }
  const { document: _document, ...meta } = parsed;
  return { hash: parsed.hash, ref: parsed.ref, json, metaJson: canonicalize(meta) };
}

/** The revocation's target as one string: "artifact_id:<id>" or "kid:<kid>" (never ambiguous). */
export function revocationTarget(record: RevocationRecord): string {
  return 'artifact_id' in record.target
    ? `artifact_id:${record.target.artifact_id}`
    : `kid:${record.target.kid}`;
}

export function storedRevocation(record: RevocationRecord): { target: string; json: string } {
  const parsed = validate(revocationSchema, record, 'request.invalid', 'revocation record');
  const json = canonicalWithin(parsed, MAX_RECORD_BYTES, 'request.invalid', 'revocation record');
  return { target: revocationTarget(parsed), json };
}

export function storedHeartbeat(heartbeat: RegistryHeartbeat): string {
  const parsed = validate(heartbeatSchema, heartbeat, 'request.invalid', 'registry heartbeat');
  return canonicalWithin(parsed, MAX_RECORD_BYTES, 'request.invalid', 'registry heartbeat');
}

export function storedChange(change: RegistryChange): string {
  return canonicalize(change);
}

/** Parses what a store holds; a malformed entry means the store cannot be relied on. */
function readBack<T>(schema: z.ZodType<T>, json: string, what: string): T {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (cause) {
    throw new GovernanceError('issuer.unavailable', `registry holds a ${what} that is not JSON`, { cause });
  }
  return validate(schema, value, 'issuer.unavailable', `stored ${what}`);
}

export const readKeyRecord = (json: string): KeyRecord => readBack(keyRecordSchema, json, 'key record');
export const readRevocation = (json: string): RevocationRecord =>
  readBack(revocationSchema, json, 'revocation record');
export const readHeartbeat = (json: string): RegistryHeartbeat =>
  readBack(heartbeatSchema, json, 'registry heartbeat');
export const readPolicyVersion = (json: string): PolicyVersion =>
  readBack(policyVersionSchema, json, 'policy version') as PolicyVersion;
export const readPolicyMeta = (json: string): Omit<PolicyVersion, 'document'> =>
  readBack(policyVersionSchema.omit({ document: true }), json, 'policy version');
export const readChange = (json: string): RegistryChange => readBack(changeSchema, json, 'change');

/** Validates the arguments of `changes()`; both stores accept the same ranges. */
export function checkChangeRead(count: number, blockMs: number): void {
  if (!Number.isSafeInteger(count) || count < 1 || count > MAX_CHANGES_PER_READ) {
    throw new GovernanceError(
      'request.invalid',
      `count must be an integer from 1 to ${MAX_CHANGES_PER_READ}`,
    );
  }
  if (!Number.isSafeInteger(blockMs) || blockMs < 0 || blockMs > MAX_BLOCK_MS) {
    throw new GovernanceError('request.invalid', `blockMs must be an integer from 0 to ${MAX_BLOCK_MS}`);
  }
}

/**
 * Thrown by `changes()` when changes after the cursor were trimmed from the capped change
 * stream: the follower has missed some. It must reload the snapshot (the list and get methods)
 * and then follow from `resumeCursor`, the newest change at the time of the error; changes
 * between that cursor and the snapshot are seen twice, which a follower that re-reads records
 * tolerates.
 */
export class ChangesTrimmedError extends GovernanceError {
  constructor(readonly resumeCursor: string) {
    super(
      'issuer.unavailable',
      `registry changes after this cursor were trimmed; reload the snapshot and resume from ${resumeCursor}`,
    );
  }
}

export function sortedBy<T>(items: T[], key: (item: T) => string): T[] {
  return items.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}
