// The enforcement shell around core's decide(): it turns a CheckRequest (or a runtime
// admission) into decision inputs, runs the decision under a deadline, records it in the
// ledger and says what to answer. It is exception-proof by construction: every path, including
// a throw anywhere, a timeout or a store error, ends in a DENY with a named reason, and the only
// way to ALLOW is decide() allowing and the ledger append resolving, both before the deadline.
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { decodeArtifact, type Environment } from '../core/artifact.js';
import type { CryptoSuite } from '../core/crypto.js';
import {
  decide,
  VerifiedSignatures,
  type ArtifactFacts,
  type Decision,
  type DecisionContext,
  type RequestedOperation,
} from '../core/decision.js';
import { GovernanceError, type DenialReason } from '../core/errors.js';
import type { LedgerWriter } from '../ledger/types.js';
import type { AdmissionGrant, UseRequest, UseStateStore } from '../store/types.js';
import { admissionBinding, attestationRef, type Workload } from '../core/attestation.js';
import { readCheckRequest, requestIdOf, type IdentitySource, type RequestLimits } from './check-request.js';
import type { EnvironmentConfig, RuntimeApiConfig } from './config.js';
import type { CheckRequestMessage, CheckResponseMessage } from './envoy-proto.js';
import type { AuthzMetrics } from './metrics.js';
import {
  admissionEvents,
  decisionSubject,
  denialEvent,
  denialRecord,
  type DecisionSubject,
  type DenialRecord,
  type RequestSubject,
} from './records.js';
import type { RegistryView } from './registry-view.js';
import { deniedResponse, okResponse } from './responses.js';
import { decisionBudgetMs, LoadShedder, ShedLog, type OverloadSettings } from './overload.js';
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
  /** When to shed a decision rather than take it (authz-server/overload.ts). */
  overload: OverloadSettings;
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

/**
 * How a decision ended, for a Check and a runtime admission alike: core's ALLOW, its admission
 * recorded; or DENY with its reason, the detail for the log and the ledger, the subject it
 * was about and the denial record (§4.4) answered and appended.
 */
export type Verdict =
  | Extract<Decision, { allow: true }>
  | {
      allow: false;
      reason: DenialReason;
      detail: string;
      subject: DecisionSubject;
      record: DenialRecord;
    };

type Denial = Extract<Verdict, { allow: false }>;

export interface AdmissionRequest {
  artifactHeader: string | undefined;
  identity: string | undefined;
  workload: Workload;
  requestId: string | undefined;
  /** The attestation the admission awaits; only the admitted workload learns it. */
  attestationId: string;
}

type Stage = 'decision' | 'use' | 'ledger';

/** A deadline that passes while waiting on a store is that store's failure. */
const DEADLINE_REASON: Record<Stage, DenialReason> = {
  decision: 'internal.error',
  use: 'state.unavailable',
  ledger: 'ledger.unavailable',
};

/** One decision in flight. `settled` turns true once its answer is given, whichever way. */
class Run {
  readonly started = performance.now();
  stage: Stage = 'decision';
  settled = false;
  /** What decide() established about the artifact, once it returned. */
  artifact: ArtifactFacts | undefined;
  /** The admission a runtime admission opens with its use. */
  admission: AdmissionGrant | undefined;
  /** The use this decision took, once the store said so. */
  spent: UseRequest | undefined;

  constructor(
    readonly nowMs: number,
    /** Who asked for what so far (see RequestSubject): replaced as the decision learns more. */
    public request: RequestSubject,
    /** The time this decision is given (decisionBudgetMs). */
    readonly deadlineMs: number,
  ) {}

  subject(): DecisionSubject {
    return decisionSubject(this.nowMs, this.request, this.artifact);
  }

  deny(reason: DenialReason, detail: string): Denial {
    const subject = this.subject();
    return { allow: false, reason, detail, subject, record: denialRecord(subject, reason) };
  }
}

export class Enforcer {
  private readonly baseEnvironment: Environment;
  /** Denials being recorded and late uses being given back (drain() waits for them). */
  private readonly pending = new Set<Promise<void>>();
  private readonly verified: VerifiedSignatures | undefined;
  readonly shedder: LoadShedder;
  private readonly shedLog: ShedLog;

  constructor(private readonly deps: EnforcerDeps) {
    const { runtime, region, tenancy } = deps.settings.environment;
    this.baseEnvironment = { runtime, region, tenancy };
    const entries = deps.settings.signatureCacheEntries;
    this.verified = entries > 0 ? new VerifiedSignatures(entries) : undefined;
    // A halted ledger denies ledger.unavailable (below), the reason that says what is wrong.
    this.shedder = new LoadShedder(deps.settings.overload, () =>
      deps.ledger.halt() ? 0 : deps.ledger.commitLagMs(),
    );
    this.shedLog = new ShedLog((shed, detail) =>
      deps.logger.warn({ decision: 'deny', reason: 'overload.shed', shed, detail }, 'shed Checks'),
    );
  }

