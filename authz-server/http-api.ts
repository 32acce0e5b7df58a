// The HTTP side (port 9192): GET /metrics, GET /healthz and, when configured, the runtime API.
// Bodies are read up to a fixed bound and must be JSON; anything else is answered with a clear
// 4xx and never reaches a handler.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { AuthzMetrics } from './metrics.js';
import type { ApiResponse, RuntimeApi } from './runtime-api.js';

export interface HealthReport {
  serving: boolean;
  problems: string[];
}

export interface HttpApiDeps {
  metrics: AuthzMetrics;
  health: () => HealthReport;
  runtime: RuntimeApi | undefined;
  maxBodyBytes: number;
  logger: Logger;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** The body as JSON, or an error response when it is too large, not JSON or not declared as JSON. */
async function readJson(req: IncomingMessage, maxBytes: number): Promise<{ body: unknown } | ApiResponse> {
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/json(\s*;.*)?$/i.test(type)) {
    return {
      status: 415,
      body: { error: 'request.invalid', detail: 'content-type must be application/json' },
    };
  }
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > maxBytes)
    return { status: 413, body: { error: 'request.invalid', detail: `body larger than ${maxBytes} bytes` } };
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes)
      return {
        status: 413,
        body: { error: 'request.invalid', detail: `body larger than ${maxBytes} bytes` },
      };
    chunks.push(chunk);
  }
  try {
    return { body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown };
  } catch {
    return { status: 400, body: { error: 'request.invalid', detail: 'body is not JSON' } };
  }
}

export function createHttpApi(deps: HttpApiDeps): Server {
  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/metrics') {
      const text = await deps.metrics.text();
      res.writeHead(200, { 'content-type': deps.metrics.registry.contentType });
      res.end(text);
      return;
    }
    if (req.method === 'GET' && path === '/healthz') {
      const report = deps.health();
      send(res, report.serving ? 200 : 503, {
        status: report.serving ? 'SERVING' : 'NOT_SERVING',
        problems: report.problems,
      });
      return;
    }
    const runtime = deps.runtime;
    if (
      runtime !== undefined &&
      req.method === 'POST' &&
      (path === '/runtime/admit' || path === '/runtime/attest')
    ) {
      const read = await readJson(req, deps.maxBodyBytes);
      if ('status' in read) {
        res.setHeader('connection', 'close');
        send(res, read.status, read.body);
        return;
      }
      const answer =
        path === '/runtime/admit'
          ? await runtime.admit(read.body, req.headers)
          : await runtime.attest(read.body, req.headers);
      send(res, answer.status, answer.body);
      return;
    }
    send(res, 404, { error: 'not found' });
  };
  return createServer(
    { maxHeaderSize: 16_384, requestTimeout: 10_000, headersTimeout: 5_000 },
    (req, res) => {
      route(req, res).catch((e: unknown) => {
        deps.logger.error({ err: e }, 'http handler failed');
        if (!res.headersSent) send(res, 500, { error: 'internal.error' });
        else res.destroy();
      });
    },
  );
}
