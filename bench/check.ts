// `npm run bench`: Authorization/Check under load. Spawns the two baselines (no-op and crypto
// floor) and drives them, and any --target, with the same generator, then with h2load. Writes
// .bench-out/check-<time>.json and prints a markdown summary. Exit status: 1 when a request that
// must be denied was allowed, 2 on a usage or setup error. See docs/performance.md.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SingleBar } from 'cli-progress';
import { Command, InvalidArgumentError } from 'commander';
import { generatePrivateKey, keyFromJwk, keyFromPem, keySigner } from '../core/keys.js';
import type { KeyObject } from 'node:crypto';
import { parseRoute } from './lib/check-request.js';
import { startFullPath, type Fsync } from './lib/full-path.js';
import { markdownSummary, writeJsonReport } from './lib/report.js';
import {
  runBench,
  type BenchSettings,
  type H2loadBody,
  type ProgressCallback,
  type Target,
} from './lib/run.js';
import {
  BASELINES,
  BUILTIN_HOST,
  BUILTIN_PRINCIPAL,
  BUILTIN_ROUTE,
  builtinTemplate,
  startBaseline,
  type Baseline,
  type RunningTarget,
} from './lib/targets.js';
import {
  DEFAULT_MIX,
  fileSource,
  parseMix,
  signingSource,
  TRAFFIC_KINDS,
  type ArtifactSource,
  type PayloadTemplate,
} from './lib/traffic.js';

interface CliOptions {
  target?: string;
  targetPid?: number;
  fullPath: boolean;
  fsync: Fsync;
  baselines: string[];
  concurrency: number[];
  rate: number[];
  duration: number;
  warmup: number;
  connections: number;
  deadline: number;
  maxRate: number;
  maxInFlight: number;
  mix: string;
  principal: string;
  route: string;
  host: string;
  context?: string[];
  artifactsFile?: string;
  signingKey?: string;
  kid?: string;
  template?: string;
  h2load: string | false;
  h2loadBodies: string[];
  out: string;
  profile?: string;
}

const positiveInt = (value: string) => {
  if (!/^\d+$/.test(value) || Number(value) === 0)
    throw new InvalidArgumentError('must be a positive integer');
  return Number(value);
};
const seconds = (value: string) => {
  if (!/^\d+(\.\d+)?$/.test(value)) throw new InvalidArgumentError('must be a number of seconds');
  return Number(value);
};
/** A comma list; "none" or "" is the empty list. */
const list =
  <T>(item: (text: string) => T) =>
  (value: string): T[] =>
    value === '' || value === 'none' ? [] : value.split(',').map((part) => item(part.trim()));
const collect = (value: string, previous: string[] = []) => [...previous, value];
const DEFAULT_KID = 'key:bench/issuer';

