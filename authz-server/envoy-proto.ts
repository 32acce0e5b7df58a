// Envoy's ext_authz v3 API, loaded from the official protos that @grpc/grpc-js-xds ships
// (never a hand-copied proto), plus the TypeScript shapes of the fields this server reads and
// writes. Field names are the proto names (keepCase), as in Envoy's documentation.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import {
  credentials,
  loadPackageDefinition,
  type ChannelOptions,
  type Metadata,
  type ServiceDefinition,
  type ServiceError,
} from '@grpc/grpc-js';
import { loadSync, type PackageDefinition } from '@grpc/proto-loader';

const require = createRequire(import.meta.url);
const DEPS = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');

export const AUTHORIZATION_SERVICE = 'envoy.service.auth.v3.Authorization';

/** Loads external_auth.proto and everything it imports; `defaults: false` keeps absent fields absent. */
export function loadEnvoyAuthProto(): { packageDefinition: PackageDefinition; service: ServiceDefinition } {
  const packageDefinition = loadSync('envoy/service/auth/v3/external_auth.proto', {
    keepCase: true,
    longs: String,
    enums: Number,
    defaults: false,
    oneofs: true,
    includeDirs: ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((dir) => join(DEPS, dir)),
  });
  const service = packageDefinition[AUTHORIZATION_SERVICE] as unknown as ServiceDefinition;
  return { packageDefinition, service };
}

/**
 * Marks a CheckRequest whose bytes are not a valid message (a truncated field, a wire type the
 * field cannot have). Left to grpc-js, a deserializer error becomes gRPC INTERNAL — an answer
 * `failure_mode_allow` could turn into an allow — so the server decodes such bytes to this
 * marker and denies them as request.invalid like any other malformed request.
 */
export const UNDECODABLE = Symbol('undecodable CheckRequest');

/** The Authorization service whose Check decodes undecodable bytes to `{ [UNDECODABLE]: true }`. */
export function checkServiceDenyingUndecodable(service: ServiceDefinition): ServiceDefinition {
  const check = service['Check'];
  if (check === undefined) throw new Error('Authorization service has no Check method');
  return {
    ...service,
    Check: {
      ...check,
      requestDeserialize: (bytes: Buffer): CheckRequestMessage => {
        try {
          return check.requestDeserialize(bytes) as CheckRequestMessage;
        } catch {
          return { [UNDECODABLE]: true };
        }
      },
    },
  };
}

/** A plaintext client of Authorization/Check, as Envoy calls it (govctl check, the tests). */
export interface AuthorizationClient {
  Check(
    request: unknown,
    metadata: Metadata,
    options: { deadline: number },
    callback: (error: ServiceError | null, response: CheckResponseMessage) => void,
  ): void;
  close(): void;
}

type AuthorizationConstructor = new (
  target: string,
  creds: ReturnType<typeof credentials.createInsecure>,
  options: ChannelOptions,
) => AuthorizationClient;
let authorizationConstructor: AuthorizationConstructor | undefined;

/** A client for `target` (host:port) built from the same protos as the server (loaded once). */
export function authorizationClient(target: string, options: ChannelOptions = {}): AuthorizationClient {
  authorizationConstructor ??= (
    loadPackageDefinition(loadEnvoyAuthProto().packageDefinition) as unknown as {
      envoy: { service: { auth: { v3: { Authorization: AuthorizationConstructor } } } };
    }
  ).envoy.service.auth.v3.Authorization;
  return new authorizationConstructor(target, credentials.createInsecure(), options);
}

/**
 * What the server reads of envoy.service.auth.v3.CheckRequest. Every field is optional and
 * attacker-influenced: the shell validates each one before use.
 */
export interface CheckRequestMessage {
  [UNDECODABLE]?: true;
  attributes?: {
    source?: { principal?: string };
    request?: {
      http?: {
        id?: string;
        method?: string;
        headers?: Record<string, string>;
        header_map?: { headers?: { key?: string; value?: string; raw_value?: Buffer }[] };
        path?: string;
        host?: string;
      };
    };
    context_extensions?: Record<string, string>;
  };
}

interface HeaderValueOption {
  header: { key: string; value: string };
  /** OVERWRITE_IF_EXISTS_OR_ADD: a caller cannot pre-set the headers the upstream trusts. */
  append_action: 2;
}

/** envoy.service.auth.v3.CheckResponse, as this server builds it. */
export interface CheckResponseMessage {
  status: { code: number; message: string };
  ok_response?: { headers: HeaderValueOption[]; headers_to_remove: string[] };
  denied_response?: { status: { code: number }; headers: HeaderValueOption[]; body: string };
}
