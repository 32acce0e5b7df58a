// The witness service (witness/) against C2SP tlog-witness, over real HTTP on 127.0.0.1 and a
// real state directory: each add-checkpoint outcome the spec names, with the request bodies
// written out as the spec lays them out, persistence across a restart, and hostile input. Each
// refusal is also checked for the failure code it names (issue #16: tampers fail with named
// codes): in its body, or, where the spec fixes the body (409 with the size), in its log line.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { nodeCrypto } from '../../core/crypto-node.js';
import { base64Encode } from '../../core/encoding.js';
import { generatePrivateKey, rawPublicKey } from '../../core/keys.js';
import { parseCosignatureVerifierKey, parseNote, verifyCosignature } from '../../core/note.js';
import { stateFileName } from '../../witness/state.js';
import {
  TestLog,
  WITNESS_NAME,
  post,
  refusalCode,
  witnessHarness,
  type Reply,
  type TestWitness,
} from './support.js';

const log = new TestLog('example.com/log');
const other = new TestLog('example.com/other');
const harness = witnessHarness([log, other]);
afterAll(() => harness.cleanup());

let stateCount = 0;
let witness: TestWitness;
let stateDir: string;
beforeEach(async () => {
  stateDir = join(harness.dir, `state-${++stateCount}`);
  witness = await harness.start(stateDir);
});

/** A text refusal as its status and the code its body names. */
const refused = (reply: Reply) => ({ status: reply.status, code: refusalCode(reply) });

/** Brings the witness to `size` for the log, from nothing. */
async function cosigned(size: number, l: TestLog = log): Promise<void> {
  const reply = await post(witness.httpPort, await l.request(0, size));
  expect(reply.status, reply.body).toBe(200);
}

