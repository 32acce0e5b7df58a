// What the witness tests share: a log (an Ed25519 key, leaves, signed checkpoints and RFC 9162
// proofs), a witness service started on 127.0.0.1:0 over a temp state directory, what it logs,
// and a raw add-checkpoint POST.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { nodeCrypto } from '../../core/crypto-node.js';
import { base64Encode, utf8Encode } from '../../core/encoding.js';
import type { KeyObject } from 'node:crypto';
import { generatePrivateKey, keySigner, privateKeyToPem, rawPublicKey } from '../../core/keys.js';
import { formatCheckpoint, formatNote, signNote, verifierKey } from '../../core/note.js';
import {
  consistencyProof,
  tlogLeafHash,
  tlogNodeHash,
  treeRoot,
  type SubtreeHashes,
} from '../../core/tlog.js';
import { parseConfig } from '../../witness/config.js';
import { startWitnessService, type RunningWitness } from '../../witness/service.js';

const suite = nodeCrypto;

/** Subtree hashes straight from the leaf hashes: small test trees need no tiles. */
function leafSource(leaves: readonly Uint8Array[]): SubtreeHashes {
  const hash = (height: number, index: number): Uint8Array =>
    height === 0
      ? leaves[index]!
      : tlogNodeHash(suite, hash(height - 1, 2 * index), hash(height - 1, 2 * index + 1));
  return { hash };
}

export class TestLog {
  readonly key: KeyObject = generatePrivateKey();
  readonly publicKey = rawPublicKey(this.key);
  /** Leaf hashes; `fork` gives a log with other leaves from index `at` on. */
  private readonly leaves: Uint8Array[];

  constructor(
    readonly origin: string,
    size = 64,
    tag = 'main',
  ) {
    this.leaves = Array.from({ length: size }, (_, i) =>
      tlogLeafHash(suite, utf8Encode(`${origin} ${tag} ${i}`)),
    );
  }

  /** The same origin and key, the same first `at` leaves, other leaves after. */
  fork(at: number): TestLog {
    const other = new TestLog(this.origin, this.leaves.length, 'fork');
    Object.assign(other, { key: this.key, publicKey: this.publicKey });
    other.leaves.splice(0, at, ...this.leaves.slice(0, at));
    return other;
  }

  get vkey(): string {
    return verifierKey(suite, this.origin, this.publicKey);
  }

  root(size: number): Uint8Array {
    return treeRoot(suite, leafSource(this.leaves), size);
  }

  proof(from: number, to: number): Uint8Array[] {
    return from === 0 || from === to ? [] : consistencyProof(suite, leafSource(this.leaves), from, to);
  }

  body(size: number): string {
    return formatCheckpoint({ origin: this.origin, size, root: this.root(size), extensions: [] });
  }

  /** The checkpoint of `size`, signed by this log's key (or another key under the same name). */
  async note(size: number, key: KeyObject = this.key): Promise<string> {
    const body = this.body(size);
    const sig = await signNote(body, this.origin, keySigner('log', key), suite, rawPublicKey(key));
    return formatNote(body, [sig]);
  }

  /** An add-checkpoint body, literally as the spec lays it out. */
  async request(old: number, size: number, proof = this.proof(old, size)): Promise<string> {
    return `old ${old}\n${proof.map((h) => base64Encode(h) + '\n').join('')}\n${await this.note(size)}`;
  }
}

export interface Reply {
  status: number;
  contentType: string | null;
  body: string;
}

export async function post(port: number, body: string | Uint8Array): Promise<Reply> {
  const response = await fetch(`http://127.0.0.1:${port}/add-checkpoint`, { method: 'POST', body });
  return {
    status: response.status,
    contentType: response.headers.get('content-type'),
    body: await response.text(),
  };
}

/**
 * The failure code a text refusal names: its body is `<code>: <message>`. undefined for a body of
 * another shape (the 409 size body tlog-witness fixes, a cosignature line).
 */
export function refusalCode(reply: Reply): string | undefined {
  return /^([a-z]+(?:\.[a-z]+)+): /.exec(reply.body)?.[1];
}

export const WITNESS_NAME = 'witness.example/w1';

/** A log as a witness is configured with it: its origin and the verifier key of its checkpoints. */
export interface WitnessedLog {
  readonly origin: string;
  readonly vkey: string;
}

/** One "add-checkpoint refused" log line: the code is there even when the spec fixes the body. */
export interface LoggedRefusal {
  status: number;
  code: string;
  origin?: string;
  size?: number;
}

export interface TestWitness extends RunningWitness {
  /** The refusals it logged, oldest first. */
  refusals: LoggedRefusal[];
}

export interface WitnessHarness {
  dir: string;
  keyFile: string;
  witnessKey: KeyObject;
  start(
    stateDir?: string,
    logs?: readonly WitnessedLog[],
    name?: string,
    port?: number,
  ): Promise<TestWitness>;
  cleanup(): Promise<void>;
}

/** Witnesses over one temp directory and key; each start() is a fresh process-like instance. */
export function witnessHarness(logs: readonly WitnessedLog[]): WitnessHarness {
  const dir = mkdtempSync(join(tmpdir(), 'gov-witness-'));
  const witnessKey = generatePrivateKey();
  const keyFile = join(dir, 'witness.key.pem');
  writeFileSync(keyFile, privateKeyToPem(witnessKey), { mode: 0o600 });
  const running: RunningWitness[] = [];
  return {
    dir,
    keyFile,
    witnessKey,
    async start(stateDir = join(dir, 'state'), serving = logs, name = WITNESS_NAME, port = 0) {
      const config = parseConfig({
        http: { host: '127.0.0.1', port },
        name,
        keyFile,
        stateDir,
        logs: serving.map((log) => ({ origin: log.origin, keys: [log.vkey] })),
      });
      const refusals: LoggedRefusal[] = [];
      // pino writes each line synchronously, before the reply is sent, so a test that has its
      // reply sees the line.
      const logger = pino(
        { level: 'info' },
        {
          write(line: string) {
            const entry = JSON.parse(line) as LoggedRefusal & { msg: string };
            if (entry.msg !== 'add-checkpoint refused') return;
            const { status, code, origin, size } = entry;
            refusals.push({ status, code, origin, size });
          },
        },
      );
      const witness = Object.assign(await startWitnessService(config, logger), { refusals });
      running.push(witness);
      return witness;
    },
    async cleanup() {
      await Promise.all(running.map((w) => w.stop()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
