// Issuance (white paper §5): authenticate, validate, resolve the one active policy that governs the
// operation, evaluate it, then sign an artifact whose authorization.issued event is appended before
// the caller sees it. Every refusal is an authorization.denied event with its reason.
import {
  encodeArtifact,
  lineageOf,
  operationToWire,
  signArtifact,
  type Artifact,
  type ArtifactPayload,
  type Environment,
} from '../core/artifact.js';
import type { JsonValue } from '../core/canonical.js';
import { nodeCrypto } from '../core/crypto-node.js';
import { base64urlEncode } from '../core/encoding.js';
import { isGovernanceError, type DenialReason } from '../core/errors.js';
import { formatSeconds } from '../core/time.js';
import { eventText, type AuthorityContext, type Denied, type Outcome } from './context.js';
import type { Caller, Transport } from './identity.js';
import { evaluatePolicy, governs, type CompiledPolicy } from './policy.js';
import { parseExecuteRequest, type ExecuteRequest } from './request.js';

export interface Issued {
  artifact: Artifact;
  /** The x-execution-artifact header value. */
  header: string;
  lineage: string;
}

export class Issuance {
  constructor(private readonly ctx: AuthorityContext) {}

  /** Decides an artifact request; the body is what the caller sent, unvalidated. */
  async execute(caller: Caller, body: unknown): Promise<Outcome<Issued>> {
    const started = performance.now();
    const outcome = await this.decideExecute(caller, body).catch((e: unknown) => {
      this.ctx.log.error({ err: (e as Error).message }, 'unexpected error deciding an artifact request');
      return this.denyIssue('internal.error', 'unexpected error', {
        ...(caller.authenticated ? { caller: caller.identity } : { transport: caller.transport }),
      });
    });
    this.ctx.metrics.decisions.inc({
      kind: 'issue',
      decision: outcome.ok ? 'allow' : 'deny',
      reason: outcome.ok ? '' : outcome.reason,
    });
    if (outcome.ok) this.ctx.metrics.issueSeconds.observe((performance.now() - started) / 1000);
    return outcome;
  }

  /** Refuses an artifact request the transport could not even read (size, type, encoding), ledgered. */
  async refuse(caller: Caller, message: string): Promise<Denied> {
    const outcome = caller.authenticated
      ? await this.denyIssue('request.invalid', message, { caller: caller.identity })
      : await this.denyIssue('identity.unauthenticated', caller.problem, { transport: caller.transport });
    this.ctx.metrics.decisions.inc({ kind: 'issue', decision: 'deny', reason: outcome.reason });
    return outcome;
  }

