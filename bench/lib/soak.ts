// A bounded soak: an ext_authz server (the full path) under a steady open-loop load for minutes,
// the resident memory of its processes sampled all along. After a warm-up, the baseline is the
// median of the first samples and the end the median of the last ones, so a garbage-collection
// spike sets neither; the run fails when the enforcement point's RSS grew by more than allowed,
// or when any request that must be denied was allowed. The load runs in chunks of the Check
// benchmark's own scenario (run.ts runScenario: artifacts issued ahead, replays primed, the open
// loop, every answer judged): each chunk's artifacts are issued before it starts, so a long
// run never holds them all at once and issuance never competes with the Checks; the load pauses
// meanwhile, and the report says for how long.
import { loadavg } from 'node:os';
import { connectCheckClient, type Outcome } from './envoy-client.js';
import { mergeSummaries, type LatencySummary } from './latency.js';
import { machineInfo, processMemory, type MachineInfo } from './proc-stats.js';
import type { ProgressReporter } from './progress.js';
import { LATENCY_HEADERS, companions, latencyCells, machineLine, ms, optional, table } from './report.js';
import {
  runScenario,
  scenarioFindings,
  type ScenarioResult,
  type ScenarioSettings,
  type Target,
} from './run.js';
import { expectedOutcome, TRAFFIC_KINDS, type ArtifactSource, type TrafficKind } from './traffic.js';

export interface SoakSettings extends Pick<ScenarioSettings, 'shape' | 'mix' | 'deadlineMs' | 'maxInFlight'> {
  /** Open-loop requests per second. */
  rate: number;
  warmupMs: number;
  /** The measured time, after the warm-up. */
  durationMs: number;
  sampleIntervalMs: number;
  /** The enforcement point's RSS may end at most this many percent above its baseline. */
  maxGrowthPercent: number;
  /** Traffic issued ahead at a time (a chunk); the load pauses while the next is issued. */
  chunkMs: number;
}

export type SoakPhase = 'warmup' | 'measured';

/** The process whose growth fails the run; the others are sampled for information. */
export const GATED_PROCESS = 'authz-server';

export interface RssSample {
  /** Seconds since the soak began. */
  t: number;
  phase: SoakPhase;
  /** Whether the load was being sent (false: issuing a chunk's artifacts, or between runs). */
  loaded: boolean;
  /** VmRSS of each process, by name (authz-server, and the target's companions). */
  rssKiB: Record<string, number>;
}

export interface SoakChunk {
  index: number;
  phase: SoakPhase;
  /** Seconds since the soak began: when its artifacts started being issued, and when it ended. */
  startS: number;
  endS: number;
  /**
   * Its time without load: issuing its artifacts and presenting the replay pool once before, the
   * last answers after.
   */
  pausedMs: number;
  /** RSS of each process when it ended. */
  rssKiB: Record<string, number>;
  result: ScenarioResult;
}

export interface RssGrowth {
  baselineKiB: number;
  endKiB: number;
  growthPercent: number;
  /** The largest of the compared samples. */
  maxKiB: number;
}

export interface SoakReport {
  startedAt: string;
  machine: MachineInfo;
  settings: SoakSettings & { artifacts: string };
  target: Target;
  processes: Record<string, number>;
  samples: RssSample[];
  /** How many samples each median takes: the first under load after the warm-up, and the last. */
  window: number;
  /** By process name; undefined when there were too few samples. */
  growth: Record<string, RssGrowth>;
  gated: string;
  chunks: SoakChunk[];
  /** The measured chunks together (decisions: every chunk, warm-up included). */
  totals: {
    requests: number;
    /** Requests per second while the load ran. */
    throughput: number;
    /** Requests per second over the measured phase's wall time, pauses included. */
    wallThroughput: number;
    pausedMs: number;
    latency: LatencySummary | undefined;
    decisions: Record<TrafficKind, Record<Outcome, number>>;
    invalidAllows: number;
    serverCpuUsPerCheck: number | undefined;
    companionCpuUsPerCheck: Record<string, number>;
    clientCpuUsPerCheck: number | undefined;
  };
  loadAverage1m: number;
  failures: string[];
  notes: string[];
}

