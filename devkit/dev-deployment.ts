// Writes a complete development deployment into a folder: a root key and the keys it certifies
// (issuer, the authority's and the enforcement point's ledger producers, the sequencer's audit
// key), development bearer tokens, and the three services' configuration files in the same
// shapes production uses. Dev mode (`npm start`), the demo, the fault-injection tests and the
// benchmarks' full path all start from it, so they exercise the production loaders rather than a
// parallel wiring.
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { base64urlEncode } from '../core/encoding.js';
import { generatePrivateKey, privateKeyToPem, publicKeyToPem, rawPublicKey, signSync } from '../core/keys.js';
import { certifyKey, type KeyRecord, type KeyRole } from '../core/registry.js';
import { formatSeconds } from '../core/time.js';
import { PACKAGE_ROOT } from '../service/package.js';

export const PROJECT_ROOT = PACKAGE_ROOT;

export const DEV_ISSUER = 'governance://dev/authority';
export const DEV_LOG = 'governance-dev';
/** The enforcement points' producer id: the subject of their producer key and their events' `producer`. */
export const DEV_AUTHZ_PRODUCER = 'authz-server://dev';
export const DEV_ROOT_KID = 'root:dev';
export const DEV_ENVIRONMENT = {
  runtime: 'k8s://cluster-east-1/ns/inference',
  region: 'us-east-1',
  tenancy: 'single',
};
/** The identities the sample policies name, each with a development bearer token. */
export const DEV_IDENTITIES = {
  workload: 'spiffe://prod.example.org/ns/inference/sa/gateway',
  security: 'spiffe://prod.example.org/ns/security/sa/oncall',
  policyOperator: 'spiffe://prod.example.org/ns/governance/sa/policy-operator',
} as const;
export const DEV_ROUTE = {
  method: 'POST',
  path: '/v1/models/{model}:invoke',
  operation: 'model.invoke',
  policy: 'policy://medical/inference/v3',
};

export interface DevPorts {
  authorityGrpc: number;
  authorityHttp: number;
  authzGrpc: number;
  authzHttp: number;
  sequencerHttp: number;
}

export const DEFAULT_PORTS: DevPorts = {
  authorityGrpc: 7070,
  authorityHttp: 7080,
  authzGrpc: 9191,
  authzHttp: 9192,
  // Any free port (the banner names it): nothing is sent to it but health and metrics requests,
  // and the tests run several sequencers of one deployment side by side (failover).
  sequencerHttp: 0,
};

export interface DevDeployment {
  dir: string;
  ports: DevPorts;
  /** Development bearer tokens by role; never use these outside development. */
  tokens: Record<keyof typeof DEV_IDENTITIES, string>;
  rootPublicKey: string;
  files: {
    rootPublicKey: string;
    authorityConfig: string;
    authzConfig: string;
    sequencerConfig: string;
    /**
     * With `logs`: the configuration of each further log's sequencer (its own audit key,
     * certified for that log), by log id.
     */
    logSequencerConfigs: Record<string, string>;
    producerRecords: string;
    auditKey: string;
    issuerKey: string;
    issuerRecord: string;
    /** One file per role holding its bearer token, for `govctl --token-file`. */
    tokens: Record<keyof typeof DEV_IDENTITIES, string>;
  };
  /** The prefix of every Redis key of this deployment ('' when none). */
  redisKeyPrefix: string;
  auditKid: string;
}

export interface DevSetupOptions {
  ports?: Partial<DevPorts>;
  redisUrl?: string;
  /** Registry heartbeat period of the authority (ms). */
  heartbeatMs?: number;
  /** Settings of the sequencer's configuration file (sequencer/config.ts), beside its defaults. */
  sequencer?: { leaseMs?: number; headIntervalMs?: number; openWorkers?: number };
  /** Freshness bounds of the enforcement point. */
  freshness?: { keysSeconds: number; revocationsSeconds: number; ledgerCommitWindowMs: number };
  logLevel?: string;
  /** Prefix of every Redis key of this deployment, so deployments can share one Redis. */
  redisKeyPrefix?: string;
  /**
   * Further logs of a partitioned ledger (docs/spec/ledger.md §14), beside DEV_LOG: each gets an
   * audit key certified for it and a sequencer configuration of its own.
   */
  logs?: string[];
  /**
   * Enables the enforcement point's runtime API (/runtime/admit, /runtime/attest) for the
   * sample operation, with the workload identity fixed: a development stand-in for the XFCC
   * header a workload's sidecar would set.
   */
  runtimeApi?: boolean;
}

