// The use-state store on Redis: one Lua script per use mode, so each presentation is one atomic
// step even with many enforcement-point replicas sharing the server. Both keys of a script
// carry the artifact id as hash tag, so nonces spread over Cluster shards.
//
// KEYS[1] the artifact's state (gov:use:{id}), KEYS[2] the admission the use opens, if any
// (gov:use:{id}:adm:<attestation id>). ARGV[1] now ms, ARGV[2] expires-at ms, ARGV[3] the
// admission's binding ('' when the use opens none), ARGV[4] its lifetime ms; then the mode's
// terms. Numbers arrive as decimal strings computed in JavaScript and are written back with %d:
// Lua's tostring keeps only 14 significant digits.
//
// The state expires at expires-at on the SERVER's clock. A presentation the server already sees
// past that instant is refused: SET NX PXAT in the past would succeed and vanish at once, so a
// server clock ahead of the enforcement point's would otherwise turn single use into unlimited.
import { GovernanceError } from '../core/errors.js';
import type { AdmissionGrant, UseRequest, UseStateStore } from './types.js';
import { defineScript, type RedisClient, type ScriptCall } from './redis-connection.js';
import {
  admissionKey,
  bucketOf,
  checkAdmission,
  checkArtifactId,
  presentationOf,
  useKey,
  type Presentation,
} from './use-state-rules.js';

const PREAMBLE = `
local now = tonumber(ARGV[1])
local time = redis.call('TIME')
if tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000) >= tonumber(ARGV[2]) then return 0 end
local function allowed()
  if ARGV[3] ~= '' then redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4]) end
  return 1
end
`;

const SINGLE = `${PREAMBLE}
if redis.call('SET', KEYS[1], '1', 'NX', 'PXAT', ARGV[2]) then return allowed() end
return 0
`;

// ARGV[5] max uses.
const BOUNDED = `${PREAMBLE}
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if not used then return redis.error_reply('use state is not a counter') end
if used >= tonumber(ARGV[5]) then return 0 end
redis.call('SET', KEYS[1], string.format('%d', used + 1), 'PXAT', ARGV[2])
return allowed()
`;

// ARGV[5] capacity, ARGV[6] cost, ARGV[7] refill per ms, ARGV[8] full after ms (use-state-rules.ts
// refill() is the same computation).
const RATE = `${PREAMBLE}
local capacity, cost = tonumber(ARGV[5]), tonumber(ARGV[6])
local units, at = capacity, now
local state = redis.call('HMGET', KEYS[1], 'units', 'at')
if state[1] then
  units, at = tonumber(state[1]), tonumber(state[2])
  if not units or not at then return redis.error_reply('use state is not a bucket') end
  if now > at then
    local elapsed = now - at
    if elapsed >= tonumber(ARGV[8]) then
      units = capacity
    else
      units = math.min(capacity, units + elapsed * tonumber(ARGV[7]))
    end
    at = now
  end
end
if units < cost then return 0 end
redis.call('HSET', KEYS[1], 'units', string.format('%d', units - cost), 'at', string.format('%d', at))
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return allowed()
`;

// Releases take the consume's keys and arguments: they undo exactly what its allowed() did.
const RELEASED = `
if ARGV[3] ~= '' then redis.call('DEL', KEYS[2]) end
return 1
`;

const RELEASE = {
  single: `redis.call('DEL', KEYS[1])${RELEASED}`,
  bounded: `
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used and used > 0 then redis.call('SET', KEYS[1], string.format('%d', used - 1), 'KEEPTTL') end
${RELEASED}`,
  rate: `
local units = tonumber(redis.call('HGET', KEYS[1], 'units') or '')
if units then
  local back = math.min(tonumber(ARGV[5]), units + tonumber(ARGV[6]))
  redis.call('HSET', KEYS[1], 'units', string.format('%d', back))
end
${RELEASED}`,
};

