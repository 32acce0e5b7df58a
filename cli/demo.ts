#!/usr/bin/env node
// `npm run demo`: the guided lifecycle (cli/demo-lifecycle.ts) against the dev mode answering on
// the default ports, or against one started here, in-process, when none answers.
import { Command } from 'commander';
import { DEFAULT_PORTS, readDevDeployment } from './dev-setup.js';
import { runDemo, type DemoTarget } from './demo-lifecycle.js';
import { DEFAULT_DEV_DIR, startDevMode, type DevMode } from './dev-mode.js';

const program = new Command('npm run demo --')
  .description('walk one artifact through its whole life against the dev mode, checking every step')
  .option('--dir <folder>', "the running dev mode's deployment folder", DEFAULT_DEV_DIR)
  .parse();
const { dir } = program.opts<{ dir: string }>();

const local = (port: number) => `127.0.0.1:${port}`;
const urls = {
  authorityGrpc: local(DEFAULT_PORTS.authorityGrpc),
  authorityHttp: `http://${local(DEFAULT_PORTS.authorityHttp)}`,
  authzGrpc: local(DEFAULT_PORTS.authzGrpc),
  authzHttp: `http://${local(DEFAULT_PORTS.authzHttp)}`,
};

/** The pinned root the dev mode on the default ports serves, or undefined when none answers. */
async function runningRoot(): Promise<string | undefined> {
  try {
    const response = await fetch(`${urls.authorityHttp}/v1/proof/issuers`, {
      signal: AbortSignal.timeout(2000),
    });
    const { roots } = (await response.json()) as { roots: { public_key: string }[] };
    return roots[0]?.public_key;
  } catch {
    return undefined;
  }
}

const started = performance.now();
const root = await runningRoot();
let target: DemoTarget;
let dev: DevMode | undefined;
if (root !== undefined) {
  const deployment = readDevDeployment(dir);
  if (!deployment || deployment.rootPublicKey !== root) {
    process.stderr.write(
      `demo: the dev mode on ${urls.authorityHttp} was not started from ${dir}; give its folder with --dir\n`,
    );
    process.exit(2);
  }
  console.log(`Against the dev mode running from ${dir}.`);
  target = { deployment, urls };
} else {
  console.log('No dev mode answers on the default ports: starting one in this process (in memory).');
  dev = await startDevMode({ dir });
  target = dev;
}
const steps = await runDemo(target, (line) => console.log(line));
await dev?.stop();
const failed = steps.filter((s) => !s.ok);
const seconds = ((performance.now() - started) / 1000).toFixed(1);
console.log(
  failed.length === 0
    ? `\nAll ${steps.length} steps gave the expected result (${seconds} s).`
    : `\nStep "${failed[0]!.title}" did not give the expected result (${seconds} s).`,
);
process.exit(failed.length === 0 ? 0 : 1);
