// Servers under test as child processes on 127.0.0.1: their CPU and memory are read from /proc
// apart from the load generator's, and they do not outlive the benchmark (each is stopped at the
// end, and our own Node modules also exit when their stdin closes).
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, extname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { PROJECT_ROOT } from './dev-deployment.js';

/** Where this package's modules are: the repository from source, dist/ once built. */
const MODULE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
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

/**
 * Starts a process and waits until `ready` recognises a line of its standard output; the rest of
 * the output is discarded. `env` is added to this process's environment.
 */
export async function startChild<T>(
  command: string,
  args: string[],
  ready: (line: string) => T | undefined,
  env: Record<string, string> = {},
): Promise<ChildServer<T>> {
  const child = spawn(command, args, {
    cwd: PROJECT_ROOT, // where --import tsx finds tsx
    env: { ...process.env, ...env },
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