  private async decideExecute(caller: Caller, body: unknown): Promise<Outcome<Issued>> {
    if (!caller.authenticated) {
      return this.denyIssue('identity.unauthenticated', caller.problem, { transport: caller.transport });
    }
    let request: ExecuteRequest;
    try {
      request = parseExecuteRequest(body);
    } catch (e) {
      return this.denyIssue('request.invalid', (e as Error).message, { caller: caller.identity });
    }
    const subject = request.identity ?? caller.identity;
    const facts = { caller: caller.identity, identity: subject, operation: request.op.name };
    const resolved = this.resolvePolicy(request);
    if (typeof resolved === 'string') return this.denyIssue('policy.unknown', resolved, facts);
    const policy = resolved;
    const bound = { ...facts, policy_required: policy.ref, policy_hash: policy.hash };
    if (this.ctx.state.ageMs() > this.ctx.maxRegistryAgeMs) {
      return this.denyIssue('issuer.unavailable', 'registry view is stale', bound);
    }
    const now = Math.floor(this.ctx.clock() / 1000);
    const decision = evaluatePolicy(policy, {
      identity: subject,
      operation: request.op,
      environment: request.env,
      caller: caller.identity,
      transport: caller.transport,
      attributes: request.attributes,
      now,
    });
    if (!decision.allow)
      return this.denyIssue('policy.denied', decision.message, { ...bound, rule: decision.rule });
    const { terms, rule } = decision;
    if (!terms)
      return this.denyIssue('policy.denied', `rule ${rule} gives no artifact terms`, { ...bound, rule });
    const missing = (['runtime', 'region', 'tenancy'] as const).find(
      (k) => decision.environment[k] === undefined,
    );
    if (missing) {
      return this.denyIssue(
        'request.invalid',
        `env.${missing} is required: neither the request nor rule ${rule} gives it`,
        { ...bound, rule },
      );
    }
    const env = decision.environment as Environment;
    const held = this.ctx.deps.keyring.active();
    if (this.ctx.state.isKidRevoked(held.key.kid)) {
      return this.denyIssue('issuer.unavailable', 'the active issuer key is revoked', { ...bound, rule });
    }
    if (now + terms.ttlSeconds > held.key.notAfter) {
      return this.denyIssue('issuer.unavailable', 'the active issuer key expires before the artifact would', {
        ...bound,
        rule,
      });
    }
    const halt = this.ctx.deps.ledger.halt();
    if (halt) return this.denyIssue(halt.reason, halt.message, { ...bound, rule });
    const payload: ArtifactPayload = {
      v: '1',
      iss: this.ctx.deps.issuerId,
      sub: subject,
      op: operationToWire(request.op),
      pol: { ref: policy.ref, hash: policy.hash },
      env: { runtime: env.runtime, region: env.region, tenancy: env.tenancy },
      nbf: formatSeconds(now),
      exp: formatSeconds(now + terms.ttlSeconds),
      use: { ...terms.use, nonce: base64urlEncode(this.ctx.random(16)) },
    };
    let artifact: Artifact;
    try {
      artifact = await signArtifact(payload, held.signer, nodeCrypto);
    } catch (e) {
      this.ctx.log.error({ err: (e as Error).message }, 'signing failed');
      const reason = isGovernanceError(e, 'artifact.malformed') ? 'request.invalid' : 'internal.error';
      return this.denyIssue(reason, 'the artifact could not be signed', { ...bound, rule });
    }
    const lineage = lineageOf(artifact.id);
    const { nonce: _nonce, ...use } = artifact.use;
    try {
      await this.ctx.deps.ledger.append([
        this.ctx.event('authorization.issued', {
          lineage,
          identity: subject,
          operation: request.op.name,
          policy_required: policy.ref,
          policy_hash: policy.hash,
          artifact_id: artifact.id,
          issuer: this.ctx.deps.issuerId,
          runtime: env.runtime,
          data: {
            chash: artifact.chash,
            kid: artifact.sig.kid,
            caller: caller.identity,
            transport: caller.transport,
            rule,
            nbf: artifact.nbf,
            exp: artifact.exp,
            use,
            scope: artifact.op.scope,
            region: env.region,
            tenancy: env.tenancy,
          },
        }),
      ]);
    } catch (e) {
      // The artifact is dropped unseen: an issuance the ledger cannot prove never happened.
      this.ctx.log.error({ err: (e as Error).message }, 'ledger append failed; artifact withheld');
      return { ok: false, reason: 'ledger.unavailable', message: 'the issuance could not be ledgered' };
    }
    return { ok: true, value: { artifact, header: encodeArtifact(artifact), lineage } };
  }

  /** The active policy that decides the request, or why there is none. */
  private resolvePolicy(request: ExecuteRequest): CompiledPolicy | string {
    const name = request.op.name;
    if (request.policy !== undefined) {
      const policy =
        request.policy === this.ctx.deps.adminPolicy
          ? undefined
          : this.ctx.state.activePolicy(request.policy);
      if (!policy) return `no active policy ${request.policy}`;
      return governs(policy, name) ? policy : `${request.policy} does not govern ${name}`;
    }
    const candidates = this.ctx.state
      .activePolicies()
      .filter((p) => p.ref !== this.ctx.deps.adminPolicy && governs(p, name));
    if (candidates.length === 0) return `no active policy governs ${name}`;
    if (candidates.length > 1) {
      // Two policies could decide differently; ambiguity denies until the request names one.
      return `${name} is governed by ${candidates.map((p) => p.ref).join(', ')}; name the policy`;
    }
    return candidates[0]!;
  }

  private async denyIssue(
    reason: DenialReason,
    message: string,
    facts: {
      caller?: string;
      identity?: string;
      operation?: string;
      policy_required?: string;
      policy_hash?: string;
      rule?: string | undefined;
      transport?: Transport;
    },
  ): Promise<Denied> {
    const { caller, rule, transport, ...fields } = facts;
    const data: Record<string, JsonValue> = { message: eventText(message) };
    if (caller !== undefined) data.caller = caller;
    if (rule !== undefined) data.rule = rule;
    if (transport !== undefined) data.transport = transport;
    await this.ctx.appendDenial(
      this.ctx.event('authorization.denied', { reason, issuer: this.ctx.deps.issuerId, ...fields, data }),
    );
    return { ok: false, reason, message };
  }
}
