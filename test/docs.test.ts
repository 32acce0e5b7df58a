// Documentation that makes claims must point at tests that exist, and links must resolve.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');

function markdownFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? markdownFiles(join(dir, entry.name))
      : entry.name.endsWith('.md')
        ? [join(dir, entry.name)]
        : [],
  );
}

const docs = ['README.md', ...markdownFiles('docs')];

describe('documentation', () => {
  it.each(docs)('%s: every test file it names exists', (doc) => {
    const text = readFileSync(join(ROOT, doc), 'utf8');
    const named = [...text.matchAll(/`(test\/[\w./*-]+)`/g)].map((m) => m[1]!);
    for (const path of named) {
      const base = path.replace(/\*.*$/, '');
      expect(existsSync(join(ROOT, base)), `${doc} names ${path}`).toBe(true);
    }
  });

  it.each(docs)('%s: every relative link resolves', (doc) => {
    const text = readFileSync(join(ROOT, doc), 'utf8');
    for (const [, target] of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
      if (/^[a-z]+:/.test(target!)) continue;
      expect(existsSync(resolve(ROOT, dirname(doc), target!)), `${doc} links ${target}`).toBe(true);
    }
  });
});
