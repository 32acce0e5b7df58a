// The public proof endpoints' answers (white paper §9): the ledger's latest checkpoint and the
// registry heartbeat, the trust roots and issuer keys, policies, revocations, proofs against the
// checkpoint (a record's inclusion, consistency with an earlier checkpoint, one operation's
// lineage or its absence), pages of chained records, and the log as C2SP tiles. Read-only;
// anyone may ask — except for the openings of committed members (docs/spec/ledger.md §3.1),
// which only the authenticated identities the configuration names may read.
import type { Caller } from './identity.js';
import { lineageOf } from '../core/artifact.js';
import { ID_BODY_PATTERN, LINEAGE_PREFIX } from '../core/protocol.js';
import { base64urlEncode } from '../core/encoding.js';
import { GovernanceError } from '../core/errors.js';
import type { ChainRecord } from '../core/event.js';
import type { ConsistencyProof, InclusionProof, LineageProof } from '../core/proofs.js';
import type { KeyRecord, RegistryHeartbeat, RevocationRecord } from '../core/registry.js';
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

  async checkpoint(): Promise<{ checkpoint: string | null; heartbeat: RegistryHeartbeat | null }> {
    const [checkpoint, heartbeat] = await Promise.all([
      this.ctx.deps.reader.checkpoint(),
      this.ctx.deps.registry.latestHeartbeat(),
    ]);
    return { checkpoint: checkpoint ?? null, heartbeat: heartbeat ?? null };
  }

  inclusion(seq: number): Promise<InclusionProof> {
    return this.ctx.deps.reader.inclusionProof(seq);
  }

  consistency(old: number): Promise<ConsistencyProof> {
    return this.ctx.deps.reader.consistencyProof(old);
  }

  /** A C2SP tlog-tiles resource (path after the tiles prefix), or undefined. */
  tile(path: string): Promise<Uint8Array | undefined> {
    return this.ctx.deps.reader.tileResource(path);
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
   * One operation's lineage (white paper §9.5): every record holding its events up to the latest
   * checkpoint, each with its inclusion proof, and the index proof that there are no others — or
   * that there are none at all, which proves its absence. `op` is an artifact id, a lineage
   * suffix or a lineage URI.
   */
  async lineage(op: string): Promise<LineageProof & { chained: number }> {
    const suffix = op.startsWith(LINEAGE_PREFIX)
      ? op.slice(LINEAGE_PREFIX.length)
      : op.startsWith('auth_')
        ? op.slice('auth_'.length)
        : op;
    if (!ID_BODY_PATTERN.test(suffix)) {
      throw new GovernanceError('request.invalid', 'not an artifact id or lineage');
    }
    const lineage = lineageOf('auth_' + suffix);
    return this.ctx.deps.reader.lineageProof(lineage);
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

  /**
   * The openings of record `seq`'s commitments, as stored (each with its event's index and its
   * canonical text; none once erased), for
   * an authenticated caller listed in openingReaders. Records and proofs stay public and
   * committed: a reader checks each opening against the record's commitment itself.
   */
  async openings(
    caller: Caller,
    seq: number,
  ): Promise<{ seq: number; openings: { index: number; opening: string }[] }> {
    if (!caller.authenticated) throw new GovernanceError('identity.unauthenticated', caller.problem);
    if (!(this.ctx.deps.openingReaders ?? []).includes(caller.identity))
      throw new GovernanceError('policy.denied', `${caller.identity} may not read ledger openings`);
    if (!Number.isSafeInteger(seq) || seq < 1)
      throw new GovernanceError('request.invalid', 'seq must be a sequence number');
    const openings = (await this.ctx.deps.reader.openings(seq)).map(({ index, text }) => ({
      index,
      opening: text,
    }));
    this.ctx.log.info({ identity: caller.identity, seq, openings: openings.length }, 'ledger openings read');
    return { seq, openings };
  }

  async runtimes(): Promise<RuntimeRecord[]> {
    return this.ctx.runtimes.list();
  }
}
