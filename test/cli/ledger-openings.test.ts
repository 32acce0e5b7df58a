// govctl ledger open and ledger erase against a real authority and ledger on Redis whose writer
// commits members of its events (docs/spec/ledger.md §3.1): a record is a producer batch, so
// openings are read and erased per event, by the event's index in its record.
import { createHash, createPublicKey } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LedgerEvent } from '../../core/event.js';
import { formatMillis } from '../../core/time.js';
import { EXIT } from '../../cli/output.js';
import { GATEWAY, rootKey, SECURITY } from '../authority/support/fixtures.js';
import { LOG, PRODUCER, startStack, type Stack } from '../authority/support/stack.js';
import { govctl } from '../support/govctl.js';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const dir = mkdtempSync(join(tmpdir(), 'govctl-openings-'));
const rootPem = join(dir, 'root.pub.pem');
let stack: Stack;
let seq: number;

const denied = (i: number, patient: string): LedgerEvent => ({
  v: '1',
  type: 'authorization.denied',
  time: formatMillis(Date.now()),
  producer: PRODUCER,
  reason: 'policy.denied',
  identity: `spiffe://prod.example.org/ns/ward/sa/caller-${i}`,
  operation: 'model.invoke',
  data: { patient },
});

const open = (...extra: string[]) =>
  govctl('ledger', 'open', String(seq), '--url', stack.httpUrl, '--root', rootPem, ...extra);
const erase = (index: number, member: string) =>
  govctl(
    'ledger',
    'erase',
    String(seq),
    String(index),
    member,
    '--redis',
    stack.redis.url,
    '--log',
    LOG,
    '--prefix',
    stack.redis.prefix,
  );

