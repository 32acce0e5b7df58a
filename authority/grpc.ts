// The gRPC face of the authority (proto/governance/v1/authority.proto), with the standard health
// service and server reflection so that grpcurl-style tools work. With TLS configured, every
// connection must present a client certificate that chains to the configured CA; the caller is
// the SPIFFE ID in it. Requests are converted to the JSON shapes the HTTP API takes and validated
// by the same code.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  Metadata,
  Server,
  status,
  type sendUnaryData,
  type ServerUnaryCall,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { loadSync, type PackageDefinition } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation } from 'grpc-health-check';
import { canonicalize } from '../core/canonical.js';
import { isGovernanceError, type Code } from '../core/errors.js';
import { REASON_TRAILER } from '../core/protocol.js';
import type { Authority, Denied, Outcome } from './authority.js';
import { authenticate, type Caller, type IdentityOptions } from './identity.js';
import { grpcServerCredentials, type GrpcTls } from '../service/grpc-tls.js';

export const PROTO_FILE = 'proto/governance/v1/authority.proto';
export const SERVICES = ['governance.v1.Authority', 'governance.v1.Admin', 'governance.v1.Proof'] as const;
/** Big enough for the largest policy document (256 KiB) and a full proof page. */
const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

/** The proto file, found from this module in the source tree and in dist/. */
export function protoPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++, dir = dirname(dir)) {
    if (existsSync(join(dir, PROTO_FILE))) return join(dir, PROTO_FILE);
  }
  throw new Error(`${PROTO_FILE} not found next to the authority's code`);
}

export function loadAuthorityProto(): PackageDefinition {
  return loadSync(protoPath(), {
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: true,
    oneofs: true,
  });
}

const STATUS_OF: Partial<Record<Code, status>> = {
  'identity.unauthenticated': status.UNAUTHENTICATED,
  'request.invalid': status.INVALID_ARGUMENT,
  'policy.invalid': status.INVALID_ARGUMENT,
  'key.invalid': status.INVALID_ARGUMENT,
  'policy.denied': status.PERMISSION_DENIED,
  'policy.unknown': status.FAILED_PRECONDITION,
  'ledger.unavailable': status.UNAVAILABLE,
  'issuer.unavailable': status.UNAVAILABLE,
  // A proof of what no checkpoint covers yet: the same question succeeds later.
  'ledger.head.mismatch': status.NOT_FOUND,
};

interface GrpcError {
  code: status;
  details: string;
  metadata: Metadata;
}

function failure(
  reason: Code,
  message: string,
  code: status = STATUS_OF[reason] ?? status.INTERNAL,
): GrpcError {
  const metadata = new Metadata();
  metadata.set(REASON_TRAILER, reason);
  return { code, details: `${reason}: ${message}`, metadata };
}

export interface GrpcServerOptions {
  host: string;
  port: number;
  /**
   * PEM files, read again while serving (service/grpc-tls.ts); a client CA is required, since a
   * client certificate is how a caller is identified. Without them the server speaks plaintext
   * and only bearer tokens authenticate.
   */
  tls?: GrpcTls & { clientCaFile: string };
  /** Serve gRPC server reflection (default true). */
  reflection?: boolean;
  /** Hears why files on disk were not taken up (the last good ones stay in service). */
  onTlsProblem?: (problem: string) => void;
  identity: IdentityOptions;
}

export interface RunningServer {
  port: number;
  close(): Promise<void>;
}

/** A denial may carry its own status (a proof read that found nothing is NOT_FOUND). */
type HandlerOutcome = Outcome<object> | (Denied & { code: status });
type Handler = (caller: Caller, request: Record<string, unknown>) => Promise<HandlerOutcome>;

