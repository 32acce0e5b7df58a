// h2load (nghttp2) as an outside client: a C load generator on one thread saturates a Node
// server long before a grpc-js client on the same cores would, so its figures bound what the
// server itself can do. It posts one fixed body, a framed gRPC message, so every request carries
// the same artifact: a rate artifact with an allowance no run can spend (allow path), or none
// (deny path). h2load sees HTTP/2 only (gRPC answers 200 with the status in trailers), so the
// body is first sent once here and its decision checked.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { connect, constants as http2 } from 'node:http2';
import { createInterface } from 'node:readline';
import type { ServiceDefinition } from '@grpc/grpc-js';
import type { EnvoyCheckRequest } from '../../devkit/check-request.js';
import { outcomeOf, type CheckResponseView, type Outcome } from './envoy-client.js';
import { latencyHistogram, summarize, type LatencySummary } from './latency.js';

export const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';
const GRPC_FRAME_HEADER_BYTES = 5;
const H2LOAD_GRACE_MS = 30_000;

/** A gRPC length-prefixed message: compressed flag 0, 4-byte big-endian length, the bytes. */
export function grpcFrame(message: Uint8Array): Buffer {
  const frame = Buffer.alloc(GRPC_FRAME_HEADER_BYTES + message.length);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, GRPC_FRAME_HEADER_BYTES);
  return frame;
}

export function checkRequestBody(service: ServiceDefinition, request: EnvoyCheckRequest): Buffer {
  return grpcFrame(service.Check!.requestSerialize(request));
}

/** Posts the body once over plain HTTP/2, as h2load will, and reads the decision. */
export async function probeBody(service: ServiceDefinition, address: string, body: Buffer): Promise<Outcome> {
  const session = connect(`http://${address}`);
  try {
    return await new Promise<Outcome>((resolve, reject) => {
      session.once('error', reject);
      const stream = session.request({
        [http2.HTTP2_HEADER_METHOD]: 'POST',
        [http2.HTTP2_HEADER_PATH]: CHECK_PATH,
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      const chunks: Buffer[] = [];
      let grpcStatus: string | undefined;
      stream.on('trailers', (trailers) => (grpcStatus = String(trailers['grpc-status'])));
      // A gRPC error without a message ("trailers-only") puts grpc-status in the headers.
      stream.on('response', (headers) => (grpcStatus ??= headers['grpc-status'] as string | undefined));
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.once('error', reject);
      stream.once('end', () => {
        if (grpcStatus !== '0') return resolve(`error:grpc-status-${grpcStatus}`);
        const message = Buffer.concat(chunks).subarray(GRPC_FRAME_HEADER_BYTES);
        resolve(outcomeOf(service.Check!.responseDeserialize(message) as CheckResponseView));
      });
      stream.end(body);
    });
  } finally {
    session.close();
  }
}

/** Whether h2load is on PATH (Debian: apt-get install nghttp2-client). */
export function h2loadVersion(): string | undefined {
  const result = spawnSync('h2load', ['--version'], { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim() : undefined;
}

export interface H2loadSettings {
  address: string;
  bodyFile: string;
  logFile: string;
  clients: number;
  streamsPerClient: number;
  warmupMs: number;
  durationMs: number;
}

export interface H2loadResult {
  command: string;
  requestsPerSecond: number;
  requests: { total: number; succeeded: number; failed: number; errored: number; timeout: number };
  /** From h2load's per-request log: time from sending the request to the end of the response. */
  latency: LatencySummary;
}

export function h2loadArgs(settings: H2loadSettings): string[] {
  return [
    '-c', String(settings.clients),
    '-m', String(settings.streamsPerClient),
    '-D', `${settings.durationMs}ms`,
    '--warm-up-time', `${settings.warmupMs}ms`,
    '-d', settings.bodyFile,
    '-H', 'content-type: application/grpc',
    '-H', 'te: trailers',
    '--log-file', settings.logFile,
    `http://${settings.address}${CHECK_PATH}`,
  ]; // prettier-ignore
}

export function parseH2loadOutput(stdout: string): Omit<H2loadResult, 'command' | 'latency'> {
  const finished = /finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(stdout);
  const counts =
    /requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(
      stdout,
    );
  if (!finished || !counts) throw new Error(`unexpected h2load output:\n${stdout}`);
  const [total, succeeded, failed, errored, timeout] = counts.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
  ];
  return { requestsPerSecond: Number(finished[1]), requests: { total, succeeded, failed, errored, timeout } };
}

/** Latencies of the h2load log (start µs, status, duration µs per line; status -1 for failed streams). */
export function parseH2loadLog(text: string): LatencySummary {
  const histogram = latencyHistogram();
  for (const line of text.split('\n')) {
    const [, status, micros] = line.split('\t');
    if (micros !== undefined && status !== '-1') histogram.recordValue(Math.max(1, Number(micros)));
  }
  return summarize(histogram);
}

/**
 * Runs h2load; `onMeasure('start' | 'end')` fires when h2load's measured phase begins and ends,
 * so server CPU can be read over exactly that window.
 */
export async function runH2load(
  settings: H2loadSettings,
  onMeasure: (phase: 'start' | 'end') => void,
): Promise<H2loadResult> {
  // h2load appends to an existing log file.
  rmSync(settings.logFile, { force: true });
  const args = h2loadArgs(settings);
  const child = spawn('h2load', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  createInterface({ input: child.stdout }).on('line', (line) => {
    stdout += `${line}\n`;
    if (line.startsWith('Main benchmark duration is started')) onMeasure('start');
    if (line.startsWith('Main benchmark duration is over')) onMeasure('end');
  });
  // -D bounds the run; the kill is for an h2load that hangs (a server that never answers).
  const killTimer = setTimeout(
    () => child.kill('SIGKILL'),
    settings.warmupMs + settings.durationMs + H2LOAD_GRACE_MS,
  );
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  }).finally(() => clearTimeout(killTimer));
  if (code !== 0) throw new Error(`h2load exited with ${code}: ${stderr.trim() || stdout.trim()}`);
  return {
    command: ['h2load', ...args].map((arg) => (/^[\w./:=@-]+$/.test(arg) ? arg : `'${arg}'`)).join(' '),
    ...parseH2loadOutput(stdout),
    latency: parseH2loadLog(readFileSync(settings.logFile, 'utf8')),
  };
}
