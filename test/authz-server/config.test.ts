// Start-up configuration: the deployment's own file is accepted as it is, environment overrides
// apply before validation, and every invalid configuration stops start-up with a message that
// names the field; nothing invalid starts permissive.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from '../../authz-server/config.js';
import { PROJECT_ROOT } from '../support/shared.js';

const DEPLOY_CONFIG = join(PROJECT_ROOT, 'envoy/config/authz.yaml');

function yamlFile(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'authz-config-')), 'authz.yaml');
  writeFileSync(path, text);
  return path;
}

const MINIMAL = `
redis: { mode: standalone, url: redis://redis:6379 }
environment: { runtime: "k8s://cluster-east-1/ns/inference", region: us-east-1, tenancy: single }
identity: { source: peer-principal }
trust: { rootKeys: [/etc/governance/keys/root.pub.pem] }
freshness: { keysSeconds: 30, revocationsSeconds: 10, ledgerCommitWindowMs: 2000 }
routes:
  - { method: POST, path: "/v1/models/{model}:invoke", operation: model.invoke, policy: "policy://medical/inference/v3" }
`;

describe('configuration', () => {
  it('accepts the deployment config envoy/config/authz.yaml as it is, with the documented defaults', () => {
    const config = loadConfig(DEPLOY_CONFIG, {});
    expect(config.grpc).toEqual({
      host: '0.0.0.0',
      port: 9191,
      connectionWindowBytes: 16 * 1024 * 1024,
      reflection: true,
      tls: {
        certFile: '/etc/governance/tls/authz-server.crt',
        keyFile: '/etc/governance/tls/authz-server.key',
        clientCaFile: '/etc/governance/tls/ca.crt',
        reloadSeconds: 60,
      },
    });
    expect(config.http).toEqual({ host: '0.0.0.0', port: 9192 });
    expect(config.decisionDeadlineMs).toBe(200);
    expect(config.routeTable.match('POST', '/v1/models/m1:invoke', 'any')?.name).toBe('model.invoke');
  });

  it('applies REDIS_URL and the port overrides from the environment', () => {
    const config = loadConfig(yamlFile(MINIMAL), {
      REDIS_URL: 'redis://10.1.2.3:6380',
      GOV_AUTHZ_GRPC_PORT: '19191',
      GOV_AUTHZ_HTTP_PORT: '19192',
    });
    expect(config.redis).toMatchObject({ mode: 'standalone', url: 'redis://10.1.2.3:6380' });
    expect(config.grpc.port).toBe(19191);
    expect(config.http.port).toBe(19192);
  });

  it.each([
    ['an unknown top-level key', `${MINIMAL}\nfailOpen: true\n`, /failOpen/],
    ['a missing section', MINIMAL.replace(/^identity:.*$/m, ''), /identity/],
    ['an unknown identity source', MINIMAL.replace('peer-principal', 'anyone'), /identity\.source/],
    ['a redis mode that does not exist', MINIMAL.replace('mode: standalone', 'mode: sharded'), /redis\.mode/],
    [
      'a route template with a placeholder that is not a parameter name',
      MINIMAL.replace('{model}', '{Model}'),
      /placeholder/,
    ],
    ['a route without a method', MINIMAL.replace('method: POST, ', ''), /method/],
    [
      'a negative freshness bound',
      MINIMAL.replace('keysSeconds: 30', 'keysSeconds: -1'),
      /freshness\.keysSeconds/,
    ],
    ['duplicate YAML keys', `${MINIMAL}clockSkewSeconds: 5\nclockSkewSeconds: 600\n`, /not valid YAML/],
  ])('refuses %s with a message naming it', (_what, text, message) => {
    expect(() => loadConfig(yamlFile(text), {})).toThrow(message);
  });

  it('refuses a malformed port in the environment', () => {
    expect(() => loadConfig(yamlFile(MINIMAL), { GOV_AUTHZ_GRPC_PORT: '91a' })).toThrow(
      /GOV_AUTHZ_GRPC_PORT/,
    );
  });

  it('reports config.invalid, not a crash, for a document that is not a mapping', () => {
    expect(() => parseConfig(['routes'])).toThrow(expect.objectContaining({ code: 'config.invalid' }));
  });
});
