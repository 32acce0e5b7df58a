// The one error the client library throws. Its reason is a code of core/errors.ts (the same code
// the authority or enforcement point answered with and ledgered), or 'unreachable' when no
// answer came at all. A workload must treat every error as "do not run".
import { CODES, type Code } from '../core/errors.js';

export type ClientReason = Code | 'unreachable';

export class GovernanceClientError extends Error {
  override readonly name = 'GovernanceClientError';

  constructor(
    readonly reason: ClientReason,
    message: string,
    /** The gRPC status code or HTTP status, when a server answered. */
    readonly status?: number,
  ) {
    super(`${reason}: ${message}`);
  }
}

/** A reason code a server sent, kept only if it is one we know (anything else is internal.error). */
export function reasonOf(value: unknown): Code {
  return typeof value === 'string' && Object.hasOwn(CODES, value) ? (value as Code) : 'internal.error';
}
