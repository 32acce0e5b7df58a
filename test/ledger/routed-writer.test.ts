// Routing by scope (ledger/routed-writer.ts): every producer picks the same log for a lineage,
// the logs share the lineages about evenly, adding a log moves only the lineages it wins, and a
// writer over several logs splits each append by lineage, keeps the receipts in order and halts
// when any of its logs does. Real logs on a Redis Cluster: test/ledger/topologies.test.ts.
import { describe, expect, it } from 'vitest';
import { nodeCrypto } from '../../core/crypto-node.js';
import { logOfLineage, routedLedgerWriter } from '../../ledger/routed-writer.js';
import type { LedgerWriter, Receipt } from '../../ledger/types.js';
import { RecordingLedger } from '../authz-server/support/recording-ledger.js';
import { lineageEvents, testEvent } from './support.js';

const LOGS = ['eu-1', 'us-1', 'ap-1'];
const lineages = Array.from({ length: 3000 }, (_, i) => `lineage://op/${i}`);

describe('logOfLineage', () => {
  it('gives a lineage the same log whatever the order the logs are listed in', () => {
    for (const lineage of lineages.slice(0, 200)) {
      const log = logOfLineage(nodeCrypto, LOGS, lineage);
      expect(logOfLineage(nodeCrypto, [...LOGS].reverse(), lineage)).toBe(log);
      expect(logOfLineage(nodeCrypto, [LOGS[1]!, LOGS[2]!, LOGS[0]!], lineage)).toBe(log);
    }
  });

  it('shares the lineages about evenly, and a new log takes only lineages it wins', () => {
    const counts = new Map<string, number>();
    for (const lineage of lineages) {
      const log = logOfLineage(nodeCrypto, LOGS, lineage);
      counts.set(log, (counts.get(log) ?? 0) + 1);
    }
    for (const log of LOGS) expect(counts.get(log)).toBeGreaterThan(800);
    const moved = lineages.filter(
      (l) => logOfLineage(nodeCrypto, [...LOGS, 'sa-1'], l) !== logOfLineage(nodeCrypto, LOGS, l),
    );
    expect(moved.length).toBeGreaterThan(500);
    expect(moved.every((l) => logOfLineage(nodeCrypto, [...LOGS, 'sa-1'], l) === 'sa-1')).toBe(true);
  });

  it('sends events without a lineage to the first log', () => {
    expect(logOfLineage(nodeCrypto, LOGS, undefined)).toBe('eu-1');
    expect(() => logOfLineage(nodeCrypto, [], 'lineage://op/1')).toThrow(RangeError);
  });
});

/** A recording writer per log that answers receipts: seq = its append count, index = position. */
class ReceiptLedger extends RecordingLedger {
  private appended = 0;
  override async appendAndWait(events: Parameters<LedgerWriter['append']>[0]): Promise<Receipt[]> {
    await this.append(events);
    const seq = ++this.appended;
    return events.map((_, index) => ({ seq, index }));
  }
}

describe('routedLedgerWriter', () => {
  const writers = () => new Map(LOGS.map((log) => [log, new ReceiptLedger()]));

  it("appends each lineage's events to its log only, in one call, and the rest to the first log", async () => {
    const logs = writers();
    const routed = routedLedgerWriter(nodeCrypto, logs);
    const ops = ['a', 'b', 'c', 'd', 'e', 'f'];
    const events = [...ops.flatMap((op, i) => lineageEvents(op, i * 7)), testEvent(100)];
    await routed.append(events);
    for (const [log, writer] of logs) {
      const expected = events.filter(
        (e) => (e.lineage === undefined ? 'eu-1' : logOfLineage(nodeCrypto, LOGS, e.lineage)) === log,
      );
      expect(writer.events).toEqual(expected);
    }
  });

  it('gives each event its receipt, in the order appended, naming the log', async () => {
    const routed = routedLedgerWriter(nodeCrypto, writers());
    const events = ['a', 'b', 'c'].flatMap((op, i) => lineageEvents(op, i * 7));
    const receipts = await routed.appendAndWait(events);
    expect(receipts).toHaveLength(events.length);
    events.forEach((e, i) => expect(receipts[i]!.log).toBe(logOfLineage(nodeCrypto, LOGS, e.lineage)));
    // Within a log, the events of one call keep their order.
    for (const log of LOGS) {
      const mine = receipts.filter((r) => r.log === log);
      expect(mine.map((r) => r.index)).toEqual(mine.map((_, i) => i));
    }
  });

  it('halts when any log halts, and reports the worst lag and every missing batch', async () => {
    const logs = writers();
    const routed = routedLedgerWriter(nodeCrypto, logs);
    expect(routed.halt()).toBeUndefined();
    logs.get('us-1')!.lagMs = 700;
    expect(routed.commitLagMs()).toBe(700);
    logs.get('ap-1')!.halted = true;
    expect(routed.halt()).toMatchObject({
      reason: 'ledger.unavailable',
      message: expect.stringMatching(/^log ap-1: /),
    });
    logs.get('eu-1')!.missing = true;
    expect(routed.batchesMissing()).toBe(1);
    expect(routed.halt()?.reason).toBe('ledger.batch.missing');
  });

  it('fails an append when a log it touches fails', async () => {
    const logs = writers();
    const routed = routedLedgerWriter(nodeCrypto, logs);
    const events = ['a', 'b', 'c', 'd'].flatMap((op, i) => lineageEvents(op, i * 7));
    const failing = logOfLineage(nodeCrypto, LOGS, events[0]!.lineage);
    logs.get(failing)!.failing = true;
    await expect(routed.append(events)).rejects.toThrow(/unreachable/);
  });
});
