// How the ledger's archive is laid out (docs/spec/ledger.md §11.6): C2SP tlog-tiles paths for the
// full tiles and entry bundles, and beside them one checkpoints object per bundle. Shared by the
// archiver (ledger/archive.ts), which writes it, and the archived view (store/ledger-archived.ts),
// which reads it.
import { utf8Decode, utf8Encode } from '../core/encoding.js';
import { GovernanceError } from '../core/errors.js';
import { INDEX_SHARDS, indexShardOf } from '../core/smt.js';
import { TILE_WIDTH, encodeTileIndex } from '../core/tlog.js';
import type { LedgerArchive } from './archive-types.js';
import type { StoredText } from './ledger-types.js';

/** Records per entry bundle and level-0 tile: the archive's unit. */
export const BUNDLE_RECORDS = TILE_WIDTH;

/** "checkpoints/<N>": the checkpoints of bundle N's range (below), N spelt as tlog-tiles spell tile indexes. */
export function checkpointsPath(bundle: number): string {
  return `checkpoints/${encodeTileIndex(bundle)}`;
}

/** The size a checkpoint note states (its second line), without checking the rest. */
export function checkpointSize(text: string): number {
  const start = text.indexOf('\n') + 1;
  const size = Number(text.slice(start, text.indexOf('\n', start)));
  if (start === 0 || !Number.isSafeInteger(size) || size < 1)
    throw new GovernanceError('encoding.invalid', 'an archived checkpoint has no tree size');
  return size;
}

/**
 * The checkpoints object of bundle N: one line per signed note, as a JSON string — first the
 * latest checkpoint of size ≤ 256·N (if there is one), then every checkpoint of size
 * 256·N + 1 … 256·N + 256 in order. The first line makes "the latest checkpoint at or before
 * seq" one read, however sparse checkpoints are.
 */
export function encodeCheckpoints(carried: StoredText | undefined, own: StoredText[]): Uint8Array {
  return utf8Encode([carried, ...own].flatMap((c) => (c ? [JSON.stringify(c.text) + '\n'] : [])).join(''));
}

export function decodeCheckpoints(bytes: Uint8Array, path: string): StoredText[] {
  const text = utf8Decode(bytes);
  if (text === undefined || (text !== '' && !text.endsWith('\n')))
    throw new GovernanceError('encoding.invalid', `${path} is not a checkpoints object`);
  return text
    .split('\n')
    .slice(0, -1)
    .map((line) => {
      const note: unknown = JSON.parse(line);
      if (typeof note !== 'string')
        throw new GovernanceError('encoding.invalid', `${path} holds a line that is not a note`);
      return { seq: checkpointSize(note), text: note };
    });
}

/**
 * "openings/<N>/<seq>/<index>/<member>": the opening of `member` of event `index` of record `seq`
 * (§3.1), in bundle N's directory. Unlike everything else in the archive an opening is erasable:
 * the only object ever deleted.
 */
export function openingPath(seq: number, index: number, member: string): string {
  return `${openingsPrefix(Math.floor((seq - 1) / BUNDLE_RECORDS))}${seq}/${index}/${member}`;
}

/** The directory of bundle N's openings ("openings/<N>/"), or of one record's ("…/<seq>/"). */
export function openingsPrefix(bundle: number, seq?: number): string {
  return `openings/${encodeTileIndex(bundle)}/${seq === undefined ? '' : `${seq}/`}`;
}

/** The seq, index and member an opening path names (see openingPath); undefined for another path. */
export function parseOpeningPath(path: string): { seq: number; index: number; member: string } | undefined {
  const m = /^openings\/(?:x\d{3}\/)*\d{3}\/([1-9]\d*)\/(0|[1-9]\d*)\/([a-z_]+)$/.exec(path);
  if (!m) return undefined;
  const [seq, index] = [Number(m[1]), Number(m[2])];
  return openingPath(seq, index, m[3]!) === path ? { seq, index, member: m[3]! } : undefined;
}

/** Every path under a prefix, page by page. */
export async function listAll(archive: LedgerArchive, prefix: string): Promise<string[]> {
  const paths: string[] = [];
  for (let page = await archive.list(prefix); page.length > 0;) {
    paths.push(...page);
    page = await archive.list(prefix, { startAfter: page.at(-1)! });
  }
  return paths;
}

/** Bytes of an index leaf: key || value. */
const LEAF_BYTES = 64;

/**
 * "index/<shard>/<version>": the leaves of lineage index shard `shard` (three lowercase hex
 * digits) as of checkpoint size `version` (decimal). Rewritten whole at each compaction, under a
 * new version; the one it supersedes is deleted.
 */
export function indexShardPath(shard: number, version: number): string {
  return `index/${shard.toString(16).padStart(3, '0')}/${version}`;
}

/** The leaves (key || value, 64 bytes each) concatenated in increasing key order. */
export function encodeShardLeaves(leaves: Uint8Array[]): Uint8Array {
  const sorted = [...leaves].sort(compareKeys);
  const out = new Uint8Array(sorted.length * LEAF_BYTES);
  sorted.forEach((leaf, i) => out.set(leaf, i * LEAF_BYTES));
  return out;
}

/** A shard object's leaves, refused unless in strictly increasing key order and all in the shard. */
export function decodeShardLeaves(bytes: Uint8Array, shard: number, path: string): Uint8Array[] {
  const invalid = (why: string) => new GovernanceError('encoding.invalid', `${path} ${why}`);
  if (bytes.length % LEAF_BYTES !== 0 || shard < 0 || shard >= INDEX_SHARDS)
    throw invalid('is not a sequence of 64-byte leaves');
  const leaves: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += LEAF_BYTES) {
    const leaf = bytes.slice(at, at + LEAF_BYTES);
    if (indexShardOf(leaf) !== shard) throw invalid(`holds a key outside shard ${shard}`);
    if (leaves.length > 0 && compareKeys(leaves.at(-1)!, leaf) >= 0)
      throw invalid('is not in strictly increasing key order');
    leaves.push(leaf);
  }
  return leaves;
}

/** Orders leaves by their 32-byte keys. */
function compareKeys(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < 32; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}