  /**
   * Answers one Envoy Check, within `callerRemainingMs` (what is left of the caller's gRPC
   * deadline when the call reached the handler) if that ends before the decision deadline.
   * Never rejects.
   */
  async check(message: CheckRequestMessage, callerRemainingMs = Infinity): Promise<CheckResponseMessage> {
    // The request id alone, read before anything else: a Check shed unread still names it.
    const run = new Run(
      this.deps.clock(),
      { runtime: this.baseEnvironment.runtime, requestId: requestIdOf(message) },
      decisionBudgetMs(this.deps.settings.deadlineMs, callerRemainingMs),
    );
    const verdict = await this.govern(run, () => this.evaluateCheck(run, message));
    return verdict.allow ? okResponse(verdict.artifact.id, verdict.lineage) : deniedResponse(verdict.record);
  }

  /** Runtime admission (white paper §10.3): the same decision, against a workload. Never rejects. */
  async admit(request: AdmissionRequest): Promise<Verdict> {
    const { requestId, identity, artifactHeader, workload } = request;
    const run = new Run(
      this.deps.clock(),
      { requestId, identity, artifactHeader, runtime: workload.runtime },
      this.deps.settings.deadlineMs,
    );
    // Opened with the use, so an attestation can only ever follow an admission that happened.
    // The caller's identity stands for the artifact subject: the decision allows only if they are equal.
    run.admission = {
      id: request.attestationId,
      binding: admissionBinding(this.deps.suite, { identity: identity ?? '', workload }),
      ttlMs: (this.deps.settings.runtimeApi?.attestWithinSeconds ?? 0) * 1000,
    };
    return this.govern(run, () => this.evaluateAdmission(run, request));
  }

