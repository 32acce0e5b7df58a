// One benchmark run: every scenario against every target with the same generator, targets
// interleaved within a scenario so that a machine getting busier affects them alike, then h2load
// against each target. The report's headline is a ratio to the baselines, which survives a noisy
// machine better than an absolute figure.
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { loadEnvoyAuthProto } from '../../authz-server/envoy-proto.js';
import { checkRequest, type RequestShape } from '../../devkit/check-request.js';
import { ALLOW, type CheckClient, type Outcome } from './envoy-client.js';
import { connectClient, type CheckClientKind } from './h2-client.js';
import { checkRequestBody, h2loadVersion, probeBody, runH2load, type H2loadResult } from './h2load.js';
import { summarize, type LatencySummary } from './latency.js';
import type { OverloadReport } from './overload.js';
import { runLoad, type LoadAnswer, type LoadMode, type LoadProgress } from './load.js';
import {
  machineInfo,
  ownCpuMicros,
  processCpuMicros,
  processMemory,
  type MachineInfo,
  type MemoryUsage,
} from './proc-stats.js';
import {
  expectedOutcome,
  TRAFFIC_KINDS,
  Traffic,
  type ArtifactSource,
  type Enforcement,
  type Mix,
  type TrafficKind,
} from './traffic.js';

/** A server under test, already listening. */
export interface Target {
  name: string;
  enforcement: Enforcement;
  address: string;
  /** The server's process on this machine, for its CPU and memory; undefined when unknown. */
  pid: number | undefined;
  /** Processes the server depends on (Redis, the ledger sequencer), by name, for their CPU. */
  companions?: Record<string, number>;
}

export type H2loadBody = 'allow' | 'missing';

/** What is running: a load run's live figures, or undefined for a step without any (h2load). */
export type ProgressCallback = (label: string, progress: LoadProgress | undefined) => void;

export interface BenchSettings {
  /** The Check client (grpc-js unless given). */
  client?: CheckClientKind;
  shape: RequestShape;
  mix: Mix;
  closedLoop: number[];
  openLoop: number[];
  warmupMs: number;
  durationMs: number;
  deadlineMs: number;
  connections: number;
  /** Closed loop against a server that keeps use state: artifacts are issued for this rate at most. */
  maxRate: number;
  maxInFlight: number;
  h2load: { clients: number; streamsPerClient: number; bodies: H2loadBody[] } | undefined;
  /** Where h2load's body and log files go. */
  workDir: string;
}

/** What one scenario (one load mode against one target) needs of the settings. */
export type ScenarioSettings = Pick<
  BenchSettings,
  'shape' | 'mix' | 'warmupMs' | 'durationMs' | 'deadlineMs' | 'maxRate' | 'maxInFlight'
>;

export interface ScenarioResult {
  target: string;
  enforcement: Enforcement;
  scenario: string;
  mode: LoadMode;
  /** Time spent issuing this run's artifacts beforehand (not part of any figure). */
  issueMs: number;
  requests: { warmup: number; measured: number };
  measuredMs: number;
  throughput: number;
  latency: LatencySummary;
  sendLag: LatencySummary | undefined;
  outcomes: Record<TrafficKind, Record<Outcome, number>>;
  /** Requests that should have been denied and were allowed (warm-up included). */
  invalidAllows: number;
  /** Other outcomes than the expected one, as "kind → outcome": count (errors included). */
  unexpected: Record<string, number>;
  clientCpuUsPerCheck: number | undefined;
  serverCpuUsPerCheck: number | undefined;
  /** CPU of each companion process per Check. */
  companionCpuUsPerCheck: Record<string, number>;
  serverMemory: MemoryUsage | undefined;
  endedEarly: string | undefined;
  /** The machine's 1-minute load average when the run ended: other work competing for the cores. */
  loadAverage1m: number;
}

export interface H2loadRun {
  target: string;
  body: H2loadBody;
  expected: Outcome;
  probe: Outcome;
  result: H2loadResult | undefined;
  serverCpuUsPerCheck: number | undefined;
  companionCpuUsPerCheck: Record<string, number>;
  skipped: string | undefined;
}

export interface Ratio {
  scenario: string;
  target: string;
  baseline: string;
  throughputRatio: number;
}

export interface BenchReport {
  startedAt: string;
  machine: MachineInfo & { h2load: string | undefined };
  settings: Omit<BenchSettings, 'workDir'> & { artifacts: string };
  targets: Target[];
  scenarios: ScenarioResult[];
  h2load: H2loadRun[];
  ratios: Ratio[];
  /** The overload scenario (--overload), when it ran. */
  overload?: OverloadReport;
  /** Reasons the run failed; any one makes the benchmark exit non-zero. */
  failures: string[];
  notes: string[];
}

