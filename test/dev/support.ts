// Dev mode in this process on free ports, in a folder of its own, for the dev, CLI and client tests.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDevMode, type DevMode, type DevModeOptions } from '../../cli/dev-mode.js';
import { parseCheckpointNote } from '../../core/checkpoint.js';
import type { LedgerEvent } from '../../core/event.js';
import { DEV_ENVIRONMENT, DEV_IDENTITIES } from '../../devkit/dev-deployment.js';

export const FREE_PORTS = {
  authorityGrpc: 0,
  authorityHttp: 0,
  authzGrpc: 0,
  authzHttp: 0,
  sequencerHttp: 0,
};

export interface TestDevMode extends DevMode {
  /** Stops it and removes its folder. */
  close(): Promise<void>;
}

export async function startTestDevMode(options: DevModeOptions = {}): Promise<TestDevMode> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'gov-dev-test-'));
  const dev = await startDevMode({
    ports: FREE_PORTS,
    // Heads every 100 ms, so lineage proofs are complete soon after the events.
    headIntervalMs: 100,
    logLevel: 'silent',
    ...options,
    dir,
  });
  return {
    ...dev,
    async close() {
      await dev.stop();
      if (options.dir === undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The sample request: the gateway invoking the approved model (docs/cli.md). */
export const GATEWAY = DEV_IDENTITIES.workload;
export const MODEL_PATH = '/v1/models/clinical-summary-v4:invoke';
export const INFERENCE_RUNTIME = DEV_ENVIRONMENT.runtime;
export const SAMPLE_OPERATION = {
  name: 'model.invoke',
  params: { model: 'clinical-summary-v4' },
  scope: ['phi.read', 'phi.no_export'],
};

/**
 * The lineage proof's event types, once its checkpoint covers every record chained when it was
 * first asked (GET /v1/proof/lineage: `chained`).
 */
export async function lineageTypes(url: string): Promise<string[]> {
  const deadline = Date.now() + 10_000;
  let target: number | undefined;
  for (;;) {
    const answer = (await (await fetch(url)).json()) as {
      lineage: string;
      checkpoint: string;
      records: { record: string }[];
      chained: number;
    };
    target ??= answer.chained;
    if (parseCheckpointNote(answer.checkpoint).checkpoint.size >= target || Date.now() > deadline)
      return answer.records.flatMap((r) =>
        (JSON.parse(r.record) as { events: LedgerEvent[] }).events
          .filter((e) => e.lineage === answer.lineage)
          .map((e) => e.type),
      );
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
