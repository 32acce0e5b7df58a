// Keeps docs/spec/artifact.md and the code identical where the spec quotes the code: the worked
// example (§16) must be exactly what core/ computes from test/vectors/artifact/allow-single.json,
// the reason-code table (§12.5) must list exactly the codes of core/errors.ts, the limits table
// (§7.8) the constants of core/artifact.ts and core/canonical.ts, and the vector index (§15.5)
// exactly the files in test/vectors/artifact/, each under its outcome. Any drift fails here.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  artifactIdFromDigest,
  base64urlDecode,
  base64urlEncode,
  canonicalize,
  CODES,
  contentHash,
  crockford32Encode,
  decodeArtifact,
  hexDecode,
  hexEncode,
  keyFromJwk,
  keyToJwk,
  LIMITS,
  lineageOf,
  MAX_JSON_DEPTH,
  nodeCrypto,
  payloadOf,
  portableCrypto,
  privateKeyFromSeed,
  publicKeyFromRaw,
  publicKeyToPem,
  rawPublicKey,
  signSync,
  utf8Decode,
  utf8Encode,
  type Code,
  type CryptoSuite,
} from '../../core/index.js';
import { PROJECT_ROOT } from '../support/shared.js';
import { evaluateVector, type ArtifactVector } from '../vectors/artifact-vector.js';

const SPEC_PATH = join(PROJECT_ROOT, 'docs', 'spec', 'artifact.md');
const VECTOR_DIR = join(PROJECT_ROOT, 'test', 'vectors', 'artifact');
const EXAMPLE_VECTOR = 'allow-single';

const spec = readFileSync(SPEC_PATH, 'utf8').replaceAll('\r\n', '\n');

// ---------------------------------------------------------------------------------------------
// Minimal Markdown reading: enough for the spec's own structure, strict about what it expects.

interface Block {
  lang: string;
  content: string;
}

/** Fenced blocks whose info string is `<lang> artifact-example:<label>`, by label. */
function exampleBlocks(markdown: string): { blocks: Map<string, Block>; duplicates: string[] } {
  const blocks = new Map<string, Block>();
  const duplicates: string[] = [];
  const fence = /^```([\w-]+) artifact-example:([a-z0-9-]+)[ \t]*\n([\s\S]*?)\n```[ \t]*$/gm;
  for (const match of markdown.matchAll(fence)) {
    const [, lang, label, content] = match as unknown as [string, string, string, string];
    if (blocks.has(label)) duplicates.push(label);
    blocks.set(label, { lang, content });
  }
  return { blocks, duplicates };
}

