// The LedgerArchive contract (store/archive-types.ts), run against every backend by
// test/store/archive.test.ts. Objects are opaque bytes to the archive, so any bytes do.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isGovernanceError, type Code } from '../../core/errors.js';
import { MAX_OBJECT_BYTES, MAX_PATH_LENGTH, type LedgerArchive } from '../../store/archive-types.js';

export interface ArchiveFixture {
  archive: LedgerArchive;
  /** A second handle on the same storage, as another process would have. */
  other(): LedgerArchive;
  /** A handle on storage that cannot be reached. */
  unreachable(): LedgerArchive;
  /** Closes every handle and removes what the tests wrote. */
  cleanup(): Promise<void>;
}

/** What a backend guarantees beyond the interface: true, or why not (shown in the test's name). */
export interface ArchiveTraits {
  /** Two handles racing putImmutable at one path: exactly one wins. */
  conditionalWrites: true | string;
  /** list() orders a directory's '-' and '.' siblings by bytes too. */
  keyOrder: true | string;
  /** A reader sees the old or the new bytes while an object is replaced. */
  atomicReplace: true | string;
}

export async function expectCode(promise: Promise<unknown>, code: Code): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isGovernanceError(error, code), String(error)).toBe(true);
}

const bytes = (...values: number[]) => new Uint8Array(values);
const filled = (length: number, value: number) => new Uint8Array(length).fill(value);
const ALL_BYTE_VALUES = Uint8Array.from({ length: 256 }, (_, i) => i);
/** Tells a trait's test that cannot run on this backend by the reason in its name. */
const unless = (trait: true | string) => (trait === true ? '' : ` (not here: ${trait})`);

/** Paths shaped as the ledger's, given in no particular order. */
const LEDGER_PATHS = [
  'tile/0/x001/234',
  'checkpoints/1234',
  'tile/entries/067.p/12',
  'tile/0/001',
  'openings/12/3/identity',
  'tile/0/x001/234.p/12',
  'checkpoint',
  'tile/entries/067',
  'tile/1/000.p/3',
  'checkpoints/999',
  'openings/12/30/identity',
];

export const INVALID_PATHS = [
  '',
  '../x',
  '/abs',
  'a//b',
  'a/./b',
  'a/..',
  'a/',
  '.',
  'é',
  'a b',
  'a\\b',
  'nul\0',
  'x'.repeat(MAX_PATH_LENGTH + 88),
];

