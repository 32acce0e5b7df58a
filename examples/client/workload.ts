// A workload's side of the governance layer, runnable against the dev mode:
//
//   npm start                                   # in another terminal
//   npx tsx examples/client/workload.ts
//
// In a service of your own, import from the package instead of ../../index.js:
//   import { AuthorityClient, RuntimeClient, … } from 'execution-governance';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AuthorityClient,
  GovernanceClientError,
  RuntimeClient,
  artifactHeaders,
  artifactMetadata,
  sha3Digest,
  type AttestationReceipt,
} from '../../index.js';

export interface WorkloadOptions {
  /** The authority's gRPC address (or http://… for its HTTP API). */
  authority: string;
  /** The enforcement point's HTTP base URL (runtime API). */
  runtimeUrl: string;
  /** This workload's development bearer token (in production: mTLS with its SVID, `tls`). */
  token: string;
  log?: (line: string) => void;
}

export async function runWorkload(options: WorkloadOptions): Promise<AttestationReceipt> {
  const log = options.log ?? (() => undefined);
  const authority = new AuthorityClient({ target: options.authority, token: options.token });
  const runtime = new RuntimeClient({ url: options.runtimeUrl });
  const workload = {
    image: sha3Digest('registry.example/clinical-summary:4.0.0'),
    runtime: 'k8s://cluster-east-1/ns/inference',
  };
  try {
    // 1. Ask before acting: the artifact binds this identity, operation, image and environment.
    const artifact = await authority.requestArtifact({
      operation: {
        name: 'model.invoke',
        params: { model: 'clinical-summary-v4', image: workload.image },
        scope: ['phi.read', 'phi.no_export'],
      },
      environment: { runtime: workload.runtime },
    });
    log(`issued ${artifact.id} (${artifact.lineage}), valid until ${artifact.expiresAt}`);

    // 2. Attach it to the call it authorizes; Envoy in front of the callee asks the enforcement
    //    point before anything reaches it. (HTTP: headers or withArtifact(artifact, init); gRPC: metadata.)
    const headers = artifactHeaders(artifact, { 'content-type': 'application/json' });
    const metadata = artifactMetadata(artifact);
    log(`attached as ${Object.keys(headers).join(', ')} / ${Object.keys(metadata.getMap()).join(', ')}`);

    // 3. Admission: the enforcement point verifies and spends the artifact for this workload.
    const admission = await runtime.admit(artifact, workload);
    log(`admitted as ${admission.attestationId}`);

    // 4. Run, then report completion with a digest of the result; the enforcement point signs
    //    an attestation and chains the last four stages of the lineage.
    const result = JSON.stringify({ summary: 'no acute findings' });
    const receipt = await runtime.attest({
      artifact,
      attestationId: admission.attestationId,
      workload,
      resultDigest: sha3Digest(result),
    });
    log(`attested: ${receipt.events.join(' → ')}`);
    return receipt;
  } catch (e) {
    // Fail closed: whatever the reason (a denial, or no answer at all), the work does not run.
    if (e instanceof GovernanceClientError) log(`not run: ${e.reason}: ${e.message}`);
    throw e;
  } finally {
    authority.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dir = process.env.GOV_DEV_DIR ?? join(tmpdir(), 'governance-dev');
  await runWorkload({
    authority: process.env.GOV_AUTHORITY ?? '127.0.0.1:7070',
    runtimeUrl: process.env.GOV_RUNTIME_URL ?? 'http://127.0.0.1:9192',
    token: readFileSync(join(dir, 'tokens', 'workload.token'), 'utf8').trim(),
    log: (line) => console.log(line),
  });
}
