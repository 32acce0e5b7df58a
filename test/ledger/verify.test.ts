// The verifier reads attacker-supplied files: every malformed input ends in a named failure,
// never a throw, and memory stays bounded by the line limit.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeCrypto } from '../../core/crypto-node.js';
import { canonicalize } from '../../core/canonical.js';
import { hexEncode } from '../../core/encoding.js';
import {
  chainRecord,
  eventHashRef,
  genesis,
  LINEAGE_STAGES,
  signEventBatch,
  signHead,
  type ChainRecord,
  type EventType,
  type SignedEvent,
  type SignedHead,
} from '../../core/event.js';
import { signSync } from '../../core/keys.js';
import { EXPORT_FORMAT, exportLines } from '../../ledger/export.js';
import { StoreLedgerReader, type ChainSource } from '../../ledger/reader.js';
import {
  verifyExportFile,
  verifyLineageProof,
  verifyLines,
  verifyStore,
  type VerifyOptions,
} from '../../ledger/verify.js';
import { LEDGER_VECTOR_DIR, readLedgerVectorKeys } from '../vectors/generate-ledger.js';
import {
  AUDIT_KID,
  PRODUCER_KID,
  TestLedger,
  auditKey,
  ledgerKeys,
  memoryStores,
  producerKey,
  testEvent,
  until,
  withAttestationRefs,
} from './support.js';

