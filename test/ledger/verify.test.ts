// The verifier reads attacker-supplied files: every malformed input ends in a named failure,
// never a throw, and memory stays bounded by the line limit.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeCrypto } from '../../core/crypto-node.js';
import { canonicalize } from '../../core/canonical.js';
import { checkpointNote, parseCheckpointNote, signCheckpoint } from '../../core/checkpoint.js';
import { base64Encode, utf8Encode } from '../../core/encoding.js';
import {
  chainRecord,
  chainStateOf,
  genesis,
  LINEAGE_STAGES,
  signEventBatch,
  type ChainRecord,
  type ChainState,
  type EventType,
  type SignedEvent,
} from '../../core/event.js';
import { rawPublicKey, signSync } from '../../core/keys.js';
import { cosign, parseNote } from '../../core/note.js';
import { checkStageOrder } from '../../core/proofs.js';
import { SparseMerkleIndex } from '../../core/smt.js';
import { CompactRange, treeRoot, tlogLeafHash } from '../../core/tlog.js';
import { EXPORT_FORMAT, checkpointLine, exportLines } from '../../ledger/export.js';
import { StoreLedgerReader, type ChainSource } from '../../ledger/reader.js';
import { treeHashes } from '../../ledger/tree.js';
import { verifyExportFile, verifyLines, verifyStore, type VerifyOptions } from '../../ledger/verify.js';
import type { CheckpointWitnesses } from '../../sequencer/witnesses.js';
import { LEDGER_VECTOR_DIR, readLedgerVectorKeys } from '../vectors/generate-ledger.js';
import {
  PRODUCER_KID,
  TestLedger,
  auditKey,
  ledgerKeys,
  memoryStores,
  producerKey,
  seededKey,
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
/** Record 3 of the valid export (after the checkpoint at seq 2) and its line. */
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
      replaced(0, valid[0]!.replace('"to":13', '"to":13,"to":13')),
      'encoding.invalid',
      null,
    ],
    [
      'a header of another format',
      replaced(0, valid[0]!.replace('export.v2', 'export.v1')),
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
      // Its batch and lineage are unread, but no later hash or chain line fails.
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

  it('refuses a trusted checkpoint that is malformed or not signed by an audit key', async () => {
    const note = (
      JSON.parse(readFileSync(join(LEDGER_VECTOR_DIR, 'checkpoint.json'), 'utf8')) as {
        checkpoint: string;
      }
    ).checkpoint;
    const forged = note.replace(/^13$/m, '14');
    const path = file(valid.join('\n') + '\n');
    expect((await verifyExportFile(path, options({ checkpoint: forged }))).failures).toEqual([
      expect.objectContaining({ code: 'ledger.signature.invalid', seq: 14 }),
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
    expect(seen.map((p) => p.records)).toEqual([4, 8, 12, 13]);
    expect(seen.at(-1)!.bytes).toBe(seen.at(-1)!.totalBytes);
  });
});

/** A checkpoint the audit key signs over the records of the store up to `size`, with these chain hashes. */
async function checkpointOf(
  store: TestLedger['store'],
  size: number,
  edit: { root?: Uint8Array } = {},
): Promise<string> {
  const [stored] = await store.records(size, size);
  const record = JSON.parse(stored!.text) as ChainRecord;
  const hashes = await treeHashes(nodeCrypto, store, size);
  const state = chainStateOf(record)!;
  return checkpointNote(
    signCheckpoint(
      nodeCrypto,
      {
        log: store.log,
        size,
        root: edit.root ?? treeRoot(nodeCrypto, hashes, size),
        chain: { hash: state.hash, alt: state.alt },
        index: new Uint8Array(32),
        time: '2026-05-12T17:05:00.000Z',
      },
      { publicKey: rawPublicKey(auditKey), sign: (m) => signSync(auditKey, m) },
    ),
  );
}

describe('verifying ranges and stores', () => {
  let ledger: TestLedger;
  beforeAll(async () => {
    ledger = new TestLedger(memoryStores());
    ledger.sequencer({ headIntervalMs: 20 });
    const writer = await ledger.writer();
    for (let i = 0; i < 5; i++) await writer.appendAndWait([testEvent(2 * i), testEvent(2 * i + 1)]);
    await until(async () => (await ledger.store.tip()).signedSeq === 10, 5000, 'a checkpoint over the chain');
  });
  afterAll(async () => {
    await ledger.close();
  });

  const collect = async (lines: AsyncIterable<string>) => {
    const out: string[] = [];
    for await (const line of lines) out.push(line);
    return out;
  };
  const verifyRange = (lines: string[]) =>
    verifyLines(lines, { suite: nodeCrypto, keys: ledgerKeys, allowRange: true });

  it('verifies the store: every checkpoint the sequencer published, with its root and index', async () => {
    const result = await verifyStore(ledger.store, { suite: nodeCrypto, keys: ledgerKeys });
    expect(result.failures).toEqual([]);
    expect(result.checkpoints).toBeGreaterThan(0);
    expect(result.checkpoint?.checkpoint.size).toBe(10);
  });

  it('verifies a range export from its anchor only when asked to', async () => {
    const lines = await collect(exportLines(ledger.store, { from: 6 }));
    expect(JSON.parse(lines[0]!)).toMatchObject({ from: 6, to: 10, anchor: { seq: 5 } });
    // The compact range of 5 leaves: subtrees of 4 and 1.
    expect((JSON.parse(lines[0]!) as { anchor: { tree: string[] } }).anchor.tree).toHaveLength(2);
    expect(await verifyRange(lines)).toMatchObject({ ok: true, records: 5, firstSeq: 6, lastSeq: 10 });
    const whole = await verifyLines(lines, { suite: nodeCrypto, keys: ledgerKeys });
    expect(whole.failures).toEqual([expect.objectContaining({ code: 'ledger.sequence.invalid', seq: 1 })]);
  });

  it('fails a range whose anchor hashes were altered', async () => {
    const lines = await collect(exportLines(ledger.store, { from: 6 }));
    const header = JSON.parse(lines[0]!) as { anchor: { event_hash: string } };
    header.anchor.event_hash = header.anchor.event_hash.replace(/.$/, (c) => (c === '0' ? '1' : '0'));
    const result = await verifyRange([canonicalize(header), ...lines.slice(1)]);
    expect(result.failures[0]).toMatchObject({ code: 'ledger.hash.mismatch', seq: 6 });
  });

  it('fails a range whose anchor tree was altered, at the first checkpoint', async () => {
    const lines = await collect(exportLines(ledger.store, { from: 6 }));
    const header = JSON.parse(lines[0]!) as { anchor: { tree: string[] } };
    header.anchor.tree.reverse();
    const result = await verifyRange([canonicalize(header), ...lines.slice(1)]);
    const first = JSON.parse(lines.find((l) => l.startsWith('{"checkpoint":'))!) as { checkpoint: string };
    expect(result.failures[0]).toMatchObject({
      code: 'ledger.root.mismatch',
      seq: parseCheckpointNote(first.checkpoint).checkpoint.size,
    });
  });

  it('refuses a range anchor whose tree is not one hash per bit of its seq', async () => {
    const lines = await collect(exportLines(ledger.store, { from: 6 }));
    const header = JSON.parse(lines[0]!) as { anchor: { tree: string[] } };
    header.anchor.tree.pop();
    const result = await verifyRange([canonicalize(header), ...lines.slice(1)]);
    expect(result.failures).toEqual([expect.objectContaining({ code: 'ledger.event.invalid', seq: null })]);
  });

  it('accepts a trusted checkpoint the chain contains, and names one it does not as inconsistent', async () => {
    const ok = await verifyStore(ledger.store, {
      suite: nodeCrypto,
      keys: ledgerKeys,
      checkpoint: await checkpointOf(ledger.store, 5),
    });
    expect(ok.failures).toEqual([]);
    const forked = await verifyStore(ledger.store, {
      suite: nodeCrypto,
      keys: ledgerKeys,
      checkpoint: await checkpointOf(ledger.store, 5, { root: new Uint8Array(32).fill(7) }),
    });
    expect(forked.failures).toEqual([
      expect.objectContaining({ code: 'ledger.checkpoint.inconsistent', seq: 5 }),
    ]);
  });

  it('names an export that stops before the trusted checkpoint as truncated', async () => {
    const [first] = await ledger.store.checkpoints(1, 9, 1);
    expect(first).toBeDefined();
    const cut = await collect(exportLines(ledger.store, { to: first!.seq }));
    const latest = (await ledger.store.latestCheckpoint())!.text;
    const alone = await verifyLines(cut, { suite: nodeCrypto, keys: ledgerKeys });
    expect(alone.failures).toEqual([]);
    const trusted = await verifyLines(cut, { suite: nodeCrypto, keys: ledgerKeys, checkpoint: latest });
    expect(trusted.failures).toEqual([
      expect.objectContaining({ code: 'ledger.chain.truncated', seq: first!.seq + 1 }),
    ]);
  });

  it('serves no stored record that is not canonical (the proof reader)', async () => {
    const store = ledger.store;
    const duplicated = (text: string) => text.replace('{"event":', '{"event":{"v":"1"},"event":');
    const source: ChainSource = {
      records: async (from, to) =>
        (await store.records(from, to)).map((r) => (r.seq === 5 ? { ...r, text: duplicated(r.text) } : r)),
      checkpoints: (from, to, count) => store.checkpoints(from, to, count),
      latestCheckpoint: () => store.latestCheckpoint(),
      lineageSeqs: (lineage) => store.lineageSeqs(lineage),
      tiles: (keys) => store.tiles(keys),
      indexNodes: (ids) => store.indexNodes(ids),
    };
    const reader = new StoreLedgerReader(nodeCrypto, source);
    expect(await reader.range(4, 4)).toHaveLength(1);
    await expect(reader.range(4, 6)).rejects.toMatchObject({ code: 'encoding.invalid' });
  });

  it('names an empty ledger as unproven', async () => {
    const result = await verifyStore(new TestLedger(memoryStores('empty-log')).store, {
      suite: nodeCrypto,
      keys: ledgerKeys,
    });
    expect(result.failures).toEqual([expect.objectContaining({ code: 'ledger.head.mismatch', seq: null })]);
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
  let ledger: TestLedger;
  beforeAll(async () => {
    ledger = new TestLedger(memoryStores('witnessed-log'));
    ledger.sequencer({ headIntervalMs: 20, witnesses });
    const writer = await ledger.writer();
    await writer.appendAndWait([testEvent(1), testEvent(2), testEvent(3)]);
    await until(async () => (await ledger.store.tip()).signedSeq === 3, 5000, 'a witnessed checkpoint');
  });
  afterAll(async () => {
    await ledger.close();
  });

  it('passes every checkpoint cosigned as the policy requires', async () => {
    const result = await verifyStore(ledger.store, {
      suite: nodeCrypto,
      keys: ledgerKeys,
      witnesses: policy(1),
    });
    expect(result.failures).toEqual([]);
  });

  it('names a checkpoint with fewer cosignatures than the policy requires', async () => {
    const result = await verifyStore(ledger.store, {
      suite: nodeCrypto,
      keys: ledgerKeys,
      witnesses: policy(2),
    });
    const size = result.failures[0]?.seq;
    expect(result.failures[0]).toMatchObject({ code: 'ledger.witness.insufficient' });
    expect((await ledger.store.checkpoints(size!, size!, 1))[0]).toBeDefined();
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

  /** A checkpoint line over `tree` and `state`, as the sequencer signs it (the events have no lineage: an empty index). */
  const checkpointFor = (tree: CompactRange, state: ChainState) =>
    checkpointLine(
      checkpointNote(
        signCheckpoint(
          nodeCrypto,
          {
            log: 'test-log',
            size: state.seq,
            root: tree.root(),
            chain: { hash: state.hash, alt: state.alt },
            index: new SparseMerkleIndex(nodeCrypto).root(),
            time: '2026-05-12T17:05:00.000Z',
          },
          { publicKey: rawPublicKey(auditKey), sign: (m) => signSync(auditKey, m) },
        ),
      ),
    );

  /** An export of these signed events chained in this order, as a sequencer holding the audit key would write it. */
  function exported(sequence: SignedEvent[]): { lines: string[]; trees: CompactRange[] } {
    let state = genesis(nodeCrypto, 'test-log');
    const tree = CompactRange.empty(nodeCrypto);
    const trees: CompactRange[] = [];
    const lines = sequence.map((signed) => {
      const next = chainRecord(nodeCrypto, state, signed, undefined);
      state = next.state;
      const text = canonicalize(next.record);
      tree.append(tlogLeafHash(nodeCrypto, utf8Encode(text)));
      trees.push(CompactRange.of(nodeCrypto, tree.size, tree.hashes()));
      return text;
    });
    const header = { anchor: null, format: EXPORT_FORMAT, from: 1, log: 'test-log', to: state.seq };
    return { lines: [canonicalize(header), ...lines, checkpointFor(tree, state)], trees };
  }
  const verify = (sequence: SignedEvent[], extra: Partial<VerifyOptions> = {}) =>
    verifyLines(exported(sequence).lines, { suite: nodeCrypto, keys: ledgerKeys, ...extra });
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
    const { lines, trees } = exported([a0, a1, a2, b0, b1, c0]);
    const { seq, event_hash, event_hash_alt } = JSON.parse(lines[2]!) as ChainRecord;
    const header = {
      anchor: { event_hash, event_hash_alt, seq, tree: trees[1]!.hashes().map(base64Encode) },
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

describe('verifying the stage order of each lineage in the whole chain (white paper §6.1)', () => {
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
  let failures: { code: string; seq: number | null }[] = [];

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
      'a checkpoint over the lineages',
    );
    reader = new StoreLedgerReader(nodeCrypto, ledger.store);
    failures = (await verifyStore(ledger.store, { suite: nodeCrypto, keys: ledgerKeys })).failures;
  });
  afterAll(async () => {
    await ledger.close();
  });

  it.each(Object.entries(lineages).map(([name, c], i) => [name, i, c] as const))(
    '%s',
    async (_name, i, { wantSeqOf }) => {
      const records = await reader.lineage(operation(i));
      const seqs = records.map((r) => r.seq);
      const own = failures.filter((f) => f.seq !== null && seqs.includes(f.seq));
      // The streaming check and core/proofs.ts checkStageOrder (lineage proofs) agree.
      const proofs: { code: string; seq: number }[] = [];
      checkStageOrder(nodeCrypto, records, (code, seq) => proofs.push({ code, seq }));
      expect(own.map(({ code, seq }) => ({ code, seq }))).toEqual(proofs);
      if (wantSeqOf === undefined) expect(own).toEqual([]);
      else {
        expect(own[0]).toMatchObject({ code: 'ledger.lineage.order', seq: seqs[wantSeqOf] });
        expect(own.every((f) => f.code === 'ledger.lineage.order')).toBe(true);
      }
    },
  );

  it('reports only stage-order failures for the lineages out of order', () => {
    expect(failures.length).toBeGreaterThan(0);
    expect(failures.every((f) => f.code === 'ledger.lineage.order')).toBe(true);
  });

  it('leaves the stage order of a lineage that left the window unchecked, and counts it', async () => {
    const result = await verifyStore(ledger.store, { suite: nodeCrypto, keys: ledgerKeys, lineageWindow: 1 });
    expect(result.failures).toEqual([]);
    expect(result.lineageUnchecked).toBeGreaterThan(0);
  });
});
