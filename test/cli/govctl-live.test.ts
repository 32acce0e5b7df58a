// Every govctl command against real servers: a dev mode in this process on free ports (real
// gRPC and HTTP), reached the way an operator reaches a deployment (GOVCTL_* environment).
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeArtifact } from '../../core/artifact.js';
import { checkpointNote, parseCheckpointNote } from '../../core/checkpoint.js';
import { nodeCrypto } from '../../core/crypto-node.js';
import { generatePrivateKey, keySigner, rawPublicKey } from '../../core/keys.js';
import { cosign, cosignatureVerifierKey } from '../../core/note.js';
import { buildProgram } from '../../cli/program.js';
import { EXIT } from '../../cli/output.js';
import { govctl } from '../support/govctl.js';
import { PROJECT_ROOT } from '../support/shared.js';
import {
  GATEWAY,
  INFERENCE_RUNTIME,
  MODEL_PATH,
  startTestDevMode,
  type TestDevMode,
} from '../dev/support.js';

const MEDICAL = join(PROJECT_ROOT, 'examples/policies/medical-inference-v3.yaml');
const ADMIN = join(PROJECT_ROOT, 'examples/policies/governance-admin-v1.yaml');
const dir = mkdtempSync(join(tmpdir(), 'govctl-live-'));
const at = (name: string) => join(dir, name);
let dev: TestDevMode;
const saved = { ...process.env };

beforeAll(async () => {
  dev = await startTestDevMode();
  process.env.GOVCTL_AUTHORITY = dev.urls.authorityGrpc;
  process.env.GOVCTL_PROOF_URL = dev.urls.authorityHttp;
  process.env.GOVCTL_AUTHZ = dev.urls.authzGrpc;
});
afterAll(async () => {
  process.env = saved;
  await dev?.close();
  rmSync(dir, { recursive: true, force: true });
});

const token = (role: 'workload' | 'security' | 'policyOperator') => [
  '--token-file',
  dev.deployment.files.tokens[role],
];
const root = () => ['--root', dev.deployment.files.rootPublicKey];
const requestArgs = (...extra: string[]) => [
  'artifact',
  'request',
  ...token('workload'),
  '--op',
  'model.invoke',
  '--param',
  'model=clinical-summary-v4',
  '--scope',
  'phi.read',
  '--scope',
  'phi.no_export',
  '--runtime',
  INFERENCE_RUNTIME,
  ...extra,
];
const checkArgs = (artifact: string) => [
  'check',
  '--path',
  MODEL_PATH,
  '--principal',
  GATEWAY,
  '--artifact',
  artifact,
];

/** The id of the artifact whose header `requested` wrote to `name`. */
const readArtifactId = (name: string) => decodeArtifact(readFileSync(at(name), 'utf8').trim()).artifact.id;

/** A fresh artifact's header, written to a file; returns @file and its id. */
async function requested(name: string): Promise<{ file: string; id: string }> {
  const run = await govctl(...requestArgs('--out', at(name)));
  expect(run.code, run.stderr).toBe(EXIT.ok);
  return { file: `@${at(name)}`, id: decodeArtifact(readFileSync(at(name), 'utf8').trim()).artifact.id };
}

describe('--help', () => {
  const paths: string[][] = [];
  const walk = (command: Command, path: string[]) => {
    for (const sub of command.commands) {
      paths.push([...path, sub.name()]);
      walk(sub, [...path, sub.name()]);
    }
  };
  walk(buildProgram(), []);

  it('covers the commands of issue #7', () => {
    const names = paths.map((p) => p.join(' '));
    for (const name of [
      'policy hash',
      'policy validate',
      'policy publish',
      'policy activate',
      'artifact request',
      'artifact inspect',
      'artifact verify',
      'keys generate',
      'check',
      'revoke',
      'checkpoint',
      'inclusion',
      'lineage',
      'ledger export',
      'ledger verify',
      'bench',
    ])
      expect(names).toContain(name);
  });

  it.each(paths.map((p) => [p.join(' '), p]))('govctl %s --help', async (_name, path) => {
    const run = await govctl(...(path as string[]), '--help');
    expect(run.code).toBe(EXIT.ok);
    expect(run.stdout).toContain(`Usage: govctl ${(path as string[]).join(' ')}`);
  });
});

