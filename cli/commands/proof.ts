// govctl head and govctl lineage: what the authority's public proof endpoints say, verified here
// against the keys the caller trusts (a pinned root, or an audit key given directly).
import type { Command } from 'commander';
import { nodeCrypto } from '../../core/crypto-node.js';
import { verifyHead, type ChainRecord, type SignedHead } from '../../core/event.js';
import { verifyHeartbeat, type RegistryHeartbeat } from '../../core/registry.js';
import { headKeyOf } from '../../core/chain.js';
import type { LineageSegment } from '../../ledger/types.js';
import { verifyLineageProof, type VerifyFailure } from '../../ledger/verify.js';
import { addProofOptions, positiveInteger, proofGet, type ProofOptions } from '../options.js';
import { CliError, emit, EXIT, type OutputOptions } from '../output.js';
import { addTrustOptions, readTrustFiles, trustFromProof, type Trust, type TrustOptions } from '../trust.js';
import { idOrHeader } from './artifact.js';

type Options = ProofOptions & TrustOptions;

/** "sha3-512:a3f1…b8e9" → "a3f1...b8e9", the white paper's short form (§6.4). */
export function shortHash(ref: string): string {
  const hex = ref.slice(ref.indexOf(':') + 1);
  return `${hex.slice(0, 4)}...${hex.slice(-4)}`;
}

export function failureLines(failures: VerifyFailure[]): string[] {
  return failures.map((f) => `FAILED  ${f.seq === null ? '' : `seq ${f.seq}  `}${f.code}  ${f.message}`);
}

export function uncertifiedNote(trust: Trust): string[] {
  return trust.uncertified.length > 0
    ? [`note: no given root certifies key record(s) ${trust.uncertified.join(', ')}`]
    : [];
}

export interface LineageAnswer {
  lineage: string;
  records: ChainRecord[];
  segments: LineageSegment[];
  pending: boolean;
}

/** GET /v1/proof/lineage/<op>, again while its newest records await a signed head (up to waitMs). */
export async function fetchLineage(opts: ProofOptions, op: string, waitMs: number): Promise<LineageAnswer> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const answer = await proofGet<LineageAnswer>(opts, `/v1/proof/lineage/${encodeURIComponent(op)}`);
    if (!answer.pending || Date.now() > deadline) return answer;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The lineage tree of white paper §6.4: each record of the operation, numbered in chain order. */
export function lineageTree(lineage: string, records: ChainRecord[]): string {
  const width = Math.max(...records.map((r) => r.event.type.length));
  return [
    lineage,
    ...records.map(
      (r, i) =>
        `+- ${String(i + 1).padStart(2, '0')} ${r.event.type.padEnd(width)}  chash=${shortHash(r.event_hash)}  seq ${r.seq}`,
    ),
  ].join('\n');
}

export function registerProofCommands(program: Command, output: () => OutputOptions): void {
  addTrustOptions(
    addProofOptions(
      program
        .command('head')
        .description(
          "fetch the ledger's latest signed head (and the authority's registry heartbeat) and verify their signatures",
        ),
    ),
  ).action(async (opts: Options) => {
    const files = readTrustFiles(opts);
    const { head, heartbeat } = await proofGet<{
      head: SignedHead | null;
      heartbeat: RegistryHeartbeat | null;
    }>(opts, '/v1/proof/head');
    if (!head) throw new CliError('the ledger has no signed head yet', EXIT.negative);
    const trust = await trustFromProof(opts, files);
    const auditKey = headKeyOf(trust, head);
    const headVerified = 'key' in auditKey && verifyHead(nodeCrypto, head, auditKey.key);
    const issuerKey = heartbeat ? trust.keys.get(heartbeat.sig.kid) : undefined;
    const heartbeatVerified =
      heartbeat !== null &&
      issuerKey?.role === 'issuer' &&
      issuerKey.subject === heartbeat.issuer &&
      verifyHeartbeat(nodeCrypto, heartbeat, issuerKey.publicKey);
    emit(
      output(),
      { head, head_verified: headVerified, heartbeat, heartbeat_verified: heartbeatVerified },
      () =>
        [
          `head       seq ${head.seq}  log ${head.log}  ${head.time}`,
          `           ${head.event_hash}`,
          `           ${head.event_hash_alt}`,
          `signed     ${head.sig.kid}  ${headVerified ? 'verified' : `NOT VERIFIED (${'refused' in auditKey ? auditKey.refused : 'bad signature'})`}`,
          heartbeat
            ? `heartbeat  ${heartbeat.issuer}  ${heartbeat.time}  revocations ${heartbeat.revocations}  ${heartbeat.sig.kid} ${heartbeatVerified ? 'verified' : 'not verified'}`
            : 'heartbeat  none yet',
          ...uncertifiedNote(trust),
        ].join('\n'),
    );
    if (!headVerified) process.exitCode = EXIT.negative;
  });

  addTrustOptions(
    addProofOptions(
      program
        .command('lineage')
        .description(
          "fetch one operation's lineage proof, verify it (chain segments up to signed heads, lineage links), show its stages",
        )
        .argument(
          '<op>',
          'an artifact id, lineage://op/…, or an artifact header (@file, - for standard input)',
        )
        .option(
          '--wait <ms>',
          'how long to wait for the newest records to be covered by a signed head',
          '5000',
        ),
    ),
  ).action(async (source: string, opts: Options & { wait: string }) => {
    const files = readTrustFiles(opts);
    const answer = await fetchLineage(opts, idOrHeader(source), positiveInteger(opts.wait, '--wait'));
    if (answer.records.length === 0) throw new CliError(`${answer.lineage} has no records`, EXIT.negative);
    const tree = lineageTree(answer.lineage, answer.records);
    if (answer.pending) {
      throw new CliError(
        `${tree}\n${answer.lineage}: the newest records are not yet covered by a signed head; try again`,
        EXIT.negative,
      );
    }
    const trust = await trustFromProof(opts, files);
    const result = verifyLineageProof(
      { lineage: answer.lineage, segments: answer.segments },
      { suite: nodeCrypto, keys: trust },
    );
    emit(
      output(),
      {
        lineage: answer.lineage,
        verified: result.ok,
        stages: answer.records.map((r) => ({ seq: r.seq, type: r.event.type, event_hash: r.event_hash })),
        heads: result.heads.map((h) => ({ seq: h.seq, kid: h.sig.kid })),
        failures: result.failures,
      },
      () =>
        [
          tree,
          ...(result.ok
            ? [
                `verified: ${result.records.length} records linked from the first, in ${answer.segments.length} chain segment(s) ending at signed head(s) ${result.heads.map((h) => h.seq).join(', ')}`,
              ]
            : failureLines(result.failures)),
          ...uncertifiedNote(trust),
        ].join('\n'),
    );
    if (!result.ok) process.exitCode = EXIT.negative;
  });
}
