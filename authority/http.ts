// The HTTP JSON face of the authority, for clients that do not speak gRPC: artifact requests in
// the white paper's shape (§10.3), the public proof endpoints (§14), /metrics and /healthz.
// node:http only. Bodies are bounded and must be application/json; every error is JSON with
// its reason code. With TLS configured, a client certificate is requested (not required: the
// proof endpoints are public), and a caller is identified by it only if it chains to the CA.
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { Code } from '../core/errors.js';
import { isGovernanceError } from '../core/errors.js';
import type { Authority } from './authority.js';
import { authenticate, type Caller, type IdentityOptions } from './identity.js';
import type { RunningServer } from './grpc.js';

export const MAX_BODY_BYTES = 64 * 1024;

export interface HttpServerOptions {
  host: string;
  port: number;
  tls?: { key: Buffer; cert: Buffer; ca: Buffer };
  identity: IdentityOptions;
}

const STATUS_OF: Partial<Record<Code, number>> = {
  'identity.unauthenticated': 401,
  'request.invalid': 400,
  'policy.denied': 403,
  'policy.unknown': 403,
  'ledger.unavailable': 503,
  'issuer.unavailable': 503,
};

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly reason: Code,
    message: string,
  ) {
    super(message);
  }
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  contentType = 'application/json; charset=utf-8',
): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    // The rest of an oversized body is not worth reading: close instead of draining it.
    ...(status === 413 ? { connection: 'close' } : {}),
  });
  res.end(text);
}

function sendBytes(res: ServerResponse, body: Uint8Array, contentType: string, cacheControl: string): void {
  res.writeHead(200, {
    'content-type': contentType,
    'content-length': body.byteLength,
    'cache-control': cacheControl,
    'x-content-type-options': 'nosniff',
  });
  res.end(body);
}

function sendError(
  res: ServerResponse,
  reason: Code,
  message: string,
  status = STATUS_OF[reason] ?? 500,
): void {
  send(res, status, { reason, message });
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function tooLarge(): HttpError {
  return new HttpError(413, 'request.invalid', `body larger than ${MAX_BODY_BYTES} bytes`);
}

/** Reads a JSON body of at most MAX_BODY_BYTES; throws HttpError (400/413/415). */
async function readJson(req: IncomingMessage): Promise<unknown> {
  const type = (req.headers['content-type'] ?? '').toLowerCase().replace(/\s+/g, '');
  if (type !== 'application/json' && type !== 'application/json;charset=utf-8') {
    throw new HttpError(415, 'request.invalid', 'content-type must be application/json');
  }
  if (Number(req.headers['content-length'] ?? 0) > MAX_BODY_BYTES) throw tooLarge();
  const body = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) return void chunks.push(chunk);
      req.off('data', onData);
      reject(tooLarge());
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks, size)));
    req.once('error', reject);
  });
  try {
    return JSON.parse(utf8.decode(body));
  } catch {
    throw new HttpError(400, 'request.invalid', 'body is not UTF-8 JSON');
  }
}

function callerOf(req: IncomingMessage, options: HttpServerOptions): Caller {
  const socket = req.socket as Partial<TLSSocket>;
  const certificate = options.tls && socket.authorized ? socket.getPeerCertificate?.() : undefined;
  return authenticate(
    {
      transport: 'http',
      ...(certificate?.raw ? { verifiedCertificate: certificate } : {}),
      ...(req.headers.authorization !== undefined ? { authorization: req.headers.authorization } : {}),
    },
    options.identity,
  );
}

const SEQ = /^[1-9]\d{0,14}$/;

