// Progress of a benchmark on standard error: a bar per run on a terminal; otherwise a line per
// run (or nothing, for `govctl bench`, whose piped output stays clean as every govctl command's).
import { SingleBar } from 'cli-progress';
import type { ProgressCallback } from './run.js';

export interface ProgressReporter {
  update: ProgressCallback;
  /** A line of its own (on a terminal, between bars). */
  line(text: string): void;
  stop(): void;
}

export function progressReporter(
  options: { linesWhenPiped: boolean } = { linesWhenPiped: true },
): ProgressReporter {
  let bar: SingleBar | undefined;
  let current: string | undefined;
  const tty = process.stderr.isTTY === true;
  const print = (text: string) => {
    if (tty || options.linesWhenPiped) process.stderr.write(`${text}\n`);
  };
  return {
    update(label, progress) {
      if (label !== current) {
        bar?.stop();
        current = label;
        bar = undefined;
        if (!tty || progress === undefined) {
          print(`running ${label}`);
          return;
        }
        bar = new SingleBar({
          format: '{label} |{bar}| {value}/{total} s  {completed} answered, {inFlight} in flight',
          stream: process.stderr,
          hideCursor: true,
        });
        bar.start(Math.round(progress.totalMs / 1000), 0, { label, completed: 0, inFlight: 0 });
      }
      if (progress === undefined) return;
      bar?.update(Math.min(Math.floor(progress.elapsedMs / 1000), Math.round(progress.totalMs / 1000)), {
        completed: progress.completed,
        inFlight: progress.inFlight,
      });
    },
    line(text) {
      bar?.stop();
      bar = undefined;
      current = undefined;
      print(text);
    },
    stop() {
      bar?.stop();
      bar = undefined;
    },
  };
}
