// Runs sequencer/main.ts as a real process (for the kill -9 tests) from a development
// deployment (devkit/dev-deployment.ts), so it loads its keys through the production loaders.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import { parse } from 'yaml';
import { base64urlDecode } from '../../core/encoding.js';
import { keyFromPem, rawPublicKey } from '../../core/keys.js';
import type { KeyRecord } from '../../core/registry.js';
import type { LedgerKeys } from '../../ledger/records.js';
import { writeDevDeployment } from '../../devkit/dev-deployment.js';
import { PROJECT_ROOT } from '../support/shared.js';

export interface SequencerDeployment {
  /** Environment for sequencer/main (add LEDGER_KEY_PREFIX, LEASE_MS… as needed). */
  env: Record<string, string>;
  log: string;
  /** The enforcement point's producer key, to write with, and the producer it is certified for. */
  producer: { kid: string; subject: string; privateKey: KeyObject };
  /** Public keys for the verifier. */
  keys: LedgerKeys;
}

const readJson = <T>(path: string) => JSON.parse(readFileSync(path, 'utf8')) as T;
const publicKeyOf = (record: KeyRecord) => base64urlDecode(record.public_key)!;

export function sequencerDeployment(dir: string, redisUrl: string): SequencerDeployment {
  const deployment = writeDevDeployment(dir, { redisUrl });
  const authz = parse(readFileSync(deployment.files.authzConfig, 'utf8')) as {
    producer: { keyFile: string; certificateFile: string };
  };
  const producerRecords = readJson<KeyRecord[]>(deployment.files.producerRecords);
  const auditKey = keyFromPem(readFileSync(deployment.files.auditKey, 'utf8'));
  return {
    env: { ...deployment.sequencerEnv, REDIS_URL: redisUrl },
    log: deployment.sequencerEnv.LEDGER_LOG!,
    producer: {
      kid: readJson<KeyRecord>(authz.producer.certificateFile).kid,
      subject: readJson<KeyRecord>(authz.producer.certificateFile).subject,
      privateKey: keyFromPem(readFileSync(authz.producer.keyFile, 'utf8')),
    },
    keys: {
      producers: new Map(
        producerRecords.map((r) => [r.kid, { publicKey: publicKeyOf(r), subject: r.subject }]),
      ),
      audit: new Map([[deployment.auditKid, { publicKey: rawPublicKey(auditKey) }]]),
    },
  };
}

export interface SequencerProcess {
  child: ChildProcess;
  /** Its log so far (the last 64 KiB). */
  output(): string;
}

/** Starts `node --import tsx sequencer/main.ts` and resolves once it has started. */
export async function spawnSequencer(env: Record<string, string>): Promise<SequencerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'sequencer/main.ts'], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const collect = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-65_536));
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  await new Promise<void>((resolve, reject) => {
    const started = () => {
      if (!output.includes('started')) return;
      child.stdout!.off('data', started);
      child.off('exit', failed);
      resolve();
    };
    const failed = (code: number | null) => reject(new Error(`sequencer exited with ${code}: ${output}`));
    child.stdout!.on('data', started);
    child.once('exit', failed);
  });
  return { child, output: () => output };
}

/** Sends a signal and waits for the process to exit. */
export async function signalAndWait(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  await exited;
}
