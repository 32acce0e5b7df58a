// The public proof endpoints' answers (white paper §9): the ledger head and the registry heartbeat,
// the trust roots and issuer keys, policies, revocations, one operation's lineage with its chain
// segments, and pages of chained records. Read-only; anyone may ask.
import { lineageOf } from '../core/artifact.js';
import { ID_BODY_PATTERN, LINEAGE_PREFIX } from '../core/protocol.js';
import { base64urlEncode } from '../core/encoding.js';
import { GovernanceError, isGovernanceError } from '../core/errors.js';
import type { ChainRecord, SignedHead } from '../core/event.js';
import type { KeyRecord, RegistryHeartbeat, RevocationRecord } from '../core/registry.js';
import type { LineageSegment } from '../ledger/types.js';
import type { PolicyVersion } from '../store/types.js';
import type { AuthorityContext } from './context.js';
import { rootFingerprint } from './keys.js';
import { POLICY_HASH } from './request.js';
import type { RuntimeRecord } from './runtimes.js';

export interface LedgerPage {
  records: ChainRecord[];
  /** The next `from`, when more records may follow. */
  next?: number;
}

export const LEDGER_PAGE_MAX = 500;

export class Proofs {
  constructor(private readonly ctx: AuthorityContext) {}

  async head(): Promise<{ head: SignedHead | null; heartbeat: RegistryHeartbeat | null }> {
    const [head, heartbeat] = await Promise.all([
      this.ctx.deps.reader.head(),
      this.ctx.deps.registry.latestHeartbeat(),
    ]);
    return { head: head ?? null, heartbeat: heartbeat ?? null };
  }

  async issuers(): Promise<{
    roots: { kid?: string; public_key: string; fingerprint: string }[];
    active_kid: string;
    keys: KeyRecord[];
  }> {
    const { roots } = this.ctx.deps;
    const pinned = [
      ...[...roots.byKid].map(([kid, raw]) => ({ kid, raw })),
      ...roots.anyKid.map((raw) => ({ raw })),
    ].map(({ raw, ...kid }) => ({
      ...kid,
      public_key: base64urlEncode(raw),
      fingerprint: rootFingerprint(raw),
    }));
    return {
      roots: pinned,
      active_kid: this.ctx.deps.keyring.active().key.kid,
      keys: await this.ctx.deps.registry.listKeyRecords(),
    };
  }

  async policies(): Promise<{
    active: Record<string, string>;
    versions: Omit<PolicyVersion, 'document'>[];
  }> {
    const [active, versions] = await Promise.all([
      this.ctx.deps.registry.activePolicies(),
      this.ctx.deps.registry.listPolicyVersions(),
    ]);
    return { active, versions };
  }

  async policy(hash: string): Promise<PolicyVersion | undefined> {
    if (!POLICY_HASH.test(hash)) throw new GovernanceError('request.invalid', 'not a policy hash');
    return this.ctx.deps.registry.getPolicyVersion(hash);
  }

  async revocations(): Promise<{ revocations: RevocationRecord[] }> {
    return { revocations: await this.ctx.deps.registry.listRevocations() };
  }

  /**
   * One operation's lineage and its proof (white paper §9.5): the chain segments, each from an
   * anchor to a signed head, that contain its records. `op` is an artifact id, a lineage suffix
   * or a lineage URI. Records not yet covered by a signed head come without segments (pending).
   */
  async lineage(
    op: string,
  ): Promise<{ lineage: string; records: ChainRecord[]; segments: LineageSegment[]; pending: boolean }> {
    const suffix = op.startsWith(LINEAGE_PREFIX)
      ? op.slice(LINEAGE_PREFIX.length)
      : op.startsWith('auth_')
        ? op.slice('auth_'.length)
        : op;
    if (!ID_BODY_PATTERN.test(suffix)) {
      throw new GovernanceError('request.invalid', 'not an artifact id or lineage');
    }
    const lineage = lineageOf('auth_' + suffix);
    const records = await this.ctx.deps.reader.lineage(lineage);
    if (records.length === 0) return { lineage, records, segments: [], pending: false };
    try {
      const { segments } = await this.ctx.deps.reader.lineageProof(lineage);
      return { lineage, records, segments, pending: false };
    } catch (e) {
      if (isGovernanceError(e, 'ledger.head.mismatch'))
        return { lineage, records, segments: [], pending: true };
      throw e;
    }
  }

  /** Chained records from ≤ seq ≤ to, at most LEDGER_PAGE_MAX of them. */
  async ledger(from: number, to: number): Promise<LedgerPage> {
    if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from < 1 || to < from) {
      throw new GovernanceError(
        'request.invalid',
        'from and to must be sequence numbers with 1 <= from <= to',
      );
    }
    const last = Math.min(to, from + LEDGER_PAGE_MAX - 1);
    const records = await this.ctx.deps.reader.range(from, last);
    return last < to ? { records, next: last + 1 } : { records };
  }

  async runtimes(): Promise<RuntimeRecord[]> {
    return this.ctx.runtimes.list();
  }
}
