// The load generator: closed loop (N requests always in flight) or open loop (a fixed rate,
// latency measured from each request's intended send time, so a server that stalls shows its
// queue in the figures instead of silently slowing the generator down: coordinated omission).
import { randomUUID } from 'node:crypto';
import { checkRequest, type RequestShape } from '../../devkit/check-request.js';
import type { CheckCall, Outcome } from './envoy-client.js';
import { latencyHistogram, type Histogram } from './latency.js';
import { createPacer } from './pacer.js';
import { TRAFFIC_KINDS, type Traffic, type TrafficItem, type TrafficKind } from './traffic.js';

export type LoadMode = { kind: 'closed'; concurrency: number } | { kind: 'open'; rate: number };

export interface LoadSettings {
  mode: LoadMode;
  warmupMs: number;
  durationMs: number;
  /** gRPC deadline of each Check; a later answer is an error:DEADLINE_EXCEEDED outcome. */
  deadlineMs: number;
  /** Open loop: requests due while this many are unanswered are not sent (error:client-backlog). */
  maxInFlight: number;
}

export interface LoadProgress {
  elapsedMs: number;
  totalMs: number;
  completed: number;
  inFlight: number;
}

export interface LoadHooks {
  /** Counters read when measurement starts and again when the last request has answered. */
  meters: Record<string, () => number>;
  onProgress?: (progress: LoadProgress) => void;
  /** Each request's outcome as it is known (a client-backlog one too, with no latency). */
  onAnswer?: (answer: LoadAnswer) => void;
}

export interface LoadAnswer {
  kind: TrafficKind;
  outcome: Outcome;
  /** When it was due, from the start of the run (warm-up included), in microseconds. */
  intendedUs: number;
  /** From its intended send time to its answer; undefined when it was not sent. */
  latencyUs: number | undefined;
  measured: boolean;
}

export interface LoadResult {
  requests: { warmup: number; measured: number };
  /** Outcome counts per kind over every request, warm-up included. */
  outcomes: Record<TrafficKind, Record<Outcome, number>>;
  /** Measured requests, from intended send time to answer, in microseconds. */
  latency: Histogram;
  /** Open loop: how late the generator sent each measured request (actual minus intended). */
  sendLag: Histogram | undefined;
  /** Length of the measured window (shorter when the artifacts ran out). */
  measuredMs: number;
  /** Why the run stopped before its duration, if it did. */
  endedEarly: string | undefined;
  /** Each meter's increase over the measured window, drain included. */
  meterDeltas: Record<string, number>;
}

const PROGRESS_INTERVAL_MS = 250;
const CLIENT_BACKLOG = 'error:client-backlog';

const nowUs = (origin: bigint) => Number(process.hrtime.bigint() - origin) / 1000;

