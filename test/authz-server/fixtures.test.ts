// The Envoy CheckRequest fixtures say what each one is and where its shape comes from, as the
// vectors do, and each is used by a test (an unused fixture is a behaviour nobody checks).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../support/shared.js';
import { fixtureFiles } from './support/envoy-client.js';

const files = fixtureFiles();

function testSources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'fixtures' ? [] : testSources(path);
    return entry.name.endsWith('.ts') ? [readFileSync(path, 'utf8')] : [];
  });
}

describe('Envoy CheckRequest fixtures', () => {
  it('are ten or more', () => {
    expect(files.size).toBeGreaterThanOrEqual(10);
  });

  it.each([...files])('%s says what it is and where it came from', (_name, file) => {
    expect(Object.keys(file)).toEqual(['desc', 'source', 'check_request']);
    expect(file.desc.length).toBeGreaterThan(20);
    expect(file.source).toMatch(/envoy\.service\.auth\.v3\.CheckRequest/);
    expect(Object.keys(file.check_request)).toEqual(['attributes']);
  });

  it('are each used by a test', () => {
    const sources = testSources(join(PROJECT_ROOT, 'test')).join('\n');
    for (const name of files.keys()) expect(sources, name).toContain(`'${name}'`);
  });
});
