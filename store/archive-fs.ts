// The ledger archive in a directory: one file per object at its path, files 0644 and directories
// 0755, so that any static web server can serve tile/, tile/entries/ and the checkpoints at the
// C2SP tlog-tiles paths clients read. Openings are personal data that redaction erases: serve
// none of openings/ (nor STAGING_DIR).
//
// Atomic and durable without a database: each write goes to a new file in STAGING_DIR (on the
// same file system, so that link and rename are atomic), which is fsynced and then takes its
// place in one step — rename() over a mutable object; link() for an immutable one, which fails
// with EEXIST rather than replace anything — and then the directory is fsynced. A crash at any
// moment leaves either no object or the whole object at a path. STAGING_DIR is named outside the
// path grammar, so no path names it and list() never shows it.
//
// The archive never creates its root: a missing root (a mistyped path, a volume not provisioned)
// reads as unavailable, never as an empty archive, which recovery would take for sealed data lost.
import { randomBytes } from 'node:crypto';
import {
  chmod,
  link,
  mkdir,
  open,
  readdir,
  rename,
  rm,
  stat,
  unlink,
  type FileHandle,
} from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { bytesEqual } from '../core/encoding.js';
import { GovernanceError } from '../core/errors.js';
import {
  checkArchivePath,
  checkArchivePrefix,
  checkObjectSize,
  DEFAULT_LIST_LIMIT,
  isArchivePath,
  type LedgerArchive,
  type ListOptions,
} from './archive-types.js';

/** Temporary files of writes in progress, or of writes a crash interrupted. */
export const STAGING_DIR = '~staging';
/**
 * Leftovers at least this old are removed when a handle first writes; younger ones may be those of
 * a write in progress in another process with a handle on the same directory.
 */
export const STALE_STAGING_MS = 60 * 60 * 1000;
const FILE_MODE = 0o644;
const DIR_MODE = 0o755;

export interface FsLedgerArchiveOptions {
  /** The archive's root directory; it must exist. */
  dir: string;
}

const errorCode = (e: unknown) => (e as NodeJS.ErrnoException | undefined)?.code;
/** The path, or one of its directories, does not exist (ENOTDIR: a directory is a file). */
const isMissing = (e: unknown) => errorCode(e) === 'ENOENT' || errorCode(e) === 'ENOTDIR';
const parentOf = (path: string) => path.slice(0, Math.max(0, path.lastIndexOf('/')));

async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Sorted as S3 sorts keys: by whole path, so a directory sorts as its name followed by '/'. */
const byPath = (a: { key: string }, b: { key: string }) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

export class FsLedgerArchive implements LedgerArchive {
  readonly location: string;
  private readonly root: string;
  private staging: Promise<string> | undefined;
  /** Directories (relative) whose entry in their parent is known durable; '' is the root. */
  private readonly durable = new Set<string>(['']);
  private closed = false;

  constructor(options: FsLedgerArchiveOptions) {
    this.root = resolve(options.dir);
    this.location = `${pathToFileURL(this.root).href}/`;
  }

  private file(path: string): string {
    return join(this.root, path);
  }

  private unavailable(message: string, cause?: unknown): GovernanceError {
    return new GovernanceError('ledger.unavailable', `ledger archive ${this.location}: ${message}`, {
      cause,
    });
  }

  private clash(path: string): GovernanceError {
    return new GovernanceError(
      'ledger.archive.path',
      `${path}: a file system archive cannot hold an object both at a path and below it`,
    );
  }

  private async guarded<T>(operation: () => Promise<T>): Promise<T> {
    if (this.closed) throw this.unavailable('closed');
    try {
      return await operation();
    } catch (e) {
      if (e instanceof GovernanceError) throw e;
      throw this.unavailable(e instanceof Error ? e.message : String(e), e);
    }
  }

  /** Tells a missing object from a missing (or unmounted, or replaced) archive. */
  private async checkRoot(): Promise<void> {
    const info = await stat(this.root);
    if (!info.isDirectory()) throw this.unavailable('not a directory');
  }

  /** The staging directory, made on first use by this handle, with stale leftovers removed. */
  private stagingDir(): Promise<string> {
    const opening = (this.staging ??= (async () => {
      await this.checkRoot();
      const dir = join(this.root, STAGING_DIR);
      await mkdir(dir, { mode: DIR_MODE }).catch((e: unknown) => {
        if (errorCode(e) !== 'EEXIST') throw e;
      });
      const now = Date.now();
      for (const name of await readdir(dir)) {
        const leftover = join(dir, name);
        const info = await stat(leftover).catch(() => undefined);
        if (info && now - info.mtimeMs >= STALE_STAGING_MS) await rm(leftover, { force: true });
      }
      return dir;
    })().catch((e: unknown) => {
      if (this.staging === opening) this.staging = undefined;
      throw e;
    }));
    return opening;
  }

  /** Writes the bytes to a new, fsynced file in the staging directory; returns its path. */
  private async stage(bytes: Uint8Array): Promise<string> {
    const temp = join(await this.stagingDir(), randomBytes(12).toString('hex'));
    const handle = await open(temp, 'wx', FILE_MODE);
    let staged = false;
    try {
      await handle.chmod(FILE_MODE); // open's mode is masked by the umask
      await handle.writeFile(bytes);
      await handle.sync();
      staged = true;
    } finally {
      await handle.close();
      if (!staged) await rm(temp, { force: true });
    }
    return temp;
  }

