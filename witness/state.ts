// What a witness remembers per log: the latest checkpoint it cosigned (size, root and the note),
// one file per origin in its state directory. A cosignature promises never to cosign a
// conflicting tree later, so the file is written durably (temp file, fsync, rename, fsync of the
// directory) before the reply leaves, and a file that cannot be read stops that origin rather
// than being taken for "never cosigned" (which would let the log roll the witness back).
//
// One process per directory: the per-origin serialization of witness.ts is in memory.
import { createHash, randomBytes } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { access, mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { base64Decode, base64Encode, bytesEqual } from '../core/encoding.js';
import { GovernanceError } from '../core/errors.js';
import { parseCheckpoint, parseNote } from '../core/note.js';

export interface CosignedCheckpoint {
  origin: string;
  size: number;
  root: Uint8Array;
  /** The whole signed note the witness cosigned (as submitted, without its own cosignature). */
  note: string;
}

const FORMAT = 'governance.witness-state.v1';
const TEMP_SUFFIX = '.tmp';
/** Larger than any note (core/note.ts NOTE_MAX_BYTES) in JSON; a larger file is corrupt. */
const MAX_STATE_FILE_BYTES = 4 << 20;

function corrupt(path: string, why: string): never {
  throw new GovernanceError('encoding.invalid', `witness state file ${path} ${why}`);
}

/**
 * The file of an origin: the hex of its SHA-256, since an origin is any line of text (slashes,
 * dots, non-ASCII) and must never name a path outside the directory.
 */
export function stateFileName(origin: string): string {
  return createHash('sha256').update(origin, 'utf8').digest('hex') + '.json';
}

function decode(path: string, origin: string, text: string): CosignedCheckpoint {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    corrupt(path, 'is not JSON');
  }
  const r = raw as Record<string, unknown>;
  if (typeof raw !== 'object' || raw === null || r.format !== FORMAT) corrupt(path, `is not ${FORMAT}`);
  if (r.origin !== origin) corrupt(path, 'names another origin');
  const root = typeof r.root === 'string' ? base64Decode(r.root) : undefined;
  if (typeof r.size !== 'number' || root === undefined || typeof r.note !== 'string') {
    corrupt(path, 'lacks size, root or note');
  }
  // The note is what was cosigned: the size and root must be its own, or the file was altered.
  let checkpoint;
  try {
    checkpoint = parseCheckpoint(parseNote(r.note).body);
  } catch {
    corrupt(path, 'holds a note that is not a checkpoint');
  }
  if (checkpoint.origin !== origin || checkpoint.size !== r.size || !bytesEqual(checkpoint.root, root)) {
    corrupt(path, "holds a size or root that is not its note's");
  }
  return { origin, size: r.size, root, note: r.note };
}

export class WitnessStateDir {
  private readonly cache = new Map<string, CosignedCheckpoint | null>();
  private writeFailed = false;

  constructor(readonly dir: string) {}

  /** Creates the directory if needed and removes temp files a crash left behind. */
  async open(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    for (const name of await readdir(this.dir)) {
      if (name.endsWith(TEMP_SUFFIX)) await rm(join(this.dir, name), { force: true });
    }
    await access(this.dir, constants.W_OK);
  }

  /** Writable, and the last write (if any) succeeded: what /healthz reports. */
  writable(): boolean {
    if (this.writeFailed) return false;
    try {
      accessSync(this.dir, constants.W_OK);
      return true;
    } catch {
      return false;
    }
  }

  /** The latest cosigned checkpoint of the origin, undefined if none; throws when the file is unreadable. */
  async read(origin: string): Promise<CosignedCheckpoint | undefined> {
    const cached = this.cache.get(origin);
    if (cached !== undefined) return cached ?? undefined;
    const path = join(this.dir, stateFileName(origin));
    let text: string;
    try {
      const handle = await open(path, 'r');
      try {
        if ((await handle.stat()).size > MAX_STATE_FILE_BYTES) corrupt(path, 'is too large');
        text = await handle.readFile('utf8');
      } finally {
        await handle.close();
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      this.cache.set(origin, null);
      return undefined;
    }
    const state = decode(path, origin, text);
    this.cache.set(origin, state);
    return state;
  }

  /** Replaces the origin's record durably; resolves only once it would survive a power cut. */
  async write(state: CosignedCheckpoint): Promise<void> {
    const name = stateFileName(state.origin);
    const temp = join(this.dir, `.${name}.${randomBytes(6).toString('hex')}${TEMP_SUFFIX}`);
    const text = JSON.stringify({
      format: FORMAT,
      origin: state.origin,
      size: state.size,
      root: base64Encode(state.root),
      note: state.note,
    });
    // Whatever happens below, the disk decides what the next read sees.
    this.cache.delete(state.origin);
    try {
      const file = await open(temp, 'wx', 0o600);
      try {
        await file.writeFile(text, 'utf8');
        await file.sync();
      } finally {
        await file.close();
      }
      await rename(temp, join(this.dir, name));
      // The rename is durable only once the directory entry is.
      const dir = await open(this.dir, 'r');
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
    } catch (e) {
      this.writeFailed = true;
      await rm(temp, { force: true }).catch(() => undefined);
      throw e;
    }
    this.writeFailed = false;
    this.cache.set(state.origin, state);
  }

  /** The sizes recorded so far (those read or written by this process). */
  knownSizes(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [origin, state] of this.cache) if (state) out.set(origin, state.size);
    return out;
  }
}
