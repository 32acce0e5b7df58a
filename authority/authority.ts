// The authority: decides before anything runs whether an operation may run, and issues the
// signed artifact that says so. Transport-free: the gRPC and HTTP servers authenticate the
// caller, hand over the request as received, and map the outcome. Its parts share one context
// (context.ts): issuance, governed administration, the registry heartbeat and the public proofs.
import { GovernanceError } from '../core/errors.js';
import { Administration } from './administration.js';
import { AuthorityContext, type AuthorityDeps } from './context.js';
import { Heartbeat } from './heartbeat.js';
import { Issuance } from './issuance.js';
import type { AuthorityMetrics } from './metrics.js';
import { compilePolicy, type CompiledPolicy } from './policy.js';
import { Proofs } from './proof.js';

export type { AuthorityDeps, Denied, Outcome } from './context.js';
export type { Issued } from './issuance.js';

export class Authority {
  readonly metrics: AuthorityMetrics;
  readonly issuance: Issuance;
  readonly admin: Administration;
  readonly heartbeat: Heartbeat;
  readonly proofs: Proofs;
  private readonly ctx: AuthorityContext;

  constructor(deps: AuthorityDeps) {
    this.ctx = new AuthorityContext(deps);
    this.metrics = this.ctx.metrics;
    this.issuance = new Issuance(this.ctx);
    this.heartbeat = new Heartbeat(this.ctx);
    this.admin = new Administration(this.ctx, this.heartbeat);
    this.proofs = new Proofs(this.ctx);
  }

  /** Publishes this authority's key records and bootstrap policies, loads the registry, starts the heartbeat. */
  async start(): Promise<void> {
    const { registry, keyring, keyRecords, bootstrapPolicies } = this.ctx.deps;
    for (const record of [keyring.active().record, ...(keyRecords ?? [])]) {
      await registry.putKeyRecord(record);
    }
    await this.ctx.state.start();
    this.ctx.state.applyKey(keyring.active().key);
    for (const { name, source } of bootstrapPolicies ?? []) await this.bootstrap(name, source);
    await this.heartbeat.start();
  }

  async stop(): Promise<void> {
    this.heartbeat.stop();
    await this.ctx.state.stop();
  }

  /** Publishes a configured policy if it is new, and activates it if its ref has no active version. */
  private async bootstrap(name: string, source: string): Promise<void> {
    let policy: CompiledPolicy;
    try {
      policy = compilePolicy(source);
    } catch (e) {
      throw new GovernanceError('config.invalid', `policy file ${name}: ${(e as Error).message}`);
    }
    const { registry, ledger } = this.ctx.deps;
    if (!(await registry.getPolicyVersion(policy.hash))) {
      await registry.putPolicyVersion(this.ctx.versionOf(policy));
      await ledger.append([
        this.ctx.event('policy.published', {
          policy_required: policy.ref,
          policy_hash: policy.hash,
          data: { source: 'configuration' },
        }),
      ]);
    }
    if ((await registry.activePolicies())[policy.ref] === undefined) {
      await registry.activatePolicy(policy.ref, policy.hash);
      await ledger.append([
        this.ctx.event('policy.activated', {
          policy_required: policy.ref,
          policy_hash: policy.hash,
          data: { source: 'configuration' },
        }),
      ]);
      this.ctx.state.applyActivation(policy);
    }
  }
}

export function createAuthority(deps: AuthorityDeps): Authority {
  return new Authority(deps);
}
