// The ledger's RFC 9162 tree and lineage index as the store keeps them (docs/spec/ledger.md §7):
// tiles read ahead in one round trip for what a proof or the sequencer's right edge needs.
import type { CryptoSuite } from '../core/crypto.js';
import { GovernanceError } from '../core/errors.js';
import {
  TILE_HEIGHT,
  TileBuilder,
  TileHashes,
  parseTilePath,
  tilesForConsistency,
  tilesForInclusion,
  tilesForRoot,
  type TileId,
} from '../core/tlog.js';
import { tileKey, type LedgerStore } from '../store/ledger-types.js';

type TileSource = Pick<LedgerStore, 'tiles'>;

/** The right-edge (partial) tile of every level of a tree of `size` leaves. */
function rightEdge(size: number): TileId[] {
  const tiles: TileId[] = [];
  for (let level = 0, count = size; count > 0; level++, count = Math.floor(count / 2 ** TILE_HEIGHT)) {
    const width = count % 2 ** TILE_HEIGHT;
    if (width > 0) tiles.push({ level, index: Math.floor(count / 2 ** TILE_HEIGHT), width });
  }
  return tiles;
}

/** Reads the tiles named, once each; a getter for TileHashes and TileBuilder over them. */
async function fetchTiles(
  store: TileSource,
  tiles: TileId[],
): Promise<(tile: TileId) => Uint8Array | undefined> {
  const keys = [...new Set(tiles.map((t) => tileKey(t.level, t.index)))];
  const stored = await store.tiles(keys);
  const found = new Map(keys.map((key, i) => [key, stored[i]]));
  return (tile) => found.get(tileKey(tile.level, tile.index));
}

/** The tree's right edge at `size`, to append to. */
export async function readTree(suite: CryptoSuite, store: TileSource, size: number): Promise<TileBuilder> {
  if (size === 0) return TileBuilder.empty(suite);
  return TileBuilder.resume(suite, size, await fetchTiles(store, rightEdge(size)));
}

/** The tiles the builder changed, keyed as the store keeps them (the latest version of each). */
export function storedTiles(changed: Map<string, Uint8Array>): Map<string, Uint8Array> {
  const tiles = new Map<string, Uint8Array>();
  for (const [path, bytes] of changed) {
    const id = parseTilePath(path);
    if (!id || 'entries' in id) throw new GovernanceError('internal.error', `not a tile path: ${path}`);
    tiles.set(tileKey(id.level, id.index), bytes);
  }
  return tiles;
}

/** Subtree hashes of the tree at `size`, with the tiles for its root and the proofs asked for read ahead. */
export async function treeHashes(
  suite: CryptoSuite,
  store: TileSource,
  size: number,
  need: { inclusion?: number[]; consistency?: number } = {},
): Promise<TileHashes> {
  const tiles = [
    ...tilesForRoot(size),
    ...(need.inclusion ?? []).flatMap((index) => tilesForInclusion(index, size)),
    ...(need.consistency === undefined ? [] : tilesForConsistency(need.consistency, size)),
  ];
  return new TileHashes(suite, size, await fetchTiles(store, tiles));
}
