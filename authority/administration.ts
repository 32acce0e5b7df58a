// Governed administration: every change to what the authority issues or trusts (policies, issuer
// keys, revocations, runtimes) is itself an operation decided by the admin policy, ledgered as
// admin.allowed or admin.denied before it acts, and ledgered again by what it did.
import type { JsonValue } from '../core/canonical.js';
import { GovernanceError, isGovernanceError, type Code } from '../core/errors.js';
import { signRevocation, type RevocationRecord } from '../core/registry.js';
import { formatMillis } from '../core/time.js';
import { eventText, signRecord, type AuthorityContext, type Outcome } from './context.js';
import type { Heartbeat } from './heartbeat.js';
import type { Caller } from './identity.js';
import { compilePolicy, evaluatePolicy, PolicyError, type PolicyProblem } from './policy.js';
import { adminSchemas, parseRequest } from './request.js';
import type { RuntimeRecord } from './runtimes.js';

/** An admin request resolved into what the admin policy sees, and the action it would allow. */
interface Prepared<T> {
  params: Record<string, string>;
  attributes: Record<string, string>;
  act: () => Promise<T>;
}

type AdminOperation =
  | 'admin.policy.publish'
  | 'admin.policy.activate'
  | 'admin.key.rotate'
  | 'admin.key.revoke'
  | 'admin.artifact.revoke'
  | 'admin.runtime.register';

export class Administration {
  constructor(
    private readonly ctx: AuthorityContext,
    private readonly heartbeat: Heartbeat,
  ) {}

  /**
   * Runs an admin operation: authenticate, validate, evaluate the admin policy, ledger the
   * verdict, then act. `prepare` validates and resolves the request into the parameters the
   * admin policy sees and the action to perform; its failures are ledgered denials.
   */
  private async admin<T>(
    caller: Caller,
    operation: AdminOperation,
    prepare: (identity: string) => Promise<Prepared<T>>,
  ): Promise<Outcome<T>> {
    const outcome = await this.decideAdmin(caller, operation, prepare);
    this.ctx.metrics.decisions.inc({
      kind: 'admin',
      decision: outcome.ok ? 'allow' : 'deny',
      reason: outcome.ok ? '' : outcome.reason,
    });
    return outcome;
  }

  private async decideAdmin<T>(
    caller: Caller,
    operation: AdminOperation,
    prepare: (identity: string) => Promise<Prepared<T>>,
  ): Promise<Outcome<T>> {
    const adminRef = this.ctx.deps.adminPolicy;
    const deny = async (
      reason: Code,
      message: string,
      extra: { identity?: string; policy_hash?: string; data?: Record<string, JsonValue> } = {},
      problems?: PolicyProblem[],
    ): Promise<Outcome<T>> => {
      const { data, ...fields } = extra;
      await this.ctx.appendDenial(
        this.ctx.event('admin.denied', {
          reason,
          operation,
          policy_required: adminRef,
          ...fields,
          data: { message: eventText(message), transport: caller.transport, ...data },
        }),
      );
      return problems ? { ok: false, reason, message, problems } : { ok: false, reason, message };
    };
    if (!caller.authenticated) return deny('identity.unauthenticated', caller.problem);
    const identity = caller.identity;
    let prepared: Prepared<T>;
    try {
      prepared = await prepare(identity);
    } catch (e) {
      const code = isGovernanceError(e) ? e.code : 'internal.error';
      const problems = e instanceof PolicyError ? e.problems : undefined;
      return deny(code, (e as Error).message, { identity }, problems);
    }
    const { params, attributes, act } = prepared;
    // A halted producer acts on nothing (a change it cannot prove in a checkpoint is unaccounted
    // for), and says why: the halt's own reason, as issuance does.
    const halt = this.ctx.deps.ledger.halt();
    if (halt) return deny(halt.reason, halt.message, { identity, data: { params } });
    const policy = this.ctx.state.activePolicy(adminRef);
    if (!policy)
      return deny('policy.unknown', `no active admin policy ${adminRef}`, { identity, data: { params } });
    const decision = evaluatePolicy(policy, {
      identity,
      operation: { name: operation, params, scope: [] },
      environment: {},
      caller: identity,
      transport: caller.transport,
      attributes,
      now: Math.floor(this.ctx.clock() / 1000),
    });
    if (!decision.allow) {
      return deny('policy.denied', decision.message, {
        identity,
        policy_hash: policy.hash,
        data: { params, ...(decision.rule ? { rule: decision.rule } : {}) },
      });
    }
    try {
      await this.ctx.deps.ledger.append([
        this.ctx.event('admin.allowed', {
          identity,
          operation,
          policy_required: adminRef,
          policy_hash: policy.hash,
          data: { params, rule: decision.rule, transport: caller.transport },
        }),
      ]);
    } catch {
      return { ok: false, reason: 'ledger.unavailable', message: 'the admin decision could not be ledgered' };
    }
    try {
      return { ok: true, value: await act() };
    } catch (e) {
      this.ctx.log.error(
        { operation, err: (e as Error).message },
        'admin operation failed after it was allowed',
      );
      return isGovernanceError(e)
        ? { ok: false, reason: e.code, message: e.message }
        : { ok: false, reason: 'internal.error', message: `${operation} failed` };
    }
  }

