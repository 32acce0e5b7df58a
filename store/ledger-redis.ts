// The ledger store on Redis, on a standalone server, through Sentinel or on a Cluster
// (store/redis-connection.ts). Every key of one log shares the hash tag {gov:ledger:<log>}, so
// each Lua script and each MULTI touches a single slot and runs unchanged on Redis Cluster.
// Scripts check everything before their first write (Redis does not roll a script back), so a
// failing script writes nothing.
//
// A command whose reply is lost is never sent again (a replayed XADD would duplicate evidence):
// it fails, in every mode (see redis-connection.ts). WAIT (replicas > 0) has no key, so it is
// sent directly on the connection that carries the ledger's slot — the current master, or on a
// Cluster the master owning the slot — and only if that connection has not closed since the
// writes it is to cover: on a connection that has not written yet, WAIT returns at once (Redis
// 7.2 and later), covering nothing.
import { randomBytes } from 'node:crypto';
import { GovernanceError, isGovernanceError, type Code } from '../core/errors.js';
import { indexShardOf } from '../core/smt.js';
import {
  checkIndexCompaction,
  EMPTY_TIP,
  DEAD_LETTER_HISTORY,
  byOpeningPosition,
  checkArchiveAdvance,
  ingestMillis,
  type ArchiveAdvance,
  LOG_ID,
  type CommitNotice,
  type CommitSubscription,
  type DeadLetter,
  type IngestEntry,
  type CheckpointPublication,
  type IndexCompaction,
  type IndexRead,
  type LedgerCommit,
  type LedgerLease,
  type LedgerStore,
  type LedgerTip,
  type StoredOpening,
  type StoredText,
} from './ledger-types.js';
import {
  closeRedis,
  connectBlocking,
  connectRedis,
  linkFor,
  parseRedisConfig,
  sameLink,
  type Link,
  type RedisClient,
  type RedisConfig,
  type RedisErrorListener,
} from './redis-connection.js';

interface LedgerSettings {
  log: string;
  /**
   * Replicas that must acknowledge (WAIT) an ingest append and everything a signed head covers
   * before it is published; 0 (default) for a server without replicas. See docs/spec/ledger.md.
   */
  replicas?: number | undefined;
  replicaTimeoutMs?: number;
  /**
   * Commit notices kept for writers (approximate; notices are not evidence). One notice per commit,
   * ~4 KB at full load; a writer that falls further behind never learns of its commits and stays
   * halted (default 10,000: ~40 MB, minutes of history).
   */
  noticeHistory?: number;
  /** Connection errors after the first connect (the failing operations reject on their own). */
  onError?: RedisErrorListener;
}

export type RedisLedgerStoreOptions = LedgerSettings &
  (
    | {
        /** A standalone server. */
        url: string;
        /** Prepended to every key (tests sharing one server). Must not contain braces. */
        prefix?: string | undefined;
      }
    | {
        /**
         * Any connection config the other stores take: standalone, Sentinel or Cluster. Its
         * keyPrefix is prepended to every ledger key; commandTimeoutMs does not apply (the
         * ledger's connections have none: a commit may take longer, and WAIT blocks up to
         * replicaTimeoutMs).
         */
        redis: RedisConfig;
      }
  );

export function ledgerKeys(log: string, prefix = '') {
  if (!LOG_ID.test(log))
    throw new GovernanceError('config.invalid', `log id ${JSON.stringify(log)} is malformed`);
  if (/[{}]/.test(prefix)) throw new GovernanceError('config.invalid', 'key prefix must not contain braces');
  const base = `${prefix}{gov:ledger:${log}}:`;
  return {
    tip: base + 'tip',
    lease: base + 'lease',
    fence: base + 'fence',
    /** Stream of ingest entries in append order, field `k`: the name of the string holding the batch, `entry(k)`. */
    ingest: base + 'ingest',
    entryPrefix: base + 'e:',
    entry: (name: string) => base + 'e:' + name,
    /** Record `seq`'s text is the string `record(seq)`. */
    recordPrefix: base + 'r:',
    record: (seq: number) => base + 'r:' + seq,
    /** A commit's records before its script moves them to `record(seq)`; they expire if it never runs. */
    stagedPrefix: base + 's:',
    staged: (fence: number, seq: number) => `${base}s:${fence}:${seq}`,
    checkpoints: base + 'checkpoints',
    tiles: base + 'tiles',
    /** Lineage index nodes of depth ≤ INDEX_SHARD_BITS (core/smt.ts): field node id, value the node. */
    index: base + 'index',
    /** Per index shard, the leaves set since its version: field key (32 bytes), value the leaf's value (32 bytes). */
    indexOverlayPrefix: base + 'ix:',
    indexOverlay: (shard: number) => base + 'ix:' + shard,
    /** Index shard versions: field shard (decimal), value the checkpoint size it was compacted as of (absent: 0). */
    indexVersions: base + 'ixv',
    /** Sorted set of the index shards with an overlay, scored by its size: finds shards to compact without a scan. */
    indexPending: base + 'ixp',
    dead: base + 'dead',
    commits: base + 'commits',
    batches: base + 'batches',
    /**
     * Openings of commitments (§3.1): field `<seq>:<index>:<member>`, value the opening text;
     * field `<seq>` lists the `<index>:<member>` a record was given openings for.
     */
    openings: base + 'openings',
  };
}

