// The ledger vectors (test/vectors/ledger/): every export case and every lineage case with both
// crypto suites, the generator reproduces them byte for byte, and the annotated example in
// docs/spec/ledger.md is theirs.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeCrypto } from '../../core/crypto-node.js';
import { portableCrypto } from '../../core/crypto-portable.js';
import { base64urlDecode } from '../../core/encoding.js';
import type { SignedHead } from '../../core/event.js';
import { verifyKeyRecord, type KeyRecord } from '../../core/registry.js';
import { verifyExportFile, verifyLineageProof } from '../../ledger/verify.js';
import { PROJECT_ROOT } from '../support/shared.js';
import {
  LEDGER_VECTOR_DIR,
  generateLedgerVectors,
  readLedgerVectorKeys,
} from '../vectors/generate-ledger.js';

interface VectorCase {
  desc: string;
  file: string;
  /** A trusted head given to the verifier. */
  head?: string;
  wantErr: string | null;
  wantSeq: number | null;
}

const read = (name: string) => readFileSync(join(LEDGER_VECTOR_DIR, name), 'utf8');
const casesOf = (file: string) =>
  Object.entries(JSON.parse(read(file)) as Record<string, VectorCase>).map(([name, c]) => ({ name, ...c }));
const cases = casesOf('cases.json');
const lineageCases = casesOf('lineage-cases.json');

describe('ledger vectors', () => {
  for (const suite of [nodeCrypto, portableCrypto]) {
    describe(suite.name, () => {
      const keys = readLedgerVectorKeys(suite);

      it.each(cases)('$name: $desc', async ({ file, head, wantErr, wantSeq }) => {
        const text = read(file);
        const result = await verifyExportFile(join(LEDGER_VECTOR_DIR, file), {
          suite,
          keys,
          ...(head ? { head: JSON.parse(read(head)) as SignedHead } : {}),
        });
        if (wantErr === null) {
          expect(result.failures).toEqual([]);
          const records = text.split('\n').filter((line) => line.startsWith('{"event":')).length;
          expect(result).toMatchObject({ ok: true, records, lastSeq: records });
        } else {
          expect(result.ok).toBe(false);
          expect(result.failures[0]).toMatchObject({ code: wantErr, seq: wantSeq });
        }
      });

      it.each(lineageCases)('$name: $desc', ({ file, wantErr, wantSeq }) => {
        const result = verifyLineageProof(JSON.parse(read(file)), { suite, keys });
        if (wantErr === null) expect(result.failures).toEqual([]);
        else expect(result.failures[0]).toMatchObject({ code: wantErr, seq: wantSeq });
        expect(result.ok).toBe(wantErr === null);
      });

      it('the latest head (head.json), given independently, covers the valid chain', async () => {
        const head = JSON.parse(read('head.json')) as SignedHead;
        const result = await verifyExportFile(join(LEDGER_VECTOR_DIR, 'valid.jsonl'), { suite, keys, head });
        expect(result.failures).toEqual([]);
        const cut = await verifyExportFile(join(LEDGER_VECTOR_DIR, 'truncated-tail.jsonl'), {
          suite,
          keys,
          head,
        });
        expect(cut.failures.map((f) => f.code)).toContain('ledger.head.mismatch');
      });
    });
  }

  it('cover every failure code of the verifiers', () => {
    const wanted = new Set([...cases, ...lineageCases].map((c) => c.wantErr));
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
    ]) {
      expect(wanted.has(code), code).toBe(true);
    }
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
    for (const [name, value] of Object.entries(example)) expect(blocks.get(name), name).toBe(value);
  });
});
