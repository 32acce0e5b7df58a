// The overload scenario (`npm run bench -- --overload <seconds>`, issue #18 goal 3), against the
// full path (or --target), every Check with Envoy's shipped ext_authz timeout as its deadline:
// 1. capacity: a closed loop at the first --concurrency for --duration: X, the decisions per
//    second the path sustains (allowed and denied answers, neither shed nor failed);
// 2. overload: an open loop at 2·X for <seconds>, no warm-up;
// 3. recovery: at once, an open loop at X/2, its first 2 s (the time the path is given to
//    recover) reported apart from the 5 s measured after them.
// Both open-loop runs are prepared (artifacts issued, replays primed) before the overload starts,
// so that nothing but draining its last answers separates the overload from the recovery.
// Figures come from each answer as it arrives (load.ts onAnswer), by phase; the verdicts are
// printed, not enforced: only an invalid allow fails the run, as in every scenario.
import { performance } from 'node:perf_hooks';
import { ALLOW, type Outcome } from './envoy-client.js';
import { connectClient, type CheckClientKind } from './h2-client.js';
import { latencyHistogram, summarize, type Histogram, type LatencySummary } from './latency.js';
import { processCpuMicros } from './proc-stats.js';
import type { LoadAnswer, LoadMode } from './load.js';
import {
  prepareScenario,
  scenarioFindings,
  type ProgressCallback,
  type ScenarioResult,
  type ScenarioSettings,
  type Target,
} from './run.js';
import { expectedOutcome, type ArtifactSource, type Enforcement } from './traffic.js';

/** Envoy's ext_authz timeout in the shipped configurations (envoy/*, istio/): `timeout: 0.25s`. */
export const ENVOY_TIMEOUT_MS = 250;
/** The time the issue gives the path to allow at full rate again after the overload. */
export const RECOVERY_GRACE_MS = 2000;
export const RECOVERY_MEASURED_MS = 5000;
/** Share of what must be allowed that the recovery must allow. */
export const RECOVERY_ALLOWED_SHARE = 0.99;
export const SHED = 'overload.shed';
/** The generator fell behind when its send lag p99 exceeds the deadline divided by this. */
const GENERATOR_LAG_SHARE = 10;
export const HALTED = 'ledger.unavailable';

export interface OverloadOptions {
  /** Length of the overload phase. */
  seconds: number;
  /** The capacity phase's closed-loop concurrency. */
  concurrency: number;
  connections: number;
  /** The Check client of every phase (http2: bench/lib/h2-client.ts, the default). */
  client?: CheckClientKind;
}

/** One row of the table: a phase, or a part of one. */
export interface PhaseFigures {
  phase: string;
  /** "closed c=64", or the open loop's rate. */
  offered: string;
  /** Open loop: requests per second offered. */
  offeredRate: number | undefined;
  windowMs: number;
  requests: number;
  /** Answers (allowed or denied, shed included): requests that got no error. */
  answered: number;
  answeredPerSecond: number;
  allowed: number;
  shed: number;
  /** Denials other than overload.shed, by reason (the mix's expected denials included). */
  denials: Record<string, number>;
  /** Denials a correct server does not give these requests, other than overload.shed. */
  failedClosed: number;
  /** Requests with no answer within the deadline, or none at all, by error. */
  unanswered: Record<string, number>;
  /** Answers that came later than the deadline after their intended send time (client send lag). */
  lateAnswers: number;
  invalidAllows: number;
  /** Requests of kinds a correct, unloaded server allows, and how many of them it allowed. */
  shouldAllow: number;
  allowedOfShould: number;
  latency: LatencySummary;
}

