// The enforcement point's local view of the registry: certified issuer keys, known policy
// versions, verified revocations and the authority's signed heartbeat. Loaded from the
// RegistryStore and kept current by following its change stream, so a decision never waits on
// Redis for them. Nothing is taken on the store's word: a key counts only if a pinned root
// certified it, a revocation only if a certified issuer key signed it, a heartbeat only if a
// certified, unrevoked issuer key signed it. Past any freshness bound every lookup throws, and
// the decision function turns that into issuer.unavailable; the view recovers by itself.
import { LIMITS } from '../core/artifact.js';
import type { CryptoSuite } from '../core/crypto.js';
import type { KeyLookup, PolicyLookup, RevocationLookup } from '../core/decision.js';
import { base64urlEncode } from '../core/encoding.js';
import { GovernanceError } from '../core/errors.js';
import {
  verifyCertifiedKey,
  verifyHeartbeat,
  verifyRevocation,
  type KeyRecord,
  type PinnedRoots,
  type RegistryHeartbeat,
  type RevocationRecord,
  type VerifiedKey,
} from '../core/registry.js';
import { parseMillis, parseSeconds } from '../core/time.js';
import { ChangesTrimmedError } from '../store/registry-rules.js';
import type { RegistryStore } from '../store/types.js';

export interface RegistryViewOptions {
  store: RegistryStore;
  suite: CryptoSuite;
  roots: PinnedRoots;
  /** Epoch milliseconds. */
  clock: () => number;
  keysSeconds: number;
  revocationsSeconds: number;
  skewSeconds: number;
  /** How long one change-stream read may block. */
  blockMs?: number;
  /** A record that failed verification, or a sync that failed (for logs and metrics). */
  onProblem?: (kind: 'key' | 'revocation' | 'heartbeat' | 'sync', message: string) => void;
}

export interface Freshness {
  fresh: boolean;
  /** Time since the view was last known to match the store (ms). */
  keysAgeMs: number;
  /** Age of the newest verified heartbeat (ms), the bound on how old the revocation view can be. */
  revocationsAgeMs: number;
  /** Why the view is not fresh, when it is not. */
  problem?: string;
}

const CHANGE_BATCH = 512;

const RETRY_MS = 250;

function heartbeatMillis(text: unknown): number | undefined {
  if (typeof text !== 'string') return undefined;
  const ms = parseMillis(text);
  if (ms !== undefined) return ms;
  const s = parseSeconds(text);
  return s === undefined ? undefined : s * 1000;
}

export class RegistryView {
  private issuerKeys = new Map<string, VerifiedKey>();
  private knownPolicies = new Set<string>();
  private revokedArtifacts = new Set<string>();
  private revokedKids = new Set<string>();
  /**
   * Revocations already verified (signing kid, target and signature), so a reload verifies only
   * new ones. Failures are not remembered: a record signed by a key not yet seen verifies later.
   */
  private verifiedRevocations = new Set<string>();
  private heartbeat: { timeMs: number; revocations: number } | undefined;
  private syncedAt = Number.NEGATIVE_INFINITY;
  private keysLoadedAt = Number.NEGATIVE_INFINITY;
  private cursor = '0';
  private stopped = false;
  private following: Promise<void> | undefined;

  constructor(private readonly options: RegistryViewOptions) {}

  /** Loads everything once; then follows the change stream until stop(). Never throws. */
  async start(): Promise<void> {
    const started = this.options.clock();
    try {
      await this.loadAll();
      this.syncedAt = started;
    } catch (e) {
      this.options.onProblem?.('sync', `initial registry load failed: ${(e as Error).message}`);
    }
    this.following = this.follow();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.following;
  }

  freshness(nowMs: number = this.options.clock()): Freshness {
    const keysAgeMs = nowMs - this.syncedAt;
    const revocationsAgeMs = this.heartbeat === undefined ? Infinity : nowMs - this.heartbeat.timeMs;
    let problem: string | undefined;
    if (keysAgeMs > this.options.keysSeconds * 1000)
      problem = 'registry view not synced within the keys freshness bound';
    else if (this.heartbeat === undefined) problem = 'no verified registry heartbeat';
    // A heartbeat from the future means this clock is behind the authority's: the validity
    // windows it checks are then shifted too, so nothing is decided until the clocks agree.
    else if (revocationsAgeMs < -this.options.skewSeconds * 1000)
      problem = 'clock is behind the registry heartbeat by more than the skew allowance';
    else if (revocationsAgeMs > this.options.revocationsSeconds * 1000)
      problem = 'registry heartbeat older than the revocations freshness bound';
    else if (this.revokedCount() < this.heartbeat.revocations)
      problem = 'revocation view holds fewer revocations than the heartbeat counts';
    return problem === undefined
      ? { fresh: true, keysAgeMs, revocationsAgeMs }
      : { fresh: false, keysAgeMs, revocationsAgeMs, problem };
  }

