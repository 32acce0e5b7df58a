// The package's public entry points: what a third party imports by name. `execution-governance`
// is the workload client; `execution-governance/verify` is the portable verifier (core/portable.ts),
// so an auditor verifies artifacts, checkpoints and proofs without reaching into dist/ paths.
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

interface Target {
  types: string;
  default: string;
}
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  name: string;
  exports: Record<string, Target | string>;
};
const build = JSON.parse(readFileSync(new URL('../tsconfig.build.json', import.meta.url), 'utf8')) as {
  include: string[];
};
const entries = Object.entries(pkg.exports).filter(
  (entry): entry is [string, Target] => typeof entry[1] !== 'string',
);
/** `./dist/core/portable.js` → `core/portable.ts`, the source the build compiles it from. */
const sourceOf = (target: string) => target.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts');

/** What a verifier needs, by name (docs/authority.md, "Proofs"; docs/spec/ledger.md §10). */
const VERIFIER_API = [
  'decide',
  'verifyCheckpoint',
  'parseCheckpointNote',
  'verifyInclusionProof',
  'verifyConsistencyProof',
  'verifyLineageProof',
  'openCommitment',
];

describe('package exports', () => {
  it('offers the client and the portable verifier', () => {
    expect(entries.map(([name]) => name)).toEqual(['.', './verify']);
    expect(pkg.exports['./verify']).toEqual({
      types: './dist/core/portable.d.ts',
      default: './dist/core/portable.js',
    });
  });

  it.each(entries)('%s points at a source the build compiles, types beside code', (_name, target) => {
    const source = sourceOf(target.default);
    expect(existsSync(new URL(`../${source}`, import.meta.url))).toBe(true);
    expect(target.types).toBe(target.default.replace(/\.js$/, '.d.ts'));
    expect(build.include.some((dir) => source === dir || source.startsWith(`${dir}/`))).toBe(true);
  });

  it('verify offers the whole verifier API', async () => {
    const portable = (await import('../core/portable.js')) as Record<string, unknown>;
    for (const name of VERIFIER_API) expect(typeof portable[name], name).toBe('function');
    expect(typeof portable['portableCrypto']).toBe('object');
  });

  // The build is what npm publishes; CI builds before it tests (.ci/run), a fresh clone may not.
  it.skipIf(!existsSync(new URL('../dist/core/portable.js', import.meta.url)))(
    'resolves execution-governance/verify by name to the built verifier',
    async () => {
      const byName = (await import(`${pkg.name}/verify`)) as Record<string, unknown>;
      const source = (await import('../core/portable.js')) as Record<string, unknown>;
      expect(Object.keys(byName).sort()).toEqual(Object.keys(source).sort());
    },
  );
});
