// Runs sequencer/main.ts as a real process (for the kill -9 tests) from a development
// deployment (devkit/dev-deployment.ts), so it loads its keys through the production loaders.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { base64urlDecode } from '../../core/encoding.js';
import { keyFromPem, rawPublicKey } from '../../core/keys.js';
import type { KeyRecord } from '../../core/registry.js';
import type { LedgerKey, LedgerKeys } from '../../core/chain.js';
import { DEV_LOG, writeDevDeployment } from '../../devkit/dev-deployment.js';
import { PROJECT_ROOT } from '../support/shared.js';

export interface SequencerDeployment {
  dir: string;
  /** The deployment's sequencer.yaml, which spawnSequencer varies. */
  config: string;
  log: string;
  /**
   * The enforcement point's producer key, to write with, the producer it is certified for, and
   * the audit key its writers prove their batches' checkpoints with.
   */
  producer: {
    kid: string;
    subject: string;
    privateKey: KeyObject;
    checkpoints: { auditKeys: () => ReadonlyMap<string, LedgerKey> };
  };
  /** Public keys for the verifier. */
  keys: LedgerKeys;
}

const readJson = <T>(path: string) => JSON.parse(readFileSync(path, 'utf8')) as T;
const publicKeyOf = (record: KeyRecord) => base64urlDecode(record.public_key)!;

export function sequencerDeployment(dir: string, redisUrl: string): SequencerDeployment {
  // At level info: spawnSequencer waits for its 'sequencer serving' line.
  const deployment = writeDevDeployment(dir, { redisUrl, logLevel: 'info' });
  const authz = parse(readFileSync(deployment.files.authzConfig, 'utf8')) as {
    producer: { keyFile: string; certificateFile: string };
  };
  const producerRecords = readJson<KeyRecord[]>(deployment.files.producerRecords);
  const auditKey = keyFromPem(readFileSync(deployment.files.auditKey, 'utf8'));
  const audit = new Map([[deployment.auditKid, { publicKey: rawPublicKey(auditKey) }]]);
  return {
    dir,
    config: deployment.files.sequencerConfig,
    log: DEV_LOG,
    producer: {
      kid: readJson<KeyRecord>(authz.producer.certificateFile).kid,
      subject: readJson<KeyRecord>(authz.producer.certificateFile).subject,
      privateKey: keyFromPem(readFileSync(authz.producer.keyFile, 'utf8')),
      checkpoints: { auditKeys: () => audit },
    },
    keys: {
      producers: new Map(
        producerRecords.map((r) => [r.kid, { publicKey: publicKeyOf(r), subject: r.subject }]),
      ),
      audit,
    },
  };
}

export interface SequencerProcess {
  child: ChildProcess;
  /** Where its HTTP port (health, metrics) answers. */
  url: string;
  /** Its log so far (the last 64 KiB). */
  output(): string;
}

type Settings = Record<string, unknown>;

let variants = 0;

/**
 * The deployment's sequencer.yaml with `settings` over it (a section given is merged into the
 * file's), written beside it; its path.
 */
function configVariant(deployment: SequencerDeployment, settings: Settings): string {
  const config = parse(readFileSync(deployment.config, 'utf8')) as Settings;
  for (const [key, value] of Object.entries(settings)) {
    const base = config[key];
    config[key] =
      typeof value === 'object' && value !== null && typeof base === 'object' && base !== null
        ? { ...base, ...value }
        : value;
  }
  const path = join(deployment.dir, `sequencer-${++variants}.yaml`);
  writeFileSync(path, stringify(config));
  return path;
}

/**
 * Starts `node --import tsx sequencer/main.ts --config <file>`, the file being the deployment's
 * sequencer.yaml with `settings` over it, and resolves once it serves. `env` overrides it as a
 * deployment's environment would (REDIS_MODE…).
 */
export async function spawnSequencer(
  deployment: SequencerDeployment,
  settings: Settings = {},
  env: Record<string, string> = {},
): Promise<SequencerProcess> {
  const config = configVariant(deployment, settings);
  const child = spawn(process.execPath, ['--import', 'tsx', 'sequencer/main.ts', '--config', config], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const collect = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-65_536));
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const port = await new Promise<number>((resolve, reject) => {
    const started = () => {
      const line = /^.*"msg":"sequencer serving".*$/m.exec(output)?.[0];
      if (line === undefined) return;
      child.stdout!.off('data', started);
      child.off('exit', failed);
      resolve((JSON.parse(line) as { http: number }).http);
    };
    const failed = (code: number | null) => reject(new Error(`sequencer exited with ${code}: ${output}`));
    child.stdout!.on('data', started);
    child.once('exit', failed);
  });
  return { child, url: `http://127.0.0.1:${port}`, output: () => output };
}

/** Sends a signal and waits for the process to exit. */
export async function signalAndWait(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  await exited;
}