const ACQUIRE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local fence = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. fence, 'PX', ARGV[2])
return fence`;

const RENEW = `
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1`;

// Shared guard: the caller's fencing token is current and the tip is the one it extends.
const GUARD = `
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return redis.error_reply('LEDGER_FENCED fencing token ' .. ARGV[1] .. ' is stale') end
local tip = redis.call('HMGET', KEYS[1], 'seq', 'hash', 'signed')
local seq = tonumber(tip[1] or '0')
if seq ~= tonumber(ARGV[2]) or (tip[2] or '') ~= ARGV[3] then
  return redis.error_reply('LEDGER_TIP the chain tip is seq ' .. seq .. ', not the expected ' .. ARGV[2])
end`;

// Record texts and ingest batches (tens of KB each) are plain strings written by plain commands:
// Redis 7.0 spends about 3.6 µs per KB adding a large element to a stream, list or hash, and about
// 7 µs per KB on a large argument passed through a script (measured: 217 µs to SET 30 KB from Lua,
// 3 µs with SET). So a commit's records are first SET under staged names (with a TTL) in the same
// pipeline, and the script, after its guard, only RENAMEs them: the chain still changes atomically,
// all or nothing. Names are built here from the prefixes passed as KEYS[3], KEYS[10] and KEYS[11],
// which carry the log's hash tag: one slot, as every key here. Seqs are spelled with Lua's
// number-to-string (`..`), which is exact below 1e14 (it switches to an exponent after 14
// digits); commit() refuses to go beyond MAX_SEQ.
// KEYS: tip fence recordPrefix ingest dead commits batches tiles openings entryPrefix stagedPrefix
const COMMIT = `${GUARD}
local b = tonumber(ARGV[9])
local named = {}
for k = 10, 9 + b do
  if named[ARGV[k]] or redis.call('ZSCORE', KEYS[7], ARGV[k]) then
    return redis.error_reply('LEDGER_REPLAYED batch ' .. string.sub(ARGV[k], 1, 16) .. '... is already chained')
  end
  named[ARGV[k]] = true
end
local i = 10 + b
local n = tonumber(ARGV[i]); i = i + 1
local staged = KEYS[11] .. ARGV[1] .. ':'
for k = 1, n do
  if redis.call('EXISTS', staged .. (seq + k)) == 0 then
    return redis.error_reply('LEDGER_STAGED record ' .. (seq + k) .. ' was not staged (expired?)')
  end
end
for k = 1, n do
  redis.call('RENAME', staged .. (seq + k), KEYS[3] .. (seq + k))
  redis.call('PERSIST', KEYS[3] .. (seq + k))
end
local ids = tonumber(ARGV[i]); i = i + 1
for k = i, i + ids - 1 do
  local entry = redis.call('XRANGE', KEYS[4], ARGV[k], ARGV[k])[1]
  if entry then redis.call('DEL', KEYS[10] .. entry[2][2]) end
end
for k = i, i + ids - 1, 500 do
  redis.call('XDEL', KEYS[4], unpack(ARGV, k, math.min(k + 499, i + ids - 1)))
end
i = i + ids
local dead = tonumber(ARGV[i]); i = i + 1
for k = 1, dead do
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', ${DEAD_LETTER_HISTORY}, '*', 'ingest', ARGV[i], 'code', ARGV[i + 1], 'message', ARGV[i + 2], 'entry', ARGV[i + 3])
  i = i + 4
