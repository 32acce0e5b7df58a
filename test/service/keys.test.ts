// Start-up key material as every service loads it (service/keys.ts): pinned roots must be public
// keys, and a key's certificate must be a root-certified record for this very key, role and subject.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeCrypto } from '../../core/crypto-node.js';
import { generatePrivateKey, privateKeyToPem, publicKeyToPem } from '../../core/keys.js';
import { MemoryRegistryStore } from '../../store/registry-memory.js';
import { loadHeldKey, loadPinnedRoots, readRoots } from '../../service/keys.js';
import { World } from '../authz-server/support/world.js';

const dir = mkdtempSync(join(tmpdir(), 'authz-keys-'));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const world = new World(new MemoryRegistryStore());
const rootPem = file('root.pub.pem', publicKeyToPem(world.rootKey));
const producerKeyFile = file('producer.key.pem', privateKeyToPem(world.producerKey));

function loadProducer(record: unknown, subject = world.producer.id) {
  const files = {
    keyFile: producerKeyFile,
    certificateFile: file(`cert-${Math.random()}.json`, JSON.stringify(record)),
  };
  const expect = { role: 'producer' as const, subject, roots: readRoots([rootPem]), now: Date.now() / 1000 };
  return loadHeldKey(nodeCrypto, files, expect);
}

describe('key material', () => {
  it('loads a pinned root and a producer whose certificate matches its key and id', () => {
    const producer = loadProducer(world.keyRecord(world.producerKid, world.producerKey, 'producer'));
    expect(producer.key).toMatchObject({
      subject: world.producer.id,
      kid: world.producerKid,
      role: 'producer',
    });
  });

  it('names trust.rootKeys in config.invalid when a pinned root cannot be read, in every service', () => {
    const missing = join(dir, 'absent.pem');
    expect(() => loadPinnedRoots([missing])).toThrow(
      expect.objectContaining({
        code: 'config.invalid',
        message: expect.stringMatching(/^trust\.rootKeys: .*absent\.pem/),
      }),
    );
  });

  it('refuses a private key as a pinned root', () => {
    expect(() => readRoots([producerKeyFile])).toThrow(/must be a public key/);
  });

  it.each([
    [
      'not certified by a pinned root',
      () => world.keyRecord(world.producerKid, world.producerKey, 'producer', generatePrivateKey()),
      /not certified/,
    ],
    [
      'for another key',
      () => world.keyRecord(world.producerKid, generatePrivateKey(), 'producer'),
      /another public key/,
    ],
    [
      'for role issuer',
      () => world.keyRecord(world.producerKid, world.producerKey, 'issuer'),
      /role producer/,
    ],
  ])('refuses a producer certificate %s', (_what, record, message) => {
    expect(() => loadProducer(record())).toThrow(message);
  });

  it('refuses a producer certificate whose subject is not producer.id', () => {
    const record = world.keyRecord(world.producerKid, world.producerKey, 'producer');
    expect(() => loadProducer(record, 'authz-server://other')).toThrow(/subject/);
  });
});
