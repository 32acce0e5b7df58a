// Prometheus metrics of one sequencer, read from its status (sequencer/sequencer.ts) when scraped.
// A registry per instance (not prom-client's global one), so that tests and the single-process
// dev mode can run several side by side.
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { SequencerStatus } from './sequencer.js';

export class SequencerMetrics {
  readonly registry = new Registry();

  constructor(status: () => SequencerStatus, options: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    // A count kept by the sequencer, reported as the counter's value.
    const counter = (name: string, help: string, value: (s: SequencerStatus) => number) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(value(status()));
        },
      });
    counter(
      'governance_sequencer_records_chained_total',
      'Records this sequencer chained.',
      (s) => s.chained,
    );
    counter(
      'governance_sequencer_entries_rejected_total',
      'Ingest entries this sequencer refused (dead-lettered, recorded as ledger.rejected).',
      (s) => s.rejected,
    );
    counter(
      'governance_sequencer_checkpoints_published_total',
      'Checkpoints this sequencer signed and published.',
      (s) => s.checkpointsPublished,
    );
    counter(
      'governance_sequencer_checkpoints_unwitnessed_total',
      'Checkpoints not published for want of witness cosignatures (the next try covers more records).',
      (s) => s.unwitnessed,
    );
    counter(
      'governance_sequencer_leases_acquired_total',
      'Times this sequencer took the lease (more than one: it lost it, or another led between).',
      (s) => s.leasesAcquired,
    );
    new Gauge({
      name: 'governance_sequencer_leading',
      help: 'Whether this sequencer holds the lease and chains (1), or stands by (0).',
      registers,
      collect() {
        this.set(status().state === 'leading' ? 1 : 0);
      },
    });
    new Gauge({
      name: 'governance_sequencer_last_checkpoint_size',
      help: 'Tree size of the last checkpoint this sequencer published (0: none yet).',
      registers,
      collect() {
        this.set(status().lastHead?.seq ?? 0);
      },
    });
    new Gauge({
      name: 'governance_sequencer_last_checkpoint_timestamp_seconds',
      help: 'When this sequencer last published a checkpoint, in Unix seconds (0: never); alert on its age while leading.',
      registers,
      collect() {
        const at = status().lastHead?.at;
        this.set(at === undefined ? 0 : at / 1000);
      },
    });
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry });
  }
}
