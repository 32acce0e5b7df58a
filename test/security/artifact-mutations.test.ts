// Hostile input against the decision function: generated mutations of a valid artifact must
// never be allowed, never throw, and always carry a named reason. The valid original is
// allowed under the same context, so every denial here is caused by the mutation itself.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  base64urlDecode,
  base64urlEncode,
  canonicalize,
  decide,
  DENIAL_REASONS,
  encodeArtifact,
  keySigner,
  nodeCrypto,
  privateKeyFromSeed,
  rawPublicKey,
  signArtifact,
  utf8Encode,
  type DecisionContext,
  type DecisionInput,
} from '../../core/index.js';
import { basePayload } from '../vectors/generate.js';

const key = privateKeyFromSeed(new Uint8Array(32).fill(7));
const signer = keySigner('key:fuzz', key);
const bounded = await signArtifact(
  { ...basePayload, use: { mode: 'bounded', nonce: basePayload.use.nonce, max: 5 } },
  signer,
  nodeCrypto,
);
const original = encodeArtifact(bounded);
const originalText = canonicalize(bounded);

const input: DecisionInput = {
  header: original,
  identity: basePayload.sub,
  operation: {
    name: 'model.invoke',
    params: { model: 'clinical-summary-v4' },
    scope: ['phi.read'],
    policy: basePayload.pol.ref,
  },
  environment: basePayload.env,
  now: Date.parse('2026-05-12T17:02:00Z') / 1000,
};

const context: DecisionContext = {
  suite: nodeCrypto,
  keys: (kid) => (kid === 'key:fuzz' ? { publicKey: rawPublicKey(key), issuer: basePayload.iss } : undefined),
  revocations: { isArtifactRevoked: () => false, isKeyRevoked: () => false },
  policies: (ref, hash) => ref === basePayload.pol.ref && hash === basePayload.pol.hash,
  consume: () => true,
  skewSeconds: 0,
};

const reasons = new Set<string>(DENIAL_REASONS);
/** Total generated cases across the properties below; the closing note of issue #9 reports it. */
const RUNS = { bytes: 30_000, text: 20_000, fields: 30_000, structure: 20_000 };

async function expectDenied(header: string): Promise<void> {
  if (header === original) return; // an identity mutation is the valid artifact itself
  const decision = await decide({ ...input, header }, context);
  expect(decision.allow).toBe(false);
  if (!decision.allow) expect(reasons.has(decision.reason)).toBe(true);
}

const bytes = base64urlDecode(original)!;

/** Paths of every leaf of the artifact object, so each field gets mutated. */
function leafPaths(value: unknown, prefix: string[] = []): string[][] {
  if (value === null || typeof value !== 'object') return [prefix];
  return Object.entries(value).flatMap(([k, v]) => leafPaths(v, [...prefix, k]));
}
const paths = leafPaths(bounded);

function setPath(root: Record<string, unknown>, path: string[], value: unknown): void {
  let node = root;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string, unknown>;
  node[path[path.length - 1]!] = value;
}

function getPath(root: Record<string, unknown>, path: string[]): unknown {
  return path.reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], root);
}

const edgeValues = fc.oneof(
  fc.constantFrom(
    0,
    -0,
    1,
    -1,
    2 ** 53 - 1,
    2 ** 53,
    -(2 ** 53),
    1e308,
    5e-324,
    0.5,
    null,
    true,
    false,
    '',
    [],
    {},
  ),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(
    'ѕрiffe://cluster.local/ns/inference/sa/inference-gateway',
    'model.invоke',
    'none',
    'ed25519\u0000',
  ),
  fc.string({ minLength: 300, maxLength: 9000 }),
  fc
    .integer({ min: 1, max: 60 })
    .map((depth) => JSON.parse('['.repeat(depth) + ']'.repeat(depth)) as unknown),
  fc.jsonValue({ maxDepth: 4 }),
);

describe('mutated artifacts are never allowed', () => {
  it('the unmutated artifact is allowed (the context is valid)', async () => {
    expect((await decide(input, context)).allow).toBe(true);
  });

  it(`bit flips, truncation and garbage in the decoded bytes (${RUNS.bytes} cases)`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.record({ kind: fc.constant('flip'), at: fc.nat(bytes.length - 1), bit: fc.nat(7) }),
          fc.record({ kind: fc.constant('truncate'), at: fc.nat(bytes.length - 1), bit: fc.constant(0) }),
          fc.record({ kind: fc.constant('append'), at: fc.nat(255), bit: fc.nat(16) }),
        ),
        async ({ kind, at, bit }) => {
          let mutated: Uint8Array;
          if (kind === 'flip') {
            mutated = bytes.slice();
            mutated[at]! ^= 1 << bit;
          } else if (kind === 'truncate') {
            mutated = bytes.slice(0, at);
          } else {
            mutated = new Uint8Array([...bytes, ...new Uint8Array(bit + 1).fill(at)]);
          }
          await expectDenied(base64urlEncode(mutated));
        },
      ),
      { numRuns: RUNS.bytes },
    );
  });

  it(`character edits of the header text (${RUNS.text} cases)`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat(original.length - 1),
        fc.string({ unit: 'binary', maxLength: 4 }),
        async (at, insert) => {
          await expectDenied(original.slice(0, at) + insert + original.slice(at + 1));
        },
      ),
      { numRuns: RUNS.text },
    );
  });

  it(`every field replaced by edge values: huge, nested, confusable, numeric edges (${RUNS.fields} cases)`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...paths), edgeValues, async (path, value) => {
        const copy = structuredClone(bounded) as unknown as Record<string, unknown>;
        setPath(copy, path, value);
        let header: string;
        try {
          header = base64urlEncode(utf8Encode(canonicalize(copy)));
        } catch {
          header = base64urlEncode(utf8Encode(JSON.stringify(copy) ?? ''));
        }
        await expectDenied(header);
      }),
      { numRuns: RUNS.fields },
    );
  });

  it(`field swaps, deletions, extra and duplicate keys (${RUNS.structure} cases)`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...paths),
        fc.constantFrom(...paths),
        fc.constantFrom('swap', 'delete', 'extra', 'duplicate'),
        async (a, b, kind) => {
          const copy = structuredClone(bounded) as unknown as Record<string, unknown>;
          let text: string;
          if (kind === 'swap') {
            const va = getPath(copy, a);
            setPath(copy, a, getPath(copy, b));
            setPath(copy, b, va);
            text = canonicalize(copy);
          } else if (kind === 'delete') {
            const parent = a.length > 1 ? (getPath(copy, a.slice(0, -1)) as Record<string, unknown>) : copy;
            delete parent[a[a.length - 1]!];
            text = canonicalize(copy);
          } else if (kind === 'extra') {
            setPath(copy, [...a.slice(0, -1), 'zz_' + b.join('_')], 1);
            text = canonicalize(copy);
          } else {
            const name = JSON.stringify(a[a.length - 1]);
            text = originalText.replace(`${name}:`, `${name}:${JSON.stringify(getPath(copy, b))},${name}:`);
          }
          await expectDenied(base64urlEncode(utf8Encode(text)));
        },
      ),
      { numRuns: RUNS.structure },
    );
  });

  it('reports the total number of generated mutations', () => {
    const total = Object.values(RUNS).reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThanOrEqual(100_000);
  });
});
