// Reading the chain for proof endpoints: the latest signed head, ranges of records, one
// operation's lineage, and a lineage proof (white paper §9.5) that a third party verifies with
// ledger/verify.ts verifyLineageProof.
import { GovernanceError } from '../core/errors.js';
import type { ChainRecord, SignedHead } from '../core/event.js';
import type { LedgerStore, StoredText } from '../store/ledger-types.js';
import { checkHead, checkRecord, parseCanonicalJson } from './records.js';
import { anchorAt } from './export.js';
import type { LedgerProofReader, LineageProof, LineageSegment } from './types.js';

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

/** What the reader reads: a store's chain, heads and lineage index. */
export type ChainSource = Pick<LedgerStore, 'records' | 'heads' | 'latestHead' | 'lineageSeqs'>;

export class StoreLedgerReader implements LedgerProofReader {
  private readonly maxRecords: number;

  constructor(
    private readonly store: ChainSource,
    options: LedgerReaderOptions = {},
  ) {
    this.maxRecords = options.maxRecords ?? 10_000;
  }

  async head(): Promise<SignedHead | undefined> {
    const stored = await this.store.latestHead();
    return stored && checkHead(parseCanonicalJson(stored.text, `head ${stored.seq}`));
  }

  async range(fromSeq: number, toSeq: number): Promise<ChainRecord[]> {
    if (!Number.isSafeInteger(fromSeq) || !Number.isSafeInteger(toSeq) || fromSeq < 1 || toSeq < fromSeq)
      throw new GovernanceError('request.invalid', 'a range is 1 ≤ from ≤ to');
    if (toSeq - fromSeq >= this.maxRecords)
      throw new GovernanceError('request.invalid', `a range holds at most ${this.maxRecords} records`);
    const stored = await this.store.records(fromSeq, toSeq);
    return stored.map(parseStoredRecord);
  }

  async lineage(lineage: string): Promise<ChainRecord[]> {
    const seqs = await this.store.lineageSeqs(lineage);
    if (seqs.length > this.maxRecords)
      throw new GovernanceError(
        'request.invalid',
        `lineage ${lineage} holds more than ${this.maxRecords} records`,
      );
    const stored = await Promise.all(seqs.map((seq) => this.store.records(seq, seq)));
    return stored.map((found, i) => {
      if (!found[0])
        throw new GovernanceError('ledger.sequence.invalid', `record ${seqs[i]} of ${lineage} is missing`);
      return parseStoredRecord(found[0]);
    });
  }

  /**
   * The records of a lineage with what proves them: for each run of lineage records, the chain
   * from the record before it (the anchor) up to the first signed head at or after it. A proof is
   * therefore at most one head interval (about a second of records) per lineage record.
   */
  async lineageProof(lineage: string): Promise<LineageProof> {
    const seqs = await this.store.lineageSeqs(lineage);
    if (seqs.length === 0) throw new GovernanceError('request.invalid', `lineage ${lineage} has no records`);
    const segments: LineageSegment[] = [];
    let end = 0;
    for (const seq of seqs) {
      if (seq <= end) continue; // covered by the current segment's head
      const [stored] = await this.store.heads(seq, Infinity, 1);
      if (!stored)
        throw new GovernanceError(
          'ledger.head.mismatch',
          `record ${seq} is not covered by a signed head yet`,
        );
      const head = checkHead(parseCanonicalJson(stored.text, `head ${stored.seq}`));
      if (head.seq - seq >= this.maxRecords)
        throw new GovernanceError(
          'request.invalid',
          `the proof of record ${seq} would exceed ${this.maxRecords} records`,
        );
      const records = (await this.store.records(seq, head.seq)).map(parseStoredRecord);
      segments.push({ anchor: seq === 1 ? null : await anchorAt(this.store, seq - 1), records, head });
      end = head.seq;
    }
    return { lineage, segments };
  }
}
