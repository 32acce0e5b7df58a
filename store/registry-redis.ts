// The registry store on Redis. All keys share the hash tag {gov:registry} (one Cluster slot),
// and every mutation writes its record and appends its change to the change stream in ONE Lua
// script, so a follower never sees a change without its record or a record without its change.
// The change stream is capped (XADD MAXLEN ~); a follower whose cursor fell behind the cap gets
// ChangesTrimmedError from changes() (registry-rules.ts). Needs Redis ≥ 7.0 (XINFO STREAM's
// entries-added tells how many changes were trimmed).
import { GovernanceError } from '../core/errors.js';
import type { KeyRecord, RegistryHeartbeat, RevocationRecord } from '../core/registry.js';
import type { PolicyVersion, RegistryChange, RegistryStore } from './types.js';
import {
  commandTimeoutOf,
  connectBlocking,
  defineScript,
  type RedisClient,
  type ScriptCall,
} from './redis-connection.js';
import {
  ChangesTrimmedError,
  DEFAULT_CHANGE_CAP,
  checkChangeRead,
  readChange,
  readHeartbeat,
  readKeyRecord,
  readPolicyMeta,
  readPolicyVersion,
  readRevocation,
  sortedBy,
  storedChange,
  storedHeartbeat,
  storedKeyRecord,
  storedPolicyVersion,
  storedRevocation,
} from './registry-rules.js';

const KEYS = {
  keys: '{gov:registry}:keys',
  policies: '{gov:registry}:policies',
  policyMeta: '{gov:registry}:policy-meta',
  active: '{gov:registry}:active',
  revocations: '{gov:registry}:revocations',
  heartbeat: '{gov:registry}:heartbeat',
  changes: '{gov:registry}:changes',
} as const;

const STREAM_ID = /^(0|\d{1,20}-\d{1,20})$/;

// Every mutation script takes the change stream as its last key and, as its last two arguments,
// the change (canonical JSON) and the stream cap. Replies: 1 stored, 0 no-op, negative refused.
const APPEND = `
local function append()
  redis.call('XADD', KEYS[#KEYS], 'MAXLEN', '~', ARGV[#ARGV], '*', 'change', ARGV[#ARGV - 1])
end
`;

// KEYS: keys, changes. ARGV: kid, record.
const PUT_KEY = `${APPEND}
local existing = redis.call('HGET', KEYS[1], ARGV[1])
if existing then
  if existing == ARGV[2] then return 0 end
  return -1
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
append()
return 1
`;

// KEYS: policies, policy-meta, changes. ARGV: hash, version, meta, ref.
const PUT_POLICY = `${APPEND}
local existing = redis.call('HGET', KEYS[2], ARGV[1])
if existing then
  if cjson.decode(existing).ref == ARGV[4] then return 0 end
  return -1
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
append()
return 1
`;

// KEYS: policy-meta, active, changes. ARGV: ref, hash.
const ACTIVATE = `${APPEND}
local meta = redis.call('HGET', KEYS[1], ARGV[2])
if not meta then return -1 end
if cjson.decode(meta).ref ~= ARGV[1] then return -2 end
if redis.call('HGET', KEYS[2], ARGV[1]) == ARGV[2] then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
append()
return 1
`;

// KEYS: revocations, changes. ARGV: target, record.
const REVOKE = `${APPEND}
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
append()
return 1
`;

// KEYS: heartbeat, changes. ARGV: heartbeat.
const HEARTBEAT = `${APPEND}
redis.call('SET', KEYS[1], ARGV[1])
append()
return 1
`;

// KEYS: changes. Reply: { newest id, oldest id kept ('' when none), how many were trimmed }.
// Trimming is the only removal, so the trimmed entries are exactly those older than the oldest
// kept (XINFO's max-deleted-entry-id does not count trimming).
const STREAM_STATE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return { '0-0', '', 0 } end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local field = {}
for i = 1, #info, 2 do field[info[i]] = info[i + 1] end
if not field['entries-added'] then
  return redis.error_reply('XINFO STREAM has no entries-added: Redis 7.0 or later is required')
