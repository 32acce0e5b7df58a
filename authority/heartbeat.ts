// The registry heartbeat: a signed statement of the issuer's time and revocation count, refreshed
// every heartbeatMs. Enforcement points deny everything when it goes stale, so it is withheld
// whenever the authority itself should not be trusted (stale registry view, revoked active key).
import { signHeartbeat, type RegistryHeartbeat } from '../core/registry.js';
import { formatMillis } from '../core/time.js';
import { signRecord, type AuthorityContext } from './context.js';

export class Heartbeat {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly ctx: AuthorityContext) {}

  /** Publishes one heartbeat now, then one every heartbeatMs until stop(). */
  async start(): Promise<void> {
    await this.publish();
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.publish().finally(() => this.schedule());
    }, this.ctx.heartbeatMs);
    this.timer.unref();
  }

  /**
   * Signs and stores the registry heartbeat. Skipped while the registry view is stale, or the
   * active key is revoked: enforcement points then deny everything, which is what they should do.
   */
  async publish(): Promise<RegistryHeartbeat | undefined> {
    const age = this.ctx.state.ageMs();
    this.ctx.metrics.registryAgeSeconds.set(age / 1000);
    const held = this.ctx.deps.keyring.active();
    if (age > this.ctx.maxRegistryAgeMs || this.ctx.state.isKidRevoked(held.key.kid)) {
      this.ctx.problem('heartbeat', 'heartbeat withheld: registry view stale or active key revoked');
      return undefined;
    }
    try {
      const body = {
        v: '1' as const,
        issuer: this.ctx.deps.issuerId,
        time: formatMillis(this.ctx.clock()),
        revocations: this.ctx.state.revocationCount(),
      };
      const heartbeat = await signRecord(held.signer, (sign) => signHeartbeat(body, held.key.kid, sign));
      await this.ctx.deps.registry.putHeartbeat(heartbeat);
      return heartbeat;
    } catch (e) {
      this.ctx.problem('heartbeat', `heartbeat not published: ${(e as Error).message}`);
      return undefined;
    }
  }
}