const MEDIAN_WINDOW = 5;

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Samples per median: five, or a third of the measured samples when there are fewer than 15. */
export function medianWindow(measuredSamples: number): number {
  return Math.max(1, Math.min(MEDIAN_WINDOW, Math.floor(measuredSamples / 3)));
}

/**
 * The samples baseline and end are taken from: after the warm-up, while the load was being sent
 * (not while a chunk's artifacts were issued), or all after the warm-up when fewer than two were.
 */
export function comparedSamples(samples: RssSample[]): RssSample[] {
  const measured = samples.filter((s) => s.phase === 'measured');
  const loaded = measured.filter((s) => s.loaded);
  return loaded.length >= 2 ? loaded : measured;
}

/** Baseline, end and growth of one process over the compared samples. */
export function rssGrowth(samples: RssSample[], name: string, window: number): RssGrowth | undefined {
  const values = comparedSamples(samples).map((s) => s.rssKiB[name]!);
  if (values.length < 2) return undefined;
  const baselineKiB = median(values.slice(0, window));
  const endKiB = median(values.slice(-window));
  return {
    baselineKiB,
    endKiB,
    growthPercent: Math.round(((endKiB - baselineKiB) / baselineKiB) * 1000) / 10,
    maxKiB: Math.max(...values),
  };
}

/** The warm-up then the measured time, each cut into chunks of at most `chunkMs`. */
export function soakChunks(settings: SoakSettings): { phase: SoakPhase; ms: number }[] {
  const cut = (phase: SoakPhase, total: number) => {
    const out: { phase: SoakPhase; ms: number }[] = [];
    for (let left = total; left > 0; left -= settings.chunkMs)
      out.push({ phase, ms: Math.min(left, settings.chunkMs) });
    return out;
  };
  return [...cut('warmup', settings.warmupMs), ...cut('measured', settings.durationMs)];
}

const weighted = (rows: { value: number | undefined; weight: number }[]) => {
  const known = rows.filter((r) => r.value !== undefined && r.weight > 0);
  const weight = known.reduce((sum, r) => sum + r.weight, 0);
  return weight === 0
    ? undefined
    : Math.round((known.reduce((sum, r) => sum + r.value! * r.weight, 0) / weight) * 10) / 10;
};

function totals(chunks: SoakChunk[]): SoakReport['totals'] {
  const measured = chunks.filter((i) => i.phase === 'measured');
  const results = measured.map((i) => i.result);
  const requests = results.reduce((sum, r) => sum + r.requests.measured, 0);
  const loadedMs = results.reduce((sum, r) => sum + r.measuredMs, 0);
  const wallMs = measured.reduce((sum, i) => sum + (i.endS - i.startS) * 1000, 0);
  const decisions = Object.fromEntries(TRAFFIC_KINDS.map((kind) => [kind, {}])) as Record<
    TrafficKind,
    Record<Outcome, number>
  >;
  for (const { result } of chunks) {
    for (const kind of TRAFFIC_KINDS) {
      for (const [outcome, count] of Object.entries(result.outcomes[kind]))
        decisions[kind][outcome] = (decisions[kind][outcome] ?? 0) + count;
    }
  }
  const byChecks = (value: (r: ScenarioResult) => number | undefined) =>
    weighted(results.map((r) => ({ value: value(r), weight: r.requests.measured })));
  const companionNames = [...new Set(results.flatMap((r) => Object.keys(r.companionCpuUsPerCheck)))];
  return {
    requests,
    throughput: loadedMs > 0 ? Math.round((requests * 1000) / loadedMs) : 0,
    wallThroughput: wallMs > 0 ? Math.round((requests * 1000) / wallMs) : 0,
    pausedMs: Math.round(measured.reduce((sum, i) => sum + i.pausedMs, 0)),
    latency: results.length > 0 ? mergeSummaries(results.map((r) => r.latency)) : undefined,
    decisions,
    invalidAllows: chunks.reduce((sum, i) => sum + i.result.invalidAllows, 0),
    serverCpuUsPerCheck: byChecks((r) => r.serverCpuUsPerCheck),
    companionCpuUsPerCheck: Object.fromEntries(
      companionNames.map((name) => [name, byChecks((r) => r.companionCpuUsPerCheck[name]) ?? 0]),
    ),
    clientCpuUsPerCheck: byChecks((r) => r.clientCpuUsPerCheck),
  };
}