end
if b > 0 then
  local at = tonumber(string.match(ARGV[6], '^(%d+)-') or '0')
  local scored = {}
  for k = 10, 9 + b do
    scored[#scored + 1] = at
    scored[#scored + 1] = ARGV[k]
    if #scored == 1000 then redis.call('ZADD', KEYS[7], unpack(scored)); scored = {} end
  end
  if #scored > 0 then redis.call('ZADD', KEYS[7], unpack(scored)) end
end
if ARGV[i] ~= '' then redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', '(' .. ARGV[i]) end
i = i + 1
local tiles = tonumber(ARGV[i]); i = i + 1
for k = 1, tiles do
  redis.call('HSET', KEYS[8], ARGV[i], ARGV[i + 1])
  i = i + 2
end
local openings = tonumber(ARGV[i]); i = i + 1
for k = 1, openings do
  redis.call('HSET', KEYS[9], ARGV[i], ARGV[i + 1])
  i = i + 2
end
if n > 0 then redis.call('HSET', KEYS[1], 'seq', seq + n, 'hash', ARGV[4], 'alt', ARGV[5]) end
if ids > 0 then redis.call('HSET', KEYS[1], 'ingest', ARGV[6]) end
redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[8], '*', 'n', ARGV[7])
return seq + n`;

// Overlay names are built from the prefix KEYS[6] as COMMIT builds its names (same hash tag, same
// slot); a leaf new to its overlay (HSET returns 1) grows the shard's score in the pending set.
// KEYS: tip fence checkpoints index indexPending indexOverlayPrefix.
// ARGV: fence seq eventHash text nSet (id node)... nDel ids... nLeaves (shard key value)...
const PUBLISH_CHECKPOINT = `${GUARD}
if tonumber(tip[3] or '0') >= seq then return 0 end
redis.call('XADD', KEYS[3], seq .. '-0', 'h', ARGV[4])
local i = 5
local set = tonumber(ARGV[i]); i = i + 1
for k = 1, set do
  redis.call('HSET', KEYS[4], ARGV[i], ARGV[i + 1])
  i = i + 2
end
local del = tonumber(ARGV[i]); i = i + 1
for k = i, i + del - 1, 500 do
  redis.call('HDEL', KEYS[4], unpack(ARGV, k, math.min(k + 499, i + del - 1)))
end
i = i + del
local leaves = tonumber(ARGV[i]); i = i + 1
for k = 1, leaves do
  if redis.call('HSET', KEYS[6] .. ARGV[i], ARGV[i + 1], ARGV[i + 2]) == 1 then
    redis.call('ZINCRBY', KEYS[5], 1, ARGV[i])
  end
  i = i + 3
end
redis.call('HSET', KEYS[1], 'signed', seq)
return 1`;

// Forgets what the archive holds (§11.6) under the caller's fencing token: the caller checked the
// frontier against the tip it read (checkArchiveAdvance); only its own lease could change it since.
// KEYS: tip fence recordPrefix tiles checkpoints openings. ARGV: fence archived trimmed nTiles tiles...
const ADVANCE_ARCHIVE = `
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return redis.error_reply('LEDGER_FENCED fencing token ' .. ARGV[1] .. ' is stale') end
local t = redis.call('HMGET', KEYS[1], 'archived', 'trimmed')
local archived = math.max(tonumber(t[1] or '0'), tonumber(ARGV[2]))
local old = tonumber(t[2] or '0')
local trimmed = math.max(old, tonumber(ARGV[3]))
for s = old + 1, trimmed do
  redis.call('UNLINK', KEYS[3] .. s)
  local list = redis.call('HGET', KEYS[6], s)
  if list then
    for item in string.gmatch(list, '[^,]+') do redis.call('HDEL', KEYS[6], s .. ':' .. item) end
    redis.call('HDEL', KEYS[6], s)
  end
end
local tiles = tonumber(ARGV[4])
for k = 5, 4 + tiles, 500 do
  redis.call('HDEL', KEYS[4], unpack(ARGV, k, math.min(k + 499, 4 + tiles)))
end
if trimmed > old then redis.call('XTRIM', KEYS[5], 'MINID', trimmed .. '-0') end
redis.call('HSET', KEYS[1], 'archived', archived, 'trimmed', trimmed)
return 1`;

// Compacts one index shard (LedgerStore.compactIndexShard) under the caller's fencing token. A leaf
// is dropped only while its value is the compacted one: a later checkpoint may have set it again.
// KEYS: fence indexVersions indexPending overlay. ARGV: fence shard from to (key value)...
const COMPACT_INDEX_SHARD = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('LEDGER_FENCED fencing token ' .. ARGV[1] .. ' is stale') end
if tonumber(redis.call('HGET', KEYS[2], ARGV[2]) or '0') ~= tonumber(ARGV[3]) then return 0 end
for k = 5, #ARGV, 2 do
  if redis.call('HGET', KEYS[4], ARGV[k]) == ARGV[k + 1] then redis.call('HDEL', KEYS[4], ARGV[k]) end
end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[4])
local left = redis.call('HLEN', KEYS[4])
if left > 0 then redis.call('ZADD', KEYS[3], left, ARGV[2]) else redis.call('ZREM', KEYS[3], ARGV[2]) end
return 1`;

type Fields = string[];
type StreamEntries = [id: string, fields: Fields][];

function field(fields: Fields, name: string): string {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1]!;
  return '';
}

const seqOfId = (id: string) => Number(id.slice(0, id.indexOf('-')));

const openingField = ({ seq, index, member }: { seq: number; index: number; member: string }) =>
  `${seq}:${index}:${member}`;

/** The commit's opening fields (count, then field and text): each opening, and each record's list of them. */
function openingFields(openings: [number, number, string, string][]): (string | number)[] {
  const lists = new Map<number, string[]>();
  const fields: string[] = [];
  for (const [seq, index, member, text] of openings) {
    fields.push(openingField({ seq, index, member }), text);
    lists.set(seq, [...(lists.get(seq) ?? []), `${index}:${member}`]);
  }
  for (const [seq, list] of lists) fields.push(String(seq), list.join(','));
  return [fields.length / 2, ...fields];
}

/** The bytes as a Buffer without copying (ioredis sends Buffers as binary-safe arguments). */
const bufferOf = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/** Index shards read per round trip when indexRead() reads them all. */
const SHARDS_PER_READ = 256;

/** A shard's overlay from its raw HGETALL reply (field, value, …): key || value leaves. */
function overlayOf(reply: unknown): Uint8Array[] {
  // Raw because ioredis's hgetall turns the reply into an object keyed by strings, which would
  // mangle binary fields; callBuffer('HGETALL') is not transformed. Refuse anything else loudly.
  if (!Array.isArray(reply)) throw new Error('HGETALL did not reply with an array');
  const fields = reply as Buffer[];
  const leaves: Uint8Array[] = [];
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const leaf = new Uint8Array(64);
    leaf.set(fields[i]!, 0);
    leaf.set(fields[i + 1]!, 32);
    leaves.push(leaf);
  }
  return leaves;
}

