// The ledger gauges every producer (enforcement point, authority) exposes, under the same names and
// meaning, so one alert covers them all (docs/deploy/alerts.md). Read from the producer's ledger
// writer at collection time; passed as functions so that service/ need not import ledger/.
import { Gauge, type Registry } from 'prom-client';

export interface LedgerGaugeSources {
  /** LedgerWriter.commitLagMs(): age of the oldest appended event not yet proven in a checkpoint. */
  commitLagMs: () => number;
  /** LedgerWriter.batchesMissing(): batches a checkpoint covered without holding them (the producer then halts for good). */
  batchesMissing: () => number;
}

export function registerLedgerGauges(registry: Registry, sources: LedgerGaugeSources): void {
  const registers = [registry];
  new Gauge({
    name: 'governance_ledger_commit_lag_seconds',
    help: 'Age of the oldest event this producer appended that is not yet proven in a checkpoint.',
    registers,
    // Merged over the workers of one process group (authz-server/workers.ts): the worst one.
    aggregator: 'max',
    collect() {
      this.set(sources.commitLagMs() / 1000);
    },
  });
  new Gauge({
    name: 'governance_ledger_batches_missing',
    help: 'Batches this producer appended that a checkpoint covered without holding them (halted: ledger.batch.missing).',
    registers,
    aggregator: 'max',
    collect() {
      this.set(sources.batchesMissing());
    },
  });
}
