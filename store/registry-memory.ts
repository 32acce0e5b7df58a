// The registry store in process memory (dev mode): the same rules as registry-redis.ts, each
// mutation storing its record and appending its change in one synchronous step. The change log
// is capped like the Redis stream; cursors are decimal change numbers ("0": from the start).
import { GovernanceError } from '../core/errors.js';
import type { KeyRecord, RegistryHeartbeat, RevocationRecord } from '../core/registry.js';
import type { PolicyVersion, RegistryChange, RegistryStore } from './types.js';
import {
  ChangesTrimmedError,
  DEFAULT_CHANGE_CAP,
  checkChangeRead,
  readChange,
  readHeartbeat,
  readKeyRecord,
  readPolicyMeta,
  readPolicyVersion,
  readRevocation,
  sortedBy,
  storedChange,
  storedHeartbeat,
  storedKeyRecord,
  storedPolicyVersion,
  storedRevocation,
} from './registry-rules.js';

const CURSOR = /^\d{1,15}$/;

export interface MemoryRegistryOptions {
  /** Changes kept; the log is trimmed in steps of a tenth of the cap, as Redis trims in nodes. */
  changeCap?: number;
}

export class MemoryRegistryStore implements RegistryStore {
  // Records are held as canonical JSON, as in Redis, so callers never share mutable objects.
  private readonly keys = new Map<string, string>();
  private readonly policies = new Map<string, { ref: string; json: string; metaJson: string }>();
  private readonly active = new Map<string, string>();
  private readonly revocations = new Map<string, string>();
  private heartbeat: string | undefined;
  /** log[i] is change number firstNumber + i. */
  private log: string[] = [];
  private firstNumber = 1;
  private readonly cap: number;
  private readonly waiters = new Set<() => void>();

  constructor(options: MemoryRegistryOptions = {}) {
    this.cap = options.changeCap ?? DEFAULT_CHANGE_CAP;
  }

  async putKeyRecord(record: KeyRecord): Promise<void> {
    const { kid, json } = storedKeyRecord(record);
    const existing = this.keys.get(kid);
    if (existing === json) return;
    if (existing !== undefined) {
      throw new GovernanceError('key.invalid', `key record ${kid} is already registered with other content`);
    }
    this.keys.set(kid, json);
    this.append({ kind: 'key', kid });
  }

  async listKeyRecords(): Promise<KeyRecord[]> {
    return sortedBy([...this.keys.values()].map(readKeyRecord), (r) => r.kid);
  }

  async putPolicyVersion(version: PolicyVersion): Promise<void> {
    const { hash, ref, json, metaJson } = storedPolicyVersion(version);
    const existing = this.policies.get(hash);
    if (existing?.ref === ref) return;
    if (existing !== undefined) {
      throw new GovernanceError(
        'policy.invalid',
        `policy version ${hash} is already published under another ref`,
      );
    }
    this.policies.set(hash, { ref, json, metaJson });
    this.append({ kind: 'policy', hash });
  }

  async getPolicyVersion(hash: string): Promise<PolicyVersion | undefined> {
    const stored = this.policies.get(hash);
    return stored && readPolicyVersion(stored.json);
  }

  async listPolicyVersions(): Promise<Omit<PolicyVersion, 'document'>[]> {
    return sortedBy(
      [...this.policies.values()].map((p) => readPolicyMeta(p.metaJson)),
      (v) => v.hash,
    );
  }

  async activatePolicy(ref: string, hash: string): Promise<void> {
    const stored = this.policies.get(hash);
    if (!stored) throw new GovernanceError('policy.invalid', `policy version ${hash} is not published`);
    if (stored.ref !== ref) {
      throw new GovernanceError('policy.invalid', `policy version ${hash} is not a version of ${ref}`);
    }
    if (this.active.get(ref) === hash) return;
    this.active.set(ref, hash);
    this.append({ kind: 'activation', ref, hash });
  }

  async activePolicies(): Promise<Record<string, string>> {
    return Object.fromEntries([...this.active].sort(([a], [b]) => (a < b ? -1 : 1)));
  }

  async addRevocation(record: RevocationRecord): Promise<boolean> {
    const { target, json } = storedRevocation(record);
    if (this.revocations.has(target)) return false;
    this.revocations.set(target, json);
    this.append({ kind: 'revocation', target });
    return true;
  }

  async listRevocations(): Promise<RevocationRecord[]> {
    return [...this.revocations.keys()].sort().map((target) => readRevocation(this.revocations.get(target)!));
  }

  async putHeartbeat(heartbeat: RegistryHeartbeat): Promise<void> {
    this.heartbeat = storedHeartbeat(heartbeat);
    this.append({ kind: 'heartbeat' });
  }

  async latestHeartbeat(): Promise<RegistryHeartbeat | undefined> {
    return this.heartbeat === undefined ? undefined : readHeartbeat(this.heartbeat);
  }

  async changes(
    cursor: string,
    count: number,
    blockMs: number,
  ): Promise<{ cursor: string; changes: RegistryChange[] }> {
    checkChangeRead(count, blockMs);
    if (typeof cursor !== 'string' || !CURSOR.test(cursor)) {
      throw new GovernanceError('request.invalid', 'cursor must be a change number ("0" for all)');
    }
    const after = Number(cursor);
    if (blockMs > 0 && after >= this.newest()) await this.waitForChange(blockMs);
    if (after < this.firstNumber - 1) throw new ChangesTrimmedError(String(this.newest()));
    const start = Math.max(after + 1, this.firstNumber);
    const end = Math.min(start + count - 1, this.newest());
    const changes = this.log.slice(start - this.firstNumber, end - this.firstNumber + 1).map(readChange);
    return { cursor: changes.length > 0 ? String(end) : cursor, changes };
  }

  /** Wakes blocked readers; they then find no change and return empty. */
  close(): void {
    for (const wake of this.waiters) wake();
  }

  private newest(): number {
    return this.firstNumber + this.log.length - 1;
  }

  private append(change: RegistryChange): void {
    this.log.push(storedChange(change));
    const excess = this.log.length - this.cap;
    if (excess >= Math.max(1, Math.floor(this.cap / 10))) {
      this.log = this.log.slice(excess);
      this.firstNumber += excess;
    }
    for (const wake of this.waiters) wake();
  }

  private waitForChange(blockMs: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, blockMs);
      this.waiters.add(wake);
    });
  }
}
