// What a producer (authority, enforcement point) trusts a checkpoint by when it proves its own
// batches (ledger/writer.ts): the log's audit keys as the registry publishes them — key records
// of role audit whose subject is the log, certified by a pinned root — re-read every few seconds
// so a rotated audit key is picked up, and the witness policy of its configuration.
import type { LedgerKey } from '../core/chain.js';
import type { WitnessPolicy } from '../core/checkpoint.js';
import type { CryptoSuite } from '../core/crypto.js';
import { parseCosignatureVerifierKey } from '../core/note.js';
import { verifyCertifiedKey, type PinnedRoots } from '../core/registry.js';
import type { RegistryStore } from '../store/types.js';

export interface CheckpointTrust {
  auditKeys: () => ReadonlyMap<string, LedgerKey>;
  witnesses?: WitnessPolicy;
  stop(): void;
}

/** The witness policy of a service's `ledger.witnesses` (threshold 0: none required). */
export function witnessPolicy(
  suite: CryptoSuite,
  config: { threshold: number; keys: string[] },
): WitnessPolicy | undefined {
  if (config.threshold === 0) return undefined;
  return {
    threshold: config.threshold,
    witnesses: config.keys.map((key) => parseCosignatureVerifierKey(suite, key)),
  };
}

export async function followCheckpointTrust(options: {
  suite: CryptoSuite;
  registry: Pick<RegistryStore, 'listKeyRecords'>;
  roots: PinnedRoots;
  log: string;
  witnesses?: WitnessPolicy | undefined;
  refreshMs?: number;
  onError?: (e: unknown) => void;
}): Promise<CheckpointTrust> {
  let keys: ReadonlyMap<string, LedgerKey> = new Map();
  const load = async () => {
    const found = new Map<string, LedgerKey>();
    for (const record of await options.registry.listKeyRecords()) {
      if (record.role !== 'audit' || record.subject !== options.log) continue;
      try {
        const key = verifyCertifiedKey(options.suite, record, options.roots);
        found.set(key.kid, {
          publicKey: key.publicKey,
          validity: { notBefore: key.notBefore, notAfter: key.notAfter },
        });
      } catch (e) {
        options.onError?.(e);
      }
    }
    keys = found;
  };
  await load();
  const timer = setInterval(
    () => load().catch((e: unknown) => options.onError?.(e)),
    options.refreshMs ?? 5000,
  );
  timer.unref();
  return {
    auditKeys: () => keys,
    ...(options.witnesses ? { witnesses: options.witnesses } : {}),
    stop: () => clearInterval(timer),
  };
}
