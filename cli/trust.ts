// What govctl trusts when it verifies: pinned root keys (--root), and the key records they
// certify (from the public proof endpoint, a Redis registry or --key-records files), or audit
// keys given directly (--audit-key). Records that no given root certifies are left out and
// reported: whatever they signed then fails to verify.
import type { Command } from 'commander';
import { keyFromPem, rawPublicKey } from '../core/keys.js';
import type { KeyRecord, VerifiedKey } from '../core/registry.js';
import { ledgerKeysOf, type LedgerKey, type LedgerKeys } from '../core/chain.js';
import { nodeCrypto } from '../core/crypto-node.js';
import { verifyCertifiedKey } from '../core/registry.js';
import { readRoots } from '../service/keys.js';
import { collect, pairs, proofGet, readText, type ProofOptions } from './options.js';
import { CliError } from './output.js';

export interface TrustOptions {
  root: string[];
  keyRecords: string[];
  auditKey: string[];
}

export function addTrustOptions(command: Command): Command {
  return command
    .option('--root <[kid=]file>', 'a pinned root public key (PEM), repeatable', collect, [])
    .option('--key-records <file>', 'key records (a JSON record or array), repeatable', collect, [])
    .option('--audit-key <kid=file>', 'an audit public key (PEM) trusted directly, repeatable', collect, []);
}

export interface Trust extends LedgerKeys {
  /** Every certified key by kid (issuer keys verify heartbeats). */
  keys: Map<string, VerifiedKey>;
  /** Kids of records no given root certifies. */
  uncertified: string[];
}

function readRecords(path: string): KeyRecord[] {
  let value: unknown;
  try {
    value = JSON.parse(readText(path, 'key records'));
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(`${path} is not JSON`);
  }
  return (Array.isArray(value) ? value : [value]) as KeyRecord[];
}

/** What the trust options name on this machine, read first: a typo in a path is a usage error whatever the network does. */
export interface TrustFiles {
  roots: ReturnType<typeof readRoots>;
  records: KeyRecord[];
  /** --audit-key: trusted at any time (no validity). */
  audit: [string, LedgerKey][];
}

export function readTrustFiles(opts: TrustOptions): TrustFiles {
  if (opts.root.length === 0 && opts.auditKey.length === 0)
    throw new CliError(
      'give the root key to trust (--root, e.g. <dev folder>/keys/root.pub.pem) or --audit-key',
    );
  // kid=file pins a root under its kid; a bare file pins it for whatever root_kid a record names.
  const roots = readRoots(
    opts.root.map((entry) => {
      const i = entry.indexOf('=');
      return i > 0 ? { kid: entry.slice(0, i), file: entry.slice(i + 1) } : entry;
    }),
  );
  return {
    roots,
    records: opts.keyRecords.flatMap(readRecords),
    audit: pairs(opts.auditKey, '--audit-key').map(([kid, file]) => [
      kid,
      { publicKey: rawPublicKey(keyFromPem(readText(file, 'audit key'))) },
    ]),
  };
}

/** Checks every record against the roots; `fetched` are records from the proof endpoint or a registry. */
export function trustOf(files: TrustFiles, fetched: KeyRecord[] = []): Trust {
  const keys = new Map<string, VerifiedKey>();
  const uncertified: string[] = [];
  for (const record of [...files.records, ...fetched]) {
    try {
      const key = verifyCertifiedKey(nodeCrypto, record, files.roots);
      keys.set(key.kid, key);
    } catch {
      uncertified.push(String(record?.kid));
    }
  }
  const { producers, audit } = ledgerKeysOf(keys.values());
  return { keys, uncertified, producers, audit: new Map([...audit, ...files.audit]) };
}

/** Trust from the roots given and the key records the authority publishes (/v1/proof/issuers). */
export async function trustFromProof(
  opts: TrustOptions & ProofOptions,
  files: TrustFiles = readTrustFiles(opts),
): Promise<Trust> {
  const fetched =
    opts.root.length > 0 ? (await proofGet<{ keys: KeyRecord[] }>(opts, '/v1/proof/issuers')).keys : [];
  return trustOf(files, fetched);
}
