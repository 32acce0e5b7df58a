// The store contract (store/types.ts) as one suite, run unchanged against every implementation
// (Redis in production, memory in dev mode). Each test gets fresh stores from the factory.
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { UseTerms } from '../../core/artifact.js';
import { nodeCrypto } from '../../core/crypto-node.js';
import { crockford32Encode } from '../../core/encoding.js';
import { isGovernanceError, type Code } from '../../core/errors.js';
import { generatePrivateKey, rawPublicKey, signSync } from '../../core/keys.js';
import {
  certifyKey,
  policyHash,
  signHeartbeat,
  signRevocation,
  verifyKeyRecord,
  type KeyRecord,
  type RegistryHeartbeat,
  type RevocationRecord,
} from '../../core/registry.js';
import { base64urlEncode } from '../../core/encoding.js';
import { formatSeconds } from '../../core/time.js';
import type { JsonValue } from '../../core/canonical.js';
import { closeRedis, connectRedis, type RedisClient } from '../../store/redis-connection.js';
import { MemoryRegistryStore } from '../../store/registry-memory.js';
import { RedisRegistryStore } from '../../store/registry-redis.js';
import { ChangesTrimmedError } from '../../store/registry-rules.js';
import { MemoryUseStateStore } from '../../store/use-state-memory.js';
import { RedisUseStateStore } from '../../store/use-state-redis.js';
import { useKey } from '../../store/use-state-rules.js';
import type { TestRedis } from '../support/redis.js';
import type {
  PolicyVersion,
  RegistryChange,
  RegistryStore,
  AdmissionGrant,
  UseRequest,
  UseStateStore,
} from '../../store/types.js';

export interface StoresUnderTest {
  useState: UseStateStore;
  registry: RegistryStore;
  /** When the artifact's use state will be dropped (epoch ms); undefined when there is none. */
  retainedUntil(artifactId: string): Promise<number | undefined>;
  close(): Promise<void>;
}

export interface StoreOptions {
  /** Changes the registry keeps before trimming. */
  changeCap?: number;
}

export type StoreFactory = (options?: StoreOptions) => Promise<StoresUnderTest>;

export const memoryStores: StoreFactory = async (options = {}) => {
  const useState = new MemoryUseStateStore();
  const registry = new MemoryRegistryStore(options);
  return {
    useState,
    registry,
    retainedUntil: async (artifactId) => useState.retainedUntil(artifactId),
    async close() {
      useState.close();
      registry.close();
    },
  };
};

/** A fresh key prefix on the shared test server for each call, so tests never see each other. */
export async function connectTestRedis(redis: TestRedis): Promise<RedisClient> {
  const keyPrefix = `${redis.prefix}${randomBytes(4).toString('hex')}:`;
  return connectRedis({ mode: 'standalone', url: redis.url, keyPrefix });
}

/** Stores on a fresh connection (with its own key prefix) per call. */
export function redisStores(connect: () => Promise<RedisClient>): StoreFactory {
  return async (options = {}) => {
    const client = await connect();
    const registry = new RedisRegistryStore(client, options);
    return {
      useState: new RedisUseStateStore(client),
      registry,
      async retainedUntil(artifactId) {
        const at = await client.pexpiretime(useKey(artifactId));
        return at === -2 ? undefined : at === -1 ? Infinity : at;
      },
      async close() {
        await registry.close();
        await closeRedis(client);
      },
    };
  };
}

export function newArtifactId(): string {
  return 'auth_' + crockford32Encode(randomBytes(20));
}

const NONCE = 'AAAAAAAAAAAAAAAAAAAAAA';

export function presentation(
  artifactId: string,
  terms: UseTerms,
  nowMs: number,
  overrides: Partial<UseRequest> = {},
): UseRequest {
  return { artifactId, terms, nowMs, expiresAtMs: nowMs + 60_000, ...overrides };
}

export function newAttestationId(): string {
  return 'att_' + crockford32Encode(randomBytes(20));
}

