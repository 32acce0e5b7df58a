// The Check benchmark as a command: its options and the run they describe. `npm run bench`
// (bench/check.ts) and `govctl bench` (cli/commands/bench.ts) are both this, with different
// defaults: the benchmark spawns the baselines and the full path; govctl measures the ext_authz
// target it is given and nothing else unless asked. Returns the exit status (1 when a request
// that must be denied was allowed); throws on a usage or set-up error, and TargetUnavailableError
// when the target does not answer at all.
import { randomUUID, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { generatePrivateKey, keyFromJwk, keyFromPem, keySigner } from '../../core/keys.js';
import { checkRequest, parseRoute, type RequestShape } from '../../devkit/check-request.js';
import { connectCheckClient } from './envoy-client.js';
import { CHECK_CLIENTS, type CheckClientKind } from './h2-client.js';
import { startFullPath, type Fsync } from './full-path.js';
import { progressReporter } from './progress.js';
import { ENVOY_TIMEOUT_MS, RECOVERY_GRACE_MS, RECOVERY_MEASURED_MS, runOverload } from './overload.js';
import { markdownSummary, writeJsonReport } from './report.js';
import {
  newReport,
  runBench,
  type BenchReport,
  type BenchSettings,
  type H2loadBody,
  type Target,
} from './run.js';
import {
  BASELINES,
  BUILTIN_HOST,
  BUILTIN_PRINCIPAL,
  BUILTIN_ROUTE,
  builtinTemplate,
  startBaseline,
  type Baseline,
  type RunningTarget,
} from './targets.js';
import {
  DEFAULT_MIX,
  fileSource,
  parseMix,
  readInput,
  signingSource,
  TRAFFIC_KINDS,
  type ArtifactSource,
  type Mix,
  type PayloadTemplate,
} from './traffic.js';

export interface CheckCommandOptions {
  target?: string;
  targetPid?: number;
  /** Only where the defaults offer the full path. */
  fullPath?: boolean;
  fsync?: Fsync;
  profile?: string;
  authzWorkers?: number;
  signatureCache?: boolean;
  baselines: string[];
  concurrency: number[];
  rate: number[];
  duration: number;
  warmup: number;
  connections: number;
  client?: CheckClientKind;
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
  out?: string;
  /** Seconds of overload: run the overload scenario instead of the others (bench/lib/overload.ts). */
  overload?: number;
}

export interface CheckCommandDefaults {
  /** --target's default; undefined: measure no target unless one is given. */
  target: string | undefined;
  /** How --help names that default (e.g. the environment variable it comes from). */
  targetDefaultHelp?: string;
  /** Whether the full path is offered (--no-full-path, --fsync, --profile) and runs by default. */
  fullPath: boolean;
  baselines: readonly Baseline[];
  /** --out's default; undefined: no JSON file unless --out is given. */
  out: string | undefined;
  /** Progress lines on standard error when it is not a terminal. */
  progressLinesWhenPiped: boolean;
}

/** `npm run bench`: baselines, the full path, a JSON file in .bench-out/. */
export const BENCH_DEFAULTS: CheckCommandDefaults = {
  target: undefined,
  fullPath: true,
  baselines: BASELINES,
  out: '.bench-out',
  progressLinesWhenPiped: true,
};

/** The overload scenario's capacity phase: requests in flight unless --concurrency is given. */
export const OVERLOAD_CONCURRENCY = 64;

/** The target answered no Check at all (unreachable, or not an ext_authz server). */
export class TargetUnavailableError extends Error {}

export const positiveInt = (value: string) => {
  if (!/^\d+$/.test(value) || Number(value) === 0)
    throw new InvalidArgumentError('must be a positive integer');
  return Number(value);
};
export const seconds = (value: string) => {
  if (!/^\d+(\.\d+)?$/.test(value)) throw new InvalidArgumentError('must be a number of seconds');
  return Number(value);
};
const checkClientKind = (value: string): CheckClientKind => {
  if (!(CHECK_CLIENTS as readonly string[]).includes(value))
    throw new InvalidArgumentError(`must be one of ${CHECK_CLIENTS.join(', ')}`);
  return value as CheckClientKind;
};
/** A comma list; "none" or "" is the empty list. */
const list =
  <T>(item: (text: string) => T) =>
  (value: string): T[] =>
    value === '' || value === 'none' ? [] : value.split(',').map((part) => item(part.trim()));
const collect = (value: string, previous: string[] = []) => [...previous, value];
const DEFAULT_KID = 'key:bench/issuer';
export const DEFAULT_MIX_TEXT = Object.entries(DEFAULT_MIX)
  .map(([kind, weight]) => `${kind}=${weight}`)
  .join(',');

/** Adds the Check benchmark's options to `command`, with these defaults. */
export function addCheckOptions(command: Command, defaults: CheckCommandDefaults): Command {
  if (defaults.target === undefined) {
    command.option(
      '--target <host:port>',
      'a governed ext_authz server to measure (your deployment), besides the baselines',
    );
  } else {
    command.addOption(
      new Option('--target <host:port>', 'the governed ext_authz server to measure').default(
        defaults.target,
        defaults.targetDefaultHelp,
      ),
    );
  }
  command.option(
    '--target-pid <pid>',
    'the target process id, when it runs on this machine: its CPU and memory',
    positiveInt,
  );
  if (defaults.fullPath) {
    command
      .option(
        '--no-full-path',
        'do not spawn the real authz-server with Redis and the ledger sequencer (default without --target)',
      )
      .option('--fsync <always|everysec>', "the full path's Redis appendfsync", 'always')
      .option(
        '--profile <dir>',
        "write V8 CPU profiles (node --cpu-prof) of the full path's authz-server and sequencer into <dir>",
      )
      .option(
        '--authz-workers <n>',
        "the full path's authz-server processes (its workers setting)",
        positiveInt,
        1,
      )
      .option(
        '--signature-cache',
        "keep the full path's verified-signature cache (off by default: every Check verifies, like the crypto floor)",
      )
      .option(
        '--overload <seconds>',
        'instead of the other scenarios (no baselines, --rate or h2load), the overload scenario against ' +
          `the full path (or --target), every Check with Envoy's ${ENVOY_TIMEOUT_MS} ms timeout as its deadline: ` +
          `capacity X (closed loop at the first --concurrency, ${OVERLOAD_CONCURRENCY} unless given, for --duration), ` +
          `then 2·X for <seconds>, then at once X/2 (${RECOVERY_GRACE_MS / 1000} s to recover, ` +
          `${RECOVERY_MEASURED_MS / 1000} s measured)`,
        seconds,
      );
  }
  return command
    .option(
      '--baselines <list>',
      `baselines to spawn and measure (${BASELINES.join(', ')}, or none)`,
      list(String),
      [...defaults.baselines],
    )
    .option(
      '--concurrency <list>',
      'closed-loop runs: requests in flight (none for no closed loop)',
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
    .option('--connections <n>', 'HTTP/2 connections of the Check client', positiveInt, 1)
    .option(
      '--client <kind>',
      'Check client: grpc-js (@grpc/grpc-js) or http2 (raw node:http2, bench/lib/h2-client.ts, far ' +
        'cheaper per Check); default http2 with --overload, grpc-js otherwise',
      checkClientKind,
    )
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
    .option('--mix <weights>', `traffic mix, kinds ${TRAFFIC_KINDS.join(', ')}`, DEFAULT_MIX_TEXT)
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
    .option('--out <dir>', 'where the JSON report goes', defaults.out);
}

/** The issuer key artifacts are signed with: --signing-key, or one made for this run. */
function loadIssuer(opts: CheckCommandOptions): { kid: string; key: KeyObject } {
  if (opts.signingKey === undefined) return { kid: DEFAULT_KID, key: generatePrivateKey() };
  const text = readInput(opts.signingKey, 'signing key');
  let key: KeyObject;
  let jwk: { kid?: string } | undefined;
  try {
    jwk = text.trimStart().startsWith('{') ? (JSON.parse(text) as { kid?: string }) : undefined;
    key = jwk ? keyFromJwk(jwk) : keyFromPem(text);
  } catch (e) {
    throw new Error(`signing key ${opts.signingKey}: ${(e as Error).message}`);
  }
  if (key.type !== 'private') throw new Error(`${opts.signingKey} holds no private key`);
  const kid = opts.kid ?? jwk?.kid;
  if (kid === undefined) throw new Error('--kid is required with a PEM signing key');
  return { kid, key };
}

function loadTemplate(opts: CheckCommandOptions): PayloadTemplate {
  if (opts.template === undefined) return builtinTemplate(opts.principal);
  let fields: Omit<PayloadTemplate, 'v' | 'sub'>;
  try {
    fields = JSON.parse(readInput(opts.template, 'template')) as typeof fields;
  } catch (e) {
    throw new Error(
      e instanceof SyntaxError ? `template ${opts.template} is not JSON` : (e as Error).message,
    );
  }
  return { v: '1', sub: opts.principal, iss: fields.iss, op: fields.op, pol: fields.pol, env: fields.env };
}

function contextExtensions(opts: CheckCommandOptions, template: PayloadTemplate): Record<string, string> {
  if (opts.context === undefined) return { ...template.env };
  return Object.fromEntries(
    opts.context.map((pair) => {
      const at = pair.indexOf('=');
      if (at <= 0) throw new Error(`--context takes key=value, got ${JSON.stringify(pair)}`);
      return [pair.slice(0, at), pair.slice(at + 1)];
    }),
  );
}

function h2loadSettings(opts: CheckCommandOptions): BenchSettings['h2load'] {
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

/** Whether the mix sends any artifact (only `missing` sends none). */
const sendsArtifacts = (mix: Mix) => TRAFFIC_KINDS.some((kind) => kind !== 'missing' && mix[kind] > 0);

/** One Check without an artifact: any answer (a denial) will do, no answer is an error. */
async function probeTarget(address: string, shape: RequestShape, deadlineMs: number): Promise<void> {
  const client = connectCheckClient(address, 1);
  try {
    const outcome = await client.check(checkRequest(shape, randomUUID(), undefined), deadlineMs);
    if (outcome.startsWith('error:'))
      throw new TargetUnavailableError(`${address} answered no Check (${outcome.slice('error:'.length)})`);
  } finally {
    client.close();
  }
}

export async function runCheckCommand(
  opts: CheckCommandOptions,
  defaults: CheckCommandDefaults,
  output: { json?: boolean } = {},
): Promise<number> {
  const fullPath = opts.fullPath === true && opts.target === undefined;
  const overload = opts.overload;
  if (overload !== undefined && !fullPath && opts.target === undefined)
    throw new Error('--overload runs against the full path or --target: give one');
  if (overload !== undefined && overload <= 0)
    throw new Error('--overload takes a positive number of seconds');
  if (fullPath && (opts.template ?? opts.signingKey ?? opts.artifactsFile) !== undefined) {
    throw new Error(
      '--template, --signing-key and --artifacts-file apply to --target (or give --no-full-path)',
    );
  }
  const fsync = opts.fsync ?? 'always';
  if (fsync !== 'always' && fsync !== 'everysec') throw new Error('--fsync is always or everysec');
  const template = loadTemplate(opts);
  const { method, path } = parseRoute(opts.route);
  const baselines = opts.baselines.map((name) => {
    if (!BASELINES.includes(name as Baseline))
      throw new Error(`--baselines: ${name} is not one of ${BASELINES.join(', ')}`);
    return name as Baseline;
  });
  const mix = parseMix(opts.mix);
  if (
    opts.target !== undefined &&
    opts.signingKey === undefined &&
    opts.artifactsFile === undefined &&
    sendsArtifacts(mix)
  ) {
    throw new Error(
      `${opts.target} accepts only artifacts it trusts: give --signing-key (with --kid, --template) ` +
        'or --artifacts-file, or a --mix of missing only',
    );
  }
  const settings: BenchSettings = {
    shape: {
      principal: opts.principal,
      method,
      path,
      host: opts.host,
      contextExtensions: contextExtensions(opts, template),
    },
    mix,
    closedLoop: opts.concurrency,
    openLoop: opts.rate,
    warmupMs: opts.warmup * 1000,
    durationMs: opts.duration * 1000,
    deadlineMs: opts.deadline,
    connections: opts.connections,
    client: opts.client ?? (opts.overload === undefined ? undefined : 'http2'),
    maxRate: opts.maxRate,
    maxInFlight: opts.maxInFlight,
    h2load: h2loadSettings(opts),
    workDir: '',
  };
  let issuer = loadIssuer(opts);
  // Every file is read before the target is asked anything: a typo is a usage error.
  const fromFile = opts.artifactsFile === undefined ? undefined : fileSource(opts.artifactsFile);
  if (opts.target !== undefined) await probeTarget(opts.target, settings.shape, opts.deadline);
  settings.workDir = mkdtempSync(join(tmpdir(), 'gov-bench-'));
  const running: RunningTarget[] = [];
  const progress = progressReporter({ linesWhenPiped: defaults.progressLinesWhenPiped });
  try {
    if (fullPath) {
      const full = await startFullPath(settings.workDir, fsync, {
        profileDir: opts.profile,
        workers: opts.authzWorkers,
        signatureCache: opts.signatureCache,
      });
      running.push(full.running);
      issuer = full.issuer;
    }
    const source: ArtifactSource = fromFile ?? signingSource(keySigner(issuer.kid, issuer.key), template);
    for (const baseline of overload === undefined ? baselines : []) {
      if (baseline === 'crypto-floor' && opts.artifactsFile !== undefined && opts.signingKey === undefined) {
        process.stderr.write(
          'crypto-floor skipped: with --artifacts-file it needs the issuer key (--signing-key, --kid)\n',
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
    let report: BenchReport;
    if (overload === undefined) {
      report = await runBench(targets, source, settings, progress.update);
    } else {
      report = newReport(targets, source, { ...settings, closedLoop: [], openLoop: [], h2load: undefined });
      report.overload = await runOverload(
        targets[0]!,
        source,
        settings,
        {
          seconds: overload,
          concurrency: opts.concurrency[0] ?? OVERLOAD_CONCURRENCY,
          connections: opts.connections,
          client: settings.client,
        },
        report.notes,
        report.failures,
        progress.update,
      );
    }
    progress.stop();
    const jsonPath = opts.out === undefined ? undefined : writeJsonReport(report, opts.out);
    process.stdout.write(output.json ? `${JSON.stringify(report, null, 2)}\n` : markdownSummary(report));
    if (jsonPath !== undefined) process.stderr.write(`report: ${jsonPath}\n`);
    return report.failures.length > 0 ? 1 : 0;
  } finally {
    progress.stop();
    await Promise.all(running.map((r) => r.stop()));
    rmSync(settings.workDir, { recursive: true, force: true });
  }
}
