// The export format (docs/spec/ledger.md §Export): JSON Lines. A header line, then one chain
// record per line in seq order, each signed head right after the record it covers, the file
// ending with the head that covers its last record. Heads sit next to their records so a
// verifier checks every head while streaming, in constant memory.
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { canonicalize } from '../core/canonical.js';
import { GovernanceError } from '../core/errors.js';
import type { LedgerStore, StoredText } from '../store/ledger-types.js';
import { parseCanonicalJson } from '../core/chain.js';
import type { ChainAnchor } from './types.js';

export const EXPORT_FORMAT = 'governance.ledger-export.v1';

export interface ExportHeader {
  format: typeof EXPORT_FORMAT;
  log: string;
  from: number;
  to: number;
  /** null when from = 1 (the chain starts at its genesis). */
  anchor: ChainAnchor | null;
}

export interface ExportRange {
  /** First seq (default 1). */
  from?: number;
  /** Last seq wanted; the export extends to the first signed head at or after it (default: the latest head). */
  to?: number;
}

const PAGE = 1000;

/** The record's hashes, as the anchor of a range that starts after it. */
export async function anchorAt(store: Pick<LedgerStore, 'records'>, seq: number): Promise<ChainAnchor> {
  const [stored] = await store.records(seq, seq);
  const record = stored && (parseCanonicalJson(stored.text, `record ${seq}`) as Partial<ChainAnchor>);
  if (typeof record?.event_hash !== 'string' || typeof record.event_hash_alt !== 'string') {
    throw new GovernanceError('ledger.sequence.invalid', `record ${seq} (the anchor of a range) is missing`);
  }
  return { seq, event_hash: record.event_hash, event_hash_alt: record.event_hash_alt };
}

async function* recordPages(store: LedgerStore, from: number, to: number): AsyncGenerator<StoredText> {
  for (let page = from; page <= to; page += PAGE)
    yield* await store.records(page, Math.min(page + PAGE - 1, to));
}

async function* headPages(store: LedgerStore, from: number, to: number): AsyncGenerator<StoredText> {
  for (let next = from; ;) {
    const heads = await store.heads(next, to, PAGE);
    yield* heads;
    if (heads.length < PAGE) return;
    next = heads.at(-1)!.seq + 1;
  }
}

/** The lines of an export, read page by page; the texts are passed through exactly as stored. */
export async function* exportLines(store: LedgerStore, range: ExportRange = {}): AsyncGenerator<string> {
  const from = range.from ?? 1;
  if (!Number.isSafeInteger(from) || from < 1)
    throw new GovernanceError('request.invalid', 'from must be ≥ 1');
  const [last] =
    range.to === undefined
      ? [await store.latestHead()]
      : await store.heads(Math.max(range.to, from), Infinity, 1);
  if (!last)
    throw new GovernanceError('ledger.head.mismatch', 'no signed head covers the requested range yet');
  const to = last.seq;
  const header: ExportHeader = {
    format: EXPORT_FORMAT,
    log: store.log,
    from,
    to,
    anchor: from === 1 ? null : await anchorAt(store, from - 1),
  };
  yield canonicalize(header);
  const heads = headPages(store, from, to);
  let head = (await heads.next()).value;
  for await (const record of recordPages(store, from, to)) {
    // Each head goes right after the last record it covers (also when records are missing).
    for (; head && head.seq < record.seq; head = (await heads.next()).value) yield head.text;
    yield record.text;
    for (; head && head.seq === record.seq; head = (await heads.next()).value) yield head.text;
  }
  for (; head; head = (await heads.next()).value) yield head.text;
}

/** Writes an export to a file; resolves with the number of lines. */
export async function exportToFile(
  store: LedgerStore,
  path: string,
  range: ExportRange = {},
): Promise<number> {
  const out = createWriteStream(path);
  let lines = 0;
  try {
    for await (const line of exportLines(store, range)) {
      if (!out.write(line + '\n')) await once(out, 'drain');
      lines++;
    }
  } finally {
    out.end();
    await once(out, 'close');
  }
  return lines;
}
