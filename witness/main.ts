// The witness process: `node dist/witness/main.js --config witness.yaml`. Start-up validates
// the configuration, the key and the state directory, and exits non-zero with a precise message
// on the first problem. Nothing key-related is ever logged.
import { runService, serviceUsage } from '../service/process.js';
import { loadConfig } from './config.js';
import { startWitnessService, witnessLogger } from './service.js';

const usage = serviceUsage(
  'witness/main.js',
  'A C2SP tlog-witness (https://c2sp.org/tlog-witness): cosigns the checkpoints of the logs it\n' +
    'is configured with, each only once proven consistent with the last it cosigned. Its HTTP\n' +
    'port serves POST /add-checkpoint, /healthz and /metrics.',
  'GOV_WITNESS',
  ['http'],
  { redis: false },
);

runService('witness', usage, async (path) => {
  const config = loadConfig(path);
  const logger = witnessLogger(config);
  const service = await startWitnessService(config, logger);
  return { logger, stop: service.stop };
});
