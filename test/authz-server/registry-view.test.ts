// The registry view trusts nothing the store says without a signature chain to a pinned root,
// and catches up by itself when it missed changes.
import { afterEach, describe, expect, it } from 'vitest';
import { nodeCrypto } from '../../core/crypto-node.js';
import { generatePrivateKey, signSync } from '../../core/keys.js';
import { signHeartbeat, signRevocation } from '../../core/registry.js';
import { formatMillis, formatSeconds } from '../../core/time.js';
import { MemoryRegistryStore } from '../../store/registry-memory.js';
import { RegistryView } from '../../authz-server/registry-view.js';
import { eventually } from './support/harness.js';
import { ISSUER, World } from './support/world.js';

let view: RegistryView | undefined;
let store: MemoryRegistryStore;
afterEach(async () => {
  store?.close();
  await view?.stop();
});

/** `gate` holds the view's change-stream reads until it resolves. */
async function started(options: { changeCap?: number; gate?: Promise<void> } = {}) {
  store = new MemoryRegistryStore({ changeCap: options.changeCap });
  const world = new World(store);
  const gate = options.gate;
  const viewed =
    gate === undefined
      ? store
      : new Proxy(store, {
          get(target, prop) {
            if (prop === 'changes') {
              return async (...args: Parameters<MemoryRegistryStore['changes']>) => {
                await gate;
                return target.changes(...args);
              };
            }
            const value = Reflect.get(target, prop) as unknown;
            return typeof value === 'function' ? value.bind(target) : value;
          },
        });
  await world.publish();
  const problems: string[] = [];
  view = new RegistryView({
    store: viewed,
    suite: nodeCrypto,
    roots: world.roots,
    clock: Date.now,
    keysSeconds: 30,
    revocationsSeconds: 10,
    skewSeconds: 5,
    blockMs: 20,
    onProblem: (kind) => problems.push(kind),
  });
  await view.start();
  return { world, problems, view };
}

describe('registry view', () => {
  it('is fresh once keys, policies and a verified heartbeat are loaded', async () => {
    const { world, view } = await started();
    expect(view.freshness().fresh).toBe(true);
    expect(view.keys(world.issuerKid)).toBeDefined();
    expect(view.policies('policy://medical/inference/v3', world.policyHash)).toBe(true);
  });

  it('is stale when its clock is behind the heartbeat by more than the skew allowance', async () => {
    const { view } = await started();
    const now = Date.now();
    expect(view.freshness(now - 4000).fresh).toBe(true);
    expect(view.freshness(now - 7000)).toMatchObject({
      fresh: false,
      problem: expect.stringMatching(/behind/),
    });
  });

  it('trusts a key only for the issuer its record names', async () => {
    const { world, view } = await started();
    expect(view.keys(world.issuerKid)).toMatchObject({ issuer: ISSUER });
  });

  it('refuses every kid of a public key certified under several kids (a revoked kid cannot be relabelled)', async () => {
    const { world, problems, view } = await started();
    await store.putKeyRecord(world.keyRecord('key:11-11/test/alias', world.issuerKey, 'issuer'));
    expect(await eventually(() => problems.includes('key'))).toBe(true);
    expect(await eventually(() => view.keys(world.issuerKid) === undefined)).toBe(true);
    expect(view.keys('key:11-11/test/alias')).toBeUndefined();
  });

  it('ignores a revocation that no certified issuer key signed', async () => {
    const { problems, view } = await started();
    const rogue = generatePrivateKey();
    const id = 'auth_' + '0'.repeat(32);
    await store.addRevocation(
      signRevocation(
        {
          v: '1',
          target: { artifact_id: id },
          reason: 'x',
          time: formatSeconds(Date.now() / 1000),
          by: ISSUER,
        },
        'key:rogue',
        (m) => signSync(rogue, m),
      ),
    );
    expect(await eventually(() => problems.includes('revocation'))).toBe(true);
    expect(view.revocations.isArtifactRevoked(id)).toBe(false);
  });

  it('refuses a heartbeat signed by a revoked issuer key and keeps the older one', async () => {
    const { world, problems, view } = await started();
    await new Promise((r) => setTimeout(r, 300));
    // revoke() publishes a new heartbeat, signed by the key it has just revoked.
    await world.revoke({ kid: world.issuerKid });
    expect(await eventually(() => problems.includes('heartbeat'))).toBe(true);
    expect(view.revocations.isKeyRevoked(world.issuerKid)).toBe(true);
    expect(view.freshness().revocationsAgeMs).toBeGreaterThanOrEqual(300);
  });

  it('reloads the snapshot when the changes it missed were trimmed from the stream', async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const { world, view } = await started({ changeCap: 10, gate });
    const id = 'auth_' + '1'.repeat(32);
    const revocation = signRevocation(
      {
        v: '1',
        target: { artifact_id: id },
        reason: 'x',
        time: formatSeconds(Date.now() / 1000),
        by: ISSUER,
      },
      world.issuerKid,
      (m) => signSync(world.issuerKey, m),
    );
    // The view reads no change until the revocation's change has been trimmed away, and the
    // heartbeats do not count it: only the snapshot reload can find it.
    const writes = [store.addRevocation(revocation)];
    for (let i = 0; i < 30; i++) {
      writes.push(
        store.putHeartbeat(
          signHeartbeat(
            { v: '1', issuer: ISSUER, time: formatMillis(Date.now()), revocations: 0 },
            world.issuerKid,
            (m) => signSync(world.issuerKey, m),
          ),
        ) as Promise<never>,
      );
    }
    await Promise.all(writes);
    open();
    expect(await eventually(() => view.revocations.isArtifactRevoked(id))).toBe(true);
    expect(view.freshness().fresh).toBe(true);
  });
});
