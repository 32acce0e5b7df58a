// Reads what a decision needs out of an Envoy CheckRequest, once: who asked, the artifact, and
// the operation and environment the request asks for. Every field is attacker-influenced, so
// each is bounded and validated before anything else looks at it: header count and bytes, path
// shape, the artifact header appearing exactly once, the identity and request id being
// printable. The outcome is either the request or a named reason with whatever was safe to
// read, so that the denial record still says who asked for what.
import { traceIdOf } from '../core/trace.js';
import { type Environment } from '../core/artifact.js';
import { ARTIFACT_HEADER } from '../core/protocol.js';
import type { RequestedOperation } from '../core/decision.js';
import type { DenialReason } from '../core/errors.js';
import type { EnvironmentConfig } from './config.js';
import { environmentKeys } from './config.js';
import { UNDECODABLE, type CheckRequestMessage } from './envoy-proto.js';
import type { RequestSubject } from './records.js';
import { checkRequestPath, type RouteTable } from './routes.js';

export interface RequestLimits {
  headers: number;
  headerBytes: number;
  pathChars: number;
}

export type IdentitySource = { source: 'peer-principal' } | { source: 'trusted-header'; header: string };

/** What a Check needs of the configuration to be read: EnforcerSettings has it all. */
export interface CheckReading {
  identity: IdentitySource;
  limits: RequestLimits;
  routeTable: RouteTable;
  environment: EnvironmentConfig;
}

/**
 * A CheckRequest read once: who asked, the artifact header, what the request is (method, path
 * without its query, host) and what it asks for. As a RequestSubject it names the route's
 * operation, and the runtime its environment selects (the configured one if none resolved).
 */
export interface CheckedRequest extends RequestSubject {
  readonly method: string;
  /** The path without its query, checked by checkRequestPath. */
  readonly path: string;
  readonly host: string;
  /** What the request asks for: the operation and environment decide() gets, or why there are none. */
  readonly asks:
    | { readonly ok: true; readonly operation: RequestedOperation; readonly environment: Environment }
    | {
        readonly ok: false;
        readonly reason: 'operation.unmapped' | 'environment.mismatch';
        readonly detail: string;
      };
}

/**
 * The read: a request, or the reason it cannot be decided on. Either way `asker` is what was
 * safe to read of who asked (request id, identity, artifact header), for a denial that comes
 * before the request is routed.
 */
export type CheckRead =
  | { ok: true; asker: RequestSubject; request: CheckedRequest }
  | { ok: false; asker: RequestSubject; reason: DenialReason; detail: string };

const PRINTABLE_ID = /^[\x21-\x7e]{1,512}$/;
const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

type HeaderLookup = { value: string | undefined } | { duplicate: true };

/** Collects the headers of either encoding Envoy uses, bounded, into one lowercase multimap view. */
class HeaderView {
  private readonly map: Record<string, string> | undefined;
  private readonly list: { key: string; value: string }[] | undefined;

  private constructor(
    map: Record<string, string> | undefined,
    list: { key: string; value: string }[] | undefined,
  ) {
    this.map = map;
    this.list = list;
  }

  static read(
    http: NonNullable<NonNullable<NonNullable<CheckRequestMessage['attributes']>['request']>['http']>,
    limits: RequestLimits,
  ): HeaderView | string {
    let count = 0;
    let bytes = 0;
    const map = http.headers;
    if (map !== undefined) {
      for (const key in map) {
        count++;
        bytes += key.length + (map[key]?.length ?? 0);
      }
    }
    let list: { key: string; value: string }[] | undefined;
    const raw = http.header_map?.headers;
    if (raw !== undefined) {
      if (raw.length > limits.headers) return `more than ${limits.headers} headers`;
      list = [];
      for (const h of raw) {
        const key = (h.key ?? '').toLowerCase();
        const value =
          h.value ?? (h.raw_value !== undefined ? Buffer.from(h.raw_value).toString('latin1') : '');
        count++;
        bytes += key.length + value.length;
        list.push({ key, value });
      }
    }
    if (count > limits.headers) return `more than ${limits.headers} headers`;
    if (bytes > limits.headerBytes) return `headers larger than ${limits.headerBytes} bytes`;
    return new HeaderView(map, list);
  }

  /**
   * The one value of a header. Envoy joins repeated headers of the `headers` map with commas
   * (pseudo-headers are never repeated, so `commaMeansRepeat` is off for them),
   * and lists them separately in `header_map`; both spellings of a repetition, and a header
   * present in both encodings with different values, count as a duplicate.
   */
  single(name: string, commaMeansRepeat = true): HeaderLookup {
    let found: string | undefined;
    if (this.map !== undefined) {
      for (const key in this.map) {
        if (key.toLowerCase() !== name) continue;
        const value = this.map[key]!;
        if (found !== undefined || (commaMeansRepeat && value.includes(','))) return { duplicate: true };
        found = value;
      }
    }
    if (this.list !== undefined) {
      let inList: string | undefined;
      for (const h of this.list) {
        if (h.key !== name) continue;
        if (inList !== undefined) return { duplicate: true };
        inList = h.value;
      }
      if (inList !== undefined) {
        if (found !== undefined && found !== inList) return { duplicate: true };
        found = inList;
      }
    }
    return { value: found };
  }
}

function printableOrUndefined(value: string | undefined, pattern: RegExp): string | undefined | null {
  if (value === undefined || value === '') return undefined;
  return pattern.test(value) ? value : null;
}

