// Keys, certified records and an authority wired to given stores, for the authority tests.
// Every key is generated at test time; the root signs issuer records as the offline root would.
import { readFileSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import { nodeCrypto } from '../../../core/crypto-node.js';
import { portableCrypto } from '../../../core/crypto-portable.js';
import { decide, type Decision, type DecisionInput } from '../../../core/decision.js';
import { generatePrivateKey, rawPublicKey, signSync } from '../../../core/keys.js';
import {
  certifyKey,
  verifyKeyRecord,
  verifyRevocation,
  type KeyRecord,
  type PinnedRoots,
} from '../../../core/registry.js';
import { base64urlEncode } from '../../../core/encoding.js';
import { formatSeconds } from '../../../core/time.js';
import type { LedgerProofReader, LedgerWriter } from '../../../ledger/types.js';
import type { RegistryStore } from '../../../store/types.js';
import { Authority, createAuthority, type AuthorityDeps } from '../../../authority/authority.js';
import type { Caller } from '../../../authority/identity.js';
import { IssuerKeyring } from '../../../authority/keys.js';
import { holdKey, type HeldKey } from '../../../service/keys.js';

export const ISSUER = 'governance://test/authority';
export const ROOT_KID = 'root:test';
export const ADMIN_POLICY = 'policy://governance/admin/v1';
export const GATEWAY = 'spiffe://prod.example.org/ns/inference/sa/gateway';
export const OPERATOR = 'spiffe://prod.example.org/ns/governance/sa/policy-operator';
export const SECURITY = 'spiffe://prod.example.org/ns/security/sa/on-call';
export const CUSTODIAN = 'spiffe://prod.example.org/ns/governance/sa/key-custodian';

export const rootKey = generatePrivateKey();
export const roots: PinnedRoots = { byKid: new Map([[ROOT_KID, rawPublicKey(rootKey)]]), anyKid: [] };

export function certify(
  privateKey: KeyObject,
  kid: string,
  overrides: Partial<Omit<KeyRecord, 'cert'>> = {},
  signer: KeyObject = rootKey,
): KeyRecord {
  const now = Math.floor(Date.now() / 1000);
  return certifyKey(
    {
      v: '1',
      kid,
      role: 'issuer',
      public_key: base64urlEncode(rawPublicKey(privateKey)),
      subject: ISSUER,
      not_before: formatSeconds(now - 3600),
      not_after: formatSeconds(now + 30 * 86_400),
      ...overrides,
    },
    ROOT_KID,
    (message) => signSync(signer, message),
  );
}

export function issuerKey(kid: string): HeldKey {
  const key = generatePrivateKey();
  return holdKey(nodeCrypto, key, certify(key, kid), {
    role: 'issuer',
    subject: ISSUER,
    roots,
    now: Date.now() / 1000,
  });
}

export const example = (name: string) => readFileSync(`examples/policies/${name}.yaml`, 'utf8');

export const as = (identity: string, transport: Caller['transport'] = 'grpc'): Caller => ({
  authenticated: true,
  identity,
  via: 'mtls',
  transport,
});

export const anonymous: Caller = {
  authenticated: false,
  problem: 'no client certificate and no bearer token',
  transport: 'http',
};

export interface TestAuthorityOptions extends Partial<AuthorityDeps> {
  registry: RegistryStore;
  ledger: LedgerWriter;
  reader: LedgerProofReader;
}

export async function startAuthority(options: TestAuthorityOptions): Promise<Authority> {
  const authority = createAuthority({
    issuerId: ISSUER,
    producerId: 'authority://test',
    keyring: new IssuerKeyring(issuerKey('key:test/1'), [issuerKey('key:test/2')]),
    roots,
    adminPolicy: ADMIN_POLICY,
    bootstrapPolicies: [{ name: 'medical', source: example('medical-inference-v3') }],
    heartbeatMs: 200,
    ...options,
  });
  await authority.start();
  return authority;
}

/**
 * What an enforcement point decides about a header, using the PORTABLE verifier and only what
 * the registry publishes: root-certified issuer keys, policy versions and signed revocations.
 */
export async function enforce(
  registry: RegistryStore,
  input: Omit<DecisionInput, 'now'> & { now?: number },
): Promise<Decision> {
  const keys = new Map<string, { publicKey: Uint8Array; issuer: string }>();
  for (const record of await registry.listKeyRecords()) {
    const key = verifyKeyRecord(portableCrypto, record, roots.byKid);
    if (key.role === 'issuer') keys.set(key.kid, { publicKey: key.publicKey, issuer: key.subject });
  }
  const revoked = new Set<string>();
  for (const record of await registry.listRevocations()) {
    const key = keys.get(record.sig.kid);
    if (key && verifyRevocation(portableCrypto, record, key.publicKey)) {
      revoked.add('artifact_id' in record.target ? record.target.artifact_id : record.target.kid);
    }
  }
  const versions = new Set((await registry.listPolicyVersions()).map((v) => `${v.ref} ${v.hash}`));
  return decide(
    { now: Math.floor(Date.now() / 1000), ...input },
    {
      suite: portableCrypto,
      keys: (kid) => keys.get(kid),
      revocations: { isArtifactRevoked: (id) => revoked.has(id), isKeyRevoked: (kid) => revoked.has(kid) },
      policies: (ref, hash) => versions.has(`${ref} ${hash}`),
      consume: () => true,
      skewSeconds: 5,
    },
  );
}

export { nodeCrypto };
