// A gRPC connection to the authority's governance.v1 services (proto/governance/v1/authority.proto),
// with mTLS or a development bearer token. Failures become GovernanceClientError carrying the
// reason code the authority put in the `governance-reason` trailer.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  credentials as grpcCredentials,
  loadPackageDefinition,
  Metadata,
  status,
  type Client,
  type ServiceError,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { REASON_TRAILER } from '../core/protocol.js';
import { GovernanceClientError, reasonOf } from './errors.js';

const PROTO_FILE = 'proto/governance/v1/authority.proto';

export type GovernanceService = 'Authority' | 'Admin' | 'Proof';

/** PEM contents: the CA that signed the server's certificate, and the client's own for mTLS. */
export interface TlsFiles {
  ca: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
}

/** The proto file, shipped with the package next to dist/ (and found from the source tree too). */
function protoPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++, dir = dirname(dir)) {
    if (existsSync(join(dir, PROTO_FILE))) return join(dir, PROTO_FILE);
  }
  throw new Error(`${PROTO_FILE} not found next to the client library`);
}

type ServiceConstructor = new (
  address: string,
  credentials: ReturnType<typeof grpcCredentials.createInsecure>,
) => Client;
let services: Record<GovernanceService, ServiceConstructor> | undefined;

function loadServices(): Record<GovernanceService, ServiceConstructor> {
  services ??= (
    loadPackageDefinition(
      loadSync(protoPath(), { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true }),
    ) as unknown as { governance: { v1: Record<GovernanceService, ServiceConstructor> } }
  ).governance.v1;
  return services;
}

type Unary = (
  request: object,
  metadata: Metadata,
  options: { deadline: number },
  callback: (error: ServiceError | null, response: unknown) => void,
) => void;

export interface GrpcConnectionOptions {
  /** host:port */
  address: string;
  tls?: TlsFiles | undefined;
  token?: string | undefined;
  timeoutMs?: number | undefined;
}

export class GrpcConnection {
  private readonly clients = new Map<GovernanceService, Client>();
  private readonly credentials;

  constructor(private readonly options: GrpcConnectionOptions) {
    const tls = options.tls;
    const pem = (value: string | Buffer | undefined) => (value === undefined ? null : Buffer.from(value));
    this.credentials = tls
      ? grpcCredentials.createSsl(pem(tls.ca), pem(tls.key), pem(tls.cert))
      : grpcCredentials.createInsecure();
  }

  private client(service: GovernanceService): Client {
    let client = this.clients.get(service);
    if (!client) {
      client = new (loadServices()[service])(this.options.address, this.credentials);
      this.clients.set(service, client);
    }
    return client;
  }

  /** Calls one unary method; rejects with GovernanceClientError. */
  call<T>(service: GovernanceService, method: string, request: object): Promise<T> {
    const client = this.client(service);
    const metadata = new Metadata();
    if (this.options.token !== undefined) metadata.set('authorization', `Bearer ${this.options.token}`);
    const unary = (client as unknown as Record<string, Unary>)[method];
    if (typeof unary !== 'function') throw new Error(`governance.v1.${service} has no method ${method}`);
    const deadline = Date.now() + (this.options.timeoutMs ?? 5000);
    return new Promise<T>((resolve, reject) => {
      unary.call(client, request, metadata, { deadline }, (error, response) => {
        if (!error) return resolve(response as T);
        const trailer = error.metadata?.get(REASON_TRAILER)[0];
        if (typeof trailer === 'string') {
          // The server's details read "<reason>: <message>"; keep the message only.
          const message = error.details.startsWith(`${trailer}: `)
            ? error.details.slice(trailer.length + 2)
            : error.details;
          return reject(new GovernanceClientError(reasonOf(trailer), message, error.code));
        }
        const unreachable = error.code === status.UNAVAILABLE || error.code === status.DEADLINE_EXCEEDED;
        reject(
          new GovernanceClientError(
            unreachable ? 'unreachable' : 'internal.error',
            `${this.options.address}: ${error.details || error.message}`,
            error.code,
          ),
        );
      });
    });
  }

  close(): void {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }
}