  /**
   * Waits, at most `timeoutMs`, for the denial events still being appended and the late uses
   * being given back (on shutdown: a store that stopped answering must not hold the process).
   * Resolves with how many were abandoned.
   */
  async drain(timeoutMs = 2_000): Promise<number> {
    this.shedLog.flush();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    });
    await Promise.race([Promise.all([...this.pending]), timeout]);
    clearTimeout(timer);
    return this.pending.size;
  }

  /**
   * Runs `evaluate` under the deadline and turns anything but an in-time ALLOW into a recorded
   * DENY; or, over capacity, sheds it before it starts.
   */
  private async govern(run: Run, evaluate: () => Promise<Verdict>): Promise<Verdict> {
    const shed = this.shedder.shed(run.deadlineMs);
    if (shed) {
      const verdict = run.deny('overload.shed', shed);
      this.shedLog.note(shed);
      this.recordDenial(verdict, (performance.now() - run.started) / 1000, false);
      return verdict;
    }
    let verdict: Verdict;
    try {
      verdict = await this.underDeadline(run, evaluate);
    } finally {
      this.shedder.done(performance.now() - run.started);
    }
    const seconds = (performance.now() - run.started) / 1000;
    if (verdict.allow) {
      this.deps.metrics.decision(undefined, seconds);
      // Every decision is in the ledger; the log line of an ALLOW is for debugging only (one line
      // per allowed Check cost ~8 % of the enforcement point's CPU at info). Denials stay at info.
      if (this.deps.logger.isLevelEnabled('debug')) {
        this.deps.logger.debug(
          {
            decision: 'allow',
            latency_ms: seconds * 1000,
            request_id: run.request.requestId,
            trace_id: run.request.traceId,
            artifact_id: verdict.artifact.id,
            operation: run.request.operation?.name,
          },
          'decision',
        );
      }
    } else {
      this.recordDenial(verdict, seconds);
    }
    return verdict;
  }

  /**
   * The first of: `evaluate`'s outcome, a DENY for its throw, or a DENY when the deadline passes.
   * `run.settled` turns true at that moment, so that a late evaluation records and spends nothing.
   * (One timer and one promise per decision, no Promise.race.)
   */
  private underDeadline(run: Run, evaluate: () => Promise<Verdict>): Promise<Verdict> {
    const { deadlineMs } = run;
    return new Promise<Verdict>((resolve) => {
      const settle = (verdict: Verdict) => {
        if (run.settled) return;
        run.settled = true;
        clearTimeout(timer);
        resolve(verdict);
      };
      const timer = setTimeout(
        () =>
          settle(
            run.deny(
              DEADLINE_REASON[run.stage],
              `decision deadline of ${deadlineMs} ms passed (${run.stage})`,
            ),
          ),
        deadlineMs,
      );
      const failed = (e: unknown) => {
        if (run.settled) return; // answered at the deadline already
        this.deps.logger.error({ err: e, request_id: run.request.requestId }, 'unexpected error in decision');
        settle(run.deny('internal.error', 'unexpected error during decision'));
      };
      try {
        evaluate().then(settle, failed);
      } catch (e) {
        failed(e);
      }
    });
  }

  /** Counts, logs (unless `log` is false: shed Checks are logged by ShedLog) and ledgers a denial. */
  private recordDenial(denial: Denial, seconds: number, log = true): void {
    const { reason, detail, subject, record } = denial;
    this.deps.metrics.decision(reason, seconds);
    if (log)
      this.deps.logger.info(
        {
          decision: 'deny',
          reason,
          detail,
          latency_ms: seconds * 1000,
          request_id: subject.requestId,
          trace_id: subject.traceId,
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
            { err: e, request_id: run.request.requestId, artifact_id: spent.artifactId },
            'a use spent after its request was denied could not be given back',
          );
        },
      )
      .finally(() => this.pending.delete(released));
    this.pending.add(released);
  }

  /** Preconditions every decision shares: the ledger can record it, and the registry view is fresh. */
  private unavailable(run: Run): Verdict | undefined {
    const halt = this.deps.ledger.halt();
    if (halt) return run.deny(halt.reason, halt.message);
    const freshness = this.deps.registry.freshness(run.nowMs);
    if (!freshness.fresh)
      return run.deny('issuer.unavailable', freshness.problem ?? 'registry view is not fresh');
    return undefined;
  }

  private async evaluateCheck(run: Run, message: CheckRequestMessage): Promise<Verdict> {
    const read = readCheckRequest(message, this.deps.settings, this.baseEnvironment);
    run.request = read.asker;
    if (!read.ok) return run.deny(read.reason, read.detail);
    const blocked = this.unavailable(run);
    if (blocked) return blocked;
    // A denial from here on names the route's operation and the Check's runtime; one for an
    // unavailable ledger or registry, above, names only who asked.
    const { request } = read;
    run.request = request;
    if (!request.asks.ok) return run.deny(request.asks.reason, request.asks.detail);
    const { operation, environment } = request.asks;
    return this.decideAndRecord(run, operation, environment, { route: `${request.method} ${request.path}` });
  }

  private async evaluateAdmission(run: Run, request: AdmissionRequest): Promise<Verdict> {
    const { settings } = this.deps;
    if (settings.runtimeApi === undefined)
      return run.deny('operation.unmapped', 'runtime admission is not configured');
    const blocked = this.unavailable(run);
    if (blocked) return blocked;
    const header = request.artifactHeader;
    if (header === undefined || header === '') return run.deny('artifact.missing', 'no artifact');
    let bound: ReturnType<typeof decodeArtifact>;
    try {
      bound = decodeArtifact(header);
    } catch (e) {
      return run.deny('artifact.malformed', (e as Error).message);
    }
    const entry = settings.runtimeApi.admit.find((a) => a.operation === bound.operation.name);
    if (entry === undefined)
      return run.deny('operation.unmapped', 'the artifact operation is not admissible here');
    // Admission binds the workload: the artifact's own parameters (unverified until decide()
    // checks the signature) stand, except `image`, which must equal the workload's image.
    const operation: RequestedOperation = {
      name: entry.operation,
      params: { ...bound.operation.params, image: request.workload.image },
      scope: [...entry.scope].sort(),
      policy: entry.policy,
    };
    run.request = { ...run.request, operation };
    const { runtime } = request.workload;
    const base = this.baseEnvironment;
    if (
      runtime !== base.runtime &&
      settings.environment.contextExtensions.runtime?.includes(runtime) !== true
    ) {
      return run.deny(
        'environment.mismatch',
        'the workload runtime is not one this enforcement point governs',
      );
    }
    // The admission names its attestation by a hash of the id: the id stays a secret of the
    // admitted workload until it is attested, and a verifier can still pair the two.
    return this.decideAndRecord(
      run,
      operation,
      { ...base, runtime },
      {
        image: request.workload.image,
        attestation_ref: attestationRef(this.deps.suite, request.attestationId),
      },
    );
  }

  private async decideAndRecord(
    run: Run,
    operation: RequestedOperation,
    environment: Environment,
    admissionData: Record<string, string>,
  ): Promise<Verdict> {
    const { artifactHeader: header, identity } = run.request;
    const decision = await decide(
      { header, identity, operation, environment, now: run.nowMs / 1000 },
      this.contextFor(run),
    );
    run.artifact = decision.facts;
    if (!decision.allow) return run.deny(decision.reason, decision.message);
    // Past the deadline the answer was DENY already; recording an admission would contradict it.
    if (run.settled) {
      this.releaseLateUse(run);
      return run.deny('internal.error', 'decision deadline passed');
    }
    run.stage = 'ledger';
    try {
      await this.deps.ledger.append(
        admissionEvents(run.subject(), decision.artifact, this.deps.producerId, admissionData),
      );
    } catch (e) {
      this.deps.metrics.ledgerFailure();
      return run.deny('ledger.unavailable', `admission events not recorded: ${(e as Error).message}`);
    }
    return decision;
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
          nowMs: run.nowMs,
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
