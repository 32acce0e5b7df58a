// Producers route by scope (docs/spec/ledger.md §14): a deployment that partitions its ledger
// into several logs gives each producer a writer per log, and every event goes to the log its
// lineage names, so that a lineage — one governed operation, from issuance to evidence — stays
// in one log, where its lineage_prev links and its index entry are. The authority and the
// enforcement points pick the same log for the same lineage without talking to each other:
// rendezvous hashing over the logs' ids, so that adding a log moves only the lineages it wins.
import type { CryptoSuite } from '../core/crypto.js';
import { utf8Encode } from '../core/encoding.js';
import type { LedgerEvent } from '../core/event.js';
import type { LedgerHalt, LedgerWriter, Receipt } from './types.js';

/**
 * The log of a lineage among `logs`: the one whose SHA-256(log || 0x0a || lineage) is the
 * greatest, as unsigned big-endian bytes. Events without a lineage go to the first log.
 */
export function logOfLineage(
  suite: CryptoSuite,
  logs: readonly string[],
  lineage: string | undefined,
): string {
  if (logs.length === 0) throw new RangeError('no log to route to');
  if (lineage === undefined || logs.length === 1) return logs[0]!;
  let best = logs[0]!;
  let bestHash: Uint8Array | undefined;
  for (const log of logs) {
    const hash = suite.sha256(utf8Encode(`${log}\n${lineage}`)).slice();
    if (bestHash === undefined || compare(hash, bestHash) > 0) [best, bestHash] = [log, hash];
  }
  return best;
}

function compare(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

/**
 * One LedgerWriter over a writer per log (in the order logOfLineage ranks ties: the first is
 * where events without a lineage go). An append resolves once every log it touched took its
 * events; the events of one lineage are appended by one writer in one call, so they are sealed
 * and chained together as before, and a call spanning logs is all-or-nothing only per log. It
 * halts when any log's writer halts: a producer whose batches one log leaves unproven denies
 * everything, as with one log.
 */
export function routedLedgerWriter(
  suite: CryptoSuite,
  writers: ReadonlyMap<string, LedgerWriter>,
): LedgerWriter {
  const logs = [...writers.keys()];
  const split = (events: LedgerEvent[]) => {
    const byLog = new Map<string, { events: LedgerEvent[]; at: number[] }>();
    events.forEach((event, i) => {
      const log = logOfLineage(suite, logs, event.lineage);
      const part = byLog.get(log) ?? { events: [], at: [] };
      part.events.push(event);
      part.at.push(i);
      byLog.set(log, part);
    });
    return [...byLog].map(([log, part]) => ({ log, writer: writers.get(log)!, ...part }));
  };
  return {
    async append(events) {
      await Promise.all(split(events).map(({ writer, events: part }) => writer.append(part)));
    },
    async appendAndWait(events, timeoutMs) {
      const receipts: Receipt[] = new Array<Receipt>(events.length);
      await Promise.all(
        split(events).map(async ({ log, writer, events: part, at }) => {
          (await writer.appendAndWait(part, timeoutMs)).forEach((r, i) => (receipts[at[i]!] = { ...r, log }));
        }),
      );
      return receipts;
    },
    commitLagMs: () => Math.max(...[...writers.values()].map((w) => w.commitLagMs())),
    halt(): LedgerHalt | undefined {
      for (const [log, writer] of writers) {
        const halt = writer.halt();
        if (halt) return { ...halt, message: `log ${log}: ${halt.message}` };
      }
      return undefined;
    },
    batchesMissing: () => [...writers.values()].reduce((n, w) => n + w.batchesMissing(), 0),
    async close() {
      await Promise.all([...writers.values()].map((w) => w.close()));
    },
  };
}
