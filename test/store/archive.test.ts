// The archive contract against a directory and an S3-compatible server (test/support/s3.ts), then
// what only one backend shows: the file system's durability under SIGKILL, its modes and its
// staging directory; S3's headers, location and missing bucket.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { fc, test as propertyTest } from '@fast-check/vitest';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { entriesPath, tilePath } from '../../core/tlog.js';
import { FsLedgerArchive, STAGING_DIR, STALE_STAGING_MS } from '../../store/archive-fs.js';
import { S3LedgerArchive, type S3LedgerArchiveOptions } from '../../store/archive-s3.js';
import { isArchivePath, MAX_OBJECT_BYTES, type LedgerArchive } from '../../store/archive-types.js';
import { freePort } from '../support/redis.js';
import { startS3 } from '../support/s3.js';
import { PROJECT_ROOT } from '../support/shared.js';
import { archiveContract, expectCode, INVALID_PATHS, type ArchiveFixture } from './archive-contract.js';

const s3 = await startS3();
afterAll(async () => {
  await s3.stop();
});

describe('archive paths', () => {
  propertyTest.prop([fc.integer({ min: 0, max: 63 }), fc.maxSafeNat(), fc.integer({ min: 1, max: 256 })])(
    'every C2SP tile and entry bundle path is an archive path',
    (level, index, width) => {
      expect(isArchivePath(tilePath(level, index, width))).toBe(true);
      expect(isArchivePath(entriesPath(index, width))).toBe(true);
    },
  );

  it("takes the ledger's other paths and refuses the malformed", () => {
    for (const path of ['checkpoint', 'checkpoints/1234', 'openings/12/3/identity', 'tile/entries/067.p/12'])
      expect(isArchivePath(path), path).toBe(true);
    for (const path of [...INVALID_PATHS, STAGING_DIR]) expect(isArchivePath(path), path).toBe(false);
  });
});

