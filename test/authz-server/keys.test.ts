// Start-up key material: pinned roots must be public keys, and the producer certificate must be
// a root-certified producer record for this very key and producer id.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeCrypto } from '../../core/crypto-node.js';
import { generatePrivateKey, privateKeyToPem, publicKeyToPem } from '../../core/keys.js';
import { MemoryRegistryStore } from '../../store/registry-memory.js';
import { loadProducer, loadRootKeys } from '../../authz-server/keys.js';
import { World } from './support/world.js';

const dir = mkdtempSync(join(tmpdir(), 'authz-keys-'));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const world = new World(new MemoryRegistryStore());
const rootPem = file('root.pub.pem', publicKeyToPem(world.rootKey));
const producerKeyFile = file('producer.key.pem', privateKeyToPem(world.producerKey));

function producerConfig(record: unknown, id = world.producer.id) {
  return {
    id,
    keyFile: producerKeyFile,
    certificateFile: file(`cert-${Math.random()}.json`, JSON.stringify(record)),
  };
}

describe('key material', () => {
  it('loads a pinned root and a producer whose certificate matches its key and id', () => {
    const roots = loadRootKeys([rootPem]);
    const producer = loadProducer(
      nodeCrypto,
      producerConfig(world.keyRecord(world.producerKid, world.producerKey, 'producer')),
      roots,
    );
    expect(producer).toMatchObject({ id: world.producer.id, kid: world.producerKid });
  });

  it('refuses a private key as a pinned root', () => {
    expect(() => loadRootKeys([producerKeyFile])).toThrow(/must be a public key/);
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
      /another key/,
    ],
    [
      'for role issuer',
      () => world.keyRecord(world.producerKid, world.producerKey, 'issuer'),
      /role producer/,
    ],
  ])('refuses a producer certificate %s', (_what, record, message) => {
    expect(() => loadProducer(nodeCrypto, producerConfig(record()), loadRootKeys([rootPem]))).toThrow(
      message,
    );
  });

  it('refuses a producer certificate whose subject is not producer.id', () => {
    const record = world.keyRecord(world.producerKid, world.producerKey, 'producer');
    expect(() =>
      loadProducer(nodeCrypto, producerConfig(record, 'authz-server://other'), loadRootKeys([rootPem])),
    ).toThrow(/subject/);
  });
});
