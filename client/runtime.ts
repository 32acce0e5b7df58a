// The enforcement point's runtime API (its HTTP port, docs/authz-server.md): a workload is
// admitted with its artifact (POST /runtime/admit, stages 02-03 of its lineage) and reports
// completion with a digest of its result (POST /runtime/attest, stages 04-07). Behind a
// sidecar the caller is identified by the XFCC header the sidecar sets.
import { nodeCrypto } from '../core/crypto-node.js';
import { hexEncode, utf8Encode } from '../core/encoding.js';
import type { IssuedArtifact } from './authority.js';
import type { TlsFiles } from './grpc.js';
import { httpJson } from './http.js';

export interface RuntimeClientOptions {
  /** The enforcement point's HTTP base URL, e.g. http://127.0.0.1:9192. */
  url: string;
  tls?: TlsFiles | undefined;
  /** Extra headers on every call. */
  headers?: Record<string, string> | undefined;
  timeoutMs?: number | undefined;
}

export interface Workload {
  /** "sha3-512:<hex>" digest of the image that runs (see sha3Digest). */
  image: string;
  /** The runtime it runs in, e.g. k8s://cluster-east-1/ns/inference. */
  runtime: string;
}

export interface Admission {
  artifactId: string;
  /** Hand it back with attest(). */
  attestationId: string;
  lineage: string;
}

export interface Completion {
  artifact: string | IssuedArtifact;
  attestationId: string;
  workload: Workload;
  /** "sha3-512:<hex>" of the result envelope (see sha3Digest). */
  resultDigest: string;
  /** When the workload started, RFC 3339 UTC with milliseconds. */
  startedAt?: string;
}

export interface AttestationReceipt {
  /** The enforcement point's signed attestation (governance.attestation.v1). */
  attestation: { attestation_id: string; result_digest: string; sig: { kid: string; val: string } } & Record<
    string,
    unknown
  >;
  lineage: string;
  /** The lineage events recorded: execution.started … evidence.committed. */
  events: string[];
}

/** "sha3-512:<hex>" of bytes or of a string's UTF-8: the digest form images and results take. */
export function sha3Digest(content: Uint8Array | string): string {
  const bytes = typeof content === 'string' ? utf8Encode(content) : content;
  return 'sha3-512:' + hexEncode(nodeCrypto.sha3_512(bytes));
}

const headerOf = (artifact: string | IssuedArtifact) =>
  typeof artifact === 'string' ? artifact : artifact.header;

export class RuntimeClient {
  private readonly base: string;

  constructor(private readonly options: RuntimeClientOptions) {
    this.base = options.url.replace(/\/+$/, '');
  }

  /** Admits the workload under the artifact (one use of it); rejects with the denial reason. */
  async admit(artifact: string | IssuedArtifact, workload: Workload): Promise<Admission> {
    const answer = await httpJson<{ artifact_id: string; attestation_id: string; lineage: string }>(
      `${this.base}/runtime/admit`,
      { artifact: headerOf(artifact), workload },
      this.options,
    );
    return { artifactId: answer.artifact_id, attestationId: answer.attestation_id, lineage: answer.lineage };
  }

  /** Reports completion; resolves once the attestation and its lineage events are ledgered. */
  async attest(completion: Completion): Promise<AttestationReceipt> {
    const answer = await httpJson<{
      attestation: AttestationReceipt['attestation'];
      lineage: string;
      lineage_events: string[];
    }>(
      `${this.base}/runtime/attest`,
      {
        artifact: headerOf(completion.artifact),
        attestation_id: completion.attestationId,
        workload: completion.workload,
        result_digest: completion.resultDigest,
        ...(completion.startedAt !== undefined ? { started_at: completion.startedAt } : {}),
      },
      this.options,
    );
    return { attestation: answer.attestation, lineage: answer.lineage, events: answer.lineage_events };
  }
}
