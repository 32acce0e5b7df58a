// The servers a run can measure: the two baselines, spawned here, and an ext_authz address given
// with --target. The built-in request and artifact template are what the baselines (and the
// generated full-path configuration) are set up for.
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KeyObject } from 'node:crypto';
import { nodeCrypto } from '../../core/crypto-node.js';
import { base64urlEncode } from '../../core/encoding.js';
import { rawPublicKey } from '../../core/keys.js';
import { policyHash } from '../../core/registry.js';
import { BASELINES, type Baseline } from './baseline-server.js';
import type { Target } from './run.js';
import { startServerProcess } from './server-process.js';
import type { PayloadTemplate } from './traffic.js';

export const BUILTIN_PRINCIPAL = 'spiffe://bench.local/ns/bench/sa/load-generator';
export const BUILTIN_ROUTE = 'POST /v1/models/clinical-summary-v4:invoke';
export const BUILTIN_HOST = 'api.bench.local';
export const BUILTIN_POLICY = {
  ref: 'policy://bench/model-invoke/v1',
  document: { bench: 'every model.invoke request of the benchmark principal' },
};

export function builtinTemplate(principal: string): PayloadTemplate {
  return {
    v: '1',
    iss: 'governance://bench/authority',
    sub: principal,
    op: { name: 'model.invoke', model: 'clinical-summary-v4', scope: ['phi.read'] },
    pol: { ref: BUILTIN_POLICY.ref, hash: policyHash(nodeCrypto, BUILTIN_POLICY.document) },
    env: { runtime: 'bench://loopback', region: 'local', tenancy: 'single' },
  };
}

export interface RunningTarget {
  target: Target;
  stop(): Promise<void>;
}

// The sibling module, .ts under tsx and vitest, .js once built.
const BASELINE_MODULE = join(
  dirname(fileURLToPath(import.meta.url)),
  `baseline-server${extname(fileURLToPath(import.meta.url))}`,
);

/** A baseline as its own process on 127.0.0.1, trusting one issuer key (the crypto floor verifies with it). */
export async function startBaseline(
  baseline: Baseline,
  issuer: { kid: string; key: KeyObject },
): Promise<RunningTarget> {
  const trust = `${issuer.kid}=${base64urlEncode(rawPublicKey(issuer.key))}`;
  const server = await startServerProcess(BASELINE_MODULE, [baseline, trust], (line) => {
    const port = (JSON.parse(line) as { port?: unknown }).port;
    return typeof port === 'number' ? port : undefined;
  });
  return {
    target: {
      name: baseline,
      enforcement: baseline === 'noop' ? 'none' : 'signature',
      address: server.address,
      pid: server.pid,
    },
    stop: server.stop,
  };
}

export { BASELINES, type Baseline };