export async function runLoad(
  check: CheckCall,
  traffic: Traffic,
  shape: RequestShape,
  settings: LoadSettings,
  hooks: LoadHooks,
): Promise<LoadResult> {
  const { mode } = settings;
  // Started before the clock, so that the thread's start-up is not charged to the first requests.
  const pacer =
    mode.kind === 'open'
      ? await createPacer(
          mode.rate,
          Math.ceil((mode.rate * (settings.warmupMs + settings.durationMs)) / 1000),
        )
      : undefined;
  const origin = process.hrtime.bigint();
  const measureStartUs = settings.warmupMs * 1000;
  const measureEndUs = measureStartUs + settings.durationMs * 1000;
  const outcomes = Object.fromEntries(TRAFFIC_KINDS.map((kind) => [kind, {}])) as LoadResult['outcomes'];
  const latency = latencyHistogram();
  const sendLag = pacer ? latencyHistogram() : undefined;
  const requests = { warmup: 0, measured: 0 };
  let inFlight = 0;
  let completed = 0;
  let exhaustedAtUs: number | undefined;

  const meterStart: Record<string, number> = {};
  const readMeters = (into: Record<string, number>) => {
    for (const [name, read] of Object.entries(hooks.meters)) into[name] = read();
  };
  const measureTimer = setTimeout(() => readMeters(meterStart), settings.warmupMs);
  const progressTimer = setInterval(() => {
    hooks.onProgress?.({
      elapsedMs: nowUs(origin) / 1000,
      totalMs: measureEndUs / 1000,
      completed,
      inFlight,
    });
  }, PROGRESS_INTERVAL_MS);

  const count = (kind: TrafficKind, outcome: Outcome) => {
    const byOutcome = outcomes[kind];
    byOutcome[outcome] = (byOutcome[outcome] ?? 0) + 1;
  };

  /** Sends one request intended at `intendedUs`; resolves when it is answered. */
  const send = async (item: TrafficItem, intendedUs: number): Promise<void> => {
    const measured = intendedUs >= measureStartUs;
    if (measured) requests.measured++;
    else requests.warmup++;
    const sentUs = nowUs(origin);
    if (measured && sendLag) sendLag.recordValue(Math.max(0, Math.round(sentUs - intendedUs)));
    inFlight++;
    const request = item.request ?? checkRequest(shape, randomUUID(), item.artifact);
    const outcome = await check(request, settings.deadlineMs);
    inFlight--;
    completed++;
    const latencyUs = Math.max(1, Math.round(nowUs(origin) - intendedUs));
    if (measured) latency.recordValue(latencyUs);
    count(item.kind, outcome);
    hooks.onAnswer?.({ kind: item.kind, outcome, intendedUs, latencyUs, measured });
  };

  try {
    if (mode.kind === 'closed') {
      const worker = async () => {
        for (;;) {
          const intendedUs = nowUs(origin);
          if (intendedUs >= measureEndUs || exhaustedAtUs !== undefined) return;
          const item = traffic.next();
          if (item === undefined) {
            exhaustedAtUs = intendedUs;
            return;
          }
          await send(item, intendedUs);
        }
      };
      await Promise.all(Array.from({ length: mode.concurrency }, worker));
    } else {
      const pending = new Set<Promise<void>>();
      let stopEarly!: () => void;
      const stoppedEarly = new Promise<void>((resolve) => (stopEarly = resolve));
      let cursor = 0;
      pacer!.start(origin, (released) => {
        for (; cursor < released && exhaustedAtUs === undefined; cursor++) {
          const intendedUs = Number(pacer!.dueAt(cursor) - origin) / 1000;
          const item = traffic.next();
          if (item === undefined) {
            exhaustedAtUs = intendedUs;
            stopEarly();
            return;
          }
          if (inFlight >= settings.maxInFlight) {
            const measured = intendedUs >= measureStartUs;
            if (measured) requests.measured++;
            else requests.warmup++;
            count(item.kind, CLIENT_BACKLOG);
            hooks.onAnswer?.({
              kind: item.kind,
              outcome: CLIENT_BACKLOG,
              intendedUs,
              latencyUs: undefined,
              measured,
            });
            continue;
          }
          const answered = send(item, intendedUs);
          pending.add(answered);
          void answered.finally(() => pending.delete(answered));
        }
      });
      try {
        await Promise.race([pacer!.done, stoppedEarly]);
      } finally {
        await pacer!.stop();
      }
      await Promise.all(pending);
    }
  } finally {
    clearTimeout(measureTimer);
    clearInterval(progressTimer);
  }

  const meterDeltas: Record<string, number> = {};
  if (Object.keys(meterStart).length > 0) {
    const meterEnd: Record<string, number> = {};
    readMeters(meterEnd);
    for (const name of Object.keys(hooks.meters)) meterDeltas[name] = meterEnd[name]! - meterStart[name]!;
  }
  const endUs = Math.min(measureEndUs, exhaustedAtUs ?? Infinity);
  return {
    requests,
    outcomes,
    latency,
    sendLag,
    measuredMs: Math.max(0, endUs - measureStartUs) / 1000,
    endedEarly:
      exhaustedAtUs === undefined
        ? undefined
        : `the pre-issued artifacts ran out ${(exhaustedAtUs / 1e6).toFixed(1)} s into the run ` +
          '(closed loop: raise --max-rate; --artifacts-file: supply more lines)',
    meterDeltas,
  };
}
