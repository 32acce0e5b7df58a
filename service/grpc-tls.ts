// TLS on a service's gRPC listener, from PEM files that are read again while it serves: a
// certificate renewed on disk (cert-manager, SPIRE's helper, a rotated Secret) is presented from
// the next handshake on, without a restart. With a client CA, every client must present a
// certificate that chains to it (mutual TLS); without one, none is asked for.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { experimental, ServerCredentials } from '@grpc/grpc-js';
import { z } from 'zod';
import { GovernanceError } from '../core/errors.js';
import { readConfiguredFile } from './config.js';

export const grpcTlsSchema = z.strictObject({
  certFile: z.string().min(1),
  keyFile: z.string().min(1),
  /** CAs (PEM) a client certificate must chain to; without it the listener asks for none. */
  clientCaFile: z.string().min(1).optional(),
  /** How often the files are read again. */
  reloadSeconds: z.number().int().min(1).max(86_400).default(60),
});
export type GrpcTls = z.infer<typeof grpcTlsSchema>;

interface Loaded {
  identity: experimental.IdentityCertificateUpdate;
  ca: experimental.CaCertificateUpdate | null;
}

function parsed<T>(pem: Buffer, what: string, path: string, parse: (pem: Buffer) => T): T {
  try {
    return parse(pem);
  } catch {
    throw new GovernanceError('config.invalid', `the ${what} ${path} is not a PEM ${what}`);
  }
}

/** The files, read and checked: PEM, and a key that belongs to the certificate. */
function load(tls: GrpcTls): Loaded {
  const certificate = readConfiguredFile(tls.certFile, 'certificate');
  const privateKey = readConfiguredFile(tls.keyFile, 'private key');
  const cert = parsed(certificate, 'certificate', tls.certFile, (pem) => new X509Certificate(pem));
  const key = parsed(privateKey, 'private key', tls.keyFile, (pem) => createPrivateKey(pem));
  if (!cert.checkPrivateKey(key))
    throw new GovernanceError(
      'config.invalid',
      `the private key ${tls.keyFile} is not the key of ${tls.certFile}`,
    );
  let ca: Loaded['ca'] = null;
  if (tls.clientCaFile !== undefined) {
    const caCertificate = readConfiguredFile(tls.clientCaFile, 'client CA certificate');
    parsed(caCertificate, 'client CA certificate', tls.clientCaFile, (pem) => new X509Certificate(pem));
    ca = { caCertificate };
  }
  return { identity: { certificate, privateKey }, ca };
}

const sameBytes = (a: Buffer | undefined, b: Buffer | undefined) =>
  a === undefined || b === undefined ? a === b : a.equals(b);

/**
 * The files as grpc-js's certificate provider: loaded and checked at once (grpc-js's own file
 * watcher reads them only once a server binds, refusing connections until then, and drops TLS
 * altogether when one read fails), read again every `reloadSeconds` while a server uses them,
 * and replaced only by a set that passes the same checks: a renewal caught half-written keeps the
 * last good certificate in service, and `onProblem` says why.
 */
class ReloadedFiles implements experimental.CertificateProvider {
  private loaded: Loaded;
  private readonly identityListeners = new Set<experimental.IdentityCertificateUpdateListener>();
  private readonly caListeners = new Set<experimental.CaCertificateUpdateListener>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly tls: GrpcTls,
    private readonly onProblem: (message: string) => void,
  ) {
    this.loaded = load(tls);
  }

  private reload(): void {
    let next: Loaded;
    try {
      next = load(this.tls);
    } catch (e) {
      this.onProblem(`${(e as Error).message}; the last good certificate stays in service`);
      return;
    }
    const caChanged = !sameBytes(next.ca?.caCertificate, this.loaded.ca?.caCertificate);
    const identityChanged =
      !sameBytes(next.identity.certificate, this.loaded.identity.certificate) ||
      !sameBytes(next.identity.privateKey, this.loaded.identity.privateKey);
    this.loaded = next;
    if (caChanged) for (const listener of this.caListeners) listener(next.ca);
    if (identityChanged) for (const listener of this.identityListeners) listener(next.identity);
  }

  private used(): void {
    this.timer ??= setInterval(() => this.reload(), this.tls.reloadSeconds * 1000).unref();
  }

  private unused(): void {
    if (this.identityListeners.size + this.caListeners.size > 0) return;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  // grpc-js registers its watcher of the credentials after adding these listeners: the current
  // files reach it on the next tick, before any connection can arrive.
  addCaCertificateListener(listener: experimental.CaCertificateUpdateListener): void {
    this.caListeners.add(listener);
    this.used();
    process.nextTick(() => this.caListeners.has(listener) && listener(this.loaded.ca));
  }

  removeCaCertificateListener(listener: experimental.CaCertificateUpdateListener): void {
    this.caListeners.delete(listener);
    this.unused();
  }

  addIdentityCertificateListener(listener: experimental.IdentityCertificateUpdateListener): void {
    this.identityListeners.add(listener);
    this.used();
    process.nextTick(() => this.identityListeners.has(listener) && listener(this.loaded.identity));
  }

  removeIdentityCertificateListener(listener: experimental.IdentityCertificateUpdateListener): void {
    this.identityListeners.delete(listener);
    this.unused();
  }
}

/**
 * Insecure credentials without `tls`; otherwise credentials serving its files, read again every
 * `reloadSeconds`. A file that cannot be used stops the service at start (config.invalid);
 * later, `onProblem` hears of one and the last good set stays in service.
 */
export function grpcServerCredentials(
  tls: GrpcTls | undefined,
  onProblem: (message: string) => void,
): ServerCredentials {
  if (tls === undefined) return ServerCredentials.createInsecure();
  const files = new ReloadedFiles(tls, onProblem);
  // grpc-js's declaration names the parameters the other way round; its implementation takes the
  // identity provider first, then the CA provider (null: no client certificate is asked for).
  return experimental.createCertificateProviderServerCredentials(
    files,
    tls.clientCaFile === undefined ? null : files,
    tls.clientCaFile !== undefined,
  );
}
