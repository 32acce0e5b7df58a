// What the authority would have published before any Check: a pinned root, an issuer key and a
// producer key certified by it, a policy version, and a signed heartbeat; plus artifact issuance
// with core's signArtifact, exactly as the authority signs. Nothing here is mocked: the server
// verifies these records and artifacts with real signatures.
import { randomBytes, type KeyObject } from 'node:crypto';
import {
  encodeArtifact,
  signArtifact,
  type Artifact,
  type ArtifactPayload,
  type UseTerms,
} from '../../../core/artifact.js';
import { ARTIFACT_HEADER } from '../../../core/protocol.js';
import { nodeCrypto } from '../../../core/crypto-node.js';
import { base64urlEncode } from '../../../core/encoding.js';
import { generatePrivateKey, keySigner, rawPublicKey, signSync } from '../../../core/keys.js';
import {
  certifyKey,
  policyHash,
  signHeartbeat,
  signRevocation,
  type KeyRecord,
  type KeyRole,
} from '../../../core/registry.js';
import { formatMillis, formatSeconds } from '../../../core/time.js';
import type { RegistryStore } from '../../../store/types.js';
import { parseConfig, type AuthzConfigInput, type LoadedConfig } from '../../../authz-server/config.js';
import type { PinnedRoots } from '../../../core/registry.js';

export const ISSUER = 'governance://11-11/authority/test';
export const CALLER = 'spiffe://governance.example/ns/inference/sa/gateway';
export const POLICY_REF = 'policy://medical/inference/v3';
export const RUNTIME = 'k8s://cluster-east-1/ns/inference';
export const BATCH_RUNTIME = 'k8s://cluster-east-1/ns/batch';
export const MODEL = 'clinical-summary-v4';
export const IMAGE = 'sha3-512:' + 'ab'.repeat(64);
export const POLICY_DOCUMENT = { rules: [{ allow: 'model.invoke' }] };
export const ROOT_KID = 'root:test/2026';
export { ARTIFACT_HEADER };

/** The configuration every enforcement point test starts from (the shape of envoy/config/authz.yaml). */
export function testConfig(overrides: Partial<AuthzConfigInput> = {}): LoadedConfig {
  return parseConfig({
    grpc: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0 },
    redis: { mode: 'standalone', url: 'redis://127.0.0.1:6379' },
    environment: {
      runtime: RUNTIME,
      region: 'us-east-1',
      tenancy: 'single',
      contextExtensions: { runtime: [BATCH_RUNTIME] },
    },
    identity: { source: 'peer-principal' },
    trust: { rootKeys: ['/unused/in/tests/root.pub.pem'] },
    producer: { id: 'authz-server://test', keyFile: '/unused', certificateFile: '/unused' },
    clockSkewSeconds: 5,
    freshness: { keysSeconds: 30, revocationsSeconds: 10, ledgerCommitWindowMs: 2000 },
    routes: [
      {
        method: 'POST',
        path: '/v1/models/{model}:invoke',
        operation: 'model.invoke',
        policy: POLICY_REF,
        scope: ['phi.read'],
      },
    ],
    runtimeApi: {
      identity: { source: 'trusted-header', header: 'x-workload-identity' },
      admit: [{ operation: 'workload.run', policy: POLICY_REF }],
    },
    ...overrides,
  });
}

export interface IssueOptions {
  sub?: string;
  op?: ArtifactPayload['op'];
  pol?: ArtifactPayload['pol'];
  env?: Partial<ArtifactPayload['env']>;
  use?: UseTerms;
  /** Seconds relative to now. */
  nbf?: number;
  exp?: number;
  signer?: { kid: string; key: KeyObject };
}

