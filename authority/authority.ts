// The authority: decides before anything runs whether an operation may run, and issues the
// signed artifact that says so. Transport-free: the gRPC and HTTP servers authenticate the
// caller, hand over the request as received, and map the outcome. Every outcome — issue, denial,
// admin allow or deny — is written to the ledger before the caller hears it; a denial whose
// ledger write fails is still a denial.
import { randomBytes, randomFillSync } from 'node:crypto';
import { pino, type Logger } from 'pino';
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
import type { Signer } from '../core/crypto.js';
import { nodeCrypto } from '../core/crypto-node.js';
import { base64urlEncode } from '../core/encoding.js';
import { GovernanceError, isGovernanceError, type Code, type DenialReason } from '../core/errors.js';
import type { ChainRecord, EventType, LedgerEvent, SignedHead } from '../core/event.js';
import {
  signHeartbeat,
  signRevocation,
  type KeyRecord,
  type RegistryHeartbeat,
  type RevocationRecord,
} from '../core/registry.js';
import { formatMillis, formatSeconds } from '../core/time.js';
import type { LedgerProofReader, LedgerWriter, LineageSegment } from '../ledger/types.js';
import type { PolicyVersion, RegistryStore } from '../store/types.js';
import type { Caller, Transport } from './identity.js';
import { rootFingerprint, type IssuerKeyring, type PinnedRoots } from './keys.js';
import { AuthorityMetrics } from './metrics.js';
import {
  compilePolicy,
  evaluatePolicy,
  governs,
  PolicyError,
  type CompiledPolicy,
  type PolicyProblem,
} from './policy.js';
import { RegistryState } from './registry-state.js';
import {
  adminSchemas,
  parseExecuteRequest,
  parseRequest,
  POLICY_HASH,
  type ExecuteRequest,
} from './request.js';

export interface RuntimeRecord {
  runtime: string;
  region?: string | undefined;
  tenancy?: string | undefined;
  description?: string | undefined;
  registered_by: string;
  registered_at: string;
}

/** Where registered runtimes are kept; the ledger's runtime.registered events are their proof. */
export interface RuntimeRegistry {
  register(record: RuntimeRecord): Promise<void>;
  list(): Promise<RuntimeRecord[]>;
}

export class MemoryRuntimeRegistry implements RuntimeRegistry {
  private readonly records = new Map<string, RuntimeRecord>();
  async register(record: RuntimeRecord): Promise<void> {
    this.records.set(record.runtime, { ...record });
  }
  async list(): Promise<RuntimeRecord[]> {
    return [...this.records.values()].sort((a, b) => (a.runtime < b.runtime ? -1 : 1));
  }
}

export interface AuthorityDeps {
  /** The `iss` of every artifact, e.g. governance://11-11/authority/prod. */
  issuerId: string;
  /** The `producer` of this authority's ledger events, e.g. authority://pod-7f9c. */
  producerId: string;
  registry: RegistryStore;
  ledger: LedgerWriter;
  reader: LedgerProofReader;
  keyring: IssuerKeyring;
  roots: PinnedRoots;
  /** The ref of the policy that governs administration. */
  adminPolicy: string;
  /** Epoch milliseconds. */
  clock?: () => number;
  random?: (bytes: number) => Uint8Array;
  runtimes?: RuntimeRegistry;
  logger?: Logger;
  metrics?: AuthorityMetrics;
  /** Registry heartbeat period; enforcement points deny everything when it goes stale. */
  heartbeatMs?: number;
  /** Above this age of the registry view the authority issues nothing (issuer.unavailable). */
  maxRegistryAgeMs?: number;
  /** Policy documents from the configuration: published at start, activated if their ref has no active version. */
  bootstrapPolicies?: { name: string; source: string }[];
  /** Further certified records to publish at start (the producer key of this authority's events). */
  keyRecords?: KeyRecord[];
}

export interface Denied {
  ok: false;
  reason: Code;
  message: string;
  /** Where a refused policy document is wrong. */
  problems?: PolicyProblem[];
}

export type Outcome<T> = { ok: true; value: T } | Denied;

export interface Issued {
  artifact: Artifact;
  /** The x-execution-artifact header value. */
  header: string;
  lineage: string;
}

export interface LedgerPage {
  records: ChainRecord[];
  /** The next `from`, when more records may follow. */
  next?: number;
}

export const LEDGER_PAGE_MAX = 500;

const DEFAULT_HEARTBEAT_MS = 1000;
const DEFAULT_MAX_REGISTRY_AGE_MS = 10_000;

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

