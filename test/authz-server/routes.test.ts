// The route → operation table and request-path safety: exact matches only, nothing decoded,
// no way to reach a route through dot segments, encoded slashes, empty segments or the query.
import { describe, expect, it } from 'vitest';
import { checkRequestPath, compileRoutes } from '../../authz-server/routes.js';

const table = compileRoutes([
  {
    method: 'POST',
    path: '/v1/models/{model}:invoke',
    operation: 'model.invoke',
    policy: 'p',
    scope: ['b', 'a'],
  },
  {
    method: 'GET',
    path: '/v1/models/{model}',
    host: 'api.example',
    operation: 'model.read',
    policy: 'p',
    scope: [],
  },
  { grpc: { service: 'tools.v1.Runner', method: 'Run' }, operation: 'tool.run', policy: 'p', scope: [] },
]);

function route(method: string, target: string, host = 'api.example') {
  const path = checkRequestPath(target, 2048);
  return path.ok ? table.match(method, path.path, host) : path.problem;
}

describe('route table', () => {
  it('maps a templated path to its operation, parameters, sorted scope and policy', () => {
    expect(route('POST', '/v1/models/clinical-summary-v4:invoke')).toEqual({
      name: 'model.invoke',
      params: { model: 'clinical-summary-v4' },
      scope: ['a', 'b'],
      policy: 'p',
    });
  });

  it('matches on the path without its query string', () => {
    expect(route('POST', '/v1/models/m:invoke?model=other')).toMatchObject({ params: { model: 'm' } });
  });

  it('maps gRPC service/method routes as POST /service/method', () => {
    expect(route('POST', '/tools.v1.Runner/Run')).toMatchObject({ name: 'tool.run' });
  });

  it('requires the method and, when configured, the host to match', () => {
    expect(route('GET', '/v1/models/m:invoke')).toBeUndefined();
    expect(route('GET', '/v1/models/m', 'other.example')).toBeUndefined();
    expect(route('GET', '/v1/models/m', 'API.example')).toMatchObject({ name: 'model.read' });
  });

  it('lets a placeholder match exactly one segment of its alphabet', () => {
    expect(route('POST', '/v1/models/a/b:invoke')).toBeUndefined();
    expect(route('POST', '/v1/models/a:b:invoke')).toBeUndefined();
    expect(route('POST', '/v1/models/:invoke')).toBeUndefined();
    expect(route('POST', '/v1/models/m:invoke/')).toBeUndefined();
  });

  it.each([
    ['/v1/models/x%2F..%2Fadmin:invoke', /safe set/],
    ['/v1/models/%6d:invoke', /safe set/],
    ['/v1/models/../models/m:invoke', /dot segment/],
    ['/v1/./models/m:invoke', /dot segment/],
    ['/v1//models/m:invoke', /empty segment/],
    ['/v1/models/m:invoke#frag', /fragment/],
    ['v1/models/m:invoke', /not absolute/],
    ['/v1/models/m\\:invoke', /safe set/],
    ['/v1/models/é:invoke', /safe set/],
    ['/' + 'a'.repeat(2048), /longer than/],
  ])('refuses the unsafe path %s', (target, problem) => {
    expect(route('POST', target)).toMatch(problem);
  });

  it.each([
    [[{ method: 'GET', path: '/a/{x}{y}', operation: 'o', policy: 'p', scope: [] }], /one placeholder/],
    [[{ method: 'GET', path: '/a/{name}', operation: 'o', policy: 'p', scope: [] }], /parameter name/],
    [[{ method: 'GET', path: '/a/{x}/{x}', operation: 'o', policy: 'p', scope: [] }], /twice/],
    [[{ method: 'GET', path: '/a//b', operation: 'o', policy: 'p', scope: [] }], /empty or dot/],
    [[{ method: 'GET', path: '/a/%2F', operation: 'o', policy: 'p', scope: [] }], /safe set/],
    [
      [
        { method: 'GET', path: '/a', operation: 'o', policy: 'p', scope: [] },
        { method: 'GET', path: '/a', operation: 'o2', policy: 'p', scope: [] },
      ],
      /duplicates/,
    ],
  ])('refuses an unsafe or ambiguous template (%#)', (routes, message) => {
    expect(() => compileRoutes(routes)).toThrow(message);
  });
});
