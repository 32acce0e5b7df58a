// Overload control (authz-server/overload.ts): past its in-flight limit, while the ledger's
// commit lag passes half the commit window, or when the caller's deadline leaves too little
// time, the enforcement point sheds a Check before deciding it — DENY overload.shed, answered 503 so that Envoy's clients may retry, and recorded like any
// denial — and takes Checks again as soon as the load allows; a halted ledger still says
// ledger.unavailable.
import http2 from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ANSWER_MARGIN_MS,
  decisionBudgetMs,
  LoadShedder,
  MIN_DECISION_MS,
  ShedLog,
  type OverloadSettings,
} from '../../authz-server/overload.js';
import { loadEnvoyAuthProto, type CheckRequestMessage } from '../../authz-server/envoy-proto.js';
import { checkRequestBytes, fixture, headerOf, type CheckAnswer } from './support/envoy-client.js';
import { requestId, startHarness, type Harness } from './support/harness.js';
import { testConfig } from './support/world.js';

const SETTINGS: OverloadSettings = { maxInFlight: 10, minInFlight: 2, targetMs: 50, maxCommitLagMs: 1000 };
/** The time each decision of the unit tests is given: enough. */
const BUDGET = 200;

describe('the load shedder', () => {
  it('takes decisions up to its limit and sheds the next one, naming the load', () => {
    const shedder = new LoadShedder(SETTINGS, () => 0);
    for (let i = 0; i < 10; i++) expect(shedder.shed(BUDGET)).toBeUndefined();
    expect(shedder.shed(BUDGET)).toBe('10 decisions in flight, the limit now');
    shedder.done(1);
    expect(shedder.load()).toEqual({ inFlight: 9, limit: 10 });
    expect(shedder.shed(BUDGET)).toBeUndefined();
  });

  /** A shedder on a clock of its own, and `n` decisions of `ms` each, `advanceMs` apart. */
  function clocked() {
    let now = 0;
    const shedder = new LoadShedder(
      SETTINGS,
      () => 0,
      () => now,
    );
    const decide = (n: number, ms: number, advanceMs = 0) => {
      for (let i = 0; i < n; i++) {
        now += advanceMs;
        shedder.shed(BUDGET);
        shedder.done(ms);
      }
    };
    return { shedder, decide };
  }

  it('shrinks its limit by a tenth per target interval while decisions are slow, down to its floor', () => {
    const { shedder, decide } = clocked();
    decide(1, 51);
    expect(shedder.load().limit).toBe(9);
    // More slow decisions within the same interval: one decrease only.
    decide(5, 80);
    expect(shedder.load().limit).toBe(9);
    decide(40, 80, 50);
    expect(shedder.load().limit).toBe(2);
  });

  it('shrinks in proportion to how far the recent average overran the target, by half at most', () => {
    const { shedder, decide } = clocked();
    decide(1, 62.5); // target 50: 0.8
    expect(shedder.load().limit).toBe(8);
    decide(20, 1000, 1); // within one interval: no more than one decrease
    expect(shedder.load().limit).toBe(8);
    decide(1, 1000, 50); // the average is far past the target: held at a half
    expect(shedder.load().limit).toBe(4);
  });

  it('keeps its limit through a lone slow decision among fast ones', () => {
    const { shedder, decide } = clocked();
    decide(20, 10, 50);
    decide(1, 200, 50);
    expect(shedder.load().limit).toBe(10);
    decide(30, 200, 50);
    expect(shedder.load().limit).toBe(2);
  });

  it('grows its limit back by one per limit-worth of decisions answered within the target, up to its ceiling', () => {
    const { shedder, decide } = clocked();
    decide(40, 80, 50);
    expect(shedder.load().limit).toBe(2);
    decide(4, 50);
    expect(shedder.load().limit).toBeGreaterThanOrEqual(3);
    decide(1000, 5);
    expect(shedder.load()).toEqual({ inFlight: 0, limit: 10 });
  });

  it('sheds every decision while the ledger commit lag exceeds its bound', () => {
    let lag = 1000;
    const shedder = new LoadShedder(SETTINGS, () => lag);
    expect(shedder.shed(BUDGET)).toBeUndefined();
    lag = 1001;
    expect(shedder.shed(BUDGET)).toBe('the ledger commit lag of 1001 ms exceeds 1000 ms');
    expect(shedder.load().inFlight).toBe(1);
  });

  it('takes the decision when the ledger cannot tell its lag, which then fails it closed', () => {
    const shedder = new LoadShedder(SETTINGS, () => {
      throw new Error('boom');
    });
    expect(shedder.shed(BUDGET)).toBeUndefined();
    expect(shedder.load().inFlight).toBe(1);
  });

  it("gives a decision its own deadline, or less: what the caller's leaves for it", () => {
    expect(decisionBudgetMs(200, Infinity)).toBe(200);
    expect(decisionBudgetMs(200, 250)).toBe(200);
    expect(decisionBudgetMs(200, 100)).toBe(100 - ANSWER_MARGIN_MS);
  });

  it("sheds a decision the caller's deadline leaves too little time for, without taking a place", () => {
    const shedder = new LoadShedder(SETTINGS, () => 0);
    expect(shedder.shed(MIN_DECISION_MS - 0.5)).toBe(
      `the caller's deadline leaves ${MIN_DECISION_MS - 1} ms to decide`,
    );
    expect(shedder.shed(-20)).toBe("the caller's deadline leaves 0 ms to decide");
    expect(shedder.load().inFlight).toBe(0);
    expect(shedder.shed(MIN_DECISION_MS)).toBeUndefined();
    expect(shedder.load().inFlight).toBe(1);
  });

  it('logs shed Checks once a second at most, with their count and the last reason', async () => {
    const lines: [number, string][] = [];
    const log = new ShedLog((shed, detail) => lines.push([shed, detail]));
    log.note('a');
    log.note('b');
    expect(lines).toEqual([]);
    await new Promise((r) => setTimeout(r, 1100));
    expect(lines).toEqual([[2, 'b']]);
    log.note('c');
    log.flush();
    log.flush();
    expect(lines).toEqual([
      [2, 'b'],
      [1, 'c'],
    ]);
  });

  it('is configured with a floor no higher than its ceiling', () => {
    expect(() => testConfig({ overload: { maxInFlight: 4, minInFlight: 8 } })).toThrow(/minInFlight/);
    expect(testConfig().overload).toEqual({ maxInFlight: 256, minInFlight: 8 });
  });
});