/** The replies of a MULTI or pipeline, each checked. */
function repliesOf(replies: [Error | null, unknown][] | null): unknown[] {
  if (!replies) throw new Error('transaction aborted');
  return replies.map(([error, reply]) => {
    if (error) throw error;
    return reply;
  });
}

/** How long a staged record waits for its commit script (see COMMIT). */
const STAGED_TTL_MS = 60_000;

/** The last seq one log can hold (see COMMIT): about a century at 25,000 records per second. */
const MAX_SEQ = 1e14 - 1;

/** Script errors carry a tag naming the ledger code; anything else means the store is unavailable. */
function storeError(e: unknown): GovernanceError {
  if (e instanceof GovernanceError) return e;
  const message = e instanceof Error ? e.message : String(e);
  const tagged: [string, Code][] = [
    ['LEDGER_FENCED ', 'ledger.fenced'],
    ['LEDGER_TIP ', 'ledger.head.mismatch'],
    ['LEDGER_REPLAYED ', 'ledger.batch.replayed'],
    ['LEDGER_STAGED ', 'ledger.unavailable'],
  ];
  for (const [tag, code] of tagged) {
    const at = message.indexOf(tag);
    if (at >= 0) return new GovernanceError(code, message.slice(at + tag.length));
  }
  return new GovernanceError('ledger.unavailable', `ledger store: ${message}`, { cause: e });
}

async function guarded<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (e) {
    throw storeError(e);
  }
}

/** The main connection with the scripts defined on it. */
interface Connection {
  client: RedisClient;
  call(script: Script, ...args: (string | number | Buffer)[]): Promise<unknown>;
}

type Script =
  | 'ledgerAcquire'
  | 'ledgerRenew'
  | 'ledgerRelease'
  | 'ledgerCommit'
  | 'ledgerPublishCheckpoint'
  | 'ledgerAdvanceArchive'
  | 'ledgerCompactIndexShard';

const SCRIPTS: [Script, string, number | undefined][] = [
  ['ledgerAcquire', ACQUIRE, 2],
  ['ledgerRenew', RENEW, 2],
  ['ledgerRelease', RELEASE, 1],
  ['ledgerCommit', COMMIT, 11],
  ['ledgerPublishCheckpoint', PUBLISH_CHECKPOINT, 6],
  ['ledgerAdvanceArchive', ADVANCE_ARCHIVE, 6],
  ['ledgerCompactIndexShard', COMPACT_INDEX_SHARD, 4],
];

const unavailable = (e: unknown) =>
  isGovernanceError(e, 'ledger.unavailable')
    ? e
    : new GovernanceError(
        'ledger.unavailable',
        `ledger store: ${e instanceof Error ? e.message : String(e)}`,
        {
          cause: e,
        },
      );

export class RedisLedgerStore implements LedgerStore {
  readonly log: string;
  private readonly config: RedisConfig;
  private readonly keys: ReturnType<typeof ledgerKeys>;
  private readonly replicas: number;
  private readonly replicaTimeoutMs: number;
  private readonly noticeHistory: number;
  private readonly onError: RedisErrorListener;
  private main: Promise<Connection> | undefined;
  private readingClient: Promise<RedisClient> | undefined;
  /** The connection of the latest write known to have propagated (what a WAIT can cover). */
  private lastWrite: Link | undefined;
  private closed = false;

  /** Validates the options (config.invalid); connects on first use. */
  constructor(options: RedisLedgerStoreOptions) {
    this.log = options.log;
    const given = 'redis' in options ? options.redis : { mode: 'standalone' as const, url: options.url };
    const { keyPrefix, ...config } = parseRedisConfig(given);
    // The store prefixes its own keys: the commit script's key count varies, and every key it
    // builds must keep the {gov:ledger:<log>} tag first.
    this.keys = ledgerKeys(options.log, 'redis' in options ? (keyPrefix ?? '') : (options.prefix ?? ''));
    this.config = config;
    this.replicas = options.replicas ?? 0;
    this.replicaTimeoutMs = options.replicaTimeoutMs ?? 1000;
    this.noticeHistory = options.noticeHistory ?? 10_000;
    this.onError = options.onError ?? (() => undefined);
  }

  private connect(): Promise<RedisClient> {
    return connectRedis(this.config, this.onError, { unbounded: true, queueWhileReconnecting: true });
  }

  /** The main connection, opened on first use (and again after a failed attempt). */
  private connection(): Promise<Connection> {
    if (this.closed) return Promise.reject(new GovernanceError('ledger.unavailable', 'ledger store closed'));
    const opening = (this.main ??= this.connect().then(
      (client) => {
        for (const [name, lua, numberOfKeys] of SCRIPTS)
          client.defineCommand(name, numberOfKeys === undefined ? { lua } : { lua, numberOfKeys });
        const commands = client as unknown as Record<
          Script,
          (...a: (string | number | Buffer)[]) => Promise<unknown>
        >;
        return { client, call: (script, ...args) => commands[script].call(client, ...args) };
      },
      (e: unknown) => {
        if (this.main === opening) this.main = undefined;
        throw unavailable(e);
      },
    ));
    return opening;
  }

