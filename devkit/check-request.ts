// CheckRequests shaped as Envoy's ext_authz filter sends them (gRPC, transport_api_version V3):
// the caller's verified SPIFFE ID in source.principal, the HTTP request with its pseudo-headers
// in request.http, and the route's context_extensions. The one builder for the benchmarks and
// `govctl check` (cli/commands/check.ts).
import { ARTIFACT_HEADER } from '../core/protocol.js';

/** What every request of a run shares: who calls, which route, and what the route adds. */
export interface RequestShape {
  /** attributes.source.principal; undefined sends none (no mTLS identity). */
  principal: string | undefined;
  method: string;
  path: string;
  host: string;
  contextExtensions: Record<string, string>;
  /**
   * The client's own request headers (lowercase names), besides the pseudo-headers,
   * x-forwarded-proto, x-request-id and the artifact; default CLIENT_HEADERS.
   */
  headers?: Record<string, string>;
}

/** The benchmark client's request headers. */
export const CLIENT_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'application/json',
  'user-agent': 'governance-bench',
};

interface SocketAddress {
  socket_address: { address: string; port_value: number };
}

/** The CheckRequest fields Envoy fills for an HTTP request (proto field names). */
export interface EnvoyCheckRequest {
  attributes: {
    source: { address: SocketAddress; principal?: string };
    destination: { address: SocketAddress };
    request: {
      time: { seconds: string; nanos: number };
      http: {
        id?: string;
        method: string;
        headers: Record<string, string>;
        path: string;
        host: string;
        scheme: string;
        protocol: string;
        /** Envoy sends -1 when the body length is unknown (int64, a string with longs: String). */
        size: string;
      };
    };
    context_extensions: Record<string, string>;
  };
}

/** "POST /v1/models/m:invoke" → method and path. */
export function parseRoute(route: string): { method: string; path: string } {
  const match = /^([A-Z]{1,16}) (\/\S*)$/.exec(route.trim());
  if (!match)
    throw new Error(`route must look like "POST /v1/models/m:invoke", got ${JSON.stringify(route)}`);
  return { method: match[1]!, path: match[2]! };
}

/**
 * One CheckRequest. `requestId` is Envoy's x-request-id (a fresh UUID per request; undefined
 * leaves it out), `artifact` the x-execution-artifact header value (undefined: no header).
 */
export function checkRequest(
  shape: RequestShape,
  requestId: string | undefined,
  artifact: string | undefined,
): EnvoyCheckRequest {
  const headers: Record<string, string> = {
    ':authority': shape.host,
    ':method': shape.method,
    ':path': shape.path,
    ':scheme': 'https',
    'x-forwarded-proto': 'https',
  };
  if (requestId !== undefined) headers['x-request-id'] = requestId;
  Object.assign(headers, shape.headers ?? CLIENT_HEADERS);
  if (artifact !== undefined) headers[ARTIFACT_HEADER] = artifact;
  const http: EnvoyCheckRequest['attributes']['request']['http'] = {
    method: shape.method,
    headers,
    path: shape.path,
    host: shape.host,
    scheme: 'https',
    protocol: 'HTTP/2',
    size: '-1',
  };
  if (requestId !== undefined) http.id = requestId;
  return {
    attributes: {
      source: {
        address: { socket_address: { address: '127.0.0.1', port_value: 43_210 } },
        ...(shape.principal === undefined ? {} : { principal: shape.principal }),
      },
      destination: { address: { socket_address: { address: '127.0.0.1', port_value: 10_000 } } },
      request: { time: { seconds: String(Math.floor(Date.now() / 1000)), nanos: 0 }, http },
      context_extensions: shape.contextExtensions,
    },
  };
}