describe('govctl policy', () => {
  it('hash gives the hash the running authority computed for the same document', async () => {
    const run = await govctl('--json', 'policy', 'hash', MEDICAL);
    expect(run.code).toBe(EXIT.ok);
    const { ref, hash } = JSON.parse(run.stdout) as { ref: string; hash: string };
    const served = (await (await fetch(`${dev.urls.authorityHttp}/v1/proof/policies`)).json()) as {
      active: Record<string, string>;
    };
    expect(served.active[ref]).toBe(hash);
  });

  it('validate accepts the sample policies and names line and column of each problem', async () => {
    expect((await govctl('policy', 'validate', MEDICAL, ADMIN)).code).toBe(EXIT.ok);
    const bad = at('bad.yaml');
    writeFileSync(
      bad,
      [
        'policy: policy://demo/v1',
        'operations: [model.invoke]',
        'rules:',
        '  - id: ok',
        '    effect: allow',
        '    when: identity == "a" &&',
        '    colour: blue',
      ].join('\n'),
    );
    const run = await govctl('policy', 'validate', MEDICAL, bad);
    expect(run.code).toBe(EXIT.negative);
    expect(run.stdout).toContain(`${MEDICAL}: valid`);
    // The unknown field is on line 7, column 5; the unfinished CEL expression on line 6.
    expect(run.stdout).toContain(`${bad}:7:5: rules[0].colour: is not a field of a policy document`);
    const json = JSON.parse((await govctl('--json', 'policy', 'validate', bad)).stdout) as {
      problems: { line: number }[];
    }[];
    expect(json[0]!.problems.map((p) => p.line)).toEqual([7]);
  });

  it('validate reports a CEL error at its position', async () => {
    const bad = at('bad-cel.yaml');
    writeFileSync(
      bad,
      'policy: policy://demo/v1\noperations: [model.invoke]\nrules:\n  - id: r\n    effect: allow\n    when: identity ==\n',
    );
    const run = await govctl('policy', 'validate', bad);
    expect(run.code).toBe(EXIT.negative);
    expect(run.stdout).toMatch(new RegExp(`^${bad}:6:\\d+: rules\\[0\\]\\.when: `, 'm'));
  });

  it('publish and activate go through the admin API, governed by the admin policy', async () => {
    const next = at('medical-next.yaml');
    writeFileSync(next, readFileSync(MEDICAL, 'utf8').replace('ttl_seconds: 300', 'ttl_seconds: 240'));
    const hash = (JSON.parse((await govctl('--json', 'policy', 'hash', next)).stdout) as { hash: string })
      .hash;

    const denied = await govctl('policy', 'publish', next, ...token('workload'));
    expect(denied.code).toBe(EXIT.negative);
    expect(denied.stderr).toMatch(/policy\.denied/);

    const published = await govctl('policy', 'publish', next, ...token('policyOperator'));
    expect(published.code, published.stderr).toBe(EXIT.ok);
    const policies = async () =>
      (await (await fetch(`${dev.urls.authorityHttp}/v1/proof/policies`)).json()) as {
        active: Record<string, string>;
        versions: { hash: string }[];
      };
    expect((await policies()).versions.map((v) => v.hash)).toContain(hash);
    expect((await policies()).active['policy://medical/inference/v3']).not.toBe(hash);

    const activated = await govctl('policy', 'activate', next, ...token('policyOperator'));
    expect(activated.code, activated.stderr).toBe(EXIT.ok);
    expect((await policies()).active['policy://medical/inference/v3']).toBe(hash);
    // Artifacts are now issued under the new version, with its 240 s lifetime.
    const issued = JSON.parse((await govctl('--json', ...requestArgs())).stdout) as {
      artifact: { nbf: string; exp: string; pol: { hash: string } };
    };
    expect(issued.artifact.pol.hash).toBe(hash);
    expect(Date.parse(issued.artifact.exp) - Date.parse(issued.artifact.nbf)).toBe(240_000);
  });

  it('publish refuses an invalid document before calling the authority', async () => {
    const run = await govctl('policy', 'publish', at('bad-cel.yaml'), '--authority', '127.0.0.1:1');
    expect(run.code).toBe(EXIT.negative);
    expect(run.stderr).toMatch(/policy\.invalid\n.*bad-cel\.yaml:6:/);
  });
});

