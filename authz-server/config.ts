// The enforcement point's configuration: one YAML file plus a few environment overrides,
// validated strictly at start-up. Anything unknown, missing or out of range stops the process
// with a message naming the field; there is no permissive fallback and no setting that turns
// denial off.
import { grpcTlsSchema } from '../service/grpc-tls.js';
import { LOG_ID } from '../store/ledger-types.js';
import {
  applyServiceEnvironment,
  ledgerReplication,
  ledgerWitnesses,
  readConfigFile,
  validateConfig,
} from '../service/config.js';
import { hostname } from 'node:os';
import { z } from 'zod';
import { LIMITS } from '../core/artifact.js';
import { GovernanceError } from '../core/errors.js';
import { parseRedisConfig, type RedisConfig } from '../store/redis-connection.js';
import { compileRoutes, type RouteTable } from './routes.js';

const port = z.number().int().min(0).max(65_535);
const listener = (defaultPort: number) =>
  z.strictObject({ host: z.string().min(1).default('0.0.0.0'), port: port.default(defaultPort) });
const printable = z
  .string()
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces')
  .max(256);
const headerName = z
  .string()
  .regex(/^[a-z0-9!#$%&'*+.^_`|~-]+$/, 'must be a lowercase HTTP header name')
  .max(128);
const environmentKeys = ['runtime', 'region', 'tenancy'] as const;

const environmentSchema = z.strictObject({
  runtime: printable,
  region: printable,
  tenancy: printable,
  /**
   * The values Envoy's per-route context_extensions may select instead of the ones above. A
   * context extension equal to the configured value is always accepted; any other key or value
   * denies the Check (environment.mismatch).
   */
  contextExtensions: z
    .strictObject({
      runtime: z.array(printable).max(64).optional(),
      region: z.array(printable).max(64).optional(),
      tenancy: z.array(printable).max(64).optional(),
    })
    .default({}),
});

const identitySchema = z.discriminatedUnion('source', [
  z.strictObject({ source: z.literal('peer-principal') }),
  /** Weaker: trusts whoever sets the header; only behind a gateway that strips it from callers. */
  z.strictObject({ source: z.literal('trusted-header'), header: headerName }),
]);

const routeSchema = z
  .strictObject({
    method: z
      .string()
      .regex(/^[A-Z]{1,16}$/, 'must be an uppercase HTTP method')
      .optional(),
    path: z.string().min(1).max(1024).optional(),
    /** gRPC shorthand: POST /<service>/<method>. */
    grpc: z
      .strictObject({
        service: z.string().regex(/^[A-Za-z_][A-Za-z0-9_.]*$/, 'must be a fully qualified gRPC service'),
        method: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a gRPC method name'),
      })
      .optional(),
    /** Exact :authority match (lowercase, port included when the caller sends one). */
    host: z.string().min(1).max(256).toLowerCase().optional(),
    operation: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9._-]*$/)
      .max(LIMITS.opNameChars),
    policy: printable,
    scope: z
      .array(
        z
          .string()
          .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/)
          .max(LIMITS.scopeEntryChars),
      )
      .max(LIMITS.scopeEntries)
      .default([]),
  })
  .refine((r) => (r.grpc === undefined) !== (r.path === undefined), {
    message: 'a route has either path (with method) or grpc, not both',
  })
  .refine((r) => r.grpc !== undefined || r.method !== undefined, { message: 'an HTTP route needs a method' })
  .refine((r) => r.grpc === undefined || r.method === undefined, {
    message: 'a gRPC route is always POST; leave method out',
  });

const rootKeySchema = z.union([
  z.string().min(1),
  z.strictObject({ kid: z.string().min(1).max(128), file: z.string().min(1) }),
]);

const admissibleSchema = z.strictObject({
  operation: z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9._-]*$/)
    .max(LIMITS.opNameChars),
  policy: printable,
  scope: z.array(z.string().max(LIMITS.scopeEntryChars)).max(LIMITS.scopeEntries).default([]),
});

