// The sequencer's Prometheus metrics (sequencer/metrics.ts), as prom-client writes them when
// scraped: first from chosen statuses (every value, and what each one is when there is nothing to
// report), then from a real Sequencer on the memory store, against what it chained.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeCrypto } from '../../core/crypto-node.js';
import { validateEvent } from '../../core/event.js';
import { signSync, rawPublicKey } from '../../core/keys.js';
import { cosign, parseNote } from '../../core/note.js';
import { sealBatch } from '../../ledger/ingest.js';
import { SequencerMetrics } from '../../sequencer/metrics.js';
import type { Sequencer, SequencerStatus } from '../../sequencer/sequencer.js';
import type { CheckpointWitnesses } from '../../sequencer/witnesses.js';
import {
  PRODUCER_KID,
  TestLedger,
  chainedEventCounter,
  ledgerKeys,
  memoryStores,
  seededKey,
  strangerKey,
  testEvent,
  until,
} from '../ledger/support.js';

/** The sequencer metrics' names and values in the text exposition (process metrics aside). */
async function scrape(metrics: SequencerMetrics): Promise<Record<string, number>> {
  const text = await metrics.registry.metrics();
  const values: Record<string, number> = {};
  for (const [, name, value] of text.matchAll(/^(governance_sequencer_\w+) (\S+)$/gm))
    values[name!] = Number(value);
  return values;
}

const NOW = Date.UTC(2026, 4, 12, 17, 4, 11);

const idle: SequencerStatus = {
  state: 'idle',
  leaseAnsweredAt: undefined,
  chained: 0,
  rejected: 0,
  checkpointsPublished: 0,
  leasesAcquired: 0,
  unwitnessed: 0,
  lastHead: undefined,
  archive: undefined,
  backlog: undefined,
  events: 0,
  tipSeq: 0,
  lastCommit: undefined,
  cosignatures: 0,
};

/** A leader 2.5 s past its last checkpoint (at 40) with records chained to 42, archived to 30. */
const leading: SequencerStatus = {
  state: 'leading',
  leaseAnsweredAt: NOW - 100,
  chained: 42,
  rejected: 2,
  checkpointsPublished: 9,
  leasesAcquired: 1,
  unwitnessed: 1,
  lastHead: { seq: 40, at: NOW - 2500, cosignatures: 2 },
  archive: { archived: 30, trimmed: 20, at: NOW - 60_000, failures: 3 },
  backlog: { entries: 7, oldestMs: NOW - 1800, at: NOW - 300 },
  events: 1234,
  tipSeq: 42,
  lastCommit: { at: NOW - 500, lagMs: 250 },
  cosignatures: 19,
};

const metricsOf = (status: SequencerStatus) => new SequencerMetrics(() => status, { now: () => NOW });

