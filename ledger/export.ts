// The export format v2 (docs/spec/ledger.md §9): JSON Lines. A header line, then one chain record
// per line in seq order, each checkpoint right after the record of its size, the file ending with
// the checkpoint that covers its last record. Checkpoints sit next to their records so that a
// verifier checks each one (signature, chain hashes, tree root, lineage index) while streaming,
// in memory bounded by the tree's compact range. A range export starts right after a checkpoint,
// its anchor, given with the compact range of the tree up to there.
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { canonicalize } from '../core/canonical.js';
import type { CryptoSuite } from '../core/crypto.js';
import { nodeCrypto } from '../core/crypto-node.js';
import { base64Encode } from '../core/encoding.js';
import { GovernanceError } from '../core/errors.js';
import { compactRangeHashes } from '../core/tlog.js';
import type { LedgerStore, StoredText } from '../store/ledger-types.js';
import { treeHashes } from './tree.js';
import type { ChainAnchor } from './types.js';

export const EXPORT_FORMAT = 'governance.ledger-export.v2';

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
  /** Last seq wanted; the export extends to the first checkpoint at or after it (default: the latest checkpoint). */
  to?: number;
}

/** The line that carries a checkpoint: `{"checkpoint":"<the signed note text>"}`. */
export function checkpointLine(note: string): string {
  return canonicalize({ checkpoint: note });
}

const PAGE = 1000;

/**
 * What a range starting after checkpoint `stored` extends: the checkpoint and the compact range
 * of the tree of records 1 … its size, read from the store's tiles (its hashes are the tree the
 * checkpoints sign, not recomputed from the records).
 */
export async function anchorAt(
  store: Pick<LedgerStore, 'tiles'>,
  stored: StoredText,
  suite: CryptoSuite = nodeCrypto,
): Promise<ChainAnchor> {
  const tree = compactRangeHashes(await treeHashes(suite, store, stored.seq), stored.seq).map(base64Encode);
  return { checkpoint: stored.text, tree };
}

async function* recordPages(store: LedgerStore, from: number, to: number): AsyncGenerator<StoredText> {
  for (let page = from; page <= to; page += PAGE)
    yield* await store.records(page, Math.min(page + PAGE - 1, to));
}

async function* checkpointPages(store: LedgerStore, from: number, to: number): AsyncGenerator<StoredText> {
  for (let next = from; ;) {
    const checkpoints = await store.checkpoints(next, to, PAGE);
    yield* checkpoints;
    if (checkpoints.length < PAGE) return;
    next = checkpoints.at(-1)!.seq + 1;
  }
}

/**
 * The lines of an export, read page by page; records and checkpoint notes are passed through
 * exactly as stored. `suite` hashes the anchor's tiles (only for a range).
 */
export async function* exportLines(
  store: LedgerStore,
  range: ExportRange = {},
  suite: CryptoSuite = nodeCrypto,
): AsyncGenerator<string> {
  if (range.from !== undefined && (!Number.isSafeInteger(range.from) || range.from < 1))
    throw new GovernanceError('request.invalid', 'from must be ≥ 1');
  // A range starts right after a checkpoint, its anchor: the latest one before the seq asked for.
  const start = (range.from ?? 1) > 1 ? await store.checkpointAtOrBefore(range.from! - 1) : undefined;
  const from = start ? start.seq + 1 : 1;
  const [last] =
    range.to === undefined
      ? [await store.latestCheckpoint()]
      : await store.checkpoints(Math.max(range.to, from), Infinity, 1);
  if (!last || last.seq < from)
    throw new GovernanceError('ledger.head.mismatch', 'no checkpoint covers the requested range yet');
  const to = last.seq;
  const header: ExportHeader = {
    format: EXPORT_FORMAT,
    log: store.log,
    from,
    to,
    anchor: start ? await anchorAt(store, start, suite) : null,
  };
  yield canonicalize(header);
  const checkpoints = checkpointPages(store, from, to);
  let checkpoint = (await checkpoints.next()).value;
  for await (const record of recordPages(store, from, to)) {
    // Each checkpoint goes right after the record of its size (also when records are missing).
    for (; checkpoint && checkpoint.seq < record.seq; checkpoint = (await checkpoints.next()).value)
      yield checkpointLine(checkpoint.text);
    yield record.text;
    for (; checkpoint && checkpoint.seq === record.seq; checkpoint = (await checkpoints.next()).value)
      yield checkpointLine(checkpoint.text);
  }
  for (; checkpoint; checkpoint = (await checkpoints.next()).value) yield checkpointLine(checkpoint.text);
}

/** Writes an export to a file; resolves with the number of lines. */
export async function exportToFile(
  store: LedgerStore,
  path: string,
  range: ExportRange = {},
  suite: CryptoSuite = nodeCrypto,
): Promise<number> {
  const out = createWriteStream(path);
  let lines = 0;
  try {
    for await (const line of exportLines(store, range, suite)) {
      if (!out.write(line + '\n')) await once(out, 'drain');
      lines++;
    }
  } finally {
    out.end();
    await once(out, 'close');
  }
  return lines;
}
