// Reading the log for the proof endpoints (docs/spec/ledger.md §10): the latest checkpoint,
// ranges of records, one operation's events, and proofs against the latest checkpoint that a
// third party verifies with core/proofs.ts: inclusion of a record, consistency with an earlier
// checkpoint, and a lineage (every record of it, or none, through the lineage index).
import { checkRecord, parseCanonicalJson } from '../core/chain.js';
import { parseCheckpointNote, type SignedCheckpoint } from '../core/checkpoint.js';
import type { CryptoSuite } from '../core/crypto.js';
import { base64Encode, bytesEqual, utf8Encode } from '../core/encoding.js';
import { GovernanceError } from '../core/errors.js';
import type { ChainRecord, EventPosition } from '../core/event.js';
import type {
  ConsistencyProof,
  InclusionProof,
  IndexProof,
  LineageEvent,
  LineageProof,
  RecordProof,
} from '../core/proofs.js';
import {
  indexKey,
  indexShardOf,
  positionOfValue,
  smtProofFromShard,
  smtTopNodeIds,
  type SmtProof,
} from '../core/smt.js';
import {
  consistencyProof,
  encodeEntryBundle,
  inclusionProof,
  parseTilePath,
  TILE_WIDTH,
  TLOG_HASH_BYTES,
} from '../core/tlog.js';
import {
  shardLeaves,
  tileKey,
  type LedgerStore,
  type StoredOpening,
  type StoredText,
} from '../store/ledger-types.js';
import { treeHashes } from './tree.js';
import type { LedgerProofReader } from './types.js';

export interface LedgerReaderOptions {
  /** Most records one range() or lineage() call returns (default 10,000). */
  maxRecords?: number;
}

function parseStoredRecord(stored: StoredText): ChainRecord {
  const { record } = checkRecord(parseCanonicalJson(stored.text, `record ${stored.seq}`));
  if (record.seq !== stored.seq)
    throw new GovernanceError(
      'ledger.sequence.invalid',
      `record stored at ${stored.seq} says seq ${record.seq}`,
    );
  return record;
}

const encodeAll = (hashes: Uint8Array[]) => hashes.map(base64Encode);

/** What the reader reads: a store's chain, checkpoints, tiles and indexes. */
export type ChainSource = Pick<
  LedgerStore,
  'records' | 'checkpoints' | 'latestCheckpoint' | 'tiles' | 'indexRead' | 'tip'
> &
  /** Openings (§3.1): a source without them has none to serve. */
  Partial<Pick<LedgerStore, 'openings'>>;

export class StoreLedgerReader implements LedgerProofReader {
  private readonly maxRecords: number;

  constructor(
    private readonly suite: CryptoSuite,
    private readonly store: ChainSource,
    options: LedgerReaderOptions = {},
  ) {
    this.maxRecords = options.maxRecords ?? 10_000;
  }

  /** The latest checkpoint's signed note. */
  async checkpoint(): Promise<string | undefined> {
    return (await this.store.latestCheckpoint())?.text;
  }

  private async latest(): Promise<SignedCheckpoint & { note: string }> {
    const stored = await this.store.latestCheckpoint();
    if (!stored) throw new GovernanceError('ledger.head.mismatch', 'the log has no checkpoint yet');
    return { ...parseCheckpointNote(stored.text), note: stored.text };
  }

  async range(fromSeq: number, toSeq: number): Promise<ChainRecord[]> {
    if (!Number.isSafeInteger(fromSeq) || !Number.isSafeInteger(toSeq) || fromSeq < 1 || toSeq < fromSeq)
      throw new GovernanceError('request.invalid', 'a range is 1 ≤ from ≤ to');
    if (toSeq - fromSeq >= this.maxRecords)
      throw new GovernanceError('request.invalid', `a range holds at most ${this.maxRecords} records`);
    const stored = await this.store.records(fromSeq, toSeq);
    return stored.map((record) => parseStoredRecord(record));
  }

  /**
   * The records holding a lineage's events up to the index position `latest`, in chain order:
   * from the record of its latest event back along lineage_prev (§6), one read per record.
   */
  private async lineageRecords(
    lineage: string,
    latest: EventPosition,
  ): Promise<(StoredText & { record: ChainRecord })[]> {
    const found: (StoredText & { record: ChainRecord })[] = [];
    let at: EventPosition | null = latest;
    while (at !== null) {
      const seq: number = at[0];
      if (found.length >= this.maxRecords)
        throw new GovernanceError(
          'request.invalid',
          `lineage ${lineage} spans more than ${this.maxRecords} records`,
        );
      const [stored] = await this.store.records(seq, seq);
      if (!stored)
        throw new GovernanceError('ledger.sequence.invalid', `record ${seq} of ${lineage} is missing`);
      const record = parseStoredRecord(stored);
      found.push({ ...stored, record });
      // The first event of the lineage in this record links to an earlier record, or ends it.
      const first = record.events.findIndex((e) => e.lineage === lineage);
      at = first < 0 ? null : record.lineage_prev[first]!;
      if (at !== null && at[0] >= seq)
        throw new GovernanceError(
          'ledger.lineage.invalid',
          `record ${seq}: lineage_prev does not point back`,
        );
    }
    return found.reverse();
  }

  /** Every event of a lineage up to the latest checkpoint, in chain order. */
  async lineageEvents(lineage: string): Promise<LineageEvent[]> {
    const { stored } = await this.lineageAtCheckpoint(lineage);
    return stored.flatMap(({ record: { seq, events } }) =>
      events.flatMap((event, index) => (event.lineage === lineage ? [{ seq, index, event }] : [])),
    );
  }