const dir = mkdtempSync(join(tmpdir(), 'ledger-verify-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const vectorKeys = readLedgerVectorKeys();
const valid = readFileSync(join(LEDGER_VECTOR_DIR, 'valid.jsonl'), 'utf8').trimEnd().split('\n');
const options = (extra: Partial<VerifyOptions> = {}): VerifyOptions => ({
  suite: nodeCrypto,
  keys: vectorKeys,
  ...extra,
});

let files = 0;
function file(content: string | Buffer): string {
  const path = join(dir, `${files++}.jsonl`);
  writeFileSync(path, content);
  return path;
}

/** The valid export with line `i` (0 is the header) replaced. */
const replaced = (i: number, line: string) => valid.map((l, j) => (j === i ? line : l)).join('\n') + '\n';
/** Record 3 of the valid export (after the head at seq 2) and its line. */
const at3 = valid.findIndex((l) => l.includes('"seq":3,"sig"'));
const record3 = valid[at3]!;

describe('verifying hostile export files', () => {
  it.each([
    ['an empty file', '', 'ledger.event.invalid', null],
    ['a header only', valid[0]! + '\n', 'ledger.head.mismatch', 1],
    [
      'a header with an extra member',
      replaced(0, valid[0]!.replace(/}$/, ',"x":1}')),
      'ledger.event.invalid',
      null,
    ],
    [
      'a header with a duplicate member',
      replaced(0, valid[0]!.replace('"to":10', '"to":10,"to":10')),
      'encoding.invalid',
      null,
    ],
    [
      'a header of another format',
      replaced(0, valid[0]!.replace('export.v1', 'export.v9')),
      'ledger.event.invalid',
      null,
    ],
    ['a JSON array for a record', replaced(at3, '[1,2,3]'), 'ledger.event.invalid', 3],
    [
      'JSON nested 100,000 deep',
      replaced(at3, '['.repeat(100_000) + ']'.repeat(100_000)),
      'encoding.invalid',
      3,
    ],
    [
      'a record with seq 1e400',
      replaced(at3, record3.replace('"seq":3', '"seq":1e400')),
      'encoding.invalid',
      3,
    ],
    [
      'a record with a negative index',
      replaced(at3, record3.replace('"index":0', '"index":-1')),
      'ledger.event.invalid',
      3,
    ],
    [
      'a record with a 13-deep path',
      replaced(
        at3,
        record3.replace(/"path":\[("[^"]+")/, (_, p: string) => `"path":[${Array(13).fill(p).join(',')}`),
      ),
      'ledger.event.invalid',
      3,
    ],
    [
      'a record with an upper-case hash',
      replaced(
        at3,
        record3.replace(
          /"event_hash":"sha3-512:(.)/,
          (_, c: string) => `"event_hash":"sha3-512:${c.toUpperCase() === c ? 'A' : c.toUpperCase()}`,
        ),
      ),
      'ledger.event.invalid',
      3,
    ],
    ['a blank line', replaced(at3, ''), 'encoding.invalid', 3],
  ])('%s', async (_name, content, code, seq) => {
    const result = await verifyExportFile(file(content), options());
    expect(result.ok).toBe(false);
    expect(result.failures[0]).toMatchObject({ code, seq });
  });

  it('reads no line longer than the limit, whatever the file holds', async () => {
    const huge = file(valid.slice(0, 3).join('\n') + '\n' + 'x'.repeat(5_000_000) + '\n');
    const result = await verifyExportFile(huge, options({ maxLineBytes: 65_536 }));
    expect(result.failures).toEqual([expect.objectContaining({ code: 'ledger.event.invalid', seq: 3 })]);
    expect(result.failures[0]!.message).toMatch(/longer than 65536 bytes/);
  });

  it('rejects bytes that are not UTF-8', async () => {
    const bytes = Buffer.concat([
      Buffer.from(valid.slice(0, 2).join('\n') + '\n'),
      Buffer.from([0xc3, 0x28, 0x0a]),
    ]);
    expect((await verifyExportFile(file(bytes), options())).failures[0]).toMatchObject({
      code: 'encoding.invalid',
      seq: 2,
    });
  });

  it('fails a line that is not canonical, and carries the chain on from the hashes it holds', async () => {
    // A forged "event" member before the genuine one: JSON.parse keeps the genuine one.
    const forged = await verifyExportFile(join(LEDGER_VECTOR_DIR, 'duplicate-event-member.jsonl'), options());
    const spaced = await verifyExportFile(
      file(replaced(at3, record3.replace('{"event":', '{ "event":'))),
      options(),
    );
    for (const [result, seq] of [
      [forged, 4],
      [spaced, 3],
    ] as const) {
      expect(result.failures[0]).toMatchObject({ code: 'encoding.invalid', seq });
      // Its batch and lineage are unread, but no later hash or head fails.
      const codes = result.failures.map((f) => f.code);
      expect(codes).not.toContain('ledger.hash.mismatch');
      expect(codes).not.toContain('ledger.head.mismatch');
    }
  });

  it('names a missing file instead of throwing', async () => {
    expect((await verifyExportFile(join(dir, 'absent.jsonl'), options())).failures).toEqual([
      expect.objectContaining({ code: 'ledger.event.invalid', seq: null }),
    ]);
  });

  it('stops after maxFailures', async () => {
    const garbage = file([valid[0], ...Array<string>(500).fill('{')].join('\n') + '\n');
    const result = await verifyExportFile(garbage, options({ maxFailures: 10 }));
    expect(result.failures).toHaveLength(11);
    expect(result.failures.at(-1)!.message).toMatch(/too many failures/);
  });

  it('checks the log the caller expects', async () => {
    const result = await verifyExportFile(file(valid.join('\n') + '\n'), options({ log: 'another-log' }));
    expect(result.failures[0]).toMatchObject({ code: 'ledger.head.mismatch', seq: null });
  });

  it('refuses a given head that is malformed or not signed by an audit key', async () => {
    const head = JSON.parse(readFileSync(join(LEDGER_VECTOR_DIR, 'head.json'), 'utf8')) as SignedHead;
    const forged = { ...head, event_hash: head.event_hash.replace(/.$/, (c) => (c === '0' ? '1' : '0')) };
    const path = file(valid.join('\n') + '\n');
    expect((await verifyExportFile(path, options({ head: forged }))).failures).toEqual([
      expect.objectContaining({ code: 'ledger.signature.invalid', seq: 10 }),
    ]);
    const unsigned = { ...head, sig: undefined } as unknown as SignedHead;
    expect((await verifyExportFile(path, options({ head: unsigned }))).failures).toEqual([
      expect.objectContaining({ code: 'ledger.head.mismatch', seq: null }),
    ]);
  });

  it('reports progress in records and bytes', async () => {
    const path = file(valid.join('\n') + '\n');
    const seen: { records: number; bytes?: number; totalBytes?: number }[] = [];
    await verifyExportFile(path, options({ progressEvery: 4, onProgress: (p) => seen.push(p) }));
    expect(seen.map((p) => p.records)).toEqual([4, 8, 10]);
    expect(seen.at(-1)!.bytes).toBe(seen.at(-1)!.totalBytes);
  });
});

describe('verifying ranges and stores', () => {
  let ledger: TestLedger;
  beforeAll(async () => {
    ledger = new TestLedger(memoryStores());
    ledger.sequencer({ headIntervalMs: 20 });
    const writer = await ledger.writer();
    for (let i = 0; i < 5; i++) await writer.appendAndWait([testEvent(2 * i), testEvent(2 * i + 1)]);
    await until(async () => (await ledger.store.tip()).signedSeq === 10, 5000, 'a head over the chain');
  });
  afterAll(async () => {
    await ledger.close();
  });

  const collect = async (lines: AsyncIterable<string>) => {
    const out: string[] = [];
    for await (const line of lines) out.push(line);
    return out;
  };

  it('verifies a range export from its anchor only when asked to', async () => {
    const lines = await collect(exportLines(ledger.store, { from: 6 }));
    expect(JSON.parse(lines[0]!)).toMatchObject({ from: 6, to: 10, anchor: { seq: 5 } });
    const asked = await verifyLines(lines, { suite: nodeCrypto, keys: ledgerKeys, allowRange: true });
    expect(asked).toMatchObject({ ok: true, records: 5, firstSeq: 6, lastSeq: 10 });
    const whole = await verifyLines(lines, { suite: nodeCrypto, keys: ledgerKeys });
    expect(whole.failures).toEqual([expect.objectContaining({ code: 'ledger.sequence.invalid', seq: 1 })]);
  });

  it('fails a range whose anchor was altered', async () => {
    const lines = await collect(exportLines(ledger.store, { from: 6 }));
    const header = JSON.parse(lines[0]!) as { anchor: { event_hash: string } };
    header.anchor.event_hash = header.anchor.event_hash.replace(/.$/, (c) => (c === '0' ? '1' : '0'));
    const result = await verifyLines([JSON.stringify(header), ...lines.slice(1)], {
      suite: nodeCrypto,
      keys: ledgerKeys,
      allowRange: true,
    });
    expect(result.failures[0]).toMatchObject({ code: 'ledger.hash.mismatch', seq: 6 });
  });

  it('refuses a validly signed given head that the chain does not contain', async () => {
    const [stored] = await ledger.store.records(5, 5);
    const record = JSON.parse(stored!.text) as { event_hash: string; event_hash_alt: string };
    const sign = (event_hash: string) =>
      signHead(
        {
          v: '1',
          log: 'test-log',
          seq: 5,
          event_hash,
          event_hash_alt: record.event_hash_alt,
          time: '2026-05-12T17:05:00.000Z',
        },
        AUDIT_KID,
        (m) => signSync(auditKey, m),
      );
    const ok = await verifyStore(ledger.store, {
      suite: nodeCrypto,
      keys: ledgerKeys,
      head: sign(record.event_hash),
    });
    expect(ok.failures).toEqual([]);
    const other = record.event_hash.replace(/.$/, (c) => (c === '0' ? '1' : '0'));
    const forked = await verifyStore(ledger.store, {
      suite: nodeCrypto,
      keys: ledgerKeys,
      head: sign(other),
    });
    expect(forked.failures).toEqual([expect.objectContaining({ code: 'ledger.head.mismatch', seq: 5 })]);
  });

  it('serves no stored record or head that is not canonical (the proof reader)', async () => {
    const store = ledger.store;
    const duplicated = (text: string) => text.replace('{"event":', '{"event":{"v":"1"},"event":');
    const source: ChainSource = {
      records: async (from, to) =>
        (await store.records(from, to)).map((r) => (r.seq === 5 ? { ...r, text: duplicated(r.text) } : r)),
      heads: (from, to, count) => store.heads(from, to, count),
      latestHead: async () => {
        const head = await store.latestHead();
        return head && { ...head, text: head.text.replace('{', '{ ') };
      },
      lineageSeqs: (lineage) => store.lineageSeqs(lineage),
    };
    const reader = new StoreLedgerReader(source);
    expect(await reader.range(4, 4)).toHaveLength(1);
    await expect(reader.range(4, 6)).rejects.toMatchObject({ code: 'encoding.invalid' });
    await expect(reader.head()).rejects.toMatchObject({ code: 'encoding.invalid' });
  });

  it('names an empty ledger as unproven', async () => {
    const result = await verifyStore(new TestLedger(memoryStores('empty-log')).store, {
      suite: nodeCrypto,
      keys: ledgerKeys,
    });
    expect(result.failures).toEqual([expect.objectContaining({ code: 'ledger.head.mismatch', seq: null })]);
  });
});

describe('verifying that each batch is chained once, whole and in order', () => {
  const sign = (m: Uint8Array) => signSync(producerKey, m);
  const batch = (...ids: number[]) =>
    signEventBatch(
      nodeCrypto,
      'test-log',
      PRODUCER_KID,
      sign,
      ids.map((i) => testEvent(i)),
    );

  /** An export of these signed events chained in this order, as a sequencer holding the audit key would write it. */
  function exported(sequence: SignedEvent[]): string[] {
    let state = genesis(nodeCrypto, 'test-log');
    const lines = sequence.map((signed) => {
      const next = chainRecord(nodeCrypto, state, signed, undefined);
      state = next.state;
      return canonicalize(next.record);
    });
    const head = signHead(
      {
        v: '1',
        log: 'test-log',
        seq: state.seq,
        event_hash: eventHashRef(state.hash),
        event_hash_alt: 'blake2b-512:' + hexEncode(state.alt),
        time: '2026-05-12T17:05:00.000Z',
      },
      AUDIT_KID,
      (m) => signSync(auditKey, m),
    );
    const header = { anchor: null, format: EXPORT_FORMAT, from: 1, log: 'test-log', to: state.seq };
    return [canonicalize(header), ...lines, canonicalize(head)];
  }
  const verify = (sequence: SignedEvent[], extra: Partial<VerifyOptions> = {}) =>
    verifyLines(exported(sequence), { suite: nodeCrypto, keys: ledgerKeys, ...extra });
  const failures = async (sequence: SignedEvent[]) =>
    (await verify(sequence)).failures.map(({ code, seq }) => [code, seq]);

  const [a0, a1, a2] = batch(1, 2, 3) as [SignedEvent, SignedEvent, SignedEvent];
  const [b0, b1] = batch(4, 5) as [SignedEvent, SignedEvent];
  const [c0] = batch(6) as [SignedEvent];

  it('passes whole batches, one after the other', async () => {
    expect(await failures([a0, a1, a2, b0, b1, c0])).toEqual([]);
  });

  it('names a whole batch chained again, once, at its first record', async () => {
    expect(await failures([a0, a1, a2, b0, b1, a0, a1, a2])).toEqual([['ledger.batch.replayed', 6]]);
    expect(await failures([c0, c0])).toEqual([['ledger.batch.replayed', 2]]);
  });

  it('names an event chained again inside its own batch', async () => {
    expect(await failures([a0, a1, a1, a2])).toEqual([['ledger.batch.replayed', 3]]);
  });

  it('names events left out: inside a batch, at its start, at its end, and at the end of the chain', async () => {
    expect(await failures([a0, a2, b0, b1])).toEqual([['ledger.batch.incomplete', 2]]);
    expect(await failures([c0, a1, a2])).toEqual([['ledger.batch.incomplete', 2]]);
    expect(await failures([a0, a1, b0, b1])).toEqual([['ledger.batch.incomplete', 3]]);
    expect(await failures([c0, a0, a1])).toEqual([['ledger.batch.incomplete', 4]]);
  });

  it('names two batches interleaved at each cut, not as replays', async () => {
    expect(await failures([a0, b0, a1, b1, a2])).toEqual([
      ['ledger.batch.incomplete', 2],
      ['ledger.batch.incomplete', 3],
      ['ledger.batch.incomplete', 4],
    ]);
  });

  it('passes a range that begins inside a batch', async () => {
    const lines = exported([a0, a1, a2, b0, b1, c0]);
    const { seq, event_hash, event_hash_alt } = JSON.parse(lines[2]!) as ChainRecord;
    const header = {
      anchor: { event_hash, event_hash_alt, seq },
      format: EXPORT_FORMAT,
      from: 3,
      log: 'test-log',
      to: 6,
    };
    const range = await verifyLines([canonicalize(header), ...lines.slice(3)], {
      suite: nodeCrypto,
      keys: ledgerKeys,
      allowRange: true,
    });
    expect(range).toMatchObject({ ok: true, firstSeq: 3, records: 4 });
  });

  it('forgets batches beyond batchWindow, and says how many', async () => {
    const replay = [c0, b0, b1, c0];
    expect(await verify(replay)).toMatchObject({ ok: false, batchesForgotten: 0 });
    expect(await verify(replay, { batchWindow: 1 })).toMatchObject({ ok: true, batchesForgotten: 2 });
  });
});

describe('verifying lineage proofs', () => {
  it('accepts a segment anchor only with exactly its three members and a seq of at least 1', () => {
    const proof = JSON.parse(readFileSync(join(LEDGER_VECTOR_DIR, 'lineage-seven-stages.json'), 'utf8')) as {
      segments: { anchor: Record<string, unknown> | null }[];
    };
    const anchored = proof.segments.findIndex((s) => s.anchor !== null);
    const verifyWith = (anchor: Record<string, unknown>) => {
      const altered = structuredClone(proof);
      altered.segments[anchored]!.anchor = anchor;
      return verifyLineageProof(altered, options());
    };
    const anchor = proof.segments[anchored]!.anchor!;
    expect(verifyWith(anchor).failures).toEqual([]);
    for (const bad of [
      { ...anchor, note: 'x' },
      { ...anchor, seq: 0 },
    ])
      expect(verifyWith(bad).failures[0]).toMatchObject({ code: 'ledger.event.invalid' });
  });
});

describe('verifying the stage order of a lineage (white paper §6.1)', () => {
  let ledger: TestLedger;
  let reader: StoreLedgerReader;
  const [issued, consumed, granted, started, signed, completed, committed] = LINEAGE_STAGES;
  const execution = [started, signed, completed, committed];
  const lineages: Record<string, { types: EventType[]; wantSeqOf?: number }> = {
    'two admissions, then their two executions': {
      types: [issued, consumed, granted, consumed, granted, ...execution, ...execution],
    },
    'an execution cut short, and another event joining the lineage': {
      types: [issued, 'revocation.added', consumed, granted, started],
    },
    'two executions after one admission': {
      types: [issued, consumed, granted, ...execution, ...execution],
      wantSeqOf: 7,
    },
    'an attestation with no execution started': { types: [issued, consumed, granted, signed], wantSeqOf: 3 },
    'authorization.issued twice': { types: [issued, consumed, granted, issued], wantSeqOf: 3 },
    'another event before authorization.issued': { types: ['revocation.added', issued], wantSeqOf: 0 },
  };
  const operation = (i: number) => `lineage://op/ORDER${i}`;

  beforeAll(async () => {
    ledger = new TestLedger(memoryStores('order-log'));
    ledger.sequencer({ headIntervalMs: 20 });
    const writer = await ledger.writer();
    const events = withAttestationRefs(
      Object.values(lineages).flatMap(({ types }, i) =>
        types.map((type, j) => testEvent(100 * i + j, type, { lineage: operation(i) })),
      ),
    );
    await writer.appendAndWait(events);
    await until(
      async () => (await ledger.store.tip()).signedSeq === events.length,
      5000,
      'a head over the lineages',
    );
    reader = new StoreLedgerReader(ledger.store);
  });
  afterAll(async () => {
    await ledger.close();
  });

  it.each(Object.entries(lineages).map(([name, c], i) => [name, i, c] as const))(
    '%s',
    async (_name, i, { wantSeqOf }) => {
      const proof = await reader.lineageProof(operation(i));
      const result = verifyLineageProof(proof, { suite: nodeCrypto, keys: ledgerKeys });
      const seqs = (await reader.lineage(operation(i))).map((r) => r.seq);
      if (wantSeqOf === undefined) expect(result.failures).toEqual([]);
      else {
        expect(result.failures[0]).toMatchObject({ code: 'ledger.lineage.order', seq: seqs[wantSeqOf] });
        expect(result.failures.every((f) => f.code === 'ledger.lineage.order')).toBe(true);
      }
    },
  );
});
