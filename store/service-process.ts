// The process shell every production entry point shares (configuration file and environment
// overrides, start-up and shutdown): `--config <file>` from the command
// line, a precise message and exit 1 when start-up fails (a service never starts permissive),
// and an orderly stop on SIGTERM or SIGINT.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { GovernanceError } from '../core/errors.js';

export interface RunningService {
  logger: { info(fields: object, message: string): void };
  stop(): Promise<void>;
}

function configPath(argv: string[]): string {
  const i = argv.indexOf('--config');
  const path = i >= 0 ? argv[i + 1] : undefined;
  if (path === undefined || path.startsWith('--')) {
    throw new GovernanceError('config.invalid', 'usage: main.js --config <file.yaml>');
  }
  return path;
}

export function runService(name: string, start: (configPath: string) => Promise<RunningService>): void {
  const started = async () => {
    const service = await start(configPath(process.argv.slice(2)));
    let stopping = false;
    const shutdown = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      service.logger.info({ signal }, 'shutting down');
      await service.stop();
      process.exit(0);
    };
    process.once('SIGTERM', (s) => void shutdown(s));
    process.once('SIGINT', (s) => void shutdown(s));
  };
  started().catch((e: unknown) => {
    const message = e instanceof GovernanceError ? `${e.code}: ${e.message}` : (e as Error).message;
    process.stderr.write(`${name}: cannot start: ${message}\n`);
    process.exit(1);
  });
}

function invalid(message: string): never {
  throw new GovernanceError('config.invalid', message);
}

/** A service's YAML configuration file, parsed strictly (no duplicate keys, few aliases). */
export function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    invalid(`cannot read configuration file ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  try {
    return parseYaml(text, { uniqueKeys: true, maxAliasCount: 16 });
  } catch (e) {
    invalid(`configuration file ${path} is not valid YAML: ${(e as Error).message}`);
  }
}

export interface Overrides {
  /** The raw configuration with the overrides applied (validated afterwards, like the file). */
  out: Record<string, unknown>;
  /** A copy of section `key` of `out`, created when absent, to set overrides in. */
  section(key: string): Record<string, unknown>;
}

/**
 * The environment overrides every service accepts, applied before validation: REDIS_URL (for a
 * standalone connection only: it names one server), <PREFIX>_GRPC_HOST/PORT,
 * <PREFIX>_HTTP_HOST/PORT and <PREFIX>_LOG_LEVEL.
 */
export function applyServiceEnvironment(raw: unknown, env: NodeJS.ProcessEnv, prefix: string): Overrides {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    invalid('the configuration must be a mapping');
  const out: Record<string, unknown> = { ...(raw as Record<string, unknown>) };
  const section = (key: string): Record<string, unknown> => {
    const value = out[key];
    const copy = value !== null && typeof value === 'object' && !Array.isArray(value) ? { ...value } : {};
    out[key] = copy;
    return copy;
  };
  const redis = out.redis as Record<string, unknown> | undefined;
  if (env.REDIS_URL && (redis?.mode ?? 'standalone') === 'standalone') section('redis').url = env.REDIS_URL;
  for (const listener of ['grpc', 'http'] as const) {
    const name = `${prefix}_${listener.toUpperCase()}`;
    const host = env[`${name}_HOST`];
    const port = env[`${name}_PORT`];
    if (host) section(listener).host = host;
    if (port) {
      if (!/^\d{1,5}$/.test(port)) invalid(`${name}_PORT must be a port number, got ${JSON.stringify(port)}`);
      section(listener).port = Number(port);
    }
  }
  const logLevel = env[`${prefix}_LOG_LEVEL`];
  if (logLevel) out.logLevel = logLevel;
  return { out, section };
}

/** Validates with a zod schema; every problem is named by its path in one config.invalid. */
export function validateConfig<T extends z.ZodType>(schema: T, raw: unknown): z.output<T> {
  const result = schema.safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues.map(
      (issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(root)'}: ${issue.message}`,
    );
    invalid(`invalid configuration: ${problems.join('; ')}`);
  }
  return result.data;
}
