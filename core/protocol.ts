// The names and shapes the wire protocol fixes, each in one place: the headers Envoy and the
// upstream see, the trailer the authority puts its reason code in, and the identifier patterns
// (docs/spec/artifact.md, docs/authz-server.md, docs/authority.md).

/** The request header that carries the artifact (base64url of its canonical JSON). */
export const ARTIFACT_HEADER = 'x-execution-artifact';
/** Set on an allowed request for the upstream (a caller's own copy is overwritten). */
export const ARTIFACT_ID_HEADER = 'x-execution-artifact-id';
/** Set on an allowed request for the upstream: the operation's lineage. */
export const LINEAGE_HEADER = 'x-execution-lineage';
/** Set on a denial: its reason code. */
export const DENIED_HEADER = 'x-execution-denied';
/** The gRPC trailer in which the authority names a refusal's reason code. */
export const REASON_TRAILER = 'governance-reason';

/** Crockford base32 of 160 bits: the body of artifact, lineage and attestation ids. */
const ID_BODY = '[0-9A-HJKMNP-TV-Z]{32}';
/** Artifact ids: "auth_" and the Crockford base32 of 160 bits of the payload digest. */
export const ARTIFACT_ID_PATTERN = new RegExp(`^auth_${ID_BODY}$`);
/** Attestation ids: "att_" and the Crockford base32 of 160 random bits an admission drew. */
export const ATTESTATION_ID_PATTERN = new RegExp(`^att_${ID_BODY}$`);
/** The id body alone (what a lineage URI or a bare operation reference carries). */
export const ID_BODY_PATTERN = new RegExp(`^${ID_BODY}$`);
/** An operation's lineage: this prefix and its artifact id's body. */
export const LINEAGE_PREFIX = 'lineage://op/';

/** Log ids: key-safe (no braces: the Redis hash tag is derived from them) and a valid checkpoint origin. */
export const LOG_ID = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/;
