// CheckResponse building. Every outcome that is not ALLOW is a CheckResponse with
// PERMISSION_DENIED and a DeniedHttpResponse, never a gRPC error: Envoy's failure_mode_allow
// could turn an error into an allow, but never a denial.
import { ARTIFACT_HEADER, ARTIFACT_ID_HEADER, DENIED_HEADER, LINEAGE_HEADER } from '../core/protocol.js';
import type { CheckResponseMessage } from './envoy-proto.js';
import type { DenialRecord } from './records.js';

const GRPC_OK = 0;
const GRPC_PERMISSION_DENIED = 7;
const OVERWRITE_IF_EXISTS_OR_ADD = 2;

function header(key: string, value: string) {
  return { header: { key, value }, append_action: OVERWRITE_IF_EXISTS_OR_ADD } as const;
}

/** Headers the upstream can trust (a caller's own copies are overwritten); the credential is removed. */
export function okResponse(artifactId: string, lineage: string): CheckResponseMessage {
  return {
    status: { code: GRPC_OK, message: '' },
    ok_response: {
      headers: [header(ARTIFACT_ID_HEADER, artifactId), header(LINEAGE_HEADER, lineage)],
      headers_to_remove: [ARTIFACT_HEADER],
    },
  };
}

/**
 * 401 when no artifact was presented (the caller must obtain one), 503 when the request was shed
 * unjudged (the caller may retry), 403 for every other denial.
 */
export function httpStatusOf(reason: DenialRecord['reason']): 401 | 403 | 503 {
  return reason === 'artifact.missing' ? 401 : reason === 'overload.shed' ? 503 : 403;
}

export function deniedResponse(record: DenialRecord): CheckResponseMessage {
  return {
    status: { code: GRPC_PERMISSION_DENIED, message: record.reason },
    denied_response: {
      status: { code: httpStatusOf(record.reason) },
      headers: [header(DENIED_HEADER, record.reason), header('content-type', 'application/json')],
      body: JSON.stringify(record),
    },
  };
}
