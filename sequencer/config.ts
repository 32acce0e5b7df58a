// The sequencer's configuration: one YAML file plus the environment overrides every service
// accepts, validated strictly at start-up like the authority's and the enforcement point's.
// Anything unknown, missing or out of range stops the process with a message naming the field.
import { z } from 'zod';
import { nodeCrypto } from '../core/crypto-node.js';
import { GovernanceError } from '../core/errors.js';
import { parseCosignatureVerifierKey } from '../core/note.js';
import { LOG_ID } from '../store/ledger-types.js';
import { parseRedisConfig, type RedisConfig } from '../store/redis-connection.js';
import {
  applyServiceEnvironment,
  ledgerArchive,
  ledgerReplication,
  readConfigFile,
  validateConfig,
} from '../service/config.js';

const KEYS_DIR = '/etc/governance/keys';
const file = z.string().min(1).max(4096);
const rootKeySchema = z.union([file, z.strictObject({ kid: z.string().min(1).max(128), file })]);

export const configSchema = z.strictObject({
  /** Health and metrics (GET /healthz, GET /metrics); the sequencer serves nothing else. */
  http: z
    .strictObject({
      host: z.string().min(1).default('0.0.0.0'),
      port: z.number().int().min(0).max(65_535).default(7090),
    })
    .default({ host: '0.0.0.0', port: 7090 }),
  /** standalone | sentinel | cluster, in store/redis-connection.ts's shape, which validates it. */
  redis: z.looseObject({ mode: z.enum(['standalone', 'sentinel', 'cluster']) }),
  /**
   * The log it chains (the `ledger.log` the authority and the enforcement points append to), and
   * the replicas that must hold a checkpoint's records before it is published (docs/spec/ledger.md §12).
   */
  ledger: z
    .strictObject({
      log: z.string().regex(LOG_ID),
      ...ledgerReplication,
      ...ledgerArchive,
      /**
       * Records kept in Redis below the archive's frontier, for the writers proving recent
       * batches and the readers of recent lineages: at least what the writers append within
       * their commit window (docs/spec/ledger.md §11.6).
       */
      hotRecords: z
        .number()
        .int()
        .min(256)
        .max(1 << 24)
        .default(4096),
      /** And the records of at least this many ms of checkpoints, whatever their number: longer than the writers' commit window. */
      hotMs: z.number().int().min(0).max(86_400_000).default(30_000),
    })
    .default({ log: 'governance', replicas: 0, replicaTimeoutMs: 1000, hotRecords: 4096, hotMs: 30_000 }),
  /**
   * The audit key: signs checkpoints and the ledger's own ledger.rejected events. Its record (role
   * audit, subject the log) is published to the registry, where verifiers find it.
   */
  audit: z
    .strictObject({ keyFile: file, certificateFile: file })
    .default({ keyFile: `${KEYS_DIR}/audit.key.pem`, certificateFile: `${KEYS_DIR}/audit.cert.json` }),
  trust: z
    .strictObject({ rootKeys: z.array(rootKeySchema).min(1) })
    .default({ rootKeys: [`${KEYS_DIR}/root.pub.pem`] }),
  /**
   * A JSON array of key records certified by a root; those of role producer are the keys whose
   * batches it chains. Read again when an unknown kid shows up, so a new producer joins without
   * a restart.
   */
  producerKeysFile: file.default(`${KEYS_DIR}/producers.json`),
  /** Lease time to live: a dead leader is replaced after at most this long. */
  leaseMs: z.number().int().min(300).max(60_000).default(3000),
  /**
   * The replay window (docs/spec/ledger.md §11.4): batches whose events' time is further than
   * this from their arrival in the ingest stream are refused, and chained batches are remembered
   * for two windows. Wider than the producers' clock skew and their commit window.
   */
  replayWindowMs: z
    .number()
    .int()
    .min(10_000)
    .max(7 * 86_400_000)
    .default(600_000),
  /** Cadence of checkpoints while records arrive. */
  headIntervalMs: z.number().int().min(10).max(60_000).default(1000),
  /**
   * Worker threads that open ingest entries while the sequencer's thread chains; 0 opens them on
   * that thread. Give it the cores Redis and that thread leave.
   */
  openWorkers: z.number().int().min(0).max(64).default(0),
  /**
   * The C2SP tlog-witnesses asked to cosign each checkpoint (sequencer/witnesses.ts): each by its
   * key name, submission prefix (http or https) and cosignature verifier key (type 0x04). A
   * checkpoint is witnessed with at least `threshold` of their cosignatures.
   */
  witnesses: z
    .strictObject({
      threshold: z.number().int().min(0).max(64).default(0),
      list: z
        .array(
          z.strictObject({
            name: z.string().min(1).max(256),
            url: z
              .string()
              .max(2048)
              .refine(
                (u) => URL.canParse(u) && ['http:', 'https:'].includes(new URL(u).protocol),
                'must be an http:// or https:// URL',
              ),
            key: z.string().min(1).max(1024),
          }),
        )
        .max(64)
        .default([]),
    })
    .superRefine((w, ctx) => {
      if (w.threshold > w.list.length) {
        ctx.addIssue({
          code: 'custom',
          path: ['threshold'],
          message: `${w.threshold} is more than the ${w.list.length} witnesses listed`,
        });
      }
      const names = new Set<string>();
      w.list.forEach((witness, i) => {
        if (names.has(witness.name)) {
          ctx.addIssue({ code: 'custom', path: ['list', i, 'name'], message: 'is listed twice' });
        }
        names.add(witness.name);
        try {
          const key = parseCosignatureVerifierKey(nodeCrypto, witness.key);
          if (key.name !== witness.name) {
            ctx.addIssue({ code: 'custom', path: ['list', i, 'key'], message: `is named ${key.name}` });
          }
        } catch (e) {
          ctx.addIssue({ code: 'custom', path: ['list', i, 'key'], message: (e as Error).message });
        }
      });
    })
    .default({ threshold: 0, list: [] }),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type SequencerConfig = Omit<z.output<typeof configSchema>, 'redis'> & { redis: RedisConfig };

/**
 * Validates a parsed configuration after the environment overrides (service/config.ts): REDIS_URL
 * or REDIS_MODE…, GOV_SEQUENCER_HTTP_HOST/PORT and GOV_SEQUENCER_LOG_LEVEL. Throws config.invalid.
 */
export function parseConfig(raw: unknown, env: NodeJS.ProcessEnv = {}): SequencerConfig {
  const { out } = applyServiceEnvironment(raw, env, 'GOV_SEQUENCER', ['http']);
  const config = validateConfig(configSchema, out);
  let redis: RedisConfig;
  try {
    redis = parseRedisConfig(config.redis);
  } catch (e) {
    throw new GovernanceError('config.invalid', `invalid configuration: ${(e as Error).message}`);
  }
  return { ...config, redis };
}

/** Reads, parses and validates the YAML file at `path`. Throws config.invalid. */
export function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): SequencerConfig {
  return parseConfig(readConfigFile(path), env);
}
