// The route → operation table. The governed operation is derived from the request Envoy saw
// (method, path, host), never from a header the caller chose. Matching never decodes anything:
// the raw path must be in a small safe alphabet (no percent-escapes, no backslash, no dot
// segments, no empty segments) and then equal a template exactly, so `%2F`, `..`, `//` and
// query-string tricks cannot reach a route they do not spell.
import type { RequestedOperation } from '../core/decision.js';

/** One template segment character outside placeholders: RFC 3986 pchar without pct-encoded. */
const LITERAL_CHARS = /^[A-Za-z0-9._~:@!$&'()*+,;=-]*$/;
/** What a request path may contain (before the query): pchar without pct-encoded, and '/'. */
const SAFE_PATH = /^\/[A-Za-z0-9._~:@!$&'()*+,;=/-]*$/;
const PLACEHOLDER_VALUE = '([A-Za-z0-9._~-]+)';
const PLACEHOLDER = /\{([^{}]*)\}/g;
const PARAM_NAME = /^[a-z][a-z0-9_]{0,63}$/;
const RESERVED_PARAMS = new Set(['name', 'scope']);

export interface RouteSpec {
  method?: string | undefined;
  path?: string | undefined;
  grpc?: { service: string; method: string } | undefined;
  host?: string | undefined;
  operation: string;
  policy: string;
  scope: string[];
}

interface CompiledRoute {
  method: string;
  host: string | undefined;
  pattern: RegExp;
  paramNames: string[];
  operation: string;
  policy: string;
  scope: string[];
}

export type PathCheck = { ok: true; path: string } | { ok: false; problem: string };

/** The path part of a request target, if it is safe to match; the query is never matched. */
export function checkRequestPath(target: string, maxChars: number): PathCheck {
  if (target.length > maxChars) return { ok: false, problem: `path longer than ${maxChars} characters` };
  if (target.includes('#')) return { ok: false, problem: 'path carries a fragment' };
  const queryAt = target.indexOf('?');
  const path = queryAt === -1 ? target : target.slice(0, queryAt);
  if (!SAFE_PATH.test(path)) {
    return { ok: false, problem: 'path is not absolute or has characters outside the safe set (e.g. %, \\)' };
  }
  if (path.includes('//')) return { ok: false, problem: 'path has an empty segment (//)' };
  for (const segment of path.split('/')) {
    if (segment === '.' || segment === '..') return { ok: false, problem: 'path has a dot segment' };
  }
  return { ok: true, path };
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function compileTemplate(template: string): { pattern: RegExp; paramNames: string[] } {
  if (!template.startsWith('/')) throw new Error(`path ${JSON.stringify(template)} must start with /`);
  const paramNames: string[] = [];
  const parts = template
    .slice(1)
    .split('/')
    .map((segment) => {
      if (segment === '' || segment === '.' || segment === '..') {
        throw new Error(`path ${JSON.stringify(template)} has an empty or dot segment`);
      }
      const names = [...segment.matchAll(PLACEHOLDER)].map((m) => m[1]!);
      if (names.length > 1) {
        throw new Error(`path ${JSON.stringify(template)}: at most one placeholder per segment`);
      }
      const [before, after] = names.length === 1 ? segment.split(`{${names[0]}}`) : [segment, ''];
      if (!LITERAL_CHARS.test(before!) || !LITERAL_CHARS.test(after ?? '')) {
        throw new Error(`path ${JSON.stringify(template)} has characters outside the safe set`);
      }
      if (names.length === 0) return escapeRegExp(segment);
      const name = names[0]!;
      if (!PARAM_NAME.test(name) || RESERVED_PARAMS.has(name)) {
        throw new Error(`placeholder {${name}} is not a valid operation parameter name`);
      }
      if (paramNames.includes(name)) throw new Error(`placeholder {${name}} appears twice`);
      paramNames.push(name);
      return escapeRegExp(before!) + PLACEHOLDER_VALUE + escapeRegExp(after!);
    });
  return { pattern: new RegExp(`^/${parts.join('/')}$`), paramNames };
}

export class RouteTable {
  private readonly byMethod = new Map<string, CompiledRoute[]>();

  constructor(routes: readonly RouteSpec[]) {
    const seen = new Set<string>();
    routes.forEach((route, index) => {
      const where = `route ${index} (${route.operation})`;
      const method = route.grpc ? 'POST' : route.method!;
      const template = route.grpc ? `/${route.grpc.service}/${route.grpc.method}` : route.path!;
      let compiled: { pattern: RegExp; paramNames: string[] };
      try {
        compiled = compileTemplate(template);
      } catch (e) {
        throw new Error(`${where}: ${(e as Error).message}`);
      }
      const key = `${method} ${route.host ?? '*'} ${template}`;
      if (seen.has(key)) throw new Error(`${where}: duplicates an earlier route (${key})`);
      seen.add(key);
      const list = this.byMethod.get(method) ?? [];
      list.push({
        method,
        host: route.host,
        ...compiled,
        operation: route.operation,
        policy: route.policy,
        scope: [...new Set(route.scope)].sort(),
      });
      this.byMethod.set(method, list);
    });
  }

  /**
   * The operation a request asks for: the first route (in configuration order) whose method,
   * host and template match. `path` must come from checkRequestPath.
   */
  match(method: string, path: string, host: string): RequestedOperation | undefined {
    const candidates = this.byMethod.get(method);
    if (candidates === undefined) return undefined;
    for (const route of candidates) {
      if (route.host !== undefined && route.host !== host.toLowerCase()) continue;
      const m = route.pattern.exec(path);
      if (m === null) continue;
      const params: Record<string, string> = {};
      for (let i = 0; i < route.paramNames.length; i++) params[route.paramNames[i]!] = m[i + 1]!;
      return { name: route.operation, params, scope: route.scope, policy: route.policy };
    }
    return undefined;
  }
}

export function compileRoutes(routes: readonly RouteSpec[]): RouteTable {
  return new RouteTable(routes);
}