function program(): Command {
  return new Command('bench')
    .description(
      'load-test envoy.service.auth.v3.Authorization/Check against the baselines and an ext_authz target',
    )
    .option(
      '--target <host:port>',
      'a governed ext_authz server to measure (your deployment), besides the baselines',
    )
    .option(
      '--target-pid <pid>',
      'the target process id, when it runs on this machine: its CPU and memory',
      positiveInt,
    )
    .option(
      '--no-full-path',
      'do not spawn the real authz-server with Redis and the ledger sequencer (default without --target)',
    )
    .option('--fsync <always|everysec>', "the full path's Redis appendfsync", 'always')
    .option(
      '--baselines <list>',
      `baselines to spawn and measure (${BASELINES.join(', ')}, or none)`,
      list(String),
      [...BASELINES],
    )
    .option(
      '--concurrency <list>',
      'closed-loop runs: requests in flight',
      list(positiveInt),
      [1, 16, 64, 256],
    )
    .option(
      '--rate <list>',
      'open-loop runs: requests per second (none for no open loop)',
      list(positiveInt),
      [1000],
    )
    .option('--duration <seconds>', 'measured time per run', seconds, 10)
    .option('--warmup <seconds>', 'unmeasured time before each run', seconds, 2)
    .option('--connections <n>', 'HTTP/2 connections of the grpc-js client', positiveInt, 1)
    .option('--deadline <ms>', 'gRPC deadline of each Check', positiveInt, 5000)
    .option(
      '--max-rate <req/s>',
      'closed loop on a governed target: issue artifacts for at most this rate',
      positiveInt,
      10_000,
    )
    .option(
      '--max-in-flight <n>',
      'open loop: requests due beyond this many unanswered are counted, not sent',
      positiveInt,
      20_000,
    )
    .option(
      '--mix <weights>',
      `traffic mix, kinds ${TRAFFIC_KINDS.join(', ')}`,
      Object.entries(DEFAULT_MIX)
        .map(([kind, weight]) => `${kind}=${weight}`)
        .join(','),
    )
    .option(
      '--principal <spiffe-id>',
      "attributes.source.principal, and the artifacts' subject",
      BUILTIN_PRINCIPAL,
    )
    .option('--route <"METHOD /path">', 'the governed HTTP request', BUILTIN_ROUTE)
    .option('--host <authority>', 'its :authority', BUILTIN_HOST)
    .option(
      '--context <key=value>',
      'a context_extensions entry, repeatable (default: the template environment)',
      collect,
    )
    .option('--artifacts-file <path>', 'pre-issued x-execution-artifact values, one per line, each used once')
    .option('--signing-key <file>', 'an issuer private key the target trusts (PKCS#8 PEM or JWK)')
    .option('--kid <kid>', 'its key id (default: the JWK kid)')
    .option('--template <file>', "JSON of the artifact fields iss, op, pol and env for the target's route")
    .option('--h2load <clients>x<streams>', 'h2load connections and streams per connection', '4x16')
    .option('--no-h2load', 'skip the h2load runs')
    .option(
      '--h2load-bodies <list>',
      'fixed bodies for h2load: allow (a rate artifact), missing (no artifact)',
      list(String),
      ['allow', 'missing'],
    )
    .option('--out <dir>', 'where the JSON report goes', '.bench-out')
    .option(
      '--profile <dir>',
      "write V8 CPU profiles (node --cpu-prof) of the full path's authz-server and sequencer into <dir>",
    );
}

/** The issuer key artifacts are signed with: --signing-key, or one made for this run. */
function loadIssuer(opts: CliOptions): { kid: string; key: KeyObject } {
  if (opts.signingKey === undefined) return { kid: DEFAULT_KID, key: generatePrivateKey() };
  const text = readFileSync(opts.signingKey!, 'utf8');
  const jwk = text.trimStart().startsWith('{') ? (JSON.parse(text) as { kid?: string }) : undefined;
  const key = jwk ? keyFromJwk(jwk) : keyFromPem(text);
  if (key.type !== 'private') throw new Error(`${opts.signingKey} holds no private key`);
  const kid = opts.kid ?? jwk?.kid;
  if (kid === undefined) throw new Error('--kid is required with a PEM signing key');
  return { kid, key };
}

function loadTemplate(opts: CliOptions): PayloadTemplate {
  if (opts.template === undefined) return builtinTemplate(opts.principal);
  const fields = JSON.parse(readFileSync(opts.template, 'utf8')) as Omit<PayloadTemplate, 'v' | 'sub'>;
  return { v: '1', sub: opts.principal, iss: fields.iss, op: fields.op, pol: fields.pol, env: fields.env };
}

function contextExtensions(opts: CliOptions, template: PayloadTemplate): Record<string, string> {
  if (opts.context === undefined) return { ...template.env };
  return Object.fromEntries(
    opts.context.map((pair) => {
      const at = pair.indexOf('=');
      if (at <= 0) throw new Error(`--context takes key=value, got ${JSON.stringify(pair)}`);
      return [pair.slice(0, at), pair.slice(at + 1)];
    }),
  );
}

function h2loadSettings(opts: CliOptions): BenchSettings['h2load'] {
  if (opts.h2load === false) return undefined;
  const match = /^(\d+)x(\d+)$/.exec(opts.h2load);
  if (!match) throw new Error(`--h2load takes <clients>x<streams>, e.g. 4x16, got ${opts.h2load}`);
  const bodies = opts.h2loadBodies.map((body) => {
    if (body !== 'allow' && body !== 'missing')
      throw new Error(`--h2load-bodies: ${body} is not allow or missing`);
    return body as H2loadBody;
  });
  return { clients: Number(match[1]), streamsPerClient: Number(match[2]), bodies };
}

