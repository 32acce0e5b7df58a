// Preloaded into an enforcement-point process (`node --import tsx --import <this file>`) to skew
// its clock: Date.now() returns real time plus the offset (ms) written in the file named by
// GOV_TEST_CLOCK_OFFSET_FILE, re-read on SIGUSR2 so a test can move the clock while the process
// serves. Every clock of the server (decisions, registry freshness, ledger commit lag) reads
// Date.now, so they all move together; Redis keeps its own, unskewed clock, as in a real skew.
// Each change is acknowledged on stderr, so a test knows from when it is in effect.
import { readFileSync } from 'node:fs';

const file = process.env.GOV_TEST_CLOCK_OFFSET_FILE;
if (file !== undefined) {
  const realNow = Date.now.bind(Date);
  let offsetMs = 0;
  const reread = () => {
    const value = Number(readFileSync(file, 'utf8').trim());
    offsetMs = Number.isSafeInteger(value) ? value : 0;
    process.stderr.write(`clock-shim: offset ${offsetMs} ms\n`);
  };
  reread();
  Date.now = () => realNow() + offsetMs;
  process.on('SIGUSR2', reread);
}
