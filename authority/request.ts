// The shapes of what callers send, validated before anything else looks at them. The limits are
// the artifact's (core/artifact.ts LIMITS), so whatever passes here can be signed, and the CEL
// cost bounds (policy-cel.ts) hold for every input a rule can see.
import { z } from 'zod';
import { KID_PATTERN as KID, LIMITS, type Environment, type Operation } from '../core/artifact.js';
import { GovernanceError } from '../core/errors.js';
import { ARTIFACT_ID_PATTERN } from '../core/protocol.js';
import { ATTRIBUTE_LIMITS } from './policy-cel.js';

// The alphabets of core/artifact.ts, which keeps them private to its decoder.
const PRINTABLE_ID = /^[\x21-\x7e]+$/;
const PRINTABLE_TEXT = /^[\x20-\x7e]+$/;
const OP_NAME = /^[A-Za-z][A-Za-z0-9._-]*$/;
const PARAM_NAME = /^[a-z][a-z0-9_]{0,63}$/;
const SCOPE_ENTRY = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;
const ATTRIBUTE_NAME = /^[a-z][a-z0-9_.-]{0,63}$/;
export const POLICY_HASH = /^sha3-512:[0-9a-f]{128}$/;

/** Operation names under this prefix are administrative and never get an artifact. */
export const ADMIN_PREFIX = 'admin.';

export const identifier = z.string().max(LIMITS.stringChars).regex(PRINTABLE_ID, 'must be printable ASCII');
const text = z.string().max(LIMITS.stringChars).regex(PRINTABLE_TEXT, 'must be printable ASCII');

const scope = z
  .array(z.string().max(LIMITS.scopeEntryChars).regex(SCOPE_ENTRY, 'is not a scope entry'))
  .max(LIMITS.scopeEntries);

// "name" and "scope" sit beside the parameters in an artifact's op, so no parameter may take them.
const params = z
  .record(z.string().regex(PARAM_NAME, 'parameter names are lower case, digits and _'), text)
  .refine(
    (p) => !Object.hasOwn(p, 'name') && !Object.hasOwn(p, 'scope'),
    'name and scope are not parameter names',
  )
  .refine((p) => Object.keys(p).length <= LIMITS.params, `at most ${LIMITS.params} parameters`);

export const attributesSchema = z
  .record(
    z.string().regex(ATTRIBUTE_NAME, 'attribute names are lower case, digits, ., - and _'),
    z.string().max(ATTRIBUTE_LIMITS.valueChars).regex(PRINTABLE_TEXT, 'must be printable ASCII'),
  )
  .refine(
    (a) => Object.keys(a).length <= ATTRIBUTE_LIMITS.entries,
    `at most ${ATTRIBUTE_LIMITS.entries} attributes`,
  )
  .default({});

const environment = z
  .strictObject({
    runtime: identifier.optional(),
    region: identifier.optional(),
    tenancy: identifier.optional(),
  })
  .default({});

/**
 * The operation as the white paper writes it (§10.3): parameters inline beside name and scope;
 * or, as gRPC sends it, under `params` (an object, where an inline parameter is a string).
 */
const wireOperation = z
  .looseObject({
    name: z.string().max(LIMITS.opNameChars).regex(OP_NAME, 'is not an operation name'),
    scope: scope.default([]),
  })
  .transform((op, ctx): Operation => {
    const { name, scope: entries, ...rest } = op;
    const structured = typeof rest.params === 'object' ? rest.params : undefined;
    if (structured !== undefined) delete rest.params;
    const parsed = params.safeParse(structured === undefined ? rest : { ...(structured as object), ...rest });
    if (!parsed.success) {
      for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, path: [...issue.path] } as never);
      return z.NEVER;
    }
    if (structured !== undefined && Object.keys(rest).length > 0) {
      ctx.addIssue({
        code: 'custom',
        message: 'parameters are given either inline or under params, not both',
      });
      return z.NEVER;
    }
    return { name, params: parsed.data, scope: [...new Set(entries)].sort() };
  });

export const executeRequestSchema = z.strictObject({
  /** The identity the artifact is for; the caller's own when absent. */
  identity: identifier.optional(),
  op: wireOperation,
  env: environment,
  /** The policy to decide under; by default the one active policy that governs the operation. */
  policy: identifier.optional(),
  attributes: attributesSchema,
});

export interface ExecuteRequest {
  identity?: string | undefined;
  op: Operation;
  env: Partial<Environment>;
  policy?: string | undefined;
  attributes: Record<string, string>;
}

function describe(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.map(String).join('.') || 'request'}: ${issue.message}`)
    .join('; ');
}

/** Validates with a schema; throws GovernanceError('request.invalid') naming the fields. */
export function parseRequest<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (!result.success) throw new GovernanceError('request.invalid', describe(result.error));
  return result.data;
}

export function parseExecuteRequest(value: unknown): ExecuteRequest {
  const request = parseRequest(executeRequestSchema, value);
  if (request.op.name.startsWith(ADMIN_PREFIX)) {
    throw new GovernanceError('request.invalid', `operation names under ${ADMIN_PREFIX} are reserved`);
  }
  return request;
}

const reason = z.string().min(1).max(LIMITS.stringChars).regex(PRINTABLE_TEXT, 'must be printable ASCII');

export const adminSchemas = {
  publish: z.strictObject({ source: z.string().min(1), attributes: attributesSchema }),
  activate: z.strictObject({
    ref: identifier,
    hash: z.string().regex(POLICY_HASH, 'must be sha3-512:<128 hex>'),
    attributes: attributesSchema,
  }),
  rotate: z.strictObject({ kid: z.string().regex(KID, 'is not a key id'), attributes: attributesSchema }),
  revokeKey: z.strictObject({
    kid: z.string().regex(KID, 'is not a key id'),
    reason,
    attributes: attributesSchema,
  }),
  revokeArtifact: z.strictObject({
    artifact_id: z.string().regex(ARTIFACT_ID_PATTERN, 'is not an artifact id'),
    reason,
    attributes: attributesSchema,
  }),
  registerRuntime: z.strictObject({
    runtime: identifier.min(1),
    region: identifier.optional(),
    tenancy: identifier.optional(),
    description: z
      .string()
      .max(1024)
      .regex(/^[\x20-\x7e]*$/, 'must be printable ASCII')
      .optional(),
    attributes: attributesSchema,
  }),
} as const;
