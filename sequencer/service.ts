// The sequencer's wiring from a loaded configuration, shared by main.ts (Redis) and the dev mode
// (cli/dev-mode.ts, in memory or on Redis): the same keys, Sequencer and HTTP server; only the
// stores differ between callers.
import { open } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import { nodeCrypto } from '../core/crypto-node.js';
import { GovernanceError } from '../core/errors.js';
import { verifyCertifiedKey, type KeyRecord, type PinnedRoots } from '../core/registry.js';
import { ledgerKeysOf, type ProducerKey } from '../core/chain.js';
import type { LedgerStore } from '../store/ledger-types.js';
import { LedgerArchiver } from '../ledger/archive.js';
import { ArchivedLedgerStore } from '../store/ledger-archived.js';
import type { RegistryStore } from '../store/types.js';
import { createServiceHttpServer, type HealthReport } from '../service/http.js';
import { loadHeldKey, loadPinnedRoots, type HeldKey } from '../service/keys.js';
import type { SequencerConfig } from './config.js';
import { SequencerMetrics } from './metrics.js';
import { Sequencer, type SequencerStatus } from './sequencer.js';
import { httpWitnesses } from './witnesses.js';

/** Everything read from files before any store is touched, so a bad file fails fast. */
export interface SequencerMaterial {
  roots: PinnedRoots;
  /** The audit key, certified by a pinned root for role audit and the log, valid now. */
  audit: HeldKey;
  /** The certified producer keys of producerKeysFile, read again on each call. */
  producerKeys: () => Promise<ReadonlyMap<string, ProducerKey>>;
}

export interface SequencerStores {
  registry: RegistryStore;
  ledger: LedgerStore;
}

export interface RunningSequencer {
  sequencer: Sequencer;
  httpPort: number;
  health(): HealthReport;
  stop(): Promise<void>;
}

function invalid(message: string): never {
  throw new GovernanceError('config.invalid', message);
}

/** More than any list of producer records needs: a larger file is refused unread. */
const MAX_PRODUCER_FILE_BYTES = 1 << 20;

/** The producer keys of a JSON array of key records, each certified by a pinned root; config.invalid naming the file. */
async function readProducerKeys(path: string, roots: PinnedRoots): Promise<ReadonlyMap<string, ProducerKey>> {
  const where = `producerKeysFile ${path}`;
  let text: string;
  try {
    const handle = await open(path, 'r');
    try {
      const { size } = await handle.stat();
      if (size > MAX_PRODUCER_FILE_BYTES) invalid(`${where} is larger than ${MAX_PRODUCER_FILE_BYTES} bytes`);
      text = await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
  } catch (e) {
    if (e instanceof GovernanceError) throw e;
    invalid(`cannot read ${where}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  let records: unknown;
  try {
    records = JSON.parse(text) as unknown;
  } catch {
    invalid(`${where} is not JSON`);
  }
  if (!Array.isArray(records)) invalid(`${where} must hold an array of key records`);
  const keys = records.map((record, i) => {
    try {
      return verifyCertifiedKey(nodeCrypto, record as KeyRecord, roots);
    } catch (e) {
      invalid(`${where} record ${i}: ${(e as Error).message}`);
    }
  });
  return ledgerKeysOf(keys).producers;
}

/** The pinned roots, the audit key and the producer keys; throws config.invalid naming the file. */
export async function loadSequencerMaterial(config: SequencerConfig): Promise<SequencerMaterial> {
  const roots = loadPinnedRoots(config.trust.rootKeys);
  // The audit key speaks for the log: its record names the log as its subject.
  const audit = loadHeldKey(nodeCrypto, config.audit, {
    role: 'audit',
    subject: config.ledger.log,
    roots,
    now: Date.now() / 1000,
  });
  const producerKeys = () => readProducerKeys(config.producerKeysFile, roots);
  // Read now so that a bad file stops the start; read again when an unknown kid shows up.
  await producerKeys();
  return { roots, audit, producerKeys };
}

export function sequencerLogger(config: SequencerConfig): Logger {
  return pino({ level: config.logLevel, base: { service: 'sequencer', log: config.ledger.log } });
}

/**
 * Serving: running (leading, or standing by for the lease) with the store answering. The lease is
 * asked for or renewed every third of its time to live in either role, so an answer older than
 * the lease means the store (Redis) does not answer.
 */
export function sequencerHealth(status: SequencerStatus, now: number, leaseMs: number): HealthReport {
  const problems: string[] = [];
  if (status.state === 'idle' || status.state === 'starting') problems.push('starting');
  else if (status.state === 'stopped') problems.push('stopped');
  else if (status.leaseAnsweredAt === undefined) problems.push('the ledger store has not answered yet');
  else if (now - status.leaseAnsweredAt > leaseMs) {
    problems.push(`the ledger store has not answered for ${now - status.leaseAnsweredAt} ms`);
  }
  return { serving: problems.length === 0, problems };
}

/**
 * Publishes the audit key's record (verifiers find the key that signs checkpoints among the registry's
 * certified records, /v1/proof/issuers), opens the HTTP port, then starts the Sequencer; stop()
 * undoes it (not the stores).
 */
export async function startSequencerService(
  config: SequencerConfig,
  material: SequencerMaterial,
  stores: SequencerStores,
  logger: Logger,
): Promise<RunningSequencer> {
  await stores.registry.putKeyRecord(material.audit.record);
  const sequencer = new Sequencer({
    store: stores.ledger,
    auditKid: material.audit.key.kid,
    auditKey: material.audit.privateKey,
    producerKeys: material.producerKeys,
    leaseMs: config.leaseMs,
    headIntervalMs: config.headIntervalMs,
    replayWindowMs: config.replayWindowMs,
    openWorkers: config.openWorkers,
    // The archived view's store is what the archiver copies from and trims.
    ...(stores.ledger instanceof ArchivedLedgerStore && {
      archiver: new LedgerArchiver(nodeCrypto, stores.ledger.store, stores.ledger.archive, {
        hotRecords: config.ledger.hotRecords,
        hotMs: config.ledger.hotMs,
      }),
    }),
    log: (level, message) => logger[level](message),
    // No witnesses listed: checkpoints are published with the log's signature alone.
    ...(config.witnesses.list.length > 0 && {
      witnesses: httpWitnesses({
        threshold: config.witnesses.threshold,
        witnesses: config.witnesses.list,
        log: (level, message) => logger[level](message),
      }),
    }),
  });
  const health = () => sequencerHealth(sequencer.status(), Date.now(), config.leaseMs);
  const { registry } = new SequencerMetrics(() => sequencer.status(), { processMetrics: true });
  const server = createServiceHttpServer({
    metrics: { text: () => registry.metrics(), contentType: registry.contentType },
    health,
    logger,
  });
  // Listening first: a port that is taken stops the start before the lease is asked for.
  const httpPort = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.http.port, config.http.host, () => resolve((server.address() as AddressInfo).port));
  });
  sequencer.start();
  logger.info({ http: httpPort, openWorkers: config.openWorkers }, 'sequencer serving');
  return {
    sequencer,
    httpPort,
    health,
    async stop() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await sequencer.stop();
    },
  };
}
