// The README's tour runs as written: each `npx govctl` line of its tour block, in order, against
// a dev mode in this process (reached through GOVCTL_* as an operator would point govctl at a
// deployment), with the paths of the dev folder and of the files it writes moved to temp folders.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { govctl } from '../support/govctl.js';
import { PROJECT_ROOT } from '../support/shared.js';
import { startTestDevMode, type TestDevMode } from '../dev/support.js';

const README = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8');
const DEV_DIR = '/tmp/governance-dev';

interface TourCommand {
  line: string;
  args: string[];
  exit: number;
  /** What the output must say (the comment before "(exit N)"), whitespace collapsed. */
  says: string;
}

/** Shell words of one line (double and single quotes), and its trailing comment. */
function words(line: string): { args: string[]; comment: string } {
  const args: string[] = [];
  let current: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === '"' || c === "'") {
      const end = line.indexOf(c, i + 1);
      if (end < 0) throw new Error(`unbalanced quote in ${line}`);
      current = (current ?? '') + line.slice(i + 1, end);
      i = end;
    } else if (c === '#' && current === undefined) {
      return { args, comment: line.slice(i + 1).trim() };
    } else if (/\s/.test(c)) {
      if (current !== undefined) args.push(current);
      current = undefined;
    } else current = (current ?? '') + c;
  }
  if (current !== undefined) args.push(current);
  return { args, comment: '' };
}

function tourCommands(): TourCommand[] {
  const marker = README.indexOf('<!-- tour:');
  expect(marker).toBeGreaterThan(0);
  const block = /```sh\n([\s\S]*?)```/.exec(README.slice(marker))![1]!;
  const lines = block.replace(/\\\n\s*/g, ' ').split('\n');
  return lines
    .filter((line) => line.trim() !== '' && !line.trim().startsWith('#'))
    .map((line) => {
      const { args, comment } = words(line);
      expect(args.slice(0, 2), line).toEqual(['npx', 'govctl']);
      const exit = /\(exit (\d)\)/.exec(comment);
      return {
        line,
        args: args.slice(2),
        exit: exit ? Number(exit[1]) : 0,
        says: comment
          .replace(/\(exit \d\)/, '')
          .replace(/\s+/g, ' ')
          .trim(),
      };
    });
}

describe('README', () => {
  it('starts with the two commands', () => {
    const start = README.slice(README.indexOf('## Start here'), README.indexOf('## A five-minute tour'));
    const commands = /```sh\n([\s\S]*?)```/
      .exec(start)![1]!
      .split('\n')
      .filter(Boolean)
      .map((l) => l.replace(/#.*$/, '').trim());
    expect(commands).toEqual(['npm ci && npm start', 'npm test']);
  });

  describe('tour', () => {
    let dev: TestDevMode;
    const work = mkdtempSync(join(tmpdir(), 'readme-tour-'));
    const saved = { ...process.env };
    beforeAll(async () => {
      dev = await startTestDevMode();
      process.env.GOVCTL_AUTHORITY = dev.urls.authorityGrpc;
      process.env.GOVCTL_PROOF_URL = dev.urls.authorityHttp;
      process.env.GOVCTL_AUTHZ = dev.urls.authzGrpc;
    });
    afterAll(async () => {
      process.env = saved;
      await dev?.close();
      rmSync(work, { recursive: true, force: true });
    });

    /** The tour's paths, moved: the dev folder, the sample files, the files the tour writes. */
    const moved = (arg: string) =>
      arg
        .replace(DEV_DIR, dev.deployment.dir)
        .replace(/^examples\//, `${PROJECT_ROOT}/examples/`)
        .replace(/^(@?)([\w-]+\.(txt|jsonl))$/, `$1${work}/$2`);

    const commands = tourCommands();
    it('has the commands of a tour', () => {
      const names = commands.map((c) =>
        c.args
          .filter((a) => !a.startsWith('-'))
          .slice(0, 2)
          .join(' '),
      );
      for (const name of [
        'artifact request',
        'check',
        'lineage @artifact.txt',
        'ledger verify',
        'revoke @artifact.txt',
      ])
        expect(names.some((n) => n.startsWith(name))).toBe(true);
    });

    it.each(commands.map((c, i) => [i + 1, c.line.trim(), c]))('%i: %s', async (_i, _line, command) => {
      const { args, exit, says } = command as TourCommand;
      const run = await govctl(...args.map(moved));
      expect(run.code, run.stdout + run.stderr).toBe(exit);
      if (says) expect((run.stdout + run.stderr).replace(/\s+/g, ' ')).toContain(says);
    });
  });
});
