// The decision deadline (authz-server/enforcer.ts underDeadline), or the caller's gRPC deadline
// less the answer's margin when that ends first: whichever stage it catches, the
// answer is a DENY naming that stage's store, a use that lands after it records no admission,
// and an ALLOW is only ever the in-time outcome of decide() and the ledger append.
import { afterEach, describe, expect, it } from 'vitest';
import { ANSWER_MARGIN_MS } from '../../authz-server/overload.js';
import type { UseRequest } from '../../store/types.js';
import { MemoryUseStateStore } from '../../store/use-state-memory.js';
import { fixture, headerOf, type CheckAnswer } from './support/envoy-client.js';
import { requestId, startHarness, type Harness } from './support/harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const DEADLINE_MS = 100;

function invoke(artifact: string | undefined, deadlineMs?: number): Promise<CheckAnswer> {
  return h!.client.check(fixture('model-invoke', { artifact, 'request-id': requestId() }), deadlineMs);
}

function expectDenied(answer: CheckAnswer, reason: string): void {
  expect(answer.okResponse).toBeUndefined();
  expect(answer.status?.code).toBe(7);
  expect(headerOf(answer, 'x-execution-denied')).toBe(reason);
}

/** A real store whose consume answers arrive `delayMs` late (the use is spent either way). */
function slowUseState(delayMs: number): MemoryUseStateStore & { spent: boolean[]; delayMs: number } {
  const store = new MemoryUseStateStore();
  const consume = store.consume.bind(store);
  const slow = Object.assign(store, {
    spent: [] as boolean[],
    delayMs,
    async consume(request: UseRequest): Promise<boolean> {
      const allowed = await consume(request);
      await new Promise((r) => setTimeout(r, slow.delayMs));
      slow.spent.push(allowed);
      return allowed;
    },
  });
  return slow;
}

describe('decision deadline', () => {
  it('denies ledger.unavailable when the admission append outlasts the deadline', async () => {
    h = await startHarness({ config: { decisionDeadlineMs: DEADLINE_MS } });
    h.ledger.delayMs = 3 * DEADLINE_MS;
    const started = Date.now();
    expectDenied(await invoke(await h.world.issue()), 'ledger.unavailable');
    expect(Date.now() - started).toBeLessThan(DEADLINE_MS + 1_000);
  });

  it('denies state.unavailable when the use lands after the deadline, records no admission and gives the use back', async () => {
    const useState = slowUseState(3 * DEADLINE_MS);
    h = await startHarness({ useState, config: { decisionDeadlineMs: DEADLINE_MS } });
    const artifact = await h.world.issue();
    expectDenied(await invoke(artifact), 'state.unavailable');
    // Let the late use land: the enforcer must not append admission events for it.
    await new Promise((r) => setTimeout(r, 4 * DEADLINE_MS));
    expect(useState.spent).toEqual([true]);
    const types = h.ledger.events.map((e) => e.type);
    expect(types).not.toContain('authorization.consumed');
    expect(types).not.toContain('admission.granted');
    expect(types).toContain('execution.denied');
    // The ledger says the artifact was not used, and so does the use state: it is allowed, once.
    useState.delayMs = 0;
    expect((await invoke(artifact)).okResponse).toBeDefined();
    expectDenied(await invoke(artifact), 'artifact.replayed');
  });

  it("ends sooner when the caller's gRPC deadline does: the use that lands after it is given back", async () => {
    // The use lands after 150 ms: within the 2 s decision deadline, not within the caller's 80 ms.
    const useState = slowUseState(150);
    h = await startHarness({ useState, config: { decisionDeadlineMs: 2_000 } });
    const artifact = await h.world.issue();
    const late = await invoke(artifact, 80).catch((e: Error) => e);
    // The client gives up at 80 ms; the decision ended before, but its answer may arrive after.
    if (!(late instanceof Error)) expectDenied(late, 'state.unavailable');
    else expect(late.message).toMatch(/DEADLINE_EXCEEDED/);
    const [denial] = await h.ledger.waitFor('execution.denied');
    expect(denial?.reason).toBe('state.unavailable');
    const given = /decision deadline of (\d+) ms passed/.exec(String(denial?.data?.['detail']));
    expect(Number(given?.[1])).toBeGreaterThan(0);
    expect(Number(given?.[1])).toBeLessThanOrEqual(80 - ANSWER_MARGIN_MS);
    await new Promise((r) => setTimeout(r, 300));
    expect(useState.spent).toEqual([true]);
    expect(h.ledger.events.map((e) => e.type)).not.toContain('admission.granted');
    useState.delayMs = 0;
    expect((await invoke(artifact)).okResponse).toBeDefined();
  });

  it('allows within the deadline, many at once, each with its own timer cleared', async () => {
    h = await startHarness({ config: { decisionDeadlineMs: 2_000 } });
    const artifacts = await Promise.all(Array.from({ length: 32 }, () => h!.world.issue()));
    const answers = await Promise.all(artifacts.map((a) => invoke(a)));
    for (const answer of answers) expect(answer.okResponse).toBeDefined();
    expect(h.ledger.events.filter((e) => e.type === 'admission.granted')).toHaveLength(32);
  });
});
