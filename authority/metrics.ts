// Prometheus metrics of one authority instance. A registry per instance (not prom-client's
// global one), so that tests and the single-process dev mode can run several side by side.
// Label values are codes of core/errors.ts or fixed words, never caller-supplied text.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { registerBuildInfo } from '../service/build-info.js';
import { registerLedgerGauges, type LedgerGaugeSources } from '../service/ledger-metrics.js';

export class AuthorityMetrics {
  readonly registry = new Registry();

  readonly decisions = new Counter({
    name: 'governance_authority_decisions_total',
    help: 'Artifact requests and admin operations decided, by kind, decision and reason code.',
    labelNames: ['kind', 'decision', 'reason'] as const,
    registers: [this.registry],
  });

  readonly issueSeconds = new Histogram({
    name: 'governance_authority_issue_seconds',
    help: 'Time from an artifact request to its ledgered issuance.',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });

  readonly problems = new Counter({
    name: 'governance_authority_problems_total',
    help: 'Background failures: heartbeat publication, registry sync, ledgering of a denial.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  readonly registryAgeSeconds = new Gauge({
    name: 'governance_authority_registry_age_seconds',
    help: 'Time since the registry view last matched the store.',
    registers: [this.registry],
  });

  /** `ledger`: the authority's ledger writer, whose commit lag and missing batches it reports. */
  constructor(options: { ledger: LedgerGaugeSources; processMetrics?: boolean }) {
    registerBuildInfo(this.registry, 'authority');
    registerLedgerGauges(this.registry, options.ledger);
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry });
  }
}