  /** Publishes a policy version (immutable by hash); it decides nothing until activated. */
  publishPolicy(caller: Caller, body: unknown): Promise<Outcome<{ ref: string; hash: string }>> {
    return this.admin(caller, 'admin.policy.publish', async (identity) => {
      const request = parseRequest(adminSchemas.publish, body);
      const policy = compilePolicy(request.source);
      return {
        params: { ref: policy.ref, hash: policy.hash },
        attributes: request.attributes,
        act: async () => {
          await this.ctx.deps.registry.putPolicyVersion(this.ctx.versionOf(policy));
          await this.ctx.deps.ledger.append([
            this.ctx.event('policy.published', {
              identity,
              policy_required: policy.ref,
              policy_hash: policy.hash,
            }),
          ]);
          return { ref: policy.ref, hash: policy.hash };
        },
      };
    });
  }

  /** Makes a published version the one that decides for its ref. */
  activatePolicy(caller: Caller, body: unknown): Promise<Outcome<{ ref: string; hash: string }>> {
    return this.admin(caller, 'admin.policy.activate', async (identity) => {
      const { ref, hash, attributes } = parseRequest(adminSchemas.activate, body);
      const version = await this.ctx.deps.registry.getPolicyVersion(hash);
      if (!version || version.ref !== ref)
        throw new GovernanceError('policy.unknown', `${hash} is not a published version of ${ref}`);
      const policy = compilePolicy(JSON.stringify(version.document));
      if (policy.hash !== hash)
        throw new GovernanceError('policy.invalid', `stored version ${hash} was altered`);
      return {
        params: { ref, hash },
        attributes,
        act: async () => {
          await this.ctx.deps.registry.activatePolicy(ref, hash);
          this.ctx.state.applyActivation(policy);
          await this.ctx.deps.ledger.append([
            this.ctx.event('policy.activated', {
              identity,
              policy_required: ref,
              policy_hash: hash,
            }),
          ]);
          return { ref, hash };
        },
      };
    });
  }

