// The sequencer's fast record encoder against core's generic construction, and the checks an
// ingest entry must pass before anything of it is chained.
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { canonicalize, parseCanonicalText, type JsonValue } from '../../core/canonical.js';
import { nodeCrypto } from '../../core/crypto-node.js';
import { isGovernanceError, type Code } from '../../core/errors.js';
import { hexEncode } from '../../core/encoding.js';
import {
  EVENT_LIMITS,
  chainRecord,
  genesis,
  validateEvent,
  type ChainState,
  type LedgerEvent,
} from '../../core/event.js';
import { formatMillis } from '../../core/time.js';
import { rawPublicKey, signSync } from '../../core/keys.js';
import { openBatch, sealBatch } from '../../ledger/ingest.js';
import { linkRecord } from '../../ledger/records.js';
import { signerKeyOf } from '../../core/chain.js';
import { checkpointSigner, signCheckpoint } from '../../core/checkpoint.js';
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
const seal = (events: LedgerEvent[], kid = PRODUCER_KID, key = producerKey) =>
  sealBatch(
    nodeCrypto,
    LOG,
    kid,
    key,
    events.map((e) => validateEvent(e)),
  );

const text = fc.string({ unit: fc.constantFrom(...[...' !"\\/azAZ09é\u2028😀']), maxLength: 12 });
const arbitraryEvent = fc.record(
  {
    i: fc.nat({ max: 1_000_000 }),
    lineage: fc.option(fc.constantFrom('lineage://op/a', 'lineage://op/b', 'lineage://op/c'), {
      nil: undefined,
    }),
    note: text,
    n: fc.oneof(fc.integer(), fc.maxSafeInteger()),
  },
  { requiredKeys: ['i', 'note', 'n'] },
);

describe('linkRecord (the sequencer) and core chainRecord spell the same records', () => {
  test.prop(
    [fc.array(fc.array(arbitraryEvent, { minLength: 1, maxLength: 9 }), { minLength: 1, maxLength: 4 })],
    {
      numRuns: 60,
    },
  )('for any batches, lineages and data', (batches) => {
    let fast = genesis(nodeCrypto, 'prop-log');
    let generic = fast;
    const tails = new Map<string, string>();
    for (const batch of batches) {
      const events = batch.map(({ i, lineage, note, n }) =>
        testEvent(i, 'execution.started', { ...(lineage ? { lineage } : {}), data: { note, n } }),
      );
      const opened = openBatch(nodeCrypto, LOG, seal(events), signer);
      expect(opened.val).toBe((JSON.parse(seal(events)) as { val: string }).val);
      opened.events.forEach((event, i) => {
        const prev = event.lineage === undefined ? undefined : (tails.get(event.lineage) ?? null);
        const linked = linkRecord(fast, event.eventText, event.sigText, prev);
        const reference = chainRecord(
          nodeCrypto,
          generic,
          JSON.parse(`{"event":${event.eventText},"sig":${event.sigText}}`),
          prev,
        );
        expect(linked.record.text).toBe(canonicalize(reference.record));
        expect(JSON.parse(event.eventText)).toEqual(JSON.parse(canonicalize(events[i]!)));
        const hex = ({ seq, hash, alt }: ChainState) => [seq, hexEncode(hash), hexEncode(alt)];
        expect(hex(linked.state)).toEqual(hex(reference.state));
        fast = linked.state;
        generic = reference.state;
        if (event.lineage !== undefined) tails.set(event.lineage, linked.record.eventHash);
      });
    }
  });
});

describe('event data: one rule for the writer, the sequencer and the verifier (spec §3)', () => {
  const nested = (levels: number): JsonValue => (levels === 0 ? 0 : [nested(levels - 1)]);
  const withData = (data: { [key: string]: JsonValue }) => testEvent(1, 'execution.started', { data });
  const entry = (event: LedgerEvent) => {
    const sealed = JSON.parse(seal([testEvent(1)])) as { events: LedgerEvent[] };
    return JSON.stringify({ ...sealed, events: [event] });
  };

  it('accepts 29 levels inside data, and its record parses strictly', () => {
    const opened = openBatch(nodeCrypto, LOG, seal([withData({ nest: nested(29) })]), signer);
    const [{ eventText, sigText }] = opened.events as [(typeof opened.events)[0]];
    const { record } = linkRecord(genesis(nodeCrypto, LOG), eventText, sigText, undefined);
    expect(parseCanonicalText(record.text)).toMatchObject({ seq: 1 });
  });

  it.each([
    ['30 levels inside data: depth 32 of the record', { nest: nested(30) }],
    ['a fraction', { n: 1.5 }],
    ['2^53', { n: 2 ** 53 }],
    ['-(2^53)', { deep: [{ n: -(2 ** 53) }] }],
  ])('refuses %s at the writer and at the sequencer', (_name, data) => {
    expect(() => validateEvent(withData(data))).toThrow(/event\.data/);
    expect(() => openBatch(nodeCrypto, LOG, entry(withData(data)), signer)).toThrow(/event 0: event\.data/);
  });
});

