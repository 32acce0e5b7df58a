// The enforcement shell around core's decide(): it turns a CheckRequest (or a runtime
// admission) into decision inputs, runs the decision under a deadline, records it in the
// ledger and says what to answer. It is exception-proof by construction: every path, including
// a throw anywhere, a timeout or a store error, ends in a DENY with a named reason, and the only
// way to ALLOW is decide() allowing and the ledger append resolving, both before the deadline.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { decodeArtifact, lineageOf, type Artifact, type Environment } from '../core/artifact.js';
import type { CryptoSuite } from '../core/crypto.js';
import {
  decide,
  VerifiedSignatures,
  type ArtifactFacts,
  type DecisionContext,
  type DecisionInput,
  type RequestedOperation,
} from '../core/decision.js';
import { GovernanceError, type DenialReason } from '../core/errors.js';
import type { LedgerWriter } from '../ledger/types.js';
import type { AdmissionGrant, UseRequest, UseStateStore } from '../store/types.js';
import { admissionBinding, attestationIdOf, attestationRef, type Workload } from '../core/attestation.js';
import {
  parseCheckRequest,
  resolveEnvironment,
  type IdentitySource,
  type RequestLimits,
} from './check-request.js';
import type { EnvironmentConfig, RuntimeApiConfig } from './config.js';
import type { CheckRequestMessage, CheckResponseMessage } from './envoy-proto.js';
import type { AuthzMetrics } from './metrics.js';
import {
  admissionEvents,
  denialEvent,
  denialRecord,
  type DecisionSubject,
  type DenialRecord,
} from './records.js';
import type { RegistryView } from './registry-view.js';
import { deniedResponse, okResponse } from './responses.js';
import type { RouteTable } from './routes.js';

/** What the shell needs of the registry view (tests substitute failing lookups). */
export type RegistrySource = Pick<RegistryView, 'keys' | 'revocations' | 'policies' | 'freshness'>;

export interface EnforcerSettings {
  identity: IdentitySource;
  limits: RequestLimits;
  environment: EnvironmentConfig;
  routeTable: RouteTable;
  skewSeconds: number;
  deadlineMs: number;
  /** Verified signatures of reusable artifacts kept (core VerifiedSignatures); 0 turns it off. */
  signatureCacheEntries: number;
  /** What /runtime/admit may admit, and for how long an admission awaits its attestation; undefined disables admission. */
  runtimeApi: Pick<RuntimeApiConfig, 'admit' | 'attestWithinSeconds'> | undefined;
}

export interface EnforcerDeps {
  settings: EnforcerSettings;
  suite: CryptoSuite;
  registry: RegistrySource;
  useState: UseStateStore;
  ledger: LedgerWriter;
  /** Epoch milliseconds. */
  clock: () => number;
  logger: Logger;
  metrics: AuthzMetrics;
  producerId: string;
}

export type Verdict =
  | { allow: true; artifact: Artifact; lineage: string }
  | { allow: false; reason: DenialReason; record: DenialRecord };

export interface AdmissionRequest {
  header: string | undefined;
  identity: string | undefined;
  workload: Workload;
  requestId: string | undefined;
}

export type AdmissionVerdict =
  | { allow: true; artifact: Artifact; lineage: string; attestationId: string }
  | { allow: false; reason: DenialReason; record: DenialRecord };

type Stage = 'decision' | 'use' | 'ledger';

/** One decision in flight. `settled` turns true once its answer is given, whichever way. */
interface Run {
  started: number;
  subject: DecisionSubject;
  header: string | undefined;
  stage: Stage;
  settled: boolean;
  /** The admission a runtime admission opens with its use. */
  admission: AdmissionGrant | undefined;
  /** The use this decision took, once the store said so. */
  spent: UseRequest | undefined;
}

type Outcome =
  | { allow: true; artifact: Artifact; lineage: string }
  | { allow: false; reason: DenialReason; detail: string };

/** A deadline that passes while waiting on a store is that store's failure. */
const DEADLINE_REASON: Record<Stage, DenialReason> = {
  decision: 'internal.error',
  use: 'state.unavailable',
  ledger: 'ledger.unavailable',
};

function denied(reason: DenialReason, detail: string): Outcome {
  return { allow: false, reason, detail };
}

