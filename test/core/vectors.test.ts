import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeCrypto, type CryptoSuite } from '../../core/index.js';
import { portableCrypto } from '../../core/portable.js';
import { CODES } from '../../core/errors.js';
import { evaluateVector, outcome, type ArtifactVector } from '../vectors/artifact-vector.js';
import { ARTIFACT_VECTOR_DIR, generateArtifactVectors } from '../vectors/generate.js';

const names = readdirSync(ARTIFACT_VECTOR_DIR)
  .filter((n) => n.endsWith('.json'))
  .sort();
const vectors = names.map((name) => ({
  name,
  vector: JSON.parse(readFileSync(join(ARTIFACT_VECTOR_DIR, name), 'utf8')) as ArtifactVector,
}));

/** node:crypto verifying on the event loop (nodeCrypto itself verifies artifacts off it, in decide). */
const nodeCryptoSync: CryptoSuite = {
  name: 'node:crypto (synchronous)',
  sha3_512: nodeCrypto.sha3_512,
  blake2b_512: nodeCrypto.blake2b_512,
  sha256: nodeCrypto.sha256,
  verifyEd25519: nodeCrypto.verifyEd25519,
};

describe('artifact vectors', () => {
  for (const suite of [nodeCrypto, nodeCryptoSync, portableCrypto]) {
    describe(suite.name, () => {
      it.each(vectors)('$name', async ({ vector }) => {
        const decision = await evaluateVector(vector, suite);
        expect(outcome(decision)).toBe(vector.want);
      });
    });
  }

  it('cover allow and every artifact reason code', () => {
    const wants = new Set(vectors.map((v) => v.vector.want));
    const artifactReasons = [
      'artifact.missing',
      'artifact.malformed',
      'artifact.expired',
      'artifact.signature.invalid',
      'artifact.revoked',
      'policy.mismatch',
      'environment.mismatch',
      'identity.mismatch',
      'artifact.replayed',
      'issuer.unavailable',
    ] as const;
    expect(wants.has('allow')).toBe(true);
    for (const reason of artifactReasons) {
      expect(Object.hasOwn(CODES, reason)).toBe(true);
      expect(wants.has(reason), reason).toBe(true);
    }
  });

  it('are exactly what the committed generator produces (no diff)', async () => {
    const generated = await generateArtifactVectors();
    expect([...generated.keys()].sort()).toEqual(names);
    for (const { name } of vectors) {
      expect(readFileSync(join(ARTIFACT_VECTOR_DIR, name), 'utf8'), name).toBe(generated.get(name));
    }
  });
});
