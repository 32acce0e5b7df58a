// Shared fixtures for the ledger tests: deterministic keys, events, and a ledger (store, writers,
// sequencer) on memory or on a real Redis.
import { randomBytes } from 'node:crypto';
import { attestationRef } from '../../core/attestation.js';
import { nodeCrypto } from '../../core/crypto-node.js';
import { crockford32Encode, utf8Encode } from '../../core/encoding.js';
import { LINEAGE_STAGES, type LedgerEvent, type EventType } from '../../core/event.js';
import { privateKeyFromSeed, rawPublicKey } from '../../core/keys.js';
import { formatMillis } from '../../core/time.js';
import type { LedgerStore } from '../../store/ledger-types.js';
import { MemoryLedgerStore } from '../../store/ledger-memory.js';
import { RedisLedgerStore } from '../../store/ledger-redis.js';
import type { LedgerKeys } from '../../core/chain.js';
import type { LineageEvent } from '../../core/proofs.js';
import { StoreLedgerReader } from '../../ledger/reader.js';
import { Sequencer, type SequencerOptions } from '../../sequencer/sequencer.js';
import { createLedgerWriter, type LedgerWriterOptions } from '../../ledger/writer.js';
import type { LedgerWriter } from '../../ledger/types.js';

export function seededKey(name: string) {
  return privateKeyFromSeed(
    nodeCrypto.sha3_512(utf8Encode(`execution-governance/ledger-tests/${name}`)).subarray(0, 32),
  );
}

export const PRODUCER_KID = 'producer:test/1';
export const AUDIT_KID = 'audit:test/1';
export const producerKey = seededKey('producer');
export const auditKey = seededKey('audit');
export const strangerKey = seededKey('stranger');

/** The producer the test producer key is certified for: the `producer` of the test events. */
export const PRODUCER_ID = 'authz-server://pod-test';

export const ledgerKeys: LedgerKeys = {
  producers: new Map([[PRODUCER_KID, { publicKey: rawPublicKey(producerKey), subject: PRODUCER_ID }]]),
  audit: new Map([[AUDIT_KID, { publicKey: rawPublicKey(auditKey) }]]),
};

export function testEvent(
  i: number,
  type: EventType = 'execution.denied',
  extra: Partial<LedgerEvent> = {},
): LedgerEvent {
  return {
    v: '1',
    type,
    time: formatMillis(Date.UTC(2026, 4, 12, 17, 4, 11) + i),
    producer: PRODUCER_ID,
    ...(type === 'execution.denied' ? { reason: 'artifact.signature.invalid' } : {}),
    identity: 'spiffe://cluster.local/ns/inference/sa/inference-gateway',
    operation: 'model.invoke',
    request_id: `req-${i}`,
    ...extra,
  };
}

/** The seven stages of one operation's lineage. */
export function lineageEvents(operation: string, start = 0): LedgerEvent[] {
  return withAttestationRefs(
    LINEAGE_STAGES.map((type, i) => testEvent(start + i, type, { lineage: `lineage://op/${operation}` })),
  );
}

/**
 * Pairs runtime admissions with their attestations as an enforcement point does: the k-th
 * admission.granted of a lineage names attestation id k by its attestation_ref, and the k-th
 * attestation.signed of that lineage carries id k.
 */
export function withAttestationRefs(events: LedgerEvent[]): LedgerEvent[] {
  const counts = new Map<string, { granted: number; signed: number }>();
  const idOf = (lineage: string, k: number) =>
    'att_' + crockford32Encode(nodeCrypto.sha3_512(utf8Encode(`${lineage}#${k}`)).subarray(0, 20));
  return events.map((event) => {
    const lineage = event.lineage;
    if (lineage === undefined) return event;
    const count = counts.get(lineage) ?? { granted: 0, signed: 0 };
    counts.set(lineage, count);
    if (event.type === 'admission.granted') {
      const ref = attestationRef(nodeCrypto, idOf(lineage, count.granted++));
      return { ...event, data: { ...event.data, attestation_ref: ref } };
    }
    if (event.type === 'attestation.signed') {
      return {
        ...event,
        data: { ...event.data, attestation: { attestation_id: idOf(lineage, count.signed++) } },
      };
    }
    return event;
  });
}

export async function until(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  what = 'condition',
) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Every chained event with its position (record seq, index), in chain order: a record holds a
 * producer's batch, so tests that count or look up events read them through this.
 */
export async function chainedEvents(store: LedgerStore): Promise<LineageEvent[]> {
  const { seq } = await store.tip();
  const reader = new StoreLedgerReader(nodeCrypto, store, { maxRecords: 1000 });
  const events: LineageEvent[] = [];
  for (let from = 1; from <= seq; from += 1000) {
    for (const record of await reader.range(from, Math.min(seq, from + 999)))
      record.events.forEach((event, index) => events.push({ seq: record.seq, index, event }));
  }
  return events;
}

/**
 * A count of the chained events that reads each record once (a chained record never changes):
 * cheap enough to poll while thousands of events are chained.
 */
export function chainedEventCounter(store: LedgerStore): () => Promise<number> {
  let counted = 0;
  let count = 0;
  return async () => {
    const { seq } = await store.tip();
    for (const record of await store.records(counted + 1, seq)) {
      count += (JSON.parse(record.text) as { events: unknown[] }).events.length;
      counted = record.seq;
    }
    return count;
  };
}

export type StoreFactory = () => LedgerStore;

export function memoryStores(log = 'test-log'): StoreFactory {
  const store = new MemoryLedgerStore(log);
  return () => store;
}

export function redisStores(url: string, log = 'test-log'): StoreFactory {
  const prefix = `t${randomBytes(6).toString('hex')}:`;
  return () => new RedisLedgerStore({ url, log, prefix });
}

/** A ledger under test: its stores, writers and sequencers are all closed by close(). */
export class TestLedger {
  private readonly closers: (() => Promise<void>)[] = [];
  readonly store: LedgerStore;

  constructor(
    private readonly stores: StoreFactory,
    /** Options every sequencer of this ledger gets (before those given to sequencer()). */
    private readonly sequencerDefaults: Partial<SequencerOptions> = {},
  ) {
    this.store = this.newStore();
  }

  newStore(): LedgerStore {
    const store = this.stores();
    this.closers.push(() => store.close());
    return store;
  }

  async writer(options: Partial<LedgerWriterOptions> = {}): Promise<LedgerWriter> {
    const writer = await createLedgerWriter({
      store: this.newStore(),
      kid: PRODUCER_KID,
      privateKey: producerKey,
      checkpoints: { auditKeys: () => ledgerKeys.audit },
      ...options,
    });
    this.closers.unshift(() => writer.close());
    return writer;
  }

  sequencer(options: Partial<SequencerOptions> = {}): Sequencer {
    const sequencer = new Sequencer({
      store: this.newStore(),
      auditKid: AUDIT_KID,
      auditKey,
      producerKeys: async () => ledgerKeys.producers,
      leaseMs: 1000,
      headIntervalMs: 200,
      ...this.sequencerDefaults,
      ...options,
    });
    sequencer.start();
    this.closers.unshift(() => sequencer.stop());
    return sequencer;
  }

  async close(): Promise<void> {
    for (const close of this.closers.splice(0)) await close();
  }
}