describe('add-checkpoint', () => {
  it('cosigns a first checkpoint (old 0): one cosignature/v1 line that verifies under its vkey', async () => {
    const before = Math.floor(Date.now() / 1000);
    const reply = await post(witness.httpPort, `old 0\n\n${await log.note(5)}`);
    expect(reply.status).toBe(200);
    expect(reply.body).toMatch(/^— witness\.example\/w1 [A-Za-z0-9+/]{102}==\n$/);
    const [sig] = parseNote(log.body(5) + '\n' + reply.body).signatures;
    const key = parseCosignatureVerifierKey(nodeCrypto, witness.verifierKey);
    const verified = verifyCosignature(nodeCrypto, log.body(5), sig!, WITNESS_NAME, key.publicKey);
    expect(verified?.timestamp).toBeGreaterThanOrEqual(before);
    expect(verified!.timestamp).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000));
  });

  it('cosigns growth proven by a consistency proof', async () => {
    await cosigned(5);
    const proof = log.proof(5, 13);
    expect(proof.length).toBeGreaterThan(0);
    const body = `old 5\n${proof.map((h) => base64Encode(h) + '\n').join('')}\n${await log.note(13)}`;
    const reply = await post(witness.httpPort, body);
    expect(reply.status, reply.body).toBe(200);
  });

  it('refuses a stale old size with 409, text/x.tlog.size and the size it cosigned', async () => {
    await cosigned(8);
    const reply = await post(witness.httpPort, await log.request(5, 13));
    expect(reply).toEqual({ status: 409, contentType: 'text/x.tlog.size', body: '8\n' });
  });

  it('refuses a consistency proof that does not verify with 422', async () => {
    await cosigned(5);
    const proof = log.proof(5, 13);
    proof[0] = proof[0]!.map((b, i) => (i === 0 ? b ^ 1 : b));
    const reply = await post(witness.httpPort, await log.request(5, 13, proof));
    expect(refused(reply)).toEqual({ status: 422, code: 'ledger.checkpoint.inconsistent' });
  });

  it('refuses a non-empty proof from size 0 with 422', async () => {
    const reply = await post(witness.httpPort, await log.request(0, 13, log.proof(5, 13)));
    expect(refused(reply)).toEqual({ status: 422, code: 'ledger.proof.invalid' });
  });

  it('refuses a fork: another root at the size it cosigned, 409 without a size', async () => {
    await cosigned(8);
    const reply = await post(witness.httpPort, await log.fork(4).request(8, 8));
    expect(refused(reply)).toEqual({ status: 409, code: 'ledger.checkpoint.inconsistent' });
    expect(reply.contentType).not.toBe('text/x.tlog.size');
  });

  it('re-cosigns the very checkpoint it cosigned (same size, same root)', async () => {
    await cosigned(8);
    expect((await post(witness.httpPort, await log.request(8, 8))).status).toBe(200);
  });

  it('refuses a rollback to a smaller checkpoint: 409 with the size it cosigned', async () => {
    await cosigned(13);
    const reply = await post(witness.httpPort, await log.request(5, 5));
    expect(reply).toEqual({ status: 409, contentType: 'text/x.tlog.size', body: '13\n' });
    // The spec fixes that body; the code is in the log line.
    expect(witness.refusals).toEqual([
      { status: 409, code: 'ledger.checkpoint.rollback', origin: log.origin, size: 5 },
    ]);
  });

  it('refuses an old size above the checkpoint size with 400', async () => {
    await cosigned(13);
    const reply = await post(witness.httpPort, await log.request(13, 5, []));
    expect(refused(reply)).toEqual({ status: 400, code: 'ledger.checkpoint.rollback' });
  });

  it('refuses a checkpoint of an unknown origin with 404', async () => {
    const stranger = new TestLog('example.com/stranger');
    const reply = await post(witness.httpPort, await stranger.request(0, 3));
    expect(refused(reply)).toEqual({ status: 404, code: 'key.invalid' });
  });

  it('refuses a checkpoint with no signature by a trusted key with 403', async () => {
    const impostor = generatePrivateKey();
    const body = `old 0\n\n${await log.note(3, impostor)}`;
    const reply = await post(witness.httpPort, body);
    expect(refused(reply)).toEqual({ status: 403, code: 'ledger.signature.invalid' });
  });

  it('ignores signatures by unknown keys next to the log signature', async () => {
    const [impostorNote, realNote] = [await log.note(3, generatePrivateKey()), await log.note(3)];
    // The note with two signature lines: an impostor's first, then the log's.
    const lines = impostorNote.split('\n\n')[1]! + realNote.split('\n\n')[1]!;
    const reply = await post(witness.httpPort, `old 0\n\n${log.body(3)}\n${lines}`);
    expect(reply.status, reply.body).toBe(200);
  });

  it.each([
    ['no old line', async () => `\n${await log.note(3)}`],
    ['an old size with a leading zero', async () => `old 00\n\n${await log.note(3)}`],
    ['a negative old size', async () => `old -1\n\n${await log.note(3)}`],
    ['two spaces after old', async () => `old  0\n\n${await log.note(3)}`],
    ['CRLF lines', async () => `old 0\r\n\r\n${await log.note(3)}`],
    ['no empty line before the note', async () => `old 0\n${await log.note(3)}`],
    ['no note', async () => 'old 0\n\n'],
    ['a proof line that is not base64', async () => `old 0\nnot base64!\n\n${await log.note(3)}`],
    [
      'a proof line of 31 bytes',
      async () => `old 0\n${base64Encode(new Uint8Array(31))}\n\n${await log.note(3)}`,
    ],
    [
      '64 proof lines',
      async () => `old 0\n${`${base64Encode(new Uint8Array(32))}\n`.repeat(64)}\n${await log.note(3)}`,
    ],
    ['a note without signatures', async () => `old 0\n\n${log.body(3)}`],
    ['a note body that is no checkpoint', async () => 'old 0\n\nhello\n\n— example.com/log AAAAAAAA\n'],
  ])('refuses a malformed body with 400: %s', async (_name, body) => {
    const reply = await post(witness.httpPort, await body());
    expect(refused(reply)).toEqual({ status: 400, code: 'encoding.invalid' });
  });

  it('refuses a body that is not UTF-8 with 400', async () => {
    const bytes = new TextEncoder().encode(`old 0\n\n${await log.note(3)}`);
    bytes[log.origin.length + 7] = 0xff;
    const reply = await post(witness.httpPort, bytes);
    expect(refused(reply)).toEqual({ status: 400, code: 'encoding.invalid' });
  });

  it('refuses an oversized body with 413, and still serves afterwards', async () => {
    const huge = `old 0\n\n${await log.note(3)}`.padEnd(300 * 1024, 'x');
    expect(refused(await post(witness.httpPort, huge))).toEqual({ status: 413, code: 'encoding.invalid' });
    expect((await post(witness.httpPort, await log.request(0, 3))).status).toBe(200);
  });

  it('answers 405 to anything but POST on /add-checkpoint', async () => {
    const response = await fetch(`http://127.0.0.1:${witness.httpPort}/add-checkpoint`);
    expect(response.status).toBe(405);
  });

  it('lets exactly one of two conflicting concurrent requests for one origin win', async () => {
    await cosigned(5);
    // Both prove from 5; once one is recorded, the other's old size is stale.
    const replies = await Promise.all([
      post(witness.httpPort, await log.request(5, 8)),
      post(witness.httpPort, await log.fork(5).request(5, 8)),
    ]);
    expect(replies.map((r) => r.status).sort()).toEqual([200, 409]);
    expect(replies.find((r) => r.status === 409)!.body).toBe('8\n');
  });

  it('keeps origins apart', async () => {
    await cosigned(8);
    expect((await post(witness.httpPort, await other.request(0, 3))).status).toBe(200);
    expect((await post(witness.httpPort, await log.request(8, 13))).status).toBe(200);
  });
});