export class World {
  readonly rootKey = generatePrivateKey();
  readonly issuerKey = generatePrivateKey();
  readonly issuerKid = 'key:11-11/test/issuer-1';
  readonly producerKey = generatePrivateKey();
  readonly producerKid = 'key:11-11/test/authz-producer';
  readonly policyHash = policyHash(nodeCrypto, POLICY_DOCUMENT);
  readonly roots: PinnedRoots = { byKid: new Map([[ROOT_KID, rawPublicKey(this.rootKey)]]), anyKid: [] };
  readonly producer = { id: 'authz-server://test', kid: this.producerKid, privateKey: this.producerKey };
  private revocations = 0;

  constructor(
    readonly store: RegistryStore,
    readonly clock: () => number = Date.now,
  ) {}

  /** A key record certified by `signingRoot` (the pinned root unless told otherwise). */
  keyRecord(kid: string, key: KeyObject, role: KeyRole, signingRoot: KeyObject = this.rootKey): KeyRecord {
    const now = this.clock() / 1000;
    return certifyKey(
      {
        v: '1',
        kid,
        role,
        public_key: base64urlEncode(rawPublicKey(key)),
        subject: role === 'issuer' ? ISSUER : this.producer.id,
        not_before: formatSeconds(now - 3600),
        not_after: formatSeconds(now + 86_400),
      },
      ROOT_KID,
      (m) => signSync(signingRoot, m),
    );
  }

  /** Publishes what the authority publishes before the first artifact. */
  async publish(): Promise<void> {
    await this.store.putKeyRecord(this.keyRecord(this.issuerKid, this.issuerKey, 'issuer'));
    await this.store.putKeyRecord(this.keyRecord(this.producerKid, this.producerKey, 'producer'));
    await this.store.putPolicyVersion({
      ref: POLICY_REF,
      hash: this.policyHash,
      document: POLICY_DOCUMENT,
      published_at: formatSeconds(this.clock() / 1000),
    });
    await this.store.activatePolicy(POLICY_REF, this.policyHash);
    await this.heartbeat();
  }

  async heartbeat(atMs: number = this.clock(), revocations: number = this.revocations): Promise<void> {
    await this.store.putHeartbeat(
      signHeartbeat({ v: '1', issuer: ISSUER, time: formatMillis(atMs), revocations }, this.issuerKid, (m) =>
        signSync(this.issuerKey, m),
      ),
    );
  }

  async revoke(target: { artifact_id: string } | { kid: string }): Promise<void> {
    const record = signRevocation(
      { v: '1', target, reason: 'test', time: formatSeconds(this.clock() / 1000), by: ISSUER },
      this.issuerKid,
      (m) => signSync(this.issuerKey, m),
    );
    if (await this.store.addRevocation(record)) this.revocations++;
    await this.heartbeat();
  }

  async artifact(options: IssueOptions = {}): Promise<Artifact> {
    const now = Math.floor(this.clock() / 1000);
    const signer = options.signer ?? { kid: this.issuerKid, key: this.issuerKey };
    const payload: ArtifactPayload = {
      v: '1',
      iss: ISSUER,
      sub: options.sub ?? CALLER,
      op: options.op ?? { name: 'model.invoke', model: MODEL, scope: ['phi.no_export', 'phi.read'] },
      pol: options.pol ?? { ref: POLICY_REF, hash: this.policyHash },
      env: { runtime: RUNTIME, region: 'us-east-1', tenancy: 'single', ...options.env },
      nbf: formatSeconds(now + (options.nbf ?? -60)),
      exp: formatSeconds(now + (options.exp ?? 300)),
      use: options.use ?? { mode: 'single', nonce: nonce() },
    };
    return signArtifact(payload, keySigner(signer.kid, signer.key), nodeCrypto);
  }

  /** The x-execution-artifact header value of a fresh artifact. */
  async issue(options: IssueOptions = {}): Promise<string> {
    return encodeArtifact(await this.artifact(options));
  }
}

/** A 22-character nonce, as artifacts carry. */
export function nonce(): string {
  return base64urlEncode(randomBytes(16)).slice(0, 22);
}