describe('govctl artifact request and check', () => {
  it('requests over gRPC and over HTTP through the client library', async () => {
    const grpc = JSON.parse((await govctl('--json', ...requestArgs())).stdout) as {
      artifact_id: string;
      artifact_header: string;
      lineage: string;
    };
    expect(decodeArtifact(grpc.artifact_header).artifact.id).toBe(grpc.artifact_id);
    expect(grpc.lineage).toBe(`lineage://op/${grpc.artifact_id.slice(5)}`);
    const http = await govctl('--json', ...requestArgs('--authority', dev.urls.authorityHttp));
    expect(http.code, http.stderr).toBe(EXIT.ok);
    expect(JSON.parse(http.stdout)).toMatchObject({ artifact: { sub: GATEWAY } });
  });

  it('a denial exits 1 with its reason; no authority exits 3', async () => {
    const denied = await govctl(...requestArgs('--param', 'model=clinical-summary-v3'));
    expect(denied.code).toBe(EXIT.negative);
    expect(denied.stderr).toMatch(/govctl: policy\.denied: denied by rule frozen-models/);
    const anonymous = await govctl('artifact', 'request', '--op', 'model.invoke');
    expect(anonymous.code).toBe(EXIT.negative);
    expect(anonymous.stderr).toMatch(/identity\.unauthenticated/);
    const nobody = await govctl(...requestArgs('--authority', '127.0.0.1:1', '--timeout', '1000'));
    expect(nobody.code).toBe(EXIT.unavailable);
    expect(nobody.stderr).toMatch(/unreachable/);
  });

  it('check allows once, then reports the replay', async () => {
    const { file, id } = await requested('check.txt');
    const allowed = await govctl(...checkArgs(file));
    expect(allowed.code).toBe(EXIT.ok);
    expect(allowed.stdout).toMatch(new RegExp(`^ALLOW  ${id}`));
    const replayed = await govctl(...checkArgs(file));
    expect(replayed.code).toBe(EXIT.negative);
    expect(replayed.stdout).toMatch(/^DENY {3}403 artifact\.replayed/);
  });
});

describe('govctl revoke', () => {
  it('revokes an artifact given as a header file; the enforcement point then denies it', async () => {
    const { file, id } = await requested('revoke.txt');
    const denied = await govctl('revoke', file, '--reason', 'test', ...token('workload'));
    expect(denied.code).toBe(EXIT.negative);
    expect(denied.stderr).toMatch(/policy\.denied/);

    const run = await govctl(
      '--json',
      'revoke',
      file,
      '--reason',
      'leaked in a log',
      '--attribute',
      'incident=INC-9',
      ...token('security'),
    );
    expect(run.code, run.stderr).toBe(EXIT.ok);
    expect(JSON.parse(run.stdout)).toMatchObject({
      added: true,
      revocation: { target: { artifact_id: id }, reason: 'leaked in a log' },
    });
    const again = await govctl(
      'revoke',
      id,
      '--reason',
      'again',
      '--attribute',
      'incident=INC-9',
      ...token('security'),
    );
    expect(again.stdout).toMatch(/already revoked/);

    // Once the authority's signed heartbeat counts it, no enforcement point may allow the artifact.
    await expect
      .poll(async () => {
        const { heartbeat } = (await (
          await fetch(`${dev.urls.authorityHttp}/v1/proof/checkpoint`)
        ).json()) as {
          heartbeat: { revocations: number };
        };
        return heartbeat.revocations;
      })
      .toBeGreaterThanOrEqual(1);
    const check = await govctl(...checkArgs(file));
    expect(check.stdout).toMatch(/DENY {3}403 artifact\.revoked/);
  });

  it('refuses the HTTP API for administration (it has none)', async () => {
    const run = await govctl(
      'revoke',
      'auth_00000000000000000000000000000000',
      '--reason',
      'x',
      '--authority',
      dev.urls.authorityHttp,
    );
    expect(run.code).toBe(EXIT.usage);
    expect(run.stderr).toMatch(/administration is gRPC only/);
  });

  it('a kid revokes the key (admin.key.revoke), which the admin policy also governs', async () => {
    const run = await govctl('revoke', 'key:dev/issuer/1', '--reason', 'test', ...token('workload'));
    expect(run.code).toBe(EXIT.negative);
    expect(run.stderr).toMatch(
      /policy\.denied: no rule of policy:\/\/governance\/admin\/v1 allows admin\.key\.revoke/,
    );
  });
});

