// The sequencer's witness client (sequencer/witnesses.ts) against three real witnesses
// (witness/, over HTTP on 127.0.0.1) with a threshold of 2: what it returns when all, some or
// too few answer, when one lies, and when a witness's size and the client's disagree.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { nodeCrypto } from '../../core/crypto-node.js';
import { generatePrivateKey, keySigner, rawPublicKey } from '../../core/keys.js';
import {
  cosign,
  formatNote,
  parseCosignatureVerifierKey,
  parseNote,
  verifyCosignature,
  type NoteSignature,
} from '../../core/note.js';
import { httpWitnesses, type CheckpointWitnesses } from '../../sequencer/witnesses.js';
import type { RunningWitness } from '../../witness/service.js';
import { TestLog, witnessHarness, type WitnessHarness } from '../witness/support.js';

const log = new TestLog('example.com/log');
const NAMES = ['witness.example/w1', 'witness.example/w2', 'witness.example/w3'];

let harnesses: WitnessHarness[];
let witnesses: RunningWitness[];
let lines: string[];
let extra: Server[];
const url = (port: number) => `http://127.0.0.1:${port}`;

beforeEach(async () => {
  harnesses = NAMES.map(() => witnessHarness([log]));
  witnesses = await Promise.all(harnesses.map((h, i) => h.start(undefined, undefined, NAMES[i])));
  lines = [];
  extra = [];
});
afterEach(async () => {
  await Promise.all(harnesses.map((h) => h.cleanup()));
  await Promise.all(extra.map((s) => new Promise((resolve) => s.close(resolve))));
});

function client(
  list = witnesses.map((w, i) => ({ name: NAMES[i]!, url: url(w.httpPort), key: w.verifierKey })),
) {
  return httpWitnesses({
    threshold: 2,
    witnesses: list,
    timeoutMs: 1000,
    log: (level, message) => lines.push(`${level} ${message}`),
  });
}

/** The old sizes the last cosigned() was asked proofs from. */
let asked: number[] = [];

async function cosigned(c: CheckpointWitnesses, size: number): Promise<NoteSignature[]> {
  asked = [];
  const sigs = await c.cosign(await log.note(size), size, async (old) => {
    asked.push(old);
    return log.proof(old, size);
  });
  // Every cosignature returned verifies under the key of the witness it names.
  for (const sig of sigs) {
    const i = NAMES.indexOf(sig.name);
    const key = parseCosignatureVerifierKey(nodeCrypto, witnesses[i]!.verifierKey).publicKey;
    expect(verifyCosignature(nodeCrypto, log.body(size), sig, sig.name, key)).toBeDefined();
  }
  return sigs;
}

/** An HTTP server answering every request with `answer`, on 127.0.0.1. */
async function fakeWitness(answer: (body: string) => Promise<{ status: number; body: string } | undefined>) {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      void answer(body).then((a) => {
        if (a) res.writeHead(a.status).end(a.body);
      });
    });
  });
  extra.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

describe('httpWitnesses', () => {
  it('gets all three cosignatures, first from size 0, then with a proof from the size each cosigned', async () => {
    const c = client();
    expect((await cosigned(c, 5)).map((s) => s.name).sort()).toEqual(NAMES);
    expect((await cosigned(c, 13)).map((s) => s.name).sort()).toEqual(NAMES);
    expect(asked).toEqual([5, 5, 5]);
    expect(lines).toEqual([]);
  });

  it('still gets two when one witness is down', async () => {
    const c = client();
    await witnesses[2]!.stop();
    expect((await cosigned(c, 5)).map((s) => s.name).sort()).toEqual(NAMES.slice(0, 2));
    expect(lines.some((l) => l.includes('witness.example/w3'))).toBe(true);
  });

  it('returns the one it got when two are down, below the threshold, without rejecting', async () => {
    const c = client();
    await witnesses[1]!.stop();
    await witnesses[2]!.stop();
    expect(c.threshold).toBe(2);
    expect((await cosigned(c, 5)).map((s) => s.name)).toEqual([NAMES[0]]);
  });

  it('drops a forged cosignature (right name, another key) and logs it', async () => {
    const forger = generatePrivateKey();
    const port = await fakeWitness(async (body) => {
      const note = body.slice(body.indexOf('\n\n') + 2);
      const checkpoint = parseNote(note).body;
      const sig = await cosign(
        nodeCrypto,
        checkpoint,
        NAMES[2]!,
        keySigner('f', forger),
        1,
        rawPublicKey(forger),
      );
      return { status: 200, body: formatNote(checkpoint, [sig]).slice(checkpoint.length + 1) };
    });
    const c = client(
      witnesses.map((w, i) => ({
        name: NAMES[i]!,
        url: url(i === 2 ? port : w.httpPort),
        key: w.verifierKey,
      })),
    );
    expect((await cosigned(c, 5)).map((s) => s.name).sort()).toEqual(NAMES.slice(0, 2));
    expect(lines).toEqual([
      `error witness ${NAMES[2]}: no valid cosignature by its key in its reply; dropped`,
    ]);
  });

  it('cosigns with a witness that restarted empty: 409 size 0, then again from 0', async () => {
    const c = client();
    await cosigned(c, 8);
    const port = witnesses[0]!.httpPort;
    await witnesses[0]!.stop();
    witnesses[0] = await harnesses[0]!.start(join(harnesses[0]!.dir, 'empty'), undefined, NAMES[0], port);
    expect((await cosigned(c, 13)).map((s) => s.name).sort()).toEqual(NAMES);
    expect(lines).toEqual([`info witness ${NAMES[0]}: it last cosigned size 0, not 8`]);
  });

  it('learns from a 409 the size a witness cosigned before the client started, and proves from it', async () => {
    await cosigned(client(), 8);
    expect(await cosigned(client(), 13)).toHaveLength(3);
    expect(asked).toEqual([8, 8, 8]);
  });

  it('gives up on a witness that does not answer within the timeout', async () => {
    const port = await fakeWitness(() => new Promise(() => undefined));
    const c = client(
      witnesses.map((w, i) => ({
        name: NAMES[i]!,
        url: url(i === 2 ? port : w.httpPort),
        key: w.verifierKey,
      })),
    );
    const started = Date.now();
    expect(await cosigned(c, 5)).toHaveLength(2);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('sends nothing for a note that is not a checkpoint of the given size', async () => {
    const c = client();
    expect(await c.cosign(await log.note(5), 6, async () => [])).toEqual([]);
    expect(lines).toHaveLength(1);
  });

  it('refuses a witness key that is not a cosigner key of that name', () => {
    const list = [{ name: NAMES[0]!, url: url(1), key: witnesses[1]!.verifierKey }];
    expect(() => client(list)).toThrow(/named witness\.example\/w2/);
  });
});