describe('filesystem archive', () => {
  let dirs: string[] = [];
  const tempDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'gov-archive-'));
    dirs.push(dir);
    return dir;
  };
  afterEach(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    dirs = [];
  });

  archiveContract(
    'filesystem',
    async () => {
      const dir = tempDir();
      const notADirectory = join(tempDir(), 'archive');
      writeFileSync(notADirectory, 'a file where the archive should be');
      const handles: LedgerArchive[] = [];
      const handle = (root: string) => {
        const archive = new FsLedgerArchive({ dir: root });
        handles.push(archive);
        return archive;
      };
      return {
        archive: handle(dir),
        other: () => handle(dir),
        unreachable: () => handle(notADirectory),
        cleanup: async () => {
          await Promise.all(handles.map((h) => h.close()));
        },
      };
    },
    { conditionalWrites: true, keyOrder: true, atomicReplace: true },
  );

  it('names its location as a file URL', () => {
    expect(new FsLedgerArchive({ dir: '/var/lib/gov/archive' }).location).toBe(
      'file:///var/lib/gov/archive/',
    );
  });

  it('never creates its root: a missing directory is unavailable, not empty', async () => {
    const missing = join(tempDir(), 'unmounted');
    const archive = new FsLedgerArchive({ dir: missing });
    await expectCode(archive.get('checkpoint'), 'ledger.unavailable');
    await expectCode(archive.list(''), 'ledger.unavailable');
    await expectCode(archive.delete('checkpoint'), 'ledger.unavailable');
    await expectCode(archive.put('checkpoint', new Uint8Array([1])), 'ledger.unavailable');
    await expectCode(archive.putImmutable('checkpoints/1', new Uint8Array([1])), 'ledger.unavailable');
    expect(existsSync(missing)).toBe(false);
  });

  it.skipIf(process.getuid?.() === 0)(
    `reports a directory it may not write as unavailable${process.getuid?.() === 0 ? ' (not here: root bypasses file permissions)' : ''}`,
    async () => {
      const dir = tempDir();
      const archive = new FsLedgerArchive({ dir });
      await archive.put('tile/0/000', new Uint8Array([1]));
      chmodTree(dir, 0o555);
      try {
        await expectCode(archive.put('tile/0/001', new Uint8Array([2])), 'ledger.unavailable');
        await expectCode(archive.putImmutable('checkpoints/1', new Uint8Array([2])), 'ledger.unavailable');
        await expectCode(archive.delete('tile/0/000'), 'ledger.unavailable');
      } finally {
        chmodTree(dir, 0o755);
      }
    },
  );

  it('writes files 0644 and directories 0755 whatever the umask, for a static web server', async () => {
    const dir = tempDir();
    const archive = new FsLedgerArchive({ dir });
    const umask = process.umask(0o077);
    try {
      await archive.putImmutable('tile/0/x001/234', new Uint8Array([1]));
      await archive.put('tile/0/x001/234.p/12', new Uint8Array([2]));
    } finally {
      process.umask(umask);
    }
    const mode = (path: string) => statSync(join(dir, path)).mode & 0o777;
    expect(mode('tile/0/x001/234')).toBe(0o644);
    expect(mode('tile/0/x001/234.p/12')).toBe(0o644);
    for (const d of ['tile', 'tile/0', 'tile/0/x001', 'tile/0/x001/234.p']) expect(mode(d), d).toBe(0o755);
  });

  it('cannot hold an object both at a path and below it: ledger.archive.path, nothing changed', async () => {
    const archive = new FsLedgerArchive({ dir: tempDir() });
    const one = new Uint8Array([1]);
    await archive.put('a', one);
    await archive.put('t/u', one);
    await expectCode(archive.put('a/b', one), 'ledger.archive.path');
    await expectCode(archive.putImmutable('a/b/c', one), 'ledger.archive.path');
    await expectCode(archive.put('t', one), 'ledger.archive.path');
    await expectCode(archive.putImmutable('t', one), 'ledger.archive.path');
    expect(await archive.get('t')).toBeUndefined();
    expect(await archive.get('a/b')).toBeUndefined();
    expect(await archive.delete('t')).toBe(false);
    expect(await archive.get('a')).toEqual(one);
    expect(await archive.list('', { limit: Infinity })).toEqual(['a', 't/u']);
  });

  it('refuses to read a file over 64 MiB with ledger.archive.size', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'tile/entries'), { recursive: true });
    writeFileSync(join(dir, 'tile/entries/003'), '');
    truncateSync(join(dir, 'tile/entries/003'), MAX_OBJECT_BYTES + 1); // sparse: no 64 MiB written
    await expectCode(new FsLedgerArchive({ dir }).get('tile/entries/003'), 'ledger.archive.size');
  });

  it('lists no staging file and no name outside the path grammar', async () => {
    const dir = tempDir();
    const archive = new FsLedgerArchive({ dir });
    await archive.put('checkpoint', new Uint8Array([1]));
    writeFileSync(join(dir, STAGING_DIR, 'leftover'), 'partial');
    mkdirSync(join(dir, 'lost+found'));
    writeFileSync(join(dir, 'lost+found', 'x'), '');
    writeFileSync(join(dir, '.#checkpoint'), '');
    expect(await archive.list('', { limit: Infinity })).toEqual(['checkpoint']);
    await expectCode(archive.get(`${STAGING_DIR}/leftover`), 'ledger.archive.path');
  });

  it('removes staging leftovers an hour old when a handle first writes, and keeps younger ones', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, STAGING_DIR));
    const stale = join(dir, STAGING_DIR, 'stale');
    const young = join(dir, STAGING_DIR, 'young');
    writeFileSync(stale, 'left by a crash');
    writeFileSync(young, "another process's write in progress");
    const past = (Date.now() - STALE_STAGING_MS - 60_000) / 1000;
    utimesSync(stale, past, past);
    const archive = new FsLedgerArchive({ dir });
    expect(await archive.get('checkpoint')).toBeUndefined(); // a reader clears nothing
    expect(existsSync(stale)).toBe(true);
    await archive.put('checkpoint', new Uint8Array([1]));
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(young)).toBe(true);
  });

  // A writer process SIGKILLed at random moments, again and again: whatever it was doing, every object
  // present holds exactly the bytes it was written with, and list() shows no temporary file. The
  // kills land wherever they land: the assertions hold for any timing.
  it(
    'leaves every object whole when its writer is killed at random moments',
    { timeout: 300_000 },
    async () => {
      const dir = tempDir();
      const verified = new Set<string>();
      let written = 0;
      for (let round = 0; round < ROUNDS; round++) {
        const child = spawn(
          process.execPath,
          [
            '--import',
            'tsx',
            '--input-type=module',
            '-e',
            CRASH_WRITER,
            join(PROJECT_ROOT, 'store/archive-fs.ts'),
            dir,
            String(round * 20),
          ],
          { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
        );
        let stderr = '';
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        const exited = new Promise<string | null>((resolve) =>
          child.on('exit', (_code, signal) => resolve(signal)),
        );
        // It prints a line after its first write; then it writes on until killed.
        await new Promise<void>((resolve, reject) => {
          child.stdout.once('data', () => resolve());
          child.once('exit', () => reject(new Error(`the writer exited before writing: ${stderr}`)));
        });
        await new Promise((r) => setTimeout(r, Math.random() * 500));
        child.kill('SIGKILL');
        expect(await exited).toBe('SIGKILL');

        const archive = new FsLedgerArchive({ dir });
        const paths = await archive.list('', { limit: Infinity });
        // An immutable object found whole stays so: each is read once.
        for (const path of paths.filter((p) => !verified.has(p))) {
          const stored = await archive.get(path);
          expect(stored, path).toBeDefined();
          const match = /^crash\/\d+\/(\d+)$/.exec(path);
          if (match) {
            expect(equalBytes(stored!, crashBytes(Number(match[1]))), path).toBe(true);
            verified.add(path);
          } else {
            expect(path).toMatch(/^crash\/latest-[01]$/);
            const i = new DataView(stored!.buffer, stored!.byteOffset).getUint32(0, true);
            expect(equalBytes(stored!, crashBytes(i)), `${path} holding version ${i}`).toBe(true);
          }
        }
        written = Math.max(written, paths.length);
        await archive.close();
      }
      expect(written).toBeGreaterThan(1);
      // Whatever the kills left in staging is not an object, and only a fresh write's files are there.
      for (const name of readdirSync(join(dir, STAGING_DIR)))
        expect(isArchivePath(`${STAGING_DIR}/${name}`)).toBe(false);
    },
  );
});