/**
 * Registry records are built by core functions that take a synchronous sign function, while the
 * Signer is asynchronous (a KMS or HSM may sit behind it). The statement is captured in a first
 * pass and signed, and the record is built again with that signature.
 */
async function signRecord<T>(
  signer: Signer,
  build: (sign: (message: Uint8Array) => Uint8Array) => T,
): Promise<T> {
  let statement: Uint8Array | undefined;
  build((message) => {
    statement = message;
    return new Uint8Array(64);
  });
  const signature = await signer.sign(statement!);
  return build(() => signature);
}

/** Event strings are printable ASCII of bounded length; messages may quote rejected input. */
function eventText(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, 480);
}

/**
 * Random bytes drawn from a 4 KiB pool refilled from the CSPRNG: one system call per 256 nonces
 * instead of one per artifact. Each call gets its own copy.
 */
function pooledRandom(): (bytes: number) => Uint8Array {
  const pool = Buffer.alloc(4096);
  let offset = pool.length;
  return (bytes) => {
    if (bytes > pool.length) return new Uint8Array(randomBytes(bytes));
    if (offset + bytes > pool.length) {
      randomFillSync(pool);
      offset = 0;
    }
    const out = new Uint8Array(pool.subarray(offset, offset + bytes));
    offset += bytes;
    return out;
  };
}

