// The workload client library: request an artifact, attach it to the call it authorizes, report
// completion. docs/client.md; re-exported by the package's entry point (index.ts).
export { AuthorityClient, parseTarget } from './authority.js';
export type { ArtifactRequest, AuthorityClientOptions, IssuedArtifact, Transport } from './authority.js';
export { ARTIFACT_HEADER, artifactHeaders, artifactMetadata, withArtifact } from './attach.js';
export { GovernanceClientError } from './errors.js';
export type { ClientReason } from './errors.js';
export type { TlsFiles } from './grpc.js';
export { RuntimeClient, sha3Digest } from './runtime.js';
export type { Admission, AttestationReceipt, Completion, RuntimeClientOptions, Workload } from './runtime.js';