  /**
   * Creates the missing directories of `dir` (relative), and makes each one's entry durable in its
   * parent — also one another handle created, which may not have fsynced that parent yet.
   */
  private async ensureDirectory(dir: string, path: string): Promise<void> {
    if (this.durable.has(dir)) return;
    const parent = parentOf(dir);
    await this.ensureDirectory(parent, path);
    const full = this.file(dir);
    try {
      await mkdir(full, { mode: DIR_MODE });
      await chmod(full, DIR_MODE); // mkdir's mode is masked by the umask
    } catch (e) {
      if (errorCode(e) !== 'EEXIST') throw e;
      if (!(await stat(full)).isDirectory()) throw this.clash(path);
    }
    await fsyncDirectory(this.file(parent));
    this.durable.add(dir);
  }

  /** A file's bytes, or undefined when there is none (a directory is no object). */
  private async read(path: string): Promise<Uint8Array | undefined> {
    let handle: FileHandle;
    try {
      handle = await open(this.file(path), 'r');
    } catch (e) {
      if (!isMissing(e)) throw e;
      await this.checkRoot();
      return undefined;
    }
    try {
      // One handle reads one inode: a concurrent put() renames a new file in, never changes this one.
      const info = await handle.stat();
      if (!info.isFile()) return undefined;
      checkObjectSize(path, info.size);
      const bytes = new Uint8Array(info.size);
      for (let at = 0; at < bytes.length;) {
        const { bytesRead } = await handle.read(bytes, at, bytes.length - at, at);
        if (bytesRead === 0) throw new Error(`${path} was truncated while being read`);
        at += bytesRead;
      }
      return bytes;
    } finally {
      await handle.close();
    }
  }

  async putImmutable(path: string, bytes: Uint8Array): Promise<void> {
    checkArchivePath(path);
    checkObjectSize(path, bytes.byteLength);
    return this.guarded(async () => {
      const dir = parentOf(path);
      await this.ensureDirectory(dir, path);
      const temp = await this.stage(bytes);
      try {
        await link(temp, this.file(path));
      } catch (e) {
        if (errorCode(e) !== 'EEXIST') throw e;
        const existing = await this.read(path);
        if (existing === undefined) throw this.clash(path);
        if (!bytesEqual(existing, bytes))
          throw new GovernanceError('ledger.archive.conflict', `${path} already holds other bytes`);
      } finally {
        await rm(temp, { force: true });
      }
      // Also when the object was there: the handle that linked it may not have fsynced yet.
      await fsyncDirectory(this.file(dir));
    });
  }

  async put(path: string, bytes: Uint8Array): Promise<void> {
    checkArchivePath(path);
    checkObjectSize(path, bytes.byteLength);
    return this.guarded(async () => {
      const dir = parentOf(path);
      await this.ensureDirectory(dir, path);
      const temp = await this.stage(bytes);
      try {
        await rename(temp, this.file(path));
      } catch (e) {
        await rm(temp, { force: true });
        throw errorCode(e) === 'EISDIR' ? this.clash(path) : e;
      }
      await fsyncDirectory(this.file(dir));
    });
  }

  async get(path: string): Promise<Uint8Array | undefined> {
    checkArchivePath(path);
    return this.guarded(() => this.read(path));
  }

  // The file's blocks are freed as any deleted file's are, not overwritten: erasure removes the
  // opening from everything the archive serves or copies, as deleting a Redis field does.
  async delete(path: string): Promise<boolean> {
    checkArchivePath(path);
    return this.guarded(async () => {
      try {
        await unlink(this.file(path));
      } catch (e) {
        if (errorCode(e) === 'EISDIR') return false;
        if (!isMissing(e)) throw e;
        await this.checkRoot();
        return false;
      }
      // An erased opening must not come back after a crash.
      await fsyncDirectory(this.file(parentOf(path)));
      return true;
    });
  }

  async list(prefix: string, options: ListOptions = {}): Promise<string[]> {
    checkArchivePrefix(prefix);
    return this.guarded(async () => {
      const out: string[] = [];
      const cut = prefix.lastIndexOf('/');
      await this.walk(
        cut < 0 ? '' : prefix.slice(0, cut),
        prefix.slice(cut + 1),
        options.startAfter ?? '',
        options.limit ?? DEFAULT_LIST_LIMIT,
        out,
      );
      return out;
    });
  }

  /**
   * Appends to `out`, in path order, the objects under directory `dir` whose names there start
   * with `stem` and whose paths sort after `startAfter`, until `out` holds `limit`. Names outside
   * the path grammar (STAGING_DIR, lost+found, an editor's temp file) are no objects.
   */
  private async walk(dir: string, stem: string, startAfter: string, limit: number, out: string[]) {
    let entries;
    try {
      entries = await readdir(this.file(dir), { withFileTypes: true });
    } catch (e) {
      if (!isMissing(e)) throw e;
      await this.checkRoot();
      return;
    }
    const children = entries
      .filter((e) => (e.isFile() || e.isDirectory()) && e.name.startsWith(stem) && isArchivePath(e.name))
      .map((e) => ({
        path: dir === '' ? e.name : `${dir}/${e.name}`,
        key: e.isDirectory() ? `${e.name}/` : e.name,
        directory: e.isDirectory(),
      }))
      .sort(byPath);
    for (const child of children) {
      if (out.length >= limit) return;
      if (!child.directory) {
        if (child.path > startAfter) out.push(child.path);
        continue;
      }
      // Every path inside sorts before startAfter when startAfter is past the directory's
      // "name/" without starting with it: skip the whole subtree.
      const inside = `${child.path}/`;
      if (inside < startAfter && !startAfter.startsWith(inside)) continue;
      await this.walk(child.path, '', startAfter, limit, out);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