const SETTLE_MS = 300;
/** Baselines from the most to the least work; a target is compared with each one below it. */
const BASELINE_NAMES = ['crypto-floor', 'noop'];
const baselineRank = (name: string) => BASELINE_NAMES.indexOf(name);

export function scenarioName(mode: LoadMode): string {
  return mode.kind === 'closed' ? `closed c=${mode.concurrency}` : `open ${mode.rate}/s`;
}

function judge(enforcement: Enforcement, outcomes: ScenarioResult['outcomes']) {
  let invalidAllows = 0;
  const unexpected: Record<string, number> = {};
  for (const kind of TRAFFIC_KINDS) {
    const expected = expectedOutcome(enforcement, kind);
    for (const [outcome, count] of Object.entries(outcomes[kind])) {
      if (outcome === expected) continue;
      if (outcome === ALLOW) invalidAllows += count;
      unexpected[`${kind} → ${outcome}`] = count;
    }
  }
  return { invalidAllows, unexpected };
}

/** Answers that prove a single-use artifact spent: presenting it again must be denied. */
const SPENT: ReadonlySet<Outcome> = new Set([ALLOW, 'artifact.replayed']);
/** Presentations of a replay artifact before it is left out as not confirmed spent. */
const PRIME_ATTEMPTS = 3;

/**
 * Presents each single-use artifact until an answer proves it spent (an allow; or a replay denial,
 * when an earlier presentation spent it but was refused, e.g. at the server's decision deadline),
 * at most PRIME_ATTEMPTS times. A busy server refuses some at its deadline without spending them,
 * and sending one of those "again" is its first use: the server rightly allows it. All at once:
 * this is not measured, and one by one it took seconds on a busy full path.
 */
async function prime(client: CheckClient, shape: RequestShape, headers: string[], deadlineMs: number) {
  const first: Record<Outcome, number> = {};
  const spent: string[] = [];
  let unconfirmed = headers;
  for (let attempt = 1; attempt <= PRIME_ATTEMPTS && unconfirmed.length > 0; attempt++) {
    const answers = await Promise.all(
      unconfirmed.map((header) => client.check(checkRequest(shape, randomUUID(), header), deadlineMs)),
    );
    if (attempt === 1) for (const outcome of answers) first[outcome] = (first[outcome] ?? 0) + 1;
    spent.push(...unconfirmed.filter((_, i) => SPENT.has(answers[i]!)));
    unconfirmed = unconfirmed.filter((_, i) => !SPENT.has(answers[i]!));
  }
  return { first, spent, unconfirmed: unconfirmed.length };
}

const perCheck = (micros: number | undefined, checks: number) =>
  micros === undefined || checks === 0 ? undefined : Math.round((micros / checks) * 10) / 10;

/** CPU counters of the server and its companions, by name ('server' for the server itself). */
function serverMeters(target: Target): Record<string, () => number> {
  const pids = { ...target.companions, ...(target.pid === undefined ? {} : { server: target.pid }) };
  return Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, () => processCpuMicros(pid)]));
}

function serverCpuPerCheck(target: Target, used: Record<string, number>, checks: number) {
  return {
    serverCpuUsPerCheck: perCheck(used.server, checks),
    companionCpuUsPerCheck: Object.fromEntries(
      Object.keys(target.companions ?? {}).map((name) => [name, perCheck(used[name], checks)!]),
    ),
  };
}

/** A scenario whose artifacts are issued and replays primed: run() drives the load at once. */
export interface PreparedScenario {
  /** `onAnswer`: each request's outcome as it comes (the overload scenario's own figures). */
  run(
    onProgress: ProgressCallback | undefined,
    onAnswer?: (answer: LoadAnswer) => void,
  ): Promise<ScenarioResult>;
}

/**
 * One load run against one target: issues its artifacts, presents the replay artifacts once,
 * drives the load and judges every answer. `notes` gets what the run noticed on the way.
 */
export async function runScenario(
  target: Target,
  client: CheckClient,
  source: ArtifactSource,
  mode: LoadMode,
  settings: ScenarioSettings,
  notes: string[],
  onProgress: ProgressCallback | undefined,
): Promise<ScenarioResult> {
  const prepared = await prepareScenario(target, client, source, mode, settings, notes);
  return prepared.run(onProgress);
}

/**
 * runScenario's preparation (issuing the artifacts, priming the replays) on its own, so that
 * runs can follow one another with no pause between them (the overload scenario's recovery).
 */
