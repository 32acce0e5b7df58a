// The servers a run can measure: the two baselines, spawned here, the full path (full-path.ts)
// and an ext_authz address given with --target. The built-in request and artifact template are
// those of the development deployment (dev-deployment.ts), which the full path runs.
import { readFileSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { compilePolicy, type CompiledPolicy } from '../../authority/policy.js';
import { base64urlEncode } from '../../core/encoding.js';
import { rawPublicKey } from '../../core/keys.js';
import {
  DEV_ENVIRONMENT,
  DEV_IDENTITIES,
  DEV_ISSUER,
  DEV_ROUTE,
  PROJECT_ROOT,
} from '../../devkit/dev-deployment.js';
import { BASELINES, type Baseline } from './baseline-server.js';
import { parseRoute, type RequestShape } from '../../devkit/check-request.js';
import type { Target } from './run.js';
import { nodeCommand, packageModule, startChild } from '../../devkit/server-process.js';
import type { PayloadTemplate } from './traffic.js';

export const BUILTIN_PRINCIPAL = DEV_IDENTITIES.workload;
/** DEV_ROUTE's path template with {model} filled in as the template's op.model. */
export const BUILTIN_ROUTE = `${DEV_ROUTE.method} /v1/models/clinical-summary-v4:invoke`;
export const BUILTIN_HOST = 'inference.bench.local';

/** The policy DEV_ROUTE requires, compiled by the authority's own compiler (for its ref and hash). */
export function builtinPolicy(): CompiledPolicy {
  const policy = compilePolicy(
    readFileSync(join(PROJECT_ROOT, 'examples', 'policies', 'medical-inference-v3.yaml'), 'utf8'),
  );
  if (policy.ref !== DEV_ROUTE.policy)
    throw new Error(`the example policy is ${policy.ref}, the dev route needs ${DEV_ROUTE.policy}`);
  return policy;
}

export function builtinTemplate(principal: string): PayloadTemplate {
  const policy = builtinPolicy();
  return {
    v: '1',
    iss: DEV_ISSUER,
    sub: principal,
    op: { name: DEV_ROUTE.operation, model: 'clinical-summary-v4', scope: ['phi.read'] },
    pol: { ref: policy.ref, hash: policy.hash },
    env: { ...DEV_ENVIRONMENT },
  };
}

/** The built-in request: the dev route's model invocation by the workload, from the template's environment. */
export function builtinShape(template: PayloadTemplate): RequestShape {
  return {
    principal: template.sub,
    ...parseRoute(BUILTIN_ROUTE),
    host: BUILTIN_HOST,
    contextExtensions: { ...template.env },
  };
}

export interface RunningTarget {
  target: Target;
  stop(): Promise<void>;
}

const BASELINE_MODULE = packageModule('bench/lib/baseline-server');

/** A baseline as its own process on 127.0.0.1, trusting one issuer key (the crypto floor verifies with it). */
export async function startBaseline(
  baseline: Baseline,
  issuer: { kid: string; key: KeyObject },
): Promise<RunningTarget> {
  const trust = `${issuer.kid}=${base64urlEncode(rawPublicKey(issuer.key))}`;
  const server = await startChild(...nodeCommand(BASELINE_MODULE, [baseline, trust]), (line) => {
    const port = (JSON.parse(line) as { port?: unknown }).port;
    return typeof port === 'number' ? port : undefined;
  });
  return {
    target: {
      name: baseline,
      enforcement: baseline === 'noop' ? 'none' : 'signature',
      address: `127.0.0.1:${server.ready}`,
      pid: server.pid,
    },
    stop: server.stop,
  };
}

export { BASELINES, type Baseline };
