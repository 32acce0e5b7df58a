// The ledger vectors (test/vectors/ledger/): every export case through ledger/verify.ts and every
// inclusion, consistency and lineage case through core/proofs.ts, with both crypto suites; the
// vectors hold what their descriptions claim (batch records, lineage_prev positions, sizes and
// depths at the limits); the generator reproduces them byte for byte; and the annotated example in
// docs/spec/ledger.md is theirs and recomputes from its own values.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCheckpointNote } from '../../core/checkpoint.js';
import { nodeCrypto } from '../../core/crypto-node.js';
import { portableCrypto } from '../../core/crypto-portable.js';
import {
  proofFailure,
  verifyConsistencyProof,
  verifyInclusionProof,
  verifyLineageProof,
} from '../../core/proofs.js';
import { openCommitment, committedMember, parseOpening, verifyOpenings } from '../../core/redaction.js';
import { batchStatement, validateEvent, type ChainRecord, type LedgerEvent } from '../../core/event.js';
import {
  base64Encode,
  base64urlDecode,
  concatBytes,
  hexDecode,
  hexEncode,
  utf8Decode,
  utf8Encode,
} from '../../core/encoding.js';
import { SparseMerkleIndex, indexKey, valueOfPosition } from '../../core/smt.js';
import { tlogLeafHash, tlogNodeHash } from '../../core/tlog.js';
import { isGovernanceError } from '../../core/errors.js';
import { verifyKeyRecord, type KeyRecord } from '../../core/registry.js';
import { verifyExportFile } from '../../ledger/verify.js';
import { PROJECT_ROOT } from '../support/shared.js';
import {
  LEDGER_VECTOR_DIR,
  generateLedgerVectors,
  readLedgerVectorKeys,
  readLedgerVectorPolicy,
} from '../vectors/generate-ledger.js';

interface ExportCase {
  desc: string;
  file: string;
  /** A file holding a trusted checkpoint ({"checkpoint": note}) given to the verifier. */
  checkpoint?: string;
  witnesses?: { threshold: number; witnesses: string[] };
  allowRange?: boolean;
  wantErr: string | null;
  wantSeq: number | null;
}

interface ProofCase {
  desc: string;
  proof: unknown;
  /** The checkpoint note the verifier already holds (consistency cases). */
  trusted?: string;
  wantErr: string | null;
}

const read = (name: string) => readFileSync(join(LEDGER_VECTOR_DIR, name), 'utf8');
const casesOf = <C>(file: string) =>
  Object.entries(JSON.parse(read(file)) as Record<string, C>).map(([name, c]) => ({ name, ...c }));
const cases = casesOf<ExportCase>('cases.json');
const inclusionCases = casesOf<ProofCase>('inclusion-cases.json');
const consistencyCases = casesOf<ProofCase>('consistency-cases.json');
const lineageCases = casesOf<ProofCase>('lineage-cases.json');
interface RedactionCase {
  desc: string;
  committed: string;
  opening: string;
  wantErr: string | null;
}
const redactionCases = casesOf<RedactionCase>('redaction-cases.json');
const noteIn = (file: string) => (JSON.parse(read(file)) as { checkpoint: string }).checkpoint;
const recordsIn = (file: string) =>
  read(file)
    .split('\n')
    .filter((line) => line.startsWith('{"events":'))
    .map((line) => JSON.parse(line) as ChainRecord);

/** The code a proof verification ends with: the one it throws, else its first stage-order failure, else null. */
function outcome(run: () => { failures?: { code: string }[] } | unknown): string | null {
  try {
    const result = run() as { failures?: { code: string }[] };
    return result?.failures?.[0]?.code ?? null;
  } catch (e) {
    return proofFailure(e).code;
  }
}