/** The lines of the section whose heading contains `title`, up to the next heading of its level or above. */
function section(markdown: string, title: string): string[] {
  const lines = markdown.split('\n');
  let inFence = false;
  let level = 0;
  const out: string[] = [];
  for (const line of lines) {
    if (line.startsWith('```')) inFence = !inFence;
    const heading = inFence ? null : /^(#{1,6}) (.*)$/.exec(line);
    if (level > 0) {
      if (heading && heading[1]!.length <= level) break;
      out.push(line);
    } else if (heading && heading[2]!.includes(title)) {
      level = heading[1]!.length;
    }
  }
  if (level === 0) throw new Error(`docs/spec/artifact.md has no section "${title}"`);
  return out;
}

/** Body rows of the Markdown tables in `lines`, as trimmed cells. */
function tableRows(lines: string[]): string[][] {
  const rows: string[][] = [];
  for (const line of lines.map((l) => l.trimEnd())) {
    if (!line.startsWith('|')) continue;
    // The delimiter row follows the header row: drop the header.
    if (/^\|[\s:|-]+\|$/.test(line)) {
      rows.pop();
      continue;
    }
    rows.push(
      line
        .slice(1, line.endsWith('|') ? -1 : undefined)
        .split('|')
        .map((cell) => cell.trim()),
    );
  }
  return rows;
}

const unquote = (cell: string) => cell.replace(/^`(.*)`$/, '$1');

// ---------------------------------------------------------------------------------------------
// What the code computes for the example vector.

function readVector(name: string): ArtifactVector {
  return JSON.parse(readFileSync(join(VECTOR_DIR, `${name}.json`), 'utf8')) as ArtifactVector;
}

const vector = readVector(EXAMPLE_VECTOR);
const header = vector.artifact!;
const decoded = decodeArtifact(header);
const { artifact } = decoded;
const artifactText = utf8Decode(base64urlDecode(header)!)!;
const payloadText = utf8Decode(decoded.payloadBytes)!;
const digest = nodeCrypto.sha3_512(decoded.payloadBytes);
const kid = artifact.sig.kid;
const publicKeyB64 = vector.keys[kid]!;
const publicKey = base64urlDecode(publicKeyB64)!;

/** The worked explanation of the first Crockford group (5 bytes → 8 symbols). */
function firstGroup(bytes: Uint8Array): string {
  const five = [...bytes.subarray(0, 5)];
  const bits = five.map((b) => b.toString(2).padStart(8, '0')).join('');
  const groups = bits.match(/.{5}/g)!;
  const values = groups.map((g) => parseInt(g, 2));
  return [
    `bytes:   ${five.map((b) => b.toString(16).padStart(2, '0')).join(' ')}`,
    `bits:    ${bits.match(/.{8}/g)!.join(' ')}`,
    `groups:  ${groups.join(' ')}`,
    `values:  ${values.join(' ')}`,
    `symbols: ${crockford32Encode(Uint8Array.from(five)).split('').join(' ')}`,
  ].join('\n');
}

const EXPECTED_BLOCKS = [
  'artifact',
  'chash',
  'decoded',
  'header',
  'id',
  'id-first-group',
  'id-prefix',
  'kid',
  'lengths',
  'lineage',
  'payload',
  'public-key',
  'public-key-hex',
  'public-key-jwk',
  'public-key-pem',
  'seed',
  'sha3',
  'signature',
  'signature-hex',
];

const { blocks, duplicates } = exampleBlocks(spec);

function block(label: string): string {
  const found = blocks.get(label);
  if (!found) throw new Error(`docs/spec/artifact.md has no block artifact-example:${label}`);
  return found.content;
}

describe(`docs/spec/artifact.md worked example (§16) = ${EXAMPLE_VECTOR}.json`, () => {
  it('has every example block exactly once, and no other', () => {
    expect(duplicates).toEqual([]);
    expect([...blocks.keys()].sort()).toEqual(EXPECTED_BLOCKS);
  });

  it('header is the vector header and decodes to the artifact bytes', () => {
    expect(block('header')).toBe(header);
    expect(base64urlEncode(utf8Encode(block('artifact')))).toBe(header);
  });

  it('artifact bytes are the canonical encoding of the decoded artifact', () => {
    expect(block('artifact')).toBe(artifactText);
    expect(block('artifact')).toBe(canonicalize(artifact));
  });

  it('pretty-printed artifact has the same content, in canonical member order', () => {
    const shown = JSON.parse(block('decoded')) as unknown;
    expect(shown).toEqual(JSON.parse(artifactText));
    // JSON.stringify keeps the shown member order; equal text means the order is canonical too.
    expect(JSON.stringify(shown)).toBe(artifactText);
  });

  it('payload bytes are the canonical payload, exactly what is hashed and signed', () => {
    expect(block('payload')).toBe(payloadText);
    expect(block('payload')).toBe(canonicalize(payloadOf(artifact)));
    const {
      id: _id,
      chash: _chash,
      sig: _sig,
      ...rest
    } = JSON.parse(artifactText) as Record<string, unknown>;
    expect(block('payload')).toBe(canonicalize(rest));
  });

  it('lengths are the byte and character counts', () => {
    expect(block('lengths')).toBe(
      [
        `payload bytes: ${decoded.payloadBytes.length}`,
        `artifact bytes: ${utf8Encode(artifactText).length}`,
        `header characters: ${header.length}`,
      ].join('\n'),
    );
  });

  it.each([nodeCrypto, portableCrypto])('SHA3-512 of the payload ($name)', (suite: CryptoSuite) => {
    expect(block('sha3')).toBe(hexEncode(suite.sha3_512(utf8Encode(block('payload')))));
  });

  it('chash is "sha3-512:" + the digest, and the artifact carries it', () => {
    expect(block('chash')).toBe(`sha3-512:${block('sha3')}`);
    expect(block('chash')).toBe(contentHash(digest));
    expect(block('chash')).toBe(artifact.chash);
  });

  it('id is "auth_" + Crockford base32 of the first 20 digest bytes', () => {
    expect(block('id-prefix')).toBe(hexEncode(digest.subarray(0, 20)));
    expect(block('id-prefix')).toBe(block('sha3').slice(0, 40));
    expect(block('id-first-group')).toBe(firstGroup(digest));
    expect(block('id')).toBe(`auth_${crockford32Encode(hexDecode(block('id-prefix'))!)}`);
    expect(block('id')).toBe(artifactIdFromDigest(digest));
    expect(block('id')).toBe(artifact.id);
  });

  it('lineage id shares the id suffix', () => {
    expect(block('lineage')).toBe(lineageOf(artifact.id));
    expect(block('lineage')).toBe(`lineage://op/${block('id').slice('auth_'.length)}`);
  });

  it('kid and public key are those of the vector', () => {
    expect(block('kid')).toBe(kid);
    expect(block('public-key')).toBe(publicKeyB64);
    expect(block('public-key-hex')).toBe(hexEncode(publicKey));
  });

  it('public key PEM and JWK are the forms core/keys.ts writes and reads', () => {
    const key = publicKeyFromRaw(publicKey);
    expect(block('public-key-pem')).toBe(publicKeyToPem(key).trimEnd());
    const jwk = JSON.parse(block('public-key-jwk')) as unknown;
    expect(jwk).toEqual(keyToJwk(key, kid));
    expect(rawPublicKey(keyFromJwk(jwk))).toEqual(publicKey);
  });

  it('signature is sig.val and its 64 bytes', () => {
    expect(block('signature')).toBe(artifact.sig.val);
    expect(block('signature-hex')).toBe(hexEncode(decoded.signature));
    expect(hexDecode(block('signature-hex'))).toEqual(base64urlDecode(block('signature')));
    expect(decoded.signature.length).toBe(64);
  });

  it.each([nodeCrypto, portableCrypto])(
    'signature verifies over the payload ($name)',
    (suite: CryptoSuite) => {
      const payload = utf8Encode(block('payload'));
      const signature = base64urlDecode(block('signature'))!;
      const key = base64urlDecode(block('public-key'))!;
      expect(suite.verifyEd25519(key, payload, signature)).toBe(true);
      const tampered = utf8Encode(block('payload').replace('"v":"1"', '"v":"2"'));
      expect(suite.verifyEd25519(key, tampered, signature)).toBe(false);
    },
  );

  it('seed derives the public key and signs the payload to exactly the signature', () => {
    const privateKey = privateKeyFromSeed(hexDecode(block('seed'))!);
    expect(hexEncode(rawPublicKey(privateKey))).toBe(block('public-key-hex'));
    expect(base64urlEncode(signSync(privateKey, utf8Encode(block('payload'))))).toBe(block('signature'));
  });

  it.each([nodeCrypto, portableCrypto])('decision is ALLOW with the lineage shown ($name)', async (suite) => {
    expect(vector.want).toBe('allow');
    const decision = await evaluateVector(vector, suite);
    expect(decision.allow).toBe(true);
    if (decision.allow) expect(decision.lineage).toBe(block('lineage'));
  });
});

// ---------------------------------------------------------------------------------------------

describe('docs/spec/artifact.md reason codes (§12.5) = core/errors.ts', () => {
  const rows = tableRows(section(spec, 'Reason codes'));
  const table = new Map(rows.map((cells) => [unquote(cells[0]!), cells]));

  it('lists every code exactly once, and no other', () => {
    expect(rows.length).toBe(table.size);
    expect([...table.keys()].sort()).toEqual(Object.keys(CODES).sort());
  });

  it.each(Object.keys(CODES) as Code[])('%s has the kind and summary of core/errors.ts', (code) => {
    const cells = table.get(code);
    expect(cells, code).toBeDefined();
    const [, kind, source, summary] = cells!;
    expect(kind).toBe(CODES[code].kind);
    expect(summary).toBe(CODES[code].summary);
    const sources = source!.split(',').map((s) => s.trim());
    for (const s of sources) expect(['decision', 'enforcement point', 'authority', 'verifier']).toContain(s);
    if (CODES[code].kind === 'failure') expect(sources).toEqual(['verifier']);
  });

  it('marks every outcome of the vectors as returned by the decision', () => {
    const wants = new Set(
      readdirSync(VECTOR_DIR)
        .filter((n) => n.endsWith('.json'))
        .map((n) => readVector(n.slice(0, -'.json'.length)).want),
    );
    wants.delete('allow');
    for (const want of wants) expect(table.get(want)?.[2]?.split(', '), want).toContain('decision');
  });
});

describe('docs/spec/artifact.md limits (§7.8) = core/artifact.ts and core/canonical.ts', () => {
  const rows = tableRows(section(spec, 'Limits'));
  const constants: Record<string, number> = {
    ...Object.fromEntries(Object.entries(LIMITS).map(([k, v]) => [`LIMITS.${k}`, v])),
    MAX_JSON_DEPTH,
  };
  const shown = new Map(
    rows
      .filter((cells) => /^`[A-Za-z_.]+`$/.test(cells[2] ?? ''))
      .map((cells) => [unquote(cells[2]!), Number(/^[\d,]+/.exec(cells[1]!)?.[0].replaceAll(',', ''))]),
  );

  it('shows every constant', () => {
    expect([...shown.keys()].sort()).toEqual(Object.keys(constants).sort());
  });

  it.each(Object.keys(constants))('%s has the value of the code', (name) => {
    expect(shown.get(name)).toBe(constants[name]);
  });
});

// ---------------------------------------------------------------------------------------------

describe('docs/spec/artifact.md vector index (§15.5) = test/vectors/artifact/', () => {
  const files = readdirSync(VECTOR_DIR)
    .filter((n) => n.endsWith('.json'))
    .map((n) => n.slice(0, -'.json'.length))
    .sort();
  const groups = section(spec, 'Vector index')
    .filter((line) => line.startsWith('- '))
    .map((line) => {
      const match = /^- `([a-z.]+)` \((\d+)\): (.*)$/.exec(line);
      if (!match) throw new Error(`unreadable index line: ${line}`);
      const names = match[3]!.split(', ').map((n) => {
        if (!/^`[a-z0-9-]+`$/.test(n)) throw new Error(`unreadable vector name ${n} in: ${line}`);
        return unquote(n);
      });
      return { want: match[1]!, count: Number(match[2]), names };
    });
  const listed = groups.flatMap((g) => g.names);

  it('lists every vector file exactly once, and no other', () => {
    expect(new Set(listed).size).toBe(listed.length);
    expect([...listed].sort()).toEqual(files);
  });

  it('lists each vector under its outcome, with the right counts', () => {
    expect(new Set(groups.map((g) => g.want)).size).toBe(groups.length);
    for (const { want, count, names } of groups) {
      expect(names.length, want).toBe(count);
      for (const name of names) expect(readVector(name).want, name).toBe(want);
    }
  });

  it('names only existing vectors anywhere in the text', () => {
    const prefixes =
      'allow|missing|malformed|signature|expired|identity|policy|environment|revoked|replayed|issuer|order';
    const mentioned = new Set(
      [...spec.matchAll(new RegExp(`\`((?:${prefixes})-[a-z0-9-]+)\``, 'g'))].map((m) => m[1]!),
    );
    expect(mentioned.size).toBeGreaterThanOrEqual(listed.length);
    for (const name of mentioned) expect(files, name).toContain(name);
  });
});