const runtimeApiSchema = z.strictObject({
  /** Who is calling /runtime/*: behind the workload's sidecar its XFCC header, or a fixed identity. */
  identity: z.discriminatedUnion('source', [
    z.strictObject({ source: z.literal('xfcc') }),
    z.strictObject({ source: z.literal('trusted-header'), header: headerName }),
    z.strictObject({ source: z.literal('fixed'), identity: printable }),
  ]),
  /** Operations /runtime/admit may admit, with the policy each must be bound to. */
  admit: z.array(admissibleSchema).min(1),
  /** How long an admission waits for its one attestation; after that it can no longer be attested. */
  attestWithinSeconds: z.number().int().min(1).max(604_800).default(3600),
  maxBodyBytes: z.number().int().min(1024).max(1_048_576).default(65_536),
});

export const configSchema = z.strictObject({
  grpc: listener(9191)
    .extend({
      /**
       * Each connection's HTTP/2 receive window (RFC 9113 §6.9.2). At the protocol default of
       * 64 KiB a busy Envoy can have only ~50 Checks' bodies on the way: the rest wait in its
       * send queue, where no deadline or shed can see them.
       */
      connectionWindowBytes: z
        .number()
        .int()
        .min(65_535)
        .max(2 ** 31 - 1)
        .default(16 * 1024 * 1024),
      /** TLS on the Check listener (service/grpc-tls.ts); plaintext without it, as behind a mesh sidecar. */
      tls: grpcTlsSchema.optional(),
      /** gRPC server reflection (grpcurl and the like); a hardened deployment may turn it off. */
      reflection: z.boolean().default(true),
    })
    .default({ host: '0.0.0.0', port: 9191, connectionWindowBytes: 16 * 1024 * 1024, reflection: true }),
  http: listener(9192).default({ host: '0.0.0.0', port: 9192 }),
  /** standalone | sentinel | cluster, in store/redis-connection.ts's shape, which validates it. */
  redis: z.looseObject({ mode: z.enum(['standalone', 'sentinel', 'cluster']) }),
  environment: environmentSchema,
  identity: identitySchema,
  trust: z.strictObject({ rootKeys: z.array(rootKeySchema).min(1) }),
  /** Signs this enforcement point's ledger events and attestations; certified by a root (role producer). */
  producer: z
    .strictObject({
      id: printable.default(`authz-server://${hostname()}`),
      keyFile: z.string().min(1).default('/etc/governance/keys/authz-producer.key.pem'),
      certificateFile: z.string().min(1).default('/etc/governance/keys/authz-producer.cert.json'),
    })
    .default({
      id: `authz-server://${hostname()}`,
      keyFile: '/etc/governance/keys/authz-producer.key.pem',
      certificateFile: '/etc/governance/keys/authz-producer.cert.json',
    }),
  /**
   * Enforcement-point processes sharing the ports (node:cluster, authz-server/workers.ts): one
   * per core the process may use. 1 runs a single process.
   */
  workers: z.number().int().min(1).max(64).default(1),
  /** The audit log this enforcement point appends to (the sequencer's log id). */
  ledger: z
    .strictObject({
      log: z.string().regex(LOG_ID),
      ...ledgerReplication,
      ...ledgerWitnesses,
    })
    .default({
      log: 'governance',
      replicas: 0,
      replicaTimeoutMs: 1000,
      witnesses: { threshold: 0, keys: [] },
    }),
  clockSkewSeconds: z.number().int().min(0).max(300).default(5),
  freshness: z.strictObject({
    keysSeconds: z.number().int().min(1).max(3600),
    revocationsSeconds: z.number().int().min(1).max(3600),
    ledgerCommitWindowMs: z.number().int().min(100).max(600_000),
  }),
  /** Every Check is answered within this budget; past it the answer is DENY. */
  decisionDeadlineMs: z.number().int().min(10).max(10_000).default(200),
  /**
   * Overload control (authz-server/overload.ts): decisions in flight at most (the adaptive limit
   * stays between minInFlight and this), and the ledger commit lag above which every decision is
   * shed (default: half the commit window).
   */
  overload: z
    .strictObject({
      maxInFlight: z.number().int().min(1).max(100_000).default(256),
      minInFlight: z.number().int().min(1).max(100_000).default(8),
      maxCommitLagMs: z.number().int().min(1).max(600_000).optional(),
    })
    .refine((o) => o.minInFlight <= o.maxInFlight, { message: 'minInFlight exceeds maxInFlight' })
    .default({ maxInFlight: 256, minInFlight: 8 }),
  /**
   * Verified signatures of bounded and rate artifacts kept, so a reused artifact skips only its
   * Ed25519 verification (never the window, bindings, revocation or use); 0 turns it off.
   */
  signatureCacheEntries: z.number().int().min(0).max(1_000_000).default(10_000),
  limits: z
    .strictObject({
      headers: z.number().int().min(8).max(1024).default(128),
      headerBytes: z.number().int().min(1024).max(1_048_576).default(65_536),
      pathChars: z.number().int().min(16).max(8192).default(2048),
    })
    .default({ headers: 128, headerBytes: 65_536, pathChars: 2048 }),
  routes: z.array(routeSchema).min(1),
  runtimeApi: runtimeApiSchema.optional(),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type AuthzConfigInput = z.input<typeof configSchema>;
export type AuthzConfig = z.output<typeof configSchema>;
export type RouteConfig = AuthzConfig['routes'][number];
export type EnvironmentConfig = AuthzConfig['environment'];
export type RuntimeApiConfig = NonNullable<AuthzConfig['runtimeApi']>;
export { environmentKeys };

/** A validated configuration with its route table compiled. */
export interface LoadedConfig extends Omit<AuthzConfig, 'redis'> {
  redis: RedisConfig;
  routeTable: RouteTable;
}

function invalid(message: string): never {
  throw new GovernanceError('config.invalid', message);
}

/**
 * Environment overrides (service/config.ts): REDIS_URL, GOV_AUTHZ_GRPC_HOST/PORT,
 * GOV_AUTHZ_HTTP_HOST/PORT, GOV_AUTHZ_LOG_LEVEL, GOV_AUTHZ_PRODUCER_ID and GOV_AUTHZ_WORKERS.
 */
function applyEnvironment(raw: unknown, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const { out, section } = applyServiceEnvironment(raw, env, 'GOV_AUTHZ');
  if (env.GOV_AUTHZ_PRODUCER_ID) section('producer').id = env.GOV_AUTHZ_PRODUCER_ID;
  const workers = env.GOV_AUTHZ_WORKERS;
  if (workers) {
    if (!/^\d{1,2}$/.test(workers))
      invalid(`GOV_AUTHZ_WORKERS must be a number of processes, got ${JSON.stringify(workers)}`);
    out.workers = Number(workers);
  }
  return out;
}

/** Validates a parsed configuration object (after environment overrides). Throws config.invalid. */
export function parseConfig(raw: unknown, env: NodeJS.ProcessEnv = {}): LoadedConfig {
  const config = validateConfig(configSchema, applyEnvironment(raw, env));
  let redis: RedisConfig;
  try {
    redis = parseRedisConfig(config.redis);
  } catch (e) {
    invalid(`invalid configuration: ${(e as Error).message}`);
  }
  let routeTable: RouteTable;
  try {
    routeTable = compileRoutes(config.routes);
  } catch (e) {
    invalid(`invalid configuration: routes: ${(e as Error).message}`);
  }
  return { ...config, redis, routeTable };
}

/** Reads, parses and validates the YAML file at `path`. Throws config.invalid. */
export function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  return parseConfig(readConfigFile(path), env);
}
