// Prometheus metrics, in a registry of their own (one per server, so tests can run several).
// Denial reasons are exactly the codes of core/errors.ts, pre-created at zero so a dashboard
// sees every reason before it first happens.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { registerBuildInfo } from '../service/build-info.js';
import { DENIAL_REASONS, type DenialReason } from '../core/errors.js';
import { registerLedgerGauges } from '../service/ledger-metrics.js';

export interface MetricSources {
  ledgerCommitLagMs: () => number;
  /** Batches a checkpoint covered without holding them (the enforcement point then halts for good). */
  ledgerBatchesMissing: () => number;
  registryAgesMs: () => { keysAgeMs: number; revocationsAgeMs: number };
  /** Decisions in flight and the overload limit (authz-server/overload.ts). */
  load: () => { inFlight: number; limit: number };
}

export class AuthzMetrics {
  readonly registry = new Registry();
  private readonly decisions: Counter<'result' | 'reason'>;
  private readonly checkSeconds: Histogram<'result'>;
  private readonly registryProblems: Counter<'kind'>;
  private readonly ledgerFailures: Counter;
  private readonly lateUses: Counter<'result'>;
  private textSource = () => this.registry.metrics();

  constructor(sources: MetricSources) {
    const registers = [this.registry];
    registerBuildInfo(this.registry, 'authz-server');
    this.decisions = new Counter({
      name: 'governance_authz_decisions_total',
      help: 'Decisions of the enforcement point, by result and denial reason (codes of core/errors.ts).',
      labelNames: ['result', 'reason'],
      registers,
    });
    this.decisions.inc({ result: 'allow', reason: '' }, 0);
    for (const reason of DENIAL_REASONS) this.decisions.inc({ result: 'deny', reason }, 0);
    this.checkSeconds = new Histogram({
      name: 'governance_authz_check_duration_seconds',
      help: 'Time from receiving a Check (or runtime admission) to its answer.',
      labelNames: ['result'],
      buckets: [0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5],
      registers,
    });
    this.registryProblems = new Counter({
      name: 'governance_authz_registry_problems_total',
      help: 'Registry records rejected (key, revocation, heartbeat) and failed registry syncs (sync).',
      labelNames: ['kind'],
      registers,
    });
    this.ledgerFailures = new Counter({
      name: 'governance_authz_ledger_append_failures_total',
      help: 'Ledger appends that failed (an ALLOW is then denied; a denial is still answered).',
      registers,
    });
    this.lateUses = new Counter({
      name: 'governance_authz_late_uses_total',
      help: 'Uses the store took after their request was answered DENY, by whether they were given back (released) or not (failed).',
      labelNames: ['result'],
      registers,
    });
    for (const result of ['released', 'failed']) this.lateUses.inc({ result }, 0);
    registerLedgerGauges(this.registry, {
      commitLagMs: sources.ledgerCommitLagMs,
      batchesMissing: sources.ledgerBatchesMissing,
    });
    new Gauge({
      name: 'governance_registry_freshness_age_seconds',
      help: 'Age of the registry view: keys (last sync) and revocations (newest verified heartbeat).',
      labelNames: ['view'],
      registers,
      aggregator: 'max',
      collect() {
        const ages = sources.registryAgesMs();
        // An age that was never established reports as -1 rather than +Inf, which many tools mishandle.
        const seconds = (ms: number) => (Number.isFinite(ms) ? ms / 1000 : -1);
        this.set({ view: 'keys' }, seconds(ages.keysAgeMs));
        this.set({ view: 'revocations' }, seconds(ages.revocationsAgeMs));
      },
    });
    new Gauge({
      name: 'governance_authz_decisions_in_flight',
      help: 'Decisions in flight (value="current") and the limit above which new ones are shed overload.shed (value="limit").',
      labelNames: ['value'],
      registers,
      // Summed over the workers of one process group: each has its own limit.
      aggregator: 'sum',
      collect() {
        const { inFlight, limit } = sources.load();
        this.set({ value: 'current' }, inFlight);
        this.set({ value: 'limit' }, limit);
      },
    });
    collectDefaultMetrics({ register: this.registry });
  }

  /** What GET /metrics answers: this process's metrics, or those merged over its worker group. */
  text(): Promise<string> {
    return this.textSource();
  }

  /** Answers GET /metrics from `source` (the worker group's merged metrics) from now on. */
  mergeThrough(source: () => Promise<string>): void {
    this.textSource = source;
  }

  decision(reason: DenialReason | undefined, seconds: number): void {
    if (reason === undefined) {
      this.decisions.inc({ result: 'allow', reason: '' });
      this.checkSeconds.observe({ result: 'allow' }, seconds);
    } else {
      this.decisions.inc({ result: 'deny', reason });
      this.checkSeconds.observe({ result: 'deny' }, seconds);
    }
  }

  registryProblem(kind: string): void {
    this.registryProblems.inc({ kind });
  }

  ledgerFailure(): void {
    this.ledgerFailures.inc();
  }

  useReleased(released: boolean): void {
    this.lateUses.inc({ result: released ? 'released' : 'failed' });
  }
}
