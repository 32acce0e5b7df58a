// The sequencer's fast record encoder against core's generic construction, producer batches
// sealed and opened, and the checks an ingest entry must pass before anything of it is chained.
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { canonicalBytes, canonicalize, parseCanonicalText, type JsonValue } from '../../core/canonical.js';
import { checkRecord, signerKeyOf } from '../../core/chain.js';
import { checkpointSigner, signCheckpoint } from '../../core/checkpoint.js';
import { nodeCrypto } from '../../core/crypto-node.js';
import { portableCrypto } from '../../core/crypto-portable.js';
import { base64urlDecode, hexEncode, utf8Decode, utf8Encode } from '../../core/encoding.js';
import { isGovernanceError, type Code } from '../../core/errors.js';
import {
  EVENT_LIMITS,
  batchStatement,
  chainNext,
  eventsBytes,
  genesis,
  recordBytes,
  recordBytesBound,
  validateEvent,
  type ChainRecord,
  type ChainState,
  type EventPosition,
  type LedgerEvent,
} from '../../core/event.js';
import { rawPublicKey, signSync } from '../../core/keys.js';
import { commitEvent } from '../../core/redaction.js';
import { tlogLeafHash } from '../../core/tlog.js';
import { formatMillis } from '../../core/time.js';
import { MAX_INGEST_CHARS, openBatch, sealBatch } from '../../ledger/ingest.js';
import { linkRecord } from '../../ledger/records.js';
import {
  AUDIT_KID,
  PRODUCER_KID,
  auditKey,
  ledgerKeys,
  producerKey,
  strangerKey,
  testEvent,
} from './support.js';

const LOG = 'test-log';
const signer = signerKeyOf(ledgerKeys, LOG);
const seal = (events: LedgerEvent[], kid = PRODUCER_KID, key = producerKey, log = LOG) =>
  sealBatch(
    nodeCrypto,
    log,
    kid,
    key,
    events.map((e) => validateEvent(e)),
  ).entry;

/** The error `run` throws (undefined when it returns). */
function thrown(run: () => unknown): unknown {
  try {
    run();
  } catch (e) {
    return e;
  }
  return undefined;
}

const hex = ({ seq, hash, alt }: ChainState) => [seq, hexEncode(hash), hexEncode(alt)];

/**
 * Chains `batches` both ways: with linkRecord (the sequencer) and with core recordBytes,
 * chainNext and tlogLeafHash over `suite` (the verifier), lineage_prev from a map of each
 * lineage's latest position. Expects every record text, leaf and chain state to agree.
 */
function expectSameChain(log: string, batches: LedgerEvent[][], start = genesis(nodeCrypto, log)): void {
  let fast = start;
  let generic = start;
  const latest = new Map<string, EventPosition>();
  for (const batch of batches) {
    const opened = openBatch(
      nodeCrypto,
      log,
      seal(batch, PRODUCER_KID, producerKey, log),
      signerKeyOf(ledgerKeys, log),
    );
    const seq = fast.seq + 1;
    const prevs = opened.lineages.map((lineage, i): EventPosition | null => {
      if (lineage === undefined) return null;
      const prev = latest.get(lineage) ?? null;
      latest.set(lineage, [seq, i]);
      return prev;
    });
    const linked = linkRecord(fast, opened.events, opened.kid, prevs, opened.val);
    const record: ChainRecord = {
      events: batch,
      kid: PRODUCER_KID,
      lineage_prev: prevs,
      seq,
      val: opened.val,
    };
    const bytes = recordBytes(record);
    expect(linked.record.text).toBe(utf8Decode(bytes));
    expect(linked.record.seq).toBe(seq);
    for (const suite of [nodeCrypto, portableCrypto]) {
      expect(hexEncode(linked.record.leaf)).toBe(hexEncode(tlogLeafHash(suite, bytes)));
      expect(hex(linked.state)).toEqual(hex(chainNext(suite, generic, bytes)));
    }
    // What the verifier reads back: the same record, strictly parsed, and the signed events array.
    const checked = checkRecord(parseCanonicalText(linked.record.text));
    expect(checked.record).toEqual(record);
    expect(utf8Decode(checked.events)).toBe(opened.events);
    fast = linked.state;
    generic = chainNext(nodeCrypto, generic, bytes);
  }
}