/**
 * Runs the soak against `target`, which must be on this machine (its pid and its companions'
 * are sampled). `progress` gets a bar per chunk and a line when each ends.
 */
export async function runSoak(
  target: Target,
  source: ArtifactSource,
  settings: SoakSettings,
  progress?: Pick<ProgressReporter, 'update' | 'line'>,
): Promise<SoakReport> {
  if (target.pid === undefined) throw new Error(`${target.name}: the soak samples its RSS and needs its pid`);
  const processes: Record<string, number> = { [GATED_PROCESS]: target.pid, ...target.companions };
  const report: SoakReport = {
    startedAt: new Date().toISOString(),
    machine: machineInfo(),
    settings: { ...settings, artifacts: source.description },
    target,
    processes,
    samples: [],
    window: 0,
    growth: {},
    gated: GATED_PROCESS,
    chunks: [],
    totals: totals([]),
    loadAverage1m: 0,
    failures: [],
    notes: [],
  };
  const origin = performance.now();
  const elapsedS = () => Math.round(performance.now() - origin) / 1000;
  const readRss = () =>
    Object.fromEntries(Object.entries(processes).map(([name, pid]) => [name, processMemory(pid).rssKiB]));
  const plan = soakChunks(settings);
  let phase: SoakPhase = plan[0]!.phase;
  let loaded = false;
  let gone: string | undefined;
  const sample = () => {
    if (gone !== undefined) return;
    try {
      report.samples.push({ t: elapsedS(), phase, loaded, rssKiB: readRss() });
    } catch (error) {
      gone = `a process stopped answering /proc at ${elapsedS()} s: ${(error as Error).message}`;
    }
  };
  sample();
  const timer = setInterval(sample, settings.sampleIntervalMs);
  const client = connectCheckClient(target.address, 1);
  try {
    for (const [index, planned] of plan.entries()) {
      if (gone !== undefined) break;
      phase = planned.phase;
      const label = `soak chunk ${index + 1}/${plan.length} (${phase === 'warmup' ? 'warm-up' : 'measured'})`;
      const startS = elapsedS();
      const result = await runScenario(
        target,
        client,
        source,
        { kind: 'open', rate: settings.rate },
        { ...settings, warmupMs: 0, durationMs: planned.ms, maxRate: settings.rate },
        report.notes,
        (_label, live) => {
          loaded = true;
          progress?.update(label, live);
        },
      );
      loaded = false;
      const endS = elapsedS();
      let rssKiB: Record<string, number> = {};
      try {
        rssKiB = readRss();
      } catch (error) {
        gone ??= `a process stopped answering /proc at ${endS} s: ${(error as Error).message}`;
      }
      const chunk: SoakChunk = {
        index,
        phase,
        startS,
        endS,
        pausedMs: Math.max(0, Math.round((endS - startS) * 1000 - result.measuredMs)),
        rssKiB,
        result,
      };
      report.chunks.push(chunk);
      const findings = scenarioFindings(result);
      report.failures.push(...findings.failures.map((f) => `chunk ${index + 1}: ${f}`));
      report.notes.push(...findings.notes.map((n) => `chunk ${index + 1}: ${n}`));
      progress?.line(
        `${label}: ${result.throughput} req/s, p99 ${ms(result.latency.p99Us)} ms; RSS ` +
          Object.entries(rssKiB)
            .map(([name, kib]) => `${name} ${mib(kib)} MiB`)
            .join(', '),
      );
    }
  } finally {
    clearInterval(timer);
    client.close();
  }
  sample();
  if (gone !== undefined) report.failures.push(gone);
  const measuredSamples = comparedSamples(report.samples).length;
  report.window = medianWindow(measuredSamples);
  for (const name of Object.keys(processes)) {
    const growth = rssGrowth(report.samples, name, report.window);
    if (growth !== undefined) report.growth[name] = growth;
  }
  const gated = report.growth[GATED_PROCESS];
  if (gated === undefined) {
    report.failures.push(`too few RSS samples after the warm-up (${measuredSamples}) to compare`);
  } else if (gated.growthPercent > settings.maxGrowthPercent) {
    report.failures.push(
      `${GATED_PROCESS} RSS grew ${gated.growthPercent} % (${mib(gated.baselineKiB)} → ${mib(gated.endKiB)} MiB), ` +
        `more than the allowed ${settings.maxGrowthPercent} %`,
    );
  }
  report.totals = totals(report.chunks);
  report.loadAverage1m = loadavg()[0]!;
  const unanswered = report.chunks
    .filter((c) => c.phase === 'measured')
    .reduce(
      (sum, c) =>
        sum +
        TRAFFIC_KINDS.reduce(
          (n, kind) =>
            n +
            Object.entries(c.result.outcomes[kind])
              .filter(([outcome]) => outcome.startsWith('error:'))
              .reduce((a, [, count]) => a + count, 0),
          0,
        ),
      0,
    );
  if (unanswered > report.totals.requests / 100) {
    report.notes.push(
      `the target did not keep up with ${settings.rate} req/s: ${unanswered} of the measured requests got no ` +
        `answer in time (gRPC errors, deadline ${settings.deadlineMs} ms); RSS under a growing queue is not ` +
        'RSS under a steady load: lower --rate, or run on a quieter machine',
    );
  }
  return report;
}