// KEYS[1] the admission, ARGV[1] the binding presented. GET answers false for a missing key,
// which never equals a binding.
const CLOSE_ADMISSION = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local left = redis.call('PTTL', KEYS[1])
redis.call('DEL', KEYS[1])
if left < 1 then return 1 end
return left
`;

type Mode = Presentation['terms']['mode'];

/**
 * Commands awaiting a reply, at most. The connection has no command timeout (the caller's
 * deadline bounds its wait), so a server that stops answering would otherwise collect every
 * presentation sent to it; past this many, presentations fail at once without being sent.
 */
const MAX_IN_FLIGHT = 10_000;

export class RedisUseStateStore implements UseStateStore {
  private readonly consumers: Record<Mode, ScriptCall>;
  private readonly releasers: Record<Mode, ScriptCall>;
  private readonly closer: ScriptCall;
  private inFlight = 0;

  /** The client is shared and stays open; the caller closes it. */
  constructor(private readonly client: RedisClient) {
    this.consumers = {
      single: defineScript(client, 'govUseSingle', SINGLE, 2),
      bounded: defineScript(client, 'govUseBounded', BOUNDED, 2),
      rate: defineScript(client, 'govUseRate', RATE, 2),
    };
    this.releasers = {
      single: defineScript(client, 'govReleaseSingle', RELEASE.single, 2),
      bounded: defineScript(client, 'govReleaseBounded', RELEASE.bounded, 2),
      rate: defineScript(client, 'govReleaseRate', RELEASE.rate, 2),
    };
    this.closer = defineScript(client, 'govCloseAdmission', CLOSE_ADMISSION, 1);
  }

  async consume(request: UseRequest): Promise<boolean> {
    const p = presentationOf(request);
    if (!p) return false;
    const reply = await this.run(() => this.consumers[p.terms.mode](...scriptInput(p)));
    if (reply === 1) return true;
    if (reply === 0) return false;
    throw new GovernanceError('state.unavailable', 'use-state store gave an unexpected reply');
  }

  async release(request: UseRequest): Promise<void> {
    const p = presentationOf(request);
    if (p) await this.run(() => this.releasers[p.terms.mode](...scriptInput(p)));
  }

  async closeAdmission(artifactId: string, id: string, binding: string): Promise<number | undefined> {
    const admission = checkAdmission({ id, binding }, false);
    const key = admissionKey(checkArtifactId(artifactId), admission.id);
    const reply = await this.run(() => this.closer([key], [admission.binding]));
    if (reply === -1) return undefined;
    if (typeof reply === 'number' && reply > 0) return reply;
    throw new GovernanceError('state.unavailable', 'use-state store gave an unexpected reply');
  }

  async reopenAdmission(artifactId: string, admission: AdmissionGrant): Promise<void> {
    const { id, binding, ttlMs } = checkAdmission(admission, true);
    const key = admissionKey(checkArtifactId(artifactId), id);
    await this.run(() => this.client.set(key, binding, 'PX', ttlMs, 'NX'));
  }

  /** Any failure of the store is state.unavailable. */
  private async run(call: () => Promise<unknown>): Promise<unknown> {
    if (this.inFlight >= MAX_IN_FLIGHT) {
      throw new GovernanceError('state.unavailable', `${MAX_IN_FLIGHT} use-state commands await a reply`);
    }
    this.inFlight++;
    try {
      return await call();
    } catch (cause) {
      throw new GovernanceError(
        'state.unavailable',
        `use-state store failed: ${cause instanceof Error ? cause.message : String(cause)}`,
        { cause },
      );
    } finally {
      this.inFlight--;
    }
  }
}

function scriptInput(p: Presentation): [string[], string[]] {
  const keys = [useKey(p.artifactId), admissionKey(p.artifactId, p.admission?.id ?? '-')];
  const args = [
    String(p.nowMs),
    String(p.expiresAtMs),
    p.admission?.binding ?? '',
    String(p.admission?.ttlMs ?? 0),
    ...termArgs(p.terms),
  ];
  return [keys, args];
}

function termArgs(terms: Presentation['terms']): string[] {
  switch (terms.mode) {
    case 'single':
      return [];
    case 'bounded':
      return [String(terms.max)];
    case 'rate': {
      const bucket = bucketOf(terms);
      return [bucket.capacity, bucket.cost, bucket.refillPerMs, bucket.fullAfterMs].map(String);
    }
  }
}
