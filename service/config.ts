// A service's configuration: its YAML file read strictly, the environment overrides every service
// accepts (where Redis is, the listeners, the log level), validation naming every problem, and the
// settings all services share.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { GovernanceError } from '../core/errors.js';
import { parseRedisConfig, redisLocation, type RedisConfig } from '../store/redis-connection.js';
import type { Listener } from './process.js';

function invalid(message: string): never {
  throw new GovernanceError('config.invalid', message);
}

/** A file a configuration names (a certificate, a key, a CA), read whole; config.invalid if it cannot be. */
export function readConfiguredFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    invalid(`cannot read the ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
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

/** The members of a Redis config that say where Redis is (store/redis-connection.ts). */
const TOPOLOGY_KEYS = ['mode', 'url', 'sentinels', 'name', 'nodes'] as const;

/** Which variable moves a service's Redis away from its file's: REDIS_MODE, or REDIS_URL (standalone only). */
function redisOverride(env: NodeJS.ProcessEnv, mode: unknown): 'REDIS_MODE' | 'REDIS_URL' | undefined {
  if (env.REDIS_MODE) return 'REDIS_MODE';
  if (env.REDIS_URL && mode === 'standalone') return 'REDIS_URL';
  return undefined;
}

/**
 * What a service logs at start-up about its Redis: where it is (no credentials) and what said so,
 * its configuration file or the environment overriding it (REDIS_URL or REDIS_MODE: one set of
 * variables serves a deployment's three processes, so an inherited one moves them all).
 */
export function redisInUse(config: RedisConfig, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const override = redisOverride(env, config.mode);
  return { ...redisLocation(config), from: override ? `environment (${override})` : 'configuration file' };
}

/**
 * The environment overrides every service accepts, applied before validation: REDIS_MODE with
 * the variables of redisConfigFromEnvironment (the whole Redis topology, so all three processes
 * of a deployment can share one set), or REDIS_URL alone (for a standalone connection only: it
 * names one server), <PREFIX>_GRPC_HOST/PORT and <PREFIX>_HTTP_HOST/PORT for the listeners the
 * service has, and <PREFIX>_LOG_LEVEL.
 */
export function applyServiceEnvironment(
  raw: unknown,
  env: NodeJS.ProcessEnv,
  prefix: string,
  listeners: readonly Listener[] = ['grpc', 'http'],
): Overrides {
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
  const override = redisOverride(env, redis?.mode ?? 'standalone');
  if (override === 'REDIS_MODE') {
    // The variables of redisConfigFromEnvironment name the whole topology; the file's
    // other Redis settings (key prefix, timeouts, TLS) stay.
    const topology = redisConfigFromEnvironment(env) as Record<string, unknown>;
    const target = section('redis');
    for (const key of TOPOLOGY_KEYS) delete target[key];
    for (const key of TOPOLOGY_KEYS) if (topology[key] !== undefined) target[key] = topology[key];
  } else if (override === 'REDIS_URL') section('redis').url = env.REDIS_URL;
  for (const listener of listeners) {
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

/** `host:port[,host:port…]` (an IPv6 host in brackets: `[::1]:6379`). */
function endpoints(name: string, text: string): { host: string; port: number }[] {
  return text.split(',').map((item) => {
    const match = /^\s*(?:\[([^\]]+)\]|([^\s:,[\]]+)):(\d{1,5})\s*$/.exec(item);
    if (!match) invalid(`${name} must be host:port[,host:port…], got ${JSON.stringify(item)}`);
    return { host: match[1] ?? match[2]!, port: Number(match[3]) };
  });
}

/**
 * A Redis connection from the environment alone, as REDIS_MODE overrides a service's file:
 *   REDIS_MODE           standalone (default), sentinel or cluster
 *   REDIS_URL            standalone: the server, redis://… or rediss://…
 *   REDIS_SENTINELS      sentinel: host:port[,host:port…] of the Sentinels
 *   REDIS_SENTINEL_NAME  sentinel: the name of the master they monitor
 *   REDIS_CLUSTER_NODES  cluster: host:port[,host:port…] of some of its nodes
 * The other mode's variables must not be set (config.invalid names them), so that a deployment
 * never connects somewhere other than it says.
 */
export function redisConfigFromEnvironment(env: NodeJS.ProcessEnv): RedisConfig {
  const mode = env.REDIS_MODE || 'standalone';
  const variables: Record<string, string[]> = {
    standalone: ['REDIS_URL'],
    sentinel: ['REDIS_SENTINELS', 'REDIS_SENTINEL_NAME'],
    cluster: ['REDIS_CLUSTER_NODES'],
  };
  const own = variables[mode];
  if (!own) invalid(`REDIS_MODE must be standalone, sentinel or cluster, got ${JSON.stringify(mode)}`);
  for (const name of own) if (!env[name]) invalid(`${name} must be set (REDIS_MODE ${mode})`);
  const foreign = Object.values(variables)
    .flat()
    .filter((name) => !own.includes(name) && env[name]);
  if (foreign.length > 0) invalid(`${foreign.join(', ')} cannot be used with REDIS_MODE ${mode}`);
  const config =
    mode === 'sentinel'
      ? { mode, sentinels: endpoints('REDIS_SENTINELS', env.REDIS_SENTINELS!), name: env.REDIS_SENTINEL_NAME }
      : mode === 'cluster'
        ? { mode, nodes: endpoints('REDIS_CLUSTER_NODES', env.REDIS_CLUSTER_NODES!) }
        : { mode, url: env.REDIS_URL };
  return parseRedisConfig(config);
}

/**
 * The `ledger` settings every service's writer shares: replicas that must acknowledge (Redis
 * WAIT) each ingest append before it counts as written, and how long to wait for them. 0 (the
 * default) for a Redis without replicas; see docs/spec/ledger.md §12.
 */
export const ledgerReplication = {
  replicas: z.number().int().min(0).max(16).default(0),
  replicaTimeoutMs: z.number().int().min(10).max(60_000).default(1000),
};

/**
 * Where the sealed log is archived (docs/spec/ledger.md §11.6): a directory (a volume) or an S3
 * bucket, whose credentials come from the AWS SDK's default chain (environment, web identity,
 * instance role), never from this file. The sequencer writes it and trims Redis to `hotRecords`
 * below it; the authority reads it for the proofs and exports of trimmed records. Absent: Redis
 * keeps every record.
 */
export const ledgerArchive = {
  archive: z
    .discriminatedUnion('type', [
      z.strictObject({ type: z.literal('fs'), dir: z.string().min(1).max(4096) }),
      z.strictObject({
        type: z.literal('s3'),
        bucket: z.string().min(3).max(63),
        prefix: z.string().max(256).optional(),
        region: z.string().min(1).max(64).optional(),
        endpoint: z.url().max(2048).optional(),
        forcePathStyle: z.boolean().optional(),
      }),
    ])
    .optional(),
};

export type LedgerArchiveConfig = NonNullable<z.output<typeof ledgerArchive.archive>>;

/**
 * The witness policy a producer holds the log's checkpoints to when it proves its own batches
 * (docs/spec/ledger.md §7.3): cosignatures of `threshold` of these witnesses (C2SP cosigner
 * verifier keys). Threshold 0 (dev mode) requires none.
 */
export const ledgerWitnesses = {
  witnesses: z
    .strictObject({
      threshold: z.number().int().min(0).max(64),
      keys: z.array(z.string().min(1).max(1024)).max(64),
    })
    .refine((w) => w.threshold <= w.keys.length, 'threshold exceeds the number of witness keys')
    .default({ threshold: 0, keys: [] }),
};

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