/** The size of the latest checkpoint the proof endpoint serves (0 before the first). */
async function checkpointSize(): Promise<number> {
  const { checkpoint } = (await (await fetch(`${dev.urls.authorityHttp}/v1/proof/checkpoint`)).json()) as {
    checkpoint: string | null;
  };
  return checkpoint === null ? 0 : parseCheckpointNote(checkpoint).checkpoint.size;
}

/** Appends records (a new artifact) and waits for a checkpoint beyond `size`. */
async function checkpointBeyond(size: number): Promise<number> {
  await requested(`beyond-${size}.txt`);
  await expect.poll(checkpointSize, { timeout: 10_000 }).toBeGreaterThan(size);
  return checkpointSize();
}

/** A proof endpoint that serves `checkpoint` as the latest and passes everything else to the real one. */
async function fakeProofEndpoint(checkpoint: string): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    void (async () => {
      if (req.url === '/v1/proof/checkpoint') {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ checkpoint, heartbeat: null }));
        return;
      }
      const real = await fetch(`${dev.urls.authorityHttp}${req.url}`);
      res.statusCode = real.status;
      res.setHeader('content-type', real.headers.get('content-type') ?? 'application/json');
      res.end(Buffer.from(await real.arrayBuffer()));
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe('govctl checkpoint', () => {
  it('verifies the latest checkpoint against the root, or a given audit key, and saves it', async () => {
    const run = await govctl('checkpoint', ...root(), '--out', at('first.checkpoint'));
    expect(run.code, run.stderr).toBe(EXIT.ok);
    expect(run.stdout).toMatch(/^checkpoint +log governance-dev +size \d+ +\d{4}-/);
    expect(run.stdout).toMatch(/^root +[A-Za-z0-9+/]{43}=$/m);
    expect(run.stdout).toMatch(/^chain +sha3-512:[0-9a-f]{128}\n +blake2b-512:[0-9a-f]{128}$/m);
    expect(run.stdout).toMatch(/^index +[A-Za-z0-9+/]{43}=$/m);
    expect(run.stdout).toMatch(/signed +key:dev\/audit\/1 +verified; no witness policy given/);
    expect(run.stdout).toMatch(/heartbeat +governance:\/\/dev\/authority .* verified/);
    const saved = parseCheckpointNote(readFileSync(at('first.checkpoint'), 'utf8'));
    expect(run.stdout).toContain(`size ${saved.checkpoint.size}`);
    // Trusting the audit key directly (its public half, as `keys show` prints it).
    const shown = await govctl('--json', 'keys', 'show', join(dev.deployment.dir, 'keys', 'audit.key.pem'));
    writeFileSync(at('audit.pub.pem'), (JSON.parse(shown.stdout) as { pem: string }).pem);
    const direct = await govctl('checkpoint', '--audit-key', `key:dev/audit/1=${at('audit.pub.pem')}`);
    expect(direct.code, direct.stdout).toBe(EXIT.ok);
    expect(direct.stdout).toMatch(/signed +key:dev\/audit\/1 +verified/);
    const foreign = await govctl(
      'checkpoint',
      '--root',
      join(PROJECT_ROOT, 'test/cli/fixtures/other-root.pub.pem'),
    );
    expect(foreign.code).toBe(EXIT.negative);
    expect(foreign.stderr).toMatch(/^govctl: ledger\.signature\.invalid: /);
  });

  it('verifies that the latest checkpoint extends a saved one (consistency proof)', async () => {
    const trusted = parseCheckpointNote(readFileSync(at('first.checkpoint'), 'utf8')).checkpoint.size;
    const size = await checkpointBeyond(trusted);
    const run = await govctl(
      'checkpoint',
      ...root(),
      '--trusted',
      at('first.checkpoint'),
      '--out',
      at('later.checkpoint'),
    );
    expect(run.code, run.stderr).toBe(EXIT.ok);
    expect(run.stdout).toContain(`consistent  extends the trusted checkpoint at size ${trusted}`);
    const later = parseCheckpointNote(readFileSync(at('later.checkpoint'), 'utf8')).checkpoint.size;
    expect(later).toBeGreaterThanOrEqual(size);
    const json = JSON.parse(
      (await govctl('--json', 'checkpoint', ...root(), '--trusted', at('first.checkpoint'))).stdout,
    ) as { consistent_with: number; checkpoint: { size: number } };
    expect(json.consistent_with).toBe(trusted);
    expect(json.checkpoint.size).toBeGreaterThan(trusted);
  });

  it('detects a rollback: an endpoint serving a checkpoint older than the one trusted', async () => {
    const older = readFileSync(at('first.checkpoint'), 'utf8');
    const fake = await fakeProofEndpoint(older);
    try {
      const run = await govctl(
        'checkpoint',
        ...root(),
        '--url',
        fake.url,
        '--trusted',
        at('later.checkpoint'),
      );
      expect(run.code).toBe(EXIT.negative);
      expect(run.stderr).toMatch(/^govctl: ledger\.checkpoint\.rollback: /);
    } finally {
      fake.server.close();
    }
  });

  it('accepts a checkpoint cosigned as the witness policy requires, refuses one short of it', async () => {
    // The dev mode runs no witness: one cosigns its latest checkpoint here, served by a fake endpoint.
    const witness = (name: string) => {
      const key = generatePrivateKey();
      return { name, key, vkey: cosignatureVerifierKey(nodeCrypto, name, rawPublicKey(key)) };
    };
    const [w1, w2] = [witness('witness.example/w1'), witness('witness.example/w2')];
    const { checkpoint } = (await (await fetch(`${dev.urls.authorityHttp}/v1/proof/checkpoint`)).json()) as {
      checkpoint: string;
    };
    const signed = parseCheckpointNote(checkpoint);
    const cosignature = await cosign(
      nodeCrypto,
      signed.body,
      w1.name,
      keySigner(w1.name, w1.key),
      Math.floor(Date.now() / 1000),
      rawPublicKey(w1.key),
    );
    const fake = await fakeProofEndpoint(
      checkpointNote({ body: signed.body, signatures: [...signed.signatures, cosignature] }),
    );
    try {
      const policy = ['--url', fake.url, '--witness', w1.vkey, '--witness', w2.vkey];
      const enough = await govctl('checkpoint', ...root(), ...policy, '--witnesses-required', '1');
      expect(enough.code, enough.stderr).toBe(EXIT.ok);
      expect(enough.stdout).toMatch(/verified; cosigned by witness\.example\/w1 \(1 of 2 required\)/);
      const short = await govctl('checkpoint', ...root(), ...policy);
      expect(short.code).toBe(EXIT.negative);
      expect(short.stderr).toMatch(/^govctl: ledger\.witness\.insufficient: 1 of the 2 witness cosignatures/);
    } finally {
      fake.server.close();
    }
  });
});

