// The use-state store in process memory (dev mode, one enforcement point): the same decisions
// as the Redis scripts in use-state-redis.ts, computed synchronously so each consume is atomic.
// State is dropped when its artifact expires, and an admission when its lifetime ends (on
// access, and by a periodic sweep), so memory is bounded by the live artifacts and admissions.
import { GovernanceError } from '../core/errors.js';
import type { AdmissionGrant, UseRequest, UseStateStore } from './types.js';
import {
  admissionKey,
  bucketOf,
  checkAdmission,
  checkArtifactId,
  presentationOf,
  refill,
  type Presentation,
} from './use-state-rules.js';

interface ArtifactState {
  expiresAtMs: number;
  /** single: 1 once used; bounded: uses so far; rate: bucket units. */
  units: number;
  /** rate: when `units` was last refilled (the caller's clock). */
  atMs: number;
}

/** An open admission: its binding, and when it is dropped (store clock). */
interface OpenAdmission {
  binding: string;
  dropAtMs: number;
}

export interface MemoryUseStateOptions {
  /** The clock expiry is measured on, as Redis measures it on the server's. Default Date.now. */
  clock?: () => number;
  sweepIntervalMs?: number;
}

export class MemoryUseStateStore implements UseStateStore {
  private readonly states = new Map<string, ArtifactState>();
  /** By admissionKey(), as in Redis. */
  private readonly admissions = new Map<string, OpenAdmission>();
  private readonly clock: () => number;
  private readonly sweeper: NodeJS.Timeout;
  private closed = false;

  constructor(options: MemoryUseStateOptions = {}) {
    this.clock = options.clock ?? Date.now;
    this.sweeper = setInterval(() => this.sweep(), options.sweepIntervalMs ?? 1_000);
    this.sweeper.unref();
  }

  async consume(request: UseRequest): Promise<boolean> {
    const p = presentationOf(request);
    this.ensureOpen();
    if (!p || this.clock() >= p.expiresAtMs) return false;
    const state = this.live(p.artifactId) ?? this.fresh(p);
    if (!this.take(state, p)) return false;
    state.expiresAtMs = p.expiresAtMs;
    this.states.set(p.artifactId, state);
    if (p.admission) {
      this.admissions.set(admissionKey(p.artifactId, p.admission.id), {
        binding: p.admission.binding,
        dropAtMs: this.clock() + p.admission.ttlMs,
      });
    }
    return true;
  }

  async release(request: UseRequest): Promise<void> {
    const p = presentationOf(request);
    this.ensureOpen();
    if (!p) return;
    const state = this.live(p.artifactId);
    if (state) {
      if (p.terms.mode === 'rate') {
        const bucket = bucketOf(p.terms);
        state.units = Math.min(bucket.capacity, state.units + bucket.cost);
      } else if (state.units > 0) {
        state.units -= 1;
      }
    }
    if (p.admission) this.admissions.delete(admissionKey(p.artifactId, p.admission.id));
  }

  async closeAdmission(artifactId: string, id: string, binding: string): Promise<number | undefined> {
    const key = admissionKey(checkArtifactId(artifactId), checkAdmission({ id, binding }, false).id);
    this.ensureOpen();
    const open = this.liveAdmission(key);
    if (!open || open.binding !== binding) return undefined;
    this.admissions.delete(key);
    return open.dropAtMs - this.clock();
  }

  async reopenAdmission(artifactId: string, admission: AdmissionGrant): Promise<void> {
    const { id, binding, ttlMs } = checkAdmission(admission, true);
    const key = admissionKey(checkArtifactId(artifactId), id);
    this.ensureOpen();
    if (this.liveAdmission(key) === undefined) {
      this.admissions.set(key, { binding, dropAtMs: this.clock() + ttlMs });
    }
  }

  /** When the artifact's state will be dropped, or undefined when there is none. */
  retainedUntil(artifactId: string): number | undefined {
    return this.live(artifactId)?.expiresAtMs;
  }

  /** Artifacts and admissions with state held (expired ones until the next sweep or access). */
  get size(): number {
    return this.states.size + this.admissions.size;
  }

  close(): void {
    this.closed = true;
    clearInterval(this.sweeper);
    this.states.clear();
    this.admissions.clear();
  }

  private ensureOpen(): void {
    if (this.closed) throw new GovernanceError('state.unavailable', 'use-state store is closed');
  }

  private fresh(p: Presentation): ArtifactState {
    const units = p.terms.mode === 'rate' ? bucketOf(p.terms).capacity : 0;
    return { expiresAtMs: p.expiresAtMs, units, atMs: p.nowMs };
  }

  /** Takes one use from `state` in place; false when none is left. */
  private take(state: ArtifactState, p: Presentation): boolean {
    switch (p.terms.mode) {
      case 'single':
      case 'bounded': {
        const max = p.terms.mode === 'single' ? 1 : p.terms.max;
        if (state.units >= max) return false;
        state.units += 1;
        return true;
      }
      case 'rate': {
        const bucket = bucketOf(p.terms);
        const refilled = refill(bucket, state, p.nowMs);
        if (refilled.units < bucket.cost) return false;
        state.units = refilled.units - bucket.cost;
        state.atMs = refilled.atMs;
        return true;
      }
    }
  }

  private live(artifactId: string): ArtifactState | undefined {
    const state = this.states.get(artifactId);
    if (state && state.expiresAtMs <= this.clock()) {
      this.states.delete(artifactId);
      return undefined;
    }
    return state;
  }

  private liveAdmission(key: string): OpenAdmission | undefined {
    const open = this.admissions.get(key);
    if (open && open.dropAtMs <= this.clock()) {
      this.admissions.delete(key);
      return undefined;
    }
    return open;
  }

  private sweep(): void {
    const now = this.clock();
    for (const [artifactId, state] of this.states) {
      if (state.expiresAtMs <= now) this.states.delete(artifactId);
    }
    for (const [key, open] of this.admissions) {
      if (open.dropAtMs <= now) this.admissions.delete(key);
    }
  }
}
