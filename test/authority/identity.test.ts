import { createHash, X509Certificate } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { authenticate, spiffeIdOf, TokenTable, type IdentityOptions } from '../../authority/identity.js';
import { mintPki, OPENSSL_ABSENT_NOTE, opensslAvailable } from '../support/pki.js';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const tokens = new TokenTable([
  { identity: 'spiffe://dev.local/ns/demo/sa/a', sha256: sha256('token-a') },
  { identity: 'spiffe://dev.local/ns/demo/sa/b', sha256: sha256('token-b') },
]);
const options: IdentityOptions = { tokens, trustDomains: [] };

describe('bearer tokens', () => {
  it('map a known token to its identity', () => {
    expect(authenticate({ transport: 'http', authorization: 'Bearer token-b' }, options)).toEqual({
      authenticated: true,
      identity: 'spiffe://dev.local/ns/demo/sa/b',
      via: 'token',
      transport: 'http',
    });
  });

  it('accept the scheme in any case', () => {
    expect(authenticate({ transport: 'http', authorization: 'bearer token-a' }, options)).toMatchObject({
      identity: 'spiffe://dev.local/ns/demo/sa/a',
    });
  });

  it.each([
    ['an unknown token', 'Bearer token-c'],
    ['another scheme', 'Basic dG9rZW4tYQ=='],
    ['an empty token', 'Bearer '],
    ['an oversized token', `Bearer ${'x'.repeat(10_000)}`],
  ])('refuse %s', (_what, header) => {
    expect(authenticate({ transport: 'grpc', authorization: header }, options)).toMatchObject({
      authenticated: false,
    });
  });

  it('refuse a caller with no credential at all', () => {
    expect(authenticate({ transport: 'http' }, options)).toEqual({
      authenticated: false,
      problem: 'no client certificate and no bearer token',
      transport: 'http',
    });
  });

  it('refuse digests that are not hex SHA-256 at configuration time', () => {
    expect(() => new TokenTable([{ identity: 'x', sha256: 'token-a' }])).toThrow(/not hex SHA-256/);
  });
});

describe.skipIf(!opensslAvailable())('client certificates', () => {
  const pki = opensslAvailable() ? mintPki() : undefined;
  afterAll(() => pki?.cleanup());
  const cert = (san: string, sections?: string) => new X509Certificate(pki!.client(san, sections).cert);

  it('yield the SPIFFE ID of the single URI SAN', () => {
    expect(spiffeIdOf(cert('URI:spiffe://prod.example.org/ns/inference/sa/gateway,DNS:gw.local'))).toBe(
      'spiffe://prod.example.org/ns/inference/sa/gateway',
    );
  });

  it.each([
    ['no URI SAN', 'DNS:gw.local'],
    ['two URI SANs', 'URI:spiffe://a.org/ns/x,URI:spiffe://a.org/ns/y'],
    ['a non-SPIFFE URI', 'URI:https://a.org/ns/x'],
    ['a SPIFFE ID without a path', 'URI:spiffe://a.org'],
  ])('yield nothing for %s', (_what, san) => {
    expect(spiffeIdOf(cert(san))).toBeUndefined();
  });

  it('does not let a comma inside one URI smuggle a second identity', () => {
    const smuggler = cert('@alt', '[alt]\nURI.1 = spiffe://a.org/ns/x, URI:spiffe://a.org/ns/admin\n');
    expect(smuggler.subjectAltName).toBe(
      String.raw`URI:"spiffe://a.org/ns/x\u002c URI:spiffe://a.org/ns/admin"`,
    );
    expect(spiffeIdOf(smuggler)).toBeUndefined();
  });

  it('refuse a certificate from outside the configured trust domains', () => {
    const caller = authenticate(
      { transport: 'grpc', verifiedCertificate: cert('URI:spiffe://evil.org/ns/x') },
      { tokens, trustDomains: ['prod.example.org'] },
    );
    expect(caller).toMatchObject({ authenticated: false, problem: expect.stringContaining('trust domain') });
  });

  it('refuse a certificate and a token that name different identities', () => {
    const caller = authenticate(
      {
        transport: 'http',
        verifiedCertificate: cert('URI:spiffe://dev.local/ns/demo/sa/a'),
        authorization: 'Bearer token-b',
      },
      options,
    );
    expect(caller).toMatchObject({
      authenticated: false,
      problem: expect.stringContaining('different identities'),
    });
  });
});

if (!opensslAvailable()) console.warn(OPENSSL_ABSENT_NOTE);
