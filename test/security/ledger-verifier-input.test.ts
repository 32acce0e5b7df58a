// Hostile input against the third-party ledger verifier (ledger/verify.ts): a real chain —
// writer, sequencer, checkpoints, lineages — exported to JSON Lines, then mutated: lines
// deleted, duplicated, swapped, moved, truncated or replaced by garbage; bytes flipped, cut or
// inserted; record and checkpoint fields replaced by other values or types; the header edited; and
// files with invalid UTF-8, oversized lines or nothing in them. The verifier must never throw,
// must report every failure with a ledger code and a sequence number (or a clear parse error),
// and must never say ok for an export whose records, final head or header differ from the
// chain's. Edits that leave the parsed content as it was (key order, whitespace, dropping an
// intermediate checkpoint) may verify.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeCrypto } from '../../core/crypto-node.js';
import { CODES } from '../../core/errors.js';
import { exportLines } from '../../ledger/export.js';
import { verifyExportFile, verifyLines, type VerifyOptions, type VerifyResult } from '../../ledger/verify.js';
import { ledgerKeys, lineageEvents, memoryStores, testEvent, TestLedger, until } from '../ledger/support.js';

const RUNS = { lines: 2_000, bytes: 2_000, fields: 2_000, files: 300 };
const options: VerifyOptions = { suite: nodeCrypto, keys: ledgerKeys, maxLineBytes: 64 * 1024 };
const dir = mkdtempSync(join(tmpdir(), 'verifier-fuzz-'));

let lines: string[];
let parsed: unknown[];

beforeAll(async () => {
  const ledger = new TestLedger(memoryStores('fuzz-log'));
  ledger.sequencer({ headIntervalMs: 50 });
  const writer = await ledger.writer({ maxBatch: 8 });
  // Three waves, so that the export holds several checkpoints between records.
  for (let wave = 0; wave < 3; wave++) {
    await writer.appendAndWait([...lineageEvents(`op-${wave}`, wave * 100), testEvent(wave * 100 + 50)]);
    const seq = (await ledger.store.tip()).seq;
    await until(async () => (await ledger.store.tip()).signedSeq === seq, 10_000, 'a checkpoint');
  }
  lines = [];
  for await (const line of exportLines(ledger.store)) lines.push(line);
  parsed = lines.map((line) => JSON.parse(line) as unknown);
  await ledger.close();
  const clean = await verifyLines(lines, options);
  expect(clean.failures).toEqual([]);
  expect(clean.checkpoints).toBeGreaterThanOrEqual(3);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const isCheckpoint = (value: unknown) =>
  value !== null && typeof value === 'object' && !('event' in value) && !('format' in value);

/**
 * Whether mutated lines still say what the chain says: the same header, the same records in
 * order, only checkpoints of the chain, and the last one. Unparseable lines say something else.
 */
function sameContent(mutated: string[]): boolean {
  let values: unknown[];
  try {
    values = mutated.map((line) => JSON.parse(line) as unknown);
  } catch {
    return false;
  }
  const records = (list: unknown[]) =>
    list.filter((v) => v !== null && typeof v === 'object' && 'event' in v);
  const checkpoints = values.filter(isCheckpoint);
  return (
    isDeepStrictEqual(values[0], parsed[0]) &&
    isDeepStrictEqual(records(values.slice(1)), records(parsed.slice(1))) &&
    checkpoints.every((line) => parsed.some((original) => isDeepStrictEqual(original, line))) &&
    isDeepStrictEqual(values.at(-1), parsed.at(-1))
  );
}

const tally = { cases: 0, failed: 0, neutral: 0 };

/** The verifier's verdict on mutated lines must be safe and well-formed. */
function expectSafeVerdict(result: VerifyResult, mutated: string[] | undefined): void {
  tally.cases++;
  if (result.ok) {
    expect(mutated && sameContent(mutated), 'ok for an export whose content differs').toBe(true);
    tally.neutral++;
    return;
  }
  tally.failed++;
  expect(result.failures.length).toBeGreaterThan(0);
  for (const failure of result.failures) {
    expect(Object.keys(CODES)).toContain(failure.code);
    expect(failure.message.length).toBeGreaterThan(0);
    expect(failure.seq === null || Number.isSafeInteger(failure.seq)).toBe(true);
  }
  expect(
    result.failures.some((f) => f.seq !== null || /JSON|header|empty|UTF-8|line|longer/i.test(f.message)),
    JSON.stringify(result.failures),
  ).toBe(true);
}

async function verifyMutated(mutated: string[]): Promise<void> {
  expectSafeVerdict(await verifyLines(mutated, options), mutated);
}

const index = () => fc.nat(1 << 16).map((n) => n % lines.length);
const garbage = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? ''),
  fc.constantFrom(
    '',
    '{}',
    '[]',
    'null',
    '{"event":{}}',
    '{"seq":1}',
    '{"format":"governance.ledger-export.v2"}',
    '{"checkpoint":""}',
  ),
);

/** A value of another type or an edge, for a field. */
const fieldValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    null,
    true,
    0,
    -1,
    1,
    2 ** 53,
    1.5,
    '',
    [],
    {},
    'sha3-512:' + '0'.repeat(128),
    'blake2b-512:' + 'f'.repeat(128),
  ),
  fc.string({ maxLength: 40 }),
  fc.jsonValue({ maxDepth: 2 }),
);

/** Paths to every leaf of a JSON value. */
function leaves(value: unknown, prefix: string[] = []): string[][] {
  if (value === null || typeof value !== 'object') return [prefix];
  return Object.entries(value).flatMap(([k, v]) => leaves(v, [...prefix, k]));
}