describe('sequencer metrics from its status', () => {
  it('writes every metric, each 0 while there is nothing to report (no archive included)', async () => {
    expect(await scrape(metricsOf(idle))).toEqual({
      governance_sequencer_records_chained_total: 0,
      governance_sequencer_entries_rejected_total: 0,
      governance_sequencer_checkpoints_published_total: 0,
      governance_sequencer_checkpoints_unwitnessed_total: 0,
      governance_sequencer_leases_acquired_total: 0,
      governance_sequencer_events_chained_total: 0,
      governance_sequencer_witness_cosignatures_total: 0,
      governance_sequencer_archive_failures_total: 0,
      governance_sequencer_leading: 0,
      governance_sequencer_last_checkpoint_size: 0,
      governance_sequencer_last_checkpoint_timestamp_seconds: 0,
      governance_sequencer_last_checkpoint_cosignatures: 0,
      governance_sequencer_checkpoint_age_seconds: 0,
      governance_sequencer_ingest_backlog_entries: 0,
      governance_sequencer_ingest_backlog_age_seconds: 0,
      governance_sequencer_tip_size: 0,
      governance_sequencer_commit_lag_seconds: 0,
      governance_sequencer_last_commit_timestamp_seconds: 0,
      governance_sequencer_archived_size: 0,
      governance_sequencer_trimmed_size: 0,
      governance_sequencer_archive_lag_records: 0,
      governance_sequencer_last_archive_timestamp_seconds: 0,
    });
  });

  it("reports a leader's counts, tip, commit lag, checkpoint age, cosignatures and archive", async () => {
    expect(await scrape(metricsOf(leading))).toEqual({
      governance_sequencer_records_chained_total: 42,
      governance_sequencer_entries_rejected_total: 2,
      governance_sequencer_checkpoints_published_total: 9,
      governance_sequencer_checkpoints_unwitnessed_total: 1,
      governance_sequencer_leases_acquired_total: 1,
      governance_sequencer_events_chained_total: 1234,
      governance_sequencer_witness_cosignatures_total: 19,
      governance_sequencer_archive_failures_total: 3,
      governance_sequencer_leading: 1,
      governance_sequencer_last_checkpoint_size: 40,
      governance_sequencer_last_checkpoint_timestamp_seconds: (NOW - 2500) / 1000,
      governance_sequencer_last_checkpoint_cosignatures: 2,
      governance_sequencer_checkpoint_age_seconds: 2.5,
      governance_sequencer_ingest_backlog_entries: 7,
      governance_sequencer_ingest_backlog_age_seconds: 1.5,
      governance_sequencer_tip_size: 42,
      governance_sequencer_commit_lag_seconds: 0.25,
      governance_sequencer_last_commit_timestamp_seconds: (NOW - 500) / 1000,
      governance_sequencer_archived_size: 30,
      governance_sequencer_trimmed_size: 20,
      governance_sequencer_archive_lag_records: 12,
      governance_sequencer_last_archive_timestamp_seconds: (NOW - 60_000) / 1000,
    });
  });

  it('types the counts as counters and the rest as gauges, with their help', async () => {
    const text = await metricsOf(leading).registry.metrics();
    expect(text).toContain('# TYPE governance_sequencer_events_chained_total counter\n');
    expect(text).toContain('# TYPE governance_sequencer_witness_cosignatures_total counter\n');
    expect(text).toContain('# TYPE governance_sequencer_archive_failures_total counter\n');
    expect(text).toContain('# TYPE governance_sequencer_checkpoint_age_seconds gauge\n');
    expect(text).toContain('# TYPE governance_sequencer_archive_lag_records gauge\n');
    expect(text).toMatch(/^# HELP governance_sequencer_commit_lag_seconds \S.*$/m);
    expect(text).toContain('# TYPE governance_sequencer_ingest_backlog_entries gauge\n');
  });

  it('ages a checkpoint only while leading with records chained past it', async () => {
    const age = async (status: SequencerStatus) =>
      (await scrape(metricsOf(status))).governance_sequencer_checkpoint_age_seconds;
    expect(await age(leading)).toBe(2.5);
    expect(await age({ ...leading, state: 'standing-by' })).toBe(0);
    expect(await age({ ...leading, lastHead: undefined })).toBe(0);
    // Idle: the last checkpoint proves every record, however old it is.
    expect(
      await age({ ...leading, tipSeq: 40, lastHead: { seq: 40, at: NOW - 3_600_000, cosignatures: 0 } }),
    ).toBe(0);
  });

  it('counts archive lag from the tip this instance knows, never below 0', async () => {
    const lag = async (status: SequencerStatus) =>
      (await scrape(metricsOf(status))).governance_sequencer_archive_lag_records;
    // Not committed since it took the lease: the tip of its last checkpoint.
    expect(await lag({ ...leading, tipSeq: 0 })).toBe(10);
    expect(await lag({ ...leading, tipSeq: 0, lastHead: undefined })).toBe(0);
    expect(await lag({ ...leading, archive: { archived: 42, trimmed: 42, at: NOW, failures: 0 } })).toBe(0);
    expect(await lag({ ...leading, archive: undefined })).toBe(0);
  });

  it('reads the status at each scrape', async () => {
    let status = idle;
    const metrics = new SequencerMetrics(() => status, { now: () => NOW });
    expect((await scrape(metrics)).governance_sequencer_events_chained_total).toBe(0);
    status = leading;
    expect((await scrape(metrics)).governance_sequencer_events_chained_total).toBe(1234);
  });
});

describe('metrics of a real sequencer on the memory store', () => {
  const witnessKey = seededKey('witness');
  const name = 'witness.test.example/1';
  /** A witness that cosigns every checkpoint it is shown. */
  const witnesses: CheckpointWitnesses = {
    threshold: 1,
    cosign: async (note) => [
      await cosign(
        nodeCrypto,
        parseNote(note).body,
        name,
        { kid: name, sign: async (m) => signSync(witnessKey, m) },
        1_778_605_451,
        rawPublicKey(witnessKey),
      ),
    ],
  };
  let ledger: TestLedger;
  let sequencer: Sequencer;
  let metrics: SequencerMetrics;
  let startedAt: number;
  beforeAll(async () => {
    startedAt = Date.now();
    ledger = new TestLedger(memoryStores('metrics-log'));
    sequencer = ledger.sequencer({ headIntervalMs: 20, witnesses, log: () => undefined });
    metrics = new SequencerMetrics(() => sequencer.status());
    const writer = await ledger.writer({
      checkpoints: {
        auditKeys: () => ledgerKeys.audit,
        witnesses: { threshold: 1, witnesses: [{ name, publicKey: rawPublicKey(witnessKey) }] },
      },
    });
    // One batch of three events, a forged entry (refused: one ledger.rejected event in a record
    // of its own), then a batch of two: three records, six events.
    await writer.appendAndWait([testEvent(1), testEvent(2), testEvent(3)], 30_000);
    const forged = sealBatch(nodeCrypto, 'metrics-log', PRODUCER_KID, strangerKey, [
      validateEvent(testEvent(4)),
    ]);
    await ledger.store.appendIngest([forged.entry]);
    await until(async () => (await ledger.store.deadLetters(10)).length === 1, 30_000, 'the refusal');
    await writer.appendAndWait([testEvent(5), testEvent(6)], 30_000);
    await until(() => sequencer.status().lastHead?.seq === 3, 30_000, 'a checkpoint of all three records');
  }, 60_000);
  afterAll(async () => {
    await ledger?.close();
  });

  it('counts the events it chained, as many as the chain holds', async () => {
    const values = await scrape(metrics);
    expect(await chainedEventCounter(ledger.store)()).toBe(6);
    expect(values).toMatchObject({
      governance_sequencer_leading: 1,
      governance_sequencer_events_chained_total: 6,
      governance_sequencer_records_chained_total: 3,
      governance_sequencer_entries_rejected_total: 1,
      governance_sequencer_tip_size: 3,
    });
  });

  it('reports its checkpoints, their cosignatures, and the lag of its last commit', async () => {
    const values = await scrape(metrics);
    const published = values.governance_sequencer_checkpoints_published_total!;
    expect(published).toBeGreaterThanOrEqual(1);
    expect(values).toMatchObject({
      governance_sequencer_last_checkpoint_size: 3,
      governance_sequencer_last_checkpoint_cosignatures: 1,
      // One cosignature per checkpoint signed, each published.
      governance_sequencer_witness_cosignatures_total: published,
      governance_sequencer_checkpoints_unwitnessed_total: 0,
      // The last checkpoint proves the tip: nothing waits for one.
      governance_sequencer_checkpoint_age_seconds: 0,
      governance_sequencer_archived_size: 0,
      governance_sequencer_archive_lag_records: 0,
      // Every entry chained, so none waits.
      governance_sequencer_ingest_backlog_entries: 0,
      governance_sequencer_ingest_backlog_age_seconds: 0,
    });
    // The leader samples the stream every third of its lease (1000 ms here): the zeros above are
    // a sample, not an absence of one.
    await until(() => sequencer.status().backlog !== undefined, 5000, 'a backlog sample');
    expect(sequencer.status().backlog).toMatchObject({ entries: 0, oldestMs: undefined });
    const lastCommit = values.governance_sequencer_last_commit_timestamp_seconds!;
    expect(lastCommit).toBeGreaterThanOrEqual(startedAt / 1000);
    expect(lastCommit).toBeLessThanOrEqual(Date.now() / 1000);
    const lag = values.governance_sequencer_commit_lag_seconds!;
    expect(lag).toBeGreaterThanOrEqual(0);
    expect(lag).toBeLessThan(5);
    expect(values.governance_sequencer_last_checkpoint_timestamp_seconds).toBeGreaterThanOrEqual(lastCommit);
  });
});