  /** Switches issuance to another held issuer key; the previous one keeps verifying its artifacts. */
  rotateKey(caller: Caller, body: unknown): Promise<Outcome<{ previous_kid: string; kid: string }>> {
    return this.admin(caller, 'admin.key.rotate', async (identity) => {
      const { kid, attributes } = parseRequest(adminSchemas.rotate, body);
      const held = this.ctx.deps.keyring.get(kid);
      if (!held) throw new GovernanceError('key.invalid', `key ${kid} is not held by this authority`);
      if (this.ctx.state.isKidRevoked(kid)) throw new GovernanceError('key.invalid', `key ${kid} is revoked`);
      const now = Math.floor(this.ctx.clock() / 1000);
      if (now < held.key.notBefore || now >= held.key.notAfter) {
        throw new GovernanceError('key.invalid', `key ${kid} is not valid now`);
      }
      return {
        params: { kid },
        attributes,
        act: async () => {
          const previous = this.ctx.deps.keyring.active().key.kid;
          await this.ctx.deps.registry.putKeyRecord(held.record);
          this.ctx.state.applyKey(held.key);
          await this.ctx.deps.ledger.append([
            this.ctx.event('key.rotated', {
              identity,
              issuer: this.ctx.deps.issuerId,
              data: { previous_kid: previous, kid, not_after: held.record.not_after },
            }),
          ]);
          this.ctx.deps.keyring.activate(kid);
          await this.heartbeat.publish();
          return { previous_kid: previous, kid };
        },
      };
    });
  }

  /** Revokes every artifact a key signed (compromise). Revocations are never removed. */
  revokeKey(
    caller: Caller,
    body: unknown,
  ): Promise<Outcome<{ revocation: RevocationRecord; added: boolean }>> {
    return this.admin(caller, 'admin.key.revoke', async (identity) => {
      const { kid, reason, attributes } = parseRequest(adminSchemas.revokeKey, body);
      return { params: { kid, reason }, attributes, act: () => this.revoke(identity, { kid }, reason) };
    });
  }

  revokeArtifact(
    caller: Caller,
    body: unknown,
  ): Promise<Outcome<{ revocation: RevocationRecord; added: boolean }>> {
    return this.admin(caller, 'admin.artifact.revoke', async (identity) => {
      const { artifact_id, reason, attributes } = parseRequest(adminSchemas.revokeArtifact, body);
      return {
        params: { artifact_id, reason },
        attributes,
        act: () => this.revoke(identity, { artifact_id }, reason),
      };
    });
  }

  private async revoke(
    by: string,
    target: RevocationRecord['target'],
    reason: string,
  ): Promise<{ revocation: RevocationRecord; added: boolean }> {
    const held = this.ctx.deps.keyring.active();
    const body = { v: '1' as const, target, reason, time: formatMillis(this.ctx.clock()), by };
    const revocation = await signRecord(held.signer, (sign) => signRevocation(body, held.key.kid, sign));
    // Stored first: a revocation takes effect even if it cannot be ledgered, and a retry ledgers it.
    const added = await this.ctx.deps.registry.addRevocation(revocation);
    this.ctx.state.applyRevocation(revocation);
    const artifactId = 'artifact_id' in target ? target.artifact_id : undefined;
    await this.ctx.deps.ledger.append([
      this.ctx.event('revocation.added', {
        identity: by,
        issuer: this.ctx.deps.issuerId,
        ...(artifactId ? { artifact_id: artifactId } : {}),
        data: {
          target: 'kid' in target ? { kid: target.kid } : { artifact_id: target.artifact_id },
          reason,
          added,
        },
      }),
    ]);
    return { revocation, added };
  }

  registerRuntime(caller: Caller, body: unknown): Promise<Outcome<RuntimeRecord>> {
    return this.admin(caller, 'admin.runtime.register', async (identity) => {
      const { attributes, ...runtime } = parseRequest(adminSchemas.registerRuntime, body);
      const params: Record<string, string> = { runtime: runtime.runtime };
      if (runtime.region !== undefined) params.region = runtime.region;
      if (runtime.tenancy !== undefined) params.tenancy = runtime.tenancy;
      return {
        params,
        attributes,
        act: async () => {
          const record: RuntimeRecord = {
            ...runtime,
            registered_by: identity,
            registered_at: formatMillis(this.ctx.clock()),
          };
          await this.ctx.deps.ledger.append([
            this.ctx.event('runtime.registered', {
              identity: record.registered_by,
              runtime: runtime.runtime,
              data: { ...params, ...(runtime.description ? { description: runtime.description } : {}) },
            }),
          ]);
          await this.ctx.runtimes.register(record);
          return record;
        },
      };
    });
  }
}
