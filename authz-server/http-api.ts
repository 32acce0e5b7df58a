// The HTTP side (port 9192): GET /metrics and GET /healthz as every service answers them
// (service/http.ts) and, when configured, the runtime API.
// Bodies are read up to a fixed bound and must be JSON; anything else is answered with a clear
// 4xx and never reaches a handler.
import type { IncomingMessage, Server } from 'node:http';
import type { Logger } from 'pino';
import { createServiceHttpServer, sendJson, type HealthReport } from '../service/http.js';
import type { AuthzMetrics } from './metrics.js';
import type { ApiResponse, RuntimeApi } from './runtime-api.js';

export interface HttpApiDeps {
  metrics: AuthzMetrics;
  health: () => HealthReport;
  runtime: RuntimeApi | undefined;
  maxBodyBytes: number;
  logger: Logger;
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

/** The service's port (service/http.ts) with the runtime API's routes when it is configured. */
export function createHttpApi(deps: HttpApiDeps): Server {
  const runtime = deps.runtime;
  return createServiceHttpServer({
    metrics: { text: () => deps.metrics.text(), contentType: deps.metrics.registry.contentType },
    health: deps.health,
    logger: deps.logger,
    routes: async (req, res, path) => {
      if (
        runtime === undefined ||
        req.method !== 'POST' ||
        (path !== '/runtime/admit' && path !== '/runtime/attest')
      )
        return false;
      const read = await readJson(req, deps.maxBodyBytes);
      if ('status' in read) {
        res.setHeader('connection', 'close');
        sendJson(res, read.status, read.body);
        return true;
      }
      const answer =
        path === '/runtime/admit'
          ? await runtime.admit(read.body, req.headers)
          : await runtime.attest(read.body, req.headers);
      sendJson(res, answer.status, answer.body);
      return true;
    },
  });
}
