// The committed consistency vectors (test/vectors/ledger/consistency-cases.json) shown to a real
// witness service, over HTTP on 127.0.0.1: the verifiers refuse a forked or rolled-back
// checkpoint given the honest one they hold (test/ledger/vectors.test.ts); here a witness that
// cosigned that honest checkpoint refuses the same checkpoint with the same named code, and keeps
// the honest state. The witness trusts the vectors' audit key (keys.json) as the log's key.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { nodeCrypto } from '../../core/crypto-node.js';
import { base64Encode } from '../../core/encoding.js';
import {
  parseCheckpoint,
  parseCosignatureVerifierKey,
  parseNote,
  verifierKey,
  verifyCosignature,
} from '../../core/note.js';
import { stateFileName } from '../../witness/state.js';
import { LEDGER_VECTOR_DIR, VECTOR_LOG, readLedgerVectorKeys } from '../vectors/generate-ledger.js';
import { WITNESS_NAME, post, refusalCode, witnessHarness, type Reply, type TestWitness } from './support.js';

interface ConsistencyCase {
  desc: string;
  /** The checkpoint note the verifier holds: here, the one the witness cosigned. */
  trusted: string;
  proof: { old: number; checkpoint: string; proof: string[] };
  wantErr: string | null;
}

const cases = JSON.parse(readFileSync(join(LEDGER_VECTOR_DIR, 'consistency-cases.json'), 'utf8')) as Record<
  string,
  ConsistencyCase
>;
const vector = (name: string): ConsistencyCase => {
  const c = cases[name];
  if (!c) throw new Error(`no consistency vector ${name}`);
  return c;
};

// The log's key as keys.json certifies it: the audit key signs the checkpoints under the log id.
const [audit, ...others] = [...readLedgerVectorKeys().audit.values()];
if (!audit || others.length > 0) throw new Error('keys.json must certify exactly one audit key');
const vectorLog = { origin: VECTOR_LOG, vkey: verifierKey(nodeCrypto, VECTOR_LOG, audit.publicKey) };

const harness = witnessHarness([vectorLog]);
afterAll(() => harness.cleanup());

let stateCount = 0;
let witness: TestWitness;
let stateDir: string;
beforeEach(async () => {
  stateDir = join(harness.dir, `vectors-${++stateCount}`);
  witness = await harness.start(stateDir);
});

/** An add-checkpoint body (tlog-witness): the old size, the proof lines, an empty line, the note. */
const request = (old: number, proof: readonly string[], note: string) =>
  `old ${old}\n${proof.map((h) => `${h}\n`).join('')}\n${note}`;

const submit = (old: number, proof: readonly string[], note: string) =>
  post(witness.httpPort, request(old, proof, note));

/** A vector's own request: its proof from its old size to its checkpoint. */
const submitVector = (c: ConsistencyCase) => submit(c.proof.old, c.proof.proof, c.proof.checkpoint);

const refused = (reply: Reply) => ({ status: reply.status, code: refusalCode(reply) });
const sizeOf = (note: string) => parseCheckpoint(parseNote(note).body).size;

/** Has the fresh witness cosign the honest checkpoint a vector's verifier holds: from size 0, no proof. */
async function cosignTrusted(c: ConsistencyCase): Promise<void> {
  const reply = await submit(0, [], c.trusted);
  expect(reply.status, reply.body).toBe(200);
}

/** The reply is a cosignature by this witness on the note's body. */
function expectCosigned(reply: Reply, note: string): void {
  expect(reply.status, reply.body).toBe(200);
  const { body } = parseNote(note);
  const [line] = parseNote(`${body}\n${reply.body}`).signatures;
  const key = parseCosignatureVerifierKey(nodeCrypto, witness.verifierKey);
  expect(verifyCosignature(nodeCrypto, body, line!, WITNESS_NAME, key.publicKey)).toBeDefined();
}

