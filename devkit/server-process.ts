// Servers under test as child processes on 127.0.0.1: their CPU and memory are read from /proc
// apart from the load generator's, and they do not outlive the benchmark (each is stopped at the
// end, and our own Node modules also exit when their stdin closes).
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { dirname, extname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { PROJECT_ROOT } from './dev-deployment.js';

/** Where this package's modules are: the repository from source, dist/ once built. */
const MODULE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const MODULE_EXTENSION = extname(fileURLToPath(import.meta.url));

export interface ChildServer<T> {
  pid: number;
  /** What `ready` found in the output. */
  ready: T;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;

/** A module of this package by its path without extension: .ts under tsx and vitest, .js once built. */
export function packageModule(path: string): string {
  return join(MODULE_ROOT, `${path}${MODULE_EXTENSION}`);
}

/**
 * The command running a module with this Node: TypeScript through tsx as a loader of the same
 * process, so that the pid is the server's own and not a wrapper's.
 */
export function nodeCommand(modulePath: string, args: string[], nodeArgs: string[] = []): [string, string[]] {
  const loader = extname(modulePath) === '.ts' ? ['--import', 'tsx'] : [];
  return [process.execPath, [...nodeArgs, ...loader, modulePath, ...args]];
}

/** What a started process inherits of ours: where programs and temporary files are, and the locale. */
const INHERITED = ['PATH', 'HOME', 'TMPDIR', 'LANG', 'LC_ALL', 'TZ'];

/**
 * The environment of a process this harness starts: INHERITED and `env`, nothing else. The
 * services read REDIS_URL, REDIS_MODE and GOV_*_PORT as overrides of
 * their configuration, so one inherited from the shell would point them at another Redis or
 * other ports than the harness's own.
 */
export function childEnvironment(env: Record<string, string> = {}): Record<string, string> {
  const inherited = INHERITED.flatMap((name) => {
    const value = process.env[name];
    return value === undefined ? [] : [[name, value] as const];
  });
  return { ...Object.fromEntries(inherited), ...env };
}

/**
 * Starts a process and waits until `ready` recognises a line of its standard output; the rest of
 * the output is discarded. Its environment is childEnvironment(env).
 */
export async function startChild<T>(
  command: string,
  args: string[],
  ready: (line: string) => T | undefined,
  env: Record<string, string> = {},
): Promise<ChildServer<T>> {
  const child = spawn(command, args, {
    cwd: PROJECT_ROOT, // where --import tsx finds tsx
    env: childEnvironment(env),
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  try {
    const value = await new Promise<T>((resolveReady, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${command} ${args.join(' ')}: not ready after ${READY_TIMEOUT_MS} ms`)),
        READY_TIMEOUT_MS,
      );
      child.once('error', reject);
      child.once('exit', (code, signal) =>
        reject(new Error(`${command} exited (${signal ?? code}) before it was ready`)),
      );
      lines.on('line', (line) => {
        const found = ready(line);
        if (found === undefined) return;
        clearTimeout(timer);
        lines.close();
        child.stdout!.resume();
        resolveReady(found);
      });
    });
    return { pid: child.pid!, ready: value, stop: () => stopProcess(child) };
  } catch (error) {
    await stopProcess(child);
    throw error;
  }
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

/** A `ready` for startChild: the value `pick` finds in the service's first pino line with this message. */
export const loggedLine =
  <T>(message: string, pick: (log: Record<string, unknown>) => T) =>
  (line: string): T | undefined => {
    if (!line.startsWith('{')) return undefined;
    const log = JSON.parse(line) as Record<string, unknown>;
    return typeof log.msg === 'string' && log.msg.startsWith(message) ? pick(log) : undefined;
  };

/** A TCP port free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolvePort(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/**
 * A redis-server of the benchmark's own on a free loopback port, its files in `dir`: with
 * `appendonly yes` and the given `appendfsync`, or with persistence off (`fsync` undefined).
 * Resolves once it accepts connections.
 */
export async function startRedisServer(
  dir: string,
  fsync?: 'always' | 'everysec' | 'no',
): Promise<ChildServer<true> & { url: string }> {
  const port = await freePort();
  const persistence =
    fsync === undefined ? ['--appendonly', 'no'] : ['--appendonly', 'yes', '--appendfsync', fsync];
  const server = await startChild(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', ...persistence],
    (line) => (line.includes('Ready to accept connections') ? true : undefined),
  );
  return { ...server, url: `redis://127.0.0.1:${port}` };
}
