// The primitives every verifier needs. Two implementations exist and must never
// disagree: crypto-node.ts (OpenSSL through node:crypto, the hot path) and crypto-portable.ts
// (@noble only, for third parties and browsers).

export interface CryptoSuite {
  readonly name: string;
  sha3_512(data: Uint8Array): Uint8Array;
  blake2b_512(data: Uint8Array): Uint8Array;
  /** SHA-256, for the RFC 9162 tree and the C2SP signed notes that transparency-log tooling reads. */
  sha256(data: Uint8Array): Uint8Array;
  /**
   * Ed25519 verification with strict RFC 8032 semantics (see docs/spec/artifact.md §Signatures):
   * false for any malformed key or signature, never a throw.
   */
  verifyEd25519(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
  /**
   * The same verification, off the calling thread where the platform has one to spare (node:crypto
   * uses libuv's thread pool), so a server's event loop keeps answering while it runs. Same
   * result as verifyEd25519 for every input; never rejects.
   */
  verifyEd25519Async?(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean>;
}

/** A one-method signer, so that a KMS or HSM can replace the file-based key. */
export interface Signer {
  readonly kid: string;
  sign(message: Uint8Array): Promise<Uint8Array>;
}

export const ED25519_PUBLIC_KEY_BYTES = 32;
export const ED25519_SIGNATURE_BYTES = 64;