/** The checkpoint the witness persisted for the log is exactly this note (and its size and root). */
function expectPersisted(note: string): void {
  const saved = JSON.parse(readFileSync(join(stateDir, stateFileName(VECTOR_LOG)), 'utf8')) as Record<
    string,
    unknown
  >;
  const checkpoint = parseCheckpoint(parseNote(note).body);
  expect(saved).toMatchObject({ size: checkpoint.size, root: base64Encode(checkpoint.root), note });
}

describe('the consistency vectors shown to a witness', () => {
  it('consistency-fork: refuses the forked checkpoint at 8 proven from the honest 6 (422), and still cosigns the honest 8', async () => {
    const fork = vector('consistency-fork');
    const honest = vector('consistency-6-8');
    // The legitimate extension starts from the very checkpoint the fork is offered against.
    expect(honest.trusted).toBe(fork.trusted);
    expect([sizeOf(fork.trusted), fork.proof.old, sizeOf(fork.proof.checkpoint)]).toEqual([6, 6, 8]);
    await cosignTrusted(fork);

    const reply = await submitVector(fork);
    // The code a verifier reports for the same vector.
    expect(refused(reply)).toEqual({ status: 422, code: fork.wantErr });
    expect(fork.wantErr).toBe('ledger.checkpoint.inconsistent');
    expectPersisted(fork.trusted);

    expectCosigned(await submitVector(honest), honest.proof.checkpoint);
    expectPersisted(honest.proof.checkpoint);
  });

  it('consistency-fork-same-size: refuses the forked checkpoint at the honest 8 it cosigned (409, not a size), and keeps the honest 8', async () => {
    const fork = vector('consistency-fork-same-size');
    expect([sizeOf(fork.trusted), fork.proof.old, sizeOf(fork.proof.checkpoint)]).toEqual([8, 8, 8]);
    expect(fork.proof.checkpoint).not.toBe(fork.trusted);
    await cosignTrusted(fork);

    const reply = await submitVector(fork);
    expect(refused(reply)).toEqual({ status: 409, code: fork.wantErr });
    expect(fork.wantErr).toBe('ledger.checkpoint.inconsistent');
    expect(reply.contentType).not.toBe('text/x.tlog.size');
    expectPersisted(fork.trusted);

    // Nothing larger is in the vectors: the honest 8 itself is still cosigned.
    expectCosigned(await submit(8, [], fork.trusted), fork.trusted);
  });

  it('consistency-rollback: refuses the checkpoint at 6 offered from the honest 8 it cosigned (400), and keeps the honest 8', async () => {
    const rollback = vector('consistency-rollback');
    expect([sizeOf(rollback.trusted), rollback.proof.old, sizeOf(rollback.proof.checkpoint)]).toEqual([
      8, 8, 6,
    ]);
    await cosignTrusted(rollback);

    const reply = await submitVector(rollback);
    expect(refused(reply)).toEqual({ status: 400, code: rollback.wantErr });
    expect(rollback.wantErr).toBe('ledger.checkpoint.rollback');
    expectPersisted(rollback.trusted);
    expectCosigned(await submit(8, [], rollback.trusted), rollback.trusted);
  });

  it('consistency-rollback: refuses the checkpoint at 6 offered from its own size with 409 and the size 8 it cosigned, logging the rollback', async () => {
    const rollback = vector('consistency-rollback');
    await cosignTrusted(rollback);

    // A log that hides the larger tree claims the witness holds its own size.
    const reply = await submit(6, rollback.proof.proof, rollback.proof.checkpoint);
    expect(reply).toEqual({ status: 409, contentType: 'text/x.tlog.size', body: '8\n' });
    // tlog-witness fixes that body; the code is in the witness's log line.
    expect(witness.refusals).toEqual([{ status: 409, code: rollback.wantErr, origin: VECTOR_LOG, size: 6 }]);
    expectPersisted(rollback.trusted);
    expectCosigned(await submit(8, [], rollback.trusted), rollback.trusted);
  });
});
