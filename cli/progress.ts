// Progress of long operations (ledger verification, export) as a bar on standard error, only
// when standard error is a terminal: piped output and scripts see nothing of it.
import { SingleBar } from 'cli-progress';

export interface Progress {
  update(value: number, total?: number): void;
  stop(): void;
}

const silent: Progress = { update: () => undefined, stop: () => undefined };

export function progressBar(label: string, unit: string): Progress {
  if (!process.stderr.isTTY) return silent;
  const bar = new SingleBar({
    format: `${label} [{bar}] {percentage}% | {value}/{total} ${unit} | {duration_formatted}`,
    stream: process.stderr,
    hideCursor: true,
    clearOnComplete: true,
  });
  let started = false;
  return {
    update(value, total) {
      if (!started) {
        bar.start(total ?? value, value);
        started = true;
      } else {
        if (total !== undefined) bar.setTotal(total);
        bar.update(value);
      }
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