describe('state', () => {
  it('persists one file per origin, named by the hex of its SHA-256, with no temp file left', async () => {
    await cosigned(8);
    const name = stateFileName(log.origin);
    expect(name).toMatch(/^[0-9a-f]{64}\.json$/);
    expect(readdirSync(stateDir)).toEqual([name]);
    const saved = JSON.parse(readFileSync(join(stateDir, name), 'utf8')) as Record<string, unknown>;
    expect(saved).toMatchObject({ origin: log.origin, size: 8, root: base64Encode(log.root(8)) });
  });

  it('survives a restart: a new witness on the same directory refuses a fork and a rollback', async () => {
    await cosigned(8);
    await witness.stop();
    witness = await harness.start(stateDir);
    expect(await post(witness.httpPort, await log.request(0, 13))).toMatchObject({
      status: 409,
      body: '8\n',
    });
    expect(refused(await post(witness.httpPort, await log.fork(4).request(8, 8)))).toEqual({
      status: 409,
      code: 'ledger.checkpoint.inconsistent',
    });
    expect(refused(await post(witness.httpPort, await log.fork(4).request(8, 13)))).toEqual({
      status: 422,
      code: 'ledger.checkpoint.inconsistent',
    });
    expect((await post(witness.httpPort, await log.request(5, 5))).body).toBe('8\n');
    expect(witness.refusals.at(-1)).toMatchObject({ status: 409, code: 'ledger.checkpoint.rollback' });
    expect((await post(witness.httpPort, await log.request(8, 13))).status).toBe(200);
  });

  it('refuses to serve an origin whose state file is corrupt rather than start it over', async () => {
    await cosigned(8);
    await witness.stop();
    writeFileSync(join(stateDir, stateFileName(log.origin)), '{"format":"something else"}');
    witness = await harness.start(stateDir);
    expect(await post(witness.httpPort, await log.request(0, 13))).toMatchObject({
      status: 500,
      body: 'internal.error\n',
    });
  });
});

describe('the service', () => {
  it('reports healthy while its state directory is writable', async () => {
    const response = await fetch(`http://127.0.0.1:${witness.httpPort}/healthz`);
    expect(response.status).toBe(200);
    expect(existsSync(stateDir)).toBe(true);
  });

  it('counts cosignatures, refusals by reason and the latest size per origin', async () => {
    await cosigned(8);
    await post(witness.httpPort, await log.request(5, 13));
    await post(witness.httpPort, 'old 0\n');
    const text = await (await fetch(`http://127.0.0.1:${witness.httpPort}/metrics`)).text();
    expect(text).toContain('governance_witness_cosignatures_total 1');
    expect(text).toContain('governance_witness_refusals_total{reason="conflict"} 1');
    expect(text).toContain('governance_witness_refusals_total{reason="malformed"} 1');
    expect(text).toContain('governance_witness_refusals_total{reason="inconsistent"} 0');
    expect(text).toContain('governance_witness_log_size{origin="example.com/log"} 8');
  });

  it('publishes its verifier key: type 0x04 under its name and key', () => {
    const key = parseCosignatureVerifierKey(nodeCrypto, witness.verifierKey);
    expect(key.name).toBe(WITNESS_NAME);
    expect(key.publicKey).toEqual(rawPublicKey(harness.witnessKey));
  });
});
