// Options shared by govctl commands: repeatable name=value flags, and how to reach the authority
// (gRPC or HTTP, with a development token or mTLS) and its public proof endpoints. Defaults come
// from the environment when set (GOVCTL_AUTHORITY, GOVCTL_PROOF_URL, GOVCTL_AUTHZ,
// GOVCTL_TOKEN_FILE), else the dev mode's ports.
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { AuthorityClient } from '../client/authority.js';
import type { GrpcConnection } from '../client/grpc.js';
import { httpJson } from '../client/http.js';
import { CliError } from './output.js';

export const collect = (value: string, previous: string[]) => [...previous, value];

/** name=value flags as pairs, in order. */
export function pairs(values: string[], flag: string): [string, string][] {
  return values.map((v) => {
    const i = v.indexOf('=');
    if (i <= 0) throw new CliError(`${flag} takes name=value, got ${JSON.stringify(v)}`);
    return [v.slice(0, i), v.slice(i + 1)];
  });
}

/** name=value flags as an object (a later flag wins). */
export function namedValues(values: string[], flag: string): Record<string, string> {
  return Object.fromEntries(pairs(values, flag));
}

export function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new CliError(`cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

/** Writes a file; `create` refuses to overwrite one that exists. */
export function writeText(path: string, text: string, what: string, create?: { mode?: number }): void {
  try {
    writeFileSync(path, text, create ? { ...create, flag: 'wx' } : {});
  } catch (e) {
    throw new CliError(`cannot write ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

/** An http:// or https:// URL, else a usage error naming the flag. */
export function httpUrl(value: string, flag: string): string {
  if (!URL.canParse(value) || !['http:', 'https:'].includes(new URL(value).protocol))
    throw new CliError(`${flag} must be an http:// or https:// URL, got ${JSON.stringify(value)}`);
  return value;
}

/** host:port (a DNS name, an IPv4 address or a bracketed IPv6 one), else a usage error naming the flag. */
export function hostPort(value: string, flag: string): string {
  const match = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?):(\d{1,5})$/.exec(
    value,
  );
  if (!match || Number(match[1]) < 1 || Number(match[1]) > 65_535)
    throw new CliError(`${flag} must be host:port, got ${JSON.stringify(value)}`);
  return value;
}

export function positiveInteger(value: string, flag: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isSafeInteger(n) || n <= 0)
    throw new CliError(`${flag} must be a positive integer`);
  return n;
}

export function nonNegativeInteger(value: string, flag: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isSafeInteger(n) || n < 0)
    throw new CliError(`${flag} must be a non-negative integer`);
  return n;
}

export const defaults = {
  authority: () => process.env.GOVCTL_AUTHORITY ?? '127.0.0.1:7070',
  proofUrl: () => process.env.GOVCTL_PROOF_URL ?? 'http://127.0.0.1:7080',
  authz: () => process.env.GOVCTL_AUTHZ ?? '127.0.0.1:9191',
};

export interface AuthorityOptions {
  authority: string;
  token?: string;
  tokenFile?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  timeout: string;
}

export function addAuthorityOptions(command: Command): Command {
  return command
    .option(
      '--authority <target>',
      'the authority: host:port or grpc[s]:// (gRPC), http[s]:// (HTTP API; artifact requests only)',
      defaults.authority(),
    )
    .option('--token <token>', 'development bearer token')
    .option('--token-file <file>', 'file holding the bearer token (default: $GOVCTL_TOKEN_FILE)')
    .option('--tls-ca <file>', "the authority's CA (PEM); turns TLS on")
    .option('--tls-cert <file>', 'client certificate (PEM) for mTLS')
    .option('--tls-key <file>', 'client private key (PEM) for mTLS')
    .option('--timeout <ms>', 'deadline of each call in milliseconds', '5000');
}

/** The caller's credentials of --token/--token-file and --tls-ca/--tls-cert/--tls-key, read from their files. */
export function callerCredentials(
  opts: Pick<AuthorityOptions, 'token' | 'tokenFile' | 'tlsCa' | 'tlsCert' | 'tlsKey'>,
): { token: string | undefined; tls: { ca: string; cert?: string; key?: string } | undefined } {
  const tokenFile = opts.tokenFile ?? process.env.GOVCTL_TOKEN_FILE;
  const token = opts.token ?? (tokenFile ? readText(tokenFile, 'token file').trim() : undefined);
  if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined))
    throw new CliError('--tls-cert and --tls-key go together');
  if (opts.tlsCert !== undefined && opts.tlsCa === undefined) throw new CliError('--tls-cert needs --tls-ca');
  const tls = opts.tlsCa
    ? {
        ca: readText(opts.tlsCa, 'CA file'),
        ...(opts.tlsCert
          ? { cert: readText(opts.tlsCert, 'certificate'), key: readText(opts.tlsKey!, 'key') }
          : {}),
      }
    : undefined;
  return { token, tls };
}

export function authorityClient(opts: AuthorityOptions): AuthorityClient {
  const { token, tls } = callerCredentials(opts);
  let target = opts.authority;
  if (tls && !/^[a-z]+:\/\//.test(target)) target = `grpcs://${target}`;
  try {
    return new AuthorityClient({ target, token, tls, timeoutMs: positiveInteger(opts.timeout, '--timeout') });
  } catch (e) {
    throw new CliError((e as Error).message);
  }
}

/** The gRPC connection for the Admin service: the HTTP API has no administration. */
export function adminConnection(client: AuthorityClient): GrpcConnection {
  try {
    return client.connection();
  } catch (e) {
    throw new CliError(`${(e as Error).message}: administration is gRPC only (host:port or grpcs://)`);
  }
}

/** Runs `use` with a client and closes it afterwards. */
export async function withAuthority<T>(
  opts: AuthorityOptions,
  use: (client: AuthorityClient) => Promise<T>,
): Promise<T> {
  const client = authorityClient(opts);
  try {
    return await use(client);
  } finally {
    client.close();
  }
}

export interface ProofOptions {
  url: string;
  timeout: string;
}

export function addProofOptions(command: Command): Command {
  return command
    .option('--url <url>', "the authority's HTTP base URL (public proof endpoints)", defaults.proofUrl())
    .option('--timeout <ms>', 'deadline of each request in milliseconds', '10000');
}

/** GET of a public proof endpoint, e.g. proofGet(opts, '/v1/proof/checkpoint'). */
export function proofGet<T>(opts: ProofOptions, path: string): Promise<T> {
  return httpJson<T>(`${httpUrl(opts.url, '--url').replace(/\/+$/, '')}${path}`, undefined, {
    timeoutMs: positiveInteger(opts.timeout, '--timeout'),
  });
}