  private assertFresh(): void {
    const f = this.freshness();
    if (!f.fresh) throw new GovernanceError('issuer.unavailable', f.problem);
  }

  /** Issuer keys that may verify an artifact now; a key stays usable until its last artifact can have expired. */
  readonly keys: KeyLookup = (kid) => {
    this.assertFresh();
    const key = this.issuerKeys.get(kid);
    if (key === undefined) return undefined;
    const now = this.options.clock() / 1000;
    const skew = this.options.skewSeconds;
    if (now < key.notBefore - skew || now > key.notAfter + LIMITS.lifetimeSeconds + skew) return undefined;
    return { publicKey: key.publicKey, issuer: key.subject };
  };

  readonly revocations: RevocationLookup = {
    isArtifactRevoked: (artifactId) => {
      this.assertFresh();
      return this.revokedArtifacts.has(artifactId);
    },
    isKeyRevoked: (kid) => {
      this.assertFresh();
      return this.revokedKids.has(kid);
    },
  };

  readonly policies: PolicyLookup = (ref, hash) => {
    this.assertFresh();
    return this.knownPolicies.has(`${ref}\n${hash}`);
  };

  private revokedCount(): number {
    return this.revokedArtifacts.size + this.revokedKids.size;
  }

  private async follow(): Promise<void> {
    const { store, clock } = this.options;
    const blockMs = this.options.blockMs ?? 1000;
    const keyReloadMs = (this.options.keysSeconds * 1000) / 2;
    const dirty = new Set<string>();
    while (!this.stopped) {
      const started = clock();
      try {
        const batch = await store.changes(this.cursor, CHANGE_BATCH, blockMs);
        for (const change of batch.changes) dirty.add(change.kind === 'activation' ? 'policy' : change.kind);
        this.cursor = batch.cursor;
        // While a backlog drains, changes are only noted; they are applied once it is drained.
        if (batch.changes.length === CHANGE_BATCH) continue;
        // Keys are reloaded periodically too: a trimmed stream must not hide a new key forever.
        if (dirty.has('key') || started - this.keysLoadedAt > keyReloadMs) {
          await this.loadKeys();
          await this.loadPolicies();
          await this.loadRevocations();
        } else {
          if (dirty.has('policy')) await this.loadPolicies();
          if (dirty.has('revocation')) await this.loadRevocations();
        }
        if (dirty.has('heartbeat')) await this.loadHeartbeat();
        if (this.heartbeat !== undefined && this.revokedCount() < this.heartbeat.revocations) {
          await this.loadRevocations();
        }
        dirty.clear();
        this.syncedAt = started;
      } catch (e) {
        let failure = e as Error;
        if (e instanceof ChangesTrimmedError) {
          // Changes were missed: reload the snapshot, then follow from where the stream is now.
          try {
            await this.loadAll();
            this.cursor = e.resumeCursor;
            dirty.clear();
            this.syncedAt = started;
            continue;
          } catch (reload) {
            failure = reload as Error;
          }
        }
        this.options.onProblem?.('sync', `registry sync failed: ${failure.message}`);
        await new Promise((r) => setTimeout(r, RETRY_MS));
      }
    }
  }

  private async loadAll(): Promise<void> {
    await this.loadKeys();
    await this.loadPolicies();
    await this.loadRevocations();
    await this.loadHeartbeat();
  }

  private certify(record: KeyRecord): VerifiedKey | undefined {
    try {
      return verifyCertifiedKey(this.options.suite, record, this.options.roots);
    } catch (e) {
      this.options.onProblem?.('key', (e as Error).message);
      return undefined;
    }
  }

