// The authority's view of the registry: the active version of each policy (compiled), and the
// verified revocation set. Loaded at start and kept current by following the change stream, so
// several authority replicas agree on what is active and revoked. Nothing is taken on the store's
// word: a stored policy counts only if its document hashes to its hash and compiles, and a
// revocation only if a root-certified issuer key signed it (the enforcement point's rule), so
// the count in the heartbeat is a count every enforcement point can reach.
import { nodeCrypto } from '../core/crypto-node.js';
import { verifyRevocation, type RevocationRecord, type VerifiedKey } from '../core/registry.js';
import type { RegistryStore } from '../store/types.js';
import { ChangesTrimmedError } from '../store/registry-rules.js';
import { verifyCertifiedKey, type PinnedRoots } from '../core/registry.js';
import { compilePolicy, type CompiledPolicy } from './policy.js';

export interface RegistryStateOptions {
  store: RegistryStore;
  roots: PinnedRoots;
  /** Epoch milliseconds. */
  clock: () => number;
  /** How long one change-stream read may block; also bounds how stale a quiet view can look. */
  blockMs: number;
  onProblem: (message: string) => void;
}

const CHANGE_BATCH = 512;
const RETRY_MS = 250;

export class RegistryState {
  private compiled = new Map<string, CompiledPolicy>();
  private active = new Map<string, CompiledPolicy>();
  private issuerKeys = new Map<string, VerifiedKey>();
  private revokedArtifacts = new Set<string>();
  private revokedKids = new Set<string>();
  private syncedAt = Number.NEGATIVE_INFINITY;
  private cursor = '0';
  private stopped = false;
  private following: Promise<void> | undefined;
  private wake: (() => void) | undefined;

  constructor(private readonly options: RegistryStateOptions) {}

  /** Loads everything (throws if the store cannot be read), then follows changes until stop(). */
  async start(): Promise<void> {
    const started = this.options.clock();
    await this.drainBacklog();
    await this.loadAll();
    this.syncedAt = started;
    this.following = this.follow();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.following;
  }

  /** Milliseconds since the view last matched the store. */
  ageMs(now: number = this.options.clock()): number {
    return now - this.syncedAt;
  }

  activePolicy(ref: string): CompiledPolicy | undefined {
    return this.active.get(ref);
  }

  activePolicies(): CompiledPolicy[] {
    return [...this.active.values()];
  }

  isKidRevoked(kid: string): boolean {
    return this.revokedKids.has(kid);
  }

  revocationCount(): number {
    return this.revokedArtifacts.size + this.revokedKids.size;
  }

  /** Applies what this authority itself just stored, without waiting for the change stream. */
  applyRevocation(record: RevocationRecord): void {
    if ('artifact_id' in record.target) this.revokedArtifacts.add(record.target.artifact_id);
    else this.revokedKids.add(record.target.kid);
  }

  applyActivation(policy: CompiledPolicy): void {
    this.compiled.set(policy.hash, policy);
    this.active.set(policy.ref, policy);
  }

  /** A key record this authority published (its own issuer keys verify its own revocations). */
  applyKey(key: VerifiedKey): void {
    if (key.role === 'issuer') this.issuerKeys.set(key.kid, key);
  }

  private async drainBacklog(): Promise<void> {
    for (;;) {
      const batch = await this.options.store.changes(this.cursor, CHANGE_BATCH, 0);
      this.cursor = batch.cursor;
      if (batch.changes.length < CHANGE_BATCH) return;
    }
  }

  private async follow(): Promise<void> {
    const { store, clock } = this.options;
    while (!this.stopped) {
      const started = clock();
      try {
        const batch = await store.changes(this.cursor, CHANGE_BATCH, this.options.blockMs);
        const kinds = new Set(batch.changes.map((c) => c.kind));
        this.cursor = batch.cursor;
        if (kinds.has('key')) await this.loadKeys();
        if (kinds.has('key') || kinds.has('revocation')) await this.loadRevocations();
        if (kinds.has('activation') || kinds.has('policy')) await this.loadPolicies();
        this.syncedAt = started;
      } catch (e) {
        this.options.onProblem(`registry sync failed: ${(e as Error).message}`);
        if (e instanceof ChangesTrimmedError) {
          // The stream was trimmed past our cursor: reload the snapshot, then follow from the newest change.
          this.cursor = e.resumeCursor;
          await this.loadAll().catch(() => undefined);
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, RETRY_MS);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    }
  }

  private async loadAll(): Promise<void> {
    await this.loadKeys();
    await this.loadRevocations();
    await this.loadPolicies();
  }

  private async loadKeys(): Promise<void> {
    const keys = new Map<string, VerifiedKey>();
    for (const record of await this.options.store.listKeyRecords()) {
      try {
        const key = verifyCertifiedKey(nodeCrypto, record, this.options.roots);
        if (key.role === 'issuer') keys.set(key.kid, key);
      } catch (e) {
        this.options.onProblem(`ignoring key record: ${(e as Error).message}`);
      }
    }
    this.issuerKeys = keys;
  }

  private async loadRevocations(): Promise<void> {
    const artifacts = new Set<string>();
    const kids = new Set<string>();
    for (const record of await this.options.store.listRevocations()) {
      const key = this.issuerKeys.get(record.sig.kid);
      if (!key || !verifyRevocation(nodeCrypto, record, key.publicKey)) {
        this.options.onProblem('ignoring a revocation record not signed by a certified issuer key');
        continue;
      }
      if ('artifact_id' in record.target) artifacts.add(record.target.artifact_id);
      else kids.add(record.target.kid);
    }
    this.revokedArtifacts = artifacts;
    this.revokedKids = kids;
  }

  private async loadPolicies(): Promise<void> {
    const { store } = this.options;
    const active = new Map<string, CompiledPolicy>();
    for (const [ref, hash] of Object.entries(await store.activePolicies())) {
      let policy = this.compiled.get(hash);
      if (!policy) {
        const version = await store.getPolicyVersion(hash);
        try {
          policy = version && compilePolicy(JSON.stringify(version.document));
        } catch (e) {
          this.options.onProblem(`stored policy ${hash} does not compile: ${(e as Error).message}`);
        }
      }
      // A stored document that does not hash to its key has been altered: it never decides.
      if (policy && policy.hash === hash && policy.ref === ref) {
        this.compiled.set(hash, policy);
        active.set(ref, policy);
      } else {
        this.options.onProblem(`active policy ${ref} (${hash}) is missing or altered in the registry`);
      }
    }
    this.active = active;
  }
}
