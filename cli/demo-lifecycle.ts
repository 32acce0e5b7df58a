// The guided demo (`npm run demo`): one artifact's whole life against a running dev mode, each
// step printed with its result and checked against what must happen. Every call goes through
// what a workload or an operator would use: the client library, Envoy's Check, the admin API,
// the public proof endpoints.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { encodeArtifact, signArtifact, type Artifact } from '../core/artifact.js';
import { nodeCrypto } from '../core/crypto-node.js';
import { base64urlEncode } from '../core/encoding.js';
import { LINEAGE_STAGES } from '../core/event.js';
import { keyFromPem, keySigner } from '../core/keys.js';
import type { KeyRecord, RegistryHeartbeat } from '../core/registry.js';
import { formatSeconds, parseSeconds } from '../core/time.js';
import { AuthorityClient, type IssuedArtifact } from '../client/authority.js';
import { RuntimeClient, sha3Digest } from '../client/runtime.js';
import { sendCheck, type CheckResult } from './commands/check.js';
import { summary, verifyFromProof } from './commands/ledger.js';
import { failureLines, fetchLineage, lineageTree, verifyLineageAnswer } from './commands/proof.js';
import { DEV_ENVIRONMENT, DEV_IDENTITIES, DEV_ROUTE, type DevDeployment } from '../devkit/dev-deployment.js';
import { proofGet, type ProofOptions } from './options.js';
import { trustFromProof } from './trust.js';

export interface DemoTarget {
  deployment: DevDeployment;
  urls: { authorityGrpc: string; authorityHttp: string; authzGrpc: string; authzHttp: string };
}

export interface DemoStep {
  title: string;
  ok: boolean;
  lines: string[];
}

const MODEL = 'clinical-summary-v4';
const OPERATION = {
  name: DEV_ROUTE.operation,
  params: { model: MODEL },
  scope: ['phi.read', 'phi.no_export'],
};
const PATH = `/v1/models/${MODEL}:invoke`;

class StepFailed extends Error {}