export async function prepareScenario(
  target: Target,
  client: CheckClient,
  source: ArtifactSource,
  mode: LoadMode,
  settings: ScenarioSettings,
  notes: string[],
): Promise<PreparedScenario> {
  const scenario = scenarioName(mode);
  const reusable = target.enforcement !== 'full';
  const rate = mode.kind === 'open' ? mode.rate : settings.maxRate;
  const issueStart = performance.now();
  const traffic = await Traffic.prepare(
    source,
    settings.mix,
    Math.ceil((rate * (settings.warmupMs + settings.durationMs)) / 1000),
    reusable,
  );
  const issueMs = Math.round(performance.now() - issueStart);
  const primed = await prime(client, settings.shape, traffic.toPrime, settings.deadlineMs);
  traffic.useReplays(primed.spent);
  if (mode.kind === 'open' && client.prepare !== undefined) {
    const prepare = client.prepare.bind(client);
    traffic.prebuild(Math.ceil((mode.rate * (settings.warmupMs + settings.durationMs)) / 1000), (artifact) =>
      prepare(checkRequest(settings.shape, randomUUID(), artifact)),
    );
  }
  if (Object.keys(primed.first).some((outcome) => outcome !== ALLOW)) {
    notes.push(
      `${target.name} ${scenario}: replay artifacts on first presentation: ${JSON.stringify(primed.first)}`,
    );
  }
  if (primed.unconfirmed > 0) {
    notes.push(
      `${target.name} ${scenario}: ${primed.unconfirmed} replay artifact(s) not confirmed spent after ` +
        `${PRIME_ATTEMPTS} presentations, so not replayed`,
    );
  }
  return {
    run: (onProgress, onAnswer) =>
      driveScenario(target, client, traffic, mode, settings, issueMs, onProgress, onAnswer),
  };
}

async function driveScenario(
  target: Target,
  client: CheckClient,
  traffic: Traffic,
  mode: LoadMode,
  settings: ScenarioSettings,
  issueMs: number,
  onProgress: ProgressCallback | undefined,
  onAnswer: ((answer: LoadAnswer) => void) | undefined,
): Promise<ScenarioResult> {
  const scenario = scenarioName(mode);
  const meters = { ...serverMeters(target), client: ownCpuMicros };
  const load = await runLoad(
    client.check,
    traffic,
    settings.shape,
    { mode, ...settings },
    {
      meters,
      onProgress: onProgress && ((progress) => onProgress(`${target.name} ${scenario}`, progress)),
      onAnswer,
    },
  );
  const { invalidAllows, unexpected } = judge(target.enforcement, load.outcomes);
  const measured = load.requests.measured;
  return {
    target: target.name,
    enforcement: target.enforcement,
    scenario,
    mode,
    issueMs,
    requests: load.requests,
    measuredMs: Math.round(load.measuredMs),
    throughput: load.measuredMs > 0 ? Math.round((measured * 1000) / load.measuredMs) : 0,
    latency: summarize(load.latency),
    sendLag: load.sendLag && summarize(load.sendLag),
    outcomes: load.outcomes,
    invalidAllows,
    unexpected,
    clientCpuUsPerCheck: perCheck(load.meterDeltas.client, measured),
    ...serverCpuPerCheck(target, load.meterDeltas, measured),
    serverMemory: target.pid === undefined ? undefined : processMemory(target.pid),
    endedEarly: load.endedEarly,
    loadAverage1m: loadavg()[0]!,
  };
}

async function runH2loadBody(
  target: Target,
  body: H2loadBody,
  source: ArtifactSource,
  settings: BenchSettings,
  h2load: NonNullable<BenchSettings['h2load']>,
): Promise<H2loadRun> {
  const expected = body === 'allow' ? ALLOW : expectedOutcome(target.enforcement, 'missing');
  const run: H2loadRun = {
    target: target.name,
    body,
    expected,
    probe: '',
    result: undefined,
    serverCpuUsPerCheck: undefined,
    companionCpuUsPerCheck: {},
    skipped: undefined,
  };
  let artifact: string | undefined;
  if (body === 'allow') {
    if (!source.canMint)
      return { ...run, skipped: `${source.description} holds no reusable artifact for a fixed body` };
    artifact = await source.issue('rate');
  }
  const { service } = loadEnvoyAuthProto();
  // No request id: the one body is sent every time, and a fixed id would put the same request
  // id on every decision the server ledgers.
  const bytes = checkRequestBody(service, checkRequest(settings.shape, undefined, artifact));
  const bodyFile = join(settings.workDir, `h2load-${target.name}-${body}.bin`);
  writeFileSync(bodyFile, bytes);
  run.probe = await probeBody(service, target.address, bytes);
  if (run.probe !== expected)
    return { ...run, skipped: `the body's decision is ${run.probe}, not ${expected}` };
  const meters = serverMeters(target);
  const atStart: Record<string, number> = {};
  const used: Record<string, number> = {};
  const result = await runH2load(
    {
      address: target.address,
      bodyFile,
      logFile: join(settings.workDir, `h2load-${target.name}-${body}.log`),
      clients: h2load.clients,
      streamsPerClient: h2load.streamsPerClient,
      warmupMs: settings.warmupMs,
      durationMs: settings.durationMs,
    },
    (phase) => {
      for (const [name, read] of Object.entries(meters)) {
        if (phase === 'start') atStart[name] = read();
        else used[name] = read() - atStart[name]!;
      }
    },
  );
  return { ...run, result, ...serverCpuPerCheck(target, used, result.requests.total) };
}

