// Requesting artifacts from the authority, over gRPC (governance.v1.Authority/RequestArtifact)
// or its HTTP JSON API (POST /v1/govern/execute), with mTLS or a development bearer token.
import type { Artifact } from '../core/artifact.js';
import { GovernanceClientError } from './errors.js';
import { GrpcConnection, type TlsFiles } from './grpc.js';
import { httpJson } from './http.js';

export interface AuthorityClientOptions {
  /**
   * Where the authority answers: "host:port" or "grpc://host:port" (gRPC, plaintext),
   * "grpcs://host:port" (gRPC over TLS), "http://…" or "https://…" (the HTTP API).
   */
  target: string;
  /** A development bearer token (`identity.devTokens` of the authority). */
  token?: string | undefined;
  /** TLS: the authority's CA and, for mTLS, this workload's certificate and key (its SVID). */
  tls?: TlsFiles | undefined;
  /** Deadline of one call (default 5000 ms). */
  timeoutMs?: number | undefined;
}

export interface ArtifactRequest {
  operation: { name: string; params?: Record<string, string>; scope?: string[] };
  /** The identity the artifact is for; by default the caller's own. */
  identity?: string;
  /** Where the operation will run; fields left out may be fixed by the policy rule. */
  environment?: { runtime?: string; region?: string; tenancy?: string };
  /** The policy ref to decide under; by default the one active policy governing the operation. */
  policy?: string;
  /** Request attributes the policy sees (e.g. a ticket id); not bound into the artifact. */
  attributes?: Record<string, string>;
}

export interface IssuedArtifact {
  /** "auth_…" */
  id: string;
  /** The x-execution-artifact header value. */
  header: string;
  /** "lineage://op/…": where the operation's ledger events are chained. */
  lineage: string;
  /** RFC 3339 UTC. */
  expiresAt: string;
  artifact: Artifact;
}

export type Transport = 'grpc' | 'http';

/** Splits a target into its transport and address (URL for HTTP, host:port for gRPC). */
export function parseTarget(target: string): { transport: Transport; address: string; secure: boolean } {
  const match = /^([a-z]+):\/\/(.+)$/.exec(target);
  const scheme = match?.[1] ?? 'grpc';
  const rest = match?.[2] ?? target;
  if (scheme === 'http' || scheme === 'https')
    return { transport: 'http', address: target.replace(/\/+$/, ''), secure: scheme === 'https' };
  if (scheme === 'grpc' || scheme === 'grpcs')
    return { transport: 'grpc', address: rest, secure: scheme === 'grpcs' };
  throw new Error(`target ${target}: use host:port, grpc://, grpcs://, http:// or https://`);
}

interface GrpcIssued {
  artifact_id: string;
  artifact: string;
  artifact_json: string;
  lineage: string;
  expires_at: string;
}

interface HttpIssued {
  artifact_id: string;
  artifact: Artifact;
  artifact_header: string;
  lineage: string;
}

export class AuthorityClient {
  private readonly transport: Transport;
  private readonly address: string;
  private grpc: GrpcConnection | undefined;

  constructor(private readonly options: AuthorityClientOptions) {
    const target = parseTarget(options.target);
    if (target.secure && !options.tls)
      throw new Error(`target ${options.target} needs tls (at least the authority's CA)`);
    this.transport = target.transport;
    this.address = target.address;
  }

  /**
   * Asks for an artifact for one operation. Resolves only when the authority issued one (and
   * ledgered the issuance); a denial rejects with GovernanceClientError carrying its reason
   * (policy.denied, identity.unauthenticated, request.invalid, …).
   */
  async requestArtifact(request: ArtifactRequest): Promise<IssuedArtifact> {
    const operation = {
      name: request.operation.name,
      params: request.operation.params ?? {},
      scope: request.operation.scope ?? [],
    };
    if (this.transport === 'http') {
      const issued = await httpJson<HttpIssued>(
        `${this.address}/v1/govern/execute`,
        {
          ...(request.identity !== undefined ? { identity: request.identity } : {}),
          op: operation,
          env: request.environment ?? {},
          ...(request.policy !== undefined ? { policy: request.policy } : {}),
          attributes: request.attributes ?? {},
        },
        this.options,
      );
      return {
        id: issued.artifact_id,
        header: issued.artifact_header,
        lineage: issued.lineage,
        expiresAt: issued.artifact.exp,
        artifact: issued.artifact,
      };
    }
    const issued = await this.connection().call<GrpcIssued>('Authority', 'RequestArtifact', {
      identity: request.identity ?? '',
      operation,
      environment: request.environment ?? {},
      policy: request.policy ?? '',
      attributes: request.attributes ?? {},
    });
    let artifact: Artifact;
    try {
      artifact = JSON.parse(issued.artifact_json) as Artifact;
    } catch {
      throw new GovernanceClientError('internal.error', 'the authority sent an unreadable artifact_json');
    }
    return {
      id: issued.artifact_id,
      header: issued.artifact,
      lineage: issued.lineage,
      expiresAt: issued.expires_at,
      artifact,
    };
  }

  /** The gRPC connection (for the Admin and Proof services too); only for gRPC targets. */
  connection(): GrpcConnection {
    if (this.transport !== 'grpc') throw new Error(`${this.options.target} is not a gRPC target`);
    this.grpc ??= new GrpcConnection({
      address: this.address,
      tls: this.options.tls,
      token: this.options.token,
      timeoutMs: this.options.timeoutMs,
    });
    return this.grpc;
  }

  close(): void {
    this.grpc?.close();
  }
}
