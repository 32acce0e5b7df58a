// The report: JSON with everything (histograms included) and a short markdown summary.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LatencySummary } from './latency.js';
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
/** p50, p90, p99, p99.9 and max in milliseconds. */
export const latencyCells = (l: LatencySummary) => [l.p50Us, l.p90Us, l.p99Us, l.p999Us, l.maxUs].map(ms);
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

export function markdownSummary(report: BenchReport): string {
  const { machine } = report;
  const lines = [
    `Check benchmark, ${report.startedAt}: ${machineLine(machine)}; warm-up ${report.settings.warmupMs / 1000} s, ` +
      `duration ${report.settings.durationMs / 1000} s, grpc-js client on ${report.settings.connections} connection(s).`,
    '',
    ...table(
      [
        'target',
        'scenario',
        'req/s',
        'p50 ms',
        'p90 ms',
        'p99 ms',
        'p99.9 ms',
        'max ms',
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
    ),
  ];
  const h2load = report.h2load.filter((h) => h.result !== undefined);
  if (h2load.length > 0) {
    lines.push(
      '',
      ...table(
        [
          'target',
          'h2load body',
          'req/s',
          'p50 ms',
          'p90 ms',
          'p99 ms',
          'p99.9 ms',
          'max ms',
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
  for (const note of report.notes) lines.push('', `note: ${note}`);
  for (const failure of report.failures) lines.push('', `FAILED: ${failure}`);
  return `${lines.join('\n')}\n`;
}
