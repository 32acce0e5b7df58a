// What the ledger publishes verifies with transparency-log tooling nobody here wrote: Go's
// golang.org/x/mod/sumdb/note and golang.org/x/mod/sumdb/tlog (test/interop/go/verify.go) read
// the authority's C2SP checkpoint and tiles, recompute the tree, prove records and check the
// authority's inclusion and consistency proofs (docs/spec/ledger.md §7). A record is a producer
// batch of up to 64 KiB: the entry bundles' uint16 length prefixes must carry the largest.
//
// Needs `go` on PATH and the x/mod sources in a GOPATH (Debian: golang-go and
// golang-golang-x-mod-dev, which .ci/run installs); builds in GOPATH mode, no module proxy.
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ledgerKeysOf } from '../../core/chain.js';
import { parseCheckpointNote } from '../../core/checkpoint.js';
import { nodeCrypto } from '../../core/crypto-node.js';
import { generatePrivateKey, rawPublicKey } from '../../core/keys.js';
import { verifierKey } from '../../core/note.js';
import { verifyKeyRecord, type KeyRecord } from '../../core/registry.js';
import { EVENT_LIMITS, type LedgerEvent } from '../../core/event.js';
import { formatMillis } from '../../core/time.js';
import { roots } from '../authority/support/fixtures.js';
import { LOG, PRODUCER, startStack, type Stack } from '../authority/support/stack.js';
import { testEvent } from '../ledger/support.js';

const SOURCE = join(dirname(fileURLToPath(import.meta.url)), 'go', 'verify.go');

/** The GOPATH root holding golang.org/x/mod, or undefined. */
function xmodRoot(): string | undefined {
  const roots = [...(process.env.GOPATH ?? '').split(':'), '/usr/share/gocode'].filter(Boolean);
  return roots.find((root) => existsSync(join(root, 'src/golang.org/x/mod/sumdb/tlog/tlog.go')));
}

function goAvailable(): boolean {
  try {
    return spawnSync('go', ['version'], { stdio: 'ignore', timeout: 10_000 }).status === 0;
  } catch {
    return false;
  }
}

const XMOD = xmodRoot();
const HAVE_GO = goAvailable() && XMOD !== undefined;
const GO_ABSENT_NOTE =
  'skipped: Go interop needs `go` on PATH and golang.org/x/mod in a GOPATH ' +
  '(apt-get install golang-go golang-golang-x-mod-dev)';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface Summary {
  origin: string;
  size: number;
  root: string;
  extensions: string[];
  signers: string[];
  parseTree: { original: string; sameTree: boolean };
  rootMatches: boolean;
  tilesFetched: string[];
  replay: { records: number; tiles: number; events: number; largestRecord: number } | null;
  recordsProven: number[];
  inclusionProofs: number[];
  consistency: { oldSize: number; newSize: number; proofHashes: number; served: boolean } | null;
}

