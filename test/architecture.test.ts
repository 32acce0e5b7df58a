import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkLayers } from '../scripts/check-layers.js';

describe('dependency direction', () => {
  it('holds for this repository', () => {
    expect(checkLayers()).toEqual([]);
  });

  describe('catches violations in a fixture tree', () => {
    const root = mkdtempSync(join(tmpdir(), 'layers-'));
    afterAll(() => rmSync(root, { recursive: true, force: true }));
    const write = (path: string, text: string) => {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), text);
    };
    write('core/portable.ts', "export * from './a.js';\n");
    write(
      'core/a.ts',
      "import { readFileSync } from 'node:fs';\nimport { x } from '../ledger/x.js';\nexport const a = [readFileSync, x];\n",
    );
    write('ledger/x.ts', 'export const x = 1;\n');
    write('authority/a.ts', "import { h } from '../authz-server/h.js';\nexport const a = h;\n");
    write('authz-server/h.ts', "import { a } from '../authority/a.js';\nexport const h = a;\n");
    write('store/s.ts', "import { t } from '../test/t.js';\nexport const s = t;\n");
    write('sequencer/q.ts', "import { a } from '../authority/a.js';\nexport const q = a;\n");
    write('service/v.ts', "import { x } from '../ledger/x.js';\nexport const v = x;\n");
    write('cli/c.ts', "import { b } from '../bench/b.js';\nexport const c = b;\n");
    write('cli/commands/bench.ts', "import { b } from '../../bench/b.js';\nexport const c = b;\n");
    write('bench/b.ts', "import { c } from '../cli/c.js';\nexport const b = c;\n");
    const problems = checkLayers(root);

    it.each([
      ['core importing ledger', 'core/a.ts imports ../ledger/x.js'],
      ['core doing I/O', 'core/a.ts imports node:fs: core/'],
      ['a Node built-in in the portable verifier', 'core/a.ts imports node:fs: the portable'],
      ['authority importing authz-server', 'authority/a.ts imports ../authz-server/h.js'],
      ['authz-server importing authority', 'authz-server/h.ts imports ../authority/a.js'],
      ['shipped code importing test/', 'store/s.ts imports ../test/t.js'],
      ['one service importing another', 'sequencer/q.ts imports ../authority/a.js'],
      ['the service room importing the ledger', 'service/v.ts imports ../ledger/x.js'],
      [
        'cli/ importing bench/ outside govctl bench',
        'cli/c.ts imports ../bench/b.js: cli/ may depend on bench/ from',
      ],
      ['bench/ importing cli/', 'bench/b.ts imports ../cli/c.js'],
    ])('%s', (_name, prefix) => {
      expect(problems.some((p) => p.startsWith(prefix))).toBe(true);
    });

    it('allows govctl bench to import bench/', () => {
      expect(problems.filter((p) => p.startsWith('cli/commands/bench.ts'))).toEqual([]);
    });
  });
});
