import { randomUUID } from 'node:crypto';
import { Metadata } from '@grpc/grpc-js';
import type { Command } from 'commander';
import { ARTIFACT_HEADER, ARTIFACT_ID_HEADER, DENIED_HEADER, LINEAGE_HEADER } from '../../core/protocol.js';
import { authorizationClient, type CheckResponseMessage } from '../../authz-server/envoy-proto.js';
import { checkRequest, type EnvoyCheckRequest } from '../../devkit/check-request.js';
import { readHeader } from './artifact.js';
import { collect, defaults, hostPort, pairs, positiveInteger } from '../options.js';
import { CliError, emit, EXIT, type OutputOptions } from '../output.js';

export interface CheckOptions {
  target: string;
  method: string;
  path: string;
  host: string;
  principal?: string;
  artifact?: string;
  header: string[];
  context: string[];
  requestId?: string;
  timeout: string;
}

/** name=value flags as an object with lowercase names (header names and context keys). */
function lowercased(values: string[], flag: string): Record<string, string> {
  return Object.fromEntries(pairs(values, flag).map(([name, value]) => [name.toLowerCase(), value]));
}

/**
 * The CheckRequest Envoy would send for this HTTP request (envoy.service.auth.v3), built by the
 * same function as the benchmark's requests.
 */
export function buildCheckRequest(opts: CheckOptions, requestId: string): EnvoyCheckRequest {
  const shape = {
    principal: opts.principal || undefined,
    method: opts.method,
    path: opts.path,
    host: opts.host,
    contextExtensions: lowercased(opts.context, '--context'),
    headers: { 'user-agent': 'govctl', ...lowercased(opts.header, '--header') },
  };
  return checkRequest(shape, requestId, opts.artifact === undefined ? undefined : readHeader(opts.artifact));
}

function headerValue(response: CheckResponseMessage, name: string): string | undefined {
  const options = response.denied_response?.headers ?? response.ok_response?.headers ?? [];
  return options.find((o) => o.header.key.toLowerCase() === name)?.header.value;
}

/** The denial body is JSON from our server; another server's body is shown as text. */
function parseBody(body: string | undefined): unknown {
  if (!body) return null;
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return body;
  }
}

export interface CheckResult {
  decision: 'allow' | 'deny';
  request_id: string;
  grpc_status: number | null;
  http_status: number | null;
  reason: string | null;
  artifact_id: string | null;
  lineage: string | null;
  body: unknown;
}

/** Sends the CheckRequest Envoy would send and reads the decision; rejects only when no answer came. */
export async function sendCheck(opts: CheckOptions): Promise<CheckResult> {
  const requestId = opts.requestId ?? randomUUID();
  const request = buildCheckRequest(opts, requestId);
  const client = authorizationClient(hostPort(opts.target, '--target'));
  const response = await new Promise<CheckResponseMessage>((resolve, reject) => {
    client.Check(
      request,
      new Metadata(),
      { deadline: Date.now() + positiveInteger(opts.timeout, '--timeout') },
      (error, message) =>
        error
          ? reject(new CliError(`${opts.target}: ${error.details || error.message}`, EXIT.unavailable))
          : resolve(message),
    );
  }).finally(() => client.close());
  const allowed = response.status?.code === 0 && response.ok_response !== undefined;
  return {
    decision: allowed ? 'allow' : 'deny',
    request_id: requestId,
    grpc_status: response.status?.code ?? null,
    http_status: response.denied_response?.status?.code ?? null,
    reason: headerValue(response, DENIED_HEADER) ?? null,
    artifact_id: headerValue(response, ARTIFACT_ID_HEADER) ?? null,
    lineage: headerValue(response, LINEAGE_HEADER) ?? null,
    body: parseBody(response.denied_response?.body),
  };
}

export function registerCheckCommand(program: Command, output: () => OutputOptions): void {
  program
    .command('check')
    .description('send a CheckRequest to an ext_authz server the way Envoy would, and print the decision')
    .option('--target <host:port>', 'ext_authz gRPC address (default: $GOVCTL_AUTHZ)', defaults.authz())
    .option('--method <method>', 'HTTP method', 'POST')
    .requiredOption('--path <path>', 'HTTP path, e.g. /v1/models/clinical-summary-v4:invoke')
    .option('--host <host>', 'HTTP :authority', 'governed.local')
    .option('--principal <spiffe-id>', 'attributes.source.principal (the mTLS identity Envoy reports)')
    .option('--artifact <header>', `the ${ARTIFACT_HEADER} value, @file, or - for standard input`)
    .option('--header <name=value>', 'an extra request header, repeatable', collect, [])
    .option('--context <key=value>', 'a context_extensions entry, repeatable', collect, [])
    .option(
      '--request-id <id>',
      'Envoy request id (default: a new UUID); reuse it to simulate a retried Check',
    )
    .option('--timeout <ms>', 'deadline in milliseconds', '2000')
    .action(async (opts: CheckOptions) => {
      const result = await sendCheck(opts);
      emit(output(), result, () =>
        result.decision === 'allow'
          ? `ALLOW  ${result.artifact_id}  ${result.lineage}  (request ${result.request_id})`
          : `DENY   ${result.http_status} ${result.reason}  (request ${result.request_id})`,
      );
      if (result.decision !== 'allow') process.exitCode = EXIT.negative;
    });
}
