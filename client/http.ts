// JSON over HTTP(S) with node:http, so that mTLS client certificates work without a custom
// fetch dispatcher. Used for the authority's HTTP API, its public proof endpoints and the
// enforcement point's runtime API.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { GovernanceClientError, reasonOf } from './errors.js';
import type { TlsFiles } from './grpc.js';

export interface HttpOptions {
  tls?: TlsFiles | undefined;
  token?: string | undefined;
  headers?: Record<string, string> | undefined;
  timeoutMs?: number | undefined;
}

/** Largest response body read (a proof page of 500 records fits many times over). */
const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

/**
 * Sends `body` (as JSON, when given) and resolves with the parsed 2xx answer. A non-2xx answer
 * rejects with the reason the server gave (`reason` or `error` member), no answer with 'unreachable'.
 */
export async function httpJson<T>(url: string, body: unknown, options: HttpOptions = {}): Promise<T> {
  const target = new URL(url);
  const text = body === undefined ? undefined : JSON.stringify(body);
  const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
  if (text !== undefined) headers['content-type'] = 'application/json';
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  const { status, raw } = await new Promise<{ status: number; raw: string }>((resolve, reject) => {
    const req = send(
      target,
      {
        method: text === undefined ? 'GET' : 'POST',
        headers,
        timeout: options.timeoutMs ?? 5000,
        ...(options.tls ? { ca: options.tls.ca, cert: options.tls.cert, key: options.tls.key } : {}),
      },
      (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) {
            req.destroy();
            reject(new GovernanceClientError('internal.error', `${url}: response too large`, res.statusCode));
          } else chunks.push(chunk);
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, raw: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${options.timeoutMs ?? 5000} ms`)));
    req.on('error', (e) => reject(new GovernanceClientError('unreachable', `${url}: ${e.message}`)));
    req.end(text);
  });
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new GovernanceClientError('internal.error', `${url}: answered ${status} without JSON`, status);
  }
  if (status >= 200 && status < 300) return parsed as T;
  const answer = (parsed ?? {}) as { reason?: unknown; error?: unknown; message?: unknown; detail?: unknown };
  const message = answer.message ?? answer.detail;
  throw new GovernanceClientError(
    reasonOf(answer.reason ?? answer.error),
    typeof message === 'string' ? message : `${url} answered ${status}`,
    status,
  );
}