const text = fc.string({ unit: fc.constantFrom(...[...' !"\\/azAZ09é\u2028😀']), maxLength: 12 });
const arbitraryEvent = fc
  .record(
    {
      i: fc.nat({ max: 1_000_000 }),
      lineage: fc.option(fc.constantFrom('lineage://op/a', 'lineage://op/b', 'lineage://op/c'), {
        nil: undefined,
      }),
      note: text,
      n: fc.oneof(fc.integer(), fc.maxSafeInteger()),
    },
    { requiredKeys: ['i', 'note', 'n'] },
  )
  .map(({ i, lineage, note, n }) =>
    testEvent(i, 'execution.started', { ...(lineage ? { lineage } : {}), data: { note, n } }),
  );

describe('linkRecord (the sequencer) and core recordBytes, chainNext and tlogLeafHash agree', () => {
  test.prop(
    [fc.array(fc.array(arbitraryEvent, { minLength: 1, maxLength: 9 }), { minLength: 1, maxLength: 4 })],
    { numRuns: 40 },
  )('for any batches, lineages and data', (batches) => {
    expectSameChain('prop-log', batches);
  });

  it('for records near 64 KiB of multi-byte text, between small ones', () => {
    // Four events of about 16 KB each, mostly 4-byte UTF-8 characters: the record text is longer in
    // bytes than in UTF-16 code units, and longer than the encoder's first buffer.
    const big = (i: number) =>
      testEvent(i, 'execution.started', { lineage: 'lineage://op/big', data: { note: '😀'.repeat(3_900) } });
    const batch = [big(1), big(2), big(3), big(4)];
    expect(
      recordBytesBound(eventsBytes(batch.map((e) => validateEvent(e))).length, 4, PRODUCER_KID.length),
    ).toBeLessThanOrEqual(EVENT_LIMITS.recordBytes);
    expectSameChain(LOG, [
      [testEvent(1)],
      batch,
      [testEvent(2, 'execution.started', { lineage: 'lineage://op/big' })],
    ]);
  });

  it('at the largest seq, with the longest lineage_prev entries', () => {
    const start = genesis(nodeCrypto, LOG);
    const last = { ...start, seq: Number.MAX_SAFE_INTEGER - 1 };
    const events = [1, 2, 3].map((i) => testEvent(i, 'execution.started', { lineage: `lineage://op/L${i}` }));
    const opened = openBatch(nodeCrypto, LOG, seal(events), signer);
    const prevs: EventPosition[] = [
      [Number.MAX_SAFE_INTEGER - 1, 1023],
      [Number.MAX_SAFE_INTEGER - 1, 1022],
      [1, 0],
    ];
    const linked = linkRecord(last, opened.events, opened.kid, prevs, opened.val);
    const bytes = recordBytes({
      events,
      kid: PRODUCER_KID,
      lineage_prev: prevs,
      seq: Number.MAX_SAFE_INTEGER,
      val: opened.val,
    });
    expect(linked.record.text).toBe(utf8Decode(bytes));
    expect(hex(linked.state)).toEqual(hex(chainNext(nodeCrypto, last, bytes)));
    expect(checkRecord(parseCanonicalText(linked.record.text)).record.seq).toBe(Number.MAX_SAFE_INTEGER);
  });
});

