// TLS on the Check listener (service/grpc-tls.ts), with a PKI minted by openssl: the server's
// certificate, client certificates checked against a configured CA (mutual TLS), a renewed
// certificate served without a restart, and files that cannot be used refused at start.
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { credentials, Server } from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { grpcServerCredentials, type GrpcTls } from '../../service/grpc-tls.js';
import {
  mintPki,
  OPENSSL_ABSENT_NOTE,
  opensslAvailable,
  type KeyPair,
  type TestPki,
} from '../support/pki.js';
import { EnvoyClient, fixture } from './support/envoy-client.js';
import { requestId, startHarness, type Harness } from './support/harness.js';

describe.skipIf(!opensslAvailable())('the Check listener over TLS', () => {
  let pki: TestPki;
  let dir: string;
  let h: Harness | undefined;
  let client: EnvoyClient | undefined;
  beforeAll(() => {
    pki = mintPki();
    dir = mkdtempSync(join(tmpdir(), 'authz-tls-'));
  });
  afterAll(() => {
    pki.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });
  afterEach(async () => {
    client?.close();
    client = undefined;
    await h?.close();
    h = undefined;
  });

  /** The server's files, written where a test may replace them. */
  function serverFiles(pair: KeyPair, clientCa?: string): GrpcTls {
    const certFile = join(dir, 'server.crt');
    const keyFile = join(dir, 'server.key');
    writeFileSync(certFile, pair.cert);
    writeFileSync(keyFile, pair.key);
    const tls: GrpcTls = { certFile, keyFile, reloadSeconds: 1 };
    if (clientCa !== undefined) {
      tls.clientCaFile = join(dir, 'client-ca.crt');
      writeFileSync(tls.clientCaFile, clientCa);
    }
    return tls;
  }

  const start = async (tls: GrpcTls) =>
    (h = await startHarness({ config: { grpc: { host: '127.0.0.1', port: 0, tls } } }));

  const tlsClient = (as?: KeyPair) =>
    (client = new EnvoyClient(
      h!.grpcPort,
      credentials.createSsl(
        Buffer.from(pki.ca),
        as ? Buffer.from(as.key) : null,
        as ? Buffer.from(as.cert) : null,
      ),
    ));

  const invoke = async (via: EnvoyClient) =>
    via.check(fixture('model-invoke', { artifact: await h!.world.issue(), 'request-id': requestId() }), 3000);

  /** The certificate the listener presents to a new connection. */
  function presented(port: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, ca: pki.ca, ALPNProtocols: ['h2'] }, () => {
        resolve(socket.getPeerX509Certificate()?.fingerprint256 ?? '');
        socket.destroy();
      });
      socket.once('error', reject);
    });
  }

  it('serves Check with its certificate, and nothing in plaintext', async () => {
    await start(serverFiles(pki.server));
    expect((await invoke(tlsClient())).okResponse).toBeDefined();
    const plain = new EnvoyClient(h!.grpcPort);
    try {
      await expect(invoke(plain)).rejects.toThrow(/UNAVAILABLE/);
    } finally {
      plain.close();
    }
  });

  it('asks for a client certificate from the configured CA, and refuses any other', async () => {
    await start(serverFiles(pki.server, pki.ca));
    expect(
      (await invoke(tlsClient(pki.client('URI:spiffe://mesh.example/ns/edge/sa/envoy')))).okResponse,
    ).toBeDefined();
    client!.close();
    await expect(invoke(tlsClient())).rejects.toThrow(/UNAVAILABLE/);
    client!.close();
    await expect(invoke(tlsClient(pki.foreignClient('URI:spiffe://elsewhere/envoy')))).rejects.toThrow(
      /UNAVAILABLE/,
    );
  });

  it('presents a renewed certificate from the next handshake, without a restart', async () => {
    const tls = serverFiles(pki.server);
    await start(tls);
    const first = new X509Certificate(pki.server.cert).fingerprint256;
    expect(await presented(h!.grpcPort)).toBe(first);
    const renewed = pki.renewedServer();
    writeFileSync(`${tls.keyFile}.new`, renewed.key);
    writeFileSync(`${tls.certFile}.new`, renewed.cert);
    copyFileSync(`${tls.keyFile}.new`, tls.keyFile);
    copyFileSync(`${tls.certFile}.new`, tls.certFile);
    const want = new X509Certificate(renewed.cert).fingerprint256;
    let seen = first;
    for (let i = 0; i < 100 && seen !== want; i++) {
      await new Promise((r) => setTimeout(r, 100));
      seen = await presented(h!.grpcPort);
    }
    expect(seen).toBe(want);
    expect((await invoke(tlsClient())).okResponse).toBeDefined();
  });

  it('keeps the last good certificate when a renewal is caught half-written, and says why', async () => {
    const tls = serverFiles(pki.server);
    const problems: string[] = [];
    const server = new Server();
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(
        '127.0.0.1:0',
        grpcServerCredentials(tls, (p) => problems.push(p)),
        (e, bound) => (e ? reject(e) : resolve(bound)),
      ),
    );
    try {
      const first = new X509Certificate(pki.server.cert).fingerprint256;
      expect(await presented(port)).toBe(first);
      // The new certificate is on disk, its key not yet.
      writeFileSync(tls.certFile, pki.renewedServer().cert);
      for (let i = 0; i < 100 && problems.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
      expect(problems[0]).toMatch(/is not the key of .*; the last good certificate stays in service$/);
      expect(await presented(port)).toBe(first);
    } finally {
      server.forceShutdown();
    }
  });

  it.each([
    ['a certificate file that does not exist', (t: GrpcTls) => ({ ...t, certFile: join(dir, 'absent.crt') })],
    ['a key file that is not a key', (t: GrpcTls) => ({ ...t, keyFile: t.certFile })],
    ['a client CA file that is not a certificate', (t: GrpcTls) => ({ ...t, clientCaFile: t.keyFile })],
    ["a key that is not the certificate's", (t: GrpcTls) => ({ ...t, keyFile: join(pki.dir, 'ca.key') })],
  ])('refuses to start with %s (config.invalid)', async (_what, spoil) => {
    await expect(start(spoil(serverFiles(pki.server)))).rejects.toMatchObject({ code: 'config.invalid' });
  });
});

if (!opensslAvailable()) console.warn(OPENSSL_ABSENT_NOTE);