/** Progress on stderr: a bar on a terminal, a line per run otherwise. */
function progressReporter(): { update: ProgressCallback; stop(): void } {
  let bar: SingleBar | undefined;
  let current: string | undefined;
  const tty = process.stderr.isTTY === true;
  return {
    update(label, progress) {
      if (label !== current) {
        bar?.stop();
        current = label;
        bar = undefined;
        if (!tty || progress === undefined) {
          console.error(`running ${label}`);
          return;
        }
        bar = new SingleBar({
          format: '{label} |{bar}| {value}/{total} s  {completed} answered, {inFlight} in flight',
          stream: process.stderr,
          hideCursor: true,
        });
        bar.start(Math.round(progress.totalMs / 1000), 0, { label, completed: 0, inFlight: 0 });
      }
      if (progress === undefined) return;
      bar?.update(Math.min(Math.floor(progress.elapsedMs / 1000), Math.round(progress.totalMs / 1000)), {
        completed: progress.completed,
        inFlight: progress.inFlight,
      });
    },
    stop() {
      bar?.stop();
    },
  };
}

async function main(): Promise<number> {
  const opts = program().parse().opts<CliOptions>();
  const fullPath = opts.fullPath && opts.target === undefined;
  if (fullPath && (opts.template ?? opts.signingKey ?? opts.artifactsFile) !== undefined) {
    throw new Error(
      '--template, --signing-key and --artifacts-file apply to --target (or give --no-full-path)',
    );
  }
  if (opts.fsync !== 'always' && opts.fsync !== 'everysec') throw new Error('--fsync is always or everysec');
  const template = loadTemplate(opts);
  const { method, path } = parseRoute(opts.route);
  const baselines = opts.baselines.map((name) => {
    if (!BASELINES.includes(name as Baseline))
      throw new Error(`--baselines: ${name} is not one of ${BASELINES.join(', ')}`);
    return name as Baseline;
  });
  const settings: BenchSettings = {
    shape: {
      principal: opts.principal,
      method,
      path,
      host: opts.host,
      contextExtensions: contextExtensions(opts, template),
    },
    mix: parseMix(opts.mix),
    closedLoop: opts.concurrency,
    openLoop: opts.rate,
    warmupMs: opts.warmup * 1000,
    durationMs: opts.duration * 1000,
    deadlineMs: opts.deadline,
    connections: opts.connections,
    maxRate: opts.maxRate,
    maxInFlight: opts.maxInFlight,
    h2load: h2loadSettings(opts),
    workDir: mkdtempSync(join(tmpdir(), 'gov-bench-')),
  };
  const running: RunningTarget[] = [];
  const progress = progressReporter();
  try {
    let issuer = loadIssuer(opts);
    if (fullPath) {
      const full = await startFullPath(settings.workDir, opts.fsync, opts.profile);
      running.push(full.running);
      issuer = full.issuer;
    }
    const source: ArtifactSource = opts.artifactsFile
      ? fileSource(opts.artifactsFile)
      : signingSource(keySigner(issuer.kid, issuer.key), template);
    for (const baseline of baselines) {
      if (baseline === 'crypto-floor' && opts.artifactsFile !== undefined && opts.signingKey === undefined) {
        console.error(
          'crypto-floor skipped: with --artifacts-file it needs the issuer key (--signing-key, --kid)',
        );
        continue;
      }
      running.push(await startBaseline(baseline, issuer));
    }
    const targets: Target[] = running.map((r) => r.target);
    if (opts.target !== undefined) {
      targets.unshift({ name: 'target', enforcement: 'full', address: opts.target, pid: opts.targetPid });
    }
    if (targets.length === 0) throw new Error('nothing to measure: give --target or keep a baseline');
    const report = await runBench(targets, source, settings, progress.update);
    progress.stop();
    const jsonPath = writeJsonReport(report, opts.out);
    process.stdout.write(markdownSummary(report));
    console.error(`report: ${jsonPath}`);
    return report.failures.length > 0 ? 1 : 0;
  } finally {
    progress.stop();
    await Promise.all(running.map((r) => r.stop()));
    rmSync(settings.workDir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(2);
  },
);