/** Runs every step; stops at the first whose result is not the expected one. */
export async function runDemo(target: DemoTarget, print: (line: string) => void): Promise<DemoStep[]> {
  const { deployment, urls } = target;
  const token = (role: keyof typeof DEV_IDENTITIES) => deployment.tokens[role];
  const workload = new AuthorityClient({ target: urls.authorityGrpc, token: token('workload') });
  const security = new AuthorityClient({ target: urls.authorityGrpc, token: token('security') });
  const runtime = new RuntimeClient({ url: urls.authzHttp });
  const proof: ProofOptions = { url: urls.authorityHttp, timeout: '10000' };
  const trustOptions = { ...proof, root: [deployment.files.rootPublicKey], keyRecords: [], auditKey: [] };
  const steps: DemoStep[] = [];

  const request = (params: Record<string, string> = {}) =>
    workload.requestArtifact({
      operation: { ...OPERATION, params: { ...OPERATION.params, ...params } },
      environment: { runtime: DEV_ENVIRONMENT.runtime },
    });
  const check = (header: string): Promise<CheckResult> =>
    sendCheck({
      target: urls.authzGrpc,
      method: DEV_ROUTE.method,
      path: PATH,
      host: 'governed.local',
      principal: DEV_IDENTITIES.workload,
      artifact: header,
      header: [],
      context: [],
      timeout: '5000',
    });
  const decision = (r: CheckResult) =>
    r.decision === 'allow' ? `ALLOW  ${r.artifact_id}` : `DENY   ${r.http_status} ${r.reason}`;
  /** A Check whose outcome must be `expected` ('allow' or a denial reason). */
  const expectCheck = async (header: string, expected: string) => {
    const result = await check(header);
    const line = `Check: ${decision(result)}`;
    if ((result.decision === 'allow' ? 'allow' : result.reason) !== expected)
      throw new StepFailed(`${line} (expected ${expected})`);
    return line;
  };

  const step = async (title: string, run: () => Promise<string[]>) => {
    print(`\n${steps.length + 1}. ${title}`);
    let result: DemoStep;
    try {
      result = { title, ok: true, lines: await run() };
    } catch (e) {
      result = { title, ok: false, lines: [(e as Error).message] };
    }
    for (const line of result.lines) print(`   ${line}`);
    print(`   ${result.ok ? 'ok' : 'UNEXPECTED: this step did not give the expected result'}`);
    steps.push(result);
    if (!result.ok) throw new StepFailed(title);
  };

  try {
    let first: IssuedArtifact | undefined;
    await step('The gateway workload asks the authority for an artifact (client library, gRPC)', async () => {
      first = await request();
      return [
        `issued ${first.id}  ${first.lineage}`,
        `bound to ${first.artifact.sub}, ${first.artifact.op.name} model=${MODEL}, policy ${first.artifact.pol.ref}, until ${first.expiresAt}`,
      ];
    });
    await step('Envoy asks the enforcement point (ext_authz Check) with the artifact: allowed', async () => [
      await expectCheck(first!.header, 'allow'),
    ]);
    await step('The same artifact again: single use, so it is a replay', async () => [
      await expectCheck(first!.header, 'artifact.replayed'),
    ]);

    await step(
      'A fresh artifact with its expiry pushed an hour later: the signature no longer verifies',
      async () => {
        const issued = await request();
        const tampered: Artifact = {
          ...issued.artifact,
          exp: formatSeconds(parseSeconds(issued.artifact.exp)! + 3600),
        };
        return [
          `exp ${issued.artifact.exp} → ${tampered.exp}`,
          await expectCheck(encodeArtifact(tampered), 'artifact.signature.invalid'),
          `the untouched artifact: ${await expectCheck(issued.header, 'allow')}`,
        ];
      },
    );

    await step('An artifact that expired a minute ago (signed here with the dev issuer key)', async () => {
      const record = JSON.parse(readFileSync(deployment.files.issuerRecord, 'utf8')) as KeyRecord;
      const signer = keySigner(record.kid, keyFromPem(readFileSync(deployment.files.issuerKey, 'utf8')));
      const { active } = await proofGet<{ active: Record<string, string> }>(proof, '/v1/proof/policies');
      const now = Math.floor(Date.now() / 1000);
      const expired = await signArtifact(
        {
          v: '1',
          iss: record.subject,
          sub: DEV_IDENTITIES.workload,
          op: { name: OPERATION.name, model: MODEL, scope: [...OPERATION.scope].sort() },
          pol: { ref: DEV_ROUTE.policy, hash: active[DEV_ROUTE.policy] ?? '' },
          env: DEV_ENVIRONMENT,
          nbf: formatSeconds(now - 360),
          exp: formatSeconds(now - 60),
          use: { mode: 'single', nonce: base64urlEncode(randomBytes(16)) },
        },
        signer,
        nodeCrypto,
      );
      return [
        `valid ${expired.nbf} → ${expired.exp}`,
        await expectCheck(encodeArtifact(expired), 'artifact.expired'),
      ];
    });

    await step(
      'Security on-call revokes an artifact (admin API, incident ticket) before it is used',
      async () => {
        const issued = await request();
        await security.connection().call('Admin', 'RevokeArtifact', {
          artifact_id: issued.id,
          reason: 'demo: suspected leak',
          attributes: { incident: 'INC-DEMO-1' },
        });
        // Enforcement points act on the authority's signed heartbeat, which counts revocations: once
        // it counts this one, a view without it denies everything instead of allowing.
        const { revocations } = await proofGet<{ revocations: unknown[] }>(proof, '/v1/proof/revocations');
        const deadline = Date.now() + 10_000;
        for (;;) {
          const { heartbeat } = await proofGet<{ heartbeat: RegistryHeartbeat | null }>(
            proof,
            '/v1/proof/checkpoint',
          );
          if ((heartbeat?.revocations ?? 0) >= revocations.length) break;
          if (Date.now() > deadline)
            throw new StepFailed('the heartbeat did not count the revocation within 10 s');
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        return [
          `revoked ${issued.id}; the registry heartbeat counts ${revocations.length} revocation(s)`,
          await expectCheck(issued.header, 'artifact.revoked'),
        ];
      },
    );

    let lineage = '';
    await step('A workload runs under an artifact: admitted, executed, attested (runtime API)', async () => {
      const workloadSpec = {
        image: sha3Digest('demo/clinical-summary:4.0.0'),
        runtime: DEV_ENVIRONMENT.runtime,
      };
      const issued = await request({ image: workloadSpec.image });
      const admission = await runtime.admit(issued, workloadSpec);
      const receipt = await runtime.attest({
        artifact: issued,
        attestationId: admission.attestationId,
        workload: workloadSpec,
        resultDigest: sha3Digest(JSON.stringify({ summary: 'no acute findings' })),
      });
      lineage = issued.lineage;
      return [
        `admitted ${admission.artifactId} as ${admission.attestationId}`,
        `attested: ${receipt.attestation.attestation_id} signed by ${receipt.attestation.sig.kid}`,
      ];
    });

    await step('Its lineage from the public proof endpoint, verified: all seven stages', async () => {
      const trust = await trustFromProof(trustOptions);
      // The proof holds what the latest checkpoint covers: asked again while the last events of
      // the run await theirs (a checkpoint a second while records arrive).
      const deadline = Date.now() + 15_000;
      for (;;) {
        const answer = await fetchLineage(proof, lineage, 0);
        let verified;
        try {
          verified = verifyLineageAnswer(answer, { keys: trust });
        } catch (e) {
          throw new StepFailed(`${answer.lineage}: ${(e as Error).message}`);
        }
        const types = verified.events.map((e) => e.event.type);
        const lines = lineageTree(answer.lineage, verified.events).split('\n');
        if (verified.failures.length > 0)
          throw new StepFailed([...lines, ...failureLines(verified.failures)].join('\n   '));
        if (types.length < LINEAGE_STAGES.length && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 200));
          continue;
        }
        if (types.join() !== LINEAGE_STAGES.join())
          throw new StepFailed([...lines, `expected ${LINEAGE_STAGES.join(', ')}`].join('\n   '));
        return [
          ...lines,
          `verified: all of its events up to the checkpoint at size ${verified.checkpoint.checkpoint.size} (index and inclusion proofs)`,
        ];
      }
    });

    await step('The whole ledger, verified from the public endpoints and the root key only', async () => {
      const trust = await trustFromProof(trustOptions);
      const result = await verifyFromProof(proof, trust);
      if (!result.ok) throw new StepFailed(summary(result, trust).join('\n   '));
      return summary(result, trust);
    });
  } catch (e) {
    if (!(e instanceof StepFailed)) throw e;
  } finally {
    workload.close();
    security.close();
  }
  return steps;
}
