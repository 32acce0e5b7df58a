// The client library depends on the protocol core only, so a workload pulls in no server code;
// govctl may use it. scripts/check-layers.ts enforces both on a fixture tree.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { checkLayers } from '../../scripts/check-layers.js';

const root = mkdtempSync(join(tmpdir(), 'client-layers-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const write = (path: string, text: string) => {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), text);
};

it('client/ may import core/ only, and cli/ may import client/', () => {
  write('core/portable.ts', 'export const p = 1;\n');
  write('core/a.ts', 'export const a = 1;\n');
  write('ledger/x.ts', 'export const x = 1;\n');
  write('authority/y.ts', 'export const y = 1;\n');
  write('client/ok.ts', "import { a } from '../core/a.js';\nexport const ok = a;\n");
  write(
    'client/bad.ts',
    "import { x } from '../ledger/x.js';\nimport { y } from '../authority/y.js';\nexport const bad = [x, y];\n",
  );
  write('cli/uses.ts', "import { ok } from '../client/ok.js';\nexport const uses = ok;\n");
  expect(checkLayers(root)).toEqual([
    'client/bad.ts imports ../ledger/x.js: client/ may not depend on ledger/',
    'client/bad.ts imports ../authority/y.js: client/ may not depend on authority/',
  ]);
});
