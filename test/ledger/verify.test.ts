// The verifier reads attacker-supplied files: every malformed input ends in a named failure,
// never a throw, and memory stays bounded by the line limit. Chains come from the real writer
// and sequencer, or are built here record by record as a sequencer holding the audit key could.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalBytes, canonicalize, type JsonValue } from '../../core/canonical.js';
import {
  checkpointNote,
  parseCheckpointNote,
  signCheckpoint,
  type LedgerCheckpoint,
} from '../../core/checkpoint.js';
import { nodeCrypto } from '../../core/crypto-node.js';
import { base64Decode, base64Encode, utf8Decode, utf8Encode } from '../../core/encoding.js';
import {
  chainNext,
  eventsBytes,
  genesis,
  LINEAGE_STAGES,
  type ChainRecord,
  type ChainState,
  type EventPosition,
  type EventType,
  type LedgerEvent,
} from '../../core/event.js';
import { rawPublicKey, signSync } from '../../core/keys.js';
import { cosign, parseNote } from '../../core/note.js';
import { checkStageOrder } from '../../core/proofs.js';
import { indexKey, SparseMerkleIndex, valueOfPosition } from '../../core/smt.js';
import { CompactRange, tlogLeafHash } from '../../core/tlog.js';
import { EXPORT_FORMAT, checkpointLine, exportLines, type ExportHeader } from '../../ledger/export.js';
import { sealBatch } from '../../ledger/ingest.js';
import { StoreLedgerReader, type ChainSource } from '../../ledger/reader.js';
import {
  verifyExportFile,
  verifyLines,
  verifyStore,
  type VerifyFailure,
  type VerifyOptions,
} from '../../ledger/verify.js';
import type { CheckpointWitnesses } from '../../sequencer/witnesses.js';
import type { LedgerStore } from '../../store/ledger-types.js';
import {
  AUDIT_KID,
  PRODUCER_KID,
  TestLedger,
  auditKey,
  ledgerKeys,
  lineageEvents,
  memoryStores,
  producerKey,
  seededKey,
  strangerKey,
  testEvent,
  until,
  withAttestationRefs,
} from './support.js';

