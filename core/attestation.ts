// Runtime attestations: the enforcement point's signed statement that an admitted workload
// reported completing with a given result digest. Canonical bytes are RFC 8785 JSON of the body
// plus `kind: "governance.attestation.v1"`, the domain separator that keeps the statement from
// ever being valid as an artifact, key record, revocation, heartbeat, batch or head
// (docs/authz-server.md, "Attestations"). Pure: enforcement points sign with it, verifiers check.
import { canonicalBytes } from './canonical.js';
import type { CryptoSuite } from './crypto.js';
import { base64urlDecode, base64urlEncode, crockford32Encode, hexEncode, utf8Encode } from './encoding.js';

export const ATTESTATION_KIND = 'governance.attestation.v1';
const ADMISSION_KIND = 'governance.admission.v1';

export interface Workload {
  /** "sha3-512:<hex>" digest of the image. */
  image: string;
  runtime: string;
}

export interface AttestationBody {
  v: '1';
  attestation_id: string;
  artifact_id: string;
  lineage: string;
  /** The workload's identity: the artifact subject, which reported completion. */
  runtime_identity: string;
  workload: Workload;
  policy: { ref: string; hash: string };
  /** "sha3-512:<hex>" of the workload's result envelope. */
  result_digest: string;
  /** The enforcement point (ledger producer id) that attests. */
  attester: string;
  /** RFC 3339 UTC with milliseconds. */
  time: string;
}

export interface Attestation extends AttestationBody {
  sig: { alg: 'ed25519'; kid: string; val: string };
}

/**
 * The id an admission hands out and its attestation later carries: "att_" and 160 random bits
 * (`random` is 20 bytes from a CSPRNG), so only the enforcement point that admitted can produce
 * one, and it names one admission among the uses of a bounded or rate artifact. The use-state
 * store holds it open until it is attested once.
 */
export function attestationIdOf(random: Uint8Array): string {
  if (random.length !== 20) throw new RangeError('an attestation id takes 20 random bytes');
  return 'att_' + crockford32Encode(random);
}

/** How admission.granted names the attestation id it handed out: "sha3-512:<hex>" of its ASCII. */
export function attestationRef(suite: CryptoSuite, attestationId: string): string {
  return 'sha3-512:' + hexEncode(suite.sha3_512(utf8Encode(attestationId)));
}

/** What an admission was for (subject, image, runtime): the attestation must present the same. */
export function admissionBinding(
  suite: CryptoSuite,
  admitted: { identity: string; workload: Workload },
): string {
  const digest = suite.sha3_512(
    canonicalBytes({
      kind: ADMISSION_KIND,
      identity: admitted.identity,
      image: admitted.workload.image,
      runtime: admitted.workload.runtime,
    }),
  );
  return 'sha3-512:' + hexEncode(digest);
}

export function attestationStatement(body: AttestationBody): Uint8Array {
  return canonicalBytes({ ...body, kind: ATTESTATION_KIND });
}

export function signAttestation(
  body: AttestationBody,
  kid: string,
  sign: (message: Uint8Array) => Uint8Array,
): Attestation {
  return { ...body, sig: { alg: 'ed25519', kid, val: base64urlEncode(sign(attestationStatement(body))) } };
}

export function verifyAttestation(
  suite: CryptoSuite,
  attestation: Attestation,
  publicKey: Uint8Array,
): boolean {
  const { sig, ...body } = attestation;
  const signature = typeof sig?.val === 'string' ? base64urlDecode(sig.val) : undefined;
  if (!signature || sig.alg !== 'ed25519') return false;
  try {
    return suite.verifyEd25519(publicKey, attestationStatement(body), signature);
  } catch {
    return false;
  }
}