/** What the denial record may say about an artifact nobody verified: it parsed, nothing more. */
function unverifiedFacts(header: string | undefined): ArtifactFacts | undefined {
  if (header === undefined || header === '') return undefined;
  try {
    const { artifact } = decodeArtifact(header);
    return {
      id: artifact.id,
      iss: artifact.iss,
      kid: artifact.sig.kid,
      policyRef: artifact.pol.ref,
      verified: false,
    };
  } catch {
    return undefined;
  }
}

export class Enforcer {
  private readonly baseEnvironment: Environment;
  /** Denials being recorded and late uses being given back (drain() waits for them). */
  private readonly pending = new Set<Promise<void>>();
  private readonly verified: VerifiedSignatures | undefined;

  constructor(private readonly deps: EnforcerDeps) {
    const { runtime, region, tenancy } = deps.settings.environment;
    this.baseEnvironment = { runtime, region, tenancy };
    const entries = deps.settings.signatureCacheEntries;
    this.verified = entries > 0 ? new VerifiedSignatures(entries) : undefined;
  }

  /** Answers one Envoy Check. Never rejects. */
  async check(message: CheckRequestMessage): Promise<CheckResponseMessage> {
    const run = this.newRun();
    const verdict = await this.govern(run, () => this.evaluateCheck(run, message));
    return verdict.allow ? okResponse(verdict.artifact.id, verdict.lineage) : deniedResponse(verdict.record);
  }

  /** Runtime admission (white paper §10.3): the same decision, against a workload. Never rejects. */
  async admit(request: AdmissionRequest): Promise<AdmissionVerdict> {
    const run = this.newRun();
    run.subject.identity = request.identity;
    run.subject.requestId = request.requestId;
    run.header = request.header;
    run.subject.runtime = request.workload.runtime;
    // Opened with the use, so an attestation can only ever follow an admission that happened.
    // The caller's identity stands for the artifact subject: the decision allows only if they are equal.
    const admission: AdmissionGrant = {
      id: attestationIdOf(randomBytes(20)),
      binding: admissionBinding(this.deps.suite, {
        identity: request.identity ?? '',
        workload: request.workload,
      }),
      ttlMs: (this.deps.settings.runtimeApi?.attestWithinSeconds ?? 0) * 1000,
    };
    run.admission = admission;
    const verdict = await this.govern(run, () => this.evaluateAdmission(run, request));
    return verdict.allow ? { ...verdict, attestationId: admission.id } : verdict;
  }