export interface OverloadReport {
  target: string;
  deadlineMs: number;
  concurrency: number;
  /** X: decided answers per second at capacity (0: the path decided nothing, phases 2–3 skipped). */
  capacity: number;
  overloadRate: number | undefined;
  recoveryRate: number | undefined;
  overloadMs: number;
  recoveryGraceMs: number;
  recoveryMeasuredMs: number;
  phases: PhaseFigures[];
  /** From the overload's last request due to the recovery's first (its drain). */
  gapMs: number | undefined;
  /** How long the path took to come to rest after the runs were prepared (undefined: not watched). */
  restMs: number | undefined;
  /** In the recovery, when the last shed / halted / unanswered request was due, from its start. */
  recoveryLastMs: { shed: number | undefined; halted: number | undefined; unanswered: number | undefined };
  /** Phases 2 and 3 second by second (by intended send time): what a halt or a slow recovery looks like. */
  timeline: TimelineSecond[];
  /**
   * The open-loop runs whose generator fell behind (send lag p99 above a tenth of the deadline):
   * on a machine the client shares with the path, their figures measure the client as much.
   */
  generatorBehind: { scenario: string; sendLagP99Us: number; clientCpuUsPerCheck: number | undefined }[];
  verdicts: {
    answeredInTime: boolean | undefined;
    excessShed: boolean | undefined;
    noInvalidAllow: boolean;
    recovered: boolean | undefined;
  };
  /** The three load runs in full (histograms, CPU, send lag). */
  runs: ScenarioResult[];
}

export interface TimelineSecond {
  phase: 'overload' | 'recovery';
  /** From the phase's start. */
  second: number;
  requests: number;
  allowed: number;
  shed: number;
  /** Other denials, the mix's expected ones included. */
  denied: number;
  unanswered: number;
}

const isError = (outcome: Outcome) => outcome.startsWith('error:');

/** Adds `answer` to its second of `timeline`. */
function tick(timeline: TimelineSecond[], phase: TimelineSecond['phase'], answer: LoadAnswer): void {
  const second = Math.floor(answer.intendedUs / 1e6);
  let entry = timeline.find((t) => t.phase === phase && t.second === second);
  if (entry === undefined) {
    entry = { phase, second, requests: 0, allowed: 0, shed: 0, denied: 0, unanswered: 0 };
    timeline.push(entry);
    timeline.sort((a, b) => (a.phase === b.phase ? a.second - b.second : a.phase === 'overload' ? -1 : 1));
  }
  entry.requests++;
  if (isError(answer.outcome)) entry.unanswered++;
  else if (answer.outcome === ALLOW) entry.allowed++;
  else if (answer.outcome === SHED) entry.shed++;
  else entry.denied++;
}

class Tally {
  private readonly latency: Histogram = latencyHistogram();
  private readonly counts: Omit<PhaseFigures, 'phase' | 'offered' | 'offeredRate' | 'windowMs' | 'latency'> =
    {
      requests: 0,
      answered: 0,
      answeredPerSecond: 0,
      allowed: 0,
      shed: 0,
      denials: {},
      failedClosed: 0,
      unanswered: {},
      lateAnswers: 0,
      invalidAllows: 0,
      shouldAllow: 0,
      allowedOfShould: 0,
    };

  constructor(
    private readonly enforcement: Enforcement,
    private readonly deadlineMs: number,
  ) {}

  add(answer: LoadAnswer): void {
    const c = this.counts;
    const expected = expectedOutcome(this.enforcement, answer.kind);
    c.requests++;
    if (expected === ALLOW) c.shouldAllow++;
    if (answer.latencyUs !== undefined) this.latency.recordValue(answer.latencyUs);
    if (isError(answer.outcome)) {
      const error = answer.outcome.slice('error:'.length);
      c.unanswered[error] = (c.unanswered[error] ?? 0) + 1;
      return;
    }
    c.answered++;
    if (answer.latencyUs !== undefined && answer.latencyUs > this.deadlineMs * 1000) c.lateAnswers++;
    if (answer.outcome === ALLOW) {
      c.allowed++;
      if (expected === ALLOW) c.allowedOfShould++;
      else c.invalidAllows++;
    } else if (answer.outcome === SHED) {
      c.shed++;
    } else {
      c.denials[answer.outcome] = (c.denials[answer.outcome] ?? 0) + 1;
      if (answer.outcome !== expected) c.failedClosed++;
    }
  }

  figures(phase: string, mode: LoadMode, windowMs: number): PhaseFigures {
    return {
      phase,
      offered: mode.kind === 'closed' ? `closed c=${mode.concurrency}` : `${mode.rate}/s`,
      offeredRate: mode.kind === 'open' ? mode.rate : undefined,
      windowMs: Math.round(windowMs),
      ...this.counts,
      answeredPerSecond: windowMs > 0 ? Math.round((this.counts.answered * 1000) / windowMs) : 0,
      latency: summarize(this.latency),
    };
  }
}