beforeAll(async () => {
  writeFileSync(rootPem, createPublicKey(rootKey).export({ type: 'spki', format: 'pem' }));
  stack = await startStack({
    redact: ['identity', 'data'],
    openingReaders: [SECURITY],
    devTokens: [
      { identity: SECURITY, sha256: sha256('security-token') },
      { identity: GATEWAY, sha256: sha256('gateway-token') },
    ],
  });
  // One call, one batch, one record: its two events are events 0 and 1 of record `seq`.
  const receipts = await stack.ledger.appendAndWait([denied(1, 'MRN-1'), denied(2, 'MRN-2')], 20_000);
  seq = receipts[0]!.seq;
  expect(receipts).toEqual([
    { seq, index: 0 },
    { seq, index: 1 },
  ]);
  // The inclusion proof `open` checks the openings against needs a checkpoint covering the record.
  const deadline = Date.now() + 20_000;
  while ((await stack.ledgerStore.tip()).signedSeq < seq) {
    if (Date.now() > deadline) throw new Error(`no checkpoint covers record ${seq} within 20 s`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('govctl ledger open', () => {
  it("prints each event's clear values by its index, checked against the verified record", async () => {
    const run = await open('--token', 'security-token');
    expect(run.code, run.stderr).toBe(EXIT.ok);
    expect(run.stdout.split('\n').slice(0, 7)).toEqual([
      `record ${seq}: every opening opens its commitment`,
      '  event 0 (authorization.denied)',
      '    identity   spiffe://prod.example.org/ns/ward/sa/caller-1',
      '    data       {"patient":"MRN-1"}',
      '  event 1 (authorization.denied)',
      '    identity   spiffe://prod.example.org/ns/ward/sa/caller-2',
      '    data       {"patient":"MRN-2"}',
    ]);
  });

  it('--json gives the opened members and those still committed, per event index', async () => {
    const run = await govctl(
      '--json',
      'ledger',
      'open',
      String(seq),
      '--url',
      stack.httpUrl,
      '--root',
      rootPem,
      '--token',
      'security-token',
    );
    expect(run.code, run.stderr).toBe(EXIT.ok);
    expect(JSON.parse(run.stdout)).toEqual({
      verified: true,
      seq,
      events: [0, 1].map((index) => ({
        index,
        type: 'authorization.denied',
        opened: {
          identity: `spiffe://prod.example.org/ns/ward/sa/caller-${index + 1}`,
          data: { patient: `MRN-${index + 1}` },
        },
        still_committed: [],
      })),
    });
  });

  it("exits 1 when an opening served for one event is another event's (ledger.redaction.invalid)", async () => {
    // A proof endpoint that swaps the event indexes of the openings it passes on.
    const server = createServer((req, res) => {
      void (async () => {
        const real = await fetch(`${stack.httpUrl}${req.url}`, {
          headers: req.headers.authorization ? { authorization: req.headers.authorization } : {},
        });
        let body = Buffer.from(await real.arrayBuffer());
        if (req.url?.startsWith('/v1/proof/openings/') && real.ok) {
          const answer = JSON.parse(body.toString('utf8')) as { openings: { index: number }[] };
          for (const opening of answer.openings) opening.index = 1 - opening.index;
          body = Buffer.from(JSON.stringify(answer));
        }
        res.writeHead(real.status, { 'content-type': 'application/json' });
        res.end(body);
      })().catch(() => res.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const run = await govctl(
        'ledger',
        'open',
        String(seq),
        '--url',
        url,
        '--root',
        rootPem,
        '--token',
        'security-token',
      );
      expect(run.code).toBe(EXIT.negative);
      expect(run.stderr).toMatch(
        new RegExp(`^govctl: ledger\\.redaction\\.invalid: record ${seq} event 0: `),
      );
      expect(run.stdout).toBe('');
    } finally {
      server.close();
    }
  });

  it('is refused to a caller the authority does not name as an opening reader', async () => {
    const run = await open('--token', 'gateway-token');
    expect(run.code).toBe(EXIT.negative);
    expect(run.stderr).toMatch(/policy\.denied/);
    expect(run.stdout).not.toContain('MRN-');
  });
});

describe('govctl ledger erase', () => {
  it('refuses a member that cannot be committed, or an index that is not one, before touching Redis', async () => {
    const member = await govctl(
      'ledger',
      'erase',
      '1',
      '0',
      'producer',
      '--redis',
      'redis://127.0.0.1:1',
      '--log',
      LOG,
    );
    expect(member.code).toBe(EXIT.usage);
    expect(member.stderr).toMatch(/<member> must be one of /);
    const index = await govctl(
      'ledger',
      'erase',
      '1',
      '-1',
      'data',
      '--redis',
      'redis://127.0.0.1:1',
      '--log',
      LOG,
    );
    expect(index.code).toBe(EXIT.usage);
    expect(index.stderr).toBe('govctl: <index> must be a non-negative integer\n');
  });

  it("erases one member's opening of one event; the other event and member still open", async () => {
    const erased = await erase(1, 'data');
    expect(erased.code, erased.stderr).toBe(EXIT.ok);
    expect(erased.stdout).toBe(`erased the opening of data of record ${seq} event 1\n`);
    const again = await erase(1, 'data');
    expect(again.code, again.stderr).toBe(EXIT.ok);
    expect(again.stdout).toBe(`record ${seq} event 1 has no opening of data\n`);

    const run = await open('--token', 'security-token');
    expect(run.code, run.stderr).toBe(EXIT.ok);
    expect(run.stdout.split('\n').slice(0, 7)).toEqual([
      `record ${seq}: every opening opens its commitment`,
      '  event 0 (authorization.denied)',
      '    identity   spiffe://prod.example.org/ns/ward/sa/caller-1',
      '    data       {"patient":"MRN-1"}',
      '  event 1 (authorization.denied)',
      '    identity   spiffe://prod.example.org/ns/ward/sa/caller-2',
      '    no opening (erased or never sent): data',
    ]);
    expect(run.stdout).not.toContain('MRN-2');
  });

  it('changes no record and no proof: the record still verifies in the latest checkpoint', async () => {
    const run = await govctl('--json', 'inclusion', String(seq), '--url', stack.httpUrl, '--root', rootPem);
    expect(run.code, run.stderr).toBe(EXIT.ok);
    expect(JSON.parse(run.stdout)).toMatchObject({
      verified: true,
      seq,
      events: [
        { type: 'authorization.denied', lineage: null },
        { type: 'authorization.denied', lineage: null },
      ],
    });
  });
});