/** The sample route's operation as /runtime/admit admits it (runtimeApi option). */
export const DEV_ADMISSIBLE = { operation: DEV_ROUTE.operation, policy: DEV_ROUTE.policy };

const MANIFEST = 'deployment.json';

const VALIDITY_DAYS = 30;

export function writeDevDeployment(dir: string, options: DevSetupOptions = {}): DevDeployment {
  const ports = { ...DEFAULT_PORTS, ...options.ports };
  mkdirSync(join(dir, 'keys'), { recursive: true, mode: 0o700 });
  mkdirSync(join(dir, 'policies'), { recursive: true });
  const at = (...parts: string[]) => join(dir, ...parts);
  const writeSecret = (path: string, text: string) => writeFileSync(path, text, { mode: 0o600 });

  const root = generatePrivateKey();
  writeSecret(at('keys', 'root.key.pem'), privateKeyToPem(root));
  writeFileSync(at('keys', 'root.pub.pem'), publicKeyToPem(root));
  const now = Math.floor(Date.now() / 1000);
  const records: KeyRecord[] = [];

  const certified = (name: string, kid: string, role: KeyRole, subject: string) => {
    const key = generatePrivateKey();
    const record = certifyKey(
      {
        v: '1',
        kid,
        role,
        public_key: base64urlEncode(rawPublicKey(key)),
        subject,
        not_before: formatSeconds(now - 60),
        not_after: formatSeconds(now + VALIDITY_DAYS * 86_400),
      },
      DEV_ROOT_KID,
      (message) => signSync(root, message),
    );
    writeSecret(at('keys', `${name}.key.pem`), privateKeyToPem(key));
    writeFileSync(at('keys', `${name}.cert.json`), JSON.stringify(record, null, 2) + '\n');
    records.push(record);
    return { key: at('keys', `${name}.key.pem`), cert: at('keys', `${name}.cert.json`) };
  };

  const issuer = certified('issuer', 'key:dev/issuer/1', 'issuer', DEV_ISSUER);
  const authorityProducer = certified(
    'authority-producer',
    'key:dev/authority/1',
    'producer',
    'authority://dev',
  );
  const authzProducer = certified('authz-producer', 'key:dev/authz/1', 'producer', DEV_AUTHZ_PRODUCER);
  const auditKid = 'key:dev/audit/1';
  const audit = certified('audit', auditKid, 'audit', DEV_LOG);
  const logAudits = (options.logs ?? []).map(
    (log) => [log, certified(`audit-${log}`, `key:dev/audit/${log}/1`, 'audit', log)] as const,
  );
  writeFileSync(
    at('keys', 'producers.json'),
    JSON.stringify(
      records.filter((r) => r.role === 'producer'),
      null,
      2,
    ) + '\n',
  );

  for (const name of ['medical-inference-v3.yaml', 'governance-admin-v1.yaml']) {
    copyFileSync(join(PROJECT_ROOT, 'examples', 'policies', name), at('policies', name));
  }

  const tokens = Object.fromEntries(
    Object.keys(DEV_IDENTITIES).map((role) => [role, `dev-${role}-${randomBytes(18).toString('base64url')}`]),
  ) as DevDeployment['tokens'];
  writeSecret(at('tokens.json'), JSON.stringify(tokens, null, 2) + '\n');
  mkdirSync(at('tokens'), { recursive: true, mode: 0o700 });
  const tokenFiles = Object.fromEntries(
    Object.keys(DEV_IDENTITIES).map((role) => [role, at('tokens', `${role}.token`)]),
  ) as DevDeployment['files']['tokens'];
  for (const [role, path] of Object.entries(tokenFiles))
    writeSecret(path, tokens[role as keyof typeof tokens] + '\n');
  const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

  const redis = {
    mode: 'standalone',
    url: options.redisUrl ?? 'redis://127.0.0.1:6379',
    ...(options.redisKeyPrefix ? { keyPrefix: options.redisKeyPrefix } : {}),
  };
  const logLevel = options.logLevel ?? 'warn';
  const rootKeys = [{ kid: DEV_ROOT_KID, file: at('keys', 'root.pub.pem') }];
  const authorityConfig = {
    grpc: { host: '127.0.0.1', port: ports.authorityGrpc },
    http: { host: '127.0.0.1', port: ports.authorityHttp },
    redis,
    issuer: { id: DEV_ISSUER, keyFile: issuer.key, certificateFile: issuer.cert },
    audit: { keyFile: authorityProducer.key, certificateFile: authorityProducer.cert },
    trust: { rootKeys },
    policies: [at('policies', 'medical-inference-v3.yaml'), at('policies', 'governance-admin-v1.yaml')],
    identity: {
      devTokens: (Object.keys(DEV_IDENTITIES) as (keyof typeof DEV_IDENTITIES)[]).map((role) => ({
        identity: DEV_IDENTITIES[role],
        sha256: sha256(tokens[role]),
      })),
    },
    ledger: { log: DEV_LOG },
    heartbeatMs: options.heartbeatMs ?? 1000,
    logLevel,
  };
  const authzConfig = {
    grpc: { host: '127.0.0.1', port: ports.authzGrpc },
    http: { host: '127.0.0.1', port: ports.authzHttp },
    redis,
    environment: DEV_ENVIRONMENT,
    identity: { source: 'peer-principal' },
    trust: { rootKeys },
    producer: { id: DEV_AUTHZ_PRODUCER, keyFile: authzProducer.key, certificateFile: authzProducer.cert },
    ledger: { log: DEV_LOG },
    clockSkewSeconds: 5,
    freshness: options.freshness ?? { keysSeconds: 30, revocationsSeconds: 10, ledgerCommitWindowMs: 5000 },
    routes: [DEV_ROUTE],
    ...(options.runtimeApi
      ? {
          runtimeApi: {
            identity: { source: 'fixed', identity: DEV_IDENTITIES.workload },
            admit: [DEV_ADMISSIBLE],
          },
        }
      : {}),
    logLevel,
  };
  const sequencerConfig = {
    http: { host: '127.0.0.1', port: ports.sequencerHttp },
    redis,
    ledger: { log: DEV_LOG },
    audit: { keyFile: audit.key, certificateFile: audit.cert },
    trust: { rootKeys },
    producerKeysFile: at('keys', 'producers.json'),
    ...options.sequencer,
    logLevel,
  };
  writeFileSync(at('authority.yaml'), stringify(authorityConfig));
  writeFileSync(at('authz.yaml'), stringify(authzConfig));
  writeFileSync(at('sequencer.yaml'), stringify(sequencerConfig));
  const logSequencerConfigs: Record<string, string> = {};
  for (const [log, logAudit] of logAudits) {
    logSequencerConfigs[log] = at(`sequencer-${log}.yaml`);
    writeFileSync(
      logSequencerConfigs[log],
      stringify({
        ...sequencerConfig,
        ledger: { ...sequencerConfig.ledger, log },
        audit: { keyFile: logAudit.key, certificateFile: logAudit.cert },
      }),
    );
  }

  const rootPublicKey = base64urlEncode(rawPublicKey(root));
  const deployment: DevDeployment = {
    dir,
    ports,
    tokens,
    rootPublicKey,
    files: {
      rootPublicKey: at('keys', 'root.pub.pem'),
      authorityConfig: at('authority.yaml'),
      authzConfig: at('authz.yaml'),
      sequencerConfig: at('sequencer.yaml'),
      logSequencerConfigs,
      producerRecords: at('keys', 'producers.json'),
      auditKey: audit.key,
      issuerKey: issuer.key,
      issuerRecord: issuer.cert,
      tokens: tokenFiles,
    },
    redisKeyPrefix: options.redisKeyPrefix ?? '',
    auditKid,
  };
  // Holds the tokens, like tokens.json.
  writeSecret(at(MANIFEST), JSON.stringify(deployment, null, 2) + '\n');
  return deployment;
}

/** The deployment written earlier into `dir`, or undefined when there is none. */
export function readDevDeployment(dir: string): DevDeployment | undefined {
  const path = join(dir, MANIFEST);
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as DevDeployment) : undefined;
}