  /**
   * Waits, at most `timeoutMs`, for the denial events still being appended and the late uses
   * being given back (on shutdown: a store that stopped answering must not hold the process).
   * Resolves with how many were abandoned.
   */
  async drain(timeoutMs = 2_000): Promise<number> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    });
    await Promise.race([Promise.all([...this.pending]), timeout]);
    clearTimeout(timer);
    return this.pending.size;
  }

  private newRun(): Run {
    const nowMs = this.deps.clock();
    return {
      started: performance.now(),
      subject: {
        nowMs,
        identity: undefined,
        requestId: undefined,
        operation: undefined,
        policyRequired: undefined,
        runtime: this.baseEnvironment.runtime,
        artifact: undefined,
      },
      header: undefined,
      stage: 'decision',
      settled: false,
      admission: undefined,
      spent: undefined,
    };
  }

  /** Runs `evaluate` under the deadline and turns anything but an in-time ALLOW into a recorded DENY. */
  private async govern(run: Run, evaluate: () => Promise<Outcome>): Promise<Verdict> {
    const outcome = await this.underDeadline(run, evaluate);
    const seconds = (performance.now() - run.started) / 1000;
    if (outcome.allow) {
      this.deps.metrics.decision(undefined, seconds);
      // Every decision is in the ledger; the log line of an ALLOW is for debugging only (one line
      // per allowed Check cost ~8 % of the enforcement point's CPU at info). Denials stay at info.
      if (this.deps.logger.isLevelEnabled('debug')) {
        this.deps.logger.debug(
          {
            decision: 'allow',
            latency_ms: seconds * 1000,
            request_id: run.subject.requestId,
            artifact_id: outcome.artifact.id,
            operation: run.subject.operation,
          },
          'decision',
        );
      }
      return outcome;
    }
    return this.recordDenial(run, outcome.reason, outcome.detail, seconds);
  }

  /**
   * The first of: `evaluate`'s outcome, a DENY for its throw, or a DENY when the deadline passes.
   * `run.settled` turns true at that moment, so that a late evaluation records and spends nothing.
   * (One timer and one promise per decision, no Promise.race.)
   */
  private underDeadline(run: Run, evaluate: () => Promise<Outcome>): Promise<Outcome> {
    const { deadlineMs } = this.deps.settings;
    return new Promise<Outcome>((resolve) => {
      const settle = (outcome: Outcome) => {
        if (run.settled) return;
        run.settled = true;
        clearTimeout(timer);
        resolve(outcome);
      };
      const timer = setTimeout(
        () =>
          settle(
            denied(DEADLINE_REASON[run.stage], `decision deadline of ${deadlineMs} ms passed (${run.stage})`),
          ),
        deadlineMs,
      );
      const failed = (e: unknown) => {
        if (run.settled) return; // answered at the deadline already
        this.deps.logger.error({ err: e, request_id: run.subject.requestId }, 'unexpected error in decision');
        settle(denied('internal.error', 'unexpected error during decision'));
      };
      try {
        evaluate().then(settle, failed);
      } catch (e) {
        failed(e);
      }
    });
  }

  private recordDenial(run: Run, reason: DenialReason, detail: string, seconds: number): Verdict {
    const subject = run.subject;
    subject.artifact ??= unverifiedFacts(run.header);
    const record = denialRecord(subject, reason);
    this.deps.metrics.decision(reason, seconds);
    this.deps.logger.info(
      {
        decision: 'deny',
        reason,
        detail,
        latency_ms: seconds * 1000,
        request_id: subject.requestId,
        artifact_id: subject.artifact?.id,
        operation: subject.operation,
      },
      'decision',
    );
    // The denial is answered at once and recorded in the background: a ledger outage must not
    // slow refusals down, and it cannot turn them into anything else.
    const appended = this.deps.ledger
      .append([denialEvent(record, this.deps.producerId, detail, subject.artifact?.kid)])
      .catch((e: unknown) => {
        this.deps.metrics.ledgerFailure();
        this.deps.logger.error(
          { err: e, request_id: subject.requestId, reason },
          'denial not recorded in the ledger',
        );
      })
      .finally(() => this.pending.delete(appended));
    this.pending.add(appended);
    return { allow: false, reason, record };
  }

  /**
   * Gives back a use the store took after this request was answered DENY (the deadline passed
   * while the store was slow or paused): nothing was admitted with it, and the ledger records
   * only the denial, so the use state must not say otherwise. A use whose admission events may
   * have been appended is never given back (docs/authz-server.md, "How one Check is decided").
   */
  private releaseLateUse(run: Run): void {
    const spent = run.spent;
    if (spent === undefined) return;
    run.spent = undefined;
    const released = this.deps.useState
      .release(spent)
      .then(
        () => this.deps.metrics.useReleased(true),
        (e: unknown) => {
          this.deps.metrics.useReleased(false);
          this.deps.logger.error(
            { err: e, request_id: run.subject.requestId, artifact_id: spent.artifactId },
            'a use spent after its request was denied could not be given back',
          );
        },
      )
      .finally(() => this.pending.delete(released));
    this.pending.add(released);
  }

  /** Preconditions every decision shares: the ledger can record it, and the registry view is fresh. */
  private unavailable(run: Run): Outcome | undefined {
    if (this.deps.ledger.halted()) {
      return denied('ledger.unavailable', 'ledger commit lag exceeds its window (halt)');
    }
    const freshness = this.deps.registry.freshness(run.subject.nowMs);
    if (!freshness.fresh)
      return denied('issuer.unavailable', freshness.problem ?? 'registry view is not fresh');
    return undefined;
  }

  private async evaluateCheck(run: Run, message: CheckRequestMessage): Promise<Outcome> {
    const { settings } = this.deps;
    const parsed = parseCheckRequest(message, settings.identity, settings.limits);
    const facts = parsed.facts;
    run.subject.identity = facts.identity;
    run.subject.requestId = facts.requestId;
    run.header = facts.artifactHeader;
    if (!parsed.ok) return denied(parsed.reason, parsed.message);
    const blocked = this.unavailable(run);
    if (blocked) return blocked;
    const operation = settings.routeTable.match(facts.method, facts.path, facts.host);
    if (operation === undefined)
      return denied('operation.unmapped', `no route for ${facts.method} ${facts.path}`);
    run.subject.operation = operation.name;
    run.subject.policyRequired = operation.policy;
    const environment = resolveEnvironment(
      settings.environment,
      this.baseEnvironment,
      parsed.contextExtensions,
    );
    if (!environment.ok) return denied('environment.mismatch', environment.problem);
    run.subject.runtime = environment.environment.runtime;
    return this.decideAndRecord(run, operation, environment.environment, {
      route: `${facts.method} ${facts.path}`,
    });
  }

  private async evaluateAdmission(run: Run, request: AdmissionRequest): Promise<Outcome> {
    const { settings } = this.deps;
    if (settings.runtimeApi === undefined)
      return denied('operation.unmapped', 'runtime admission is not configured');
    const blocked = this.unavailable(run);
    if (blocked) return blocked;
    if (request.header === undefined || request.header === '')
      return denied('artifact.missing', 'no artifact');
    let bound: ReturnType<typeof decodeArtifact>;
    try {
      bound = decodeArtifact(request.header);
    } catch (e) {
      return denied('artifact.malformed', (e as Error).message);
    }
    const entry = settings.runtimeApi.admit.find((a) => a.operation === bound.operation.name);
    if (entry === undefined)
      return denied('operation.unmapped', 'the artifact operation is not admissible here');
    run.subject.operation = entry.operation;
    run.subject.policyRequired = entry.policy;
    const { runtime } = request.workload;
    const base = this.baseEnvironment;
    if (
      runtime !== base.runtime &&
      settings.environment.contextExtensions.runtime?.includes(runtime) !== true
    ) {
      return denied('environment.mismatch', 'the workload runtime is not one this enforcement point governs');
    }
    // Admission binds the workload: the artifact's own parameters (unverified until decide()
    // checks the signature) stand, except `image`, which must equal the workload's image.
    const operation: RequestedOperation = {
      name: entry.operation,
      params: { ...bound.operation.params, image: request.workload.image },
      scope: [...entry.scope].sort(),
      policy: entry.policy,
    };
    // The admission names its attestation by a hash of the id: the id stays a secret of the
    // admitted workload until it is attested, and a verifier can still pair the two.
    return this.decideAndRecord(
      run,
      operation,
      { ...base, runtime },
      { image: request.workload.image, attestation_ref: attestationRef(this.deps.suite, run.admission!.id) },
    );
  }

  private async decideAndRecord(
    run: Run,
    operation: RequestedOperation,
    environment: Environment,
    admissionData: Record<string, string>,
  ): Promise<Outcome> {
    const input: DecisionInput = {
      header: run.header,
      identity: run.subject.identity,
      operation,
      environment,
      now: run.subject.nowMs / 1000,
    };
    const decision = await decide(input, this.contextFor(run));
    run.subject.artifact = decision.facts;
    if (!decision.allow) return denied(decision.reason, decision.message);
    // Past the deadline the answer was DENY already; recording an admission would contradict it.
    if (run.settled) {
      this.releaseLateUse(run);
      return denied('internal.error', 'decision deadline passed');
    }
    run.stage = 'ledger';
    try {
      await this.deps.ledger.append(
        admissionEvents(run.subject, decision.artifact, this.deps.producerId, admissionData),
      );
    } catch (e) {
      this.deps.metrics.ledgerFailure();
      return denied('ledger.unavailable', `admission events not recorded: ${(e as Error).message}`);
    }
    return { allow: true, artifact: decision.artifact, lineage: lineageOf(decision.artifact.id) };
  }

  private contextFor(run: Run): DecisionContext {
    const { suite, registry, settings, useState } = this.deps;
    return {
      suite,
      keys: registry.keys,
      revocations: registry.revocations,
      policies: registry.policies,
      skewSeconds: settings.skewSeconds,
      verified: this.verified,
      consume: async (claim) => {
        // A use spent after the answer was given would burn the artifact for nothing.
        if (run.settled) throw new GovernanceError('state.unavailable', 'decision deadline passed');
        run.stage = 'use';
        const request: UseRequest = {
          artifactId: claim.artifactId,
          terms: claim.terms,
          nowMs: run.subject.nowMs,
          expiresAtMs: claim.exp * 1000,
          ...(run.admission ? { admission: run.admission } : {}),
        };
        try {
          const allowed = await useState.consume(request);
          if (allowed) run.spent = request;
          return allowed;
        } finally {
          run.stage = 'decision';
        }
      },
    };
  }
}
