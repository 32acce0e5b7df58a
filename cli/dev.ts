#!/usr/bin/env node
// `npm start`: dev mode (cli/dev-mode.ts) with a banner saying what runs where; Ctrl-C stops it.
import { Command } from 'commander';
import { GovernanceError } from '../core/errors.js';
import { exitOnSignals } from '../service/process.js';
import { addPortOptions, DEFAULT_DEV_DIR, portsOf, startDevMode, type DevMode } from './dev-mode.js';

const program = addPortOptions(new Command('npm start --'))
  .description(
    'run the authority, the ext_authz enforcement point and the ledger sequencer in one process, ' +
      'from a generated development deployment (production-shaped configs, dev keys and tokens)',
  )
  .option('--dir <folder>', 'where the deployment (keys, tokens, configs) is written', DEFAULT_DEV_DIR)
  .option('--redis-url <url>', 'keep all state in this Redis instead of in memory (default: $REDIS_URL)')
  .option('--log-level <level>', 'log level of the three services', 'warn')
  .parse();

const opts = program.opts<{
  dir: string;
  authorityGrpcPort: number;
  authorityHttpPort: number;
  authzGrpcPort: number;
  authzHttpPort: number;
  sequencerHttpPort: number;
  redisUrl?: string;
  logLevel: string;
}>();
function banner(dev: DevMode, startMs: number): string {
  const { deployment: d, urls } = dev;
  const store =
    dev.store === 'memory'
      ? [
          'in memory: NOT durable, all state (artifacts, use state, ledger) is lost on exit',
          '(set REDIS_URL to keep it in Redis)',
        ]
      : [
          `Redis ${new URL(redisUrl!).host}, key prefix ${d.redisKeyPrefix} ` +
            `(from ${opts.redisUrl ? '--redis-url' : 'REDIS_URL'}; ` +
            `${dev.fresh ? 'new deployment' : 'deployment reused from the folder'})`,
        ];
  return [
    `execution governance: dev mode, ready in ${startMs} ms`,
    '',
    `  authority    gRPC ${urls.authorityGrpc}   HTTP ${urls.authorityHttp}  (proof: /v1/proof/checkpoint, /v1/proof/lineage/<id>)`,
    `  ext_authz    gRPC ${urls.authzGrpc}   HTTP ${urls.authzHttp}  (/healthz, /metrics, /runtime/admit, /runtime/attest)`,
    `  ledger       sequencer in this process; checkpoints every second; HTTP ${urls.sequencerHttp}  (/healthz, /metrics)`,
    `  store        ${store[0]}`,
    ...store.slice(1).map((line) => `               ${line}`),
    '  policies     policy://medical/inference/v3, policy://governance/admin/v1 (examples/policies/)',
    `  deployment   ${d.dir}  (production-shaped configs: authority.yaml, authz.yaml, sequencer.yaml)`,
    `  dev tokens   ${d.dir}/tokens.json  (one file per role in ${d.dir}/tokens/)`,
    `  root key     ${d.files.rootPublicKey}  (pin it to verify anything)`,
    '',
    'Next, in another terminal:',
    `  npm run demo${d.dir === DEFAULT_DEV_DIR ? '' : ` -- --dir ${d.dir}`}       the whole lifecycle, step by step`,
    `  npx govctl ledger verify --url ${urls.authorityHttp} --root ${d.files.rootPublicKey}`,
    '',
    'Ctrl-C stops everything.',
  ].join('\n');
}

const started = performance.now();
const redisUrl = opts.redisUrl ?? process.env.REDIS_URL;
let dev: DevMode;
try {
  dev = await startDevMode({
    dir: opts.dir,
    ports: portsOf(opts),
    redisUrl,
    logLevel: opts.logLevel,
  });
} catch (e) {
  const message = e instanceof GovernanceError ? `${e.code}: ${e.message}` : (e as Error).message;
  const inUse = /EADDRINUSE|No address added/.test(message);
  process.stderr.write(
    `dev mode: cannot start: ${message}\n` +
      (inUse
        ? 'A port is taken: is dev mode already running? Choose others with --authority-grpc-port etc.\n'
        : ''),
  );
  process.exit(1);
}
console.log(banner(dev, Math.round(performance.now() - started)));

// A second Ctrl-C does not wait, nor does a stop that outlasts the bound (Redis gone).
exitOnSignals(dev.stop, (level, message) => {
  if (level === 'info') console.log(`\n${message}…`);
  else process.stderr.write(`dev mode: ${message}\n`);
});
