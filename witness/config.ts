// The witness's configuration: one YAML file plus the listener and log-level overrides every
// service accepts, validated strictly at start-up. Every log key must parse as a Go note verifier
// key (type 0x01, Ed25519), so that a typo stops the start instead of refusing a log at run time.
import { z } from 'zod';
import { nodeCrypto } from '../core/crypto-node.js';
import { GovernanceError } from '../core/errors.js';
import { isValidKeyName, parseVerifierKey } from '../core/note.js';
import { applyServiceEnvironment, readConfigFile, validateConfig } from '../service/config.js';
import type { LogKey } from './witness.js';

const file = z.string().min(1).max(4096);
/** An origin is one line of text (c2sp.org/tlog-checkpoint): no newline, no surrounding space. */
const origin = z
  .string()
  .min(1)
  .max(1024)
  .refine((o) => !o.includes('\n') && o.trim() === o, 'an origin is one line without surrounding spaces');

export const configSchema = z.strictObject({
  /** POST /add-checkpoint, GET /healthz and GET /metrics. */
  http: z
    .strictObject({
      host: z.string().min(1).default('0.0.0.0'),
      port: z.number().int().min(0).max(65_535).default(7380),
    })
    .default({ host: '0.0.0.0', port: 7380 }),
  /** The witness's key name, the name its cosignature lines carry (e.g. witness.example/w1). */
  name: z.string().min(1).max(256).refine(isValidKeyName, 'a key name has no space, "+" or control'),
  /** Its Ed25519 private key (PEM, as `govctl keys generate` writes it). */
  keyFile: file,
  /** Where it records the latest checkpoint it cosigned per origin. */
  stateDir: file,
  /** The logs it witnesses: per origin the verifier keys (name+hash+base64) that sign its checkpoints. */
  logs: z
    .array(z.strictObject({ origin, keys: z.array(z.string().min(1).max(1024)).min(1).max(16) }))
    .max(1024)
    .default([]),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type WitnessConfig = z.output<typeof configSchema>;

function invalid(message: string): never {
  throw new GovernanceError('config.invalid', message);
}

/** The trusted keys per origin; config.invalid naming the log for a duplicate origin or a bad key. */
export function logKeys(config: WitnessConfig): Map<string, LogKey[]> {
  const out = new Map<string, LogKey[]>();
  config.logs.forEach((log, i) => {
    if (out.has(log.origin)) invalid(`logs.${i}.origin: ${JSON.stringify(log.origin)} is listed twice`);
    out.set(
      log.origin,
      log.keys.map((text, j) => {
        try {
          return parseVerifierKey(nodeCrypto, text);
        } catch (e) {
          invalid(`logs.${i}.keys.${j}: ${(e as Error).message}`);
        }
      }),
    );
  });
  return out;
}

/**
 * Validates a parsed configuration after the overrides GOV_WITNESS_HTTP_HOST/PORT and
 * GOV_WITNESS_LOG_LEVEL. The witness uses no Redis: the REDIS_* variables a deployment sets for
 * its other services are not applied here. Throws config.invalid.
 */
export function parseConfig(raw: unknown, env: NodeJS.ProcessEnv = {}): WitnessConfig {
  const own = Object.fromEntries(Object.entries(env).filter(([name]) => !name.startsWith('REDIS_')));
  const { out } = applyServiceEnvironment(raw, own, 'GOV_WITNESS', ['http']);
  const config = validateConfig(configSchema, out);
  logKeys(config);
  return config;
}

/** Reads, parses and validates the YAML file at `path`. Throws config.invalid. */
export function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): WitnessConfig {
  return parseConfig(readConfigFile(path), env);
}