/** Version i of the crash test's objects: its number, then a pattern, 8 bytes to 500 kB. */
function crashBytes(i: number): Uint8Array {
  const bytes = new Uint8Array(8 + ((i * 7919) % 500_000));
  new DataView(bytes.buffer).setUint32(0, i, true);
  for (let k = 8; k < bytes.length; k++) bytes[k] = (i + k * 31) & 0xff;
  return bytes;
}

const equalBytes = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

// The writer: four immutable objects (a new directory every ten) and two mutable ones in flight
// at a time. Each round starts further on, first rewriting objects the round before wrote (the
// EEXIST path), then writing new ones.
const ROUNDS = 12;
const CRASH_WRITER = `
const [, modulePath, dir, start] = process.argv;
const { FsLedgerArchive } = await import(modulePath);
${crashBytes.toString()}
const archive = new FsLedgerArchive({ dir });
for (let i = Number(start); ; i++) {
  await Promise.all([
    ...[0, 1].map((k) => archive.put('crash/latest-' + k, crashBytes(4 * i + k))),
    ...[0, 1, 2, 3].map((k) => {
      const n = 4 * i + k;
      return archive.putImmutable('crash/' + Math.floor(n / 10) + '/' + n, crashBytes(n));
    }),
  ]);
  if (i === Number(start)) process.stdout.write('writing\\n');
}
`;

function chmodTree(dir: string, mode: number): void {
  for (const entry of readdirSync(dir, { withFileTypes: true }))
    if (entry.isDirectory()) chmodTree(join(dir, entry.name), mode);
  chmodSync(dir, mode);
}