// Asynchronous: the authority answering the Go program runs in this process.
function run(binary: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(binary, args, { timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** A proxy to the authority that changes one byte of the responses `tamper` picks. */
async function tamperingProxy(
  upstream: string,
  tamper: (path: string, body: Buffer) => Buffer | undefined,
): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    void (async () => {
      const reply = await fetch(upstream + (req.url ?? '/'));
      const body = Buffer.from(await reply.arrayBuffer());
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      res.writeHead(reply.status, { 'content-type': reply.headers.get('content-type') ?? 'text/plain' });
      res.end(tamper(path, body) ?? body);
    })().catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

function flip(body: Buffer, at: number): Buffer {
  const copy = Buffer.from(body);
  copy[at] = copy[at]! ^ 0x01;
  return copy;
}

describe.skipIf(!HAVE_GO)('the published log, verified by Go x/mod sumdb/note and sumdb/tlog', () => {
  let dir: string;
  let binary: string;
  let stack: Stack;
  let vkey: string;
  let oldCheckpointFile: string;
  let oldSize: number;
  let size: number;
  let verified: Run;
  let summary: Summary;
  let largeSeqs: number[];
  const proxies: Server[] = [];
  const ledgerUrl = (base: string) => `${base}/v1/ledger/`;

  async function checkpointOf(atLeast: number): Promise<string> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const reply = await fetch(`${stack.httpUrl}/v1/ledger/checkpoint`);
      if (reply.ok) {
        const text = await reply.text();
        if (parseCheckpointNote(text).checkpoint.size >= atLeast) return text;
      }
      if (Date.now() > deadline) throw new Error(`no checkpoint of size ${atLeast} within 20 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  const event = (i: number, extra: Partial<LedgerEvent> = {}) =>
    testEvent(i, 'execution.denied', { producer: PRODUCER, time: formatMillis(Date.now()), ...extra });

  /**
   * `count` records of one event each: the writer seals what one turn of the event loop queues
   * as one batch, so appends awaited one after the other are one record each. Returns the seq of
   * the last.
   */
  async function append(count: number): Promise<number> {
    for (let i = 0; i < count - 1; i++) await stack.ledger.append([event(i)]);
    const [receipt] = await stack.ledger.appendAndWait([event(count - 1)], 20_000);
    return receipt!.seq;
  }

  /**
   * Events of about 15 KiB each in one call: the writer seals them into batches whose records
   * come as close to EVENT_LIMITS.recordBytes as four of them fit. Returns their records' seqs.
   */
  async function appendLarge(count: number): Promise<number[]> {
    const data = Object.fromEntries(Array.from({ length: 29 }, (_, k) => [`f${k}`, 'x'.repeat(500)]));
    const receipts = await stack.ledger.appendAndWait(
      Array.from({ length: count }, (_, i) => event(i, { data })),
      20_000,
    );
    return [...new Set(receipts.map((r) => r.seq))];
  }

  async function verifyThrough(base: string, key = vkey): Promise<Run> {
    return run(binary, [ledgerUrl(base), key, oldCheckpointFile]);
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gov-go-interop-'));
    binary = join(dir, 'verify');
    const build = await new Promise<Run>((resolve) => {
      execFile(
        'go',
        ['build', '-o', binary, SOURCE],
        {
          timeout: 120_000,
          env: {
            ...process.env,
            GO111MODULE: 'off',
            GOPATH: `${XMOD}:${join(dir, 'gopath')}`,
            GOCACHE: join(dir, 'gocache'),
            GOFLAGS: '',
          },
        },
        (error, stdout, stderr) => resolve({ code: error ? 1 : 0, stdout, stderr }),
      );
    });
    if (build.code !== 0) throw new Error(`go build failed:\n${build.stderr}`);

    stack = await startStack();
    const issuers = (await (await fetch(`${stack.httpUrl}/v1/proof/issuers`)).json()) as {
      keys: KeyRecord[];
    };
    const keys = ledgerKeysOf(issuers.keys.map((record) => verifyKeyRecord(nodeCrypto, record, roots.byKid)));
    const [audit] = [...keys.audit.values()];
    vkey = verifierKey(nodeCrypto, LOG, audit!.publicKey);

    // 600 records and more (the authority's own): level-0 tiles 000 and 001 full, 002 partial,
    // with records near 64 KiB among them. Then 300 more, so the later checkpoint's right edge
    // is in another tile.
    await append(300);
    largeSeqs = await appendLarge(12);
    const first = await append(300);
    const oldText = await checkpointOf(first);
    oldSize = parseCheckpointNote(oldText).checkpoint.size;
    oldCheckpointFile = join(dir, 'old-checkpoint');
    writeFileSync(oldCheckpointFile, oldText);
    size = parseCheckpointNote(await checkpointOf(await append(300))).checkpoint.size;

    verified = await verifyThrough(stack.httpUrl);
    if (verified.code !== 0) throw new Error(`the Go verifier failed:\n${verified.stderr}`);
    summary = JSON.parse(verified.stdout) as Summary;
  }, 180_000);

  afterAll(async () => {
    await Promise.all(proxies.map((server) => new Promise((resolve) => server.close(resolve))));
    await stack?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('opens the checkpoint with note.Open under the log verifier key', () => {
    expect(summary.origin).toBe(LOG);
    expect(summary.size).toBeGreaterThanOrEqual(size);
    expect(summary.signers).toEqual([vkey.split('+').slice(0, 2).join('+')]);
    expect(summary.extensions.map((line) => line.split(' ')[0])).toEqual(['chain', 'index', 'time']);
  });

  it('reads size and root as tlog.ParseTree does, though ParseTree rejects any origin but its own', () => {
    expect(summary.parseTree).toEqual({ original: 'malformed tree note', sameTree: true });
  });

  it('recomputes the checkpoint root with tlog.TreeHash over the C2SP tiles, full and partial', () => {
    expect(summary.rootMatches).toBe(true);
    expect(summary.tilesFetched).toContain('tile/0/000');
    expect(summary.tilesFetched.some((path) => /^tile\/0\/\d{3}\.p\/\d+$/.test(path))).toBe(true);
    expect(summary.tilesFetched.some((path) => /^tile\/1\/000\.p\/\d$/.test(path))).toBe(true);
    expect(summary.tilesFetched.some((path) => /^tile\/entries\/\d{3}\.p\/\d+$/.test(path))).toBe(true);
  });

  it('finds every tile byte for byte as tlog stores the records of the entry bundles', () => {
    expect(summary.replay).toMatchObject({ records: summary.size, tiles: expect.any(Number) });
    expect(summary.replay!.tiles).toBeGreaterThanOrEqual(5);
  });

  it('reads records near 64 KiB through the uint16 lengths of the entry bundles', async () => {
    const records = await stack.reader.range(largeSeqs[0]!, largeSeqs.at(-1)!);
    const longest = Math.max(...records.map((r) => Buffer.byteLength(JSON.stringify(r))));
    // Beyond what a signed 16-bit length could say, within what an unsigned one can.
    expect(longest).toBeGreaterThan(60_000);
    expect(longest).toBeLessThanOrEqual(EVENT_LIMITS.recordBytes);
    expect(records.every((r) => r.events.length > 1)).toBe(true);
    expect(summary.replay!.largestRecord).toBe(longest);
  });

  it('reads each record of the entry bundles as a batch holding every event of the log', async () => {
    let events = 0;
    for (let from = 1; from <= summary.size; from += 500)
      for (const record of await stack.reader.range(from, Math.min(summary.size, from + 499)))
        events += record.events.length;
    expect(events).toBeGreaterThan(summary.size);
    expect(summary.replay!.events).toBe(events);
  });

  it('proves records of the entry bundles with tlog.ProveRecord and tlog.CheckRecord', () => {
    expect(summary.recordsProven).toEqual(expect.arrayContaining([0, 255, 256, 511, 512, summary.size - 1]));
  });

  it("checks the authority's inclusion proofs with tlog.CheckRecord", () => {
    expect(summary.inclusionProofs).toEqual(summary.recordsProven.map((i) => i + 1));
  });

  it('proves the earlier checkpoint consistent with tlog.ProveTree and tlog.CheckTree', () => {
    expect(oldSize).toBeGreaterThanOrEqual(600);
    expect(summary.consistency).toEqual({
      oldSize,
      newSize: summary.size,
      proofHashes: expect.any(Number),
      served: true,
    });
    expect(summary.consistency!.proofHashes).toBeGreaterThan(0);
  });

  it('fails under a verifier key other than the log key', async () => {
    const stranger = verifierKey(nodeCrypto, LOG, rawPublicKey(generatePrivateKey()));
    const result = await verifyThrough(stack.httpUrl, stranger);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/note\.Open: note has no verifiable signatures/);
  });

  it('fails when a byte of the checkpoint text changes', async () => {
    const proxy = await tamperingProxy(stack.httpUrl, (path, body) =>
      // The root line: the third line of the note.
      path === '/v1/ledger/checkpoint'
        ? flip(body, body.indexOf('\n', body.indexOf('\n') + 1) + 5)
        : undefined,
    );
    proxies.push(proxy.server);
    const result = await verifyThrough(proxy.url);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/note\.Open: invalid signature for key /);
  });

  it('fails when a byte of a tile the root is made of changes', async () => {
    // The right edge of level 0 holds the last subtrees of the root: tlog.TreeHash reads it.
    const proxy = await tamperingProxy(stack.httpUrl, (path, body) =>
      /^\/v1\/ledger\/tile\/0\/\d{3}\.p\/\d+$/.test(path) ? flip(body, 0) : undefined,
    );
    proxies.push(proxy.server);
    const result = await verifyThrough(proxy.url);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/tlog\.TreeHash over the tiles: downloaded inconsistent tile/);
  });

  it('fails when a byte of a full tile under a proven record changes', async () => {
    // x/mod's TileHashReader does not check this tile against its parent (verify.go says why);
    // the proof made of it fails tlog.CheckRecord against the checkpoint's root.
    const proxy = await tamperingProxy(stack.httpUrl, (path, body) =>
      path === '/v1/ledger/tile/0/000' ? flip(body, 100) : undefined,
    );
    proxies.push(proxy.server);
    const result = await verifyThrough(proxy.url);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /record 0 \(seq 1\) of its entry bundle: tlog\.CheckRecord: invalid transparency proof/,
    );
  });

  it('fails when a byte of a record in an entry bundle changes', async () => {
    const proxy = await tamperingProxy(stack.httpUrl, (path, body) =>
      // Inside the first record, past its two length bytes.
      path === '/v1/ledger/tile/entries/000' ? flip(body, 20) : undefined,
    );
    proxies.push(proxy.server);
    const result = await verifyThrough(proxy.url);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/record 0 \(seq 1\) of its entry bundle: tlog\.CheckRecord: /);
  });
});

if (!HAVE_GO) console.warn(GO_ABSENT_NOTE);
