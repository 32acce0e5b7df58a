// Servers under test as child processes on 127.0.0.1: their CPU and memory are read from /proc
// apart from the load generator's, and a benchmark that dies takes them with it (they exit when
// their stdin closes).
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, extname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export interface ServerProcess {
  address: string;
  pid: number;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 5_000;

/**
 * Runs a TypeScript or JavaScript module with this Node (TypeScript through tsx, as a loader of
 * the same process, so the pid is the server's own) and waits until `portOf` finds the listening
 * port in a line of its standard output.
 */
export async function startServerProcess(
  modulePath: string,
  args: string[],
  portOf: (line: string) => number | undefined,
): Promise<ServerProcess> {
  const loader = extname(modulePath) === '.ts' ? ['--import', 'tsx'] : [];
  const child = spawn(process.execPath, [...loader, modulePath, ...args], {
    cwd: PROJECT_ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  try {
    const port = await new Promise<number>((resolvePort, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${modulePath} did not report a port in ${READY_TIMEOUT_MS} ms`)),
        READY_TIMEOUT_MS,
      );
      child.once('exit', (code, signal) =>
        reject(new Error(`${modulePath} exited (${signal ?? code}) before listening`)),
      );
      lines.on('line', (line) => {
        const found = portOf(line);
        if (found !== undefined) {
          clearTimeout(timer);
          resolvePort(found);
        }
      });
    });
    return { address: `127.0.0.1:${port}`, pid: child.pid!, stop: () => stopProcess(child) };
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