/** What a scenario's result makes of the run: failures (an invalid allow) and notes. */
export function scenarioFindings(result: ScenarioResult): { failures: string[]; notes: string[] } {
  const label = `${result.target} ${result.scenario}`;
  const failures: string[] = [];
  const notes: string[] = [];
  if (result.invalidAllows > 0)
    failures.push(`${label}: ${result.invalidAllows} requests that must be denied were allowed`);
  if (result.endedEarly) notes.push(`${label}: ${result.endedEarly}`);
  if (Object.keys(result.unexpected).length > 0)
    notes.push(`${label}: unexpected outcomes ${JSON.stringify(result.unexpected)}`);
  return { failures, notes };
}

/** Throughput ratios of the closed-loop and h2load runs (an open loop's throughput is its set rate). */
function ratios(report: BenchReport): Ratio[] {
  const rows = [
    ...report.scenarios
      .filter((s) => s.mode.kind === 'closed')
      .map((s) => ({ scenario: s.scenario, target: s.target, throughput: s.throughput })),
    ...report.h2load
      .filter((h) => h.result !== undefined)
      .map((h) => ({
        scenario: `h2load ${h.body}`,
        target: h.target,
        throughput: h.result!.requestsPerSecond,
      })),
  ];
  const out: Ratio[] = [];
  for (const row of rows) {
    for (const baseline of BASELINE_NAMES) {
      if (baselineRank(baseline) <= baselineRank(row.target)) continue;
      const base = rows.find((r) => r.scenario === row.scenario && r.target === baseline);
      if (base && base.throughput > 0) {
        out.push({
          scenario: row.scenario,
          target: row.target,
          baseline,
          throughputRatio: Math.round((row.throughput / base.throughput) * 1000) / 1000,
        });
      }
    }
  }
  return out;
}

/** A report with nothing measured yet. */
export function newReport(targets: Target[], source: ArtifactSource, settings: BenchSettings): BenchReport {
  const { workDir: _workDir, ...reported } = settings;
  return {
    startedAt: new Date().toISOString(),
    machine: { ...machineInfo(), h2load: h2loadVersion() },
    settings: { ...reported, artifacts: source.description },
    targets,
    scenarios: [],
    h2load: [],
    ratios: [],
    failures: [],
    notes: [],
  };
}

export async function runBench(
  targets: Target[],
  source: ArtifactSource,
  settings: BenchSettings,
  onProgress?: ProgressCallback,
): Promise<BenchReport> {
  const report = newReport(targets, source, settings);
  const version = report.machine.h2load;
  const modes: LoadMode[] = [
    ...settings.closedLoop.map((concurrency) => ({ kind: 'closed' as const, concurrency })),
    ...settings.openLoop.map((rate) => ({ kind: 'open' as const, rate })),
  ];
  const clients = new Map(
    targets.map((t) => [
      t.name,
      connectClient(settings.client ?? 'grpc-js', t.address, settings.connections),
    ]),
  );
  try {
    for (const mode of modes) {
      for (const target of targets) {
        const result = await runScenario(
          target,
          clients.get(target.name)!,
          source,
          mode,
          settings,
          report.notes,
          onProgress,
        );
        report.scenarios.push(result);
        const findings = scenarioFindings(result);
        report.failures.push(...findings.failures);
        report.notes.push(...findings.notes);
        await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
      }
    }
  } finally {
    for (const client of clients.values()) client.close();
  }
  if (settings.h2load && version === undefined) {
    report.notes.push(
      'h2load is not installed (Debian: apt-get install nghttp2-client): no outside-client figures',
    );
  } else if (settings.h2load) {
    for (const body of settings.h2load.bodies) {
      for (const target of targets) {
        onProgress?.(`h2load ${body} ${target.name}`, undefined);
        const run = await runH2loadBody(target, body, source, settings, settings.h2load);
        report.h2load.push(run);
        if (run.probe === ALLOW && run.expected !== ALLOW) {
          report.failures.push(`${target.name}: the ${body} body, which must be denied, was allowed`);
        }
        if (run.skipped) report.notes.push(`h2load ${body} on ${target.name} skipped: ${run.skipped}`);
        await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
      }
    }
  }
  report.ratios = ratios(report);
  return report;
}