/** An admission bound to `what` (any text: the store compares bindings, it does not compute them). */
export function admission(what = 'workload-a', ttlMs = 60_000): AdmissionGrant {
  const binding = 'sha3-512:' + Buffer.from(nodeCrypto.sha3_512(Buffer.from(what))).toString('hex');
  return { id: newAttestationId(), binding, ttlMs };
}

const single: UseTerms = { mode: 'single', nonce: NONCE };
const bounded = (max: number): UseTerms => ({ mode: 'bounded', nonce: NONCE, max });
const rate = (r: number, window: number): UseTerms => ({ mode: 'rate', nonce: NONCE, rate: r, window });

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

export async function expectCode(promise: Promise<unknown>, code: Code): Promise<void> {
  const error = await rejection(promise);
  expect(isGovernanceError(error) ? error.code : error).toBe(code);
}

const countTrue = (results: boolean[]) => results.filter(Boolean).length;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Registry fixtures, signed for real: the store does not verify them, the tests do.
const root = generatePrivateKey();
const ROOT_KID = 'root:test';
const roots = new Map([[ROOT_KID, rawPublicKey(root)]]);
const signByRoot = (message: Uint8Array) => signSync(root, message);

function keyRecord(kid: string, subject = 'issuer:test'): KeyRecord {
  const key = generatePrivateKey();
  const now = Math.floor(Date.now() / 1000);
  return certifyKey(
    {
      v: '1',
      kid,
      role: 'issuer',
      public_key: base64urlEncode(rawPublicKey(key)),
      subject,
      not_before: formatSeconds(now - 60),
      not_after: formatSeconds(now + 3600),
    },
    ROOT_KID,
    signByRoot,
  );
}

function revocation(target: RevocationRecord['target'], reason = 'compromised'): RevocationRecord {
  return signRevocation(
    { v: '1', target, reason, time: formatSeconds(Date.now() / 1000), by: 'authority:test' },
    ROOT_KID,
    signByRoot,
  );
}

function heartbeat(revocations: number): RegistryHeartbeat {
  return signHeartbeat(
    { v: '1', issuer: 'authority:test', time: formatSeconds(Date.now() / 1000), revocations },
    ROOT_KID,
    signByRoot,
  );
}

function policyVersion(ref: string, document: JsonValue): PolicyVersion {
  return {
    ref,
    hash: policyHash(nodeCrypto, document),
    document,
    published_at: formatSeconds(Date.now() / 1000),
  };
}

async function allChanges(
  registry: RegistryStore,
  cursor = '0',
): Promise<{ cursor: string; changes: RegistryChange[] }> {
  return registry.changes(cursor, 1000, 0);
}

