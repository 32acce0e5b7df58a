// Prometheus metrics of one sequencer, read from its status (sequencer/sequencer.ts) when scraped:
// never a store call, so a scrape costs nothing and answers while the store does not. Alerting
// rules on them: docs/deploy/alerts.md.
// A registry per instance (not prom-client's global one), so that tests and the single-process
// dev mode can run several side by side.
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { registerBuildInfo } from '../service/build-info.js';
import type { SequencerStatus } from './sequencer.js';

export class SequencerMetrics {
  readonly registry = new Registry();

  constructor(
    status: () => SequencerStatus,
    options: {
      processMetrics?: boolean;
      /** The clock ages are measured against (default Date.now); the sequencer's own, in tests. */
      now?: () => number;
    } = {},
  ) {
    registerBuildInfo(this.registry, 'sequencer');
    const registers = [this.registry];
    const now = options.now ?? Date.now;
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
    counter(
      'governance_sequencer_events_chained_total',
      'Events in the records this sequencer chained (its ledger.rejected events included); its rate is events per second.',
      (s) => s.events,
    );
    counter(
      'governance_sequencer_witness_cosignatures_total',
      'Witness cosignatures this sequencer obtained for the checkpoints it signed, published or not.',
      (s) => s.cosignatures,
    );
    counter(
      'governance_sequencer_archive_failures_total',
      'Archiving attempts that failed, as this sequencer saw them (0: no archive).',
      (s) => s.archive?.failures ?? 0,
    );
    // A value read from the status when scraped.
    const gauge = (name: string, help: string, value: (s: SequencerStatus) => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(value(status()));
        },
      });
    const seconds = (ms: number | undefined) => (ms === undefined ? 0 : ms / 1000);
    gauge(
      'governance_sequencer_leading',
      'Whether this sequencer holds the lease and chains (1), or stands by (0).',
      (s) => (s.state === 'leading' ? 1 : 0),
    );
    gauge(
      'governance_sequencer_last_checkpoint_size',
      'Tree size of the last checkpoint this sequencer published (0: none yet).',
      (s) => s.lastHead?.seq ?? 0,
    );
    gauge(
      'governance_sequencer_last_checkpoint_timestamp_seconds',
      'When this sequencer last published a checkpoint, in Unix seconds (0: never); alert on its age while leading.',
      (s) => seconds(s.lastHead?.at),
    );
    gauge(
      'governance_sequencer_last_checkpoint_cosignatures',
      'Witness cosignatures on the last checkpoint this sequencer published (0: none yet, or no witnesses).',
      (s) => s.lastHead?.cosignatures ?? 0,
    );
    gauge(
      'governance_sequencer_checkpoint_age_seconds',
      'While leading with records chained past its last checkpoint: seconds since that checkpoint was published (0 otherwise).',
      (s) =>
        s.state === 'leading' && s.lastHead !== undefined && s.tipSeq > s.lastHead.seq
          ? Math.max(0, seconds(now() - s.lastHead.at))
          : 0,
    );
    gauge(
      'governance_sequencer_ingest_backlog_entries',
      'Ingest entries waiting to be chained, as this sequencer last sampled them while leading (0: not leading, or never sampled).',
      (s) => (s.state === 'leading' ? (s.backlog?.entries ?? 0) : 0),
    );
    gauge(
      'governance_sequencer_ingest_backlog_age_seconds',
      'How long the oldest waiting ingest entry had waited when this sequencer last sampled the stream while leading (0: none waiting, or not leading).',
      (s) =>
        s.state === 'leading' && s.backlog?.oldestMs !== undefined
          ? Math.max(0, seconds(s.backlog.at - s.backlog.oldestMs))
          : 0,
    );
    gauge(
      'governance_sequencer_tip_size',
      "The chain's seq after this sequencer's last commit (0: none yet).",
      (s) => s.tipSeq,
    );
    gauge(
      'governance_sequencer_commit_lag_seconds',
      "Age of the newest ingest entry this sequencer's last commit consumed, when the commit resolved (0: none yet).",
      (s) => seconds(s.lastCommit?.lagMs),
    );
    gauge(
      'governance_sequencer_last_commit_timestamp_seconds',
      'When the last commit of this sequencer resolved, in Unix seconds (0: never).',
      (s) => seconds(s.lastCommit?.at),
    );
    gauge(
      'governance_sequencer_archived_size',
      'Records sealed in the archive, as this sequencer last saw or moved it (0: no archive).',
      (s) => s.archive?.archived ?? 0,
    );
    gauge(
      'governance_sequencer_trimmed_size',
      'Records trimmed from the store once archived, as this sequencer last saw it (0: no archive).',
      (s) => s.archive?.trimmed ?? 0,
    );
    gauge(
      'governance_sequencer_archive_lag_records',
      'Records chained but not yet archived: the tip this sequencer knows (its last commit or checkpoint) less the archived ones (0: no archive).',
      (s) =>
        s.archive === undefined
          ? 0
          : Math.max(0, Math.max(s.tipSeq, s.lastHead?.seq ?? 0) - s.archive.archived),
    );
    gauge(
      'governance_sequencer_last_archive_timestamp_seconds',
      'When this sequencer last archived, in Unix seconds (0: never, or no archive).',
      (s) => seconds(s.archive?.at),
    );
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry });
  }
}
