// Reading the repository's deployment files strictly: a YAML file with a parse error, a warning,
// a duplicate key or a non-string map key fails here, before any schema sees it (kubectl, for
// one, cannot turn a YAML map with integer keys into JSON).
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isPair, isScalar, parseAllDocuments, visit } from 'yaml';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

export function repoPath(relative: string): string {
  return join(REPO_ROOT, relative);
}

export function repoFileExists(relative: string): boolean {
  return existsSync(repoPath(relative));
}

export function isRepoFolder(relative: string): boolean {
  return existsSync(repoPath(relative)) && statSync(repoPath(relative)).isDirectory();
}

export function readRepoText(relative: string): string {
  return readFileSync(repoPath(relative), 'utf8');
}

/** Files (not folders) directly in a repository folder, as repository-relative paths. */
export function repoFilesIn(folder: string): string[] {
  return readdirSync(repoPath(folder), { withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => `${folder}/${entry.name}`)
    .sort();
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Every document of a YAML text. `merge` resolves `<<` merge keys (Docker Compose uses them). */
export function parseYamlDocuments(text: string, options: { merge?: boolean } = {}): unknown[] {
  return parseAllDocuments(text, { merge: options.merge ?? false, uniqueKeys: true }).map((document) => {
    const problems = [...document.errors, ...document.warnings].map((problem) => problem.message);
    visit(document, {
      Pair(_, pair) {
        // With `merge`, the `<<` key parses as a symbol.
        const key = isPair(pair) && isScalar(pair.key) ? pair.key.value : '';
        if (typeof key !== 'string' && typeof key !== 'symbol') {
          problems.push(`map key ${String(key)} is not a string`);
        }
      },
    });
    if (problems.length > 0) throw new Error(problems.join('; '));
    return document.toJS();
  });
}

export function readYamlDocuments(relative: string, options: { merge?: boolean } = {}): unknown[] {
  try {
    return parseYamlDocuments(readRepoText(relative), options);
  } catch (error) {
    throw new Error(`${relative}: ${(error as Error).message}`);
  }
}

/** The single document of a YAML file. */
export function readYaml(relative: string, options: { merge?: boolean } = {}): unknown {
  const documents = readYamlDocuments(relative, options);
  if (documents.length !== 1)
    throw new Error(`${relative}: expected one YAML document, found ${documents.length}`);
  return documents[0];
}

/** A deep copy to mutate in a negative test. */
export function mutated<T>(value: T, mutate: (copy: T) => void): T {
  const copy = structuredClone(value);
  mutate(copy);
  return copy;
}
