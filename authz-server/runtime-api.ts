// The runtime API (white paper §10.3, §6.3): POST /runtime/admit verifies an artifact against a
// workload with the same decision as a Check; POST /runtime/attest records that an admitted
// workload completed, as a signed attestation and the last four stages of its lineage. Bodies
// are small, strictly validated JSON; the caller's identity comes from the configured source.
import type { IncomingHttpHeaders } from 'node:http';
import { randomBytes, type KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import { z } from 'zod';
import { LIMITS, decodeArtifact, lineageOf } from '../core/artifact.js';
import { ATTESTATION_ID_PATTERN } from '../core/protocol.js';
import { canonicalBytes, type JsonValue } from '../core/canonical.js';
import type { CryptoSuite } from '../core/crypto.js';
import { verifySignature } from '../core/decision.js';
import { base64urlEncode, hexEncode } from '../core/encoding.js';
import { isGovernanceError, type DenialReason } from '../core/errors.js';
import type { LedgerEvent } from '../core/event.js';
import { signSync } from '../core/keys.js';
import { formatMillis, parseMillis } from '../core/time.js';
import type { LedgerWriter } from '../ledger/types.js';
import type { UseStateStore } from '../store/types.js';
import { admissionBinding, attestationIdOf, signAttestation, type Attestation } from '../core/attestation.js';
import type { RuntimeApiConfig } from './config.js';
import type { Enforcer, RegistrySource } from './enforcer.js';
import { httpStatusOf } from './responses.js';

const SHA3_REF = /^sha3-512:[0-9a-f]{128}$/;
const printable = z
  .string()
  .regex(/^[\x21-\x7e]+$/)
  .max(256);
const artifactField = z.union([z.string().max(LIMITS.headerChars), z.record(z.string(), z.unknown())]);
const workloadSchema = z.strictObject({ image: z.string().regex(SHA3_REF), runtime: printable });

const admitSchema = z.strictObject({ artifact: artifactField, workload: workloadSchema });
const attestSchema = z.strictObject({
  artifact: artifactField,
  attestation_id: z.string().regex(ATTESTATION_ID_PATTERN),
  workload: workloadSchema,
  result_digest: z.string().regex(SHA3_REF),
  /** When the workload started, if it knows (RFC 3339 UTC with milliseconds). */
  started_at: z
    .string()
    .refine((t) => parseMillis(t) !== undefined, 'must be RFC 3339 UTC with milliseconds')
    .optional(),
});

export interface RuntimeApiDeps {
  config: RuntimeApiConfig;
  enforcer: Enforcer;
  registry: RegistrySource;
  useState: UseStateStore;
  ledger: LedgerWriter;
  suite: CryptoSuite;
  clock: () => number;
  producer: { id: string; kid: string; privateKey: KeyObject };
  logger: Logger;
  /** The decision deadline: how long the use-state store may take to close an admission. */
  deadlineMs: number;
}

const LATE = Symbol('late');

/** `promise`'s value, or LATE when it has not settled within `ms`. */
async function withinDeadline<T>(promise: Promise<T>, ms: number): Promise<T | typeof LATE> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<typeof LATE>((resolve) => {
    timer = setTimeout(() => resolve(LATE), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

export interface ApiResponse {
  status: number;
  body: unknown;
}

function problem(status: number, error: string, detail: string): ApiResponse {
  return { status, body: { error, detail } };
}

/** The x-forwarded-client-cert URI of exactly one client certificate, as the sidecar set it. */
function xfccUri(value: string): string | undefined {
  if (value.includes(',')) return undefined;
  for (const pair of value.split(';')) {
    const eq = pair.indexOf('=');
    if (eq > 0 && pair.slice(0, eq).trim().toLowerCase() === 'uri') {
      const uri = pair
        .slice(eq + 1)
        .trim()
        .replace(/^"(.*)"$/, '$1');
      return /^[\x21-\x7e]{1,512}$/.test(uri) ? uri : undefined;
    }
  }
  return undefined;
}

function callerIdentity(config: RuntimeApiConfig, headers: IncomingHttpHeaders): string | undefined {
  const source = config.identity;
  if (source.source === 'fixed') return source.identity;
  const name = source.source === 'xfcc' ? 'x-forwarded-client-cert' : source.header;
  const value = headers[name];
  if (typeof value !== 'string') return undefined;
  if (source.source === 'xfcc') return xfccUri(value);
  return /^[\x21-\x7e]{1,512}$/.test(value) ? value : undefined;
}

function requestIdOf(headers: IncomingHttpHeaders): string | undefined {
  const id = headers['x-request-id'];
  return typeof id === 'string' && /^[\x21-\x7e]{1,128}$/.test(id) ? id : undefined;
}

/** The artifact as its header encoding; an object is re-encoded canonically (the signature covers canonical bytes). */
function artifactHeader(artifact: z.infer<typeof artifactField>): string | undefined {
  if (typeof artifact === 'string') return artifact;
  try {
    return base64urlEncode(canonicalBytes(artifact));
  } catch {
    return undefined;
  }
}

function invalidBody(error: z.ZodError): ApiResponse {
  const detail = error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');
  return problem(400, 'request.invalid', detail.slice(0, 1024));
}

export class RuntimeApi {
  constructor(private readonly deps: RuntimeApiDeps) {}

  async admit(body: unknown, headers: IncomingHttpHeaders): Promise<ApiResponse> {
    const parsed = admitSchema.safeParse(body);
    if (!parsed.success) return invalidBody(parsed.error);
    const header = artifactHeader(parsed.data.artifact);
    if (header === undefined) return problem(400, 'artifact.malformed', 'artifact object is not encodable');
    const attestationId = attestationIdOf(randomBytes(20));
    const verdict = await this.deps.enforcer.admit({
      artifactHeader: header,
      identity: callerIdentity(this.deps.config, headers),
      workload: parsed.data.workload,
      requestId: requestIdOf(headers),
      attestationId,
    });
    if (!verdict.allow) {
      return { status: httpStatusOf(verdict.reason), body: { admitted: false, ...verdict.record } };
    }
    return {
      status: 200,
      body: {
        admitted: true,
        artifact_id: verdict.artifact.id,
        attestation_id: attestationId,
        lineage: verdict.lineage,
        lineage_event: '03 admission.granted',
      },
    };
  }

  async attest(body: unknown, headers: IncomingHttpHeaders): Promise<ApiResponse> {
    const { registry, ledger, suite, clock, producer, useState, logger } = this.deps;
    const parsed = attestSchema.safeParse(body);
    if (!parsed.success) return invalidBody(parsed.error);
    const request = parsed.data;
    const halt = ledger.halt();
    if (halt) return problem(503, halt.reason, halt.message);
    const nowMs = clock();
    const freshness = registry.freshness(nowMs);
    if (!freshness.fresh)
      return problem(503, 'issuer.unavailable', freshness.problem ?? 'registry view is not fresh');
    const header = artifactHeader(request.artifact);
    let decoded: ReturnType<typeof decodeArtifact>;
    try {
      decoded = decodeArtifact(header ?? '');
    } catch (e) {
      return problem(400, 'artifact.malformed', (e as Error).message);
    }
    const { artifact } = decoded;
    const identity = callerIdentity(this.deps.config, headers);
    const fail = (reason: DenialReason, detail: string) => problem(403, reason, detail);
    try {
      verifySignature(decoded, suite, registry.keys);
      // The window and the use are not checked again (the admission checked them, and a workload
      // admitted before its artifact expired still reports what it ran), but revocation is: a
      // revoked artifact or key attests nothing more.
      if (
        registry.revocations.isArtifactRevoked(artifact.id) ||
        registry.revocations.isKeyRevoked(artifact.sig.kid)
      )
        return fail('artifact.revoked', 'artifact or signing key revoked');
    } catch (e) {
      if (isGovernanceError(e, 'artifact.signature.invalid'))
        return fail('artifact.signature.invalid', 'the artifact does not verify');
      return problem(503, 'issuer.unavailable', 'issuer keys or revocations cannot be resolved');
    }
    if (identity === undefined || identity !== artifact.sub)
      return fail('identity.mismatch', 'caller is not the artifact subject');
    if (decoded.operation.params.image !== request.workload.image)
      return fail('policy.mismatch', 'workload image is not the bound image');
    if (artifact.env.runtime !== request.workload.runtime)
      return fail('environment.mismatch', 'workload runtime is not the bound runtime');
    // The admission is closed before anything is recorded, so two attestations can never race;
    // it is opened again if the attestation cannot be recorded, so the workload can retry.
    const admission = {
      id: request.attestation_id,
      binding: admissionBinding(suite, { identity, workload: request.workload }),
    };
    const reopen = (ttlMs: number) =>
      useState
        .reopenAdmission(artifact.id, { ...admission, ttlMs })
        .catch((e: unknown) =>
          logger.error(
            { err: e, artifact_id: artifact.id },
            'an admission whose attestation was not recorded could not be reopened',
          ),
        );
    const closing = useState.closeAdmission(artifact.id, admission.id, admission.binding);
    let closed: number | undefined | typeof LATE;
    try {
      closed = await withinDeadline(closing, this.deps.deadlineMs);
    } catch (e) {
      return problem(503, 'state.unavailable', `admission could not be checked: ${(e as Error).message}`);
    }
    if (closed === LATE) {
      // Closed after the answer, if at all: open it again so the workload can retry.
      void closing.then((left) => (left === undefined ? undefined : reopen(left))).catch(() => undefined);
      return problem(503, 'state.unavailable', `admission not checked within ${this.deps.deadlineMs} ms`);
    }
    const leftMs = closed;
    if (leftMs === undefined) {
      return fail(
        'admission.unknown',
        'no open admission has this attestation_id (never admitted, already attested, expired, or another workload)',
      );
    }
    const expectedId = admission.id;

    const lineage = lineageOf(artifact.id);
    const time = formatMillis(nowMs);
    const attestation: Attestation = signAttestation(
      {
        v: '1',
        attestation_id: expectedId,
        artifact_id: artifact.id,
        lineage,
        runtime_identity: identity,
        workload: request.workload,
        policy: { ref: artifact.pol.ref, hash: artifact.pol.hash },
        result_digest: request.result_digest,
        attester: producer.id,
        time,
      },
      producer.kid,
      (message) => signSync(producer.privateKey, message),
    );
    const attestationHash = 'sha3-512:' + hexEncode(suite.sha3_512(canonicalBytes(attestation)));
    const base = {
      v: '1' as const,
      time,
      producer: producer.id,
      lineage,
      identity,
      operation: artifact.op.name,
      policy_required: artifact.pol.ref,
      policy_hash: artifact.pol.hash,
      artifact_id: artifact.id,
      issuer: artifact.iss,
      runtime: request.workload.runtime,
    };
    const events: LedgerEvent[] = [
      {
        ...base,
        type: 'execution.started',
        data: {
          image: request.workload.image,
          ...(request.started_at ? { started_at: request.started_at } : {}),
        },
      },
      { ...base, type: 'attestation.signed', data: { attestation: attestation as unknown as JsonValue } },
      { ...base, type: 'execution.completed', data: { result_digest: request.result_digest } },
      {
        ...base,
        type: 'evidence.committed',
        data: { attestation_id: expectedId, attestation_hash: attestationHash },
      },
    ];
    try {
      await ledger.append(events);
    } catch (e) {
      await reopen(leftMs);
      return problem(503, 'ledger.unavailable', `attestation not recorded: ${(e as Error).message}`);
    }
    return { status: 200, body: { attestation, lineage, lineage_events: events.map((e) => e.type) } };
  }
}