describe('ledger vectors', () => {
  for (const suite of [nodeCrypto, portableCrypto]) {
    describe(suite.name, () => {
      const keys = readLedgerVectorKeys(suite);

      it.each(cases)(
        '$name: $desc',
        async ({ file, checkpoint, witnesses, allowRange, wantErr, wantSeq }) => {
          const text = read(file);
          const result = await verifyExportFile(join(LEDGER_VECTOR_DIR, file), {
            suite,
            keys,
            ...(checkpoint ? { checkpoint: noteIn(checkpoint) } : {}),
            ...(witnesses ? { witnesses: readLedgerVectorPolicy(witnesses) } : {}),
            ...(allowRange ? { allowRange } : {}),
          });
          if (wantErr === null) {
            expect(result.failures).toEqual([]);
            const records = text.split('\n').filter((line) => line.startsWith('{"events":'));
            const lastSeq = (JSON.parse(records.at(-1)!) as { seq: number }).seq;
            const checkpoints = text.split('\n').filter((line) => line.startsWith('{"checkpoint":')).length;
            expect(result).toMatchObject({ ok: true, records: records.length, lastSeq, checkpoints });
            expect(result.checkpoint?.checkpoint.size).toBe(lastSeq);
          } else {
            expect(result.ok).toBe(false);
            expect(result.failures[0]).toMatchObject({ code: wantErr, seq: wantSeq });
          }
        },
      );

      const trust = { keys };
      it.each(inclusionCases)('$name: $desc', ({ proof, wantErr }) => {
        expect(outcome(() => verifyInclusionProof(suite, proof, trust))).toBe(wantErr);
      });

      it.each(consistencyCases)('$name: $desc', ({ proof, trusted, wantErr }) => {
        const held = parseCheckpointNote(trusted!);
        expect(outcome(() => verifyConsistencyProof(suite, held, proof, trust))).toBe(wantErr);
      });

      it.each(lineageCases)('$name: $desc', ({ proof, wantErr }) => {
        expect(outcome(() => verifyLineageProof(suite, proof, trust))).toBe(wantErr);
      });

      it.each(redactionCases)('$name: $desc', ({ committed, opening, wantErr }) => {
        const event = JSON.parse(committed) as LedgerEvent;
        let error: unknown;
        try {
          verifyOpenings(suite, event, [opening]);
        } catch (e) {
          error = e;
        }
        if (wantErr === null) {
          expect(error).toBeUndefined();
          const { member } = parseOpening(opening);
          expect(openCommitment(suite, committedMember(event, member)!, opening)).toBe(true);
        } else {
          expect(isGovernanceError(error) ? error.code : String(error)).toBe(wantErr);
        }
      });

      it('an exclusion proves absence, and a lineage proof lists every event of its lineage by position', () => {
        const byName = new Map(lineageCases.map((c) => [c.name, c]));
        const proven = (name: string) => verifyLineageProof(suite, byName.get(name)!.proof, trust);
        const absent = proven('lineage-absent');
        expect([absent.records, absent.events]).toEqual([[], []]);
        const full = proven('lineage-seven-stages');
        expect(full.records.map((r) => r.seq)).toEqual([1, 2, 4]);
        expect(full.events.map((e) => [e.seq, e.index, e.event.type])).toEqual([
          [1, 0, 'authorization.issued'],
          [2, 1, 'authorization.consumed'],
          [2, 2, 'admission.granted'],
          [4, 0, 'execution.started'],
          [4, 3, 'attestation.signed'],
          [4, 4, 'execution.completed'],
          [4, 5, 'evidence.committed'],
        ]);
        expect(proven('lineage-admitted-only').events.map((e) => [e.seq, e.index])).toEqual([
          [3, 0],
          [4, 1],
          [4, 2],
        ]);
      });

      it('the annotated example recomputes from its own values, and its proofs verify', () => {
        const ex = JSON.parse(read('example.json')) as Record<string, string>;
        const hex = (bytes: Uint8Array) => hexEncode(bytes);
        expect(hex(suite.sha3_512(utf8Encode(ex.genesis_seed!)))).toBe(ex.genesis_sha3);
        expect(hex(suite.blake2b_512(utf8Encode(ex.genesis_seed!)))).toBe(ex.genesis_blake2b);
        // The batch: its digest, statement and signature; the record spells its events array verbatim.
        const events = utf8Encode(ex.batch_1_events!);
        expect(hex(suite.sha256(events))).toBe(ex.batch_1_digest);
        const statement = batchStatement(suite, ex.log!, 'producer:authority/1', 2, events);
        expect(utf8Decode(statement)).toBe(ex.batch_1_statement);
        const signature = base64urlDecode(ex.batch_1_signature!)!;
        expect(suite.verifyEd25519(base64urlDecode(ex.producer_public_key!)!, statement, signature)).toBe(
          true,
        );
        expect(ex.record_1!.startsWith(`{"events":${ex.batch_1_events},"kid":"producer:authority/1",`)).toBe(
          true,
        );
        expect(ex.record_1!.endsWith(`,"seq":1,"val":"${ex.batch_1_signature}"}`)).toBe(true);
        // The dual chain and the leaves of records 1 to 3.
        let [hash, alt] = [
          suite.sha3_512(utf8Encode(ex.genesis_seed!)),
          suite.blake2b_512(utf8Encode(ex.genesis_seed!)),
        ];
        const leaves: Uint8Array[] = [];
        for (const n of [1, 2, 3]) {
          const record = utf8Encode(ex[`record_${n}`]!);
          [hash, alt] = [
            suite.sha3_512(concatBytes(record, hash)),
            suite.blake2b_512(concatBytes(record, alt)),
          ];
          expect(hex(hash), `chain_sha3_${n}`).toBe(ex[`chain_sha3_${n}`]);
          expect(hex(alt), `chain_blake2b_${n}`).toBe(ex[`chain_blake2b_${n}`]);
          leaves.push(tlogLeafHash(suite, record));
          expect(hex(leaves.at(-1)!), `tree_leaf_${n}`).toBe(ex[`tree_leaf_${n}`]);
          expect(read('valid.jsonl').split('\n')[n]).toBe(ex[`record_${n}`]);
        }
        const root = tlogNodeHash(suite, tlogNodeHash(suite, leaves[0]!, leaves[1]!), leaves[2]!);
        // The lineage index at 3: two lineages, each at the position of its latest event.
        expect(ex.index_key_1).toBe(hex(indexKey(suite, 'lineage://op/01HZK9R2P3M7F8B4')));
        expect(ex.index_value_1).toBe(hex(valueOfPosition([2, 2])));
        expect(ex.index_key_2).toBe(hex(indexKey(suite, 'lineage://op/01HZK9R2P3M7F8B5')));
        expect(ex.index_value_2).toBe(hex(valueOfPosition([3, 0])));
        const index = SparseMerkleIndex.fromLeaves(suite, [
          hexDecode(ex.index_key_1! + ex.index_value_1!)!,
          hexDecode(ex.index_key_2! + ex.index_value_2!)!,
        ]);
        expect(hex(index.root())).toBe(ex.index_root);
        expect(ex.checkpoint_body!.split('\n').slice(0, 5)).toEqual([
          ex.log,
          '3',
          base64Encode(root),
          `chain sha3-512:${ex.chain_sha3_3} blake2b-512:${ex.chain_blake2b_3}`,
          `index ${base64Encode(index.root())}`,
        ]);
        expect(ex.checkpoint!.startsWith(`${ex.checkpoint_body}\n`)).toBe(true);
        expect(read('valid.jsonl')).toContain(`\n${JSON.stringify({ checkpoint: ex.checkpoint })}\n`);
        // The proofs against it, from their parts.
        const proofOf = (n: number) => ({
          record: ex[`record_${n}`]!,
          proof: JSON.parse(ex[`inclusion_proof_${n}`]!) as string[],
        });
        expect(proofOf(1).proof).toEqual([base64Encode(leaves[1]!), base64Encode(leaves[2]!)]);
        const inclusion = verifyInclusionProof(suite, { checkpoint: ex.checkpoint, ...proofOf(1) }, trust);
        expect([inclusion.record.seq, inclusion.checkpoint.checkpoint.size]).toEqual([1, 3]);
        const lineageProof = {
          lineage: 'lineage://op/01HZK9R2P3M7F8B4',
          checkpoint: ex.checkpoint,
          index: JSON.parse(ex.index_proof_1!) as unknown,
          records: [proofOf(1), proofOf(2)],
        };
        expect(lineageCases.find((c) => c.name === 'lineage-at-earlier-checkpoint')!.proof).toEqual(
          lineageProof,
        );
        const lineage = verifyLineageProof(suite, lineageProof, trust);
        expect(lineage.events.map((e) => [e.seq, e.index])).toEqual([
          [1, 0],
          [2, 1],
          [2, 2],
        ]);
        expect(lineage.failures).toEqual([]);
      });
    });
  }

  it('hold batch records linked within and across records, and a ledger.rejected batch of the audit key', () => {
    const records = recordsIn('valid.jsonl');
    expect(records.map((r) => [r.seq, r.events.length])).toEqual([
      [1, 2],
      [2, 3],
      [3, 1],
      [4, 6],
      [5, 1],
      [6, 2],
      [7, 2],
      [8, 1],
    ]);
    expect(records[1]!.lineage_prev).toEqual([null, [1, 0], [2, 1]]);
    expect(records[3]!.lineage_prev).toEqual([
      [2, 2],
      [3, 0],
      [4, 1],
      [4, 0],
      [4, 3],
      [4, 4],
    ]);
    expect(records[5]!.kid).toBe('audit:ledger/1');
    expect(records[5]!.events.map((e) => e.type)).toEqual(['ledger.rejected', 'ledger.rejected']);
    const replayed = recordsIn('replayed-batch.jsonl');
    expect(replayed[8]).toMatchObject({ seq: 9, events: records[0]!.events, val: records[0]!.val });
  });

  it('hold records and data at their limits', () => {
    const lineOf = (file: string, seq: number) =>
      read(file)
        .split('\n')
        .find((line) => line.startsWith('{"events":') && line.includes(`,"seq":${seq},`))!;
    expect(Buffer.byteLength(lineOf('record-size-at-limit.jsonl', 9))).toBe(65_535);
    expect(Buffer.byteLength(lineOf('record-size-past-limit.jsonl', 9))).toBe(65_536);
    const nest = (levels: number) => `"nest":${'['.repeat(levels)}0${']'.repeat(levels)}}`;
    expect(lineOf('data-depth-at-limit.jsonl', 9)).toContain(nest(28));
    expect(lineOf('data-depth-past-limit.jsonl', 9)).toContain(nest(29));
    // The same one validation refuses the event at a writer and at the sequencer (§3).
    const event = (file: string) => (JSON.parse(lineOf(file, 9)) as ChainRecord).events[0];
    expect(() => validateEvent(event('data-depth-at-limit.jsonl'))).not.toThrow();
    expect(() => validateEvent(event('data-depth-past-limit.jsonl'))).toThrow(
      expect.objectContaining({ code: 'ledger.event.invalid' }),
    );
  });

  it('anchor the range exports at a checkpoint', () => {
    const header = (file: string) =>
      JSON.parse(read(file).split('\n')[0]!) as {
        from: number;
        anchor: { checkpoint: string; tree: string[] };
      };
    expect(header('range.jsonl')).toMatchObject({
      from: 7,
      anchor: { checkpoint: noteIn('checkpoint-6.json') },
    });
    expect(header('range.jsonl').anchor.tree).toHaveLength(2);
    const stranger = parseCheckpointNote(header('range-anchor-untrusted-key.jsonl').anchor.checkpoint);
    expect(stranger.body).toBe(parseCheckpointNote(noteIn('checkpoint-6.json')).body);
  });

  it('cover every failure code of the verifiers', () => {
    const wanted = new Set(
      [...cases, ...inclusionCases, ...consistencyCases, ...lineageCases, ...redactionCases].map(
        (c) => c.wantErr,
      ),
    );
    for (const code of [
      'encoding.invalid',
      'ledger.event.invalid',
      'ledger.hash.mismatch',
      'ledger.signature.invalid',
      'ledger.sequence.invalid',
      'ledger.head.mismatch',
      'ledger.chain.truncated',
      'ledger.lineage.invalid',
      'ledger.lineage.order',
      'ledger.batch.replayed',
      'ledger.root.mismatch',
      'ledger.index.mismatch',
      'ledger.witness.insufficient',
      'ledger.checkpoint.inconsistent',
      'ledger.checkpoint.rollback',
      'ledger.proof.invalid',
      'ledger.redaction.invalid',
    ]) {
      expect(wanted.has(code), code).toBe(true);
    }
  });

  it('checkpoint.json is the latest checkpoint of valid.jsonl, cosigned by both witnesses of keys.json', () => {
    const lines = read('valid.jsonl').trimEnd().split('\n');
    expect(JSON.parse(lines.at(-1)!)).toEqual(JSON.parse(read('checkpoint.json')));
    const { checkpoint, signatures } = parseCheckpointNote(noteIn('checkpoint.json'));
    const { witnesses } = JSON.parse(read('keys.json')) as { witnesses: { name: string }[] };
    expect(checkpoint.size).toBe(8);
    expect(signatures.map((s) => s.name)).toEqual(['governance-vectors', ...witnesses.map((w) => w.name)]);
  });

  it('keys.json: each key record verifies under the root, and one with any member added verifies not', () => {
    const { root, key_records } = JSON.parse(read('keys.json')) as {
      root: { kid: string; public_key: string };
      key_records: KeyRecord[];
    };
    const roots = new Map([[root.kid, base64urlDecode(root.public_key)!]]);
    for (const record of key_records) expect(verifyKeyRecord(nodeCrypto, record, roots).kid).toBe(record.kid);
    const record = key_records[0]!;
    for (const altered of [
      // Members no signature covers, or that the statement's own `kind` overrides.
      { ...record, cert: { ...record.cert, note: 'x' } },
      { ...record, kind: 'governance.key-record.v1' },
      { ...record, cert: { ...record.cert, val: record.cert.val.slice(0, 84) } },
      null,
    ])
      expect(() => verifyKeyRecord(nodeCrypto, altered as KeyRecord, roots)).toThrow(
        expect.objectContaining({ code: 'key.invalid' }),
      );
  });

  it('are exactly what the committed generator produces (no diff)', async () => {
    const generated = await generateLedgerVectors();
    expect([...generated.keys()].sort()).toEqual(readdirSync(LEDGER_VECTOR_DIR).sort());
    for (const [name, content] of generated) expect(read(name), name).toBe(content);
  });

  it('match the annotated example of docs/spec/ledger.md', () => {
    const spec = readFileSync(join(PROJECT_ROOT, 'docs', 'spec', 'ledger.md'), 'utf8');
    const example = JSON.parse(read('example.json')) as Record<string, string>;
    // Each value appears in the spec in a block introduced by `<!-- example:NAME -->`.
    const blocks = new Map(
      [...spec.matchAll(/<!-- example:([a-z0-9_]+) -->\s*```[a-z]*\n([\s\S]*?)\n```/g)].map((m) => [
        m[1]!,
        m[2]!,
      ]),
    );
    expect([...blocks.keys()].sort()).toEqual(Object.keys(example).sort());
    // A note ends with a newline, which a fenced block does not show.
    for (const [name, value] of Object.entries(example))
      expect(blocks.get(name), name).toBe(value.endsWith('\n') ? value.slice(0, -1) : value);
  });
});
