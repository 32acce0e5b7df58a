// govctl checkpoint, inclusion and lineage: what the authority's public proof endpoints say
// (docs/spec/ledger.md §7, §10), verified here with the portable proof verifier against the keys
// the caller trusts (a pinned root, or an audit key given directly) and, optionally, a witness
// policy (k of the given witness keys must have cosigned the checkpoint) and a checkpoint saved
// earlier, which the latest one must extend.
import type { Command } from 'commander';
import {
  checkpointNote,
  parseCheckpointNote,
  verifyCheckpoint,
  type SignedCheckpoint,
  type WitnessPolicy,
} from '../../core/checkpoint.js';
import { nodeCrypto } from '../../core/crypto-node.js';
import { base64Encode, hexEncode } from '../../core/encoding.js';
import { isGovernanceError } from '../../core/errors.js';
import { EVENT_TYPES } from '../../core/event.js';
import { parseMillis } from '../../core/time.js';
import { parseCosignatureVerifierKey, verifierKey } from '../../core/note.js';
import {
  verifyConsistencyProof,
  verifyInclusionProof,
  verifyLineageProof,
  type ConsistencyProof,
  type InclusionProof,
  type LineageProof,
  type LineageEvent,
  type LineageVerification,
  type ProofTrust,
} from '../../core/proofs.js';
import { verifyHeartbeat, type RegistryHeartbeat } from '../../core/registry.js';
import {
  addProofOptions,
  collect,
  nonNegativeInteger,
  positiveInteger,
  proofGet,
  readText,
  writeText,
  type ProofOptions,
} from '../options.js';
import { CliError, emit, EXIT, type OutputOptions } from '../output.js';
import { addTrustOptions, readTrustFiles, trustFromProof, type Trust, type TrustOptions } from '../trust.js';
import { idOrHeader } from './artifact.js';

type Options = ProofOptions & TrustOptions & WitnessOptions;

/** "sha3-512:a3f1…b8e9" → "a3f1...b8e9", the white paper's short form (§6.4). */
export function shortHash(ref: string): string {
  const hex = ref.slice(ref.indexOf(':') + 1);
  return `${hex.slice(0, 4)}...${hex.slice(-4)}`;
}

export function failureLines(failures: { seq: number | null; code: string; message: string }[]): string[] {
  return failures.map((f) => `FAILED  ${f.seq === null ? '' : `seq ${f.seq}  `}${f.code}  ${f.message}`);
}

export function uncertifiedNote(trust: Trust): string[] {
  return trust.uncertified.length > 0
    ? [`note: no given root certifies key record(s) ${trust.uncertified.join(', ')}`]
    : [];
}

export interface WitnessOptions {
  witness: string[];
  witnessesRequired?: string;
}

export function addWitnessOptions(command: Command): Command {
  return command
    .option(
      '--witness <vkey>',
      'a witness cosigner verifier key (name+hash+base64(0x04||key), as C2SP witnesses and govctl witness vkey publish it; @file reads it), repeatable',
      collect,
      [],
    )
    .option(
      '--witnesses-required <k>',
      'how many of the --witness keys must have cosigned each checkpoint (default: all of them)',
    );
}

/** The witness policy of --witness and --witnesses-required, or undefined when no witness is given. */
export function witnessPolicy(opts: WitnessOptions): WitnessPolicy | undefined {
  if (opts.witness.length === 0) {
    if (opts.witnessesRequired !== undefined)
      throw new CliError('--witnesses-required needs the witness keys (--witness <vkey>)');
    return undefined;
  }
  const witnesses = opts.witness.map((value) => {
    const text = value.startsWith('@') ? readText(value.slice(1), 'witness key').trim() : value;
    try {
      const { name, publicKey } = parseCosignatureVerifierKey(nodeCrypto, text);
      return { name, publicKey };
    } catch (e) {
      throw new CliError(`--witness ${JSON.stringify(value)}: ${(e as Error).message}`);
    }
  });
  const names = new Set(witnesses.map((w) => w.name));
  const threshold =
    opts.witnessesRequired === undefined
      ? names.size
      : positiveInteger(opts.witnessesRequired, '--witnesses-required');
  if (threshold > names.size)
    throw new CliError(
      `--witnesses-required ${threshold} is more than the ${names.size} distinct witness(es) given`,
    );
  return { threshold, witnesses };
}

