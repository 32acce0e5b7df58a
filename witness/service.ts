// The witness's wiring from a loaded configuration, shared by main.ts and `govctl witness serve`:
// the key, the state directory, the Witness and its HTTP port (POST /add-checkpoint, /healthz,
// /metrics).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import { nodeCrypto } from '../core/crypto-node.js';
import { GovernanceError } from '../core/errors.js';
import { keySigner, rawPublicKey } from '../core/keys.js';
import { NOTE_MAX_BYTES, cosignatureVerifierKey } from '../core/note.js';
import { createServiceHttpServer, type HealthReport } from '../service/http.js';
import { readPrivateKey } from '../service/keys.js';
import { logKeys, type WitnessConfig } from './config.js';
import { WitnessMetrics } from './metrics.js';
import { WitnessStateDir } from './state.js';
import { Witness, type WitnessReply } from './witness.js';

/**
 * The largest add-checkpoint body read: 63 proof lines and a checkpoint note with its log
 * signature and a few dozen cosignatures take a few kilobytes; 256 KiB leaves room for 16
 * post-quantum signatures (the signed-note floor) while bounding what one request may hold in
 * memory. The body of a larger request is read to its end (up to DRAIN_MAX_BYTES) and dropped,
 * so the client gets its 413 rather than a reset connection.
 */
export const ADD_CHECKPOINT_MAX_BYTES = Math.min(256 * 1024, NOTE_MAX_BYTES);
const DRAIN_MAX_BYTES = 16 * ADD_CHECKPOINT_MAX_BYTES;

export interface RunningWitness {
  witness: Witness;
  httpPort: number;
  /** The witness's cosignature verifier key (name+hash+base64(0x04 || key)). */
  verifierKey: string;
  metrics: WitnessMetrics;
  health(): HealthReport;
  stop(): Promise<void>;
}

export function witnessLogger(config: WitnessConfig): Logger {
  return pino({ level: config.logLevel, base: { service: 'witness', name: config.name } });
}

/** The body, or undefined when it is larger than `max` (then read to its end and dropped). */
function readBody(req: IncomingMessage, max: number): Promise<Uint8Array | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    req.on('data', (chunk: Buffer) => {
      length += chunk.length;
      if (length > DRAIN_MAX_BYTES) req.destroy();
      else if (length <= max) chunks.push(chunk);
    });
    req.on('end', () => resolve(length > max ? undefined : new Uint8Array(Buffer.concat(chunks))));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** Reads the key and the state directory, opens the HTTP port; stop() closes it. */
export async function startWitnessService(config: WitnessConfig, logger: Logger): Promise<RunningWitness> {
  const suite = nodeCrypto;
  let privateKey;
  try {
    privateKey = readPrivateKey(config.keyFile);
  } catch (e) {
    throw new GovernanceError('config.invalid', `keyFile: ${(e as Error).message}`);
  }
  const publicKey = rawPublicKey(privateKey);
  const state = new WitnessStateDir(config.stateDir);
  try {
    await state.open();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new GovernanceError(
      'config.invalid',
      `stateDir ${config.stateDir} is not a writable directory: ${code}`,
    );
  }
  const witness = new Witness({
    suite,
    name: config.name,
    signer: keySigner(config.name, privateKey),
    publicKey,
    logs: logKeys(config),
    state,
  });
  const metrics = new WitnessMetrics({ processMetrics: true });
  // Read every log's state now: the size gauges start from what was cosigned before a restart,
  // and an unreadable file is named at start-up, not first at the log's next request (which it
  // fails with 500: the origin is never taken for one the witness has not cosigned).
  for (const log of config.logs) {
    try {
      const recorded = await state.read(log.origin);
      if (recorded) metrics.size.set({ origin: log.origin }, recorded.size);
    } catch (e) {
      logger.error({ err: e, origin: log.origin }, 'cannot read the state of a log; its requests fail');
    }
  }
  const health = (): HealthReport =>
    state.writable()
      ? { serving: true, problems: [] }
      : { serving: false, problems: [`the state directory ${config.stateDir} is not writable`] };
  const reply = (res: ServerResponse, r: WitnessReply) => {
    if (r.refusal) {
      metrics.refusals.inc({ reason: r.refusal });
      logger.info(
        { status: r.status, code: r.code, origin: r.origin, size: r.size },
        'add-checkpoint refused',
      );
    } else if (r.status === 200) {
      metrics.cosignatures.inc();
      if (r.origin !== undefined && r.size !== undefined) metrics.size.set({ origin: r.origin }, r.size);
      logger.debug({ origin: r.origin, size: r.size }, 'cosigned');
    }
    send(res, r.status, r.contentType, r.body);
  };
  const routes = async (req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean> => {
    if (path !== '/add-checkpoint') return false;
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      send(res, 405, 'text/plain; charset=utf-8', 'add-checkpoint is a POST\n');
      return true;
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    const body = declared > DRAIN_MAX_BYTES ? undefined : await readBody(req, ADD_CHECKPOINT_MAX_BYTES);
    if (body === undefined) {
      res.setHeader('connection', 'close');
      reply(res, {
        status: 413,
        contentType: 'text/plain; charset=utf-8',
        body: `encoding.invalid: the body is over ${ADD_CHECKPOINT_MAX_BYTES} bytes\n`,
        refusal: 'malformed',
        code: 'encoding.invalid',
      });
      return true;
    }
    try {
      reply(res, await witness.addCheckpoint(body));
    } catch (e) {
      // The state could not be read or written: nothing was cosigned.
      logger.error({ err: e }, 'add-checkpoint failed');
      send(res, 500, 'text/plain; charset=utf-8', 'internal.error\n');
    }
    return true;
  };
  const server = createServiceHttpServer({
    metrics: { text: () => metrics.registry.metrics(), contentType: metrics.registry.contentType },
    health,
    logger,
    routes,
  });
  const httpPort = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.http.port, config.http.host, () => resolve((server.address() as AddressInfo).port));
  });
  const verifierKey = cosignatureVerifierKey(suite, config.name, publicKey);
  logger.info({ http: httpPort, vkey: verifierKey, logs: config.logs.length }, 'witness serving');
  return {
    witness,
    httpPort,
    verifierKey,
    metrics,
    health,
    async stop() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