  private async loadKeys(): Promise<void> {
    const started = this.options.clock();
    const records = await this.options.store.listKeyRecords();
    const keys = new Map<string, VerifiedKey>();
    const kidsOfKey = new Map<string, string[]>();
    for (const record of records) {
      const key = this.certify(record);
      if (key === undefined || key.role !== 'issuer') continue;
      keys.set(key.kid, key);
      const raw = base64urlEncode(key.publicKey);
      kidsOfKey.set(raw, [...(kidsOfKey.get(raw) ?? []), key.kid]);
    }
    // kid sits outside the signed payload and revocation works by kid, so one public key under
    // two kids would let an artifact of a revoked kid be relabelled with the other: refuse both.
    for (const kids of kidsOfKey.values()) {
      if (kids.length < 2) continue;
      for (const kid of kids) keys.delete(kid);
      this.options.onProblem?.(
        'key',
        `one public key is certified under several kids (${kids.join(', ')}); none is trusted`,
      );
    }
    this.issuerKeys = keys;
    this.keysLoadedAt = started;
  }

  private async loadPolicies(): Promise<void> {
    const versions = await this.options.store.listPolicyVersions();
    this.knownPolicies = new Set(versions.map((v) => `${v.ref}\n${v.hash}`));
  }

  private async loadRevocations(): Promise<void> {
    const records = await this.options.store.listRevocations();
    const artifacts = new Set<string>();
    const kids = new Set<string>();
    for (const record of records) {
      const target = this.verifiedTarget(record);
      if (target === undefined) continue;
      if ('artifact_id' in target) artifacts.add(target.artifact_id);
      else kids.add(target.kid);
    }
    this.revokedArtifacts = artifacts;
    this.revokedKids = kids;
  }

  private verifiedTarget(record: RevocationRecord): RevocationRecord['target'] | undefined {
    const target = record?.target as Record<string, unknown> | undefined;
    const keys = target !== null && typeof target === 'object' ? Object.keys(target) : [];
    const valid =
      keys.length === 1 &&
      ((keys[0] === 'artifact_id' && typeof target!.artifact_id === 'string') ||
        (keys[0] === 'kid' && typeof target!.kid === 'string'));
    const cacheKey = valid
      ? `${String(record.sig?.kid)}\n${keys[0]}\n${String(Object.values(target!)[0])}\n${String(record.sig?.val)}`
      : '';
    if (valid && this.verifiedRevocations.has(cacheKey)) return record.target;
    const key = typeof record?.sig?.kid === 'string' ? this.issuerKeys.get(record.sig.kid) : undefined;
    if (!valid || key === undefined || !verifyRevocation(this.options.suite, record, key.publicKey)) {
      this.options.onProblem?.(
        'revocation',
        'revocation record is malformed or not signed by a certified issuer key',
      );
      return undefined;
    }
    this.verifiedRevocations.add(cacheKey);
    return record.target;
  }

  private async loadHeartbeat(): Promise<void> {
    const heartbeat = await this.options.store.latestHeartbeat();
    if (heartbeat === undefined) return;
    const verified = this.verifyHeartbeat(heartbeat);
    if (verified === undefined) return;
    if (this.heartbeat === undefined || verified.timeMs >= this.heartbeat.timeMs) this.heartbeat = verified;
    // Heartbeats only move forward, so a replayed older one can never hide a revocation. The
    // exception: one that is in this clock's future (the clock was wrong, or is now) gives way
    // to an older one that counts at least as many revocations, so the view recovers once the
    // clocks agree instead of waiting for real time to pass the future heartbeat.
    else if (
      this.heartbeat.timeMs > this.options.clock() + this.options.skewSeconds * 1000 &&
      verified.revocations >= this.heartbeat.revocations
    )
      this.heartbeat = verified;
  }

  private verifyHeartbeat(heartbeat: RegistryHeartbeat): { timeMs: number; revocations: number } | undefined {
    const kid = typeof heartbeat?.sig?.kid === 'string' ? heartbeat.sig.kid : '';
    const key = this.issuerKeys.get(kid);
    const timeMs = heartbeatMillis(heartbeat?.time);
    const problem =
      key === undefined
        ? 'heartbeat is not signed by a certified issuer key'
        : this.revokedKids.has(kid)
          ? 'heartbeat is signed by a revoked key'
          : heartbeat.issuer !== key.subject
            ? 'heartbeat issuer is not the subject of its signing key'
            : timeMs === undefined
              ? 'heartbeat time is malformed'
              : !verifyHeartbeat(this.options.suite, heartbeat, key.publicKey)
                ? 'heartbeat signature does not verify'
                : undefined;
    if (problem !== undefined) {
      this.options.onProblem?.('heartbeat', problem);
      return undefined;
    }
    return { timeMs: timeMs!, revocations: heartbeat.revocations };
  }
}