  /**
   * The sequencer's ingest reads and batch checks get their own connection, so that none waits
   * behind a commit still running on the main one: the sequencer plans the next commit meanwhile
   * and keeps that commit's batches in memory, and the commit script checks the batches again.
   */
  private reading(): Promise<RedisClient> {
    const opening = (this.readingClient ??= this.connection()
      .then(({ client }) => connectBlocking(client))
      .catch((e: unknown) => {
        if (this.readingClient === opening) this.readingClient = undefined;
        throw unavailable(e);
      }));
    return opening;
  }

  /** Notes a write that reached Redis (and so its replication stream) over the ledger's link. */
  private wrote(client: RedisClient): Link | undefined {
    this.lastWrite = linkFor(client, this.keys.tip);
    return this.lastWrite;
  }

  /**
   * WAIT on the link of the writes to cover, for `replicas` acknowledgements. Refused when that
   * link has closed since: WAIT counts from the offset of its own connection's last write (Redis
   * 7.2 and later; 7.0 from its last command), so on a new connection that has not written it
   * returns at once, covering none of the writes made before. The caller fails closed; after a
   * write on the new connection (the sequencer renews its lease every third of its TTL) WAIT
   * covers everything the master holds, those writes included if the master still has them.
   */
  private async waitReplicas(client: RedisClient, written: Link | undefined): Promise<void> {
    if (this.replicas === 0) return;
    const link = linkFor(client, this.keys.tip);
    if (!sameLink(written, link)) {
      throw new GovernanceError(
        'ledger.unavailable',
        "the connection to the ledger's Redis master changed since the writes to confirm; WAIT cannot cover them",
      );
    }
    const acknowledged = Number(await link!.connection.call('WAIT', this.replicas, this.replicaTimeoutMs));
    if (acknowledged < this.replicas) {
      throw new GovernanceError(
        'ledger.unavailable',
        `only ${acknowledged} of ${this.replicas} replicas acknowledged within ${this.replicaTimeoutMs} ms`,
      );
    }
  }

  appendIngest(batches: string[]): Promise<string[]> {
    return guarded(async () => {
      if (batches.length === 0) return [];
      const { client } = await this.connection();
      // Each batch under a fresh name, and the stream entry naming it, in one transaction.
      const multi = client.multi();
      for (const batch of batches) {
        const name = randomBytes(16).toString('hex');
        multi.set(this.keys.entry(name), batch).xadd(this.keys.ingest, '*', 'k', name);
      }
      const replies = await multi.exec();
      if (!replies) throw new Error('transaction aborted');
      const ids = replies.flatMap(([error, reply], i) => {
        if (error) throw error;
        return i % 2 === 1 ? [reply as string] : [];
      });
      await this.waitReplicas(client, this.wrote(client));
      return ids;
    });
  }

  async subscribeCommits(): Promise<CommitSubscription> {
    const client = await guarded(async () => {
      const { client: main } = await this.connection();
      return connectBlocking(main).catch((e: unknown) => {
        throw unavailable(e);
      });
    });
    let cursor: string;
    try {
      cursor = await guarded(async () => {
        const last = (await client.xrevrange(this.keys.commits, '+', '-', 'COUNT', 1)) as StreamEntries;
        return last[0]?.[0] ?? '0-0';
      });
    } catch (e) {
      client.disconnect();
      throw e;
    }
    return {
      next: (blockMs) =>
        guarded(async () => {
          const reply = (await client.call(
            'XREAD',
            'COUNT',
            1000,
            'BLOCK',
            Math.max(1, blockMs),
            'STREAMS',
            this.keys.commits,
            cursor,
          )) as [string, StreamEntries][] | null;
          const notices: CommitNotice[] = [];
          for (const [id, fields] of reply?.[0]?.[1] ?? []) {
            cursor = id;
            notices.push(...(JSON.parse(field(fields, 'n')) as CommitNotice[]));
          }
          return notices;
        }),
      close: () => client.disconnect(),
    };
  }

  acquireLease(owner: string, ttlMs: number): Promise<LedgerLease | undefined> {
    return guarded(async () => {
      const { client, call } = await this.connection();
      const fence = await call('ledgerAcquire', this.keys.lease, this.keys.fence, owner, ttlMs);
      if (fence === null) return undefined;
      this.wrote(client);
      return { owner, fence: Number(fence) };
    });
  }

  renewLease(lease: LedgerLease, ttlMs: number): Promise<boolean> {
    return guarded(async () => {
      const { client, call } = await this.connection();
      const value = `${lease.owner}:${lease.fence}`;
      const renewed = await call('ledgerRenew', this.keys.lease, this.keys.fence, lease.fence, value, ttlMs);
      if (renewed !== 1) return false;
      this.wrote(client);
      return true;
    });
  }

  releaseLease(lease: LedgerLease): Promise<void> {
    return guarded(async () => {
      const { call } = await this.connection();
      await call('ledgerRelease', this.keys.lease, `${lease.owner}:${lease.fence}`);
    });
  }