export class Authority {
  readonly metrics: AuthorityMetrics;
  private readonly state: RegistryState;
  private readonly clock: () => number;
  private readonly random: (bytes: number) => Uint8Array;
  private readonly log: Logger;
  private readonly runtimes: RuntimeRegistry;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly deps: AuthorityDeps) {
    this.clock = deps.clock ?? Date.now;
    this.random = deps.random ?? pooledRandom();
    this.log = deps.logger ?? pino({ level: 'silent' });
    this.metrics = deps.metrics ?? new AuthorityMetrics();
    this.runtimes = deps.runtimes ?? new MemoryRuntimeRegistry();
    this.state = new RegistryState({
      store: deps.registry,
      roots: deps.roots,
      clock: this.clock,
      blockMs: Math.min(1000, deps.heartbeatMs ?? DEFAULT_HEARTBEAT_MS),
      onProblem: (message) => this.problem('registry', message),
    });
  }

  /** Publishes this authority's key records and bootstrap policies, loads the registry, starts the heartbeat. */
  async start(): Promise<void> {
    const { registry, keyring } = this.deps;
    for (const record of [keyring.active().record, ...(this.deps.keyRecords ?? [])]) {
      await registry.putKeyRecord(record);
    }
    await this.state.start();
    this.state.applyKey(keyring.active().key);
    for (const { name, source } of this.deps.bootstrapPolicies ?? []) await this.bootstrap(name, source);
    await this.publishHeartbeat();
    this.scheduleHeartbeat();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.heartbeatTimer);
    await this.state.stop();
  }

  private async bootstrap(name: string, source: string): Promise<void> {
    let policy: CompiledPolicy;
    try {
      policy = compilePolicy(source);
    } catch (e) {
      throw new GovernanceError('config.invalid', `policy file ${name}: ${(e as Error).message}`);
    }
    const { registry } = this.deps;
    if (!(await registry.getPolicyVersion(policy.hash))) {
      await registry.putPolicyVersion(this.versionOf(policy));
      await this.deps.ledger.append([
        this.event('policy.published', {
          policy_required: policy.ref,
          policy_hash: policy.hash,
          data: { source: 'configuration' },
        }),
      ]);
    }
    if ((await registry.activePolicies())[policy.ref] === undefined) {
      await registry.activatePolicy(policy.ref, policy.hash);
      await this.deps.ledger.append([
        this.event('policy.activated', {
          policy_required: policy.ref,
          policy_hash: policy.hash,
          data: { source: 'configuration' },
        }),
      ]);
      this.state.applyActivation(policy);
    }
  }

  private versionOf(policy: CompiledPolicy): PolicyVersion {
    return {
      ref: policy.ref,
      hash: policy.hash,
      document: policy.document,
      published_at: formatMillis(this.clock()),
    };
  }

  private problem(kind: string, message: string): void {
    this.metrics.problems.inc({ kind });
    this.log.warn({ kind }, message);
  }

  private event(type: EventType, fields: Omit<LedgerEvent, 'v' | 'type' | 'time' | 'producer'>): LedgerEvent {
    return { v: '1', type, time: formatMillis(this.clock()), producer: this.deps.producerId, ...fields };
  }

  // ---------------------------------------------------------------------------------------------
  // Issuance

  /** Decides an artifact request; the body is what the caller sent, unvalidated. */
  async execute(caller: Caller, body: unknown): Promise<Outcome<Issued>> {
    const started = performance.now();
    const outcome = await this.decideExecute(caller, body).catch((e: unknown) => {
      this.log.error({ err: (e as Error).message }, 'unexpected error deciding an artifact request');
      return this.denyIssue('internal.error', 'unexpected error', {
        ...(caller.authenticated ? { caller: caller.identity } : { transport: caller.transport }),
      });
    });
    this.metrics.decisions.inc({
      kind: 'issue',
      decision: outcome.ok ? 'allow' : 'deny',
      reason: outcome.ok ? '' : outcome.reason,
    });
    if (outcome.ok) this.metrics.issueSeconds.observe((performance.now() - started) / 1000);
    return outcome;
  }

  /** Refuses an artifact request the transport could not even read (size, type, encoding), ledgered. */
  async refuse(caller: Caller, message: string): Promise<Denied> {
    const outcome = caller.authenticated
      ? await this.denyIssue('request.invalid', message, { caller: caller.identity })
      : await this.denyIssue('identity.unauthenticated', caller.problem, { transport: caller.transport });
    this.metrics.decisions.inc({ kind: 'issue', decision: 'deny', reason: outcome.reason });
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
    if (this.state.ageMs() > (this.deps.maxRegistryAgeMs ?? DEFAULT_MAX_REGISTRY_AGE_MS)) {
      return this.denyIssue('issuer.unavailable', 'registry view is stale', bound);
    }
    const now = Math.floor(this.clock() / 1000);
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
    const held = this.deps.keyring.active();
    if (this.state.isKidRevoked(held.key.kid)) {
      return this.denyIssue('issuer.unavailable', 'the active issuer key is revoked', { ...bound, rule });
    }
    if (now + terms.ttlSeconds > held.key.notAfter) {
      return this.denyIssue('issuer.unavailable', 'the active issuer key expires before the artifact would', {
        ...bound,
        rule,
      });
    }
    if (this.deps.ledger.halted()) {
      return this.denyIssue('ledger.unavailable', 'ledger commit lag exceeds its window', { ...bound, rule });
    }
    const payload: ArtifactPayload = {
      v: '1',
      iss: this.deps.issuerId,
      sub: subject,
      op: operationToWire(request.op),
      pol: { ref: policy.ref, hash: policy.hash },
      env: { runtime: env.runtime, region: env.region, tenancy: env.tenancy },
      nbf: formatSeconds(now),
      exp: formatSeconds(now + terms.ttlSeconds),
      use: { ...terms.use, nonce: base64urlEncode(this.random(16)) },
    };
    let artifact: Artifact;
    try {
      artifact = await signArtifact(payload, held.signer, nodeCrypto);
    } catch (e) {
      this.log.error({ err: (e as Error).message }, 'signing failed');
      const reason = isGovernanceError(e, 'artifact.malformed') ? 'request.invalid' : 'internal.error';
      return this.denyIssue(reason, 'the artifact could not be signed', { ...bound, rule });
    }
    const lineage = lineageOf(artifact.id);
    const { nonce: _nonce, ...use } = artifact.use;
    try {
      await this.deps.ledger.append([
        this.event('authorization.issued', {
          lineage,
          identity: subject,
          operation: request.op.name,
          policy_required: policy.ref,
          policy_hash: policy.hash,
          artifact_id: artifact.id,
          issuer: this.deps.issuerId,
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
      this.log.error({ err: (e as Error).message }, 'ledger append failed; artifact withheld');
      return { ok: false, reason: 'ledger.unavailable', message: 'the issuance could not be ledgered' };
    }
    return { ok: true, value: { artifact, header: encodeArtifact(artifact), lineage } };
  }

  /** The active policy that decides the request, or why there is none. */
  private resolvePolicy(request: ExecuteRequest): CompiledPolicy | string {
    const name = request.op.name;
    if (request.policy !== undefined) {
      const policy =
        request.policy === this.deps.adminPolicy ? undefined : this.state.activePolicy(request.policy);
      if (!policy) return `no active policy ${request.policy}`;
      return governs(policy, name) ? policy : `${request.policy} does not govern ${name}`;
    }
    const candidates = this.state
      .activePolicies()
      .filter((p) => p.ref !== this.deps.adminPolicy && governs(p, name));
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
    await this.appendDenial(
      this.event('authorization.denied', { reason, issuer: this.deps.issuerId, ...fields, data }),
    );
    return { ok: false, reason, message };
  }

  private async appendDenial(event: LedgerEvent): Promise<void> {
    try {
      await this.deps.ledger.append([event]);
    } catch (e) {
      this.problem('ledger', `a denial could not be ledgered: ${(e as Error).message}`);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Governed administration

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
    this.metrics.decisions.inc({
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
    const adminRef = this.deps.adminPolicy;
    const deny = async (
      reason: Code,
      message: string,
      extra: { identity?: string; policy_hash?: string; data?: Record<string, JsonValue> } = {},
      problems?: PolicyProblem[],
    ): Promise<Outcome<T>> => {
      const { data, ...fields } = extra;
      await this.appendDenial(
        this.event('admin.denied', {
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
    const policy = this.state.activePolicy(adminRef);
    if (!policy)
      return deny('policy.unknown', `no active admin policy ${adminRef}`, { identity, data: { params } });
    const decision = evaluatePolicy(policy, {
      identity,
      operation: { name: operation, params, scope: [] },
      environment: {},
      caller: identity,
      transport: caller.transport,
      attributes,
      now: Math.floor(this.clock() / 1000),
    });
    if (!decision.allow) {
      return deny('policy.denied', decision.message, {
        identity,
        policy_hash: policy.hash,
        data: { params, ...(decision.rule ? { rule: decision.rule } : {}) },
      });
    }
    try {
      await this.deps.ledger.append([
        this.event('admin.allowed', {
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
      this.log.error({ operation, err: (e as Error).message }, 'admin operation failed after it was allowed');
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
          await this.deps.registry.putPolicyVersion(this.versionOf(policy));
          await this.deps.ledger.append([
            this.event('policy.published', {
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
      const version = await this.deps.registry.getPolicyVersion(hash);
      if (!version || version.ref !== ref)
        throw new GovernanceError('policy.unknown', `${hash} is not a published version of ${ref}`);
      const policy = compilePolicy(JSON.stringify(version.document));
      if (policy.hash !== hash)
        throw new GovernanceError('policy.invalid', `stored version ${hash} was altered`);
      return {
        params: { ref, hash },
        attributes,
        act: async () => {
          await this.deps.registry.activatePolicy(ref, hash);
          this.state.applyActivation(policy);
          await this.deps.ledger.append([
            this.event('policy.activated', {
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
      const held = this.deps.keyring.get(kid);
      if (!held) throw new GovernanceError('key.invalid', `key ${kid} is not held by this authority`);
      if (this.state.isKidRevoked(kid)) throw new GovernanceError('key.invalid', `key ${kid} is revoked`);
      const now = Math.floor(this.clock() / 1000);
      if (now < held.key.notBefore || now >= held.key.notAfter) {
        throw new GovernanceError('key.invalid', `key ${kid} is not valid now`);
      }
      return {
        params: { kid },
        attributes,
        act: async () => {
          const previous = this.deps.keyring.active().key.kid;
          await this.deps.registry.putKeyRecord(held.record);
          this.state.applyKey(held.key);
          await this.deps.ledger.append([
            this.event('key.rotated', {
              identity,
              issuer: this.deps.issuerId,
              data: { previous_kid: previous, kid, not_after: held.record.not_after },
            }),
          ]);
          this.deps.keyring.activate(kid);
          await this.publishHeartbeat();
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
    const held = this.deps.keyring.active();
    const body = { v: '1' as const, target, reason, time: formatMillis(this.clock()), by };
    const revocation = await signRecord(held.signer, (sign) => signRevocation(body, held.key.kid, sign));
    // Stored first: a revocation takes effect even if it cannot be ledgered, and a retry ledgers it.
    const added = await this.deps.registry.addRevocation(revocation);
    this.state.applyRevocation(revocation);
    const artifactId = 'artifact_id' in target ? target.artifact_id : undefined;
    await this.deps.ledger.append([
      this.event('revocation.added', {
        identity: by,
        issuer: this.deps.issuerId,
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
            registered_at: formatMillis(this.clock()),
          };
          await this.deps.ledger.append([
            this.event('runtime.registered', {
              identity: record.registered_by,
              runtime: runtime.runtime,
              data: { ...params, ...(runtime.description ? { description: runtime.description } : {}) },
            }),
          ]);
          await this.runtimes.register(record);
          return record;
        },
      };
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Heartbeat

  private scheduleHeartbeat(): void {
    if (this.stopped) return;
    this.heartbeatTimer = setTimeout(() => {
      void this.publishHeartbeat().finally(() => this.scheduleHeartbeat());
    }, this.deps.heartbeatMs ?? DEFAULT_HEARTBEAT_MS);
    this.heartbeatTimer.unref();
  }

  /**
   * Signs and stores the registry heartbeat. Skipped while the registry view is stale, or the
   * active key is revoked: enforcement points then deny everything, which is what they should do.
   */
  async publishHeartbeat(): Promise<RegistryHeartbeat | undefined> {
    const age = this.state.ageMs();
    this.metrics.registryAgeSeconds.set(age / 1000);
    const held = this.deps.keyring.active();
    if (
      age > (this.deps.maxRegistryAgeMs ?? DEFAULT_MAX_REGISTRY_AGE_MS) ||
      this.state.isKidRevoked(held.key.kid)
    ) {
      this.problem('heartbeat', 'heartbeat withheld: registry view stale or active key revoked');
      return undefined;
    }
    try {
      const body = {
        v: '1' as const,
        issuer: this.deps.issuerId,
        time: formatMillis(this.clock()),
        revocations: this.state.revocationCount(),
      };
      const heartbeat = await signRecord(held.signer, (sign) => signHeartbeat(body, held.key.kid, sign));
      await this.deps.registry.putHeartbeat(heartbeat);
      return heartbeat;
    } catch (e) {
      this.problem('heartbeat', `heartbeat not published: ${(e as Error).message}`);
      return undefined;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Public proof

  async proofHead(): Promise<{ head: SignedHead | null; heartbeat: RegistryHeartbeat | null }> {
    const [head, heartbeat] = await Promise.all([
      this.deps.reader.head(),
      this.deps.registry.latestHeartbeat(),
    ]);
    return { head: head ?? null, heartbeat: heartbeat ?? null };
  }

  async proofIssuers(): Promise<{
    roots: { kid?: string; public_key: string; fingerprint: string }[];
    active_kid: string;
    keys: KeyRecord[];
  }> {
    const { roots } = this.deps;
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
      active_kid: this.deps.keyring.active().key.kid,
      keys: await this.deps.registry.listKeyRecords(),
    };
  }

  async proofPolicies(): Promise<{
    active: Record<string, string>;
    versions: Omit<PolicyVersion, 'document'>[];
  }> {
    const [active, versions] = await Promise.all([
      this.deps.registry.activePolicies(),
      this.deps.registry.listPolicyVersions(),
    ]);
    return { active, versions };
  }

  async proofPolicy(hash: string): Promise<PolicyVersion | undefined> {
    if (!POLICY_HASH.test(hash)) throw new GovernanceError('request.invalid', 'not a policy hash');
    return this.deps.registry.getPolicyVersion(hash);
  }

  async proofRevocations(): Promise<{ revocations: RevocationRecord[] }> {
    return { revocations: await this.deps.registry.listRevocations() };
  }

  /**
   * One operation's lineage and its proof (white paper §9.5): the chain segments, each from an
   * anchor to a signed head, that contain its records. `op` is an artifact id, a lineage suffix
   * or a lineage URI. Records not yet covered by a signed head come without segments (pending).
   */
  async proofLineage(
    op: string,
  ): Promise<{ lineage: string; records: ChainRecord[]; segments: LineageSegment[]; pending: boolean }> {
    const suffix = op.startsWith('lineage://op/')
      ? op.slice('lineage://op/'.length)
      : op.startsWith('auth_')
        ? op.slice('auth_'.length)
        : op;
    if (!/^[0-9A-HJKMNP-TV-Z]{32}$/.test(suffix)) {
      throw new GovernanceError('request.invalid', 'not an artifact id or lineage');
    }
    const lineage = lineageOf('auth_' + suffix);
    const records = await this.deps.reader.lineage(lineage);
    if (records.length === 0) return { lineage, records, segments: [], pending: false };
    try {
      const { segments } = await this.deps.reader.lineageProof(lineage);
      return { lineage, records, segments, pending: false };
    } catch (e) {
      if (isGovernanceError(e, 'ledger.head.mismatch'))
        return { lineage, records, segments: [], pending: true };
      throw e;
    }
  }

  /** Chained records from ≤ seq ≤ to, at most LEDGER_PAGE_MAX of them. */
  async proofLedger(from: number, to: number): Promise<LedgerPage> {
    if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from < 1 || to < from) {
      throw new GovernanceError(
        'request.invalid',
        'from and to must be sequence numbers with 1 <= from <= to',
      );
    }
    const last = Math.min(to, from + LEDGER_PAGE_MAX - 1);
    const records = await this.deps.reader.range(from, last);
    return last < to ? { records, next: last + 1 } : { records };
  }

  async listRuntimes(): Promise<RuntimeRecord[]> {
    return this.runtimes.list();
  }
}

export function createAuthority(deps: AuthorityDeps): Authority {
  return new Authority(deps);
}
