// What the authority's parts share (authority.ts composes them): its dependencies, the registry
// view, the clock and the ledger event shape. Every outcome is written to the ledger before the
// caller hears it; a denial whose ledger write fails is still a denial.
import { randomBytes, randomFillSync } from 'node:crypto';
import { pino, type Logger } from 'pino';
import type { Signer } from '../core/crypto.js';
import type { Code } from '../core/errors.js';
import type { EventType, LedgerEvent } from '../core/event.js';
import type { KeyRecord } from '../core/registry.js';
import { formatMillis } from '../core/time.js';
import type { LedgerProofReader, LedgerWriter } from '../ledger/types.js';
import type { PolicyVersion, RegistryStore } from '../store/types.js';
import type { PinnedRoots } from '../core/registry.js';
import type { IssuerKeyring } from './keys.js';
import { AuthorityMetrics } from './metrics.js';
import type { CompiledPolicy, PolicyProblem } from './policy.js';
import { RegistryState } from './registry-state.js';
import { MemoryRuntimeRegistry, type RuntimeRegistry } from './runtimes.js';

export interface AuthorityDeps {
  /** The `iss` of every artifact, e.g. governance://11-11/authority/prod. */
  issuerId: string;
  /** The `producer` of this authority's ledger events, e.g. authority://pod-7f9c. */
  producerId: string;
  registry: RegistryStore;
  ledger: LedgerWriter;
  reader: LedgerProofReader;
  keyring: IssuerKeyring;
  roots: PinnedRoots;
  /** The ref of the policy that governs administration. */
  adminPolicy: string;
  /** Epoch milliseconds. */
  clock?: () => number;
  random?: (bytes: number) => Uint8Array;
  runtimes?: RuntimeRegistry;
  logger?: Logger;
  metrics?: AuthorityMetrics;
  /** Registry heartbeat period; enforcement points deny everything when it goes stale. */
  heartbeatMs?: number;
  /** Above this age of the registry view the authority issues nothing (issuer.unavailable). */
  maxRegistryAgeMs?: number;
  /** Policy documents from the configuration: published at start, activated if their ref has no active version. */
  bootstrapPolicies?: { name: string; source: string }[];
  /** Further certified records to publish at start (the producer key of this authority's events). */
  keyRecords?: KeyRecord[];
  /**
   * Authenticated identities that may read the openings of committed ledger members
   * (docs/spec/ledger.md §3.1) from the proof endpoint; nobody when empty (the default).
   */
  openingReaders?: readonly string[];
}

export interface Denied {
  ok: false;
  reason: Code;
  message: string;
  /** Where a refused policy document is wrong. */
  problems?: PolicyProblem[];
}

export type Outcome<T> = { ok: true; value: T } | Denied;

const DEFAULT_HEARTBEAT_MS = 1000;
const DEFAULT_MAX_REGISTRY_AGE_MS = 10_000;

/** Event strings are printable ASCII of bounded length; messages may quote rejected input. */
export function eventText(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, 480);
}

/**
 * Registry records are built by core functions that take a synchronous sign function, while the
 * Signer is asynchronous (a KMS or HSM may sit behind it). The statement is captured in a first
 * pass and signed, and the record is built again with that signature.
 */
export async function signRecord<T>(
  signer: Signer,
  build: (sign: (message: Uint8Array) => Uint8Array) => T,
): Promise<T> {
  let statement: Uint8Array | undefined;
  build((message) => {
    statement = message;
    return new Uint8Array(64);
  });
  const signature = await signer.sign(statement!);
  return build(() => signature);
}

/**
 * Random bytes drawn from a 4 KiB pool refilled from the CSPRNG: one system call per 256 nonces
 * instead of one per artifact. Each call gets its own copy.
 */
function pooledRandom(): (bytes: number) => Uint8Array {
  const pool = Buffer.alloc(4096);
  let offset = pool.length;
  return (bytes) => {
    if (bytes > pool.length) return new Uint8Array(randomBytes(bytes));
    if (offset + bytes > pool.length) {
      randomFillSync(pool);
      offset = 0;
    }
    const out = new Uint8Array(pool.subarray(offset, offset + bytes));
    offset += bytes;
    return out;
  };
}

export class AuthorityContext {
  readonly metrics: AuthorityMetrics;
  readonly state: RegistryState;
  readonly clock: () => number;
  readonly random: (bytes: number) => Uint8Array;
  readonly log: Logger;
  readonly runtimes: RuntimeRegistry;
  readonly heartbeatMs: number;
  readonly maxRegistryAgeMs: number;

  constructor(readonly deps: AuthorityDeps) {
    this.clock = deps.clock ?? Date.now;
    this.random = deps.random ?? pooledRandom();
    this.log = deps.logger ?? pino({ level: 'silent' });
    this.metrics = deps.metrics ?? new AuthorityMetrics({ ledger: deps.ledger });
    this.runtimes = deps.runtimes ?? new MemoryRuntimeRegistry();
    this.heartbeatMs = deps.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    this.maxRegistryAgeMs = deps.maxRegistryAgeMs ?? DEFAULT_MAX_REGISTRY_AGE_MS;
    this.state = new RegistryState({
      store: deps.registry,
      roots: deps.roots,
      clock: this.clock,
      blockMs: Math.min(1000, this.heartbeatMs),
      onProblem: (message) => this.problem('registry', message),
    });
  }

  problem(kind: string, message: string): void {
    this.metrics.problems.inc({ kind });
    this.log.warn({ kind }, message);
  }

  event(type: EventType, fields: Omit<LedgerEvent, 'v' | 'type' | 'time' | 'producer'>): LedgerEvent {
    return { v: '1', type, time: formatMillis(this.clock()), producer: this.deps.producerId, ...fields };
  }

  /** Appends a denial; a failure is counted and logged, and the denial stands. */
  async appendDenial(event: LedgerEvent): Promise<void> {
    try {
      await this.deps.ledger.append([event]);
    } catch (e) {
      this.problem('ledger', `a denial could not be ledgered: ${(e as Error).message}`);
    }
  }

  versionOf(policy: CompiledPolicy): PolicyVersion {
    return {
      ref: policy.ref,
      hash: policy.hash,
      document: policy.document,
      published_at: formatMillis(this.clock()),
    };
  }
}
