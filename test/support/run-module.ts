// Runs a module of this package as its own Node process (TypeScript through tsx, as `npm run`
// and the benchmarks start them) and collects what it prints and how it exits.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { PROJECT_ROOT } from './shared.js';

export interface ModuleRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `node --import tsx <module> ...args` in the project root, with exactly `env` as its environment. */
export function runModule(module: string, args: string[], env: NodeJS.ProcessEnv): Promise<ModuleRun> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, module), ...args], {
    cwd: PROJECT_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}