/** Runs a verification; a failed one (a typed GovernanceError) is a negative answer naming its code. */
export function verified<T>(verify: () => T): T {
  try {
    return verify();
  } catch (e) {
    if (isGovernanceError(e)) throw new CliError(`${e.code}: ${e.message}`, EXIT.negative);
    throw e;
  }
}

/** A checkpoint file the caller trusts (e.g. saved by `govctl checkpoint --out`), parsed strictly. */
export function readCheckpointFile(path: string, flag: string): { note: string; signed: SignedCheckpoint } {
  const note = readText(path, 'checkpoint');
  try {
    return { note, signed: parseCheckpointNote(note) };
  } catch (e) {
    throw new CliError(`${flag} ${path} is not a checkpoint note: ${(e as Error).message}`);
  }
}

/** A checkpoint's lines for people: size, root, chain hashes, index root, time. */
export function checkpointLines(signed: SignedCheckpoint): string[] {
  const { log, size, root, chain, index, time } = signed.checkpoint;
  return [
    `checkpoint  log ${log}  size ${size}  ${time}`,
    `root        ${base64Encode(root)}`,
    `chain       sha3-512:${hexEncode(chain.hash)}`,
    `            blake2b-512:${hexEncode(chain.alt)}`,
    `index       ${base64Encode(index)}`,
  ];
}

export function checkpointJson(signed: SignedCheckpoint) {
  const { log, size, root, chain, index, time } = signed.checkpoint;
  return {
    log,
    size,
    root: base64Encode(root),
    event_hash: `sha3-512:${hexEncode(chain.hash)}`,
    event_hash_alt: `blake2b-512:${hexEncode(chain.alt)}`,
    index: base64Encode(index),
    time,
  };
}

/**
 * Who vouches for a checkpoint: the audit key, and the witnesses of the policy that cosigned;
 * without a policy, the names under the note's other signatures, which nothing here verified.
 */
function signedLine(
  signed: SignedCheckpoint,
  signer: { kid: string; cosigners: string[] },
  policy: WitnessPolicy | undefined,
): string {
  const others = [
    ...new Set(signed.signatures.map((s) => s.name).filter((name) => name !== signed.checkpoint.log)),
  ];
  const cosigned = policy
    ? `cosigned by ${signer.cosigners.join(', ') || 'no witness'} (${policy.threshold} of ${policy.witnesses.length} required)`
    : `no witness policy given${others.length > 0 ? `; unverified cosignatures by ${others.join(', ')}` : ''}`;
  return `signed      ${signer.kid}  verified; ${cosigned}`;
}

/** The audit key and cosigners of a checkpoint already verified (a proof verifier checked it). */
function signerOf(trust: ProofTrust, signed: SignedCheckpoint): { kid: string; cosigners: string[] } {
  return verifyCheckpoint(nodeCrypto, signed, trust.keys.audit, trust.witnesses);
}

export type LineageAnswer = LineageProof & { chained?: number };

/**
 * GET /v1/proof/lineage/<op>, again until its checkpoint covers every record chained when the
 * first answer came (`chained`, an unsigned hint), or was signed after `since`, up to waitMs.
 */
