// Reads what a decision needs out of an Envoy CheckRequest. Every field is attacker-influenced,
// so each is bounded and validated before anything else looks at it: header count and bytes,
// path shape, the artifact header appearing exactly once, the identity and request id being
// printable. The outcome is either the facts or a named reason with whatever facts were safe
// to read, so that the denial record still says who asked for what.
import { ARTIFACT_HEADER, type Environment } from '../core/artifact.js';
import type { DenialReason } from '../core/errors.js';
import type { EnvironmentConfig } from './config.js';
import { environmentKeys } from './config.js';
import { UNDECODABLE, type CheckRequestMessage } from './envoy-proto.js';
import { checkRequestPath } from './routes.js';

export interface RequestLimits {
  headers: number;
  headerBytes: number;
  pathChars: number;
}

export type IdentitySource = { source: 'peer-principal' } | { source: 'trusted-header'; header: string };

/** What the request says, as far as it could be read safely. */
export interface RequestFacts {
  requestId: string | undefined;
  identity: string | undefined;
  artifactHeader: string | undefined;
  method: string;
  /** The path without its query, checked by checkRequestPath; '' when it was unsafe. */
  path: string;
  host: string;
}

export type ParsedRequest =
  | { ok: true; facts: RequestFacts; contextExtensions: Record<string, string> | undefined }
  | { ok: false; reason: DenialReason; message: string; facts: RequestFacts };

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

/** Reads the decision inputs from a CheckRequest (see the module comment). */
export function parseCheckRequest(
  message: CheckRequestMessage,
  identitySource: IdentitySource,
  limits: RequestLimits,
): ParsedRequest {
  const attributes = message?.attributes;
  const http = attributes?.request?.http;
  const facts: RequestFacts = {
    requestId: undefined,
    identity: undefined,
    artifactHeader: undefined,
    method: '',
    path: '',
    host: '',
  };
  const fail = (reason: DenialReason, text: string): ParsedRequest => ({
    ok: false,
    reason,
    message: text,
    facts,
  });
  if (message?.[UNDECODABLE] === true)
    return fail('request.invalid', 'CheckRequest is not a valid protobuf message');
  if (http === undefined || http === null)
    return fail('request.invalid', 'CheckRequest has no HTTP attributes');

  const requestId = printableOrUndefined(http.id, REQUEST_ID);
  if (requestId === null)
    return fail('request.invalid', 'request id is not printable ASCII of at most 128 characters');
  facts.requestId = requestId;

  const headers = HeaderView.read(http, limits);
  if (typeof headers === 'string') return fail('request.invalid', headers);

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
  facts.identity = identity;

  const artifact = headers.single(ARTIFACT_HEADER);
  if ('duplicate' in artifact) return fail('artifact.malformed', `${ARTIFACT_HEADER} given more than once`);
  facts.artifactHeader = artifact.value;

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
  facts.method = method;
  if (host.length > 256) return fail('request.invalid', 'host longer than 256 characters');
  facts.host = host;
  const path = checkRequestPath(target, limits.pathChars);
  if (!path.ok) return fail('request.invalid', path.problem);
  facts.path = path.path;
  return { ok: true, facts, contextExtensions: attributes?.context_extensions };
}

export type EnvironmentResolution = { ok: true; environment: Environment } | { ok: false; problem: string };

/**
 * The environment this Check runs in: the configured one, with each context extension Envoy's
 * route sets replacing its key's value, if the configuration lists that value for that key.
 * An unknown key or an unlisted value is a mismatch, never ignored.
 */
export function resolveEnvironment(
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
