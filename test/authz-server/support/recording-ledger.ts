// A LedgerWriter that keeps appended events in memory, for tests of the enforcement shell that
// do not need the Redis ledger. Faults are switched on explicitly: a failing or slow append, and
// a halt (commit lag past the window).
import type { LedgerEvent } from '../../../core/event.js';
import { validateEvent } from '../../../core/event.js';
import type { LedgerHalt, LedgerWriter, Receipt } from '../../../ledger/types.js';

export class RecordingLedger implements LedgerWriter {
  readonly events: LedgerEvent[] = [];
  failing = false;
  halted = false;
  /** Set: a checkpoint left one of its batches out (ledger.batch.missing). */
  missing = false;
  delayMs = 0;
  /** While set, appends wait for it: a ledger that answers only when the test says so. */
  hold: Promise<void> | undefined;
  /** Appends waiting on `hold` now. */
  held = 0;

  async append(events: LedgerEvent[]): Promise<void> {
    // The real writer validates every event; a shell bug that builds an invalid one must show here too.
    for (const event of events) validateEvent(event);
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    if (this.hold !== undefined) {
      this.held++;
      await this.hold.finally(() => this.held--);
    }
    if (this.failing) throw new Error('ledger store unreachable');
    this.events.push(...events);
  }

  async appendAndWait(events: LedgerEvent[]): Promise<Receipt[]> {
    await this.append(events);
    return [];
  }

  /** The commit lag it reports while not halted. */
  lagMs = 0;

  commitLagMs(): number {
    return this.halted || this.missing ? 5000 : this.lagMs;
  }

  halt(): LedgerHalt | undefined {
    if (this.missing)
      return { reason: 'ledger.batch.missing', message: 'a checkpoint left a batch out (halt)' };
    if (this.halted)
      return { reason: 'ledger.unavailable', message: 'ledger commit lag exceeds its window (halt)' };
    return undefined;
  }

  batchesMissing(): number {
    return this.missing ? 1 : 0;
  }

  async close(): Promise<void> {}

  /** Events of one type, waiting briefly for background (denial) appends. */
  async waitFor(type: LedgerEvent['type'], count = 1, timeoutMs = 2000): Promise<LedgerEvent[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.filter((e) => e.type === type);
      if (found.length >= count || Date.now() > deadline) return found;
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}