async function route(
  authority: Authority,
  options: HttpServerOptions,
  req: IncomingMessage,
  res: ServerResponse,
) {
  const url = new URL(req.url ?? '/', 'http://authority');
  const path = url.pathname;
  const method = req.method ?? 'GET';
  if (path === '/v1/govern/execute') {
    if (method !== 'POST') throw new HttpError(405, 'request.invalid', 'use POST');
    const caller = callerOf(req, options);
    let body: unknown;
    try {
      body = await readJson(req);
    } catch (e) {
      if (!(e instanceof HttpError)) throw e;
      // Ledgered like any other refusal, then answered with the transport's status.
      const outcome = await authority.issuance.refuse(caller, e.message);
      return sendError(
        res,
        outcome.reason,
        outcome.message,
        outcome.reason === 'request.invalid' ? e.status : undefined,
      );
    }
    const outcome = await authority.issuance.execute(caller, body);
    if (!outcome.ok)
      return send(res, STATUS_OF[outcome.reason] ?? 500, {
        decision: 'deny',
        reason: outcome.reason,
        message: outcome.message,
      });
    const { artifact, header, lineage } = outcome.value;
    return send(res, 200, {
      decision: 'allow',
      artifact_id: artifact.id,
      artifact,
      artifact_header: header,
      lineage,
    });
  }
  if (method !== 'GET') throw new HttpError(405, 'request.invalid', 'use GET');
  if (path === '/healthz') return send(res, 200, { status: 'serving' });
  if (path === '/metrics') {
    return send(res, 200, await authority.metrics.registry.metrics(), authority.metrics.registry.contentType);
  }
  if (path === '/v1/proof/checkpoint') return send(res, 200, await authority.proofs.checkpoint());
  if (path === '/v1/proof/inclusion') {
    const seq = url.searchParams.get('seq') ?? '';
    if (!SEQ.test(seq)) throw new HttpError(400, 'request.invalid', 'seq must be a sequence number');
    return send(res, 200, await authority.proofs.inclusion(Number(seq)));
  }
  if (path === '/v1/proof/consistency') {
    const old = url.searchParams.get('old') ?? '';
    if (!SEQ.test(old)) throw new HttpError(400, 'request.invalid', 'old must be a tree size');
    return send(res, 200, await authority.proofs.consistency(Number(old)));
  }
  // The log as C2SP tlog-tiles: standard clients take https://<authority>/v1/ledger/ as its URL.
  if (path === '/v1/ledger/checkpoint') {
    const { checkpoint } = await authority.proofs.checkpoint();
    if (checkpoint === null) return sendError(res, 'ledger.head.mismatch', 'no checkpoint yet', 404);
    return sendBytes(res, Buffer.from(checkpoint, 'utf8'), 'text/plain; charset=utf-8', 'no-cache');
  }
  if (path.startsWith('/v1/ledger/tile/')) {
    const tile = await authority.proofs.tile(path.slice('/v1/ledger/'.length));
    if (!tile) return sendError(res, 'request.invalid', 'no such tile', 404);
    // Full tiles and bundles never change; partial ones are only ever replaced by wider ones.
    return sendBytes(res, tile, 'application/octet-stream', 'public, max-age=31536000, immutable');
  }
  if (path === '/v1/proof/issuers') return send(res, 200, await authority.proofs.issuers());
  if (path === '/v1/proof/policies') return send(res, 200, await authority.proofs.policies());
  if (path === '/v1/proof/revocations') return send(res, 200, await authority.proofs.revocations());
  if (path === '/v1/proof/ledger') {
    const from = url.searchParams.get('from') ?? '';
    const to = url.searchParams.get('to') ?? '';
    if (!SEQ.test(from) || !SEQ.test(to))
      throw new HttpError(400, 'request.invalid', 'from and to must be sequence numbers');
    return send(res, 200, await authority.proofs.ledger(Number(from), Number(to)));
  }
  const policy = /^\/v1\/proof\/policies\/(sha3-512:[0-9a-f]{128})$/.exec(path);
  if (policy) {
    const version = await authority.proofs.policy(policy[1]!);
    return version
      ? send(res, 200, version)
      : sendError(res, 'policy.unknown', 'no such policy version', 404);
  }
  // Not public: openings of committed ledger members, for the readers the configuration names.
  const openings = /^\/v1\/proof\/openings\/([^/]{1,20})$/.exec(path);
  if (openings) {
    if (!SEQ.test(openings[1]!)) throw new HttpError(400, 'request.invalid', 'seq must be a sequence number');
    try {
      return send(res, 200, await authority.proofs.openings(callerOf(req, options), Number(openings[1])));
    } catch (e) {
      if (isGovernanceError(e, 'identity.unauthenticated') || isGovernanceError(e, 'policy.denied'))
        return sendError(res, e.code, e.message);
      throw e;
    }
  }
  const lineage = /^\/v1\/proof\/lineage\/([^/]{1,200})$/.exec(path);
  if (lineage) {
    let op: string;
    try {
      op = decodeURIComponent(lineage[1]!);
    } catch {
      throw new HttpError(400, 'request.invalid', 'not an artifact id or lineage');
    }
    return send(res, 200, await authority.proofs.lineage(op));
  }
  throw new HttpError(404, 'request.invalid', 'no such endpoint');
}

export async function startHttpServer(
  authority: Authority,
  options: HttpServerOptions,
): Promise<RunningServer> {
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    route(authority, options, req, res).catch((e: unknown) => {
      if (res.headersSent) return res.destroy();
      if (e instanceof HttpError) return sendError(res, e.reason, e.message, e.status);
      if (isGovernanceError(e) && e.code === 'request.invalid') return sendError(res, e.code, e.message, 400);
      // Asked for what no checkpoint covers yet: the same question succeeds later.
      if (isGovernanceError(e, 'ledger.head.mismatch')) return sendError(res, e.code, e.message, 404);
      sendError(res, 'internal.error', 'unexpected error');
    });
  };
  const server: Server = options.tls
    ? createHttpsServer(
        {
          key: options.tls.key,
          cert: options.tls.cert,
          ca: options.tls.ca,
          requestCert: true,
          rejectUnauthorized: false,
        },
        handler,
      )
    : createHttpServer(handler);
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : options.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