  tip(): Promise<LedgerTip> {
    return guarded(async () => {
      const { client } = await this.connection();
      const [seq, hash, alt, ingest, signed, archived, trimmed] = await client.hmget(
        this.keys.tip,
        'seq',
        'hash',
        'alt',
        'ingest',
        'signed',
        'archived',
        'trimmed',
      );
      return {
        seq: Number(seq ?? EMPTY_TIP.seq),
        eventHash: hash ?? EMPTY_TIP.eventHash,
        eventHashAlt: alt ?? EMPTY_TIP.eventHashAlt,
        ingestId: ingest ?? EMPTY_TIP.ingestId,
        signedSeq: Number(signed ?? EMPTY_TIP.signedSeq),
        archived: Number(archived ?? EMPTY_TIP.archived),
        trimmed: Number(trimmed ?? EMPTY_TIP.trimmed),
      };
    });
  }

  ingestBacklog(): Promise<{ entries: number; oldestMs: number | undefined }> {
    return guarded(async () => {
      const { client } = await this.connection();
      const replies =
        (await client.multi().xlen(this.keys.ingest).xrange(this.keys.ingest, '-', '+', 'COUNT', 1).exec()) ??
        [];
      for (const [error] of replies) if (error) throw error;
      const [first] = replies[1]![1] as StreamEntries;
      return { entries: Number(replies[0]![1]), oldestMs: first && ingestMillis(first[0]) };
    });
  }

  readIngest(afterId: string, count: number, blockMs: number): Promise<IngestEntry[]> {
    return guarded(async () => {
      const block = blockMs > 0 ? ['BLOCK', blockMs] : [];
      const client = await this.reading();
      const reply = (await client.call(
        'XREAD',
        'COUNT',
        count,
        ...block,
        'STREAMS',
        this.keys.ingest,
        afterId,
      )) as [string, StreamEntries][] | null;
      const entries = reply?.[0]?.[1] ?? [];
      if (entries.length === 0) return [];
      // An entry without its batch (never the case: both are written in one transaction) reads
      // as empty, which the sequencer refuses like any malformed entry.
      const batches = await client.mget(entries.map(([, fields]) => this.keys.entry(field(fields, 'k'))));
      return entries.map(([id], i) => ({ id, batch: batches[i] ?? '' }));
    });
  }

  chainedBatches(vals: string[]): Promise<boolean[]> {
    return guarded(async () => {
      if (vals.length === 0) return [];
      const client = await this.reading();
      // One ZSCORE each, in one pipeline (ZMSCORE would need Redis 6.2).
      const pipeline = client.pipeline();
      for (const val of vals) pipeline.zscore(this.keys.batches, val);
      const replies = (await pipeline.exec()) ?? [];
      return vals.map((_, i) => {
        const [error, member] = replies[i] ?? [new Error('no reply')];
        if (error) throw error;
        return member !== null;
      });
    });
  }

  commit(commit: LedgerCommit): Promise<void> {
    return guarded(async () => {
      if (commit.expect.seq + commit.records.length > MAX_SEQ)
        throw new GovernanceError(
          'ledger.sequence.invalid',
          `log ${this.log} is full (seq ${MAX_SEQ}); start a new log`,
        );
      const dead = commit.consumed.flatMap((c) =>
        'rejected' in c ? [c.ingestId, c.rejected.code, c.rejected.message, c.rejected.entry] : [],
      );
      const notices: CommitNotice[] = commit.consumed.map((c) =>
        'rejected' in c ? { ingestId: c.ingestId, rejected: c.rejected.code } : c,
      );
      const k = this.keys;
      const keys = [
        k.tip,
        k.fence,
        k.recordPrefix,
        k.ingest,
        k.dead,
        k.commits,
        k.batches,
        k.tiles,
        k.openings,
        k.entryPrefix,
        k.stagedPrefix,
      ];
      const args = [
        commit.lease.fence,
        commit.expect.seq,
        commit.expect.eventHash,
        commit.eventHash,
        commit.eventHashAlt,
        commit.consumed.at(-1)?.ingestId ?? '',
        JSON.stringify(notices),
        this.noticeHistory,
        commit.batches.length,
        ...commit.batches,
        commit.records.length,
        commit.consumed.length,
        ...commit.consumed.map((c) => c.ingestId),
        dead.length / 4,
        ...dead,
        commit.forgetBatchesBefore ?? '',
        commit.tiles.size,
        ...[...commit.tiles].flatMap(([key, tile]) => [key, bufferOf(tile)]),
        ...openingFields(commit.openings ?? []),
      ];
      const { client } = await this.connection();
      // The records are staged by plain SETs and the script renames them (see COMMIT), in one
      // pipeline: one round trip. A staged record outlives a commit that never runs by a minute.
      const pipeline = client.pipeline();
      commit.records.forEach((text, i) =>
        pipeline.set(k.staged(commit.lease.fence, commit.expect.seq + i + 1), text, 'PX', STAGED_TTL_MS),
      );
      (pipeline as unknown as Record<Script, (...a: unknown[]) => unknown>).ledgerCommit(...keys, ...args);
      const replies = (await pipeline.exec()) ?? [];
      for (const [error] of replies) if (error) throw error;
      if (replies.length !== commit.records.length + 1) throw new Error('commit pipeline aborted');
      this.wrote(client);
    });
  }