describe('mutated ledger exports', () => {
  it(
    `line edits: delete, duplicate, swap, move, truncate, garbage (${RUNS.lines} cases)`,
    { timeout: 120_000 },
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom('delete', 'duplicate', 'swap', 'move', 'truncate', 'garbage', 'replace'),
          index(),
          index(),
          garbage,
          async (kind, i, j, junk) => {
            const mutated = [...lines];
            if (kind === 'delete') mutated.splice(i, 1);
            else if (kind === 'duplicate') mutated.splice(i, 0, lines[i]!);
            else if (kind === 'swap') [mutated[i], mutated[j]] = [lines[j]!, lines[i]!];
            else if (kind === 'move') mutated.splice(j, 0, ...mutated.splice(i, 1));
            else if (kind === 'truncate') mutated.length = i;
            else if (kind === 'garbage') mutated.splice(i, 0, junk);
            else mutated[i] = lines[j]!;
            await verifyMutated(mutated);
          },
        ),
        { numRuns: RUNS.lines },
      );
    },
  );

  it(
    `byte edits inside a line: flips, cuts, inserts (${RUNS.bytes} cases)`,
    { timeout: 120_000 },
    async () => {
      await fc.assert(
        fc.asyncProperty(
          index(),
          fc.nat(1 << 16),
          fc.constantFrom('flip', 'cut', 'insert', 'truncate'),
          fc.nat(15),
          fc.string({ unit: 'binary', minLength: 1, maxLength: 3 }),
          async (i, at, kind, bit, text) => {
            const line = lines[i]!;
            const p = at % line.length;
            const mutated = [...lines];
            if (kind === 'flip')
              mutated[i] =
                line.slice(0, p) + String.fromCharCode(line.charCodeAt(p) ^ (1 << bit)) + line.slice(p + 1);
            else if (kind === 'cut') mutated[i] = line.slice(0, p) + line.slice(p + 1 + (bit % 4));
            else if (kind === 'insert') mutated[i] = line.slice(0, p) + text + line.slice(p);
            else mutated[i] = line.slice(0, p);
            await verifyMutated(mutated);
          },
        ),
        { numRuns: RUNS.bytes },
      );
    },
  );

  it(
    `field edits in records, checkpoints and the header: other values, types, removal, extra members (${RUNS.fields} cases)`,
    { timeout: 120_000 },
    async () => {
      await fc.assert(
        fc.asyncProperty(
          index(),
          fc.nat(1 << 16),
          fc.constantFrom('set', 'delete', 'extra', 'reorder'),
          fieldValue,
          async (i, at, kind, value) => {
            const json = structuredClone(parsed[i]) as Record<string, unknown>;
            const paths = leaves(json);
            const path = paths[at % paths.length]!;
            let node = json;
            for (const key of path.slice(0, -1)) node = node[key] as Record<string, unknown>;
            const last = path.at(-1)!;
            if (kind === 'set') node[last] = value;
            else if (kind === 'delete') delete node[last];
            else if (kind === 'extra') node[`x_${last}`] = value;
            const mutated = [...lines];
            mutated[i] = JSON.stringify(
              kind === 'reorder' ? Object.fromEntries(Object.entries(json).reverse()) : json,
            );
            await verifyMutated(mutated);
          },
        ),
        { numRuns: RUNS.fields },
      );
    },
  );

  it(
    `files: invalid UTF-8, oversized lines, CRLF, NUL bytes, empty, binary (${RUNS.files} cases)`,
    { timeout: 120_000 },
    async () => {
      const text = lines.join('\n') + '\n';
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            fc
              .tuple(
                fc.nat(text.length),
                fc.constantFrom(
                  Buffer.from([0xff]),
                  Buffer.from([0xc3, 0x28]),
                  Buffer.from([0]),
                  Buffer.from('\r'),
                ),
              )
              .map(([at, bytes]) =>
                Buffer.concat([Buffer.from(text.slice(0, at)), bytes, Buffer.from(text.slice(at))]),
              ),
            fc.nat(text.length).map((at) => Buffer.from(text.slice(0, at))),
            fc.constant(Buffer.from(text.replace(/\n/g, '\r\n'))),
            fc.constant(Buffer.from(lines[0] + '\n' + 'x'.repeat(70_000) + '\n' + lines.slice(1).join('\n'))),
            fc.constant(Buffer.alloc(0)),
            fc.uint8Array({ maxLength: 2000 }).map((a) => Buffer.from(a)),
          ),
          async (bytes) => {
            const path = join(dir, 'export.jsonl');
            writeFileSync(path, bytes);
            const result = await verifyExportFile(path, options);
            const decoded = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
            const asLines = decoded.endsWith('\n') ? decoded.slice(0, -1).split('\n') : decoded.split('\n');
            expectSafeVerdict(result, bytes.includes(0xff) || bytes.length === 0 ? undefined : asLines);
          },
        ),
        { numRuns: RUNS.files },
      );
    },
  );

  it('a file that does not exist is a failure, not a throw', async () => {
    const result = await verifyExportFile(join(dir, 'absent.jsonl'), options);
    expect(result.ok).toBe(false);
    expect(result.failures[0]).toMatchObject({ code: 'ledger.event.invalid', seq: null });
  });

  it('totals', () => {
    console.log(
      `[security] ledger verifier: ${tally.cases} mutated exports, ${tally.failed} failed with named failures, ${tally.neutral} content-preserving edits verified`,
    );
    expect(tally.cases).toBe(RUNS.lines + RUNS.bytes + RUNS.fields + RUNS.files);
    expect(tally.failed).toBeGreaterThan(tally.cases * 0.8);
  });
});
