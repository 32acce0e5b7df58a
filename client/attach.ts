// Attaching an artifact to the outgoing call it authorizes: an HTTP request (a headers object
// or a fetch init) or a gRPC call (Metadata), as the x-execution-artifact header. Envoy's
// ext_authz filter hands it to the enforcement point, which removes it before the upstream
// sees the request.
import { Metadata } from '@grpc/grpc-js';
import { ARTIFACT_HEADER } from '../core/protocol.js';
import type { IssuedArtifact } from './authority.js';

export { ARTIFACT_HEADER };

const headerValue = (artifact: string | IssuedArtifact) =>
  typeof artifact === 'string' ? artifact : artifact.header;

/** A copy of `headers` with the artifact header set (replacing any earlier value). */
export function artifactHeaders(
  artifact: string | IssuedArtifact,
  headers: Record<string, string> = {},
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers))
    if (name.toLowerCase() !== ARTIFACT_HEADER) out[name] = value;
  out[ARTIFACT_HEADER] = headerValue(artifact);
  return out;
}

/** A copy of a fetch init whose headers carry the artifact. */
export function withArtifact(artifact: string | IssuedArtifact, init: RequestInit = {}): RequestInit {
  const headers = new Headers(init.headers);
  headers.set(ARTIFACT_HEADER, headerValue(artifact));
  return { ...init, headers };
}

/** gRPC metadata carrying the artifact (added to `metadata` when given). */
export function artifactMetadata(artifact: string | IssuedArtifact, metadata = new Metadata()): Metadata {
  metadata.set(ARTIFACT_HEADER, headerValue(artifact));
  return metadata;
}
