// How the ledger's archive is laid out (docs/spec/ledger.md §11.6): C2SP tlog-tiles paths for the
// full tiles and entry bundles, and beside them one checkpoints object per bundle. Shared by the
// archiver (ledger/archive.ts), which writes it, and the archived view (store/ledger-archived.ts),
// which reads it.
import { utf8Decode, utf8Encode } from '../core/encoding.js';
import { GovernanceError } from '../core/errors.js';
import { TILE_WIDTH, encodeTileIndex } from '../core/tlog.js';
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
