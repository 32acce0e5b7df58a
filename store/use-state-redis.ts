// The use-state store on Redis: one Lua script per use mode, so each presentation is one atomic
// step even with many enforcement-point replicas sharing the server. Both keys of a script
// carry the artifact id as hash tag, so nonces spread over Cluster shards.
//
// KEYS[1] the artifact's state (gov:use:{id}), KEYS[2] the request's retry marker
// (gov:use:{id}:req:<request id>). ARGV[1] now ms, ARGV[2] expires-at ms, ARGV[3] retry window
// ms (0: no retry privilege), ARGV[4] the retry deadline (now + window); then the mode's terms.
// Numbers arrive as decimal strings computed in JavaScript and are written back with %d: Lua's
// tostring keeps only 14 significant digits.
//
// The state expires at expires-at on the SERVER's clock. A presentation the server already sees
// past that instant is refused: SET NX PXAT in the past would succeed and vanish at once, so a
// server clock ahead of the enforcement point's would otherwise turn single use into unlimited.
import { GovernanceError } from '../core/errors.js';
import type { UseRequest, UseStateStore } from './types.js';
import { defineScript, type RedisClient, type ScriptCall } from './redis-connection.js';
import { bucketOf, presentationOf, retryKey, useKey, type Presentation } from './use-state-rules.js';

const PREAMBLE = `
local now = tonumber(ARGV[1])
local time = redis.call('TIME')
if tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000) >= tonumber(ARGV[2]) then return 0 end
local retry_window = tonumber(ARGV[3])
if retry_window > 0 then
  local deadline = redis.call('GET', KEYS[2])
  if deadline and now <= tonumber(deadline) then return 1 end
end
local function allowed()
  if retry_window > 0 then redis.call('SET', KEYS[2], ARGV[4], 'PX', ARGV[3]) end
  return 1
end
`;

const SINGLE = `${PREAMBLE}
if redis.call('SET', KEYS[1], '1', 'NX', 'PXAT', ARGV[2]) then return allowed() end
return 0
`;

// ARGV[5] max distinct uses.
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

export class RedisUseStateStore implements UseStateStore {
  private readonly scripts: Record<Presentation['terms']['mode'], ScriptCall>;

  /** The client is shared and stays open; the caller closes it. */
  constructor(client: RedisClient) {
    this.scripts = {
      single: defineScript(client, 'govUseSingle', SINGLE, 2),
      bounded: defineScript(client, 'govUseBounded', BOUNDED, 2),
      rate: defineScript(client, 'govUseRate', RATE, 2),
    };
  }

  async consume(request: UseRequest): Promise<boolean> {
    const p = presentationOf(request);
    if (!p) return false;
    const keys = [useKey(p.artifactId), retryKey(p.artifactId, p.requestId ?? '')];
    const args = [
      String(p.nowMs),
      String(p.expiresAtMs),
      String(p.retryWindowMs),
      String(p.nowMs + p.retryWindowMs),
      ...termArgs(p.terms),
    ];
    let reply: unknown;
    try {
      reply = await this.scripts[p.terms.mode](keys, args);
    } catch (cause) {
      throw new GovernanceError(
        'state.unavailable',
        `use-state store failed: ${cause instanceof Error ? cause.message : String(cause)}`,
        { cause },
      );
    }
    if (reply === 1) return true;
    if (reply === 0) return false;
    throw new GovernanceError('state.unavailable', 'use-state store gave an unexpected reply');
  }
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
