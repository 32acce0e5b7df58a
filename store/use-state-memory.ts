// The use-state store in process memory (dev mode, one enforcement point): the same decisions
// as the Redis scripts in use-state-redis.ts, computed synchronously so each consume is atomic.
// State is dropped when its artifact expires (on access, and by a periodic sweep), so memory is
// bounded by the live artifacts.
import { GovernanceError } from '../core/errors.js';
import type { UseRequest, UseStateStore } from './types.js';
import { bucketOf, presentationOf, refill, type Presentation } from './use-state-rules.js';

interface ArtifactState {
  expiresAtMs: number;
  /** single: 1 once used; bounded: uses so far; rate: bucket units. */
  units: number;
  /** rate: when `units` was last refilled (the caller's clock). */
  atMs: number;
  /** request id → its retry deadline (caller's clock) and when the marker is dropped (store clock). */
  retries: Map<string, { deadlineMs: number; dropAtMs: number }>;
}

export interface MemoryUseStateOptions {
  /** The clock expiry is measured on, as Redis measures it on the server's. Default Date.now. */
  clock?: () => number;
  sweepIntervalMs?: number;
}

export class MemoryUseStateStore implements UseStateStore {
  private readonly states = new Map<string, ArtifactState>();
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
    if (this.closed) throw new GovernanceError('state.unavailable', 'use-state store is closed');
    if (!p || this.clock() >= p.expiresAtMs) return false;
    const state = this.live(p.artifactId);
    if (p.requestId !== undefined) {
      const marker = state?.retries.get(p.requestId);
      if (marker && marker.dropAtMs > this.clock() && p.nowMs <= marker.deadlineMs) return true;
    }
    const next = state ?? this.fresh(p);
    if (!this.take(next, p)) return false;
    next.expiresAtMs = p.expiresAtMs;
    if (p.requestId !== undefined) {
      next.retries.set(p.requestId, {
        deadlineMs: p.nowMs + p.retryWindowMs,
        dropAtMs: this.clock() + p.retryWindowMs,
      });
    }
    this.states.set(p.artifactId, next);
    return true;
  }

  /** When the artifact's state will be dropped, or undefined when there is none. */
  retainedUntil(artifactId: string): number | undefined {
    return this.live(artifactId)?.expiresAtMs;
  }

  /** Artifacts with state held (expired ones until the next sweep or access). */
  get size(): number {
    return this.states.size;
  }

  close(): void {
    this.closed = true;
    clearInterval(this.sweeper);
    this.states.clear();
  }

  private fresh(p: Presentation): ArtifactState {
    const units = p.terms.mode === 'rate' ? bucketOf(p.terms).capacity : 0;
    return { expiresAtMs: p.expiresAtMs, units, atMs: p.nowMs, retries: new Map() };
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

  private sweep(): void {
    const now = this.clock();
    for (const [artifactId, state] of this.states) {
      if (state.expiresAtMs <= now) {
        this.states.delete(artifactId);
        continue;
      }
      for (const [requestId, marker] of state.retries) {
        if (marker.dropAtMs <= now) state.retries.delete(requestId);
      }
    }
  }
}
