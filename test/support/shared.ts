// ../shared holds reference data (RFC 8785 and Wycheproof vectors) next to a checkout; a
// user's clone may not have it, and the tests that need it then skip and say why.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const SHARED_DIR = join(PROJECT_ROOT, '..', 'shared');

/** The path of a file under ../shared, or undefined when ../shared is absent. */
export function sharedPath(...parts: string[]): string | undefined {
  const path = join(SHARED_DIR, ...parts);
  return existsSync(path) ? path : undefined;
}

export const SHARED_ABSENT_NOTE = `skipped: reference vectors not found at ${SHARED_DIR} (clone without ../shared)`;