const dir = mkdtempSync(join(tmpdir(), 'ledger-verify-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
function file(content: string | Buffer): string {
  const path = join(dir, `${files++}.jsonl`);
  writeFileSync(path, content);
  return path;
}

const options = (extra: Partial<VerifyOptions> = {}): VerifyOptions => ({
  suite: nodeCrypto,
  keys: ledgerKeys,
  ...extra,
});
const codesAndSeqs = (failures: VerifyFailure[]) => failures.map(({ code, seq }) => [code, seq]);

async function collect(lines: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const line of lines) out.push(line);
  return out;
}

const auditSigner = { publicKey: rawPublicKey(auditKey), sign: (m: Uint8Array) => signSync(auditKey, m) };
const TIME = '2026-05-12T17:05:00.000Z';
const flip = (bytes: Uint8Array) => bytes.map((b, i) => (i === 0 ? b ^ 1 : b));

/** The chain state after record `size` of the store, recomputed from its records. */
async function chainStateAt(store: LedgerStore, size: number): Promise<ChainState> {
  let state = genesis(nodeCrypto, store.log);
  for (const { text } of await store.records(1, size)) state = chainNext(nodeCrypto, state, utf8Encode(text));
  return state;
}

/**
 * A checkpoint the audit key signs over records 1..size of the store (root and chain recomputed
 * from them, the index taken from the published checkpoint at that size when there is one), edited.
 */
async function checkpointOf(
  store: LedgerStore,
  size: number,
  edit: (c: LedgerCheckpoint) => LedgerCheckpoint = (c) => c,
): Promise<string> {
  const records = await store.records(1, size);
  const tree = CompactRange.empty(nodeCrypto);
  const index = new SparseMerkleIndex(nodeCrypto);
  for (const { seq, text } of records) {
    tree.append(tlogLeafHash(nodeCrypto, utf8Encode(text)));
    (JSON.parse(text) as ChainRecord).events.forEach(({ lineage }, i) => {
      if (lineage !== undefined) index.set(indexKey(nodeCrypto, lineage), valueOfPosition([seq, i]));
    });
  }
  const state = await chainStateAt(store, size);
  const checkpoint: LedgerCheckpoint = {
    log: store.log,
    size,
    root: tree.root(),
    chain: { hash: state.hash, alt: state.alt },
    index: index.root(),
    time: TIME,
  };
  return checkpointNote(signCheckpoint(nodeCrypto, edit(checkpoint), auditSigner));
}

/**
 * A ledger built by the real writer and sequencer: 5 appends of 4 events, sealed 2 to a batch, a
 * checkpoint after each append (so at 2, 4, 6, 8 and 10), with lineage R whole and the start of
 * lineage S among plain events; records 3 and 4 hold plain events only.
 */
const RECORDS = 10;
let ledger: TestLedger;
/** The export of the whole chain, line by line (0 is the header). */
let valid: string[];
/** Line of record 3 (after the checkpoint at 2, no lineage), and its text. */
let at3: number;
let record3: string;
/** Line of record 5 (after the checkpoint at 4, its R event linked to record 2), and its text. */
let at5: number;
let record5: string;
beforeAll(async () => {
  ledger = new TestLedger(memoryStores());
  ledger.sequencer({ headIntervalMs: 20 });
  const writer = await ledger.writer({ maxBatch: 2 });
  const lineage = [...lineageEvents('R', 100), ...lineageEvents('S', 200).slice(0, 1)];
  for (let call = 0; call < 5; call++) {
    const l = call === 0 ? 0 : 2 * (call - 1);
    const events =
      call === 1
        ? [0, 1, 2, 3].map((i) => testEvent(10 * call + i))
        : [testEvent(10 * call), lineage[l]!, testEvent(10 * call + 1), lineage[l + 1]!];
    await writer.appendAndWait(events, 30_000);
    await until(
      async () => (await ledger.store.tip()).signedSeq === 2 * (call + 1),
      30_000,
      `a checkpoint at ${2 * (call + 1)}`,
    );
  }
  valid = await collect(exportLines(ledger.store));
  at3 = valid.findIndex((l) => l.includes('"seq":3,'));
  record3 = valid[at3]!;
  at5 = valid.findIndex((l) => l.includes('"seq":5,'));
  record5 = valid[at5]!;
}, 120_000);
afterAll(async () => {
  await ledger?.close();
});

/** The valid export with line `i` (0 is the header) replaced. */
const replaced = (i: number, line: string) => valid.map((l, j) => (j === i ? line : l)).join('\n') + '\n';

describe('the chain of the real writer and sequencer', () => {
  it('is laid out as these tests expect: a batch a record, a checkpoint after each append', async () => {
    expect((await ledger.store.checkpoints(1, Infinity, 100)).map((c) => c.seq)).toEqual([2, 4, 6, 8, 10]);
    expect(valid[at3 - 1]).toMatch(/^\{"checkpoint":/);
    const records = valid.filter((l) => l.startsWith('{"events":')).map((l) => JSON.parse(l) as ChainRecord);
    expect(records.map((r) => [r.seq, r.events.length])).toEqual(
      [...Array(RECORDS).keys()].map((i) => [i + 1, 2]),
    );
    expect(JSON.parse(record3)).toMatchObject({ lineage_prev: [null, null] });
    // R's events link back across records: record 5's second event to record 2's.
    expect(valid[at5 - 1]).toMatch(/^\{"checkpoint":/);
    expect(JSON.parse(record5)).toMatchObject({ lineage_prev: [null, [2, 1]] });
  });

  it('verifies as a store and as a file', async () => {
    const store = await verifyStore(ledger.store, options());
    expect(store.failures).toEqual([]);
    expect(store).toMatchObject({
      ok: true,
      records: RECORDS,
      firstSeq: 1,
      lastSeq: RECORDS,
      checkpoints: 5,
    });
    expect(store.checkpoint?.checkpoint.size).toBe(RECORDS);
    const path = file(valid.join('\n') + '\n');
    expect(await verifyExportFile(path, options())).toMatchObject({
      ok: true,
      records: RECORDS,
      failures: [],
    });
  });
});

describe('verifying hostile export files', () => {
  const cases: [string, () => string, string, number | null][] = [
    ['an empty file', () => '', 'ledger.event.invalid', null],
    ['a header only', () => valid[0]! + '\n', 'ledger.head.mismatch', 1],
    [
      'a header with an extra member',
      () => replaced(0, valid[0]!.replace(/}$/, ',"x":1}')),
      'ledger.event.invalid',
      null,
    ],
    [
      'a header with a duplicate member',
      () => replaced(0, valid[0]!.replace(`"to":${RECORDS}`, `"to":${RECORDS},"to":${RECORDS}`)),
      'encoding.invalid',
      null,
    ],
    [
      'a header of another format',
      () => replaced(0, valid[0]!.replace('export.v2', 'export.v1')),
      'ledger.event.invalid',
      null,
    ],
    [
      'a header from 0',
      () => replaced(0, valid[0]!.replace('"from":1', '"from":0')),
      'ledger.event.invalid',
      null,
    ],
    ['a JSON array for a record', () => replaced(at3, '[1,2,3]'), 'ledger.event.invalid', 3],
    [
      'JSON nested 100,000 deep',
      () => replaced(at3, '['.repeat(100_000) + ']'.repeat(100_000)),
      'encoding.invalid',
      3,
    ],
    [
      'a record with seq 1e400',
      () => replaced(at3, record3.replace('"seq":3', '"seq":1e400')),
      'encoding.invalid',
      3,
    ],
    [
      'a record with seq 0',
      () => replaced(at3, record3.replace('"seq":3', '"seq":0')),
      'ledger.event.invalid',
      3,
    ],
    [
      'a record with a member no hash covers (the old event_hash)',
      () => replaced(at3, '{"event_hash":"sha3-512:00",' + record3.slice(1)),
      'ledger.event.invalid',
      3,
    ],
    [
      'a record without lineage_prev',
      () => replaced(at3, record3.replace(/"lineage_prev":\[.*?\],"seq"/, '"seq"')),
      'ledger.event.invalid',
      3,
    ],
    [
      'a record with a lineage_prev entry too many',
      () => replaced(at5, record5.replace('"lineage_prev":[', '"lineage_prev":[null,')),
      'ledger.event.invalid',
      5,
    ],
    [
      'a record whose lineage_prev names an event not before it',
      () => replaced(at5, record5.replace('"lineage_prev":[null,[2,1]]', '"lineage_prev":[null,[5,1]]')),
      'ledger.event.invalid',
      5,
    ],
    [
      'a record whose lineage_prev names a negative index',
      () => replaced(at5, record5.replace('"lineage_prev":[null,[2,1]]', '"lineage_prev":[null,[2,-1]]')),
      'ledger.event.invalid',
      5,
    ],
    [
      'a record with a lineage_prev entry for an event without a lineage',
      () => replaced(at5, record5.replace('"lineage_prev":[null,', '"lineage_prev":[[2,1],')),
      'ledger.event.invalid',
      5,
    ],
    [
      'a record with a malformed kid',
      () => replaced(at3, record3.replace(`"kid":"${PRODUCER_KID}"`, '"kid":"../x"')),
      'ledger.event.invalid',
      3,
    ],
    [
      'a record whose val is not a signature',
      () => replaced(at3, record3.replace(/"val":"[^"]+"/, `"val":"${'A'.repeat(85)}B"`)),
      'ledger.event.invalid',
      3,
    ],
    [
      'a record without events',
      () => replaced(at3, record3.replace(/"events":\[.*\],"kid"/, '"events":[],"kid"')),
      'ledger.event.invalid',
      3,
    ],
    ['a blank line', () => replaced(at3, ''), 'encoding.invalid', 3],
  ];
  it.each(cases)('%s', async (_name, content, code, seq) => {
    const result = await verifyExportFile(file(content()), options());
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

  const notCanonical: [string, (record: string) => string][] = [
    // A forged events member before the genuine one: JSON.parse keeps the genuine one.
    ['a duplicate member', (record) => `{"events":${canonicalize([testEvent(999)])},${record.slice(1)}`],
    ['insignificant whitespace', (record) => record.replace('{"events":', '{ "events":')],
    ['an escaped character', (record) => record.replace('"kid":', '"\\u006bid":')],
  ];
  it.each(notCanonical)(
    'fails a record line with %s at its seq, and goes on from the next checkpoint',
    async (_name, edit) => {
      const result = await verifyExportFile(file(replaced(at3, edit(record3))), options());
      // Its bytes are not those the checkpoint at 4 signed; from its chain line, all verifies.
      expect(codesAndSeqs(result.failures)).toEqual([
        ['encoding.invalid', 3],
        ['ledger.root.mismatch', 4],
        ['ledger.hash.mismatch', 4],
      ]);
      expect(result.checkpoint?.checkpoint.size).toBe(RECORDS);
      expect(result.lastSeq).toBe(RECORDS);
    },
  );

  it.each(notCanonical)(
    'leaves the lineage of a record line with %s unread: its later links fail',
    async (_name, edit) => {
      const result = await verifyExportFile(file(replaced(at5, edit(record5))), options());
      expect(result.failures[0]).toMatchObject({ code: 'encoding.invalid', seq: 5 });
      // Lineage R's event in record 5 is unread: the links and stage order of R's later events fail,
      // and only those, besides the checkpoint at 6 whose signed bytes record 5 no longer has.
      const laterOfR = valid
        .filter((l) => l.startsWith('{"events":'))
        .map((l) => JSON.parse(l) as ChainRecord)
        .flatMap(({ seq, events }) =>
          events.flatMap((e, i) =>
            seq > 5 && e.lineage === 'lineage://op/R' ? [`record ${seq} event ${i}:`] : [],
          ),
        );
      const [ofLineages, others] = [
        result.failures.slice(1).filter((f) => f.code.startsWith('ledger.lineage.')),
        result.failures.slice(1).filter((f) => !f.code.startsWith('ledger.lineage.')),
      ];
      expect(ofLineages.length).toBeGreaterThan(0);
      for (const { code, message } of ofLineages) {
        if (code === 'ledger.lineage.invalid')
          expect(message).toMatch(/the previous event of lineage:\/\/op\/R$/);
        else expect(laterOfR.some((at) => message.startsWith(at))).toBe(true);
      }
      expect(codesAndSeqs(others)).toEqual([
        ['ledger.root.mismatch', 6],
        ['ledger.hash.mismatch', 6],
      ]);
      expect(result.checkpoint?.checkpoint.size).toBe(RECORDS);
    },
  );

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

  it('refuses a trusted checkpoint that is malformed or not signed by an audit key', async () => {
    const note = (await ledger.store.latestCheckpoint())!.text;
    expect(note.split('\n')[1]).toBe(String(RECORDS));
    const forged = note.replace(new RegExp(`^${RECORDS}$`, 'm'), String(RECORDS + 1));
    const path = file(valid.join('\n') + '\n');
    expect((await verifyExportFile(path, options({ checkpoint: forged }))).failures).toEqual([
      expect.objectContaining({ code: 'ledger.signature.invalid', seq: RECORDS + 1 }),
    ]);
    const unsigned = note.slice(0, note.indexOf('\n\n') + 1);
    expect((await verifyExportFile(path, options({ checkpoint: unsigned }))).failures).toEqual([
      expect.objectContaining({ code: 'ledger.head.mismatch', seq: null }),
    ]);
  });

  it('reports progress in records and bytes', async () => {
    const path = file(valid.join('\n') + '\n');
    const seen: { records: number; bytes?: number; totalBytes?: number }[] = [];
    await verifyExportFile(path, options({ progressEvery: 4, onProgress: (p) => seen.push(p) }));
    expect(seen.map((p) => p.records)).toEqual([4, 8, RECORDS]);
    expect(seen.at(-1)!.bytes).toBe(seen.at(-1)!.totalBytes);
  });
});

describe('verifying ranges and stores', () => {
  const verifyRange = (lines: string[], extra: Partial<VerifyOptions> = {}) =>
    verifyLines(lines, options({ allowRange: true, ...extra }));
  const range = () => collect(exportLines(ledger.store, { from: 7 }));
  const withAnchor = (lines: string[], edit: (anchor: { checkpoint: string; tree: string[] }) => void) => {
    const header = JSON.parse(lines[0]!) as ExportHeader;
    edit(header.anchor!);
    return [canonicalize(header), ...lines.slice(1)];
  };
  /** The anchor checkpoint's fields, re-signed by `key` after `edit`. */
  const resigned = (note: string, edit: (c: LedgerCheckpoint) => LedgerCheckpoint, key = auditKey) =>
    checkpointNote(
      signCheckpoint(nodeCrypto, edit(parseCheckpointNote(note).checkpoint), {
        publicKey: rawPublicKey(key),
        sign: (m) => signSync(key, m),
      }),
    );

  it('starts a range right after a checkpoint: the anchor is its note and the compact range of its tree', async () => {
    const [six] = await ledger.store.checkpoints(6, 6, 1);
    const lines = await range();
    const header = JSON.parse(lines[0]!) as ExportHeader;
    expect(header).toMatchObject({ from: 7, to: RECORDS, anchor: { checkpoint: six!.text } });
    // The compact range of 6 leaves: subtrees of 4 and 2.
    expect(header.anchor!.tree).toHaveLength(2);
    // From a seq just after a checkpoint or not, the range starts after the checkpoint at or before it.
    expect(JSON.parse((await collect(exportLines(ledger.store, { from: 8 })))[0]!)).toMatchObject({
      from: 7,
    });
    expect(lines[1]).toMatch(/"seq":7,/);
  });

  it('verifies a range export from its anchor only when asked to', async () => {
    const lines = await range();
    expect(await verifyRange(lines)).toMatchObject({
      ok: true,
      records: 4,
      firstSeq: 7,
      lastSeq: RECORDS,
      failures: [],
    });
    const whole = await verifyLines(lines, options());
    expect(codesAndSeqs(whole.failures)).toEqual([['ledger.sequence.invalid', 1]]);
  });

  it('verifies a range given its anchor checkpoint as trusted, and names a later one it does not reach', async () => {
    const lines = await range();
    const anchor = (JSON.parse(lines[0]!) as ExportHeader).anchor!.checkpoint;
    expect((await verifyRange(lines, { checkpoint: anchor })).failures).toEqual([]);
    const [first] = await ledger.store.checkpoints(8, 8, 1);
    const cut = await collect(exportLines(ledger.store, { from: 7, to: 8 }));
    expect(codesAndSeqs((await verifyRange(cut)).failures)).toEqual([]);
    expect(
      codesAndSeqs(
        (await verifyRange(cut, { checkpoint: (await ledger.store.latestCheckpoint())!.text })).failures,
      ),
    ).toEqual([['ledger.chain.truncated', first!.seq + 1]]);
  });

  it('refuses a range whose anchor tree is not the anchor checkpoint’s', async () => {
    const lines = await range();
    for (const edit of [
      (a: { tree: string[] }) => a.tree.reverse(),
      (a: { tree: string[] }) => (a.tree[1] = base64Encode(flip(base64Decode(a.tree[1]!)!))),
    ]) {
      const result = await verifyRange(withAnchor(lines, edit));
      expect(codesAndSeqs(result.failures)).toEqual([['ledger.root.mismatch', null]]);
      expect(result.records).toBe(0);
    }
  });

  it('refuses a range anchor whose tree is not one hash per bit of its size', async () => {
    const result = await verifyRange(withAnchor(await range(), (a) => a.tree.pop()));
    expect(codesAndSeqs(result.failures)).toEqual([['ledger.event.invalid', null]]);
  });

  it('refuses a range anchor checkpoint that no trusted audit key signed', async () => {
    const lines = await range();
    const stranger = withAnchor(lines, (a) => (a.checkpoint = resigned(a.checkpoint, (c) => c, strangerKey)));
    expect(codesAndSeqs((await verifyRange(stranger)).failures)).toEqual([
      ['ledger.signature.invalid', null],
    ]);
    const unsigned = withAnchor(
      lines,
      (a) => (a.checkpoint = a.checkpoint.slice(0, a.checkpoint.indexOf('\n\n') + 1)),
    );
    expect((await verifyRange(unsigned)).failures).toEqual([expect.objectContaining({ seq: null })]);
    expect((await verifyRange(unsigned)).ok).toBe(false);
  });

  it('refuses a range anchor checkpoint of another size than from − 1', async () => {
    const [four] = await ledger.store.checkpoints(4, 4, 1);
    const other = withAnchor(await range(), (a) => (a.checkpoint = four!.text));
    const result = await verifyRange(other);
    expect(codesAndSeqs(result.failures)).toEqual([['ledger.event.invalid', null]]);
    expect(result.failures[0]!.message).toMatch(/size from − 1/);
  });

  it('names a range whose anchor chain line, signed by the audit key, is not the chain’s, at its first checkpoint', async () => {
    const lines = await range();
    const forged = withAnchor(lines, (a) => {
      a.checkpoint = resigned(a.checkpoint, (c) => ({ ...c, chain: { ...c.chain, alt: flip(c.chain.alt) } }));
    });
    expect(codesAndSeqs((await verifyRange(forged)).failures)).toEqual([['ledger.hash.mismatch', 8]]);
  });

  it('accepts a trusted checkpoint the chain contains, and names one it does not as inconsistent', async () => {
    // At 5: no checkpoint was published there, the chain still has to reach its root and chain line.
    const ok = await verifyStore(ledger.store, options({ checkpoint: await checkpointOf(ledger.store, 5) }));
    expect(ok.failures).toEqual([]);
    for (const edit of [
      (c: LedgerCheckpoint) => ({ ...c, root: flip(c.root) }),
      (c: LedgerCheckpoint) => ({ ...c, chain: { ...c.chain, hash: flip(c.chain.hash) } }),
    ]) {
      const forked = await verifyStore(
        ledger.store,
        options({ checkpoint: await checkpointOf(ledger.store, 5, edit) }),
      );
      expect(codesAndSeqs(forked.failures)).toEqual([['ledger.checkpoint.inconsistent', 5]]);
    }
  });

  it('names an export that stops before the trusted checkpoint as truncated', async () => {
    const cut = await collect(exportLines(ledger.store, { to: 2 }));
    const latest = (await ledger.store.latestCheckpoint())!.text;
    const alone = await verifyLines(cut, options());
    expect(alone).toMatchObject({ ok: true, lastSeq: 2, failures: [] });
    const trusted = await verifyLines(cut, options({ checkpoint: latest }));
    expect(codesAndSeqs(trusted.failures)).toEqual([['ledger.chain.truncated', 3]]);
  });

  it('serves no stored record that is not canonical (the proof reader)', async () => {
    const store = ledger.store;
    const duplicated = (text: string) => text.replace('{"events":', '{"events":[],"events":');
    const source: ChainSource = {
      records: async (from, to) =>
        (await store.records(from, to)).map((r) => (r.seq === 5 ? { ...r, text: duplicated(r.text) } : r)),
      checkpoints: (from, to, count) => store.checkpoints(from, to, count),
      latestCheckpoint: () => store.latestCheckpoint(),
      tip: () => store.tip(),
      tiles: (keys) => store.tiles(keys),
      indexRead: (ids, shards) => store.indexRead(ids, shards),
    };
    const reader = new StoreLedgerReader(nodeCrypto, source);
    expect(await reader.range(4, 4)).toHaveLength(1);
    await expect(reader.range(4, 6)).rejects.toMatchObject({ code: 'encoding.invalid' });
  });

  it('names an empty ledger as unproven', async () => {
    const empty = new TestLedger(memoryStores('empty-log'));
    try {
      const result = await verifyStore(empty.store, options());
      expect(codesAndSeqs(result.failures)).toEqual([['ledger.head.mismatch', null]]);
    } finally {
      await empty.close();
    }
  });
});

describe('verifying witnessed checkpoints of a sequencer', () => {
  const witnessKey = seededKey('witness');
  const name = 'witness.test.example/1';
  const policy = (threshold: number) => ({
    threshold,
    witnesses: [
      { name, publicKey: rawPublicKey(witnessKey) },
      { name: 'witness.test.example/2', publicKey: rawPublicKey(seededKey('witness-2')) },
    ],
  });
  /** A witness that cosigns every checkpoint it is shown (its own checks are the witness's tests). */
  const witnesses: CheckpointWitnesses = {
    threshold: 1,
    cosign: async (note) => [
      await cosign(
        nodeCrypto,
        parseNote(note).body,
        name,
        { kid: name, sign: async (m) => signSync(witnessKey, m) },
        1_778_605_451,
        rawPublicKey(witnessKey),
      ),
    ],
  };
  let witnessed: TestLedger;
  beforeAll(async () => {
    witnessed = new TestLedger(memoryStores('witnessed-log'));
    witnessed.sequencer({ headIntervalMs: 20, witnesses });
    const writer = await witnessed.writer({
      checkpoints: { auditKeys: () => ledgerKeys.audit, witnesses: policy(1) },
    });
    await writer.appendAndWait([testEvent(1), testEvent(2), testEvent(3)], 30_000);
    await until(async () => (await witnessed.store.tip()).signedSeq === 1, 30_000, 'a witnessed checkpoint');
  }, 60_000);
  afterAll(async () => {
    await witnessed?.close();
  });

  it('passes every checkpoint cosigned as the policy requires', async () => {
    const result = await verifyStore(witnessed.store, options({ witnesses: policy(1) }));
    expect(result.failures).toEqual([]);
    expect(result.checkpoint?.checkpoint.size).toBe(1);
  });

  it('names a checkpoint with fewer cosignatures than the policy requires', async () => {
    const result = await verifyStore(witnessed.store, options({ witnesses: policy(2) }));
    expect(result.failures[0]).toMatchObject({ code: 'ledger.witness.insufficient', seq: 1 });
  });
});

// ---------------------------------------------------------------------------------------------
// Chains built here, record by record, as a sequencer holding the audit key could build them.

const LOG = 'test-log';

/** A producer batch as its record carries it: the events, the kid and the batch signature. */
interface Batch {
  events: LedgerEvent[];
  kid: string;
  val: string;
}

/** Seals events as they are, valid or not (canonical bytes, not validateEvent). */
function batch(events: LedgerEvent[], kid = PRODUCER_KID, key = producerKey): Batch {
  const { val } = sealBatch(
    nodeCrypto,
    LOG,
    kid,
    key,
    events.map((e) => canonicalBytes(e)),
  );
  return { events, kid, val };
}

interface Built {
  lines: string[];
  /** The signed checkpoint note at each size a checkpoint line was written. */
  checkpoints: Map<number, string>;
}

/**
 * An export of these batches chained in this order: lineage_prev, chains, tree and index as the
 * sequencer computes them, a checkpoint line after each size of `checkpointsAt` (default: after
 * the last record). `edit` may change a record before it is spelled (and chained, hashed and
 * checkpointed as changed).
 */
function build(
  batches: Batch[],
  {
    checkpointsAt = [batches.length],
    edit,
  }: { checkpointsAt?: number[]; edit?: (record: ChainRecord) => void } = {},
): Built {
  let state = genesis(nodeCrypto, LOG);
  const tree = CompactRange.empty(nodeCrypto);
  const index = new SparseMerkleIndex(nodeCrypto);
  const latest = new Map<string, EventPosition>();
  const checkpoints = new Map<number, string>();
  const header: ExportHeader = { anchor: null, format: EXPORT_FORMAT, from: 1, log: LOG, to: batches.length };
  const lines = [canonicalize(header)];
  batches.forEach(({ events, kid, val }, i) => {
    const seq = i + 1;
    const lineage_prev = events.map((event, at): EventPosition | null => {
      if (event.lineage === undefined) return null;
      const prev = latest.get(event.lineage) ?? null;
      latest.set(event.lineage, [seq, at]);
      index.set(indexKey(nodeCrypto, event.lineage), valueOfPosition([seq, at]));
      return prev;
    });
    const record: ChainRecord = structuredClone({ events, kid, lineage_prev, seq, val });
    edit?.(record);
    // Spelled member by member: data nested past the limit has no canonical encoding to ask for.
    const array = utf8Decode(eventsBytes(record.events.map((e) => canonicalBytes(e))))!;
    const text = `{"events":${array},"kid":${JSON.stringify(record.kid)},"lineage_prev":${JSON.stringify(record.lineage_prev)},"seq":${record.seq},"val":${JSON.stringify(record.val)}}`;
    state = chainNext(nodeCrypto, state, utf8Encode(text));
    tree.append(tlogLeafHash(nodeCrypto, utf8Encode(text)));
    lines.push(text);
    if (checkpointsAt.includes(seq)) {
      const note = checkpointNote(
        signCheckpoint(
          nodeCrypto,
          {
            log: LOG,
            size: seq,
            root: tree.root(),
            chain: { hash: state.hash, alt: state.alt },
            index: index.root(),
            time: TIME,
          },
          auditSigner,
        ),
      );
      checkpoints.set(seq, note);
      lines.push(checkpointLine(note));
    }
  });
  return { lines, checkpoints };
}

const verifyBuilt = (built: Built, extra: Partial<VerifyOptions> = {}) =>
  verifyLines(built.lines, options(extra));
const failuresOf = async (batches: Batch[], extra: Parameters<typeof build>[1] = {}) =>
  codesAndSeqs((await verifyBuilt(build(batches, extra))).failures);

describe('verifying that each batch is chained once, whole and signed', () => {
  const a = batch([testEvent(1), testEvent(2), testEvent(3)]);
  const b = batch([testEvent(4), testEvent(5)]);
  const c = batch([testEvent(6)]);

  it('passes batches one after the other (the helper of the tests below)', async () => {
    const result = await verifyBuilt(build([a, b, c], { checkpointsAt: [1, 3] }));
    expect(result).toMatchObject({ ok: true, records: 3, checkpoints: 2, failures: [] });
  });

  it('names a batch chained again at the record that repeats it', async () => {
    expect(await failuresOf([a, b, a])).toEqual([['ledger.batch.replayed', 3]]);
    expect(await failuresOf([c, c])).toEqual([['ledger.batch.replayed', 2]]);
  });

  it('forgets batches beyond batchWindow, and says how many', async () => {
    const replay = build([c, b, c]);
    expect(await verifyBuilt(replay)).toMatchObject({ ok: false, batchesForgotten: 0 });
    expect(await verifyBuilt(replay, { batchWindow: 1 })).toMatchObject({ ok: true, batchesForgotten: 2 });
  });

  it.each([
    ['an event left out', (r: ChainRecord) => [r.events.pop(), r.lineage_prev.pop()]],
    ['events reordered', (r: ChainRecord) => r.events.reverse()],
    ['an event edited', (r: ChainRecord) => (r.events[1]!.request_id = 'req-forged')],
    ['an event added', (r: ChainRecord) => [r.events.push(testEvent(7)), r.lineage_prev.push(null)]],
    ['another kid', (r: ChainRecord) => (r.kid = 'producer:test/2')],
  ])('names a record with %s after signing, by its signature', async (_name, edit) => {
    const failures = await failuresOf([b, a, c], { edit: (r) => r.seq === 2 && void edit(r) });
    expect(failures).toEqual([['ledger.signature.invalid', 2]]);
  });

  it('names a batch signed by another key than its kid’s', async () => {
    expect(await failuresOf([a, batch([testEvent(8)], PRODUCER_KID, strangerKey)])).toEqual([
      ['ledger.signature.invalid', 2],
    ]);
  });

  it('names a producer batch with an event of another producer', async () => {
    const foreign = batch([testEvent(8), testEvent(9, 'execution.denied', { producer: 'authority://prod' })]);
    const result = await verifyBuilt(build([foreign]));
    expect(codesAndSeqs(result.failures)).toEqual([['ledger.signature.invalid', 1]]);
    expect(result.failures[0]!.message).toMatch(
      /event 1: kid producer:test\/1 speaks for authz-server:\/\/pod-test/,
    );
  });

  it('passes ledger.rejected events signed together by the audit key, and names them mixed with producer events', async () => {
    const rejected = (i: number) => testEvent(i, 'ledger.rejected', { producer: `ledger://${LOG}` });
    expect(await failuresOf([a, batch([rejected(1), rejected(2)], AUDIT_KID, auditKey)])).toEqual([]);
    const mixed = await verifyBuilt(build([batch([rejected(1), testEvent(2)], AUDIT_KID, auditKey)]));
    expect(codesAndSeqs(mixed.failures)).toEqual([['ledger.signature.invalid', 1]]);
    expect(mixed.failures[0]!.message).toMatch(/signed only with each other/);
  });

  it('passes batches swapped and re-signed alone, and names them inconsistent with a checkpoint captured before', async () => {
    const honest = build([a, b, c]);
    const swapped = build([a, c, b]);
    expect((await verifyBuilt(swapped)).failures).toEqual([]);
    const trusted = honest.checkpoints.get(3)!;
    expect(codesAndSeqs((await verifyBuilt(swapped, { checkpoint: trusted })).failures)).toEqual([
      ['ledger.checkpoint.inconsistent', 3],
    ]);
  });
});

describe('verifying lineage links (lineage_prev) and the index', () => {
  const lineage = (id: string, i: number, type: EventType = 'execution.denied') =>
    testEvent(i, type, { lineage: `lineage://op/${id}` });
  const [issued, consumed, granted] = LINEAGE_STAGES;
  // X: two events in one record, then one in another; Y: one event in each.
  const batches = [
    batch([lineage('X', 1, issued), lineage('Y', 2, issued), lineage('X', 3, consumed)]),
    batch([testEvent(4), lineage('X', 5, granted)]),
    batch([lineage('Y', 6, consumed)]),
  ];

  it('passes links within a record and across records, and an index of each lineage’s latest event', async () => {
    const built = build(batches);
    expect(JSON.parse(built.lines[1]!)).toMatchObject({ lineage_prev: [null, null, [1, 0]] });
    expect(JSON.parse(built.lines[2]!)).toMatchObject({ lineage_prev: [null, [1, 2]] });
    expect(JSON.parse(built.lines[3]!)).toMatchObject({ lineage_prev: [[1, 1]] });
    expect((await verifyBuilt(built)).failures).toEqual([]);
  });

  it.each([
    ['null inside a lineage', 2, (r: ChainRecord) => (r.lineage_prev[1] = null)],
    ['an earlier event of the lineage than the latest', 2, (r: ChainRecord) => (r.lineage_prev[1] = [1, 0])],
    ['an event of another lineage', 3, (r: ChainRecord) => (r.lineage_prev[0] = [1, 0])],
    ['the first event of a lineage pointing back', 1, (r: ChainRecord) => (r.lineage_prev[1] = [1, 0])],
  ])('names a lineage_prev naming %s', async (_name, seq, edit) => {
    const failures = await failuresOf(batches, { edit: (r) => r.seq === seq && void edit(r) });
    // The producer signature does not cover lineage_prev: the links alone tell.
    expect(failures).toEqual([['ledger.lineage.invalid', seq]]);
  });

  it('names a checkpoint whose index is not the records’', async () => {
    const built = build(batches);
    const note = built.checkpoints.get(3)!;
    const forged = checkpointNote(
      signCheckpoint(
        nodeCrypto,
        { ...parseCheckpointNote(note).checkpoint, index: flip(parseCheckpointNote(note).checkpoint.index) },
        auditSigner,
      ),
    );
    const lines = [...built.lines.slice(0, -1), checkpointLine(forged)];
    expect(codesAndSeqs((await verifyLines(lines, options())).failures)).toEqual([
      ['ledger.index.mismatch', 3],
      ['ledger.head.mismatch', 1],
    ]);
  });
});

describe('verifying event data at the nesting limit (spec §3)', () => {
  const nested = (levels: number): JsonValue => (levels === 0 ? 0 : [nested(levels - 1)]);
  const deep = (levels: number) => testEvent(7, 'execution.started', { data: { nest: nested(levels) } });

  it('passes 28 levels inside data through the writer, the sequencer and the verifier', async () => {
    const deepLedger = new TestLedger(memoryStores('deep-log'));
    try {
      deepLedger.sequencer({ headIntervalMs: 20 });
      const writer = await deepLedger.writer();
      const [receipt] = await writer.appendAndWait([deep(28)], 30_000);
      await until(
        async () => (await deepLedger.store.tip()).signedSeq === receipt!.seq,
        30_000,
        'a checkpoint',
      );
      const result = await verifyStore(deepLedger.store, options());
      expect(result).toMatchObject({ ok: true, records: 1, failures: [] });
      // 29 levels are refused before anything is sealed.
      await expect(writer.append([deep(29)])).rejects.toMatchObject({ code: 'ledger.event.invalid' });
    } finally {
      await deepLedger.close();
    }
  });

  it('names a record whose data nests 29 levels, validly signed, chained and checkpointed', async () => {
    const built = build([batch([testEvent(1)]), batch([deep(29)]), batch([testEvent(2)])], {
      checkpointsAt: [1, 2, 3],
    });
    const result = await verifyBuilt(built);
    expect(codesAndSeqs(result.failures)).toEqual([['encoding.invalid', 2]]);
    expect(result.failures[0]!.message).toMatch(/nesting deeper than 32/);
    // Unread, its bytes are still the leaf and the link the checkpoints signed: they verify.
    expect(result.checkpoint?.checkpoint.size).toBe(3);
  });

  it.each([
    ['a fraction', { n: 1.5 }],
    ['2^53', { n: 2 ** 53 }],
  ])('names a record whose data holds %s, validly signed, chained and checkpointed', async (_name, data) => {
    const built = build([batch([testEvent(1)]), batch([testEvent(2, 'execution.started', { data })])]);
    const result = await verifyBuilt(built);
    expect(codesAndSeqs(result.failures)).toEqual([['ledger.event.invalid', 2]]);
    expect(result.failures[0]!.message).toMatch(/event\.data numbers must be integers/);
    expect(result.checkpoint?.checkpoint.size).toBe(2);
  });
});

describe('verifying the stage order of each lineage in the whole chain (white paper §6.1)', () => {
  let order: TestLedger;
  let reader: StoreLedgerReader;
  const [issued, consumed, granted, started, signed, completed, committed] = LINEAGE_STAGES;
  const execution = [started, signed, completed, committed];
  /** wantEventOf: the event of the lineage (its index in the lineage) the first failure names. */
  const lineages: Record<string, { types: EventType[]; wantEventOf?: number }> = {
    'two admissions, then their two executions': {
      types: [issued, consumed, granted, consumed, granted, ...execution, ...execution],
    },
    'an execution cut short, and another event joining the lineage': {
      types: [issued, 'revocation.added', consumed, granted, started],
    },
    'two executions after one admission': {
      types: [issued, consumed, granted, ...execution, ...execution],
      wantEventOf: 7,
    },
    'an attestation with no execution started': {
      types: [issued, consumed, granted, signed],
      wantEventOf: 3,
    },
    'authorization.issued twice': { types: [issued, consumed, granted, issued], wantEventOf: 3 },
    'another event before authorization.issued': { types: ['revocation.added', issued], wantEventOf: 0 },
  };
  const operation = (i: number) => `lineage://op/ORDER${i}`;
  let failures: VerifyFailure[] = [];
  /** The position a stage-order message names. */
  const positionIn = (message: string) => /^record (\d+) event (\d+):/.exec(message)?.slice(1, 3).map(Number);

  beforeAll(async () => {
    order = new TestLedger(memoryStores('order-log'));
    order.sequencer({ headIntervalMs: 20 });
    // Small batches: a lineage's events share records with each other and with other lineages'.
    const writer = await order.writer({ maxBatch: 4 });
    const events = withAttestationRefs(
      Object.values(lineages).flatMap(({ types }, i) =>
        types.map((type, j) => testEvent(100 * i + j, type, { lineage: operation(i) })),
      ),
    );
    const receipts = await writer.appendAndWait(events, 30_000);
    const last = receipts.at(-1)!.seq;
    await until(
      async () => (await order.store.tip()).signedSeq === last,
      30_000,
      'a checkpoint over the lineages',
    );
    reader = new StoreLedgerReader(nodeCrypto, order.store);
    failures = (await verifyStore(order.store, options())).failures;
  }, 60_000);
  afterAll(async () => {
    await order?.close();
  });

  it.each(Object.entries(lineages).map(([name, c], i) => [name, i, c] as const))(
    '%s',
    async (_name, i, { types, wantEventOf }) => {
      const events = await reader.lineageEvents(operation(i));
      expect(events.map((e) => e.event.type)).toEqual(types);
      const positions = new Set(events.map(({ seq, index }) => `${seq},${index}`));
      const own = failures.filter((f) => positions.has(String(positionIn(f.message))));
      // The streaming check and core/proofs.ts checkStageOrder (lineage proofs) agree.
      const proofs: VerifyFailure[] = [];
      checkStageOrder(nodeCrypto, events, (code, seq, message) => proofs.push({ code, seq, message }));
      expect(own).toEqual(proofs);
      if (wantEventOf === undefined) expect(own).toEqual([]);
      else {
        const { seq, index } = events[wantEventOf]!;
        expect(own[0]).toMatchObject({ code: 'ledger.lineage.order', seq });
        expect(positionIn(own[0]!.message)).toEqual([seq, index]);
        expect(own.every((f) => f.code === 'ledger.lineage.order')).toBe(true);
      }
    },
  );

  it('spreads the lineages over records, several to a record', async () => {
    const records = await reader.range(1, (await order.store.tip()).seq);
    expect(records.length).toBeGreaterThan(1);
    expect(records.some((r) => new Set(r.events.map((e) => e.lineage)).size > 1)).toBe(true);
  });

  it('reports only stage-order failures, each naming an event of a lineage', () => {
    expect(failures.length).toBeGreaterThan(0);
    expect(
      failures.every((f) => f.code === 'ledger.lineage.order' && positionIn(f.message) !== undefined),
    ).toBe(true);
  });

  it('leaves the stage order of a lineage that left the window unchecked, and counts it', async () => {
    const result = await verifyStore(order.store, options({ lineageWindow: 1 }));
    expect(result.failures).toEqual([]);
    expect(result.lineageUnchecked).toBeGreaterThan(0);
  });
});
