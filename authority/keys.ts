// Issuer keys as the authority holds them (service/keys.ts loads and checks each: certified by a
// pinned root, naming this issuer, an issuer key, matching its private key, valid now); rotation
// switches the active key to another held key. And the root fingerprint the authority publishes.
import { createHash } from 'node:crypto';
import { GovernanceError } from '../core/errors.js';
import { publicKeyFromRaw } from '../core/keys.js';
import type { HeldKey } from '../service/keys.js';

/** What a third party compares with the root it pinned: SHA-256 of the SPKI DER, as openssl prints it. */
export function rootFingerprint(raw: Uint8Array): string {
  const der = publicKeyFromRaw(raw).export({ type: 'spki', format: 'der' });
  return 'sha256:' + createHash('sha256').update(der).digest('hex');
}

/** The issuer keys the authority holds, one of them active. */
export class IssuerKeyring {
  private readonly held = new Map<string, HeldKey>();
  private activeKid: string;

  constructor(active: HeldKey, standby: readonly HeldKey[] = []) {
    for (const key of [active, ...standby]) this.held.set(key.key.kid, key);
    this.activeKid = active.key.kid;
  }

  active(): HeldKey {
    return this.held.get(this.activeKid)!;
  }

  get(kid: string): HeldKey | undefined {
    return this.held.get(kid);
  }

  activate(kid: string): HeldKey {
    const key = this.held.get(kid);
    if (!key) throw new GovernanceError('key.invalid', `key ${kid} is not held by this authority`);
    this.activeKid = kid;
    return key;
  }
}