export function archiveContract(
  name: string,
  open: () => Promise<ArchiveFixture>,
  traits: ArchiveTraits,
): void {
  describe(`LedgerArchive contract: ${name}`, () => {
    let fixture: ArchiveFixture;
    let archive: LedgerArchive;
    beforeEach(async () => {
      fixture = await open();
      archive = fixture.archive;
    });
    afterEach(async () => {
      await fixture.cleanup();
    });

    async function listAll(prefix: string): Promise<string[]> {
      return archive.list(prefix, { limit: Infinity });
    }

    it('round-trips binary bytes (all 256 byte values), mutable and immutable', async () => {
      await archive.put('tile/0/000.p/8', ALL_BYTE_VALUES);
      await archive.putImmutable('tile/0/000', ALL_BYTE_VALUES.slice().reverse());
      expect(await archive.get('tile/0/000.p/8')).toEqual(ALL_BYTE_VALUES);
      expect(await archive.get('tile/0/000')).toEqual(ALL_BYTE_VALUES.slice().reverse());
      expect(await fixture.other().get('tile/0/000')).toEqual(ALL_BYTE_VALUES.slice().reverse());
    });

    it('reads a missing path as undefined', async () => {
      await archive.put('checkpoint', bytes(1));
      expect(await archive.get('checkpoints/1')).toBeUndefined();
      expect(await archive.get('tile/9/x999/999')).toBeUndefined();
      expect(await archive.get('checkpoint.p')).toBeUndefined();
    });

    it('accepts an immutable object written again with the same bytes', async () => {
      await archive.putImmutable('checkpoints/7', bytes(7, 7));
      await archive.putImmutable('checkpoints/7', bytes(7, 7));
      await fixture.other().putImmutable('checkpoints/7', bytes(7, 7));
      expect(await archive.get('checkpoints/7')).toEqual(bytes(7, 7));
      expect(await listAll('')).toEqual(['checkpoints/7']);
    });

    it('refuses other bytes at an immutable path with ledger.archive.conflict, keeping the first', async () => {
      await archive.putImmutable('tile/entries/000', bytes(1, 2, 3));
      await expectCode(archive.putImmutable('tile/entries/000', bytes(1, 2, 4)), 'ledger.archive.conflict');
      await expectCode(archive.putImmutable('tile/entries/000', bytes(1, 2)), 'ledger.archive.conflict');
      await expectCode(archive.putImmutable('tile/entries/000', bytes()), 'ledger.archive.conflict');
      await expectCode(fixture.other().putImmutable('tile/entries/000', bytes(9)), 'ledger.archive.conflict');
      expect(await archive.get('tile/entries/000')).toEqual(bytes(1, 2, 3));
    });

    it('replaces a mutable object, with longer and then shorter bytes', async () => {
      await archive.put('checkpoint', bytes(1, 2, 3));
      await archive.put('checkpoint', bytes(4, 5, 6, 7, 8));
      expect(await archive.get('checkpoint')).toEqual(bytes(4, 5, 6, 7, 8));
      await archive.put('checkpoint', bytes(9));
      expect(await archive.get('checkpoint')).toEqual(bytes(9));
      expect(await listAll('')).toEqual(['checkpoint']);
    });

    it('deletes an object: true, then false, and it is gone', async () => {
      await archive.put('openings/12/3/identity', bytes(1));
      await archive.put('openings/12/3/runtime', bytes(2));
      expect(await archive.delete('openings/12/3/identity')).toBe(true);
      expect(await archive.delete('openings/12/3/identity')).toBe(false);
      expect(await fixture.other().delete('openings/12/3/identity')).toBe(false);
      expect(await archive.delete('openings/99/0/identity')).toBe(false);
      expect(await archive.get('openings/12/3/identity')).toBeUndefined();
      expect(await listAll('openings/')).toEqual(['openings/12/3/runtime']);
    });

    it('lists ledger-shaped paths in byte order across nested directories, by prefix', async () => {
      for (const path of LEDGER_PATHS) await archive.put(path, bytes(path.length));
      const sorted = [...LEDGER_PATHS].sort();
      expect(await listAll('')).toEqual(sorted);
      expect(await listAll('tile/')).toEqual(sorted.filter((p) => p.startsWith('tile/')));
      expect(await listAll('tile/0/x0')).toEqual(['tile/0/x001/234', 'tile/0/x001/234.p/12']);
      expect(await listAll('tile/entries/067')).toEqual(['tile/entries/067', 'tile/entries/067.p/12']);
      expect(await listAll('checkpoint')).toEqual(['checkpoint', 'checkpoints/1234', 'checkpoints/999']);
      expect(await listAll('openings/12/3/')).toEqual(['openings/12/3/identity']);
      expect(await listAll('tile/7/')).toEqual([]);
      expect(await listAll('nothing')).toEqual([]);
    });

    it('pages a list with startAfter and limit', async () => {
      for (const path of LEDGER_PATHS) await archive.put(path, bytes(1));
      const sorted = [...LEDGER_PATHS].sort();
      expect(await archive.list('', { limit: 3 })).toEqual(sorted.slice(0, 3));
      expect(await archive.list('', { limit: 0 })).toEqual([]);
      expect(await archive.list('', { startAfter: sorted[4]! })).toEqual(sorted.slice(5));
      // A startAfter that is no object: a directory's name, or between two paths.
      expect(await archive.list('', { startAfter: 'tile/0' })).toEqual(sorted.filter((p) => p > 'tile/0'));
      expect(await archive.list('tile/', { startAfter: 'tile/0/x001/234' })).toEqual(
        sorted.filter((p) => p.startsWith('tile/') && p > 'tile/0/x001/234'),
      );
      expect(await archive.list('tile/', { startAfter: 'a' })).toEqual(
        sorted.filter((p) => p.startsWith('tile/')),
      );
      expect(await archive.list('', { startAfter: 'zzz' })).toEqual([]);
      const pages: string[] = [];
      for (let page = await archive.list('', { limit: 2 }); page.length > 0;) {
        pages.push(...page);
        page = await archive.list('', { limit: 2, startAfter: page.at(-1)! });
      }
      expect(pages).toEqual(sorted);
    });

    // '-' and '.' sort before '/', and '0' after it: a directory's entries are not sorted by name.
    it(`lists a directory and its '-' and '.' siblings in byte order${unless(traits.keyOrder)}`, async () => {
      const paths = ['a0', 'a/b', 'a.b', 'a_', 'a-b', 'a/c/d', 'a.b.c/d'];
      for (const path of paths) await archive.put(path, bytes(1));
      const listed = await listAll('');
      if (traits.keyOrder === true) expect(listed).toEqual([...paths].sort());
      // The same paths, once each, whatever their order.
      else expect([...listed].sort()).toEqual([...paths].sort());
    });

    it('refuses invalid paths and prefixes with ledger.archive.path, before any I/O', async () => {
      const unreachable = fixture.unreachable();
      for (const target of [archive, unreachable]) {
        for (const path of INVALID_PATHS) {
          await expectCode(target.put(path, bytes(1)), 'ledger.archive.path');
          await expectCode(target.putImmutable(path, bytes(1)), 'ledger.archive.path');
          await expectCode(target.get(path), 'ledger.archive.path');
          await expectCode(target.delete(path), 'ledger.archive.path');
        }
        for (const prefix of ['/abs', '../', 'a//', 'a/./', 'a/../b/', 'é', 'a/é']) {
          await expectCode(target.list(prefix), 'ledger.archive.path');
        }
      }
      expect(await listAll('')).toEqual([]);
    });

    it('lets 20 concurrent writes of the same immutable bytes all succeed, as one object', async () => {
      const tile = filled(8192, 0x5a);
      await Promise.all(Array.from({ length: 20 }, () => archive.putImmutable('tile/0/x001/000', tile)));
      expect(await archive.get('tile/0/x001/000')).toEqual(tile);
      expect(await listAll('')).toEqual(['tile/0/x001/000']);
    });

    it('lets exactly one of 20 concurrent immutable writes of different bytes win', async () => {
      const candidates = Array.from({ length: 20 }, (_, i) => filled(4096 + i, i));
      const results = await Promise.allSettled(
        candidates.map((candidate) => archive.putImmutable('tile/entries/x002/001', candidate)),
      );
      const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      expect(winners).toHaveLength(1);
      for (const r of results)
        if (r.status === 'rejected')
          expect(isGovernanceError(r.reason, 'ledger.archive.conflict')).toBe(true);
      expect(await archive.get('tile/entries/x002/001')).toEqual(candidates[winners[0]!]);
    });

    it.skipIf(traits.conditionalWrites !== true)(
      `lets exactly one of several handles racing different immutable bytes win${unless(traits.conditionalWrites)}`,
      async () => {
        const handles = Array.from({ length: 4 }, () => fixture.other());
        for (let round = 0; round < 5; round++) {
          const path = `checkpoints/${round}`;
          const results = await Promise.allSettled(
            handles.map((h, i) => h.putImmutable(path, filled(1000, i))),
          );
          const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
          expect(winners).toHaveLength(1);
          expect(await archive.get(path)).toEqual(filled(1000, winners[0]!));
        }
      },
    );

    it('stores an empty object and a 1 MiB one', async () => {
      const large = new Uint8Array(1024 * 1024);
      for (let i = 0; i < large.length; i++) large[i] = (i * 31 + (i >> 8)) & 0xff;
      await archive.putImmutable('tile/entries/000.p/1', bytes());
      await archive.put('checkpoint', bytes());
      await archive.putImmutable('tile/entries/001', large);
      expect(await archive.get('tile/entries/000.p/1')).toEqual(bytes());
      expect(await archive.get('checkpoint')).toEqual(bytes());
      // Compared as bytes: a deep equality of a million elements takes seconds.
      const stored = await archive.get('tile/entries/001');
      expect(stored && Buffer.from(stored).equals(large)).toBe(true);
      await archive.putImmutable('tile/entries/000.p/1', bytes());
      await expectCode(archive.putImmutable('tile/entries/000.p/1', bytes(0)), 'ledger.archive.conflict');
    });

    it('refuses an object over 64 MiB with ledger.archive.size, writing nothing', async () => {
      const huge = new Uint8Array(MAX_OBJECT_BYTES + 1);
      await expectCode(archive.put('tile/entries/002', huge), 'ledger.archive.size');
      await expectCode(archive.putImmutable('tile/entries/002', huge), 'ledger.archive.size');
      await expectCode(fixture.unreachable().put('tile/entries/002', huge), 'ledger.archive.size');
      expect(await listAll('')).toEqual([]);
    });

    it('fails every operation with ledger.unavailable when the storage cannot be reached', async () => {
      const unreachable = fixture.unreachable();
      await expectCode(unreachable.get('checkpoint'), 'ledger.unavailable');
      await expectCode(unreachable.put('checkpoint', bytes(1)), 'ledger.unavailable');
      await expectCode(unreachable.putImmutable('checkpoints/1', bytes(1)), 'ledger.unavailable');
      await expectCode(unreachable.delete('openings/1/0/identity'), 'ledger.unavailable');
      await expectCode(unreachable.list(''), 'ledger.unavailable');
    });

    it.skipIf(traits.atomicReplace !== true)(
      `shows a reader the old or the new bytes while an object is replaced${unless(traits.atomicReplace)}`,
      async () => {
        const versions = [filled(65536, 1), filled(16384, 2), filled(40000, 3)];
        await archive.put('tile/0/000.p/1', versions[0]!);
        let writing = true;
        const reader = fixture.other();
        const reads: Promise<void>[] = Array.from({ length: 3 }, async () => {
          while (writing) {
            const seen = await reader.get('tile/0/000.p/1');
            expect(
              versions.some((v) => seen !== undefined && seen.length === v.length && seen[0] === v[0]),
            ).toBe(true);
            expect(seen!.every((b) => b === seen![0])).toBe(true);
          }
        });
        for (let i = 1; i <= 60; i++) await archive.put('tile/0/000.p/1', versions[i % versions.length]!);
        writing = false;
        await Promise.all(reads);
      },
    );

    it('fails every operation with ledger.unavailable once closed', async () => {
      await archive.put('checkpoint', bytes(1));
      await archive.close();
      await expectCode(archive.get('checkpoint'), 'ledger.unavailable');
      await expectCode(archive.put('checkpoint', bytes(2)), 'ledger.unavailable');
      await expectCode(archive.putImmutable('checkpoints/1', bytes(1)), 'ledger.unavailable');
      await expectCode(archive.delete('checkpoint'), 'ledger.unavailable');
      await expectCode(archive.list(''), 'ledger.unavailable');
      expect(await fixture.other().get('checkpoint')).toEqual(bytes(1));
    });
  });
}
