// The process shell every service shares: `--config <file>` from the command line, `--help`, a
// precise message and a non-zero exit when start-up fails (a service never starts permissive),
// and an orderly, bounded stop on SIGTERM or SIGINT.
import { constants } from 'node:os';
import { GovernanceError, isGovernanceError } from '../core/errors.js';

export interface RunningService {
  logger: Record<StopLogLevel, (message: string) => void>;
  stop(): Promise<void>;
}

export type StopLogLevel = 'info' | 'warn' | 'error';

/** How long a stop may take after SIGTERM or SIGINT before the process exits anyway. */
export const STOP_BOUND_MS = 1_500;

/**
 * Stops on the first SIGTERM or SIGINT, then exits: 1 if `stop` fails, else 0 once it is done or
 * STOP_BOUND_MS has passed, whichever comes first. What it still waits for then is abandoned,
 * with a line saying so: ledger appends queued for a Redis that is gone would be waited for
 * forever, and an orchestrator kills a process that outstays its grace period anyway. A second
 * signal exits at once.
 */
export function exitOnSignals(
  stop: () => Promise<void>,
  log: (level: StopLogLevel, message: string) => void,
): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(128 + constants.signals[signal]);
    stopping = true;
    log('info', `${signal}: stopping`);
    const bound = setTimeout(() => {
      log(
        'warn',
        `not stopped within ${STOP_BOUND_MS} ms: exiting, abandoning what is still pending ` +
          '(ledger appends not yet written, e.g. while Redis does not answer)',
      );
      process.exit(0);
    }, STOP_BOUND_MS);
    stop().then(
      () => {
        clearTimeout(bound);
        process.exit(0);
      },
      (e: unknown) => {
        log('error', `stop failed: ${(e as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

export type Listener = 'grpc' | 'http';

/**
 * How a process that cannot start exits: 2 when its configuration is at fault (the file, or a
 * key or other file it names: config.invalid), so that an orchestrator or operator tells a
 * deployment to fix from an outage to wait out; 1 for anything else (Redis not answering, a port
 * taken).
 */
export function startFailureExitCode(e: unknown): 1 | 2 {
  return isGovernanceError(e, 'config.invalid') ? 2 : 1;
}

/**
 * What a service's `--help` prints: how to start it, `about` it, and what overrides its file
 * (the variables of the listeners it has, and Redis's unless `redis` is false: the witness has none).
 */
export function serviceUsage(
  module: string,
  about: string,
  prefix: string,
  listeners: readonly Listener[] = ['grpc', 'http'],
  options: { redis?: boolean } = {},
): string {
  const variables = listeners.flatMap((l) => [
    `${prefix}_${l.toUpperCase()}_HOST`,
    `${prefix}_${l.toUpperCase()}_PORT`,
  ]);
  if (options.redis === false) {
    return `usage: node dist/${module} --config <file.yaml>

${about}

The YAML file holds every setting. The environment overrides the listeners
(${variables.join(', ')}) and ${prefix}_LOG_LEVEL. A problem at start-up is one line naming it,
and exits 2 when the configuration is at fault (the file, or a key or file it names), 1
otherwise (a port taken); SIGTERM or SIGINT stops it within ${STOP_BOUND_MS / 1000} s.
`;
  }
  return `usage: node dist/${module} --config <file.yaml>

${about}

The YAML file holds every setting. The environment overrides where Redis is (REDIS_URL for a
standalone server, or REDIS_MODE sentinel with REDIS_SENTINELS and REDIS_SENTINEL_NAME, or
REDIS_MODE cluster with REDIS_CLUSTER_NODES), the listeners (${variables.join(', ')}) and
${prefix}_LOG_LEVEL. A problem at start-up is one line naming it, and exits 2 when the
configuration is at fault (the file, or a key or file it names), 1 otherwise (Redis not
answering, a port taken); SIGTERM or SIGINT stops it within ${STOP_BOUND_MS / 1000} s.
`;
}

function configPath(argv: string[]): string {
  const i = argv.indexOf('--config');
  const path = i >= 0 ? argv[i + 1] : undefined;
  if (path === undefined || path.startsWith('--')) {
    throw new GovernanceError('config.invalid', 'usage: main.js --config <file.yaml>');
  }
  return path;
}

export function runService(
  name: string,
  usage: string,
  start: (configPath: string) => Promise<RunningService>,
): void {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    process.stdout.write(usage);
    return;
  }
  const started = async () => {
    const service = await start(configPath(process.argv.slice(2)));
    exitOnSignals(service.stop, (level, message) => service.logger[level](message));
  };
  started().catch((e: unknown) => {
    process.stderr.write(`${startFailure(name, e)}\n`);
    process.exit(startFailureExitCode(e));
  });
}

/** The one line a process prints when it cannot start: its name, the error's code and message. */
export function startFailure(name: string, e: unknown): string {
  const message = e instanceof GovernanceError ? `${e.code}: ${e.message}` : (e as Error).message;
  return `${name}: cannot start: ${message}`;
}
