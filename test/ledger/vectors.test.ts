// The ledger vectors (test/vectors/ledger/): every export case through ledger/verify.ts and every
// inclusion, consistency and lineage case through core/proofs.ts, with both crypto suites; the
// generator reproduces them byte for byte, and the annotated example in docs/spec/ledger.md is
// theirs.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCheckpointNote } from '../../core/checkpoint.js';
import { nodeCrypto } from '../../core/crypto-node.js';
import { portableCrypto } from '../../core/crypto-portable.js';
import { base64urlDecode } from '../../core/encoding.js';
import {
  proofFailure,
  verifyConsistencyProof,
  verifyInclusionProof,
  verifyLineageProof,
} from '../../core/proofs.js';
import { openCommitment, committedMember, parseOpening, verifyOpenings } from '../../core/redaction.js';
import type { LedgerEvent } from '../../core/event.js';
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
            const records = text.split('\n').filter((line) => line.startsWith('{"event":'));
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

      it('an exclusion proves absence, and the seven-stage proof lists every record of its lineage', () => {
        const byName = new Map(lineageCases.map((c) => [c.name, c]));
        const absent = verifyLineageProof(suite, byName.get('lineage-absent')!.proof, trust);
        expect(absent.records).toEqual([]);
        const full = verifyLineageProof(suite, byName.get('lineage-seven-stages')!.proof, trust);
        expect(full.records.map((r) => r.seq)).toEqual([1, 4, 5, 6, 7, 8, 9]);
      });
    });
  }

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
      'ledger.batch.incomplete',
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
    expect(checkpoint.size).toBe(13);
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
