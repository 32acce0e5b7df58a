// The report: JSON with everything (histograms included) and a short markdown summary.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LatencySummary } from './latency.js';
import type { OverloadReport, PhaseFigures } from './overload.js';
import type { MachineInfo } from './proc-stats.js';
import type { BenchReport } from './run.js';

/** Writes `<outDir>/<benchmark>-<startedAt>.json` and returns its path. */
export function writeJsonReport(report: { startedAt: string }, outDir: string, benchmark = 'check'): string {
  mkdirSync(outDir, { recursive: true });
  const path = join(outDir, `${benchmark}-${report.startedAt.replace(/[:.]/g, '-')}.json`);
  writeFileSync(path, `${JSON.stringify(report, null, 2)}\n`);
  return path;
}

/** Microseconds as milliseconds with two decimals below 10 ms, one above. */
export const ms = (micros: number) => (micros / 1000).toFixed(micros < 10_000 ? 2 : 1);
/** p50, p90, p99, p99.9 and max in milliseconds, and their column headers. */
export const latencyCells = (l: LatencySummary) => [l.p50Us, l.p90Us, l.p99Us, l.p999Us, l.maxUs].map(ms);
export const LATENCY_HEADERS = ['p50 ms', 'p90 ms', 'p99 ms', 'p99.9 ms', 'max ms'];
export const optional = (value: number | undefined) => (value === undefined ? '–' : String(value));
/** Companion CPU per Check, as "redis 50, sequencer 103". */
export const companions = (cpu: Record<string, number>) =>
  Object.entries(cpu)
    .map(([name, micros]) => `${name} ${micros}`)
    .join(', ') || '–';

/** The machine line every benchmark prints first. */
export function machineLine(machine: MachineInfo): string {
  return (
    `${machine.nproc} × ${machine.cpuModel}, Node ${machine.node}, ` +
    `load average ${machine.loadAverage1m.toFixed(2)} at start`
  );
}

export function table(header: string[], rows: string[][]): string[] {
  return [
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((row) => `| ${row.join(' | ')} |`),
  ];
}

function scenarioTable(report: BenchReport): string[] {
  return table(
    [
      'target',
      'scenario',
      'req/s',
      ...LATENCY_HEADERS,
      'server CPU µs/Check',
      'Redis etc. CPU µs/Check',
      'client CPU µs/Check',
      'send lag p50/p99 ms',
      'invalid allows',
      'other unexpected',
      'load avg',
    ],
    report.scenarios.map((s) => [
      s.target,
      s.scenario,
      String(s.throughput),
      ...latencyCells(s.latency),
      optional(s.serverCpuUsPerCheck),
      companions(s.companionCpuUsPerCheck),
      optional(s.clientCpuUsPerCheck),
      s.sendLag ? `${ms(s.sendLag.p50Us)}/${ms(s.sendLag.p99Us)}` : '–',
      String(s.invalidAllows),
      String(Object.values(s.unexpected).reduce((a, b) => a + b, 0) - s.invalidAllows),
      s.loadAverage1m.toFixed(1),
    ]),
  );
}

/** Counts by name, largest first, as "replayed 120, missing 60" (the "artifact." prefix dropped). */
const compactCounts = (counts: Record<string, number>) =>
  Object.entries(counts)
    .sort(([, a], [, b]) => b - a)
    .map(([name, count]) => `${name.replace(/^artifact\./, '')} ${count}`)
    .join(', ');
const total = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);
const percent = (part: number, whole: number) =>
  whole === 0 ? '–' : `${((100 * part) / whole).toFixed(1)}%`;
const yesNo = (verdict: boolean | undefined) => (verdict === undefined ? 'not run' : verdict ? 'yes' : 'NO');
const seconds = (millis: number) => `${(millis / 1000).toFixed(2)} s`;

/** When, from the recovery's start, its last shed, halted and unanswered requests were due. */
function recoveryLast(last: OverloadReport['recoveryLastMs']): string {
  const seen = Object.entries({
    'overload.shed': last.shed,
    'ledger.unavailable': last.halted,
    unanswered: last.unanswered,
  }).flatMap(([name, at]) => (at === undefined ? [] : [`the last ${name} at ${seconds(at)}`]));
  return seen.length === 0
    ? 'no overload.shed, ledger.unavailable or unanswered request from its start'
    : `from its start, ${seen.join(', ')}`;
}