export async function fetchLineage(
  opts: ProofOptions,
  op: string,
  waitMs: number,
  since = Date.now(),
): Promise<LineageAnswer> {
  const deadline = Date.now() + waitMs;
  let target: number | undefined;
  for (;;) {
    const answer = await proofGet<LineageAnswer>(opts, `/v1/proof/lineage/${encodeURIComponent(op)}`);
    target ??= typeof answer.chained === 'number' ? answer.chained : undefined;
    const signed = typeof answer.checkpoint === 'string' ? checkpointOf(answer.checkpoint) : undefined;
    const covered =
      signed !== undefined &&
      ((target !== undefined && signed.size >= target) || (parseMillis(signed.time) ?? 0) >= since);
    if (covered || Date.now() > deadline) return answer;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A checkpoint note's size and time, or undefined when it does not parse. */
function checkpointOf(note: string): { size: number; time: string } | undefined {
  try {
    return parseCheckpointNote(note).checkpoint;
  } catch {
    return undefined;
  }
}

/** The lineage tree of white paper §6.4: each event of the operation, numbered in chain order. */
export function lineageTree(lineage: string, events: LineageEvent[]): string {
  const width = Math.max(...events.map((e) => e.event.type.length));
  return [
    lineage,
    ...events.map(
      (e, i) =>
        `+- ${String(i + 1).padStart(2, '0')} ${e.event.type.padEnd(width)}  record ${e.seq} event ${e.index}`,
    ),
  ].join('\n');
}

/** Verifies a lineage answer: all the lineage's records up to its checkpoint, or none (exclusion). */
export function verifyLineageAnswer(answer: LineageAnswer, trust: ProofTrust): LineageVerification {
  return verified(() => verifyLineageProof(nodeCrypto, answer, trust));
}

function heartbeatOf(trust: Trust, heartbeat: RegistryHeartbeat | null): boolean {
  const issuerKey = heartbeat ? trust.keys.get(heartbeat.sig.kid) : undefined;
  return (
    heartbeat !== null &&
    issuerKey?.role === 'issuer' &&
    issuerKey.subject === heartbeat.issuer &&
    verifyHeartbeat(nodeCrypto, heartbeat, issuerKey.publicKey)
  );
}

function proofCommand(program: Command, name: string, description: string): Command {
  return addWitnessOptions(addTrustOptions(addProofOptions(program.command(name).description(description))));
}

export function registerProofCommands(program: Command, output: () => OutputOptions): void {
  proofCommand(
    program,
    'checkpoint',
    "fetch the ledger's latest checkpoint (and the authority's registry heartbeat), verify its signature, " +
      'its cosignatures and, given a checkpoint saved earlier, that it extends that one',
  )
    .option('--out <file>', 'save the verified checkpoint note (a trusted checkpoint for later commands)')
    .option(
      '--trusted <file>',
      'a checkpoint saved earlier (--out): the latest must extend it (else ledger.checkpoint.rollback or ledger.checkpoint.inconsistent)',
    )
    .action(async (opts: Options & { out?: string; trusted?: string }) => {
      const files = readTrustFiles(opts);
      const witnesses = witnessPolicy(opts);
      const trusted = opts.trusted === undefined ? undefined : readCheckpointFile(opts.trusted, '--trusted');
      const answer = await proofGet<{ checkpoint: string | null; heartbeat: RegistryHeartbeat | null }>(
        opts,
        '/v1/proof/checkpoint',
      );
      if (answer.checkpoint === null) throw new CliError('the ledger has no checkpoint yet', EXIT.negative);
      const trust = await trustFromProof(opts, files);
      const proofTrust: ProofTrust = { keys: trust, witnesses };
      let signed = verified(() => parseCheckpointNote(answer.checkpoint!));
      let signer = verified(() => signerOf(proofTrust, signed));
      if (trusted) {
        const old = trusted.signed.checkpoint;
        verified(() => verifyCheckpoint(nodeCrypto, trusted.signed, trust.audit));
        if (signed.checkpoint.log !== old.log)
          throw new CliError(
            `ledger.head.mismatch: the checkpoint is of log ${signed.checkpoint.log}, the trusted one of ${old.log}`,
            EXIT.negative,
          );
        if (signed.checkpoint.size < old.size)
          throw new CliError(
            `ledger.checkpoint.rollback: the latest checkpoint is at ${signed.checkpoint.size}, older than the one trusted at ${old.size}`,
            EXIT.negative,
          );
        const proof = await proofGet<ConsistencyProof>(opts, `/v1/proof/consistency?old=${old.size}`);
        const newer = verified(() => verifyConsistencyProof(nodeCrypto, trusted.signed, proof, proofTrust));
        // A checkpoint published in between is the newer one; one of the same size must be the same.
        if (newer.body !== signed.body) {
          if (newer.checkpoint.size <= signed.checkpoint.size)
            throw new CliError(
              `ledger.checkpoint.inconsistent: the consistency proof's checkpoint at ${newer.checkpoint.size} is not the latest at ${signed.checkpoint.size}`,
              EXIT.negative,
            );
          signed = newer;
          signer = verified(() => signerOf(proofTrust, signed));
        }
      }
      const note = checkpointNote(signed);
      if (opts.out !== undefined) writeText(opts.out, note, 'checkpoint');
      // The log's key as Go's note package and C2SP witnesses take it (docs/spec/ledger.md §7.3).
      const logVerifierKey = verifierKey(
        nodeCrypto,
        signed.checkpoint.log,
        trust.audit.get(signer.kid)!.publicKey,
      );
      const heartbeat = answer.heartbeat;
      const heartbeatVerified = heartbeatOf(trust, heartbeat);
      emit(
        output(),
        {
          checkpoint: checkpointJson(signed),
          note,
          signer: signer.kid,
          verifier_key: logVerifierKey,
          cosigners: signer.cosigners,
          witnesses_required: witnesses?.threshold ?? 0,
          consistent_with: trusted ? trusted.signed.checkpoint.size : null,
          saved: opts.out ?? null,
          heartbeat,
          heartbeat_verified: heartbeatVerified,
        },
        () =>
          [
            ...checkpointLines(signed),
            signedLine(signed, signer, witnesses),
            `vkey        ${logVerifierKey}`,
            ...(trusted
              ? [
                  `consistent  extends the trusted checkpoint at size ${trusted.signed.checkpoint.size} (${opts.trusted})`,
                ]
              : []),
            ...(opts.out !== undefined ? [`saved       ${opts.out}`] : []),
            heartbeat
              ? `heartbeat   ${heartbeat.issuer}  ${heartbeat.time}  revocations ${heartbeat.revocations}  ${heartbeat.sig.kid} ${heartbeatVerified ? 'verified' : 'not verified'}`
              : 'heartbeat   none yet',
            ...uncertifiedNote(trust),
          ].join('\n'),
      );
    });

  proofCommand(
    program,
    'inclusion',
    "fetch a record's inclusion proof in the latest checkpoint and verify it (record, producer signature, tree path, checkpoint)",
  )
    .argument('<seq>', 'the sequence number of the record')
    .action(async (seqText: string, opts: Options) => {
      const files = readTrustFiles(opts);
      const witnesses = witnessPolicy(opts);
      const seq = positiveInteger(seqText, '<seq>');
      const proof = await proofGet<InclusionProof>(opts, `/v1/proof/inclusion?seq=${seq}`);
      const trust = await trustFromProof(opts, files);
      const proofTrust: ProofTrust = { keys: trust, witnesses };
      const { record, checkpoint } = verified(() => verifyInclusionProof(nodeCrypto, proof, proofTrust));
      if (record.seq !== seq)
        throw new CliError(
          `ledger.proof.invalid: asked for record ${seq}, the proof is of record ${record.seq}`,
          EXIT.negative,
        );
      const signer = signerOf(proofTrust, checkpoint);
      const { size } = checkpoint.checkpoint;
      const lineages = [...new Set(record.events.flatMap((e) => (e.lineage ? [e.lineage] : [])))];
      emit(
        output(),
        {
          verified: true,
          seq: record.seq,
          events: record.events.map((e) => ({ type: e.type, lineage: e.lineage ?? null })),
          kid: record.kid,
          proof_hashes: proof.proof.length,
          checkpoint: checkpointJson(checkpoint),
          signer: signer.kid,
          cosigners: signer.cosigners,
        },
        () =>
          [
            `record      seq ${record.seq}  ${record.events.length} event(s) signed by ${record.kid}`,
            ...record.events.map(
              (e, i) => `            ${String(i).padStart(3)} ${e.type}  ${e.lineage ?? '(no lineage)'}`,
            ),
            ...(lineages.length > 0 ? [`lineages    ${lineages.length}`] : []),
            `included    in the checkpoint at size ${size}: ${proof.proof.length} proof hash(es), verified`,
            ...checkpointLines(checkpoint),
            signedLine(checkpoint, signer, witnesses),
            ...uncertifiedNote(trust),
          ].join('\n'),
      );
    });

  proofCommand(
    program,
    'lineage',
    "fetch one operation's lineage proof and verify it: every event of it up to the latest checkpoint " +
      '(index proof and inclusion proofs), their links and stage order; or that it has none',
  )
    .argument('<op>', 'an artifact id, lineage://op/…, or an artifact header (@file, - for standard input)')
    .option(
      '--wait <ms>',
      'how long to wait for a checkpoint of everything chained when the command started',
      '5000',
    )
    .option('--absent', 'assert that the lineage has no record up to the checkpoint (exit 0 when proven)')
    .option(
      '--absent-stage <type>',
      'assert that the lineage has no record of this type up to the checkpoint, repeatable',
      collect,
      [],
    )
    .action(
      async (source: string, opts: Options & { wait: string; absent?: boolean; absentStage: string[] }) => {
        const files = readTrustFiles(opts);
        const witnesses = witnessPolicy(opts);
        for (const type of opts.absentStage)
          if (!(EVENT_TYPES as readonly string[]).includes(type))
            throw new CliError(`--absent-stage ${JSON.stringify(type)} is not an event type`);
        const asserting = opts.absent === true || opts.absentStage.length > 0;
        const waitMs = nonNegativeInteger(opts.wait, '--wait');
        const answer = await fetchLineage(opts, idOrHeader(source), waitMs);
        const trust = await trustFromProof(opts, files);
        const proofTrust: ProofTrust = { keys: trust, witnesses };
        const result = verifyLineageAnswer(answer, proofTrust);
        const signer = signerOf(proofTrust, result.checkpoint);
        const { size } = result.checkpoint.checkpoint;
        const { lineage, records, events, failures } = result;
        /** Stages asserted absent but present: type → the first event of it. */
        const present = opts.absentStage.flatMap((type) => {
          const found = events.find((e) => e.event.type === type);
          return found ? [{ type, seq: found.seq, index: found.index }] : [];
        });
        const refusals = [
          ...(opts.absent && events.length > 0
            ? [
                `REFUSED  --absent: ${lineage} has ${events.length} event(s) up to the checkpoint at size ${size}`,
              ]
            : []),
          ...present.map(
            (p) =>
              `REFUSED  --absent-stage: ${lineage} has a ${p.type} event (record ${p.seq} event ${p.index})`,
          ),
        ];
        const absentStages = opts.absentStage.filter((type) => !present.some((p) => p.type === type));
        const proven =
          events.length === 0
            ? `proven: ${lineage} has no event up to the checkpoint at size ${size} (lineage index non-membership)`
            : `proven: these ${events.length} event(s) are all of ${lineage} up to the checkpoint at size ${size} ` +
              `(lineage index and ${records.length} inclusion proof(s), linked by lineage_prev)`;
        emit(
          output(),
          {
            lineage,
            verified: true,
            present: events.length > 0,
            stages: events.map((e) => ({ seq: e.seq, index: e.index, type: e.event.type })),
            absent_stages: absentStages,
            checkpoint: checkpointJson(result.checkpoint),
            signer: signer.kid,
            cosigners: signer.cosigners,
            failures,
            refusals,
          },
          () =>
            [
              ...(events.length > 0 ? [lineageTree(lineage, events)] : []),
              proven,
              ...absentStages.map(
                (type) => `proven: no ${type} record of ${lineage} up to the checkpoint at size ${size}`,
              ),
              ...failureLines(failures),
              ...refusals,
              signedLine(result.checkpoint, signer, witnesses),
              ...(!asserting && events.length === 0
                ? [`not found: ${lineage} has no event (--absent asserts that, exit 0)`]
                : []),
              ...uncertifiedNote(trust),
            ].join('\n'),
        );
        const notFound = !asserting && events.length === 0;
        if (failures.length > 0 || refusals.length > 0 || notFound) process.exitCode = EXIT.negative;
      },
    );
}
