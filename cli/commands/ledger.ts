// govctl ledger export and govctl ledger verify: the whole chain from the authority's public proof
// endpoints, a Redis, or an export file (docs/spec/ledger.md §Export), verified by
// ledger/verify.ts: both hash chains, every producer signature, every signed head, and, given a
// trusted head (--head), that the chain reaches it.
import { once } from 'node:events';
import { accessSync, constants, createWriteStream, openSync, rmSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { canonicalize } from '../../core/canonical.js';
import { nodeCrypto } from '../../core/crypto-node.js';
import type { ChainRecord, SignedHead } from '../../core/event.js';
import type { KeyRecord } from '../../core/registry.js';
import { EXPORT_FORMAT, exportLines, type ExportHeader } from '../../ledger/export.js';
import {
  verifyExportFile,
  verifyLines,
  verifyStore,
  type VerifyOptions,
  type VerifyResult,
} from '../../ledger/verify.js';
import { RedisLedgerStore } from '../../store/ledger-redis.js';
import { closeRedis, connectRedis, type RedisClient } from '../../store/redis-connection.js';
import { RedisRegistryStore } from '../../store/registry-redis.js';
import { httpJson } from '../../client/http.js';
import { addProofOptions, positiveInteger, proofGet, readText, type ProofOptions } from '../options.js';
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
import { failureLines, uncertifiedNote } from './proof.js';

interface SourceOptions extends ProofOptions {
  redis?: string;
  log?: string;
  prefix: string;
}

function addSourceOptions(command: Command): Command {
  return addProofOptions(command)
    .option('--redis <url>', 'read the ledger from this Redis instead of the proof endpoints')
    .option('--log <id>', 'the log id (with --redis), e.g. governance-dev')
    .option('--prefix <prefix>', 'Redis key prefix (with --redis)', '');
}

function redisLedger(opts: SourceOptions): RedisLedgerStore {
  if (!opts.log) throw new CliError('--redis needs --log');
  return new RedisLedgerStore({ url: opts.redis!, log: opts.log, prefix: opts.prefix });
}

/** Canonical record texts start with their first member, "event" (members are sorted). */
const isRecordLine = (line: string) => line.startsWith('{"event":');

/**
 * An export built from the public endpoints: the latest signed head, every record up to it (a
 * page at a time), then that head. The records are re-encoded canonically, which is what their
 * hashes cover.
 */
async function* proofExportLines(opts: ProofOptions, head: SignedHead): AsyncGenerator<string> {
  const header: ExportHeader = { format: EXPORT_FORMAT, log: head.log, from: 1, to: head.seq, anchor: null };
  yield canonicalize(header);
  for (let from = 1; from <= head.seq;) {
    const page = await proofGet<{ records: ChainRecord[]; next?: number }>(
      opts,
      `/v1/proof/ledger?from=${from}&to=${head.seq}`,
    );
    for (const record of page.records) yield canonicalize(record);
    // A page that does not advance ends the export; the verifier then names the missing records.
    if (page.next === undefined || page.next <= from) break;
    from = page.next;
  }
  yield canonicalize(head);
}

async function latestHead(opts: ProofOptions): Promise<SignedHead> {
  const { head } = await proofGet<{ head: SignedHead | null }>(opts, '/v1/proof/head');
  if (!head) throw new CliError('the ledger has no signed head yet', EXIT.negative);
  return head;
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
 * Verifies everything the proof endpoints serve up to their latest signed head, which must be
 * exactly what the chain recomputes to.
 */
export async function verifyFromProof(
  opts: ProofOptions,
  trust: Trust,
  options: (keys: Trust, total?: number) => VerifyOptions = (keys) => ({ suite: nodeCrypto, keys }),
): Promise<VerifyResult> {
  const head = await latestHead(opts);
  const verify = options(trust, head.seq);
  return verifyLines(proofExportLines(opts, head), { ...verify, head: verify.head ?? head });
}

/**
 * The trusted head of --head, from a file or an http(s) URL: a signed head, or the answer of
 * /v1/proof/head that holds one. Its shape and signature are the verifier's to check.
 */
async function trustedHead(source: string, opts: ProofOptions): Promise<SignedHead> {
  let value: unknown;
  if (/^https?:\/\//i.test(source)) {
    value = await httpJson(source, undefined, { timeoutMs: positiveInteger(opts.timeout, '--timeout') });
  } else {
    try {
      value = JSON.parse(readText(source, 'head'));
    } catch (e) {
      if (e instanceof CliError) throw e;
      throw new CliError(`--head ${source} is not JSON`);
    }
  }
  const answer = value as { head?: unknown } | null;
  return (
    answer !== null && typeof answer === 'object' && 'head' in answer ? answer.head : value
  ) as SignedHead;
}

/** Said whenever no trusted head was given: what the verification cannot tell. */
const UNCHECKED_TRUNCATION =
  'note: no trusted head given (--head): an export cut short at one of its signed heads cannot be ' +
  'told from the whole chain as it was then';

export function summary(result: VerifyResult): string[] {
  if (!result.ok)
    return [`ledger NOT verified: ${result.failures.length} problem(s)`, ...failureLines(result.failures)];
  return [
    `verified ${result.records} records (seq ${result.firstSeq}..${result.lastSeq}) of log ${result.log}, ` +
      `${result.heads} signed head(s); head ${result.head!.seq} signed by ${result.head!.sig.kid}`,
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

export function registerLedgerCommands(program: Command, output: () => OutputOptions): void {
  const ledger = program.command('ledger').description('export and verify the audit ledger');

  addSourceOptions(
    ledger
      .command('export')
      .description(
        'write the chain and its signed heads to a JSON Lines export (from the proof endpoints or Redis)',
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
            const total = Number((await store.latestHead())?.seq ?? 0);
            yield* counted(exportLines(store), tick(total));
          });
        } finally {
          await store.close();
        }
      } else {
        records = await writeExport(opts.out, async function* () {
          const head = await latestHead(opts);
          yield* counted(proofExportLines(opts, head), tick(head.seq));
        });
      }
    } finally {
      progress.stop();
    }
    emit(
      output(),
      { file: opts.out, records },
      () => `wrote ${records} records and their signed heads to ${opts.out}`,
    );
  });

  addTrustOptions(
    addSourceOptions(
      ledger
        .command('verify')
        .description(
          'verify the whole ledger (both hash chains, every producer signature, every signed head); ' +
            'exits 1 naming the sequence number of each problem',
        )
        .option('--file <export>', 'verify an export file (key records from --key-records, else from --url)')
        .option(
          '--head <file|url>',
          'a signed head obtained independently (as GET /v1/proof/head serves it, or a URL to fetch it from): ' +
            'its signature must verify and the chain must reach it, so that an export cut short is detected',
        ),
    ),
  ).action(async (opts: SourceOptions & TrustOptions & { file?: string; head?: string }) => {
    const file = opts.file === undefined ? undefined : exportFile(opts.file);
    const files = readTrustFiles(opts);
    const head = opts.head === undefined ? undefined : await trustedHead(opts.head, opts);
    const progress = progressBar('verify', opts.file ? 'bytes' : 'records');
    const options = (keys: VerifyOptions['keys'], total?: number): VerifyOptions => ({
      suite: nodeCrypto,
      keys,
      ...(head ? { head } : {}),
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
          const total = Number((await store.latestHead())?.seq ?? 0);
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
        heads: result.heads,
        head_seq: result.head?.seq ?? null,
        truncation_checked: head !== undefined,
        failures: result.failures,
        uncertified_keys: trust.uncertified,
      },
      () =>
        [...summary(result), ...(head ? [] : [UNCHECKED_TRUNCATION]), ...uncertifiedNote(trust)].join('\n'),
    );
    if (!result.ok) process.exitCode = EXIT.negative;
  });
}