  publishCheckpoint(lease: LedgerLease, checkpoint: CheckpointPublication): Promise<void> {
    return guarded(async () => {
      const { client, call } = await this.connection();
      // Covers every commit of this store so far (they all went before it on the same link);
      // the script then checks that the checkpoint's size and hash are still the tip.
      await this.waitReplicas(client, this.lastWrite);
      const k = this.keys;
      const { top, leaves } = checkpoint.index;
      const set = [...top].filter(([, node]) => node !== undefined) as [string, Uint8Array][];
      const removed = [...top].filter(([, node]) => node === undefined).map(([id]) => id);
      const published = await call(
        'ledgerPublishCheckpoint',
        k.tip,
        k.fence,
        k.checkpoints,
        k.index,
        k.indexPending,
        k.indexOverlayPrefix,
        lease.fence,
        checkpoint.seq,
        checkpoint.eventHash,
        checkpoint.text,
        set.length,
        ...set.flatMap(([id, node]) => [id, bufferOf(node)]),
        removed.length,
        ...removed,
        leaves.length,
        ...leaves.flatMap((leaf) => [
          indexShardOf(leaf),
          bufferOf(leaf.subarray(0, 32)),
          bufferOf(leaf.subarray(32, 64)),
        ]),
      );
      if (published === 1) this.wrote(client);
    });
  }

  advanceArchive(lease: LedgerLease, advance: ArchiveAdvance): Promise<void> {
    return guarded(async () => {
      const { archived, trimmed } = checkArchiveAdvance(await this.tip(), advance);
      const { client, call } = await this.connection();
      const k = this.keys;
      await call(
        'ledgerAdvanceArchive',
        k.tip,
        k.fence,
        k.recordPrefix,
        k.tiles,
        k.checkpoints,
        k.openings,
        lease.fence,
        archived,
        trimmed,
        advance.tiles.length,
        ...advance.tiles,
      );
      this.wrote(client);
    });
  }

  indexShardsToCompact(min: number, count: number): Promise<number[]> {
    return guarded(async () => {
      if (count < 1) return [];
      const { client } = await this.connection();
      // Largest overlay first (ties in no particular order): each compaction then frees the most.
      const shards = await client.zrevrangebyscore(this.keys.indexPending, '+inf', min, 'LIMIT', 0, count);
      return shards.map(Number);
    });
  }

  compactIndexShard(lease: LedgerLease, compaction: IndexCompaction): Promise<boolean> {
    return guarded(async () => {
      checkIndexCompaction(compaction);
      const { client, call } = await this.connection();
      const { shard, from, to, leaves } = compaction;
      const k = this.keys;
      const compacted = await call(
        'ledgerCompactIndexShard',
        k.fence,
        k.indexVersions,
        k.indexPending,
        k.indexOverlay(shard),
        lease.fence,
        shard,
        from,
        to,
        ...leaves.flatMap((leaf) => [bufferOf(leaf.subarray(0, 32)), bufferOf(leaf.subarray(32, 64))]),
      );
      if (compacted !== 1) return false;
      // No WAIT: a compaction lost in a failover leaves the shard at its previous version with its
      // overlay, which is still whole; the next checkpoint's WAIT covers it.
      this.wrote(client);
      return true;
    });
  }

  tiles(keys: string[]): Promise<(Uint8Array | undefined)[]> {
    return guarded(async () => {
      if (keys.length === 0) return [];
      const { client } = await this.connection();
      const tiles = await client.hmgetBuffer(this.keys.tiles, ...keys);
      return tiles.map((tile) => (tile === null ? undefined : new Uint8Array(tile)));
    });
  }

  indexRead(ids: string[], shards: number[] | 'all'): Promise<IndexRead> {
    return guarded(async () => {
      const { client } = await this.connection();
      const k = this.keys;
      // One MULTI: a checkpoint published in between would otherwise pair it with other nodes and leaves.
      const transaction = client.multi().xrevrange(k.checkpoints, '+', '-', 'COUNT', 1);
      if (ids.length > 0) transaction.hmgetBuffer(k.index, ...ids);
      if (shards === 'all') {
        transaction.zrangebyscore(k.indexPending, '(0', '+inf').hgetall(k.indexVersions);
      } else {
        for (const shard of shards)
          transaction.hget(k.indexVersions, String(shard)).callBuffer('HGETALL', k.indexOverlay(shard));
      }
      const replies = repliesOf(await transaction.exec());
      const [entry] = replies.shift() as StreamEntries;
      const nodes = ids.length > 0 ? (replies.shift() as (Buffer | null)[]) : [];
      const read = {
        checkpoint: entry && { seq: seqOfId(entry[0]), text: field(entry[1], 'h') },
        nodes: nodes.map((node) => (node === null ? undefined : new Uint8Array(node))),
      };
      if (shards !== 'all') {
        return {
          ...read,
          shards: shards.map((shard, i) => ({
            shard,
            version: Number(replies[2 * i] ?? 0),
            overlay: overlayOf(replies[2 * i + 1]),
          })),
        };
      }
      // Every shard: only the leader reads them, when nobody else writes the index, so the
      // overlays may follow in further round trips, a group of shards each.
      const [pending, versions] = replies as [string[], Record<string, string>];
      const overlaid = pending.map(Number);
      const overlays = new Map<number, Uint8Array[]>();
      for (let at = 0; at < overlaid.length; at += SHARDS_PER_READ) {
        const group = overlaid.slice(at, at + SHARDS_PER_READ);
        const pipeline = client.pipeline();
        for (const shard of group) pipeline.callBuffer('HGETALL', k.indexOverlay(shard));
        repliesOf(await pipeline.exec()).forEach((reply, i) => overlays.set(group[i]!, overlayOf(reply)));
      }
      const all = [...new Set([...overlaid, ...Object.keys(versions).map(Number)])].sort((a, b) => a - b);
      return {
        ...read,
        shards: all.map((shard) => ({
          shard,
          version: Number(versions[shard] ?? 0),
          overlay: overlays.get(shard) ?? [],
        })),
      };
    });
  }