/** Empty proto3 strings mean "not given". */
function given(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function environmentOf(env: unknown): Record<string, string> {
  const e = (env ?? {}) as Record<string, unknown>;
  const out: Record<string, string> = {};
  for (const key of ['runtime', 'region', 'tenancy']) {
    const value = given(e[key]);
    if (value !== undefined) out[key] = value;
  }
  return out;
}

const json = (value: unknown) => (value === undefined || value === null ? '' : canonicalize(value));

function authorityHandlers(authority: Authority): Record<string, Record<string, Handler>> {
  const ok = <T extends object>(value: T): Outcome<T> => ({ ok: true, value });
  return {
    Authority: {
      RequestArtifact: async (caller, req) => {
        const op = (req.operation ?? {}) as Record<string, unknown>;
        const outcome = await authority.issuance.execute(caller, {
          identity: given(req.identity),
          op: { name: op.name, scope: op.scope, params: op.params },
          env: environmentOf(req.environment),
          policy: given(req.policy),
          attributes: req.attributes,
        });
        if (!outcome.ok) return outcome;
        const { artifact, header, lineage } = outcome.value;
        return ok({
          artifact_id: artifact.id,
          artifact: header,
          artifact_json: canonicalize(artifact),
          lineage,
          expires_at: artifact.exp,
        });
      },
    },
    Admin: {
      PublishPolicy: (caller, req) =>
        authority.admin.publishPolicy(caller, { source: req.source, attributes: req.attributes }),
      ActivatePolicy: (caller, req) =>
        authority.admin.activatePolicy(caller, { ref: req.ref, hash: req.hash, attributes: req.attributes }),
      RotateIssuerKey: (caller, req) =>
        authority.admin.rotateKey(caller, { kid: req.kid, attributes: req.attributes }),
      RevokeKey: async (caller, req) =>
        revocation(
          await authority.admin.revokeKey(caller, {
            kid: req.kid,
            reason: req.reason,
            attributes: req.attributes,
          }),
        ),
      RevokeArtifact: async (caller, req) =>
        revocation(
          await authority.admin.revokeArtifact(caller, {
            artifact_id: req.artifact_id,
            reason: req.reason,
            attributes: req.attributes,
          }),
        ),
      RegisterRuntime: (caller, req) =>
        authority.admin.registerRuntime(caller, {
          runtime: req.runtime,
          region: given(req.region),
          tenancy: given(req.tenancy),
          description: given(req.description),
          attributes: req.attributes,
        }),
    },
    Proof: {
      GetCheckpoint: async () => {
        const { checkpoint, heartbeat } = await authority.proofs.checkpoint();
        return ok({ checkpoint: checkpoint ?? '', heartbeat_json: json(heartbeat) });
      },
      GetInclusionProof: async (_caller, req) =>
        ok({ proof_json: json(await authority.proofs.inclusion(Number(req.seq))) }),
      GetConsistencyProof: async (_caller, req) =>
        ok({ proof_json: json(await authority.proofs.consistency(Number(req.old))) }),
      ListIssuerKeys: async () => {
        const { roots, keys, active_kid } = await authority.proofs.issuers();
        return ok({ roots, key_records_json: keys.map(json), active_kid });
      },
      ListPolicies: async () => {
        const { active, versions } = await authority.proofs.policies();
        return ok({ versions: versions.map((v) => ({ ...v, active: active[v.ref] === v.hash })) });
      },
      GetPolicy: async (_caller, req) => {
        const version = typeof req.hash === 'string' ? await authority.proofs.policy(req.hash) : undefined;
        if (!version) {
          return {
            ok: false,
            reason: 'policy.unknown',
            message: 'no such policy version',
            code: status.NOT_FOUND,
          };
        }
        const { document, ...meta } = version;
        return ok({ ...meta, document_json: json(document) });
      },
      ListRevocations: async () =>
        ok({ revocations_json: (await authority.proofs.revocations()).revocations.map(json) }),
      GetLineage: async (_caller, req) => {
        const proof = await authority.proofs.lineage(String(req.op ?? ''));
        return ok({ proof_json: json(proof) });
      },
      ReadLedger: async (_caller, req) => {
        const page = await authority.proofs.ledger(Number(req.from_seq), Number(req.to_seq));
        return ok({ records_json: page.records.map(json), next_seq: page.next ?? 0 });
      },
    },
  };
}

async function revocation(
  outcome: Awaited<ReturnType<Authority['admin']['revokeKey']>>,
): Promise<Outcome<{ revocation_json: string; added: boolean }>> {
  return outcome.ok
    ? {
        ok: true,
        value: { revocation_json: canonicalize(outcome.value.revocation), added: outcome.value.added },
      }
    : outcome;
}

export async function startGrpcServer(
  authority: Authority,
  options: GrpcServerOptions,
): Promise<RunningServer> {
  const definition = loadAuthorityProto();
  const server = new Server({
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  });
  const handlers = authorityHandlers(authority);
  for (const [name, methods] of Object.entries(handlers)) {
    const service = definition[`governance.v1.${name}`] as unknown as ServiceDefinition;
    const implementation: UntypedServiceImplementation = {};
    for (const [method, handler] of Object.entries(methods)) {
      implementation[method] = (
        call: ServerUnaryCall<Record<string, unknown>, object>,
        callback: sendUnaryData<object>,
      ) => {
        const peer = call.getAuthContext?.()?.sslPeerCertificate;
        const authorization = call.metadata.get('authorization')[0];
        const caller = authenticate(
          {
            transport: 'grpc',
            // grpc-js asks for client certificates and rejects unverified ones when TLS is on.
            ...(peer?.raw ? { verifiedCertificate: peer } : {}),
            ...(typeof authorization === 'string' ? { authorization } : {}),
          },
          options.identity,
        );
        handler(caller, call.request ?? {}).then(
          (outcome) =>
            outcome.ok
              ? callback(null, outcome.value)
              : callback(
                  failure(outcome.reason, outcome.message, 'code' in outcome ? outcome.code : undefined),
                ),
          (e: unknown) =>
            callback(
              isGovernanceError(e)
                ? failure(e.code, e.message)
                : failure('internal.error', 'unexpected error'),
            ),
        );
      };
    }
    server.addService(service, implementation);
  }
  const health = new HealthImplementation({
    '': 'SERVING',
    ...Object.fromEntries(SERVICES.map((s) => [s, 'SERVING'])),
  });
  health.addToServer(server);
  if (options.reflection !== false) new ReflectionService(definition).addToServer(server);

  const credentials = grpcServerCredentials(options.tls, options.onTlsProblem ?? (() => {}));
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${options.host}:${options.port}`, credentials, (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        health.setStatus('', 'NOT_SERVING');
        server.tryShutdown(() => resolve());
      }),
  };
}