describe('openBatch refuses before chaining anything', () => {
  const valid = seal([testEvent(1), testEvent(2)]);
  const entry = JSON.parse(valid) as { events: LedgerEvent[]; kid: string; val: string };
  const cases: [string, string, Code][] = [
    ['not JSON', '{"events":[', 'ledger.event.invalid'],
    ['not an object', '[1]', 'ledger.event.invalid'],
    ['an extra member', JSON.stringify({ ...entry, note: 1 }), 'ledger.event.invalid'],
    ['a malformed kid', JSON.stringify({ ...entry, kid: '../etc' }), 'ledger.event.invalid'],
    ['a short signature', JSON.stringify({ ...entry, val: entry.val.slice(0, 80) }), 'ledger.event.invalid'],
    ['no events', JSON.stringify({ ...entry, events: [] }), 'ledger.event.invalid'],
    [
      'an invalid event',
      JSON.stringify({ ...entry, events: [entry.events[0], { ...entry.events[1], v: '2' }] }),
      'ledger.event.invalid',
    ],
    ['an unknown kid', seal([testEvent(1)], 'producer:unknown', strangerKey), 'ledger.signature.invalid'],
    [
      'a signature by another key',
      seal([testEvent(1)], PRODUCER_KID, strangerKey),
      'ledger.signature.invalid',
    ],
    [
      'an event left out after signing',
      JSON.stringify({ ...entry, events: [entry.events[0]] }),
      'ledger.signature.invalid',
    ],
    [
      'an event edited after signing',
      JSON.stringify({ ...entry, events: [entry.events[0], { ...entry.events[1], request_id: 'x' }] }),
      'ledger.signature.invalid',
    ],
    [
      'an event whose producer is not the one the key speaks for',
      seal([testEvent(1), testEvent(2, 'execution.denied', { producer: 'authority://prod' })]),
      'ledger.signature.invalid',
    ],
    [
      'a batch sealed for another log',
      sealBatch(nodeCrypto, 'other-log', PRODUCER_KID, producerKey, [validateEvent(testEvent(1))]),
      'ledger.signature.invalid',
    ],
    [
      'a producer claiming a ledger.rejected event',
      seal([testEvent(1, 'ledger.rejected')]),
      'ledger.signature.invalid',
    ],
    [
      'the audit key signing a producer event',
      seal([testEvent(1)], AUDIT_KID, auditKey),
      'ledger.signature.invalid',
    ],
    [
      'too long an entry',
      ' '.repeat(EVENT_LIMITS.batchSize * (EVENT_LIMITS.eventBytes + 1) + 257),
      'ledger.event.invalid',
    ],
  ];
  it.each(cases)('%s', (_name, text, code) => {
    let error: unknown;
    try {
      openBatch(nodeCrypto, LOG, text, signer);
    } catch (e) {
      error = e;
    }
    expect(isGovernanceError(error, code), String(error)).toBe(true);
  });

  it("accepts the audit key only for ledger.rejected events of this log's ledger, and only when told to", () => {
    const rejected = (producer: string) => testEvent(1, 'ledger.rejected', { producer });
    const own = seal([rejected(`ledger://${LOG}`)], AUDIT_KID, auditKey);
    const ownSigner = signerKeyOf(
      { producers: new Map(), audit: new Map([[AUDIT_KID, { publicKey: rawPublicKey(auditKey) }]]) },
      LOG,
    );
    expect(openBatch(nodeCrypto, LOG, own, ownSigner).events).toHaveLength(1);
    expect(() =>
      openBatch(nodeCrypto, LOG, own, signerKeyOf({ ...ledgerKeys, audit: new Map() }, LOG)),
    ).toThrow(/not an audit key/);
    const otherLedger = seal([rejected('ledger://other-log')], AUDIT_KID, auditKey);
    expect(() => openBatch(nodeCrypto, LOG, otherLedger, ownSigner)).toThrow(/must be ledger:\/\/test-log/);
    const mixed = seal([rejected(`ledger://${LOG}`), testEvent(2)], AUDIT_KID, auditKey);
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
    const open = (ms: number) => () => openBatch(nodeCrypto, LOG, seal([at(ms)]), windowed);
    expect(open(notBefore * 1000)().events).toHaveLength(1);
    expect(open(notAfter * 1000)().events).toHaveLength(1);
    expect(open(notBefore * 1000 - 1)).toThrow(
      /is valid from 2026-05-12T00:00:00Z to 2026-05-12T01:00:00Z, not at/,
    );
    expect(open(notAfter * 1000 + 1)).toThrow(/not at 2026-05-12T01:00:00.001Z/);
  });

  it('accepts the audit key, for ledger.rejected events and checkpoints, only at times within its validity', () => {
    const notBefore = Date.UTC(2026, 4, 12) / 1000;
    const notAfter = notBefore + 3600;
    const keys = {
      producers: new Map(),
      audit: new Map([[AUDIT_KID, { publicKey: rawPublicKey(auditKey), validity: { notBefore, notAfter } }]]),
    };
    const rejected = (ms: number) =>
      seal(
        [testEvent(1, 'ledger.rejected', { producer: `ledger://${LOG}`, time: formatMillis(ms) })],
        AUDIT_KID,
        auditKey,
      );
    const open = (ms: number) => () => openBatch(nodeCrypto, LOG, rejected(ms), signerKeyOf(keys, LOG));
    expect(open(notAfter * 1000)().events).toHaveLength(1);
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
});