const sum = (values: Record<string, number>) => Object.values(values).reduce((a, b) => a + b, 0);
/** The path is at rest when its processes spent less than this share of one core over a probe. */
const REST_SHARE = 0.05;
const REST_PROBE_MS = 200;
const REST_WAIT_MAX_MS = 60_000;

/**
 * Waits until the target's processes (the server and its companions: Redis, the sequencer) are
 * idle: preparing the two open-loop runs issues tens of thousands of artifacts, whose ledger
 * events the sequencer chains for seconds afterwards, and an overload started then measured that
 * backlog (the whole first second went unanswered). Resolves with how long it waited, or
 * undefined when the processes are unknown or never came to rest.
 */
async function untilAtRest(target: Target): Promise<number | undefined> {
  const pids = [target.pid, ...Object.values(target.companions ?? {})].filter(
    (pid): pid is number => pid !== undefined,
  );
  if (pids.length === 0) return undefined;
  const cpu = () => pids.reduce((total, pid) => total + processCpuMicros(pid), 0);
  const started = performance.now();
  while (performance.now() - started < REST_WAIT_MAX_MS) {
    const before = cpu();
    const at = performance.now();
    await new Promise((resolve) => setTimeout(resolve, REST_PROBE_MS));
    if (cpu() - before < (performance.now() - at) * 1000 * REST_SHARE) return performance.now() - started;
  }
  return undefined;
}

/**
 * Runs the three phases against `target` (enforcement 'full'); invalid allows go to `failures`,
 * what the runs noticed to `notes`.
 */
