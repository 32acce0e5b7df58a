// The authority's configuration: one YAML file plus a few environment overrides, validated
// strictly at start-up. Anything unknown, missing or out of range stops the process with a
// message naming the field. The shape extends the provisional one of envoy/config/authority.yaml
// (grpc, http, redis, issuer, audit, policies); the additions have defaults matching the
// shipped key layout (envoy/keys/README.md), so that file stays valid as written.
import { grpcTlsSchema } from '../service/grpc-tls.js';
import { LOG_ID } from '../store/ledger-types.js';
import {
  applyServiceEnvironment,
  ledgerArchive,
  ledgerReplication,
  ledgerWitnesses,
  readConfigFile,
  validateConfig,
} from '../service/config.js';
import { z } from 'zod';
import { LIMITS } from '../core/artifact.js';
import { GovernanceError } from '../core/errors.js';
import { parseRedisConfig, type RedisConfig } from '../store/redis-connection.js';
import { POLICY_REF } from './policy.js';

const KEYS_DIR = '/etc/governance/keys';
const port = z.number().int().min(0).max(65_535);
const file = z.string().min(1).max(4096);
const printable = z
  .string()
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces')
  .max(LIMITS.stringChars);

const tlsSchema = z.strictObject({
  certFile: file,
  keyFile: file,
  /** The CA that client certificates must chain to (the mesh or SPIRE trust bundle). */
  clientCaFile: file,
});

const listener = (defaultPort: number) =>
  z.strictObject({
    host: z.string().min(1).default('0.0.0.0'),
    port: port.default(defaultPort),
    tls: tlsSchema.optional(),
  });

const keyPair = z.strictObject({ keyFile: file, certificateFile: file });

const rootKeySchema = z.union([file, z.strictObject({ kid: z.string().min(1).max(128), file })]);

export const configSchema = z.strictObject({
  grpc: z
    .strictObject({
      host: z.string().min(1).default('0.0.0.0'),
      port: port.default(7070),
      /** Read again while serving (service/grpc-tls.ts); client certificates identify callers. */
      tls: grpcTlsSchema.extend({ clientCaFile: file }).optional(),
      /** gRPC server reflection (grpcurl and the like); a hardened deployment may turn it off. */
      reflection: z.boolean().default(true),
    })
    .default({ host: '0.0.0.0', port: 7070, reflection: true }),
  http: listener(7080).default({ host: '0.0.0.0', port: 7080 }),
  /** Validated by store/redis-connection.ts (standalone, sentinel or cluster). */
  redis: z.unknown(),
  issuer: z.strictObject({
    /** The `iss` of every artifact and the subject its key records must name. */
    id: printable,
    keyFile: file,
    certificateFile: file,
    /** Further issuer keys this authority holds, for rotation (admin.key.rotate). */
    standby: z.array(keyPair).max(16).default([]),
  }),
  /** This authority's ledger producer key (role producer, subject producerId). */
  audit: z.strictObject({
    keyFile: file,
    certificateFile: file.default(`${KEYS_DIR}/authority-producer.cert.json`),
  }),
  /** The `producer` of this authority's ledger events; by default the audit certificate's subject. */
  producerId: printable.optional(),
  trust: z
    .strictObject({ rootKeys: z.array(rootKeySchema).min(1) })
    .default({ rootKeys: [`${KEYS_DIR}/root.pub.pem`] }),
  /** Policy files published at start; activated when their ref has no active version yet. */
  policies: z.array(file).max(256).default([]),
  admin: z
    .strictObject({ policy: z.string().regex(POLICY_REF, 'must be a policy ref') })
    .default({ policy: 'policy://governance/admin/v1' }),
  identity: z
    .strictObject({
      /** Only SPIFFE IDs in these trust domains are accepted (all, when empty). */
      trustDomains: z
        .array(z.string().regex(/^[a-z0-9._-]{1,255}$/))
        .max(64)
        .default([]),
      /** Development only: bearer tokens, configured as the hex SHA-256 of each token. */
      devTokens: z
        .array(
          z.strictObject({
            identity: printable,
            sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be hex SHA-256'),
          }),
        )
        .max(1024)
        .default([]),
    })
    .default({ trustDomains: [], devTokens: [] }),
  ledger: z
    .strictObject({
      log: z.string().regex(LOG_ID),
      commitWindowMs: z.number().int().min(100).max(600_000).default(5000),
      ...ledgerReplication,
      ...ledgerWitnesses,
      // The archive of trimmed records, read for proofs and exports (the sequencer writes it).
      ...ledgerArchive,
    })
    .default({
      log: 'governance',
      commitWindowMs: 5000,
      replicas: 0,
      replicaTimeoutMs: 1000,
      witnesses: { threshold: 0, keys: [] },
    }),
  proof: z
    .strictObject({
      /**
       * Identities (SPIFFE IDs, or dev-token identities) that may read the openings of committed
       * ledger members at /v1/proof/openings/<seq> (docs/spec/ledger.md §3.1); nobody by default.
       */
      openingReaders: z.array(printable).max(1024).default([]),
    })
    .default({ openingReaders: [] }),
  heartbeatMs: z.number().int().min(100).max(60_000).default(1000),
  /** Above this age of its registry view the authority issues nothing. */
  maxRegistryAgeMs: z.number().int().min(1000).max(600_000).default(10_000),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type AuthorityConfig = Omit<z.output<typeof configSchema>, 'redis'> & { redis: RedisConfig };

function invalid(message: string): never {
  throw new GovernanceError('config.invalid', message);
}

/**
 * Environment overrides (service/config.ts): REDIS_URL, GOV_AUTHORITY_GRPC_HOST/PORT,
 * GOV_AUTHORITY_HTTP_HOST/PORT, GOV_AUTHORITY_LOG_LEVEL, and GOV_AUTHORITY_PRODUCER_ID.
 */
function applyEnvironment(raw: unknown, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const { out } = applyServiceEnvironment(raw, env, 'GOV_AUTHORITY');
  if (env.GOV_AUTHORITY_PRODUCER_ID) out.producerId = env.GOV_AUTHORITY_PRODUCER_ID;
  return out;
}

/** Validates a parsed configuration (after environment overrides). Throws config.invalid. */
export function parseConfig(raw: unknown, env: NodeJS.ProcessEnv = {}): AuthorityConfig {
  const config = validateConfig(configSchema, applyEnvironment(raw, env));
  let redis: RedisConfig;
  try {
    redis = parseRedisConfig(config.redis);
  } catch (e) {
    invalid(`invalid configuration: ${(e as Error).message}`);
  }
  return { ...config, redis };
}

/** Reads, parses and validates the YAML file at `path`. Throws config.invalid. */
export function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): AuthorityConfig {
  return parseConfig(readConfigFile(path), env);
}