const mib = (kib: number) => (kib / 1024).toFixed(1);
const signed = (percent: number) => `${percent >= 0 ? '+' : ''}${percent} %`;
const BLOCKS = '▁▂▃▄▅▆▇█';
const SPARK_WIDTH = 60;

/** The values as a line of block characters, averaged down to at most SPARK_WIDTH. */
export function sparkline(values: number[]): string {
  if (values.length === 0) return '';
  const buckets = Math.min(values.length, SPARK_WIDTH);
  const points = Array.from({ length: buckets }, (_, b) => {
    const part = values.slice(
      Math.floor((b * values.length) / buckets),
      Math.floor(((b + 1) * values.length) / buckets),
    );
    return part.reduce((a, c) => a + c, 0) / part.length;
  });
  const low = Math.min(...points);
  const span = Math.max(...points) - low;
  return points
    .map(
      (p) =>
        BLOCKS[span === 0 ? 0 : Math.min(BLOCKS.length - 1, Math.floor(((p - low) / span) * BLOCKS.length))],
    )
    .join('');
}

export function soakSummary(report: SoakReport): string {
  const { settings } = report;
  const names = Object.keys(report.processes);
  const lines = [
    `Soak benchmark, ${report.startedAt}: ${machineLine(report.machine)}; target ${report.target.name} ` +
      `(${report.target.address}), open loop ${settings.rate} req/s, warm-up ${settings.warmupMs / 1000} s, ` +
      `duration ${settings.durationMs / 1000} s in chunks of ${settings.chunkMs / 1000} s, ` +
      `RSS sampled every ${settings.sampleIntervalMs / 1000} s, allowed growth ${settings.maxGrowthPercent} %.`,
    '',
  ];
  const gated = report.growth[report.gated];
  if (gated) {
    lines.push(
      `**${report.gated} RSS: baseline ${mib(gated.baselineKiB)} MiB, end ${mib(gated.endKiB)} MiB, ` +
        `growth ${signed(gated.growthPercent)}** (allowed ${settings.maxGrowthPercent} %: ` +
        `${gated.growthPercent > settings.maxGrowthPercent ? 'FAILED' : 'ok'}); medians of the first and ` +
        `the last ${report.window} samples taken under load after the warm-up, largest ${mib(gated.maxKiB)} MiB.`,
    );
  }
  const others = names
    .filter((name) => name !== report.gated && report.growth[name])
    .map((name) => {
      const g = report.growth[name]!;
      return `${name} ${mib(g.baselineKiB)} → ${mib(g.endKiB)} MiB (${signed(g.growthPercent)})`;
    });
  if (others.length > 0) lines.push('', `For information: ${others.join(', ')}.`);
  const series = (name: string) => report.samples.map((s) => s.rssKiB[name]!).filter((v) => v !== undefined);
  lines.push(
    '',
    `RSS over time, ${report.samples.length} samples from ${report.samples[0]?.t ?? 0} s to ${report.samples.at(-1)?.t ?? 0} s:`,
    '',
  );
  lines.push(
    ...table(
      ['process', 'samples', 'min MiB', 'max MiB'],
      names.map((name) => {
        const values = series(name);
        return [
          name,
          `\`${sparkline(values)}\``,
          values.length > 0 ? mib(Math.min(...values)) : '–',
          values.length > 0 ? mib(Math.max(...values)) : '–',
        ];
      }),
    ),
  );
  lines.push(
    '',
    ...table(
      [
        'chunk',
        'phase',
        's',
        'pause s',
        'req/s',
        ...LATENCY_HEADERS,
        ...names.map((name) => `${name} MiB`),
        `${report.gated} CPU µs/Check`,
        'Redis etc. CPU µs/Check',
        'unexpected',
        'load avg',
      ],
      report.chunks.map((i) => [
        String(i.index + 1),
        i.phase === 'warmup' ? 'warm-up' : 'measured',
        `${i.startS.toFixed(0)}–${i.endS.toFixed(0)}`,
        (i.pausedMs / 1000).toFixed(1),
        String(i.result.throughput),
        ...latencyCells(i.result.latency),
        ...names.map((name) => (i.rssKiB[name] === undefined ? '–' : mib(i.rssKiB[name]!))),
        optional(i.result.serverCpuUsPerCheck),
        companions(i.result.companionCpuUsPerCheck),
        String(Object.values(i.result.unexpected).reduce((a, b) => a + b, 0)),
        i.result.loadAverage1m.toFixed(1),
      ]),
    ),
  );
  const t = report.totals;
  if (t.latency) {
    lines.push(
      '',
      `Measured phase: ${t.requests} requests, ${t.throughput} req/s while sending ` +
        `(${t.wallThroughput} req/s with the ${(t.pausedMs / 1000).toFixed(1)} s of pauses for issuing); ` +
        `latency p50/p90/p99/p99.9/max ${latencyCells(t.latency).join(' / ')} ms; CPU per Check: ` +
        `${report.gated} ${optional(t.serverCpuUsPerCheck)} µs, ${companions(t.companionCpuUsPerCheck)} µs, ` +
        `load generator ${optional(t.clientCpuUsPerCheck)} µs; load average ${report.loadAverage1m.toFixed(1)} at the end.`,
    );
  }
  lines.push(
    '',
    ...table(
      ['kind', 'expected', 'decisions (whole run)'],
      TRAFFIC_KINDS.filter((kind) => Object.keys(t.decisions[kind]).length > 0).map((kind) => [
        kind,
        expectedOutcome(report.target.enforcement, kind),
        Object.entries(t.decisions[kind])
          .map(([outcome, count]) => `${outcome} ${count}`)
          .join(', '),
      ]),
    ),
  );
  for (const note of report.notes) lines.push('', `note: ${note}`);
  for (const failure of report.failures) lines.push('', `FAILED: ${failure}`);
  return `${lines.join('\n')}\n`;
}
