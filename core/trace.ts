// The trace a request belongs to, read from the trace context its caller sent: W3C Trace Context
// (`traceparent`, https://www.w3.org/TR/trace-context/) or Zipkin B3 (`b3`, `x-b3-traceid`), as
// Envoy and Istio propagate them. Decision logs carry it, so that a denial is found from the
// trace that saw it fail. It is advisory and attacker-set like every header: a malformed or
// repeated one is ignored (the Trace Context rule), never a reason to deny.

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const B3_TRACE_ID = /^(?:[0-9a-f]{16}|[0-9a-f]{32})$/;
const ZEROS = /^0+$/;

/** The trace id of a `traceparent` value: 32 lowercase hex digits, or undefined if it is not valid. */
export function traceIdOfTraceparent(value: string): string | undefined {
  const match = TRACEPARENT.exec(value);
  if (match === null) return undefined;
  const [, version, traceId, parentId, , rest] = match as unknown as [
    string,
    string,
    string,
    string,
    string,
    string?,
  ];
  // Version ff is invalid; version 00 has nothing after the flags; later versions may.
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (ZEROS.test(traceId) || ZEROS.test(parentId)) return undefined;
  return traceId;
}

/** A B3 trace id (16 or 32 hex digits), as 32 digits (a 64-bit id is left-padded, as OpenTelemetry does). */
function b3TraceId(value: string): string | undefined {
  if (!B3_TRACE_ID.test(value) || ZEROS.test(value)) return undefined;
  return value.padStart(32, '0');
}

/** The trace id of a single `b3` header: `{traceid}-{spanid}[-{sampled}[-{parentspanid}]]`. */
export function traceIdOfB3(value: string): string | undefined {
  const parts = value.split('-');
  if (parts.length < 2 || parts.length > 4 || !/^[0-9a-f]{16}$/.test(parts[1]!)) return undefined;
  return b3TraceId(parts[0]!);
}

/**
 * The trace of a request from its headers (each given once or not at all, `undefined` when
 * absent or repeated): `traceparent` first, as OpenTelemetry's propagators prefer it, then `b3`,
 * then `x-b3-traceid`.
 */
export function traceIdOf(headers: {
  traceparent: string | undefined;
  b3: string | undefined;
  xB3TraceId: string | undefined;
}): string | undefined {
  const { traceparent, b3, xB3TraceId } = headers;
  return (
    (traceparent === undefined ? undefined : traceIdOfTraceparent(traceparent)) ??
    (b3 === undefined ? undefined : traceIdOfB3(b3)) ??
    (xB3TraceId === undefined ? undefined : b3TraceId(xB3TraceId))
  );
}
