// A throw-away X.509 PKI minted at test time with the openssl CLI (node:crypto creates keys but
// not certificates): a CA, a server certificate for 127.0.0.1, and client certificates carrying
// a SPIFFE ID as their URI SAN, as Istio and SPIRE issue them. Nothing is committed.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const OPENSSL_ABSENT_NOTE =
  'skipped: the openssl CLI is not on PATH (needed to mint test certificates)';

export function opensslAvailable(): boolean {
  return (process.env.PATH ?? '').split(':').some((dir) => dir && existsSync(join(dir, 'openssl')));
}

export interface KeyPair {
  key: string;
  cert: string;
}

export interface TestPki {
  dir: string;
  ca: string;
  server: KeyPair;
  /**
   * A client certificate with the given SAN extension value (e.g. "URI:spiffe://x/y"), which may
   * refer to sections given after it (e.g. "@alt" and "[alt]\nURI.1 = ...").
   */
  client(subjectAltName: string, sections?: string): KeyPair;
  /** Another server certificate for 127.0.0.1 from `ca` (a renewal). */
  renewedServer(): KeyPair;
  /** A client certificate signed by another CA than `ca`. */
  foreignClient(subjectAltName: string): KeyPair;
  cleanup(): void;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeCa(dir: string, name: string): void {
  openssl(dir, [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-noenc',
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.crt`,
  ]);
}

function issue(dir: string, ca: string, name: string, extensions: string): KeyPair {
  openssl(dir, [
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-noenc',
    '-subj',
    `/CN=${name}`,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
  ]);
  writeFileSync(join(dir, `${name}.ext`), extensions);
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.crt`,
    '-CAkey',
    `${ca}.key`,
    '-days',
    '2',
    '-out',
    `${name}.crt`,
    '-extfile',
    `${name}.ext`,
  ]);
  return {
    key: readFileSync(join(dir, `${name}.key`), 'utf8'),
    cert: readFileSync(join(dir, `${name}.crt`), 'utf8'),
  };
}

const SERVER_EXTENSIONS = 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n';

export function mintPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'gov-pki-'));
  makeCa(dir, 'ca');
  makeCa(dir, 'other-ca');
  let n = 0;
  const client =
    (ca: string) =>
    (san: string, sections = '') =>
      issue(dir, ca, `client-${++n}`, `subjectAltName=${san}\nextendedKeyUsage=clientAuth\n${sections}`);
  return {
    dir,
    ca: readFileSync(join(dir, 'ca.crt'), 'utf8'),
    server: issue(dir, 'ca', 'server', SERVER_EXTENSIONS),
    renewedServer: () => issue(dir, 'ca', `server-${++n}`, SERVER_EXTENSIONS),
    client: client('ca'),
    foreignClient: client('other-ca'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