/**
 * The request id of a CheckRequest, if it has a well-formed one, and nothing else read: what a
 * Check shed before it is read names (enforcer.ts). Never throws, whatever the message.
 */
export function requestIdOf(message: CheckRequestMessage): string | undefined {
  const id: unknown = message?.attributes?.request?.http?.id;
  return typeof id === 'string' ? (printableOrUndefined(id, REQUEST_ID) ?? undefined) : undefined;
}

/**
 * Reads a CheckRequest (see the module comment), routes it (routes.ts) and resolves its
 * environment: everything a decision needs of the request, in one pass.
 */
export function readCheckRequest(
  message: CheckRequestMessage,
  settings: CheckReading,
  base: Environment,
): CheckRead {
  const attributes = message?.attributes;
  const http = attributes?.request?.http;
  // Who asked, as far as it has been read: what a failure names.
  let asker: RequestSubject = { runtime: base.runtime };
  const fail = (reason: DenialReason, detail: string): CheckRead => ({ ok: false, asker, reason, detail });
  if (message?.[UNDECODABLE] === true)
    return fail('request.invalid', 'CheckRequest is not a valid protobuf message');
  if (http === undefined || http === null)
    return fail('request.invalid', 'CheckRequest has no HTTP attributes');

  const requestId = printableOrUndefined(http.id, REQUEST_ID);
  if (requestId === null)
    return fail('request.invalid', 'request id is not printable ASCII of at most 128 characters');
  asker = { ...asker, requestId };

  const headers = HeaderView.read(http, settings.limits);
  if (typeof headers === 'string') return fail('request.invalid', headers);

  const once = (name: string) => {
    const header = headers.single(name);
    return 'duplicate' in header ? undefined : header.value;
  };
  asker = {
    ...asker,
    traceId: traceIdOf({
      traceparent: once('traceparent'),
      b3: once('b3'),
      xB3TraceId: once('x-b3-traceid'),
    }),
  };

  const identitySource = settings.identity;
  let identity: string | undefined | null;
  if (identitySource.source === 'peer-principal') {
    identity = printableOrUndefined(attributes?.source?.principal, PRINTABLE_ID);
  } else {
    const header = headers.single(identitySource.header);
    if ('duplicate' in header)
      return fail('request.invalid', `identity header ${identitySource.header} given more than once`);
    identity = printableOrUndefined(header.value, PRINTABLE_ID);
  }
  if (identity === null)
    return fail('request.invalid', 'caller identity is not printable ASCII of at most 512 characters');
  asker = { ...asker, identity };

  const artifact = headers.single(ARTIFACT_HEADER);
  if ('duplicate' in artifact) return fail('artifact.malformed', `${ARTIFACT_HEADER} given more than once`);
  asker = { ...asker, artifactHeader: artifact.value };

  const method = http.method ?? '';
  const target = http.path ?? '';
  const host = http.host ?? '';
  for (const [pseudo, value] of [
    [':method', method],
    [':path', target],
    [':authority', host],
  ] as const) {
    const header = headers.single(pseudo, false);
    if ('duplicate' in header || (header.value !== undefined && header.value !== value)) {
      return fail('request.invalid', `${pseudo} disagrees with the request attributes`);
    }
  }
  if (!/^[A-Z]{1,16}$/.test(method)) return fail('request.invalid', 'method is not an uppercase HTTP method');
  if (host.length > 256) return fail('request.invalid', 'host longer than 256 characters');
  const checked = checkRequestPath(target, settings.limits.pathChars);
  if (!checked.ok) return fail('request.invalid', checked.problem);
  const path = checked.path;
  const extensions = attributes?.context_extensions;

  const operation = settings.routeTable.match(method, path, host);
  if (operation === undefined) {
    const asks = {
      ok: false,
      reason: 'operation.unmapped',
      detail: `no route for ${method} ${path}`,
    } as const;
    return { ok: true, asker, request: { ...asker, method, path, host, asks } };
  }
  const resolved = resolveEnvironment(settings.environment, base, extensions);
  const asks: CheckedRequest['asks'] = resolved.ok
    ? { ok: true, operation, environment: resolved.environment }
    : { ok: false, reason: 'environment.mismatch', detail: resolved.problem };
  const runtime = resolved.ok ? resolved.environment.runtime : base.runtime;
  return { ok: true, asker, request: { ...asker, method, path, host, operation, runtime, asks } };
}

type EnvironmentResolution = { ok: true; environment: Environment } | { ok: false; problem: string };

/**
 * The environment this Check runs in: the configured one, with each context extension Envoy's
 * route sets replacing its key's value, if the configuration lists that value for that key.
 * An unknown key or an unlisted value is a mismatch, never ignored.
 */
function resolveEnvironment(
  config: EnvironmentConfig,
  base: Environment,
  extensions: Record<string, string> | undefined,
): EnvironmentResolution {
  if (extensions === undefined) return { ok: true, environment: base };
  let environment = base;
  let count = 0;
  for (const key in extensions) {
    if (++count > environmentKeys.length) return { ok: false, problem: 'too many context extensions' };
    const value = extensions[key]!;
    const field = environmentKeys.find((k) => k === key);
    if (field === undefined)
      return { ok: false, problem: `context extension ${JSON.stringify(key.slice(0, 64))} is not allowed` };
    if (value === base[field]) continue;
    if (config.contextExtensions[field]?.includes(value) !== true) {
      return {
        ok: false,
        problem: `context extension ${field} selects a value the configuration does not list`,
      };
    }
    if (environment === base) environment = { ...base };
    environment[field] = value;
  }
  return { ok: true, environment };
}