  /** Record `seq` with its inclusion proof in the latest checkpoint (ledger.head.mismatch until one covers it). */
  async inclusionProof(seq: number): Promise<InclusionProof> {
    if (!Number.isSafeInteger(seq) || seq < 1) throw new GovernanceError('request.invalid', 'a seq is ≥ 1');
    const latest = await this.latest();
    const { size } = latest.checkpoint;
    if (seq > size)
      throw new GovernanceError('ledger.head.mismatch', `record ${seq} is not covered by a checkpoint yet`);
    const [stored] = await this.store.records(seq, seq);
    if (!stored) throw new GovernanceError('ledger.sequence.invalid', `record ${seq} is missing`);
    const hashes = await treeHashes(this.suite, this.store, size, { inclusion: [seq - 1] });
    return {
      checkpoint: latest.note,
      record: stored.text,
      proof: encodeAll(inclusionProof(this.suite, hashes, seq - 1, size)),
    };
  }

  /** The latest checkpoint with the proof that it extends the tree of `old` records. */
  async consistencyProof(old: number): Promise<ConsistencyProof> {
    const latest = await this.latest();
    const { size } = latest.checkpoint;
    if (!Number.isSafeInteger(old) || old < 1 || old > size)
      throw new GovernanceError('request.invalid', `old must be a tree size from 1 to ${size}`);
    const hashes = await treeHashes(this.suite, this.store, size, { consistency: old });
    return {
      old,
      checkpoint: latest.note,
      proof: encodeAll(consistencyProof(this.suite, hashes, old, size)),
    };
  }

  /**
   * Everything a lineage holds up to the latest checkpoint, with the index proof that this is
   * all of it (or that it holds nothing): the checkpoint and the index nodes are read together.
   */
  async lineageProof(lineage: string): Promise<LineageProof & { chained: number }> {
    const chained = (await this.store.tip()).seq;
    const { checkpoint, proof, stored } = await this.lineageAtCheckpoint(lineage);
    const { size } = parseCheckpointNote(checkpoint).checkpoint;
    const hashes = await treeHashes(this.suite, this.store, size, {
      inclusion: stored.map(({ seq }) => seq - 1),
    });
    const records: RecordProof[] = stored.map(({ seq, text }) => ({
      record: text,
      proof: encodeAll(inclusionProof(this.suite, hashes, seq - 1, size)),
    }));
    return { lineage, checkpoint, index: indexProofJson(proof), records, chained };
  }

  /**
   * The latest checkpoint, the index proof of a lineage in it (the two read together) and the
   * records holding the lineage's events up to it.
   */
  private async lineageAtCheckpoint(lineage: string) {
    const key = indexKey(this.suite, lineage);
    const read = await this.indexProof(key);
    if (!read.checkpoint) throw new GovernanceError('ledger.head.mismatch', 'the log has no checkpoint yet');
    const { terminal } = read.proof;
    const present = terminal.kind === 'leaf' && bytesEqual(terminal.key, key);
    const latest = present ? positionOfValue(terminal.value) : undefined;
    if (present && !latest)
      throw new GovernanceError('ledger.index.mismatch', `the index value of ${lineage} is not a position`);
    const stored = latest ? await this.lineageRecords(lineage, latest) : [];
    return { checkpoint: read.checkpoint.text, proof: read.proof, stored };
  }

  async openings(seq: number): Promise<StoredOpening[]> {
    return (await this.store.openings?.([seq])) ?? [];
  }

  /**
   * The log as C2SP tlog-tiles serve it, so that standard clients read it: a tile of hashes at
   * the width asked (a prefix of the stored, possibly wider, version), or an entry bundle (each
   * record as a big-endian uint16 length and its text). Nothing beyond the latest checkpoint.
   */
  async tileResource(path: string): Promise<Uint8Array | undefined> {
    const id = parseTilePath(path);
    const size = (await this.store.latestCheckpoint())?.seq ?? 0;
    if (!id) return undefined;
    const first = id.index * TILE_WIDTH;
    if ('entries' in id) {
      if (first + id.width > size) return undefined;
      const records = await this.store.records(first + 1, first + id.width);
      if (records.length !== id.width) return undefined;
      return encodeEntryBundle(records.map(({ text }) => utf8Encode(text)));
    }
    if ((first + id.width) * TILE_WIDTH ** id.level > size) return undefined;
    const [tile] = await this.store.tiles([tileKey(id.level, id.index)]);
    const bytes = id.width * TLOG_HASH_BYTES;
    return tile && tile.length >= bytes ? tile.subarray(0, bytes) : undefined;
  }

  /** The latest checkpoint and the index proof for `key` in it, from its top nodes and its shard. */
  private async indexProof(
    key: Uint8Array,
  ): Promise<{ checkpoint: StoredText | undefined; proof: SmtProof }> {
    const ids = smtTopNodeIds(key);
    const { checkpoint, nodes, shards } = await this.store.indexRead(ids, [indexShardOf(key)]);
    const byId = new Map(ids.map((id, i) => [id, nodes[i]]));
    const proof = smtProofFromShard(this.suite, key, (id) => byId.get(id), shardLeaves(shards[0]!));
    return { checkpoint, proof };
  }
}

function indexProofJson(proof: SmtProof): IndexProof {
  return {
    siblings: encodeAll(proof.siblings),
    terminal:
      proof.terminal.kind === 'empty'
        ? { kind: 'empty' }
        : { kind: 'leaf', key: base64Encode(proof.terminal.key), value: base64Encode(proof.terminal.value) },
  };
}
