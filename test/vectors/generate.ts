// Generates the language-neutral test vectors from fixed seeds: deterministic keys, nonces and
// signatures (Ed25519 signing is deterministic), so regenerating gives byte-identical files.
// `npm run vectors` rewrites test/vectors/artifact/; test/core/vectors.test.ts checks no diff.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  base64urlEncode,
  canonicalBytes,
  canonicalize,
  encodeArtifact,
  hexEncode,
  keySigner,
  nodeCrypto,
  payloadOf,
  privateKeyFromSeed,
  rawPublicKey,
  signArtifact,
  signSync,
  utf8Encode,
  type Artifact,
  type ArtifactPayload,
} from '../../core/index.js';
import * as ed from '@noble/ed25519';
import { sha512 } from '@noble/hashes/sha2.js';
import type { ArtifactVector } from './artifact-vector.js';

const sha3 = (text: string) => nodeCrypto.sha3_512(utf8Encode(text));

function seededKey(name: string) {
  return privateKeyFromSeed(sha3(`execution-governance/test-vectors/key/${name}`).subarray(0, 32));
}

export const ISSUER_KID = 'key:11-11/prod/2026-q2';
export const OTHER_KID = 'key:11-11/prod/2026-q3';
const issuerKey = seededKey('issuer');
const otherKey = seededKey('other');
const issuer = keySigner(ISSUER_KID, issuerKey);

const nonce = (name: string) => base64urlEncode(sha3(`execution-governance/test-vectors/nonce/${name}`).subarray(0, 16));

const POLICY_REF = 'policy://medical/inference/v3';
const POLICY_HASH = 'sha3-512:' + hexEncode(sha3('execution-governance/test-vectors/policy/medical-inference-v3'));

export const basePayload: ArtifactPayload = {
  v: '1',
  iss: 'governance://11-11/authority/prod',
  sub: 'spiffe://cluster.local/ns/inference/sa/inference-gateway',
  op: { name: 'model.invoke', model: 'clinical-summary-v4', scope: ['phi.no_export', 'phi.read'] },
  pol: { ref: POLICY_REF, hash: POLICY_HASH },
  env: { runtime: 'k8s://cluster-east-1/ns/inference', region: 'us-east-1', tenancy: 'single' },
  nbf: '2026-05-12T17:00:00Z',
  exp: '2026-05-12T17:05:00Z',
  use: { mode: 'single', nonce: nonce('single') },
};

type Context = ArtifactVector['context'];

function baseContext(): Context {
  return {
    identity: basePayload.sub,
    operation: { name: 'model.invoke', params: { model: 'clinical-summary-v4' }, scope: ['phi.read'], policy: POLICY_REF },
    environment: { ...basePayload.env },
    now: '2026-05-12T17:02:00Z',
    policies: { [POLICY_REF]: [POLICY_HASH] },
    revoked: [],
    revoked_kids: [],
    consumed: [],
    skew_seconds: 0,
  };
}

/** A kid that names the identity point: a small-order key, which verifiers must refuse. */
const SMALL_ORDER_KID = 'key:test/small-order';
const keys = {
  [ISSUER_KID]: base64urlEncode(rawPublicKey(issuerKey)),
  [OTHER_KID]: base64urlEncode(rawPublicKey(otherKey)),
  [SMALL_ORDER_KID]: base64urlEncode(ed.Point.ZERO.toBytes()),
};

ed.hashes.sha512 = sha512;
const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const littleEndian = (bytes: Uint8Array) => bytes.reduceRight((n, b) => (n << 8n) | BigInt(b), 0n);
const scalarBytes = (n: bigint) => Uint8Array.from({ length: 32 }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn));

/**
 * A signature by the issuer whose R carries a point of order 8: S = r + k·a for R = [r]B + T.
 * The cofactored equation accepts it, the cofactorless one (which this protocol requires) does not.
 */
function smallOrderComponentSignature(message: Uint8Array): Uint8Array {
  const seed = sha3('execution-governance/test-vectors/key/issuer').subarray(0, 32);
  const { scalar, pointBytes } = ed.utils.getExtendedPublicKey(seed);
  const torsion = ed.Point.fromHex('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a');
  const r = littleEndian(sha3('execution-governance/test-vectors/small-order-r').subarray(0, 32)) % L;
  const R = ed.Point.BASE.multiply(r).add(torsion).toBytes();
  const k = littleEndian(sha512(new Uint8Array([...R, ...pointBytes, ...message]))) % L;
  return new Uint8Array([...R, ...scalarBytes((r + k * scalar) % L)]);
}

