// Who is calling. In production the caller's identity is the SPIFFE ID in the URI SAN of the
// client certificate it presented on a verified mTLS connection (what Istio and SPIRE issue).
// For development, bearer tokens map to identities; only their SHA-256 digests are configured,
// and a presented token is compared against every digest in constant time.
import { createHash, timingSafeEqual, X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';

export type Transport = 'grpc' | 'http';

export type Caller =
  | { authenticated: true; identity: string; via: 'mtls' | 'token'; transport: Transport }
  | { authenticated: false; problem: string; transport: Transport };

/** SPIFFE ID (spiffe.io/spiffe-id): a trust domain and a path, within the artifact subject limit. */
const SPIFFE_ID = /^spiffe:\/\/[a-z0-9._-]{1,255}(\/[A-Za-z0-9._-]+)+$/;
const MAX_SPIFFE_CHARS = 256;
const MAX_TOKEN_CHARS = 512;
const SHA256_HEX = /^[0-9a-f]{64}$/;

export interface DevToken {
  identity: string;
  /** Hex SHA-256 of the token. */
  sha256: string;
}

export class TokenTable {
  private readonly entries: { digest: Buffer; identity: string }[];

  constructor(tokens: readonly DevToken[]) {
    this.entries = tokens.map((t) => {
      if (!SHA256_HEX.test(t.sha256)) throw new Error(`token digest for ${t.identity} is not hex SHA-256`);
      return { digest: Buffer.from(t.sha256, 'hex'), identity: t.identity };
    });
  }

  get size(): number {
    return this.entries.length;
  }

  /** The identity a token maps to. Every digest is compared, so timing says nothing about which matched. */
  identityOf(token: string): string | undefined {
    if (token.length === 0 || token.length > MAX_TOKEN_CHARS) return undefined;
    const digest = createHash('sha256').update(token, 'utf8').digest();
    let found: string | undefined;
    for (const entry of this.entries) {
      if (timingSafeEqual(entry.digest, digest) && found === undefined) found = entry.identity;
    }
    return found;
  }
}

/** The token of an `Authorization: Bearer <token>` header value, if that is what it is. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined || header.length > MAX_TOKEN_CHARS + 7) return undefined;
  // The scheme is case-insensitive (RFC 9110 §11.1).
  const match = /^bearer ([\x21-\x7e]+)$/i.exec(header);
  return match?.[1];
}

/**
 * Splits Node's subjectAltName text ("DNS:a, URI:spiffe://x/y") into entries. Node quotes a value
 * that contains a comma, quote or other special character as a JSON string, so a crafted SAN
 * cannot smuggle an extra entry through a comma.
 */
function subjectAltNames(text: string): { type: string; value: string }[] | undefined {
  const out: { type: string; value: string }[] = [];
  const entry = /([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/y;
  while (entry.lastIndex < text.length) {
    const start = entry.lastIndex;
    const match = entry.exec(text);
    if (!match || entry.lastIndex === start) return undefined;
    let value = match[2]!;
    if (value.startsWith('"')) {
      try {
        value = JSON.parse(value) as string;
      } catch {
        return undefined;
      }
    }
    out.push({ type: match[1]!, value });
  }
  return out;
}

/**
 * The SPIFFE ID of a certificate: exactly one URI SAN, and it is a SPIFFE ID (an X.509-SVID has
 * exactly one). Anything else yields undefined.
 */
export function spiffeIdOf(certificate: PeerCertificate | X509Certificate | undefined): string | undefined {
  if (!certificate) return undefined;
  const text =
    certificate instanceof X509Certificate
      ? certificate.subjectAltName
      : (certificate as PeerCertificate).subjectaltname;
  if (typeof text !== 'string' || text.length === 0 || text.length > 16_384) return undefined;
  const uris = subjectAltNames(text)?.filter((e) => e.type === 'URI');
  if (uris?.length !== 1) return undefined;
  const id = uris[0]!.value;
  return id.length <= MAX_SPIFFE_CHARS && SPIFFE_ID.test(id) ? id : undefined;
}

export interface Credentials {
  transport: Transport;
  /** The peer certificate of a TLS connection whose chain verified against the client CA. */
  verifiedCertificate?: PeerCertificate | X509Certificate;
  /** The Authorization header or metadata value. */
  authorization?: string;
}

export interface IdentityOptions {
  tokens: TokenTable;
  /** When non-empty, only SPIFFE IDs in these trust domains are accepted. */
  trustDomains: readonly string[];
}

function inTrustDomain(id: string, domains: readonly string[]): boolean {
  if (domains.length === 0) return true;
  const domain = id.slice('spiffe://'.length).split('/')[0];
  return domains.includes(domain!);
}

export function authenticate(credentials: Credentials, options: IdentityOptions): Caller {
  const { transport } = credentials;
  const fromCertificate = spiffeIdOf(credentials.verifiedCertificate);
  if (credentials.verifiedCertificate && fromCertificate === undefined) {
    return { authenticated: false, problem: 'client certificate carries no single SPIFFE ID', transport };
  }
  if (fromCertificate !== undefined && !inTrustDomain(fromCertificate, options.trustDomains)) {
    return {
      authenticated: false,
      problem: 'client certificate is from an untrusted trust domain',
      transport,
    };
  }
  let fromToken: string | undefined;
  if (credentials.authorization !== undefined) {
    const token = bearerToken(credentials.authorization);
    fromToken = token === undefined ? undefined : options.tokens.identityOf(token);
    if (fromToken === undefined)
      return { authenticated: false, problem: 'bearer token is not valid', transport };
  }
  // Two credentials that name different identities are an ambiguity, and ambiguity denies.
  if (fromCertificate !== undefined && fromToken !== undefined && fromCertificate !== fromToken) {
    return { authenticated: false, problem: 'certificate and token name different identities', transport };
  }
  if (fromCertificate !== undefined)
    return { authenticated: true, identity: fromCertificate, via: 'mtls', transport };
  if (fromToken !== undefined) return { authenticated: true, identity: fromToken, via: 'token', transport };
  return { authenticated: false, problem: 'no client certificate and no bearer token', transport };
}
