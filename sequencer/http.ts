// The sequencer's HTTP port: GET /healthz and GET /metrics, nothing else. It takes no input, so
// only the method and path of a request are looked at.
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { SequencerMetrics } from './metrics.js';

export interface HealthReport {
  serving: boolean;
  problems: string[];
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function createHttpServer(deps: {
  metrics: SequencerMetrics;
  health: () => HealthReport;
  logger: Logger;
}): Server {
  const route = async (method: string | undefined, path: string, res: ServerResponse): Promise<void> => {
    if (method === 'GET' && path === '/metrics') {
      const text = await deps.metrics.registry.metrics();
      res.writeHead(200, { 'content-type': deps.metrics.registry.contentType });
      res.end(text);
    } else if (method === 'GET' && path === '/healthz') {
      const report = deps.health();
      send(res, report.serving ? 200 : 503, {
        status: report.serving ? 'SERVING' : 'NOT_SERVING',
        problems: report.problems,
      });
    } else send(res, 404, { error: 'not found' });
  };
  return createServer(
    { maxHeaderSize: 16_384, requestTimeout: 10_000, headersTimeout: 5_000 },
    (req, res) => {
      route(req.method, (req.url ?? '/').split('?')[0]!, res).catch((e: unknown) => {
        deps.logger.error({ err: e }, 'http handler failed');
        if (!res.headersSent) send(res, 500, { error: 'internal.error' });
        else res.destroy();
      });
    },
  );
}