  records(fromSeq: number, toSeq: number): Promise<StoredText[]> {
    return guarded(async () => {
      if (toSeq < fromSeq || toSeq < 1) return [];
      const { client } = await this.connection();
      const from = Math.max(1, fromSeq);
      // No name is asked for beyond the tip, however wide the range.
      const to = Math.min(toSeq, Number((await client.hget(this.keys.tip, 'seq')) ?? 0));
      const seqs = Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
      const texts: (string | null)[] = [];
      for (let at = 0; at < seqs.length; at += 1000)
        texts.push(...(await client.mget(seqs.slice(at, at + 1000).map(this.keys.record))));
      return seqs.flatMap((seq, i) =>
        texts[i] === null || texts[i] === undefined ? [] : [{ seq, text: texts[i] }],
      );
    });
  }

  checkpoints(fromSeq: number, toSeq: number, count: number): Promise<StoredText[]> {
    return guarded(async () => {
      if (toSeq < fromSeq || toSeq < 1) return [];
      const to = Number.isFinite(toSeq) ? `${toSeq}-0` : '+';
      const { client } = await this.connection();
      const entries = await client.xrange(
        this.keys.checkpoints,
        `${Math.max(1, fromSeq)}-0`,
        to,
        'COUNT',
        count,
      );
      return entries.map(([id, fields]) => ({ seq: seqOfId(id), text: field(fields, 'h') }));
    });
  }

  latestCheckpoint(): Promise<StoredText | undefined> {
    return this.checkpointAtOrBefore(Infinity);
  }

  checkpointAtOrBefore(seq: number): Promise<StoredText | undefined> {
    return guarded(async () => {
      if (seq < 1) return undefined;
      const { client } = await this.connection();
      const end = Number.isFinite(seq) ? `${seq}-0` : '+';
      const [entry] = (await client.xrevrange(this.keys.checkpoints, end, '-', 'COUNT', 1)) as StreamEntries;
      return entry && { seq: seqOfId(entry[0]), text: field(entry[1], 'h') };
    });
  }

  openings(seqs: number[]): Promise<StoredOpening[]> {
    return guarded(async () => {
      if (seqs.length === 0) return [];
      const { client } = await this.connection();
      const lists = await client.hmget(this.keys.openings, ...seqs.map(String));
      // Each record's list is in commit order; the contract's is by index, then member.
      const wanted = seqs.flatMap((seq, i) =>
        (lists[i] ?? '')
          .split(',')
          .filter((f) => f !== '')
          .map((f) => ({
            seq,
            index: Number(f.slice(0, f.indexOf(':'))),
            member: f.slice(f.indexOf(':') + 1),
          }))
          .sort(byOpeningPosition),
      );
      if (wanted.length === 0) return [];
      const texts = await client.hmget(this.keys.openings, ...wanted.map(openingField));
      return wanted.flatMap((w, i) => (typeof texts[i] === 'string' ? [{ ...w, text: texts[i] }] : []));
    });
  }

  eraseOpening(seq: number, index: number, member: string): Promise<boolean> {
    return guarded(async () => {
      const { client } = await this.connection();
      const erased = (await client.hdel(this.keys.openings, openingField({ seq, index, member }))) === 1;
      if (erased) await this.waitReplicas(client, this.wrote(client));
      return erased;
    });
  }

  deadLetters(count: number): Promise<DeadLetter[]> {
    return guarded(async () => {
      const { client } = await this.connection();
      const entries = await client.xrange(this.keys.dead, '-', '+', 'COUNT', count);
      return entries.map(([id, fields]) => ({
        id,
        ingestId: field(fields, 'ingest'),
        code: field(fields, 'code') as Code,
        message: field(fields, 'message'),
        entry: field(fields, 'entry'),
      }));
    });
  }

  /** Closes the store's connections (commit subscriptions are closed by their holders). */
  async close(): Promise<void> {
    this.closed = true;
    const [main, blocking] = [this.main, this.readingClient];
    this.main = this.readingClient = undefined;
    await blocking?.then(
      (client) => client.disconnect(),
      () => undefined,
    );
    await main?.then(
      ({ client }) => closeRedis(client),
      () => undefined,
    );
  }
}