describe('a Check over capacity', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  const invoke = (artifact: string | undefined, deadlineMs?: number): Promise<CheckAnswer> =>
    h!.client.check(fixture('model-invoke', { artifact, 'request-id': requestId() }), deadlineMs);

  function expectShed(answer: CheckAnswer): void {
    expect(answer.okResponse).toBeUndefined();
    expect(answer.status?.code).toBe(7);
    expect(answer.deniedResponse?.status?.code).toBe('ServiceUnavailable');
    expect(headerOf(answer, 'x-execution-denied')).toBe('overload.shed');
  }

  it('is shed 503 overload.shed while the limit is taken, recorded, and allowed once it is free', async () => {
    h = await startHarness({ config: { overload: { maxInFlight: 1, minInFlight: 1 } } });
    let release!: () => void;
    h.ledger.hold = new Promise((resolve) => (release = resolve));
    const [first, second, third] = await Promise.all([h.world.issue(), h.world.issue(), h.world.issue()]);
    const taken = invoke(first);
    // The first holds the one place until its admission is appended.
    await until(() => h!.ledger.held === 1);
    expectShed(await invoke(second));
    h.ledger.hold = undefined;
    release();
    expect((await taken).okResponse).toBeDefined();
    const denials = await h.ledger.waitFor('execution.denied');
    expect(denials).toHaveLength(1);
    expect(denials[0]!.reason).toBe('overload.shed');
    // Shed unread, it still names its request.
    expect(denials[0]!.request_id).toMatch(/\S/);
    // The shed artifact was never judged: its use is untouched, and it allows now.
    expect((await invoke(second)).okResponse).toBeDefined();
    expect((await invoke(third)).okResponse).toBeDefined();
  });

  it("is shed, recorded and unspent when the caller's deadline leaves too little time", async () => {
    h = await startHarness();
    const artifact = await h.world.issue();
    // What the gRPC handler passes when 3 ms of the call's deadline are left (over gRPC, the
    // server's own deadline timer could end the call first: deadline.test.ts covers the wire).
    const message = loadEnvoyAuthProto().service['Check']!.requestDeserialize(
      checkRequestBytes(fixture('model-invoke', { artifact, 'request-id': requestId() })),
    ) as CheckRequestMessage;
    const answer = await h.server.enforcer.check(message, 3);
    expect(answer.denied_response?.status.code).toBe(503);
    const [denial] = await h.ledger.waitFor('execution.denied');
    expect(denial?.reason).toBe('overload.shed');
    expect(denial?.data?.['detail']).toBe("the caller's deadline leaves 0 ms to decide");
    expect((await invoke(artifact)).okResponse).toBeDefined();
  });

  it('is shed while the ledger commit lag exceeds half the commit window, denied ledger.unavailable once halted', async () => {
    h = await startHarness();
    const artifact = await h.world.issue();
    h.ledger.lagMs = 1001; // the test configuration's window is 2000 ms
    expectShed(await invoke(artifact));
    h.ledger.halted = true;
    const halted = await invoke(artifact);
    expect(headerOf(halted, 'x-execution-denied')).toBe('ledger.unavailable');
    expect(halted.deniedResponse?.status?.code).toBe('Forbidden');
    h.ledger.halted = false;
    h.ledger.lagMs = 1000;
    expect((await invoke(artifact)).okResponse).toBeDefined();
  });
});

describe('the HTTP/2 connection window', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  /** The receive window the server gives a new connection, as an HTTP/2 client sees it. */
  async function windowOffered(port: number): Promise<number> {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    try {
      await new Promise<void>((resolve, reject) => {
        session.once('remoteSettings', () => resolve());
        session.once('error', reject);
      });
      // The server's WINDOW_UPDATE follows its SETTINGS; a ping answered means it has arrived.
      await new Promise<void>((resolve, reject) => session.ping((e) => (e ? reject(e) : resolve())));
      return session.state.remoteWindowSize ?? 0;
    } finally {
      session.close();
    }
  }

  it('is opened wide, so that Checks queue where deadlines and shedding see them', async () => {
    h = await startHarness();
    expect(await windowOffered(h.grpcPort)).toBe(16 * 1024 * 1024);
  });

  it('is configured', async () => {
    h = await startHarness({
      config: { grpc: { host: '127.0.0.1', port: 0, connectionWindowBytes: 1_000_000 } },
    });
    expect(await windowOffered(h.grpcPort)).toBe(1_000_000);
    expect(() => testConfig({ grpc: { host: '127.0.0.1', port: 0, connectionWindowBytes: 1000 } })).toThrow(
      /connectionWindowBytes/,
    );
  });
});

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((r) => setTimeout(r, 5));
}
