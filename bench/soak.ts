// `npm run bench:soak`: a bounded soak of the full path (redis-server, the ledger sequencer and
// the enforcement point, as `npm run bench` starts them) under a steady open-loop load, sampling
// the processes' RSS; fails when the enforcement point's RSS grew by more than --max-growth
// percent, or when a request that must be denied was allowed. Writes .bench-out/soak-<time>.json
// and prints a markdown summary. Exit status: 1 on a failure, 2 on a usage or setup error. See
// docs/performance.md (Soak).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { keySigner } from '../core/keys.js';
import { DEFAULT_MIX_TEXT, positiveInt, seconds } from './lib/check-command.js';
import { startFullPath, type Fsync } from './lib/full-path.js';
import { progressReporter } from './lib/progress.js';
import { writeJsonReport } from './lib/report.js';
import { runSoak, soakChunks, soakSummary, type SoakSettings } from './lib/soak.js';
import { BUILTIN_PRINCIPAL, builtinShape, builtinTemplate } from './lib/targets.js';
import { parseMix, signingSource } from './lib/traffic.js';

interface SoakOptions {
  duration: number;
  warmup: number;
  rate: number;
  sampleInterval: number;
  maxGrowth: number;
  chunk: number;
  mix: string;
  fsync: Fsync;
  deadline: number;
  maxInFlight: number;
  out: string;
  json?: boolean;
}

const percent = (value: string) => {
  if (!/^-?\d+(\.\d+)?$/.test(value)) throw new InvalidArgumentError('must be a number (percent)');
  return Number(value);
};
const positiveSeconds = (value: string) => {
  const n = seconds(value);
  if (n <= 0) throw new InvalidArgumentError('must be more than 0 seconds');
  return n;
};

function program(): Command {
  return new Command('bench:soak')
    .description(
      "a bounded soak of the full path under a steady load: fails when the enforcement point's RSS grows " +
        'more than --max-growth percent, or when a request that must be denied is allowed',
    )
    .option('--duration <seconds>', 'measured time, after the warm-up', positiveSeconds, 600)
    .option('--warmup <seconds>', 'time under load before the baseline samples', seconds, 30)
    .option('--rate <req/s>', 'open-loop requests per second', positiveInt, 500)
    .option('--sample-interval <seconds>', 'time between RSS samples', positiveSeconds, 5)
    .option(
      '--max-growth <percent>',
      "how far the enforcement point's end RSS may be above its baseline",
      percent,
      10,
    )
    .option(
      '--chunk <seconds>',
      'traffic issued ahead at a time (the load pauses while the next is issued); also the report rows',
      positiveSeconds,
      60,
    )
    .option('--mix <weights>', 'traffic mix, as for npm run bench', DEFAULT_MIX_TEXT)
    .option('--fsync <always|everysec>', "the full path's Redis appendfsync", 'always')
    .option('--deadline <ms>', 'gRPC deadline of each Check', positiveInt, 5000)
    .option(
      '--max-in-flight <n>',
      'requests due beyond this many unanswered are counted, not sent',
      positiveInt,
      20_000,
    )
    .option('--out <dir>', 'where the JSON report goes', '.bench-out')
    .option('--json', 'print the JSON report on standard output instead of the markdown summary')
    .exitOverride();
}

async function main(): Promise<number> {
  let opts: SoakOptions;
  try {
    opts = program().parse().opts<SoakOptions>();
  } catch (error) {
    if (error instanceof CommanderError) return error.code === 'commander.helpDisplayed' ? 0 : 2;
    throw error;
  }
  if (opts.fsync !== 'always' && opts.fsync !== 'everysec') throw new Error('--fsync is always or everysec');
  if (opts.duration < 2 * opts.sampleInterval)
    throw new Error('--duration must hold at least two --sample-interval: the baseline and the end');
  const template = builtinTemplate(BUILTIN_PRINCIPAL);
  const settings: SoakSettings = {
    shape: builtinShape(template),
    mix: parseMix(opts.mix),
    rate: opts.rate,
    warmupMs: opts.warmup * 1000,
    durationMs: opts.duration * 1000,
    sampleIntervalMs: opts.sampleInterval * 1000,
    maxGrowthPercent: opts.maxGrowth,
    chunkMs: opts.chunk * 1000,
    deadlineMs: opts.deadline,
    maxInFlight: opts.maxInFlight,
  };
  const workDir = mkdtempSync(join(tmpdir(), 'gov-soak-'));
  const progress = progressReporter();
  try {
    progress.line(
      `soak: ${soakChunks(settings).length} chunks, ${opts.rate} req/s; starting the full path ` +
        '(redis-server, sequencer, authz-server)',
    );
    const full = await startFullPath(workDir, opts.fsync);
    try {
      const source = signingSource(keySigner(full.issuer.kid, full.issuer.key), template);
      const report = await runSoak(full.running.target, source, settings, progress);
      progress.stop();
      const jsonPath = writeJsonReport(report, opts.out, 'soak');
      process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : soakSummary(report));
      process.stderr.write(`report: ${jsonPath}\n`);
      return report.failures.length > 0 ? 1 : 0;
    } finally {
      await full.running.stop();
    }
  } finally {
    progress.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(2);
  },
);