end
local oldest = field['first-entry'] and field['first-entry'][1] or ''
return { field['last-generated-id'], oldest, field['entries-added'] - field['length'] }
`;

type Mutation = 'putKey' | 'putPolicy' | 'activate' | 'revoke' | 'heartbeat';

export interface RedisRegistryOptions {
  /** Changes kept in the stream (approximately: Redis trims whole nodes). */
  changeCap?: number;
}

/** Orders stream ids ("ms-seq", or "0"). */
function compareIds(a: string, b: string): number {
  const [aMs = 0n, aSeq = 0n] = a.split('-').map(BigInt);
  const [bMs = 0n, bSeq = 0n] = b.split('-').map(BigInt);
  if (aMs !== bMs) return aMs < bMs ? -1 : 1;
  return aSeq === bSeq ? 0 : aSeq < bSeq ? -1 : 1;
}

function unavailable(cause: unknown): GovernanceError {
  const message = cause instanceof Error ? cause.message : String(cause);
  return new GovernanceError('issuer.unavailable', `registry store failed: ${message}`, { cause });
}

async function guarded<T>(operation: Promise<T>): Promise<T> {
  try {
    return await operation;
  } catch (cause) {
    throw cause instanceof GovernanceError ? cause : unavailable(cause);
  }
}

type StreamReply = [string, [string, string[]][]][] | null;

export class RedisRegistryStore implements RegistryStore {
  private readonly scripts: Record<Mutation, ScriptCall>;
  private readonly streamState: ScriptCall;
  private readonly cap: string;
  private blocking: Promise<RedisClient> | undefined;
  /** One blocking read at a time, so each read's deadline starts when it is sent. */
  private reads: Promise<unknown> = Promise.resolve();

  /** The client is shared and stays open; close() closes only this store's blocking connection. */
  constructor(
    private readonly client: RedisClient,
    options: RedisRegistryOptions = {},
  ) {
    this.cap = String(options.changeCap ?? DEFAULT_CHANGE_CAP);
    this.scripts = {
      putKey: defineScript(client, 'govRegistryPutKey', PUT_KEY, 2),
      putPolicy: defineScript(client, 'govRegistryPutPolicy', PUT_POLICY, 3),
      activate: defineScript(client, 'govRegistryActivate', ACTIVATE, 3),
      revoke: defineScript(client, 'govRegistryRevoke', REVOKE, 2),
      heartbeat: defineScript(client, 'govRegistryHeartbeat', HEARTBEAT, 2),
    };
    this.streamState = defineScript(client, 'govRegistryStreamState', STREAM_STATE, 1);
  }

  private async mutate(
    mutation: Mutation,
    keys: string[],
    args: string[],
    change: RegistryChange,
  ): Promise<number> {
    const reply = await guarded(
      this.scripts[mutation]([...keys, KEYS.changes], [...args, storedChange(change), this.cap]),
    );
    if (typeof reply !== 'number') throw unavailable(new Error('unexpected script reply'));
    return reply;
  }

  async putKeyRecord(record: KeyRecord): Promise<void> {
    const { kid, json } = storedKeyRecord(record);
    if ((await this.mutate('putKey', [KEYS.keys], [kid, json], { kind: 'key', kid })) < 0) {
      throw new GovernanceError('key.invalid', `key record ${kid} is already registered with other content`);
    }
  }

  async listKeyRecords(): Promise<KeyRecord[]> {
    const values = await guarded(this.client.hvals(KEYS.keys));
    return sortedBy(values.map(readKeyRecord), (r) => r.kid);
  }

  async putPolicyVersion(version: PolicyVersion): Promise<void> {
    const { hash, ref, json, metaJson } = storedPolicyVersion(version);
    const keys = [KEYS.policies, KEYS.policyMeta];
    if ((await this.mutate('putPolicy', keys, [hash, json, metaJson, ref], { kind: 'policy', hash })) < 0) {
      throw new GovernanceError(
        'policy.invalid',
        `policy version ${hash} is already published under another ref`,
      );
    }
  }

  async getPolicyVersion(hash: string): Promise<PolicyVersion | undefined> {
    const json = await guarded(this.client.hget(KEYS.policies, hash));
    return json === null ? undefined : readPolicyVersion(json);
  }

  async listPolicyVersions(): Promise<Omit<PolicyVersion, 'document'>[]> {
    const values = await guarded(this.client.hvals(KEYS.policyMeta));
    return sortedBy(values.map(readPolicyMeta), (v) => v.hash);
  }

  async activatePolicy(ref: string, hash: string): Promise<void> {
    if (typeof ref !== 'string' || typeof hash !== 'string' || ref.length > 256 || hash.length > 137) {
      throw new GovernanceError('policy.invalid', 'activation needs a policy ref and hash');
    }
    const reply = await this.mutate('activate', [KEYS.policyMeta, KEYS.active], [ref, hash], {
      kind: 'activation',
      ref,
      hash,
    });
    if (reply === -1) throw new GovernanceError('policy.invalid', `policy version ${hash} is not published`);
    if (reply < 0)
      throw new GovernanceError('policy.invalid', `policy version ${hash} is not a version of ${ref}`);
  }

  async activePolicies(): Promise<Record<string, string>> {
    const active = await guarded(this.client.hgetall(KEYS.active));
    return Object.fromEntries(Object.entries(active).sort(([a], [b]) => (a < b ? -1 : 1)));
  }

  async addRevocation(record: RevocationRecord): Promise<boolean> {
    const { target, json } = storedRevocation(record);
    return (
      (await this.mutate('revoke', [KEYS.revocations], [target, json], { kind: 'revocation', target })) === 1
    );
  }

  async listRevocations(): Promise<RevocationRecord[]> {
    const entries = await guarded(this.client.hgetall(KEYS.revocations));
    return Object.keys(entries)
      .sort()
      .map((target) => readRevocation(entries[target]!));
  }

  async putHeartbeat(heartbeat: RegistryHeartbeat): Promise<void> {
    await this.mutate('heartbeat', [KEYS.heartbeat], [storedHeartbeat(heartbeat)], { kind: 'heartbeat' });
  }

  async latestHeartbeat(): Promise<RegistryHeartbeat | undefined> {
    const json = await guarded(this.client.get(KEYS.heartbeat));
    return json === null ? undefined : readHeartbeat(json);
  }

  async changes(
    cursor: string,
    count: number,
    blockMs: number,
  ): Promise<{ cursor: string; changes: RegistryChange[] }> {
    checkChangeRead(count, blockMs);
    if (typeof cursor !== 'string' || !STREAM_ID.test(cursor)) {
      throw new GovernanceError('request.invalid', 'cursor must be "0" or a change stream id');
    }
    const reply =
      blockMs > 0 ? await this.blockingRead(cursor, count, blockMs) : await this.read(cursor, count);
    // Asked after the read: a trim racing with it can only cause a needless reload, never a gap.
    const [newest, oldest, trimmed] = (await guarded(this.streamState([KEYS.changes], []))) as [
      string,
      string,
      number,
    ];
    // A cursor older than the oldest kept change missed trimmed ones, unless it was the newest of
    // them: that case cannot be told apart, and costs the follower one needless reload.
    if (trimmed > 0 && compareIds(cursor, oldest === '' ? newest : oldest) < 0) {
      throw new ChangesTrimmedError(newest);
    }
    const entries = reply?.[0]?.[1] ?? [];
    const changes = entries.map(([, fields]) => {
      const at = fields.indexOf('change');
      if (at < 0 || at + 1 >= fields.length)
        throw unavailable(new Error('a change stream entry has no change'));
      return readChange(fields[at + 1]!);
    });
    return { cursor: entries.at(-1)?.[0] ?? cursor, changes };
  }

  /** Closes this store's blocking connection (the shared client is the caller's). */
  async close(): Promise<void> {
    const pending = this.blocking;
    this.blocking = undefined;
    // disconnect, not quit: a pending XREAD BLOCK would hold a polite quit back.
    (await pending?.catch(() => undefined))?.disconnect();
  }

  private read(cursor: string, count: number): Promise<StreamReply> {
    return guarded(
      this.client.xread('COUNT', count, 'STREAMS', KEYS.changes, cursor) as Promise<StreamReply>,
    );
  }

  private blockingRead(cursor: string, count: number, blockMs: number): Promise<StreamReply> {
    const next = this.reads.then(async () => {
      const connection = (this.blocking ??= connectBlocking(this.client));
      // The deadline covers connecting too: a paused server accepts TCP and never answers.
      const deadlineMs = blockMs + commandTimeoutOf(this.client);
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          reject(new Error(`change stream read did not answer within ${deadlineMs} ms`));
        }, deadlineMs);
      });
      const read = connection.then(
        (client) =>
          client.xread(
            'COUNT',
            count,
            'BLOCK',
            blockMs,
            'STREAMS',
            KEYS.changes,
            cursor,
          ) as Promise<StreamReply>,
      );
      try {
        return await guarded(Promise.race([read, deadline]));
      } catch (error) {
        // The read may still be pending on that socket: drop the connection, open afresh next time.
        if (this.blocking === connection) this.blocking = undefined;
        connection.then((client) => client.disconnect()).catch(() => undefined);
        throw error;
      } finally {
        clearTimeout(timer);
      }
    });
    this.reads = next.catch(() => undefined);
    return next;
  }
}