describe('sealBatch and openBatch', () => {
  const events = [
    testEvent(1),
    testEvent(2, 'authorization.issued', { lineage: 'lineage://op/S1' }),
    testEvent(3, 'execution.started', { data: { note: 'é\u2028😀"\\' } }),
  ];
  const canonical = events.map((e) => validateEvent(e));

  it('seal one signature over the canonical events array, which opening returns as the record will spell it', () => {
    const sealed = sealBatch(nodeCrypto, LOG, PRODUCER_KID, producerKey, canonical);
    expect(sealed.events).toBe(utf8Decode(eventsBytes(canonical)));
    expect(JSON.parse(sealed.events)).toEqual(events);
    for (const suite of [nodeCrypto, portableCrypto]) {
      const statement = batchStatement(suite, LOG, PRODUCER_KID, 3, utf8Encode(sealed.events));
      expect(suite.verifyEd25519(rawPublicKey(producerKey), statement, base64urlDecode(sealed.val)!)).toBe(
        true,
      );
    }
    const opened = openBatch(nodeCrypto, LOG, sealed.entry, signer);
    expect(opened).toEqual({
      kid: PRODUCER_KID,
      val: sealed.val,
      events: sealed.events,
      lineages: [undefined, 'lineage://op/S1', undefined],
      times: [
        Math.min(...events.map((e) => Date.parse(e.time))),
        Math.max(...events.map((e) => Date.parse(e.time))),
      ],
    });
  });

  it('write an entry that is canonical JSON with exactly events, kid and val', () => {
    const { entry, val } = sealBatch(nodeCrypto, LOG, PRODUCER_KID, producerKey, canonical);
    expect(parseCanonicalText(entry)).toEqual({ events, kid: PRODUCER_KID, val });
  });

  it('sign the batch statement: its digest, kid, kind, log and size', () => {
    const statement = JSON.parse(
      utf8Decode(batchStatement(nodeCrypto, LOG, PRODUCER_KID, 3, eventsBytes(canonical)))!,
    ) as Record<string, unknown>;
    expect(statement).toEqual({
      digest: 'sha256:' + hexEncode(nodeCrypto.sha256(eventsBytes(canonical))),
      kid: PRODUCER_KID,
      kind: 'governance.event-batch.v2',
      log: LOG,
      size: 3,
    });
  });

  it('carry the openings of committed members beside the events, unsigned, per event in index order', () => {
    const salt = (n: number) => () => new Uint8Array(32).fill(n);
    const first = commitEvent(nodeCrypto, events[0]!, ['identity', 'request_id'], salt(1));
    const third = commitEvent(nodeCrypto, events[2]!, ['data'], salt(3));
    const sealed = sealBatch(
      nodeCrypto,
      LOG,
      PRODUCER_KID,
      producerKey,
      [validateEvent(first.event), canonical[1]!, validateEvent(third.event)],
      [first.openings, [], third.openings],
    );
    const entry = parseCanonicalText(sealed.entry) as { openings: string[][] };
    expect(Object.keys(entry)).toEqual(['events', 'kid', 'openings', 'val']);
    expect(entry.openings.map((list) => list.map((o) => canonicalize(o)))).toEqual([
      first.openings,
      [],
      third.openings,
    ]);
    const opened = openBatch(nodeCrypto, LOG, sealed.entry, signer);
    expect(opened.openings).toEqual([
      [
        ['identity', first.openings[0]],
        ['request_id', first.openings[1]],
      ],
      [],
      [['data', third.openings[0]]],
    ]);
    // The events array (what is signed and chained) holds the commitments of what was opened.
    const chained = JSON.parse(opened.events) as LedgerEvent[];
    expect(chained[0]!.request_id).toMatch(/^commit:sha256:/);
    expect(chained[2]!.data).toEqual({ commitment: expect.stringMatching(/^commit:sha256:/) as unknown });
    expect(opened.events).not.toContain('req-1"');
    expect(opened.events).not.toContain('😀');
    expect(opened.events).toBe(sealed.events);
  });

  it('leave the openings out when no event has one', () => {
    const sealed = sealBatch(nodeCrypto, LOG, PRODUCER_KID, producerKey, canonical, [[], [], []]);
    expect(sealed.entry).not.toContain('"openings"');
    expect(openBatch(nodeCrypto, LOG, sealed.entry, signer)).not.toHaveProperty('openings');
  });
});

describe('event data: one rule for the writer, the sequencer and the verifier (spec §3)', () => {
  const nested = (levels: number): JsonValue => (levels === 0 ? 0 : [nested(levels - 1)]);
  const withData = (data: { [key: string]: JsonValue }) => testEvent(1, 'execution.started', { data });
  /** A sealed entry with its event replaced by `event` (not validated, so its signature is stale). */
  const entry = (event: LedgerEvent) => {
    const sealed = JSON.parse(seal([testEvent(1)])) as { events: LedgerEvent[] };
    return JSON.stringify({ ...sealed, events: [event] });
  };

  it('accepts 28 levels inside data, and its record (depth 31 at the innermost) parses strictly', () => {
    const opened = openBatch(nodeCrypto, LOG, seal([withData({ nest: nested(28) })]), signer);
    const { record } = linkRecord(genesis(nodeCrypto, LOG), opened.events, opened.kid, [null], opened.val);
    expect(checkRecord(parseCanonicalText(record.text)).record).toMatchObject({ seq: 1 });
  });

  it.each([
    ['29 levels inside data: depth 32 of the record', { nest: nested(29) }],
    ['a fraction', { n: 1.5 }],
    ['2^53', { n: 2 ** 53 }],
    ['-(2^53)', { deep: [{ n: -(2 ** 53) }] }],
  ])('refuses %s at the writer and at the sequencer', (_name, data) => {
    expect(() => validateEvent(withData(data))).toThrow(/event\.data/);
    expect(() => openBatch(nodeCrypto, LOG, entry(withData(data)), signer)).toThrow(/^event 0: event\.data/);
  });
});

