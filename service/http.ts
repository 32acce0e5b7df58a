// The HTTP port the services share the shape of: GET /metrics (Prometheus text), GET /healthz
// (200 SERVING or 503 NOT_SERVING with the problems), and whatever routes the service adds.
// Header sizes and times are bounded; a handler that throws answers 500, never hangs.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';

export interface HealthReport {
  serving: boolean;
  problems: string[];
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export interface ServiceHttpDeps {
  metrics: { text(): Promise<string>; contentType: string };
  health: () => HealthReport;
  logger: Logger;
  /** The service's own routes, asked after /metrics and /healthz: false when none matched. */
  routes?: (req: IncomingMessage, res: ServerResponse, path: string) => Promise<boolean>;
}

export function createServiceHttpServer(deps: ServiceHttpDeps): Server {
  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (req.method === 'GET' && path === '/metrics') {
      const text = await deps.metrics.text();
      res.writeHead(200, { 'content-type': deps.metrics.contentType });
      res.end(text);
    } else if (req.method === 'GET' && path === '/healthz') {
      const report = deps.health();
      sendJson(res, report.serving ? 200 : 503, {
        status: report.serving ? 'SERVING' : 'NOT_SERVING',
        problems: report.problems,
      });
    } else if (!(await deps.routes?.(req, res, path))) {
      sendJson(res, 404, { error: 'not found' });
    }
  };
  return createServer(
    { maxHeaderSize: 16_384, requestTimeout: 10_000, headersTimeout: 5_000 },
    (req, res) => {
      route(req, res).catch((e: unknown) => {
        deps.logger.error({ err: e }, 'http handler failed');
        if (!res.headersSent) sendJson(res, 500, { error: 'internal.error' });
        else res.destroy();
      });
    },
  );
}
