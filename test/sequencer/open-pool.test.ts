// The sequencer's open workers (sequencer/open-pool.ts): the same results as opening on the
// sequencer's thread, in order, with the producer keys it is given; a worker that goes away
// fails the calls it holds and is replaced.
import { afterEach, describe, expect, it } from 'vitest';
import { nodeCrypto } from '../../core/crypto-node.js';
import { validateEvent, type LedgerEvent } from '../../core/event.js';
import { commitEvent, SALT_BYTES } from '../../core/redaction.js';
import { openEntry, sealBatch } from '../../ledger/ingest.js';
import { OpenPool } from '../../sequencer/open-pool.js';
import { PRODUCER_KID, ledgerKeys, producerKey, strangerKey, testEvent } from '../ledger/support.js';

const LOG = 'test-log';
const sealed = (first: number, count: number, key = producerKey, kid = PRODUCER_KID) =>
  sealBatch(
    nodeCrypto,
    LOG,
    kid,
    key,
    Array.from({ length: count }, (_, i) => validateEvent(testEvent(first + i))),
  );
const seal = (first: number, count: number, key = producerKey, kid = PRODUCER_KID) =>
  sealed(first, count, key, kid).entry;
const entries = [
  seal(1, 3),
  '{"events": [',
  seal(10, 1, strangerKey),
  seal(20, 5),
  seal(30, 1, strangerKey, 'producer:unknown'),
  seal(40, 2),
  sealBatch(nodeCrypto, 'other-log', PRODUCER_KID, producerKey, [validateEvent(testEvent(50))]).entry,
];

describe('OpenPool', () => {
  let pool: OpenPool | undefined;
  afterEach(async () => {
    await pool?.close();
  });

  it('gives what openEntry gives on the calling thread, in order, over several workers', async () => {
    pool = new OpenPool(3, LOG, ledgerKeys.producers);
    await pool.ready();
    const inline = entries.map((text) => openEntry(nodeCrypto, LOG, text, ledgerKeys.producers));
    expect(await pool.open(entries)).toEqual(inline);
    expect(
      inline.map((r) => ('batch' in r ? (JSON.parse(r.batch.events) as unknown[]).length : r.code)),
    ).toEqual([
      3,
      'ledger.event.invalid',
      'ledger.signature.invalid',
      5,
      'ledger.signature.invalid',
      2,
      'ledger.signature.invalid',
    ]);
    expect(inline[4]).toMatchObject({ unknownKid: true });
    expect(inline[2]).toMatchObject({ unknownKid: false });
  });

  it('opens an entry into the batch to chain: its kid, signature, events array text and lineages', async () => {
    pool = new OpenPool(2, LOG, ledgerKeys.producers);
    const { entry, events, val } = sealed(1, 3);
    // The earliest and latest event time, for the replay window.
    const times = (JSON.parse(events) as { time: string }[]).map((e) => Date.parse(e.time));
    expect(await pool.open([entry])).toEqual([
      {
        batch: {
          kid: PRODUCER_KID,
          val,
          events,
          lineages: [undefined, undefined, undefined],
          times: [Math.min(...times), Math.max(...times)],
        },
      },
    ]);
    const withLineages = [
      testEvent(1, 'authorization.issued', { lineage: 'lineage://op/a' }),
      testEvent(2),
      testEvent(3, 'authorization.consumed', { lineage: 'lineage://op/a' }),
      testEvent(4, 'authorization.issued', { lineage: 'lineage://op/b' }),
    ];
    const opened = await pool.open([
      sealBatch(
        nodeCrypto,
        LOG,
        PRODUCER_KID,
        producerKey,
        withLineages.map((e) => validateEvent(e)),
      ).entry,
    ]);
    expect(opened[0]).toMatchObject({
      batch: { lineages: ['lineage://op/a', undefined, 'lineage://op/a', 'lineage://op/b'] },
    });
    expect(opened[0]).not.toHaveProperty('batch.openings');
  });

  it("opens the openings of an entry's commitments, per event in index order", async () => {
    pool = new OpenPool(2, LOG, ledgerKeys.producers);
    let salt = 0;
    const { identity: _, ...anonymous } = testEvent(2);
    const committed = [testEvent(1), anonymous, testEvent(3)].map((event: LedgerEvent) =>
      commitEvent(nodeCrypto, event, ['identity', 'request_id'], () =>
        new Uint8Array(SALT_BYTES).fill(++salt),
      ),
    );
    const { entry } = sealBatch(
      nodeCrypto,
      LOG,
      PRODUCER_KID,
      producerKey,
      committed.map(({ event }) => validateEvent(event)),
      committed.map(({ openings }) => openings),
    );
    const [opened] = await pool.open([entry]);
    expect(opened).toEqual(openEntry(nodeCrypto, LOG, entry, ledgerKeys.producers));
    expect(opened).toMatchObject({
      batch: {
        openings: [
          [
            ['identity', committed[0]!.openings[0]],
            ['request_id', committed[0]!.openings[1]],
          ],
          [['request_id', committed[1]!.openings[0]]],
          [
            ['identity', committed[2]!.openings[0]],
            ['request_id', committed[2]!.openings[1]],
          ],
        ],
      },
    });
  });

  it('opens with the producer keys it was last given', async () => {
    pool = new OpenPool(2, LOG, new Map());
    const [before] = await pool.open([seal(1, 2)]);
    expect(before).toMatchObject({ code: 'ledger.signature.invalid', unknownKid: true });
    pool.setProducers(ledgerKeys.producers);
    const after = await pool.open([seal(1, 2), seal(3, 1)]);
    expect(after.map((r) => 'batch' in r)).toEqual([true, true]);
  });

  it('fails the calls a worker holds when it goes away, and starts a new one for the next call', async () => {
    pool = new OpenPool(1, LOG, ledgerKeys.producers);
    await pool.ready();
    const held = pool.open(Array.from({ length: 64 }, (_, i) => seal(100 * i, 64)));
    await pool.close();
    await expect(held).rejects.toThrow(/open worker exited/);
    const [again] = await pool.open([seal(1, 1)]);
    expect(again).toHaveProperty('batch');
  });
});