export async function runOverload(
  target: Target,
  source: ArtifactSource,
  base: ScenarioSettings,
  options: OverloadOptions,
  notes: string[],
  failures: string[],
  onProgress: ProgressCallback | undefined,
): Promise<OverloadReport> {
  const deadlineMs = ENVOY_TIMEOUT_MS;
  const report: OverloadReport = {
    target: target.name,
    deadlineMs,
    concurrency: options.concurrency,
    capacity: 0,
    overloadRate: undefined,
    recoveryRate: undefined,
    overloadMs: Math.round(options.seconds * 1000),
    recoveryGraceMs: RECOVERY_GRACE_MS,
    recoveryMeasuredMs: RECOVERY_MEASURED_MS,
    phases: [],
    gapMs: undefined,
    restMs: undefined,
    recoveryLastMs: { shed: undefined, halted: undefined, unanswered: undefined },
    timeline: [],
    generatorBehind: [],
    verdicts: {
      answeredInTime: undefined,
      excessShed: undefined,
      noInvalidAllow: true,
      recovered: undefined,
    },
    runs: [],
  };
  const client = connectClient(options.client ?? 'http2', target.address, options.connections);
  const progress =
    (phase: string): ProgressCallback | undefined =>
    (label, live) =>
      onProgress?.(`overload ${phase}: ${label}`, live);
  const record = (result: ScenarioResult) => {
    report.runs.push(result);
    const findings = scenarioFindings({ ...result, scenario: `overload ${result.scenario}` });
    failures.push(...findings.failures);
    if (result.endedEarly) notes.push(`${target.name} overload ${result.scenario}: ${result.endedEarly}`);
  };
  try {
    // 1. Capacity.
    const closed: LoadMode = { kind: 'closed', concurrency: options.concurrency };
    const capacityTally = new Tally(target.enforcement, deadlineMs);
    const capacityRun = await prepareScenario(target, client, source, closed, { ...base, deadlineMs }, notes);
    const capacity = await capacityRun.run(progress('1/3 capacity'), (answer) => {
      if (answer.measured) capacityTally.add(answer);
    });
    record(capacity);
    const capacityFigures = capacityTally.figures('1. capacity', closed, capacity.measuredMs);
    report.phases.push(capacityFigures);
    const decided = capacityFigures.answered - capacityFigures.shed;
    report.capacity = capacity.measuredMs > 0 ? Math.round((decided * 1000) / capacity.measuredMs) : 0;
    if (capacityFigures.shed > 0) {
      notes.push(
        `overload capacity: ${capacityFigures.shed} Checks were shed at ${options.concurrency} in flight ` +
          '(not counted in X)',
      );
    }
    if (report.capacity === 0) {
      notes.push('overload: the path decided no Check at capacity; the overload and recovery were not run');
      return report;
    }

    // 2 and 3 prepared together, so that the recovery follows the overload at once.
    const overloadMode: LoadMode = { kind: 'open', rate: 2 * report.capacity };
    const recoveryMode: LoadMode = { kind: 'open', rate: Math.max(1, Math.round(report.capacity / 2)) };
    report.overloadRate = overloadMode.rate;
    report.recoveryRate = recoveryMode.rate;
    const overloadRun = await prepareScenario(
      target,
      client,
      source,
      overloadMode,
      { ...base, deadlineMs, warmupMs: 0, durationMs: report.overloadMs },
      notes,
    );
    const recoveryRun = await prepareScenario(
      target,
      client,
      source,
      recoveryMode,
      { ...base, deadlineMs, warmupMs: RECOVERY_GRACE_MS, durationMs: RECOVERY_MEASURED_MS },
      notes,
    );
    const restMs = await untilAtRest(target);
    report.restMs = restMs === undefined ? undefined : Math.round(restMs);
    if (restMs === undefined && target.pid !== undefined)
      notes.push(`overload: the path did not come to rest within ${REST_WAIT_MAX_MS / 1000} s of preparing`);

    const overloadTally = new Tally(target.enforcement, deadlineMs);
    const overloadStart = performance.now();
    const overload = await overloadRun.run(progress('2/3 overload'), (answer) => {
      overloadTally.add(answer);
      tick(report.timeline, 'overload', answer);
    });
    const recoveryStart = performance.now();
    report.gapMs = Math.round(recoveryStart - overloadStart - report.overloadMs);

    const graceTally = new Tally(target.enforcement, deadlineMs);
    const measuredTally = new Tally(target.enforcement, deadlineMs);
    const last = report.recoveryLastMs;
    const recovery = await recoveryRun.run(progress('3/3 recovery'), (answer) => {
      (answer.measured ? measuredTally : graceTally).add(answer);
      tick(report.timeline, 'recovery', answer);
      const at = Math.round(answer.intendedUs / 1000);
      if (answer.outcome === SHED) last.shed = Math.max(last.shed ?? 0, at);
      if (answer.outcome === HALTED) last.halted = Math.max(last.halted ?? 0, at);
      if (isError(answer.outcome)) last.unanswered = Math.max(last.unanswered ?? 0, at);
    });
    record(overload);
    record(recovery);
    report.phases.push(
      overloadTally.figures('2. overload', overloadMode, overload.measuredMs),
      graceTally.figures(`3. recovery, first ${RECOVERY_GRACE_MS / 1000} s`, recoveryMode, RECOVERY_GRACE_MS),
      measuredTally.figures(
        `3. recovery, next ${RECOVERY_MEASURED_MS / 1000} s`,
        recoveryMode,
        recovery.measuredMs,
      ),
    );
    const [, over, grace, measured] = report.phases as [
      PhaseFigures,
      PhaseFigures,
      PhaseFigures,
      PhaseFigures,
    ];
    for (const run of [overload, recovery]) {
      if (run.sendLag && run.sendLag.p99Us > (deadlineMs * 1000) / GENERATOR_LAG_SHARE) {
        report.generatorBehind.push({
          scenario: run.scenario,
          sendLagP99Us: run.sendLag.p99Us,
          clientCpuUsPerCheck: run.clientCpuUsPerCheck,
        });
      }
    }
    report.verdicts.answeredInTime = [over, grace, measured].every((p) => sum(p.unanswered) === 0);
    report.verdicts.excessShed = over.shed > 0 && over.failedClosed === 0 && sum(over.unanswered) === 0;
    report.verdicts.recovered =
      measured.shed === 0 &&
      (measured.denials[HALTED] ?? 0) === 0 &&
      measured.allowedOfShould >= RECOVERY_ALLOWED_SHARE * measured.shouldAllow;
    return report;
  } finally {
    report.verdicts.noInvalidAllow = report.runs.every((run) => run.invalidAllows === 0);
    client.close();
  }
}