export function describeStoreContract(
  name: string,
  makeStores: StoreFactory,
  part: 'use-state' | 'registry',
): void {
  describe(`${name}: ${part} store contract`, () => {
    let stores: StoresUnderTest;
    let useState: UseStateStore;
    let registry: RegistryStore;
    beforeEach(async () => {
      stores = await makeStores();
      ({ useState, registry } = stores);
    });
    afterEach(async () => {
      await stores.close();
    });

    if (part === 'use-state') {
      describe('single use', () => {
        it('allows the first presentation and never another', async () => {
          const id = newArtifactId();
          const now = Date.now();
          expect(await useState.consume(presentation(id, single, now))).toBe(true);
          expect(await useState.consume(presentation(id, single, now))).toBe(false);
          expect(await useState.consume(presentation(id, single, now + 1))).toBe(false);
        });

        it('keeps the artifacts apart', async () => {
          const a = newArtifactId();
          const b = newArtifactId();
          const now = Date.now();
          expect(await useState.consume(presentation(a, single, now))).toBe(true);
          expect(await useState.consume(presentation(b, single, now))).toBe(true);
          expect(await useState.consume(presentation(b, single, now))).toBe(false);
        });

        it('refuses an expired presentation without writing state', async () => {
          const id = newArtifactId();
          const now = Date.now();
          for (const expiresAtMs of [now, now - 1]) {
            expect(await useState.consume(presentation(id, single, now, { expiresAtMs }))).toBe(false);
          }
          expect(await stores.retainedUntil(id)).toBeUndefined();
          expect(await useState.consume(presentation(id, single, now))).toBe(true);
        });

        it('allows exactly one of 64 concurrent presentations', async () => {
          const id = newArtifactId();
          const now = Date.now();
          const results = await Promise.all(
            Array.from({ length: 64 }, () => useState.consume(presentation(id, single, now))),
          );
          expect(countTrue(results)).toBe(1);
        });

        it('keeps state until expiresAtMs and forgets it after, never allowing again', async () => {
          const id = newArtifactId();
          const now = Date.now();
          const expiresAtMs = now + 300;
          expect(await useState.consume(presentation(id, single, now, { expiresAtMs }))).toBe(true);
          const until = await stores.retainedUntil(id);
          expect(until).toBeGreaterThan(now);
          expect(until).toBeLessThanOrEqual(expiresAtMs);
          await sleep(expiresAtMs - Date.now() + 50);
          expect(await stores.retainedUntil(id)).toBeUndefined();
          // A caller whose clock lags the store's must still be refused once the state is gone.
          expect(await useState.consume(presentation(id, single, now, { expiresAtMs }))).toBe(false);
        });
      });

      describe('bounded use', () => {
        it('allows exactly max of 200 concurrent presentations, and none after', async () => {
          const id = newArtifactId();
          const now = Date.now();
          const max = 7;
          const results = await Promise.all(
            Array.from({ length: 200 }, () => useState.consume(presentation(id, bounded(max), now))),
          );
          expect(countTrue(results)).toBe(max);
          expect(await useState.consume(presentation(id, bounded(max), now + 10_000))).toBe(false);
        });

        it('counts presentations one by one', async () => {
          const id = newArtifactId();
          const now = Date.now();
          const results: boolean[] = [];
          for (let i = 0; i < 5; i++) results.push(await useState.consume(presentation(id, bounded(3), now)));
          expect(results).toEqual([true, true, true, false, false]);
        });
      });

      describe('rate', () => {
        it('allows the capacity at once, then refuses', async () => {
          const id = newArtifactId();
          const now = Date.now();
          const results: boolean[] = [];
          for (let i = 0; i < 6; i++)
            results.push(await useState.consume(presentation(id, rate(5, 60), now)));
          expect(results).toEqual([true, true, true, true, true, false]);
        });

        it('refills one token every window/rate ms, up to the capacity', async () => {
          const id = newArtifactId();
          const terms = rate(10, 1); // one token per 100 ms
          const now = Date.now();
          for (let i = 0; i < 10; i++)
            expect(await useState.consume(presentation(id, terms, now))).toBe(true);
          expect(await useState.consume(presentation(id, terms, now + 99))).toBe(false);
          expect(await useState.consume(presentation(id, terms, now + 100))).toBe(true);
          expect(await useState.consume(presentation(id, terms, now + 100))).toBe(false);
          const later = now + 60_000;
          const results: boolean[] = [];
          for (let i = 0; i < 11; i++) results.push(await useState.consume(presentation(id, terms, later)));
          expect(countTrue(results)).toBe(10);
        });

        it('refills exactly when window/rate is not a whole number of ms', async () => {
          const id = newArtifactId();
          const terms = rate(3, 7); // one token per 2333⅓ ms
          const now = Date.now();
          for (let i = 0; i < 3; i++) expect(await useState.consume(presentation(id, terms, now))).toBe(true);
          expect(await useState.consume(presentation(id, terms, now + 2333))).toBe(false);
          expect(await useState.consume(presentation(id, terms, now + 2334))).toBe(true);
          // The third of a ms left over carries: the next token is due at 4666⅔ ms.
          expect(await useState.consume(presentation(id, terms, now + 4666))).toBe(false);
          expect(await useState.consume(presentation(id, terms, now + 4667))).toBe(true);
        });

        it('does not refill when the caller clock goes backwards', async () => {
          const id = newArtifactId();
          const terms = rate(2, 1);
          const now = Date.now();
          expect(await useState.consume(presentation(id, terms, now))).toBe(true);
          expect(await useState.consume(presentation(id, terms, now))).toBe(true);
          expect(await useState.consume(presentation(id, terms, now - 10_000))).toBe(false);
          expect(await useState.consume(presentation(id, terms, now + 499))).toBe(false);
          expect(await useState.consume(presentation(id, terms, now + 500))).toBe(true);
        });

        it('allows exactly the rate of a concurrent burst of 100', async () => {
          const id = newArtifactId();
          const now = Date.now();
          const results = await Promise.all(
            Array.from({ length: 100 }, () => useState.consume(presentation(id, rate(10, 60), now))),
          );
          expect(countTrue(results)).toBe(10);
        });
      });

      describe('giving a use back', () => {
        it('makes a single-use artifact usable again, once', async () => {
          const id = newArtifactId();
          const now = Date.now();
          const request = presentation(id, single, now);
          expect(await useState.consume(request)).toBe(true);
          await useState.release(request);
          expect(await useState.consume(presentation(id, single, now + 1))).toBe(true);
          expect(await useState.consume(presentation(id, single, now + 2))).toBe(false);
        });

        it('gives back one use of a bounded artifact, and never more than were taken', async () => {
          const id = newArtifactId();
          const now = Date.now();
          const request = presentation(id, bounded(2), now);
          expect(await useState.consume(request)).toBe(true);
          expect(await useState.consume(request)).toBe(true);
          await useState.release(request);
          expect(await useState.consume(request)).toBe(true);
          expect(await useState.consume(request)).toBe(false);
          const fresh = newArtifactId();
          await useState.release(presentation(fresh, bounded(2), now));
          expect(await stores.retainedUntil(fresh)).toBeUndefined();
          const results: boolean[] = [];
          for (let i = 0; i < 3; i++)
            results.push(await useState.consume(presentation(fresh, bounded(2), now)));
          expect(results).toEqual([true, true, false]);
        });

        it('puts a token back in a rate bucket, never above its capacity', async () => {
          const id = newArtifactId();
          const now = Date.now();
          const terms = rate(2, 60);
          const request = presentation(id, terms, now);
          expect(await useState.consume(request)).toBe(true);
          await useState.release(request);
          await useState.release(request);
          const results: boolean[] = [];
          for (let i = 0; i < 3; i++) results.push(await useState.consume(request));
          expect(results).toEqual([true, true, false]);
        });

        it('drops the admission its use opened', async () => {
          const id = newArtifactId();
          const now = Date.now();
          const open = admission();
          const request = presentation(id, single, now, { admission: open });
          expect(await useState.consume(request)).toBe(true);
          await useState.release(request);
          expect(await useState.closeAdmission(id, open.id, open.binding)).toBeUndefined();
        });
      });

      describe('admissions', () => {
        it('opens an admission with an allowed use, which closes exactly once', async () => {
          const id = newArtifactId();
          const open = admission('workload-a', 60_000);
          expect(await useState.consume(presentation(id, single, Date.now(), { admission: open }))).toBe(
            true,
          );
          const left = await useState.closeAdmission(id, open.id, open.binding);
          expect(left).toBeGreaterThan(50_000);
          expect(left).toBeLessThanOrEqual(60_000);
          expect(await useState.closeAdmission(id, open.id, open.binding)).toBeUndefined();
        });

        it('lets one of 32 concurrent closes through', async () => {
          const id = newArtifactId();
          const open = admission();
          expect(await useState.consume(presentation(id, bounded(3), Date.now(), { admission: open }))).toBe(
            true,
          );
          const closes = await Promise.all(
            Array.from({ length: 32 }, () => useState.closeAdmission(id, open.id, open.binding)),
          );
          expect(closes.filter((left) => left !== undefined)).toHaveLength(1);
        });

        it('opens nothing for a refused use', async () => {
          const id = newArtifactId();
          const now = Date.now();
          expect(await useState.consume(presentation(id, single, now))).toBe(true);
          const refused = admission();
          expect(await useState.consume(presentation(id, single, now, { admission: refused }))).toBe(false);
          expect(await useState.closeAdmission(id, refused.id, refused.binding)).toBeUndefined();
        });

        it('closes nothing for an unknown id, another artifact or another binding', async () => {
          const id = newArtifactId();
          const open = admission('workload-a');
          expect(await useState.consume(presentation(id, bounded(5), Date.now(), { admission: open }))).toBe(
            true,
          );
          expect(await useState.closeAdmission(id, newAttestationId(), open.binding)).toBeUndefined();
          expect(await useState.closeAdmission(newArtifactId(), open.id, open.binding)).toBeUndefined();
          expect(await useState.closeAdmission(id, open.id, admission('workload-b').binding)).toBeUndefined();
          // None of those spent it.
          expect(await useState.closeAdmission(id, open.id, open.binding)).toBeGreaterThan(0);
        });

        it('keeps an admission open for its lifetime only', async () => {
          const id = newArtifactId();
          const open = admission('workload-a', 300);
          expect(await useState.consume(presentation(id, bounded(5), Date.now(), { admission: open }))).toBe(
            true,
          );
          await sleep(450);
          expect(await useState.closeAdmission(id, open.id, open.binding)).toBeUndefined();
        });

        it('opens a closed admission again, once, for the time it had left', async () => {
          const id = newArtifactId();
          const open = admission();
          expect(await useState.consume(presentation(id, single, Date.now(), { admission: open }))).toBe(
            true,
          );
          const left = await useState.closeAdmission(id, open.id, open.binding);
          await useState.reopenAdmission(id, { ...open, ttlMs: left! });
          await useState.reopenAdmission(id, { ...open, binding: admission('other').binding, ttlMs: left! });
          expect(await useState.closeAdmission(id, open.id, open.binding)).toBeGreaterThan(0);
          expect(await useState.closeAdmission(id, open.id, open.binding)).toBeUndefined();
        });

        it('rejects a malformed admission id or binding with request.invalid', async () => {
          const id = newArtifactId();
          const open = admission();
          await expectCode(useState.closeAdmission(id, 'att_', open.binding), 'request.invalid');
          await expectCode(
            useState.closeAdmission(id, open.id.toLowerCase(), open.binding),
            'request.invalid',
          );
          await expectCode(useState.closeAdmission(id, open.id, 'sha3-512:zz'), 'request.invalid');
          await expectCode(useState.closeAdmission('auth_x', open.id, open.binding), 'request.invalid');
          await expectCode(useState.reopenAdmission(id, { ...open, ttlMs: -1 }), 'request.invalid');
        });
      });

      describe('hostile input', () => {
        it('rejects a malformed artifact id with request.invalid', async () => {
          const good = newArtifactId();
          const now = Date.now();
          for (const artifactId of [
            '',
            good.toLowerCase(),
            good.slice(0, -1),
            good + '0',
            good.slice(0, -1) + 'I',
            'auth_{' + good.slice(6),
            'gov:use:' + good,
            42 as unknown as string,
          ]) {
            await expectCode(useState.consume(presentation(artifactId, single, now)), 'request.invalid');
          }
        });

        it('rejects malformed terms, times and admissions with request.invalid', async () => {
          const id = newArtifactId();
          const now = Date.now();
          const bad: UseRequest[] = [
            presentation(id, { mode: 'unlimited', nonce: NONCE } as unknown as UseTerms, now),
            presentation(id, bounded(0), now),
            presentation(id, bounded(1.5), now),
            presentation(id, rate(10, 0), now),
            presentation(id, rate(10, 86_401), now),
            presentation(id, rate(1_000_001, 1), now),
            presentation(id, single, Number.NaN),
            presentation(id, single, now, { expiresAtMs: Infinity }),
            presentation(id, single, now, { admission: { ...admission(), id: 'att_0' } }),
            presentation(id, single, now, { admission: { ...admission(), binding: 'sha3-512:00' } }),
            presentation(id, single, now, { admission: { ...admission(), ttlMs: 0 } }),
            presentation(id, single, now, { admission: { ...admission(), ttlMs: 7 * 86_400_000 + 1 } }),
          ];
          for (const request of bad) await expectCode(useState.consume(request), 'request.invalid');
          expect(await stores.retainedUntil(id)).toBeUndefined();
        });
      });
    }

    if (part === 'registry') {
      describe('key records', () => {
        it('stores certified records, immutable by kid', async () => {
          const a = keyRecord('issuer:a');
          const b = keyRecord('issuer:b');
          await registry.putKeyRecord(b);
          await registry.putKeyRecord(a);
          await registry.putKeyRecord(a); // the same record again is a no-op
          const listed = await registry.listKeyRecords();
          expect(listed).toEqual([a, b]);
          expect(verifyKeyRecord(nodeCrypto, listed[0]!, roots).kid).toBe('issuer:a');
          await expectCode(registry.putKeyRecord(keyRecord('issuer:a')), 'key.invalid');
          expect(await registry.listKeyRecords()).toEqual([a, b]);
          const { changes } = await allChanges(registry);
          expect(changes).toEqual([
            { kind: 'key', kid: 'issuer:b' },
            { kind: 'key', kid: 'issuer:a' },
          ]);
        });

        it('refuses malformed records with key.invalid', async () => {
          const good = keyRecord('issuer:a');
          const bad: unknown[] = [
            { ...good, kid: '../etc' },
            { ...good, role: 'root' },
            { ...good, public_key: 'AAAA' },
            { ...good, not_after: good.not_before },
            { ...good, extra: 'x'.repeat(20_000) },
            { ...good, cert: { ...good.cert, alg: 'none' } },
            { ...good, v: '2' },
            null,
          ];
          for (const record of bad)
            await expectCode(registry.putKeyRecord(record as KeyRecord), 'key.invalid');
          expect(await registry.listKeyRecords()).toEqual([]);
          expect((await allChanges(registry)).changes).toEqual([]);
        });
      });

      describe('policy versions', () => {
        it('stores versions immutable by hash, after checking the hash', async () => {
          const v1 = policyVersion('payments', { rules: [{ allow: 'payments.refund' }] });
          await registry.putPolicyVersion(v1);
          await registry.putPolicyVersion({ ...v1, published_at: '2030-01-01T00:00:00Z' }); // no-op
          expect(await registry.getPolicyVersion(v1.hash)).toEqual(v1);
          expect(await registry.getPolicyVersion('sha3-512:' + '0'.repeat(128))).toBeUndefined();
          expect(await registry.listPolicyVersions()).toEqual([
            { ref: v1.ref, hash: v1.hash, published_at: v1.published_at },
          ]);
          await expectCode(registry.putPolicyVersion({ ...v1, ref: 'other' }), 'policy.invalid');
          expect((await allChanges(registry)).changes).toEqual([{ kind: 'policy', hash: v1.hash }]);
        });

        it('refuses a version whose hash is not its document hash, or that is malformed or too large', async () => {
          const v1 = policyVersion('payments', { rules: [] });
          const bad: unknown[] = [
            { ...v1, document: { rules: ['changed'] } },
            { ...v1, hash: 'sha3-512:' + 'A'.repeat(128) },
            { ...v1, published_at: 'yesterday' },
            { ...v1, extra: true },
            policyVersion('payments', { blob: 'x'.repeat(300 * 1024) }),
            { ...v1, document: { n: Number.NaN } },
          ];
          for (const version of bad)
            await expectCode(registry.putPolicyVersion(version as PolicyVersion), 'policy.invalid');
          expect(await registry.listPolicyVersions()).toEqual([]);
        });

        it('activates only a published version of the same ref', async () => {
          const v1 = policyVersion('payments', { rules: [1] });
          const v2 = policyVersion('payments', { rules: [2] });
          const other = policyVersion('search', { rules: [3] });
          await expectCode(registry.activatePolicy('payments', v1.hash), 'policy.invalid');
          for (const v of [v1, v2, other]) await registry.putPolicyVersion(v);
          await expectCode(registry.activatePolicy('payments', other.hash), 'policy.invalid');
          expect(await registry.activePolicies()).toEqual({});
          await registry.activatePolicy('payments', v1.hash);
          await registry.activatePolicy('search', other.hash);
          await registry.activatePolicy('payments', v2.hash);
          await registry.activatePolicy('payments', v2.hash); // already active: no-op
          expect(await registry.activePolicies()).toEqual({ payments: v2.hash, search: other.hash });
          const activations = (await allChanges(registry)).changes.filter((c) => c.kind === 'activation');
          expect(activations).toEqual([
            { kind: 'activation', ref: 'payments', hash: v1.hash },
            { kind: 'activation', ref: 'search', hash: other.hash },
            { kind: 'activation', ref: 'payments', hash: v2.hash },
          ]);
        });
      });

      describe('revocations', () => {
        it('adds each target once and never removes it', async () => {
          const artifactId = newArtifactId();
          expect(await registry.addRevocation(revocation({ artifact_id: artifactId }))).toBe(true);
          expect(await registry.addRevocation(revocation({ kid: 'issuer:a' }))).toBe(true);
          expect(await registry.addRevocation(revocation({ artifact_id: artifactId }, 'again'))).toBe(false);
          // An artifact id that is also a valid kid names another target.
          expect(await registry.addRevocation(revocation({ kid: artifactId }))).toBe(true);
          const listed = await registry.listRevocations();
          expect(listed.map((r) => r.target)).toEqual([
            { artifact_id: artifactId },
            { kid: artifactId },
            { kid: 'issuer:a' },
          ]);
          expect(listed[0]!.reason).toBe('compromised');
          expect((await allChanges(registry)).changes).toEqual([
            { kind: 'revocation', target: `artifact_id:${artifactId}` },
            { kind: 'revocation', target: 'kid:issuer:a' },
            { kind: 'revocation', target: `kid:${artifactId}` },
          ]);
        });

        it('refuses malformed revocations with request.invalid', async () => {
          const good = revocation({ kid: 'issuer:a' });
          const bad: unknown[] = [
            { ...good, target: { kid: 'issuer:a', artifact_id: newArtifactId() } },
            { ...good, target: { artifact_id: 'auth_short' } },
            { ...good, reason: 'x'.repeat(2_000) },
            { ...good, sig: undefined },
          ];
          for (const record of bad)
            await expectCode(registry.addRevocation(record as RevocationRecord), 'request.invalid');
          expect(await registry.listRevocations()).toEqual([]);
        });
      });

      it('keeps the latest heartbeat only', async () => {
        expect(await registry.latestHeartbeat()).toBeUndefined();
        await registry.putHeartbeat(heartbeat(1));
        const latest = heartbeat(2);
        await registry.putHeartbeat(latest);
        expect(await registry.latestHeartbeat()).toEqual(latest);
        await expectCode(registry.putHeartbeat({ ...latest, revocations: -1 }), 'request.invalid');
        expect(await registry.latestHeartbeat()).toEqual(latest);
      });

      describe('changes', () => {
        it('lists changes in order, page by page from a cursor', async () => {
          await registry.putKeyRecord(keyRecord('issuer:a'));
          await registry.putHeartbeat(heartbeat(0));
          await registry.addRevocation(revocation({ kid: 'issuer:a' }));
          await registry.putHeartbeat(heartbeat(1));
          const all = await allChanges(registry);
          expect(all.changes).toEqual([
            { kind: 'key', kid: 'issuer:a' },
            { kind: 'heartbeat' },
            { kind: 'revocation', target: 'kid:issuer:a' },
            { kind: 'heartbeat' },
          ]);
          const first = await registry.changes('0', 3, 0);
          expect(first.changes).toEqual(all.changes.slice(0, 3));
          const rest = await registry.changes(first.cursor, 3, 0);
          expect(rest.changes).toEqual(all.changes.slice(3));
          expect(rest.cursor).toBe(all.cursor);
          expect(await registry.changes(rest.cursor, 3, 0)).toEqual({ cursor: rest.cursor, changes: [] });
        });

        it('waits for the next change when asked to block', async () => {
          const { cursor } = await allChanges(registry);
          const started = Date.now();
          const waiting = registry.changes(cursor, 10, 10_000);
          await sleep(50);
          await registry.putKeyRecord(keyRecord('issuer:late'));
          const { changes } = await waiting;
          expect(changes).toEqual([{ kind: 'key', kid: 'issuer:late' }]);
          expect(Date.now() - started).toBeLessThan(5_000);
        });

        it('returns nothing after blockMs without a change', async () => {
          const started = Date.now();
          expect(await registry.changes('0', 10, 200)).toEqual({ cursor: '0', changes: [] });
          expect(Date.now() - started).toBeGreaterThanOrEqual(190);
        });

        it('never shows a change before its record', async () => {
          let abandoned = false;
          const follower = (async () => {
            const seen: string[] = [];
            let cursor = '0';
            // Abandoned when a write failed: the rest of the changes would never come.
            while (seen.length < 20 && !abandoned) {
              const batch = await registry.changes(cursor, 100, 2_000);
              cursor = batch.cursor;
              // Read right after seeing the changes: every record they name must be there.
              const kids = new Set((await registry.listKeyRecords()).map((r) => r.kid));
              for (const change of batch.changes) {
                if (change.kind !== 'key') continue;
                expect(kids.has(change.kid)).toBe(true);
                seen.push(change.kid);
              }
            }
            return seen;
          })();
          follower.catch(() => undefined); // awaited below; a failure must not be reported as unhandled first
          // Settled, not awaited one by one: a failed write must not leave the follower running.
          const writes = await Promise.allSettled(
            Array.from({ length: 20 }, (_, i) => registry.putKeyRecord(keyRecord(`issuer:${i}`))),
          );
          abandoned = writes.some((w) => w.status === 'rejected');
          const seen = await follower;
          expect(writes.filter((w) => w.status === 'rejected')).toEqual([]);
          expect(seen.sort()).toEqual(Array.from({ length: 20 }, (_, i) => `issuer:${i}`).sort());
        });

        it('tells a follower whose cursor fell behind the cap to reload', async () => {
          const capped = await makeStores({ changeCap: 10 });
          try {
            const first = await capped.registry
              .putKeyRecord(keyRecord('issuer:first'))
              .then(() => capped.registry.changes('0', 1, 0));
            for (let i = 0; i < 400; i++) await capped.registry.putHeartbeat(heartbeat(i));
            for (const cursor of ['0', first.cursor]) {
              const error = await rejection(capped.registry.changes(cursor, 10, 0));
              expect(error).toBeInstanceOf(ChangesTrimmedError);
              expect(isGovernanceError(error, 'issuer.unavailable')).toBe(true);
            }
            const error = (await rejection(capped.registry.changes('0', 10, 0))) as ChangesTrimmedError;
            // The snapshot still holds everything; the resume cursor follows from there.
            expect((await capped.registry.listKeyRecords()).map((r) => r.kid)).toEqual(['issuer:first']);
            expect(await capped.registry.changes(error.resumeCursor, 10, 0)).toEqual({
              cursor: error.resumeCursor,
              changes: [],
            });
            await capped.registry.addRevocation(revocation({ kid: 'issuer:first' }));
            expect((await capped.registry.changes(error.resumeCursor, 10, 0)).changes).toEqual([
              { kind: 'revocation', target: 'kid:issuer:first' },
            ]);
          } finally {
            await capped.close();
          }
        });

        it('rejects malformed reads with request.invalid', async () => {
          await expectCode(registry.changes('0', 0, 0), 'request.invalid');
          await expectCode(registry.changes('0', 1_001, 0), 'request.invalid');
          await expectCode(registry.changes('0', 10, -1), 'request.invalid');
          await expectCode(registry.changes('0', 10, 60_001), 'request.invalid');
          await expectCode(registry.changes('$', 10, 0), 'request.invalid');
          await expectCode(registry.changes('0-0 STREAMS x', 10, 0), 'request.invalid');
        });
      });
    }
  });
}
