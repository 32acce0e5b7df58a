#!/usr/bin/env node
// `npm run demo`: the guided lifecycle (cli/demo-lifecycle.ts) against the dev mode answering on
// the given ports (by default dev mode's), or against one started here, in-process, when none
// answers.
import { Command } from 'commander';
import { readDevDeployment } from '../devkit/dev-deployment.js';
import { runDemo, type DemoTarget } from './demo-lifecycle.js';
import { addPortOptions, DEFAULT_DEV_DIR, devUrls, portsOf, startDevMode, type DevMode } from './dev-mode.js';

const program = addPortOptions(
  new Command('npm run demo --')
    .description('walk artifacts through their whole life against the dev mode, checking every step')
    .option('--dir <folder>', "the dev mode's deployment folder", DEFAULT_DEV_DIR),
).parse();
const opts = program.opts<Parameters<typeof portsOf>[0] & { dir: string }>();
const ports = portsOf(opts);
const urls = devUrls(ports);

/** The root key the authority on these ports pins, or undefined when nothing answers. */
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
  // The demo signs with the deployment's keys and uses its tokens: they must be the running one's.
  const deployment = readDevDeployment(opts.dir);
  if (deployment?.rootPublicKey !== root) {
    process.stderr.write(
      `demo: the dev mode on ${urls.authorityHttp} was not started from ${opts.dir}; give its folder with --dir\n`,
    );
    process.exit(2);
  }
  console.log(`Against the dev mode running from ${opts.dir}.`);
  target = { deployment, urls };
} else {
  console.log(`No dev mode answers on ${urls.authorityHttp}: starting one in this process (in memory).`);
  dev = await startDevMode({ dir: opts.dir, ports, logLevel: 'error' });
  target = dev;
}
const steps = await runDemo(target, (line) => console.log(line));
await dev?.stop();
const failed = steps.find((s) => !s.ok);
const seconds = ((performance.now() - started) / 1000).toFixed(1);
console.log(
  failed
    ? `\nStep "${failed.title}" did not give the expected result (${seconds} s).`
    : `\nAll ${steps.length} steps gave the expected result (${seconds} s).`,
);
process.exit(failed ? 1 : 0);