/** The events of an operation's lineage the latest checkpoint covers, from the public proof endpoint. */
async function lineageEvents(id: string): Promise<number> {
  const answer = (await (await fetch(`${dev.urls.authorityHttp}/v1/proof/lineage/${id}`)).json()) as {
    records: { record: string }[];
  };
  const lineage = `lineage://op/${id.slice(5)}`;
  return answer.records
    .flatMap(({ record }) => (JSON.parse(record) as { events: { lineage?: string }[] }).events)
    .filter((e) => e.lineage === lineage).length;
}

/** Makes a record (a ledgered denial of an unauthenticated request), so that a checkpoint follows. */
async function ledgerSomething(): Promise<void> {
  const reply = await fetch(`${dev.urls.authorityHttp}/v1/govern/execute`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ op: { name: 'model.invoke' } }),
  });
  expect(reply.status).toBe(401);
}

describe('govctl inclusion and lineage', () => {
  it('inclusion verifies a record (a batch) in the latest checkpoint and lists its events', async () => {
    const run = await govctl('inclusion', '1', ...root());
    expect(run.code, run.stderr).toBe(EXIT.ok);
    expect(run.stdout).toMatch(/^record +seq 1 +[1-9]\d* event\(s\) signed by key:dev\/\S+$/m);
    expect(run.stdout).toMatch(/^ +0 [a-z.]+ +(\(no lineage\)|lineage:\/\/op\/\S+)$/m);
    expect(run.stdout).toMatch(/included +in the checkpoint at size \d+: \d+ proof hash\(es\), verified/);
    const json = JSON.parse((await govctl('--json', 'inclusion', '1', ...root())).stdout) as {
      seq: number;
      kid: string;
      events: { type: string; lineage: string | null }[];
      proof_hashes: number;
      checkpoint: { size: number };
    };
    expect(json.seq).toBe(1);
    expect(json.kid).toMatch(/^key:dev\//);
    expect(json.events.length).toBeGreaterThan(0);
    expect(json.proof_hashes).toBeLessThanOrEqual(Math.ceil(Math.log2(json.checkpoint.size)));
  });

  it('lineage shows the stages as a tree, verified as all of the lineage up to the checkpoint', async () => {
    const { file, id } = await requested('lineage.txt');
    expect((await govctl(...checkArgs(file))).code).toBe(EXIT.ok);
    // Issued, consumed, admitted: once a checkpoint covers all three, the answer holds them.
    await expect.poll(() => lineageEvents(id), { timeout: 20_000 }).toBe(3);
    const run = await govctl('lineage', file, '--wait', '0', ...root());
    expect(run.code, run.stderr).toBe(EXIT.ok);
    const lines = run.stdout.split('\n');
    expect(lines[0]).toBe(`lineage://op/${id.slice(5)}`);
    expect(lines.slice(1, 4)).toEqual([
      expect.stringMatching(/^\+- 01 authorization\.issued +record \d+ event \d+$/),
      expect.stringMatching(/^\+- 02 authorization\.consumed +record \d+ event \d+$/),
      expect.stringMatching(/^\+- 03 admission\.granted +record \d+ event \d+$/),
    ]);
    expect(run.stdout).toMatch(
      new RegExp(
        `proven: these 3 event\\(s\\) are all of lineage://op/${id.slice(5)} up to the checkpoint at size \\d+ ` +
          `\\(lineage index and [1-3] inclusion proof\\(s\\), linked by lineage_prev\\)`,
      ),
    );
  });

  it('lineage --json gives each stage as its record and its index there, and no pending count', async () => {
    const run = await govctl('--json', 'lineage', `@${at('lineage.txt')}`, '--wait', '0', ...root());
    expect(run.code, run.stderr).toBe(EXIT.ok);
    const json = JSON.parse(run.stdout) as {
      present: boolean;
      stages: { seq: number; index: number; type: string }[];
    };
    expect(json).not.toHaveProperty('pending');
    expect(json.present).toBe(true);
    expect(json.stages.map((s) => s.type)).toEqual([
      'authorization.issued',
      'authorization.consumed',
      'admission.granted',
    ]);
    // Each stage is event `index` of record `seq`: the record the inclusion proof verifies holds it.
    for (const { seq, index, type } of json.stages) {
      const included = JSON.parse((await govctl('--json', 'inclusion', String(seq), ...root())).stdout) as {
        events: { type: string; lineage: string | null }[];
      };
      expect(included.events[index]).toEqual({
        type,
        lineage: `lineage://op/${readArtifactId('lineage.txt').slice(5)}`,
      });
    }
  });

  it('lineage --wait answers with a checkpoint covering every record chained when it asked', async () => {
    await ledgerSomething();
    // The records chained once the denial is: what the command must see covered.
    const url = `${dev.urls.authorityHttp}/v1/proof/lineage/${readArtifactId('lineage.txt')}`;
    const { chained } = (await (await fetch(url)).json()) as { chained: number };
    const run = await govctl('--json', 'lineage', `@${at('lineage.txt')}`, '--wait', '30000', ...root());
    expect(run.code, run.stderr).toBe(EXIT.ok);
    const { checkpoint } = JSON.parse(run.stdout) as { checkpoint: { size: number } };
    expect(checkpoint.size).toBeGreaterThanOrEqual(chained);
  });

  it('--absent proves that an unknown operation has no event', async () => {
    const unknown = 'auth_00000000000000000000000000000000';
    const run = await govctl('lineage', unknown, '--absent', '--wait', '0', ...root());
    expect(run.code, run.stderr).toBe(EXIT.ok);
    expect(run.stdout).toMatch(
      /^proven: lineage:\/\/op\/0{32} has no event up to the checkpoint at size \d+ \(lineage index non-membership\)$/m,
    );
    // Without the assertion, an operation with no event is a negative answer.
    const plain = await govctl('lineage', unknown, '--wait', '0', ...root());
    expect(plain.code).toBe(EXIT.negative);
    expect(plain.stdout).toMatch(
      /^not found: lineage:\/\/op\/0{32} has no event \(--absent asserts that, exit 0\)$/m,
    );
  });

  it('--absent-stage proves a stage absent from the complete list of events', async () => {
    const run = await govctl(
      'lineage',
      `@${at('lineage.txt')}`,
      '--absent-stage',
      'execution.started',
      '--wait',
      '0',
      ...root(),
    );
    expect(run.code, run.stderr).toBe(EXIT.ok);
    expect(run.stdout).toMatch(
      /^proven: no execution\.started record of lineage:\/\/op\/\S+ up to the checkpoint at size \d+$/m,
    );
    const present = await govctl(
      'lineage',
      `@${at('lineage.txt')}`,
      '--absent-stage',
      'admission.granted',
      '--wait',
      '0',
      ...root(),
    );
    expect(present.code).toBe(EXIT.negative);
    expect(present.stdout).toMatch(
      /^REFUSED {2}--absent-stage: lineage:\/\/op\/\S+ has a admission\.granted event \(record \d+ event \d+\)$/m,
    );
  });

  it('--absent refuses a lineage that has events', async () => {
    const run = await govctl('lineage', `@${at('lineage.txt')}`, '--absent', '--wait', '0', ...root());
    expect(run.code).toBe(EXIT.negative);
    expect(run.stdout).toMatch(
      /^REFUSED {2}--absent: lineage:\/\/op\/\S+ has 3 event\(s\) up to the checkpoint at size \d+$/m,
    );
  });

  it('lineage fails against a root that certified none of the keys', async () => {
    const foreign = await govctl(
      'lineage',
      `@${at('lineage.txt')}`,
      '--wait',
      '0',
      '--root',
      join(PROJECT_ROOT, 'test/cli/fixtures/other-root.pub.pem'),
    );
    expect(foreign.code).toBe(EXIT.negative);
    expect(foreign.stderr).toMatch(/^govctl: ledger\.signature\.invalid: /);
  });
});

describe('govctl ledger', () => {
  it('exports from the proof endpoints and verifies the export, online and offline', async () => {
    const file = at('ledger.jsonl');
    const exported = await govctl('ledger', 'export', '--out', file);
    expect(exported.code, exported.stderr).toBe(EXIT.ok);
    const records = readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{"events":')).length;
    expect(exported.stdout).toContain(`wrote ${records} records`);
    expect((await govctl('ledger', 'export', '--out', file)).code).not.toBe(EXIT.ok); // never overwrites

    const online = await govctl('ledger', 'verify', '--file', file, ...root());
    expect(online.code, online.stdout).toBe(EXIT.ok);
    expect(online.stdout).toMatch(new RegExp(`^verified ${records} records \\(seq 1\\.\\.${records}\\)`));
    const keys = join(dev.deployment.dir, 'keys');
    const offline = await govctl(
      'ledger',
      'verify',
      '--file',
      file,
      '--url',
      'http://127.0.0.1:1',
      '--key-records',
      join(keys, 'producers.json'),
      '--key-records',
      join(keys, 'audit.cert.json'),
      ...root(),
    );
    expect(offline.code, offline.stdout + offline.stderr).toBe(EXIT.ok);
  });

  it('names the sequence number of a tampered record, and the checkpoint whose chain it breaks', async () => {
    const file = at('ledger.jsonl');
    const lines = readFileSync(file, 'utf8').split('\n');
    const index = lines.findIndex((l) => l.includes('"type":"authorization.issued"'));
    const seq = (JSON.parse(lines[index]!) as { seq: number }).seq;
    lines[index] = lines[index]!.replace('"type":"authorization.issued"', '"type":"authorization.denied"');
    writeFileSync(at('tampered.jsonl'), lines.join('\n'));
    // The first checkpoint line after the record: its chain and root no longer recompute.
    const next = lines.slice(index).find((l) => l.startsWith('{"checkpoint":'))!;
    const size = parseCheckpointNote((JSON.parse(next) as { checkpoint: string }).checkpoint).checkpoint.size;
    const run = await govctl('ledger', 'verify', '--file', at('tampered.jsonl'), ...root());
    expect(run.code).toBe(EXIT.negative);
    // Records hold no hashes: the edit breaks the producer's batch signature over the events...
    expect(run.stdout).toContain(
      `FAILED  seq ${seq}  ledger.signature.invalid  record ${seq}: the producer signature does not verify`,
    );
    // ...and the chain and the tree the next checkpoint signed.
    expect(run.stdout).toContain(
      `FAILED  seq ${size}  ledger.hash.mismatch  checkpoint ${size}: the chain of records 1..${size} does not recompute to its chain line`,
    );
    expect(run.stdout).toContain(`FAILED  seq ${size}  ledger.root.mismatch  checkpoint ${size}: `);
    const json = JSON.parse(
      (await govctl('--json', 'ledger', 'verify', '--file', at('tampered.jsonl'), ...root())).stdout,
    ) as {
      ok: boolean;
      failures: { seq: number }[];
    };
    expect(json.ok).toBe(false);
    expect(json.failures.map((f) => f.seq)).toContain(seq);
  });

  it('detects an export cut short at an earlier checkpoint only when given a trusted one (--checkpoint)', async () => {
    // ledger.jsonl is an honest export of an earlier state: cut, to a verifier, at its last checkpoint.
    const file = at('ledger.jsonl');
    const exportedTo = (JSON.parse(readFileSync(file, 'utf8').split('\n')[0]!) as { to: number }).to;
    await checkpointBeyond(exportedTo);
    const saved = await govctl('checkpoint', ...root(), '--out', at('trusted.checkpoint'));
    expect(saved.code, saved.stderr).toBe(EXIT.ok);

    const unchecked = await govctl('ledger', 'verify', '--file', file, ...root());
    expect(unchecked.code, unchecked.stdout).toBe(EXIT.ok);
    expect(unchecked.stdout).toContain('note: no trusted checkpoint given (--checkpoint)');
    const uncheckedJson = JSON.parse(
      (await govctl('--json', 'ledger', 'verify', '--file', file, ...root())).stdout,
    );
    expect(uncheckedJson).toMatchObject({ ok: true, truncation_checked: false });

    for (const checkpoint of [
      at('trusted.checkpoint'),
      `${dev.urls.authorityHttp}/v1/ledger/checkpoint`,
      `${dev.urls.authorityHttp}/v1/proof/checkpoint`,
    ]) {
      const cut = await govctl('ledger', 'verify', '--file', file, '--checkpoint', checkpoint, ...root());
      expect(cut.code, cut.stdout).toBe(EXIT.negative);
      expect(cut.stdout).toMatch(/^FAILED {2}(seq \d+ {2})?ledger\.[a-z.]+ /m);
      expect(cut.stdout).not.toContain('note: no trusted checkpoint');
    }
    // The whole ledger served now extends the checkpoint taken before.
    const whole = await govctl(
      '--json',
      'ledger',
      'verify',
      '--checkpoint',
      at('trusted.checkpoint'),
      ...root(),
    );
    expect(whole.code, whole.stdout).toBe(EXIT.ok);
    expect(JSON.parse(whole.stdout)).toMatchObject({ ok: true, truncation_checked: true });
  });

  it('verifies the whole ledger from the public proof endpoints', async () => {
    const run = await govctl('--json', 'ledger', 'verify', ...root());
    expect(run.code, run.stdout).toBe(EXIT.ok);
    const result = JSON.parse(run.stdout) as { ok: boolean; records: number; checkpoint_size: number };
    expect(result.ok).toBe(true);
    expect(result.records).toBe(result.checkpoint_size);
    expect(result.records).toBeGreaterThan(10);
  });

  it('needs something to trust', async () => {
    const run = await govctl('ledger', 'verify');
    expect(run.code).toBe(EXIT.usage);
    expect(run.stderr).toMatch(/--root/);
  });
});
