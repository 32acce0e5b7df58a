// Overload control for the decision path. A Check the enforcement point cannot decide in time is
// shed at once — DENY overload.shed, which Envoy's clients see as 503 and may retry elsewhere or
// later — before any decoding, use or ledger work, instead of waiting in a queue until the
// deadline turns it into a denial that cost as much as an allow. Three signals, all local:
// - decisions in flight, against a limit that follows the decision latency (AIMD: it grows by
//   one per `limit` decisions answered within the target latency and, at most once per target
//   interval, shrinks when one takes longer while the recent average does too: by
//   target/average, between a tenth and a half, so that a burst far past capacity is under the
//   target within a few intervals while a lone slow decision changes nothing), so that what is
//   taken is answered well within the deadline whatever the machine's speed;
// - the caller's own deadline (gRPC grpc-timeout, Envoy's ext_authz timeout): a Check that waited
//   in the process until too little of it is left is shed at once, and the others are decided
//   within what is left, so that no work goes into answers the caller has stopped waiting for;
// - the ledger's commit lag: a sequencer falling behind means the enforcement point is appending
//   more than the ledger chains. An allowed decision appends two events, a shed one one; past
//   the commit window the producer halts every decision (ledger.unavailable) until the backlog
//   is proven, which outlives the overload. Shedding while the lag is at half the window keeps it
//   from getting there.
import { performance } from 'node:perf_hooks';

/** Kept out of the caller's deadline for the answer's way back to it. */
export const ANSWER_MARGIN_MS = 5;
/** A decision given less time than this would only expire: it is shed instead. */
export const MIN_DECISION_MS = 5;

/** The time a decision is given: its own deadline, or less when the caller's ends sooner. */
export function decisionBudgetMs(deadlineMs: number, callerRemainingMs: number): number {
  return Math.min(deadlineMs, callerRemainingMs - ANSWER_MARGIN_MS);
}

export interface OverloadSettings {
  /** Decisions in flight at most: the limit starts there and never exceeds it. */
  maxInFlight: number;
  /** The limit never falls below this. */
  minInFlight: number;
  /** Decision latency the limit aims at (half the decision deadline). */
  targetMs: number;
  /** Commit lag above which every decision is shed (half the commit window). */
  maxCommitLagMs: number;
}

export class LoadShedder {
  private inFlight = 0;
  private limit: number;
  private lastDecrease = -Infinity;
  /** Recent decision latency: an exponentially weighted average, a tenth per decision. */
  private averageMs: number | undefined;

  constructor(
    private readonly settings: OverloadSettings,
    private readonly commitLagMs: () => number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.limit = settings.maxInFlight;
  }

  /**
   * Why a decision given `budgetMs` must be shed now, or undefined: then it is taken, and done()
   * must follow with how long it took.
   */
  shed(budgetMs: number): string | undefined {
    if (budgetMs < MIN_DECISION_MS)
      return `the caller's deadline leaves ${Math.max(0, Math.floor(budgetMs))} ms to decide`;
    const limit = Math.floor(this.limit);
    if (this.inFlight >= limit) return `${this.inFlight} decisions in flight, the limit now`;
    let lag: number;
    try {
      lag = this.commitLagMs();
    } catch {
      // The decision asks the ledger again, and fails closed on the same error there.
      lag = 0;
    }
    if (lag > this.settings.maxCommitLagMs)
      return `the ledger commit lag of ${Math.round(lag)} ms exceeds ${this.settings.maxCommitLagMs} ms`;
    this.inFlight++;
    return undefined;
  }

  done(ms: number): void {
    this.inFlight--;
    const { maxInFlight, minInFlight, targetMs } = this.settings;
    const average = (this.averageMs =
      this.averageMs === undefined ? ms : this.averageMs + (ms - this.averageMs) / 10);
    if (ms <= targetMs) {
      this.limit = Math.min(maxInFlight, this.limit + 1 / this.limit);
    } else if (average > targetMs) {
      const now = this.now();
      if (now - this.lastDecrease < targetMs) return;
      this.lastDecrease = now;
      this.limit = Math.max(minInFlight, this.limit * Math.min(0.9, Math.max(0.5, targetMs / average)));
    }
  }

  /** Decisions in flight and the current limit (metrics). */
  load(): { inFlight: number; limit: number } {
    return { inFlight: this.inFlight, limit: Math.floor(this.limit) };
  }
}

/**
 * Logs shed Checks as one line per second at most, with their count: under overload a line per
 * shed Check would add to the load it sheds. Each one is in the ledger and the metrics.
 */
export class ShedLog {
  private count = 0;
  private detail = '';
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly write: (shed: number, lastDetail: string) => void) {}

  note(detail: string): void {
    this.count++;
    this.detail = detail;
    this.timer ??= setTimeout(() => this.flush(), 1000).unref();
  }

  /** Writes what was noted since the last line (also on shutdown). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.count === 0) return;
    this.write(this.count, this.detail);
    this.count = 0;
  }
}
