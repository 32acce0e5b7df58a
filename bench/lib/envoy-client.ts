// The load generator's side of envoy.service.auth.v3.Authorization/Check: a grpc-js client over
// the proto the server loads, and how an answer is read as a decision.
import {
  credentials,
  makeClientConstructor,
  status as GrpcStatus,
  type Client,
  type ServiceError,
} from '@grpc/grpc-js';
import { loadEnvoyAuthProto } from '../../authz-server/envoy-proto.js';
import { DENIED_HEADER } from '../../core/protocol.js';
import type { EnvoyCheckRequest } from '../../devkit/check-request.js';

/** What the generator reads of a CheckResponse; every field may be absent on the wire. */
export interface CheckResponseView {
  status?: { code?: number };
  denied_response?: { headers?: { header?: { key?: string; value?: string } }[] };
}

/** 'allow', a denial reason ('artifact.replayed', or 'status-<code>' without the header), or 'error:<grpc code>'. */
export type Outcome = string;
export const ALLOW = 'allow';

export function outcomeOf(response: CheckResponseView): Outcome {
  const code = response.status?.code ?? 0;
  if (code === 0) return ALLOW;
  const reason = response.denied_response?.headers?.find((h) => h.header?.key === DENIED_HEADER)?.header
    ?.value;
  return reason ?? `status-${code}`;
}

export function errorOutcome(error: ServiceError): Outcome {
  return `error:${GrpcStatus[error.code] ?? error.code}`;
}

export type CheckCall = (request: EnvoyCheckRequest, deadlineMs: number) => Promise<Outcome>;

export interface CheckClient {
  check: CheckCall;
  /**
   * Optional: does now, before a run, what `check` would do to send `request` (encoding it),
   * and returns the request to pass to `check` instead.
   */
  prepare?(request: EnvoyCheckRequest): EnvoyCheckRequest;
  close(): void;
}

type CheckMethod = (
  request: EnvoyCheckRequest,
  options: { deadline: number },
  callback: (error: ServiceError | null, response?: CheckResponseView) => void,
) => void;

/**
 * `connections` clients, each on its own HTTP/2 connection (grpc-js would otherwise share one
 * subchannel between clients of the same target), used in turn.
 */
export function connectCheckClient(address: string, connections: number): CheckClient {
  const { service } = loadEnvoyAuthProto();
  const Authorization = makeClientConstructor(service, 'Authorization');
  const clients: Client[] = [];
  for (let i = 0; i < connections; i++) {
    clients.push(
      new Authorization(address, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }),
    );
  }
  let turn = 0;
  return {
    check(request, deadlineMs) {
      const client = clients[turn++ % clients.length] as unknown as { Check: CheckMethod };
      return new Promise((resolve) => {
        client.Check(request, { deadline: Date.now() + deadlineMs }, (error, response) => {
          resolve(error ? errorOutcome(error) : outcomeOf(response ?? {}));
        });
      });
    },
    close() {
      for (const client of clients) client.close();
    },
  };
}