/** Canonical events whose array is exactly `arrayBytes` long: `count` events, the last padded. */
function eventsOfArrayLength(count: number, arrayBytes: number): LedgerEvent[] {
  const share = Math.floor(arrayBytes / count);
  const padded = (i: number, length: number) => {
    const bare = testEvent(i, 'execution.started', { data: { pad: '' } });
    return testEvent(i, 'execution.started', {
      data: { pad: 'x'.repeat(length - canonicalBytes(bare).length) },
    });
  };
  const events = Array.from({ length: count - 1 }, (_, i) => padded(i, share));
  const used = eventsBytes(events.map((e) => validateEvent(e))).length;
  // The array of the first count − 1 events ends in "]"; the last event adds a comma and itself.
  events.push(padded(count, arrayBytes - used - 1));
  return events;
}

describe('openBatch refuses before chaining anything', () => {
  const valid = seal([testEvent(1), testEvent(2)]);
  const entry = JSON.parse(valid) as { events: LedgerEvent[]; kid: string; val: string };
  const rejected = (producer = `ledger://${LOG}`) => testEvent(1, 'ledger.rejected', { producer });
  // The largest events array a batch of 4 events may have under PRODUCER_KID, and one byte more.
  const largest = EVENT_LIMITS.recordBytes - recordBytesBound(0, 4, PRODUCER_KID.length);
  const cases: [string, () => string, Code][] = [
    ['not JSON', () => '{"events":[', 'ledger.event.invalid'],
    ['not an object', () => '[1]', 'ledger.event.invalid'],
    ['an extra member', () => JSON.stringify({ ...entry, note: 1 }), 'ledger.event.invalid'],
    ['no kid', () => JSON.stringify({ ...entry, kid: undefined }), 'ledger.event.invalid'],
    ['a malformed kid', () => JSON.stringify({ ...entry, kid: '../etc' }), 'ledger.event.invalid'],
    ['a kid that is not a string', () => JSON.stringify({ ...entry, kid: 7 }), 'ledger.event.invalid'],
    [
      'a short signature',
      () => JSON.stringify({ ...entry, val: entry.val.slice(0, 80) }),
      'ledger.event.invalid',
    ],
    [
      'a signature in base64 instead of base64url',
      () => JSON.stringify({ ...entry, val: entry.val.slice(0, 85) + '+' }),
      'ledger.event.invalid',
    ],
    ['a val that is not a string', () => JSON.stringify({ ...entry, val: 1 }), 'ledger.event.invalid'],
    ['no events', () => JSON.stringify({ ...entry, events: [] }), 'ledger.event.invalid'],
    [
      'events that are not an array',
      () => JSON.stringify({ ...entry, events: entry.events[0] }),
      'ledger.event.invalid',
    ],
    [
      `more than ${EVENT_LIMITS.batchSize} events`,
      () => seal(Array.from({ length: EVENT_LIMITS.batchSize + 1 }, (_, i) => testEvent(i))),
      'ledger.event.invalid',
    ],
    [
      `a batch whose record could exceed ${EVENT_LIMITS.recordBytes} bytes`,
      () => seal(eventsOfArrayLength(4, largest + 1)),
      'ledger.event.invalid',
    ],
    [
      'an invalid event',
      () => JSON.stringify({ ...entry, events: [entry.events[0], { ...entry.events[1], v: '2' }] }),
      'ledger.event.invalid',
    ],
    [
      'an unknown kid',
      () => seal([testEvent(1)], 'producer:unknown', strangerKey),
      'ledger.signature.invalid',
    ],
    [
      'a signature by another key',
      () => seal([testEvent(1)], PRODUCER_KID, strangerKey),
      'ledger.signature.invalid',
    ],
    [
      'an event left out after signing',
      () => JSON.stringify({ ...entry, events: [entry.events[0]] }),
      'ledger.signature.invalid',
    ],
    [
      'events reordered after signing',
      () => JSON.stringify({ ...entry, events: [entry.events[1], entry.events[0]] }),
      'ledger.signature.invalid',
    ],
    [
      'an event edited after signing',
      () => JSON.stringify({ ...entry, events: [entry.events[0], { ...entry.events[1], request_id: 'x' }] }),
      'ledger.signature.invalid',
    ],
    [
      'an event whose producer is not the one the key speaks for',
      () => seal([testEvent(1), testEvent(2, 'execution.denied', { producer: 'authority://prod' })]),
      'ledger.signature.invalid',
    ],
    [
      'a batch sealed for another log',
      () => seal([testEvent(1)], PRODUCER_KID, producerKey, 'other-log'),
      'ledger.signature.invalid',
    ],
    ['a producer claiming a ledger.rejected event', () => seal([rejected()]), 'ledger.signature.invalid'],
    [
      'the audit key signing a producer event',
      () => seal([testEvent(1)], AUDIT_KID, auditKey),
      'ledger.signature.invalid',
    ],
    [
      'ledger.rejected events mixed with other events, by the audit key',
      () => seal([rejected(), testEvent(2)], AUDIT_KID, auditKey),
      'ledger.signature.invalid',
    ],
    [
      'ledger.rejected events mixed with other events, by the producer key',
      () => seal([testEvent(2), rejected()]),
      'ledger.signature.invalid',
    ],
    ['too long an entry', () => ' '.repeat(MAX_INGEST_CHARS + 1), 'ledger.event.invalid'],
    [
      'openings that are not one array per event',
      () => JSON.stringify({ ...entry, openings: [[]] }),
      'ledger.redaction.invalid',
    ],
    [
      'an opening for a member the event holds in the clear',
      () =>
        JSON.stringify({
          ...entry,
          openings: [[{ member: 'identity', salt: 'A'.repeat(43), value: 'spiffe://x' }], []],
        }),
      'ledger.redaction.invalid',
    ],
  ];
  it.each(cases)('%s', (_name, text, code) => {
    const error = thrown(() => openBatch(nodeCrypto, LOG, text(), signer));
    expect(isGovernanceError(error, code), String(error)).toBe(true);
  });

  it(`accepts a batch whose record is at most ${EVENT_LIMITS.recordBytes} bytes at any seq, with any lineage_prev`, () => {
    const events = eventsOfArrayLength(4, largest);
    const opened = openBatch(nodeCrypto, LOG, seal(events), signer);
    expect(utf8Encode(opened.events)).toHaveLength(largest);
    // Its record at the largest seq, every event naming the longest position there can be.
    const worst = linkRecord(
      { ...genesis(nodeCrypto, LOG), seq: Number.MAX_SAFE_INTEGER - 1 },
      opened.events,
      opened.kid,
      events.map(() => [Number.MAX_SAFE_INTEGER - 1, EVENT_LIMITS.batchSize - 1] as EventPosition),
      opened.val,
    );
    expect(utf8Encode(worst.record.text).length).toBeLessThanOrEqual(EVENT_LIMITS.recordBytes);
  });

  it(`refuses more than ${EVENT_LIMITS.batchSize} events for their number, before their size`, () => {
    const events = Array.from({ length: EVENT_LIMITS.batchSize + 1 }, (_, i) => testEvent(i));
    expect(() => openBatch(nodeCrypto, LOG, seal(events), signer)).toThrow(
      `ingest entry must hold 1 to ${EVENT_LIMITS.batchSize} events`,
    );
  });

  it("accepts the audit key only for ledger.rejected events of this log's ledger", () => {
    const own = seal([rejected(), rejected()], AUDIT_KID, auditKey);
    const ownSigner = signerKeyOf(
      { producers: new Map(), audit: new Map([[AUDIT_KID, { publicKey: rawPublicKey(auditKey) }]]) },
      LOG,
    );
    expect(JSON.parse(openBatch(nodeCrypto, LOG, own, ownSigner).events)).toHaveLength(2);
    expect(() =>
      openBatch(nodeCrypto, LOG, own, signerKeyOf({ ...ledgerKeys, audit: new Map() }, LOG)),
    ).toThrow(/not an audit key/);
    const otherLedger = seal([rejected('ledger://other-log')], AUDIT_KID, auditKey);
    expect(() => openBatch(nodeCrypto, LOG, otherLedger, ownSigner)).toThrow(/must be ledger:\/\/test-log/);
    const mixed = seal([rejected(), testEvent(2)], AUDIT_KID, auditKey);
    expect(() => openBatch(nodeCrypto, LOG, mixed, ownSigner)).toThrow(/may not sign these events together/);
  });

  it("accepts a producer's events only at times within its key's validity, bounds included", () => {
    const at = (ms: number) => testEvent(1, 'execution.denied', { time: formatMillis(ms) });
    const producer = ledgerKeys.producers.get(PRODUCER_KID)!;
    const notBefore = Date.UTC(2026, 4, 12) / 1000;
    const notAfter = notBefore + 3600;
    const windowed = signerKeyOf(
      {
        ...ledgerKeys,
        producers: new Map([[PRODUCER_KID, { ...producer, validity: { notBefore, notAfter } }]]),
      },
      LOG,
    );
    const open =
      (...ms: number[]) =>
      () =>
        openBatch(nodeCrypto, LOG, seal(ms.map(at)), windowed);
    expect(open(notBefore * 1000, notAfter * 1000)().lineages).toHaveLength(2);
    expect(open(notBefore * 1000 - 1)).toThrow(
      /is valid from 2026-05-12T00:00:00Z to 2026-05-12T01:00:00Z, not at/,
    );
    // One event outside the window refuses the whole batch.
    expect(open(notBefore * 1000, notAfter * 1000 + 1)).toThrow(/not at 2026-05-12T01:00:00.001Z/);
  });

  it('accepts the audit key, for ledger.rejected events and checkpoints, only at times within its validity', () => {
    const notBefore = Date.UTC(2026, 4, 12) / 1000;
    const notAfter = notBefore + 3600;
    const keys = {
      producers: new Map(),
      audit: new Map([[AUDIT_KID, { publicKey: rawPublicKey(auditKey), validity: { notBefore, notAfter } }]]),
    };
    const rejectedAt = (ms: number) =>
      seal(
        [testEvent(1, 'ledger.rejected', { producer: `ledger://${LOG}`, time: formatMillis(ms) })],
        AUDIT_KID,
        auditKey,
      );
    const open = (ms: number) => () => openBatch(nodeCrypto, LOG, rejectedAt(ms), signerKeyOf(keys, LOG));
    expect(open(notAfter * 1000)().lineages).toHaveLength(1);
    expect(open(notAfter * 1000 + 1)).toThrow(/not at 2026-05-12T01:00:00.001Z/);
    const checkpoint = (ms: number) =>
      signCheckpoint(
        nodeCrypto,
        {
          log: LOG,
          size: 1,
          root: new Uint8Array(32),
          chain: { hash: new Uint8Array(64), alt: new Uint8Array(64) },
          index: new Uint8Array(32),
          time: formatMillis(ms),
        },
        { publicKey: rawPublicKey(auditKey), sign: (m) => signSync(auditKey, m) },
      );
    expect(checkpointSigner(nodeCrypto, checkpoint(notBefore * 1000), keys.audit)).toEqual({
      kid: AUDIT_KID,
    });
    expect(checkpointSigner(nodeCrypto, checkpoint(notAfter * 1000 + 1), keys.audit)).toEqual({
      refused: `audit key ${AUDIT_KID} is not valid at 2026-05-12T01:00:00.001Z`,
    });
  });

  it('names the failing event', () => {
    expect(() =>
      openBatch(nodeCrypto, LOG, JSON.stringify({ ...entry, events: [entry.events[0], { x: 1 }] }), signer),
    ).toThrow(/^event 1: /);
  });

  it('opens an entry spelled otherwise: the signature covers the canonical events array', () => {
    // The same events with insignificant whitespace and another member order: opened, the events
    // are re-encoded canonically, and the signature over the canonical array still verifies.
    const respelled = `{ "val": ${JSON.stringify(entry.val)}, "kid": ${JSON.stringify(entry.kid)}, "events": ${JSON.stringify(entry.events, null, 1)} }`;
    const opened = openBatch(nodeCrypto, LOG, respelled, signer);
    expect(opened.events).toBe(utf8Decode(eventsBytes(entry.events.map((e) => validateEvent(e)))));
    expect(opened.val).toBe(entry.val);
  });
});