/** The overload scenario: its phases' table and a verdict per goal of issue #18. */
export function overloadLines(o: OverloadReport): string[] {
  const deadline = `${o.deadlineMs} ms`;
  const lines = [
    `Overload, target ${o.target}, every Check with a ${deadline} deadline (Envoy's ext_authz timeout): ` +
      `X = ${o.capacity} decided Checks/s (allowed and denied, not shed) in a closed loop at ${o.concurrency} in flight` +
      (o.overloadRate === undefined
        ? '.'
        : `; overload 2·X = ${o.overloadRate}/s for ${o.overloadMs / 1000} s` +
          (o.restMs === undefined ? '' : `, once the path was at rest (${o.restMs} ms after preparing)`) +
          '; recovery X/2 = ' +
          `${o.recoveryRate}/s at once (${o.gapMs} ms after the overload's last request was due), ` +
          `its first ${o.recoveryGraceMs / 1000} s apart.`),
    '',
    ...table(
      [
        'phase',
        'offered',
        'answered/s',
        'allowed',
        'overload.shed',
        'other denials',
        `no answer in ${deadline}`,
        'invalid allows',
        'p50 ms',
        'p99 ms',
        'max ms',
      ],
      o.phases.map((p: PhaseFigures) => [
        p.phase,
        p.offered,
        String(p.answeredPerSecond),
        String(p.allowed),
        String(p.shed),
        compactCounts(p.denials) || '0',
        total(p.unanswered) === 0 ? '0' : `${total(p.unanswered)} (${compactCounts(p.unanswered)})`,
        String(p.invalidAllows),
        ms(p.latency.p50Us),
        ms(p.latency.p99Us),
        ms(p.latency.maxUs),
      ]),
    ),
  ];
  const [, over, grace, measured] = o.phases;
  const invalid = o.runs.reduce((sum, run) => sum + run.invalidAllows, 0);
  lines.push('', `- no invalid allow: ${yesNo(o.verdicts.noInvalidAllow)} (${invalid})`);
  if (over === undefined || grace === undefined || measured === undefined) return lines;
  const later = [over, grace, measured];
  const requests = later.reduce((sum, p) => sum + p.requests, 0);
  const unanswered = later.reduce((sum, p) => sum + total(p.unanswered), 0);
  const late = later.reduce((sum, p) => sum + p.lateAnswers, 0);
  const halted = measured.denials['ledger.unavailable'] ?? 0;
  lines.push(
    `- every Check answered within ${deadline} (overload and recovery): ${yesNo(o.verdicts.answeredInTime)} — ` +
      `${unanswered} of ${requests} without an answer in time` +
      (late > 0
        ? `; ${late} answered more than ${deadline} after their intended send time (client send lag)`
        : ''),
    `- excess shed early as overload.shed: ${yesNo(o.verdicts.excessShed)} — ${over.shed} of ${over.requests} ` +
      `overload requests shed (${percent(over.shed, over.requests)}; the excess over X is 50%), ` +
      `${over.failedClosed} failed closed otherwise, ${total(over.unanswered)} unanswered`,
    `- recovery within ${o.recoveryGraceMs / 1000} s: ${yesNo(o.verdicts.recovered)} — in the ` +
      `${o.recoveryMeasuredMs / 1000} s after it: ${measured.shed} overload.shed, ${halted} ledger.unavailable, ` +
      `allowed ${measured.allowedOfShould} of ${measured.shouldAllow} that must be allowed ` +
      `(${percent(measured.allowedOfShould, measured.shouldAllow)}); ${recoveryLast(o.recoveryLastMs)}`,
  );
  const lag = o.runs
    .slice(1)
    .map((run) => (run.sendLag ? `${run.scenario} ${ms(run.sendLag.p99Us)} ms` : undefined))
    .filter((text) => text !== undefined);
  if (lag.length > 0) lines.push(`- client send lag p99 (measured part): ${lag.join(', ')}`);
  for (const behind of o.generatorBehind) {
    const cpu =
      behind.clientCpuUsPerCheck === undefined
        ? ''
        : `, ${behind.clientCpuUsPerCheck} µs of client CPU per Check`;
    lines.push(
      `- WARNING: the generator fell behind in ${behind.scenario} (send lag p99 ${ms(behind.sendLagP99Us)} ms${cpu}): ` +
        'it shares the machine with the path, and these figures measure the client as much as the path',
    );
  }
  const second = (t: OverloadReport['timeline'][number]) =>
    `${t.second + 1}: ${t.allowed}/${t.shed}/${t.denied}/${t.unanswered}`;
  for (const phase of ['overload', 'recovery'] as const) {
    const inPhase = o.timeline.filter((t) => t.phase === phase);
    if (inPhase.length > 0)
      lines.push(
        `- ${phase}, second by second (allowed/shed/other denials/unanswered): ${inPhase.map(second).join(', ')}`,
      );
  }
  return lines;
}

export function markdownSummary(report: BenchReport): string {
  const { machine } = report;
  const lines = [
    `Check benchmark, ${report.startedAt}: ${machineLine(machine)}; warm-up ${report.settings.warmupMs / 1000} s, ` +
      `duration ${report.settings.durationMs / 1000} s, ${report.settings.client ?? 'grpc-js'} client on ${report.settings.connections} connection(s).`,
  ];
  if (report.scenarios.length > 0) lines.push('', ...scenarioTable(report));
  const h2load = report.h2load.filter((h) => h.result !== undefined);
  if (h2load.length > 0) {
    lines.push(
      '',
      ...table(
        [
          'target',
          'h2load body',
          'req/s',
          ...LATENCY_HEADERS,
          'server CPU µs/Check',
          'Redis etc. CPU µs/Check',
          'failed',
        ],
        h2load.map((h) => [
          h.target,
          `${h.body} (${h.expected})`,
          String(Math.round(h.result!.requestsPerSecond)),
          ...latencyCells(h.result!.latency),
          optional(h.serverCpuUsPerCheck),
          companions(h.companionCpuUsPerCheck),
          String(h.result!.requests.failed + h.result!.requests.errored + h.result!.requests.timeout),
        ]),
      ),
    );
  }
  if (report.ratios.length > 0) {
    lines.push(
      '',
      ...table(
        ['scenario', 'target / baseline', 'throughput ratio'],
        report.ratios.map((r) => [r.scenario, `${r.target} / ${r.baseline}`, r.throughputRatio.toFixed(3)]),
      ),
    );
  }
  if (report.overload) lines.push('', ...overloadLines(report.overload));
  for (const note of report.notes) lines.push('', `note: ${note}`);
  for (const failure of report.failures) lines.push('', `FAILED: ${failure}`);
  return `${lines.join('\n')}\n`;
}
