// govctl ledger export and govctl ledger verify: the whole chain from the authority's public proof
// endpoints, a Redis, or an export file (docs/spec/ledger.md §Export), verified by
// ledger/verify.ts: both hash chains, the tree, every producer signature, every checkpoint (its
// signature and, under a witness policy, its cosignatures), and, given a trusted checkpoint
// (--checkpoint), that the log extends it. govctl ledger open and erase: the openings of a
// record's committed members (docs/spec/ledger.md §3.1), fetched by a named reader and checked
// against the record's commitments, and erased by an operator on the store.
import { once } from 'node:events';
import { accessSync, constants, createWriteStream, openSync, rmSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { canonicalize } from '../../core/canonical.js';
import { isGovernanceError } from '../../core/errors.js';
import { verifyInclusionProof, type InclusionProof } from '../../core/proofs.js';
import {
  REDACTABLE_MEMBERS,
  committedMember,
  isRedactableMember,
  verifyOpenings,
} from '../../core/redaction.js';
import { httpJson } from '../../client/http.js';
import { nodeCrypto } from '../../core/crypto-node.js';
import { checkpointSigner, parseCheckpointNote } from '../../core/checkpoint.js';
import type { ChainRecord } from '../../core/event.js';
import type { KeyRecord } from '../../core/registry.js';
import { EXPORT_FORMAT, exportLines } from '../../ledger/export.js';
import {
  verifyExportFile,
  verifyLines,
  verifyStore,
  type VerifyOptions,
  type VerifyResult,
} from '../../ledger/verify.js';
import { RedisLedgerStore } from '../../store/ledger-redis.js';
import type { LedgerStore } from '../../store/ledger-types.js';
import { ledgerView } from '../../service/stores.js';
import { closeRedis, connectRedis, type RedisClient } from '../../store/redis-connection.js';
import { RedisRegistryStore } from '../../store/registry-redis.js';
import {
  addProofOptions,
  callerCredentials,
  httpUrl,
  nonNegativeInteger,
  positiveInteger,
  proofGet,
  readText,
  type ProofOptions,
} from '../options.js';
import { CliError, emit, EXIT, type OutputOptions } from '../output.js';
import { progressBar } from '../progress.js';
import {
  addTrustOptions,
  readTrustFiles,
  trustFromProof,
  trustOf,
  type Trust,
  type TrustOptions,
} from '../trust.js';
import {
  addWitnessOptions,
  failureLines,
  uncertifiedNote,
  verified,
  witnessPolicy,
  type WitnessOptions,
} from './proof.js';

interface SourceOptions extends ProofOptions {
  redis?: string;
  log?: string;
  prefix: string;
  archive?: string;
}

function addSourceOptions(command: Command): Command {
  return addProofOptions(command)
    .option('--redis <url>', 'read the ledger from this Redis instead of the proof endpoints')
    .option('--log <id>', 'the log id (with --redis), e.g. governance-dev')
    .option('--prefix <prefix>', 'Redis key prefix (with --redis)', '')
    .option(
      '--archive <dir|s3://bucket/prefix>',
      "the log's archive, where the sequencer moved what it trimmed from Redis (with --redis; S3 credentials, region and endpoint from the AWS SDK's environment)",
    );
}

/** The ledger in Redis, and with --archive the archive of what was trimmed from it, as one log. */
function redisLedger(opts: SourceOptions): LedgerStore {
  if (!opts.log) throw new CliError('--redis needs --log');
  const store = new RedisLedgerStore({ url: opts.redis!, log: opts.log, prefix: opts.prefix });
  if (opts.archive === undefined) return store;
  const s3 = /^s3:\/\/([^/]+)\/?(.*)$/.exec(opts.archive);
  return ledgerView(
    store,
    s3
      ? { type: 's3', bucket: s3[1]!, ...(s3[2] ? { prefix: s3[2] } : {}) }
      : { type: 'fs', dir: opts.archive },
  );
}

/** Canonical record texts start with their first member, "events" (members are sorted). */
const isRecordLine = (line: string) => line.startsWith('{"events":');

/** The latest checkpoint note of the proof endpoint, and its log and size (its signature is the verifier's to check). */
interface LatestCheckpoint {
  note: string;
  log: string;
  size: number;
}

/**
 * An export built from the public endpoints: the latest checkpoint, every record up to it (a
 * page at a time), then that checkpoint. The records are re-encoded canonically, which is what
 * their hashes and the tree cover.
 */
async function* proofExportLines(opts: ProofOptions, latest: LatestCheckpoint): AsyncGenerator<string> {
  yield canonicalize({ anchor: null, format: EXPORT_FORMAT, from: 1, log: latest.log, to: latest.size });
  for (let from = 1; from <= latest.size;) {
    const page = await proofGet<{ records: ChainRecord[]; next?: number }>(
      opts,
      `/v1/proof/ledger?from=${from}&to=${latest.size}`,
    );
    for (const record of page.records) yield canonicalize(record);
    // A page that does not advance ends the export; the verifier then names the missing records.
    if (page.next === undefined || page.next <= from) break;
    from = page.next;
  }
  yield canonicalize({ checkpoint: latest.note });
}

async function latestCheckpoint(opts: ProofOptions): Promise<LatestCheckpoint> {
  const { checkpoint } = await proofGet<{ checkpoint: string | null }>(opts, '/v1/proof/checkpoint');
  if (!checkpoint) throw new CliError('the ledger has no checkpoint yet', EXIT.negative);
  let parsed;
  try {
    parsed = parseCheckpointNote(checkpoint).checkpoint;
  } catch (e) {
    throw new CliError(
      `the proof endpoint's checkpoint is malformed: ${(e as Error).message}`,
      EXIT.negative,
    );
  }
  return { note: checkpoint, log: parsed.log, size: parsed.size };
}

/** Counts records going by, for the progress bar. */
async function* counted(lines: AsyncIterable<string>, onRecord: () => void): AsyncGenerator<string> {
  for await (const line of lines) {
    if (isRecordLine(line)) onRecord();
    yield line;
  }
}

/**
 * Writes the export to a file created first, so that a path that cannot be created (or a file
 * that exists: never overwritten) is refused before anything is read; a failed export removes it.
 */
async function writeExport(path: string, lines: () => AsyncIterable<string>): Promise<number> {
  let fd: number;
  try {
    fd = openSync(path, 'wx');
  } catch (e) {
    throw new CliError(`cannot create ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  const out = createWriteStream(path, { fd });
  let records = 0;
  let complete = false;
  try {
    for await (const line of lines()) {
      if (!out.write(line + '\n')) await once(out, 'drain');
      if (isRecordLine(line)) records++;
    }
    complete = true;
  } finally {
    out.end();
    await once(out, 'close');
    if (!complete) rmSync(path, { force: true });
  }
  return records;
}

/** An export file to verify: it must be a file this process can read (a typo is no tampering). */
function exportFile(path: string): string {
  try {
    accessSync(path, constants.R_OK);
    if (!statSync(path).isFile()) throw new CliError(`cannot read ${path}: not a file`);
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  return path;
}

/**
 * Verifies everything the proof endpoints serve up to their latest checkpoint, which must be
 * exactly what the records recompute to (unless the caller gives a trusted checkpoint of its own).
 */
export async function verifyFromProof(
  opts: ProofOptions,
  trust: Trust,
  options: (keys: Trust, total?: number) => VerifyOptions = (keys) => ({ suite: nodeCrypto, keys }),
): Promise<VerifyResult> {
  const latest = await latestCheckpoint(opts);
  const verify = options(trust, latest.size);
  return verifyLines(proofExportLines(opts, latest), {
    ...verify,
    checkpoint: verify.checkpoint ?? latest.note,
  });
}

/**
 * The trusted checkpoint of --checkpoint, from a file or an http(s) URL: a checkpoint note (as
 * `govctl checkpoint --out` saves it or /v1/ledger/checkpoint serves it), or the answer of
 * /v1/proof/checkpoint that holds one. Its signature is the verifier's to check.
 */
async function trustedCheckpoint(source: string, opts: ProofOptions): Promise<string> {
  let text: string;
  if (/^https?:\/\//i.test(source)) {
    let response: Response;
    try {
      response = await fetch(source, {
        signal: AbortSignal.timeout(positiveInteger(opts.timeout, '--timeout')),
      });
      text = await response.text();
    } catch (e) {
      throw new CliError(`cannot fetch --checkpoint ${source}: ${(e as Error).message}`, EXIT.unavailable);
    }
    if (!response.ok)
      throw new CliError(`--checkpoint ${source} answered HTTP ${response.status}`, EXIT.negative);
  } else {
    text = readText(source, 'checkpoint');
  }
  if (text.trimStart().startsWith('{')) {
    try {
      const { checkpoint } = JSON.parse(text) as { checkpoint?: unknown };
      if (typeof checkpoint === 'string') return checkpoint;
    } catch {
      // not JSON: taken as a note below
    }
    throw new CliError(`--checkpoint ${source} holds no checkpoint note`);
  }
  try {
    parseCheckpointNote(text);
  } catch (e) {
    throw new CliError(`--checkpoint ${source} is not a checkpoint note: ${(e as Error).message}`);
  }
  return text;
}

/** Said whenever no trusted checkpoint was given: what the verification cannot tell. */
const UNCHECKED_TRUNCATION =
  'note: no trusted checkpoint given (--checkpoint): an export cut short at one of its checkpoints ' +
  'cannot be told from the whole log as it was then';

export function summary(result: VerifyResult, trust?: Trust): string[] {
  if (!result.ok)
    return [`ledger NOT verified: ${result.failures.length} problem(s)`, ...failureLines(result.failures)];
  const last = result.checkpoint!;
  const signer = trust ? checkpointSigner(nodeCrypto, last, trust.audit) : undefined;
  return [
    `verified ${result.records} records (seq ${result.firstSeq}..${result.lastSeq}) of log ${result.log}, ` +
      `${result.checkpoints} checkpoint(s); checkpoint at size ${last.checkpoint.size}` +
      (signer && 'kid' in signer ? ` signed by ${signer.kid}` : ''),
    ...(result.lineageUnchecked > 0
      ? [`note: lineage links of ${result.lineageUnchecked} record(s) could not be checked`]
      : []),
    ...(result.batchesForgotten > 0
      ? [
          `note: ${result.batchesForgotten} batch(es) left the replay window; a copy of one of them would not have been noticed`,
        ]
      : []),
  ];
}

interface OpenOptions extends ProofOptions, TrustOptions, WitnessOptions {
  token?: string;
  tokenFile?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
}

/**
 * The openings of record `seq` from /v1/proof/openings/<seq> (a reader the authority names, by
 * its bearer token or client certificate), checked against the record of a verified inclusion
 * proof: each must open its commitment (ledger.redaction.invalid, exit 1, otherwise).
 */
async function openRecord(seq: number, opts: OpenOptions) {
  const files = readTrustFiles(opts);
  const witnesses = witnessPolicy(opts);
  const proof = await proofGet<InclusionProof>(opts, `/v1/proof/inclusion?seq=${seq}`);
  const trust = await trustFromProof(opts, files);
  const { record } = verified(() => verifyInclusionProof(nodeCrypto, proof, { keys: trust, witnesses }));
  if (record.seq !== seq)
    throw new CliError(
      `ledger.proof.invalid: asked for record ${seq}, the proof is of record ${record.seq}`,
      EXIT.negative,
    );
  const { token, tls } = callerCredentials(opts);
  const base = httpUrl(opts.url, '--url').replace(/\/+$/, '');
  const { openings } = await httpJson<{ openings: unknown }>(`${base}/v1/proof/openings/${seq}`, undefined, {
    timeoutMs: positiveInteger(opts.timeout, '--timeout'),
    ...(token !== undefined ? { token } : {}),
    ...(tls ? { tls } : {}),
  });
  if (!Array.isArray(openings)) throw new CliError('the proof endpoint answered no openings', EXIT.negative);
  const byIndex = new Map<number, unknown[]>();
  for (const item of openings as { index?: unknown; opening?: unknown }[]) {
    const index = item?.index;
    if (!Number.isSafeInteger(index) || (index as number) < 0 || (index as number) >= record.events.length)
      throw new CliError(
        `ledger.redaction.invalid: record ${seq}: an opening names no event of it`,
        EXIT.negative,
      );
    byIndex.set(index as number, [...(byIndex.get(index as number) ?? []), item.opening]);
  }
  const events = record.events.flatMap((event, index) => {
    const members = REDACTABLE_MEMBERS.filter((m) => committedMember(event, m) !== undefined);
    if (members.length === 0) return [];
    let clear;
    try {
      clear = verifyOpenings(nodeCrypto, event, byIndex.get(index) ?? []);
    } catch (e) {
      if (isGovernanceError(e))
        throw new CliError(`${e.code}: record ${seq} event ${index}: ${e.message}`, EXIT.negative);
      throw e;
    }
    return [
      {
        index,
        type: event.type,
        opened: Object.fromEntries(
          members.filter((m) => committedMember(clear, m) === undefined).map((m) => [m, clear[m] ?? null]),
        ),
        still_committed: members.filter((m) => committedMember(clear, m) !== undefined),
      },
    ];
  });
  return { seq, events, trust };
}

export function registerLedgerCommands(program: Command, output: () => OutputOptions): void {
  const ledger = program.command('ledger').description('export and verify the audit ledger');

  addWitnessOptions(
    addTrustOptions(
      addProofOptions(
        ledger
          .command('open')
          .description(
            "fetch the openings of a record's committed members (a reader the authority names) and check each " +
              'against the record of a verified inclusion proof; prints the clear values, exits 1 if one does not open',
          )
          .argument('<seq>', 'the sequence number of the record')
          .option('--token <token>', 'development bearer token')
          .option('--token-file <file>', 'file holding the bearer token (default: $GOVCTL_TOKEN_FILE)')
          .option('--tls-ca <file>', "the authority's CA (PEM)")
          .option('--tls-cert <file>', 'client certificate (PEM) for mTLS')
          .option('--tls-key <file>', 'client private key (PEM) for mTLS'),
      ),
    ),
  ).action(async (seqText: string, opts: OpenOptions) => {
    const { trust, ...result } = await openRecord(positiveInteger(seqText, '<seq>'), opts);
    emit(output(), { verified: true, ...result }, () =>
      [
        `record ${result.seq}: every opening opens its commitment`,
        ...result.events.flatMap((e) => [
          `  event ${e.index} (${e.type})`,
          ...Object.entries(e.opened).map(
            ([m, v]) => `    ${m.padEnd(10)} ${typeof v === 'string' ? v : canonicalize(v)}`,
          ),
          ...(e.still_committed.length > 0
            ? [`    no opening (erased or never sent): ${e.still_committed.join(', ')}`]
            : []),
        ]),
        ...uncertifiedNote(trust),
      ].join('\n'),
    );
  });

  ledger
    .command('erase')
    .description(
      "erase the opening of one committed member of an event, on the ledger's Redis (operator tool): " +
        'the only clear copy in the ledger goes; no record, tile, checkpoint or proof changes',
    )
    .argument('<seq>', 'the sequence number of the record')
    .argument('<index>', "the event's index in the record")
    .argument('<member>', `the committed member: ${REDACTABLE_MEMBERS.join(', ')}`)
    .requiredOption('--redis <url>', "the ledger's Redis")
    .requiredOption('--log <id>', 'the log id, e.g. governance-dev')
    .option('--prefix <prefix>', 'Redis key prefix', '')
    .option(
      '--archive <dir|s3://bucket/prefix>',
      "the log's archive, which holds a copy of the openings of archived records (required once the log archives)",
    )
    .action(
      async (seqText: string, indexText: string, member: string, opts: SourceOptions & { log: string }) => {
        const seq = positiveInteger(seqText, '<seq>');
        const index = nonNegativeInteger(indexText, '<index>');
        if (!isRedactableMember(member))
          throw new CliError(`<member> must be one of ${REDACTABLE_MEMBERS.join(', ')}`);
        const store = redisLedger(opts);
        let erased: boolean;
        try {
          // Erasing in Redis alone would leave the archive's copy: refused rather than half done.
          if (opts.archive === undefined && (await store.tip()).archived > 0)
            throw new CliError(
              `log ${opts.log} archives its records (docs/spec/ledger.md §11.6): pass its --archive, where copies of openings are`,
            );
          erased = await store.eraseOpening(seq, index, member);
        } finally {
          await store.close();
        }
        emit(output(), { seq, index, member, erased }, () =>
          erased
            ? `erased the opening of ${member} of record ${seq} event ${index}`
            : `record ${seq} event ${index} has no opening of ${member}`,
        );
      },
    );

  addSourceOptions(
    ledger
      .command('export')
      .description(
        'write the records and their checkpoints to a JSON Lines export (from the proof endpoints or Redis)',
      )
      .requiredOption('--out <file>', 'the export file to create'),
  ).action(async (opts: SourceOptions & { out: string }) => {
    const progress = progressBar('export', 'records');
    let done = 0;
    const tick = (total: number) => () => progress.update(++done, total);
    let records: number;
    try {
      if (opts.redis) {
        const store = redisLedger(opts);
        try {
          records = await writeExport(opts.out, async function* () {
            const total = (await store.latestCheckpoint())?.seq ?? 0;
            yield* counted(exportLines(store), tick(total));
          });
        } finally {
          await store.close();
        }
      } else {
        records = await writeExport(opts.out, async function* () {
          const latest = await latestCheckpoint(opts);
          yield* counted(proofExportLines(opts, latest), tick(latest.size));
        });
      }
    } finally {
      progress.stop();
    }
    emit(
      output(),
      { file: opts.out, records },
      () => `wrote ${records} records and their checkpoints to ${opts.out}`,
    );
  });

  addWitnessOptions(
    addTrustOptions(
      addSourceOptions(
        ledger
          .command('verify')
          .description(
            'verify the whole ledger (both hash chains, the tree, every producer signature, every checkpoint); ' +
              'exits 1 naming the sequence number of each problem',
          )
          .option(
            '--file <export>',
            'verify an export file (key records from --key-records, else from --url)',
          )
          .option(
            '--checkpoint <file|url>',
            'a checkpoint obtained independently (saved by `govctl checkpoint --out`, or a URL serving one): ' +
              'its signature must verify and the log must extend it, so that an export cut short or rolled back is detected',
          ),
      ),
    ),
  ).action(
    async (opts: SourceOptions & TrustOptions & WitnessOptions & { file?: string; checkpoint?: string }) => {
      const file = opts.file === undefined ? undefined : exportFile(opts.file);
      const files = readTrustFiles(opts);
      const witnesses = witnessPolicy(opts);
      const checkpoint =
        opts.checkpoint === undefined ? undefined : await trustedCheckpoint(opts.checkpoint, opts);
      const progress = progressBar('verify', opts.file ? 'bytes' : 'records');
      const options = (keys: VerifyOptions['keys'], total?: number): VerifyOptions => ({
        suite: nodeCrypto,
        keys,
        ...(checkpoint ? { checkpoint } : {}),
        ...(witnesses ? { witnesses } : {}),
        progressEvery: 1000,
        onProgress: (p) => progress.update(p.bytes ?? p.records, p.totalBytes ?? total),
      });
      let result: VerifyResult;
      let trust;
      try {
        if (file !== undefined) {
          trust = opts.keyRecords.length > 0 ? trustOf(files) : await trustFromProof(opts, files);
          result = await verifyExportFile(file, options(trust));
        } else if (opts.redis) {
          const store = redisLedger(opts);
          let redis: RedisClient | undefined;
          try {
            // The key records the ledger's producers and auditor registered, next to the ledger.
            redis = await connectRedis({ mode: 'standalone', url: opts.redis, keyPrefix: opts.prefix });
            const records: KeyRecord[] = await new RedisRegistryStore(redis).listKeyRecords();
            trust = trustOf(files, records);
            const total = (await store.latestCheckpoint())?.seq ?? 0;
            result = await verifyStore(store, options(trust, total));
          } finally {
            await store.close();
            if (redis) await closeRedis(redis);
          }
        } else {
          trust = await trustFromProof(opts, files);
          result = await verifyFromProof(opts, trust, options);
        }
      } finally {
        progress.stop();
      }
      emit(
        output(),
        {
          ok: result.ok,
          log: result.log,
          records: result.records,
          first_seq: result.firstSeq ?? null,
          last_seq: result.lastSeq ?? null,
          checkpoints: result.checkpoints,
          checkpoint_size: result.checkpoint?.checkpoint.size ?? null,
          witnesses_required: witnesses?.threshold ?? 0,
          truncation_checked: checkpoint !== undefined,
          failures: result.failures,
          uncertified_keys: trust.uncertified,
        },
        () =>
          [
            ...summary(result, trust),
            ...(checkpoint ? [] : [UNCHECKED_TRUNCATION]),
            ...uncertifiedNote(trust),
          ].join('\n'),
      );
      if (!result.ok) process.exitCode = EXIT.negative;
    },
  );
}