describe(`S3 archive (${s3.source})`, () => {
  const raw = (options: S3LedgerArchiveOptions) =>
    new S3Client({
      region: options.region,
      endpoint: options.endpoint,
      forcePathStyle: options.forcePathStyle,
      credentials: options.credentials,
    });

  archiveContract(
    s3.source,
    async () => {
      const options = s3.options();
      const closed = await freePort();
      const handles: LedgerArchive[] = [];
      const handle = (o: S3LedgerArchiveOptions) => {
        const archive = new S3LedgerArchive(o);
        handles.push(archive);
        return archive;
      };
      return {
        archive: handle(options),
        other: () => handle(options),
        unreachable: () => handle({ ...options, endpoint: `http://127.0.0.1:${closed}` }),
        cleanup: async () => {
          await Promise.all(handles.map((h) => h.close()));
          const sweeper = new S3LedgerArchive(options);
          for (const path of await sweeper.list('', { limit: Infinity })) await sweeper.delete(path);
          await sweeper.close();
        },
      } satisfies ArchiveFixture;
    },
    s3.traits,
  );

  describe('S3 only', () => {
    const conditional = s3.traits.conditionalWrites;
    let options: S3LedgerArchiveOptions;
    let archive: S3LedgerArchive;
    let client: S3Client;
    beforeEach(() => {
      options = s3.options();
      archive = new S3LedgerArchive(options);
      client = raw(options);
    });
    afterEach(async () => {
      for (const path of await archive.list('', { limit: Infinity })) await archive.delete(path);
      await archive.close();
      client.destroy();
    });

    it('sends immutable objects with Cache-Control immutable and mutable ones with no-cache, as octets', async () => {
      await archive.putImmutable('tile/0/000', new Uint8Array([1]));
      await archive.put('tile/0/001.p/3', new Uint8Array([2]));
      const head = (path: string) =>
        client.send(new HeadObjectCommand({ Bucket: options.bucket, Key: `${options.prefix}/${path}` }));
      const immutable = await head('tile/0/000');
      expect(immutable.CacheControl).toBe('public, max-age=31536000, immutable');
      expect(immutable.ContentType).toBe('application/octet-stream');
      const mutable = await head('tile/0/001.p/3');
      expect(mutable.CacheControl).toBe('no-cache');
      expect(mutable.ContentType).toBe('application/octet-stream');
    });

    // On a server that ignores If-None-Match a second conditional PutObject lands: that is why
    // putImmutable reads a path before it writes it.
    it(`answers a second conditional PutObject of a key with ${conditional === true ? '412' : `success (${conditional})`}`, async () => {
      const put = (body: number) =>
        client.send(
          new PutObjectCommand({
            Bucket: options.bucket,
            Key: `${options.prefix}/checkpoints/1`,
            Body: new Uint8Array([body]),
            IfNoneMatch: '*',
          }),
        );
      await put(1);
      const second = await put(2).then(
        () => 200,
        (e: { $metadata?: { httpStatusCode?: number } }) => e.$metadata?.httpStatusCode,
      );
      expect(second).toBe(conditional === true ? 412 : 200);
    });

    it('names bucket, prefix and endpoint origin in its location, never credentials', () => {
      const located = new S3LedgerArchive({
        bucket: 'gov-ledger',
        prefix: 'prod/log-1/',
        endpoint: 'https://AKIDEXAMPLE:secret@minio.example:9000/',
        credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
        region: 'us-east-1',
      });
      expect(located.location).toBe('s3://gov-ledger/prod/log-1/ at https://minio.example:9000');
      expect(new S3LedgerArchive({ bucket: 'gov-ledger', region: 'us-east-1' }).location).toBe(
        's3://gov-ledger/',
      );
    });

    it('refuses malformed options with config.invalid', () => {
      const refused = (o: S3LedgerArchiveOptions) => {
        try {
          new S3LedgerArchive(o);
          return undefined;
        } catch (e) {
          return (e as { code?: string }).code;
        }
      };
      expect(refused({ bucket: 'Not_A_Bucket' })).toBe('config.invalid');
      expect(refused({ bucket: 'gov-ledger', prefix: '../elsewhere' })).toBe('config.invalid');
      expect(refused({ bucket: 'gov-ledger', prefix: 'a//b' })).toBe('config.invalid');
      expect(refused({ bucket: 'gov-ledger', endpoint: 'not a url' })).toBe('config.invalid');
    });

    it('fails every operation with ledger.unavailable when the bucket does not exist', async () => {
      const missing = new S3LedgerArchive({
        ...options,
        bucket: `missing-${randomBytes(6).toString('hex')}`,
      });
      try {
        await expectCode(missing.get('checkpoint'), 'ledger.unavailable');
        await expectCode(missing.put('checkpoint', new Uint8Array([1])), 'ledger.unavailable');
        await expectCode(missing.putImmutable('checkpoints/1', new Uint8Array([1])), 'ledger.unavailable');
        await expectCode(missing.delete('openings/1/0/identity'), 'ledger.unavailable');
        await expectCode(missing.list(''), 'ledger.unavailable');
      } finally {
        await missing.close();
      }
    });
  });
});