/** Mutable deep copy through JSON: the vectors are plain JSON. */
const clone = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

const b64 = (text: string | Uint8Array) => base64urlEncode(typeof text === 'string' ? utf8Encode(text) : text);

/**
 * Flips one bit of the last character of a string field so that it stays within its alphabet
 * (case bit for letters, low bit for digits): the artifact still parses, only integrity fails.
 */
function flipBit(value: string): string {
  const i = value.length - 1;
  const c = value.charCodeAt(i);
  const isLetter = (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
  const flipped = isLetter ? c ^ 0x20 : c >= 48 && c <= 57 ? c ^ 0x01 : c;
  if (flipped === c) throw new Error(`cannot flip ${value}`);
  return value.slice(0, i) + String.fromCharCode(flipped) + value.slice(i + 1);
}

/** A header respelled in the standard base64 alphabet; it must use a base64url-only character. */
function standardBase64(header: string): string {
  if (!/[-_]/.test(header)) throw new Error('header uses no base64url-only character');
  return header.replaceAll('-', '+').replaceAll('_', '/');
}

interface Case {
  name: string;
  desc: string;
  artifact: string | null;
  context?: (ctx: Context) => void;
  want: ArtifactVector['want'];
}

async function sign(mutate: (p: ArtifactPayload) => void = () => undefined): Promise<Artifact> {
  const payload = clone(basePayload);
  mutate(payload);
  return signArtifact(payload, issuer, nodeCrypto);
}

/** Header of an artifact edited after signing (re-canonicalized, so it still parses). */
function tampered(artifact: Artifact, edit: (a: Artifact) => void): string {
  const copy = clone(artifact);
  edit(copy);
  return encodeArtifact(copy);
}

export async function buildCases(): Promise<Case[]> {
  const single = await sign();
  const bounded = await sign((p) => (p.use = { mode: 'bounded', nonce: nonce('bounded'), max: 3 }));
  const rate = await sign((p) => (p.use = { mode: 'rate', nonce: nonce('rate'), rate: 10, window: 60 }));
  const header = encodeArtifact(single);
  const text = canonicalize(single);
  const cases: Case[] = [
    { name: 'allow-single', desc: 'valid single-use artifact', artifact: header, want: 'allow' },
    {
      name: 'allow-bounded',
      desc: 'valid bounded artifact (max 3) used twice before',
      artifact: encodeArtifact(bounded),
      context: (c) => (c.consumed = [bounded.id, bounded.id]),
      want: 'allow',
    },
    {
      name: 'allow-rate',
      desc: 'valid rate artifact (10 per 60 s) used 9 times in the window',
      artifact: encodeArtifact(rate),
      context: (c) => (c.consumed = Array<string>(9).fill(rate.id)),
      want: 'allow',
    },
    {
      name: 'allow-empty-scope-request',
      desc: 'a request asking for no scope is a subset of any scope',
      artifact: header,
      context: (c) => (c.operation.scope = []),
      want: 'allow',
    },
    {
      name: 'allow-full-scope-request',
      desc: 'a request asking for the whole bound scope',
      artifact: header,
      context: (c) => (c.operation.scope = ['phi.no_export', 'phi.read']),
      want: 'allow',
    },
    { name: 'allow-at-nbf', desc: 'now equal to nbf', artifact: header, context: (c) => (c.now = single.nbf), want: 'allow' },
    { name: 'allow-at-exp', desc: 'now equal to exp', artifact: header, context: (c) => (c.now = single.exp), want: 'allow' },
    {
      name: 'allow-within-skew',
      desc: 'three seconds past exp with a five-second skew allowance',
      artifact: header,
      context: (c) => {
        c.now = '2026-05-12T17:05:03Z';
        c.skew_seconds = 5;
      },
      want: 'allow',
    },
    // artifact.missing
    { name: 'missing-absent', desc: 'no header', artifact: null, want: 'artifact.missing' },
    { name: 'missing-empty', desc: 'empty header value', artifact: '', want: 'artifact.missing' },
    // artifact.malformed: transport
    { name: 'malformed-not-base64url', desc: 'characters outside base64url', artifact: '!!' + header, want: 'artifact.malformed' },
    { name: 'malformed-padded', desc: 'base64url with = padding', artifact: b64(text + ' ').slice(0, -1) + '=', want: 'artifact.malformed' },
    {
      name: 'malformed-standard-base64',
      desc: 'standard base64 alphabet instead of base64url',
      // Five '~' (0x7e) guarantee one aligned 3-byte group that base64url spells with '-'.
      artifact: standardBase64(encodeArtifact(await sign((p) => (p.op.model = 'clinical-summary-v4~~~~~')))),
      want: 'artifact.malformed',
    },
    {
      name: 'malformed-noncanonical-trailing-bits',
      desc: 'base64url whose unused trailing bits are not zero',
      artifact: b64(text + 'x').slice(0, -1) + 'B',
      want: 'artifact.malformed',
    },
    { name: 'malformed-truncated', desc: 'header cut short', artifact: header.slice(0, -12), want: 'artifact.malformed' },
    { name: 'malformed-trailing-garbage', desc: 'bytes after the JSON object', artifact: b64(text + 'x'), want: 'artifact.malformed' },
    { name: 'malformed-trailing-newline', desc: 'a newline after the JSON object', artifact: b64(text + '\n'), want: 'artifact.malformed' },
    {
      name: 'malformed-whitespace',
      desc: 'insignificant whitespace (pretty-printed JSON)',
      artifact: b64(JSON.stringify(JSON.parse(text), null, 1)),
      want: 'artifact.malformed',
    },
    {
      name: 'malformed-key-order',
      desc: 'members not in RFC 8785 order',
      artifact: b64(JSON.stringify({ v: single.v, ...JSON.parse(text) })),
      want: 'artifact.malformed',
    },
    {
      name: 'malformed-duplicate-key',
      desc: 'a duplicated member name (sub given twice)',
      artifact: b64(text.replace('"sub":', '"sub":"spiffe://attacker","sub":')),
      want: 'artifact.malformed',
    },
    {
      name: 'malformed-escape-variant',
      desc: 'a character written as a \\u escape where canonical form uses the character',
      artifact: b64(text.replace('"model.invoke"', '"model\\u002einvoke"')),
      want: 'artifact.malformed',
    },
    {
      name: 'malformed-noncanonical-number',
      desc: 'bounded max written as 3.0',
      artifact: b64(canonicalize(bounded).replace('"max":3', '"max":3.0')),
      want: 'artifact.malformed',
    },
    {
      name: 'malformed-lone-surrogate',
      desc: 'a lone UTF-16 surrogate escape in a string',
      artifact: b64(text.replace('"phi.read"', '"phi.read\\ud800"')),
      want: 'artifact.malformed',
    },
    { name: 'malformed-bom', desc: 'a UTF-8 byte-order mark before the JSON', artifact: b64('\ufeff' + text), want: 'artifact.malformed' },
    {
      name: 'malformed-invalid-utf8',
      desc: 'bytes that are not UTF-8',
      artifact: b64(new Uint8Array([...utf8Encode(text.slice(0, -2)), 0xc3, 0x28, 0x7d])),
      want: 'artifact.malformed',
    },
    { name: 'malformed-too-long', desc: 'header of 8193 characters', artifact: 'A'.repeat(8193), want: 'artifact.malformed' },
    // artifact.malformed: schema
    { name: 'malformed-not-object', desc: 'a JSON array', artifact: b64('[1]'), want: 'artifact.malformed' },
    { name: 'malformed-unknown-field', desc: 'an extra top-level member', artifact: tampered(single, (a) => Object.assign(a, { x: 1 })), want: 'artifact.malformed' },
    { name: 'malformed-missing-sig', desc: 'no sig member', artifact: tampered(single, (a) => delete (a as Partial<Artifact>).sig), want: 'artifact.malformed' },
    { name: 'malformed-version', desc: 'v "2"', artifact: tampered(single, (a) => Object.assign(a, { v: '2' })), want: 'artifact.malformed' },
    { name: 'malformed-alg-none', desc: 'sig.alg "none" (JWT-style downgrade)', artifact: tampered(single, (a) => Object.assign(a.sig, { alg: 'none', val: '' })), want: 'artifact.malformed' },
    {
      name: 'malformed-alg-confusion',
      desc: 'sig.alg "hs256" (algorithm confusion)',
      artifact: tampered(single, (a) => Object.assign(a.sig, { alg: 'hs256' })),
      want: 'artifact.malformed',
    },
    { name: 'malformed-kid-path', desc: 'kid injection: a path', artifact: tampered(single, (a) => (a.sig.kid = '../../../etc/passwd')), want: 'artifact.malformed' },
    {
      name: 'malformed-kid-dotdot',
      desc: 'kid injection: a path with .. segments inside',
      artifact: tampered(single, (a) => (a.sig.kid = 'key/../../etc/passwd')),
      want: 'artifact.malformed',
    },
    { name: 'malformed-kid-sql', desc: "kid injection: SQL-looking", artifact: tampered(single, (a) => (a.sig.kid = "key' OR '1'='1")), want: 'artifact.malformed' },
    { name: 'malformed-sig-length', desc: 'sig.val of 63 bytes', artifact: tampered(single, (a) => (a.sig.val = a.sig.val.slice(0, 84))), want: 'artifact.malformed' },
    { name: 'malformed-bounded-fraction', desc: 'bounded max 2.5', artifact: tampered(bounded, (a) => Object.assign(a.use, { max: 2.5 })), want: 'artifact.malformed' },
    { name: 'malformed-bounded-zero', desc: 'bounded max 0', artifact: tampered(bounded, (a) => Object.assign(a.use, { max: 0 })), want: 'artifact.malformed' },
    {
      name: 'malformed-unsafe-integer',
      desc: 'bounded max 2^53, beyond the safe integers',
      artifact: tampered(bounded, (a) => Object.assign(a.use, { max: 2 ** 53 })),
      want: 'artifact.malformed',
    },
    { name: 'malformed-use-mode', desc: 'use.mode "unlimited"', artifact: tampered(single, (a) => Object.assign(a.use, { mode: 'unlimited' })), want: 'artifact.malformed' },
    { name: 'malformed-nonce-short', desc: 'nonce of fewer than 128 bits', artifact: tampered(single, (a) => (a.use.nonce = a.use.nonce.slice(0, 20))), want: 'artifact.malformed' },
    { name: 'malformed-time-fraction', desc: 'exp with fractional seconds', artifact: tampered(single, (a) => (a.exp = '2026-05-12T17:05:00.000Z')), want: 'artifact.malformed' },
    { name: 'malformed-time-offset', desc: 'exp with a +00:00 offset instead of Z', artifact: tampered(single, (a) => (a.exp = '2026-05-12T17:05:00+00:00')), want: 'artifact.malformed' },
    { name: 'malformed-time-impossible', desc: 'nbf on 30 February', artifact: tampered(single, (a) => (a.nbf = '2026-02-30T17:00:00Z')), want: 'artifact.malformed' },
    { name: 'malformed-window-inverted', desc: 'exp before nbf', artifact: tampered(single, (a) => (a.exp = '2026-05-12T16:59:59Z')), want: 'artifact.malformed' },
    { name: 'malformed-window-too-long', desc: 'validity window over 24 h', artifact: tampered(single, (a) => (a.exp = '2026-05-13T17:00:01Z')), want: 'artifact.malformed' },
    { name: 'malformed-scope-unsorted', desc: 'scope not in ascending order', artifact: tampered(single, (a) => (a.op.scope = ['phi.read', 'phi.no_export'])), want: 'artifact.malformed' },
    { name: 'malformed-scope-duplicate', desc: 'scope with a duplicate', artifact: tampered(single, (a) => (a.op.scope = ['phi.read', 'phi.read'])), want: 'artifact.malformed' },
    { name: 'malformed-param-not-string', desc: 'an operation parameter that is a number', artifact: tampered(single, (a) => Object.assign(a.op, { model: 4 })), want: 'artifact.malformed' },
    {
      name: 'malformed-confusable',
      desc: 'a Cyrillic letter in the subject (unicode confusable)',
      artifact: tampered(single, (a) => (a.sub = a.sub.replace('gateway', 'gatеway'))),
      want: 'artifact.malformed',
    },
    {
      name: 'malformed-deep-nesting',
      desc: 'an operation parameter nested 40 arrays deep',
      artifact: b64(text.replace('"clinical-summary-v4"', '['.repeat(40) + ']'.repeat(40))),
      want: 'artifact.malformed',
    },
    // artifact.signature.invalid
    { name: 'signature-unknown-kid', desc: 'kid not in the issuer registry', artifact: tampered(single, (a) => (a.sig.kid = 'key:11-11/prod/2099-q1')), want: 'artifact.signature.invalid' },
    {
      name: 'signature-kid-url',
      desc: 'kid injection: a URL (well-formed, unknown)',
      artifact: tampered(single, (a) => (a.sig.kid = 'https://attacker.example/jwks.json')),
      want: 'artifact.signature.invalid',
    },
    { name: 'signature-key-swapped', desc: 'signed by one key, naming another kid', artifact: tampered(single, (a) => (a.sig.kid = OTHER_KID)), want: 'artifact.signature.invalid' },
    {
      name: 'signature-recomputed-hashes',
      desc: 'payload edited with chash and id recomputed; the signature no longer verifies',
      artifact: encodeArtifact({ ...(await sign((p) => (p.sub = 'spiffe://cluster.local/ns/x/sa/attacker'))), sig: single.sig }),
      want: 'artifact.signature.invalid',
    },
    {
      name: 'signature-over-other-canonical-form',
      desc: 'signature over a non-canonical (pretty-printed) spelling of the payload',
      artifact: encodeArtifact({
        ...single,
        sig: { ...single.sig, val: base64urlEncode(signSync(issuerKey, utf8Encode(JSON.stringify(basePayload, null, 2)))) },
      }),
      want: 'artifact.signature.invalid',
    },
    {
      name: 'signature-small-order-key',
      desc: 'kid names a small-order key (the identity point) with R = [5]B, S = 5, valid for any message under a lax verifier',
      artifact: tampered(single, (a) => {
        a.sig.kid = SMALL_ORDER_KID;
        a.sig.val = base64urlEncode(new Uint8Array([...ed.Point.BASE.multiply(5n).toBytes(), ...scalarBytes(5n)]));
      }),
      want: 'artifact.signature.invalid',
    },
    {
      name: 'signature-small-order-component',
      desc: 'an issuer signature whose R has a small-order component (accepted by the cofactored equation only)',
      artifact: tampered(single, (a) => (a.sig.val = base64urlEncode(smallOrderComponentSignature(canonicalBytes(payloadOf(a)))))),
      want: 'artifact.signature.invalid',
    },
    {
      name: 'signature-issuer-mismatch',
      desc: 'signed by a trusted key, but in the name of an issuer the key is not certified for',
      artifact: encodeArtifact(await sign((p) => (p.iss = 'governance://11-11/authority/other'))),
      want: 'artifact.signature.invalid',
    },
    {
      name: 'signature-zero',
      desc: 'an all-zero signature',
      artifact: tampered(single, (a) => (a.sig.val = base64urlEncode(new Uint8Array(64)))),
      want: 'artifact.signature.invalid',
    },
    // artifact.expired
    { name: 'expired-one-second-past', desc: 'now one second past exp', artifact: header, context: (c) => (c.now = '2026-05-12T17:05:01Z'), want: 'artifact.expired' },
    { name: 'expired-nbf-future', desc: 'now one second before nbf', artifact: header, context: (c) => (c.now = '2026-05-12T16:59:59Z'), want: 'artifact.expired' },
    {
      name: 'expired-beyond-skew',
      desc: 'six seconds past exp with a five-second skew allowance',
      artifact: header,
      context: (c) => {
        c.now = '2026-05-12T17:05:06Z';
        c.skew_seconds = 5;
      },
      want: 'artifact.expired',
    },
    // bindings
    { name: 'identity-mismatch', desc: 'caller is another workload', artifact: header, context: (c) => (c.identity = 'spiffe://cluster.local/ns/inference/sa/other'), want: 'identity.mismatch' },
    { name: 'identity-empty', desc: 'no authenticated caller identity', artifact: header, context: (c) => (c.identity = ''), want: 'identity.mismatch' },
    { name: 'policy-op-name', desc: 'another operation name', artifact: header, context: (c) => (c.operation.name = 'model.train'), want: 'policy.mismatch' },
    { name: 'policy-param-value', desc: 'another model', artifact: header, context: (c) => (c.operation.params = { model: 'clinical-summary-v5' }), want: 'policy.mismatch' },
    {
      name: 'policy-param-extra',
      desc: 'the request carries a parameter the artifact does not bind',
      artifact: header,
      context: (c) => (c.operation.params = { model: 'clinical-summary-v4', tenant: 'a' }),
      want: 'policy.mismatch',
    },
    { name: 'policy-param-missing', desc: 'the request lacks a bound parameter', artifact: header, context: (c) => (c.operation.params = {}), want: 'policy.mismatch' },
    { name: 'policy-scope-exceeds', desc: 'requested scope not granted', artifact: header, context: (c) => (c.operation.scope = ['phi.read', 'phi.write']), want: 'policy.mismatch' },
    { name: 'policy-ref', desc: 'the route requires another policy', artifact: header, context: (c) => (c.operation.policy = 'policy://medical/inference/v4'), want: 'policy.mismatch' },
    {
      name: 'policy-hash-unknown',
      desc: 'the bound policy hash is not a known version of the ref',
      artifact: header,
      context: (c) => (c.policies = { [POLICY_REF]: ['sha3-512:' + '0'.repeat(128)] }),
      want: 'policy.mismatch',
    },
    { name: 'environment-runtime', desc: 'another runtime', artifact: header, context: (c) => (c.environment.runtime = 'k8s://cluster-west-2/ns/inference'), want: 'environment.mismatch' },
    { name: 'environment-region', desc: 'another region', artifact: header, context: (c) => (c.environment.region = 'eu-west-1'), want: 'environment.mismatch' },
    { name: 'environment-tenancy', desc: 'another tenancy', artifact: header, context: (c) => (c.environment.tenancy = 'shared'), want: 'environment.mismatch' },
    // revocation, use, issuer state
    { name: 'revoked-artifact', desc: 'artifact id in the revocation set', artifact: header, context: (c) => (c.revoked = [single.id]), want: 'artifact.revoked' },
    { name: 'revoked-kid', desc: 'signing key revoked', artifact: header, context: (c) => (c.revoked_kids = [ISSUER_KID]), want: 'artifact.revoked' },
    { name: 'replayed-single', desc: 'single-use artifact already consumed', artifact: header, context: (c) => (c.consumed = [single.id]), want: 'artifact.replayed' },
    {
      name: 'replayed-bounded',
      desc: 'bounded artifact (max 3) used three times',
      artifact: encodeArtifact(bounded),
      context: (c) => (c.consumed = [bounded.id, bounded.id, bounded.id]),
      want: 'artifact.replayed',
    },
    {
      name: 'replayed-rate',
      desc: 'rate artifact (10 per 60 s) with ten uses in the window',
      artifact: encodeArtifact(rate),
      context: (c) => (c.consumed = Array<string>(10).fill(rate.id)),
      want: 'artifact.replayed',
    },
    { name: 'issuer-unavailable', desc: 'key and revocation views are stale', artifact: header, context: (c) => (c.issuer_unavailable = true), want: 'issuer.unavailable' },
    // order of checks
    {
      name: 'order-forged-and-expired',
      desc: 'a tampered artifact that is also expired is a bad signature',
      artifact: tampered(single, (a) => (a.sub = flipBit(a.sub))),
      context: (c) => (c.now = '2026-06-01T00:00:00Z'),
      want: 'artifact.signature.invalid',
    },
    {
      name: 'order-expired-and-wrong-identity',
      desc: 'expiry is checked before bindings',
      artifact: header,
      context: (c) => {
        c.now = '2026-05-12T17:05:01Z';
        c.identity = 'spiffe://cluster.local/ns/x/sa/y';
      },
      want: 'artifact.expired',
    },
    {
      name: 'order-wrong-identity-and-revoked',
      desc: 'bindings are checked before revocation',
      artifact: header,
      context: (c) => {
        c.identity = 'spiffe://cluster.local/ns/x/sa/y';
        c.revoked = [single.id];
      },
      want: 'identity.mismatch',
    },
    {
      name: 'order-revoked-and-replayed',
      desc: 'revocation is checked before use',
      artifact: header,
      context: (c) => {
        c.revoked = [single.id];
        c.consumed = [single.id];
      },
      want: 'artifact.revoked',
    },
    {
      name: 'order-unknown-kid-and-stale-view',
      desc: 'a stale key view is issuer.unavailable even for an unknown kid',
      artifact: tampered(single, (a) => (a.sig.kid = 'key:unknown')),
      context: (c) => (c.issuer_unavailable = true),
      want: 'issuer.unavailable',
    },
  ];
  // One bit flipped in each signed or derived field: the artifact still parses, integrity fails.
  const fields: [string, (a: Artifact) => void][] = [
    ['iss', (a) => (a.iss = flipBit(a.iss))],
    ['sub', (a) => (a.sub = flipBit(a.sub))],
    ['op-name', (a) => (a.op.name = flipBit(a.op.name))],
    ['op-param', (a) => (a.op.model = flipBit(a.op.model as string))],
    ['op-scope', (a) => (a.op.scope = ['phi.no_export', 'phi.reaD'])],
    ['pol-ref', (a) => (a.pol.ref = flipBit(a.pol.ref))],
    ['pol-hash', (a) => (a.pol.hash = a.pol.hash.slice(0, -1) + (a.pol.hash.endsWith('0') ? '1' : '0'))],
    ['env-runtime', (a) => (a.env.runtime = flipBit(a.env.runtime))],
    ['env-region', (a) => (a.env.region = flipBit(a.env.region))],
    ['env-tenancy', (a) => (a.env.tenancy = flipBit(a.env.tenancy))],
    ['nbf', (a) => (a.nbf = '2026-05-12T17:00:01Z')],
    ['exp', (a) => (a.exp = '2026-05-12T17:05:01Z')],
    // The nonce's last character carries 4 must-be-zero bits, so its first character is flipped.
    ['use-nonce', (a) => (a.use.nonce = flipBit(a.use.nonce.slice(0, 1)) + a.use.nonce.slice(1))],
    // Crockford base32 has no lowercase, so the id's bit flip is in a digit position.
    ['id', (a) => (a.id = a.id.replace(/[0-9]/, (d) => String.fromCharCode(d.charCodeAt(0) ^ 1)))],
    ['chash', (a) => (a.chash = a.chash.slice(0, -1) + (a.chash.endsWith('0') ? '1' : '0'))],
    ['sig-val', (a) => (a.sig.val = (a.sig.val.startsWith('A') ? 'B' : 'A') + a.sig.val.slice(1))],
  ];
  for (const [field, edit] of fields) {
    cases.push({
      name: `signature-bitflip-${field}`,
      desc: `one bit flipped in ${field.replace('-', '.')} after signing`,
      artifact: tampered(single, edit),
      want: 'artifact.signature.invalid',
    });
  }
  return cases;
}

export async function generateArtifactVectors(): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const c of await buildCases()) {
    const context = baseContext();
    c.context?.(context);
    const vector: ArtifactVector = { desc: c.desc, artifact: c.artifact, keys, issuer: basePayload.iss, context, want: c.want };
    if (files.has(`${c.name}.json`)) throw new Error(`duplicate vector name ${c.name}`);
    files.set(`${c.name}.json`, JSON.stringify(vector, null, 2) + '\n');
  }
  return files;
}

export const ARTIFACT_VECTOR_DIR = join(dirname(fileURLToPath(import.meta.url)), 'artifact');

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const files = await generateArtifactVectors();
  rmSync(ARTIFACT_VECTOR_DIR, { recursive: true, force: true });
  mkdirSync(ARTIFACT_VECTOR_DIR, { recursive: true });
  for (const [name, content] of files) writeFileSync(join(ARTIFACT_VECTOR_DIR, name), content);
  console.log(`wrote ${files.size} vectors to ${ARTIFACT_VECTOR_DIR} (${readdirSync(ARTIFACT_VECTOR_DIR).length} files)`);
}
