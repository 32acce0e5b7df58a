// A Check client far cheaper per request than grpc-js (bench/lib/envoy-client.ts): raw node:http2,
// one gRPC unary call per stream, no grpc-js call objects, no Error objects or stack traces on the
// hot path. Used by the overload scenario's phases by default (`--client http2`), where grpc-js
// spent ~450 µs of CPU per Check and could not offer twice the path's capacity on 2 cores.
// Same proto as the grpc-js client (proto-loader's serializer and deserializer of Check), same
// Outcome strings (outcomeOf, 'error:<grpc code name>').
import http2 from 'node:http2';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { loadEnvoyAuthProto } from '../../authz-server/envoy-proto.js';
import type { EnvoyCheckRequest } from '../../devkit/check-request.js';
import {
  connectCheckClient,
  outcomeOf,
  type CheckClient,
  type CheckResponseView,
  type Outcome,
} from './envoy-client.js';

export const CHECK_CLIENTS = ['grpc-js', 'http2'] as const;
export type CheckClientKind = (typeof CHECK_CLIENTS)[number];

const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';
const DEADLINE_EXCEEDED: Outcome = 'error:DEADLINE_EXCEEDED';
/** The session failed under the call (GOAWAY, reset, socket error) before a grpc-status came. */
const CONNECTION_LOST: Outcome = 'error:INTERNAL';
/**
 * A call past its deadline is answered DEADLINE_EXCEEDED at once, but its stream is left to the
 * server, which ends it at the same grpc-timeout: cancelling it (RST_STREAM CANCEL) would, past
 * ~1,000 cancels, make Node's HTTP/2 server close the whole session (nghttp2's rapid-reset
 * protection, GOAWAY INTERNAL_ERROR) and fail every call in flight on it. Streams still open this
 * long after their deadline are cancelled.
 */
const CANCEL_AFTER_DEADLINE_MS = 1000;

const errorNames = new Map<string, Outcome>(
  Object.entries(GrpcStatus)
    .filter(([, code]) => typeof code === 'number')
    .map(([name, code]) => [String(code), `error:${name}`]),
);
const errorOutcomeOf = (grpcStatus: string): Outcome => errorNames.get(grpcStatus) ?? `error:${grpcStatus}`;

/** The 5-byte gRPC prefix (uncompressed, big-endian length) followed by `message`. */
function grpcFrame(message: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(5 + message.length);
  frame[0] = 0;
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, 5);
  return frame;
}

export function connectHttp2CheckClient(address: string, connections: number): CheckClient {
  const check = loadEnvoyAuthProto().service['Check'];
  if (check === undefined) throw new Error('Authorization service has no Check method');
  const serialize = check.requestSerialize as (request: EnvoyCheckRequest) => Buffer;
  const deserialize = check.responseDeserialize as (bytes: Buffer) => CheckResponseView;
  const authority = `http://${address}`;
  const sessions: (http2.ClientHttp2Session | undefined)[] = new Array<undefined>(connections).fill(
    undefined,
  );
  const headersByDeadline = new Map<number, http2.OutgoingHttpHeaders>();
  /** Requests encoded by prepare, with their gRPC frame. */
  const encoded = new WeakMap<EnvoyCheckRequest, Buffer>();
  let turn = 0;
  let closed = false;

  const session = (): http2.ClientHttp2Session => {
    const slot = turn++ % connections;
    const existing = sessions[slot];
    if (existing !== undefined && !existing.closed && !existing.destroyed) return existing;
    const created = http2.connect(authority);
    const forget = () => {
      if (sessions[slot] === created) sessions[slot] = undefined;
    };
    // A new call after GOAWAY or an error opens a new session; the calls in flight on this one
    // end with its streams (CONNECTION_LOST).
    created.on('goaway', forget);
    created.on('error', forget);
    created.on('close', forget);
    created.on('frameError', () => {});
    sessions[slot] = created;
    return created;
  };

  const headersFor = (deadlineMs: number): http2.OutgoingHttpHeaders => {
    let headers = headersByDeadline.get(deadlineMs);
    if (headers === undefined) {
      headers = {
        ':method': 'POST',
        ':path': CHECK_PATH,
        'content-type': 'application/grpc',
        te: 'trailers',
        'grpc-timeout': `${Math.max(1, Math.round(deadlineMs))}m`,
      };
      headersByDeadline.set(deadlineMs, headers);
    }
    return headers;
  };

  return {
    prepare(request) {
      encoded.set(request, grpcFrame(serialize(request)));
      return request;
    },
    check(request, deadlineMs) {
      if (closed) return Promise.resolve(CONNECTION_LOST);
      const body = encoded.get(request) ?? grpcFrame(serialize(request));
      return new Promise<Outcome>((resolve) => {
        let stream: http2.ClientHttp2Stream;
        try {
          stream = session().request(headersFor(deadlineMs), { endStream: false });
        } catch {
          resolve(CONNECTION_LOST);
          return;
        }
        let done = false;
        let grpcStatus: string | undefined;
        let first: Buffer | undefined;
        let rest: Buffer[] | undefined;
        const finish = (outcome: Outcome) => {
          if (done) return;
          done = true;
          resolve(outcome);
        };
        let backstop: NodeJS.Timeout | undefined;
        // Timers run before I/O in each turn of the event loop: when this process lags (it shares
        // the cores with the path), an answer already waiting on the socket would be counted
        // missing. setImmediate runs after the turn's I/O, so such an answer is read first.
        const deadline = setTimeout(
          () =>
            setImmediate(() => {
              if (done) return;
              finish(DEADLINE_EXCEEDED);
              backstop = setTimeout(() => {
                if (!stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
              }, CANCEL_AFTER_DEADLINE_MS);
            }),
          deadlineMs,
        );
        const readStatus = (headers: http2.IncomingHttpHeaders) => {
          const value = headers['grpc-status'];
          if (typeof value === 'string') grpcStatus = value;
        };
        stream.on('response', readStatus);
        stream.on('trailers', readStatus);
        stream.on('data', (chunk: Buffer) => {
          if (first === undefined) first = chunk;
          else (rest ??= [first]).push(chunk);
        });
        stream.on('error', () => {});
        stream.on('close', () => {
          clearTimeout(deadline);
          if (backstop !== undefined) clearTimeout(backstop);
          if (done) return;
          if (grpcStatus === undefined) return finish(CONNECTION_LOST);
          if (grpcStatus !== '0') return finish(errorOutcomeOf(grpcStatus));
          const message = rest === undefined ? first : Buffer.concat(rest);
          if (message === undefined || message.length < 5) return finish(errorOutcomeOf('13'));
          let response: CheckResponseView;
          try {
            response = deserialize(message.subarray(5, 5 + message.readUInt32BE(1)));
          } catch {
            return finish(errorOutcomeOf('13'));
          }
          finish(outcomeOf(response));
        });
        stream.end(body);
      });
    },
    close() {
      closed = true;
      for (const s of sessions) s?.close();
    },
  };
}

/** The client `kind` (grpc-js: bench/lib/envoy-client.ts; http2: this file). */
export function connectClient(kind: CheckClientKind, address: string, connections: number): CheckClient {
  return kind === 'http2'
    ? connectHttp2CheckClient(address, connections)
    : connectCheckClient(address, connections);
}
