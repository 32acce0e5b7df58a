// Connections to Redis (standalone, Sentinel or Cluster) that fail fast: a command issued while
// disconnected fails at once (no offline queue), a command the server does not answer within
// the command timeout fails, and nothing is retried behind the caller's back. Every such failure
// reaches the caller as a rejection, which the enforcement point turns into a DENY.
//
// "Nothing is retried" includes a command whose reply was lost: when a connection closes, every
// command still waiting for its reply is rejected (its outcome is unknown) and never sent again,
// in all three modes — on a Cluster too, whose client would otherwise resend such a command to
// the slot's node (see guardConnection). What a Cluster client still sends again is what never
// ran: a command it had not yet written to a node whose connection was lost, and one the server
// refused unexecuted (MOVED, ASK, TRYAGAIN, CLUSTERDOWN).
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { z } from 'zod';
import { GovernanceError } from '../core/errors.js';

export type RedisClient = Redis | Cluster;

export const DEFAULT_COMMAND_TIMEOUT_MS = 250;
/** Connecting (TCP and handshake); the caller's startup fails after it instead of hanging. */
const CONNECT_TIMEOUT_MS = 2_000;
const RECONNECT_BASE_MS = 50;
const RECONNECT_CAP_MS = 2_000;

const endpoint = z.strictObject({
  host: z.string().min(1).max(255),
  port: z.number().int().min(1).max(65_535),
});

const redisUrl = z
  .string()
  .max(2_048)
  .refine((value) => URL.canParse(value) && ['redis:', 'rediss:'].includes(new URL(value).protocol), {
    message: 'must be a redis:// or rediss:// URL',
  });

const common = {
  commandTimeoutMs: z.number().int().min(1).max(60_000).optional(),
  // Braces would put every key into the prefix's hash slot and defeat the per-artifact tags.
  keyPrefix: z
    .string()
    .regex(/^[A-Za-z0-9:._-]{0,64}$/, 'must be at most 64 characters of A-Z a-z 0-9 : . _ -')
    .optional(),
};

const configSchema = z.discriminatedUnion('mode', [
  z.strictObject({ mode: z.literal('standalone'), url: redisUrl, ...common }),
  z.strictObject({
    mode: z.literal('sentinel'),
    sentinels: z.array(endpoint).min(1).max(16),
    name: z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, 'must be a Sentinel master name'),
    ...common,
  }),
  z.strictObject({ mode: z.literal('cluster'), nodes: z.array(endpoint).min(1).max(64), ...common }),
]);

export type RedisConfig = z.infer<typeof configSchema>;

/** Validates a connection config; throws GovernanceError('config.invalid') naming each problem. */
export function parseRedisConfig(input: unknown): RedisConfig {
  const result = configSchema.safeParse(input);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const path = issue.path.length > 0 ? issue.path.join('.') : 'config';
      return `${path}: ${issue.message}`;
    });
    throw new GovernanceError('config.invalid', `redis config is invalid: ${problems.join('; ')}`);
  }
  return result.data;
}

function reconnectDelay(attempt: number): number {
  return Math.min(RECONNECT_BASE_MS * 2 ** Math.min(attempt, 16), RECONNECT_CAP_MS);
}

/** Where a config points, without credentials (URLs may carry a password). */
function describeTarget(config: RedisConfig): string {
  switch (config.mode) {
    case 'standalone': {
      const url = new URL(config.url);
      return `redis ${url.host}`;
    }
    case 'sentinel':
      return `sentinel master ${config.name}`;
    case 'cluster':
      return `cluster of ${config.nodes.length} seed node(s)`;
  }
}

const hostPort = ({ host, port }: { host: string; port: number }) =>
  host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;

/** Where a config points, for a service's start-up log: servers and key prefix, never credentials. */
export function redisLocation(config: RedisConfig): Record<string, unknown> {
  const keyPrefix = config.keyPrefix ?? '';
  switch (config.mode) {
    case 'standalone': {
      const url = new URL(config.url);
      return { mode: config.mode, server: url.host, tls: url.protocol === 'rediss:', keyPrefix };
    }
    case 'sentinel':
      return { mode: config.mode, sentinels: config.sentinels.map(hostPort), master: config.name, keyPrefix };
    case 'cluster':
      return { mode: config.mode, nodes: config.nodes.map(hostPort), keyPrefix };
  }
}

export interface ConnectOptions {
  /**
   * No command timeout (the config's commandTimeoutMs is not applied): for the ledger, whose
   * commits can outlast the use-state timeout and whose WAIT blocks for its own timeout. The
   * caller bounds the wait instead (the ledger writer's commit window, the sequencer's lease).
   */
  unbounded?: boolean;
  /**
   * A command issued while the connection is being re-established waits for the next attempt
   * (and fails if that attempt fails) instead of failing at once. It has not been sent, so
   * sending it later is no replay. For the ledger, whose callers have their own deadlines.
   */
  queueWhileReconnecting?: boolean;
  /**
   * ioredis auto-pipelining: the commands issued within one turn of the event loop go out in one
   * write (one pipeline per node, the next one once its replies are in), instead of one write
   * per command. Each command still has its own reply, error and command timeout. Off by default;
   * never on the blocking connection (a blocked read would hold the pipeline behind it back).
   */
  autoPipelining?: boolean;
}

function nodeOptions(config: RedisConfig, connect: ConnectOptions = {}): RedisOptions {
  return {
    enableAutoPipelining: connect.autoPipelining === true,
    lazyConnect: true,
    enableOfflineQueue: connect.queueWhileReconnecting === true,
    commandTimeout: connect.unbounded ? undefined : (config.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS),
    // A command that may already have run must never be sent again on reconnect.
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    connectTimeout: CONNECT_TIMEOUT_MS,
    retryStrategy: reconnectDelay,
    // RESP2: supported by every server version, and the reply shapes the stores parse.
    protocol: 2,
  };
}

function createClient(config: RedisConfig, connect: ConnectOptions): RedisClient {
  const keyPrefix = config.keyPrefix ?? '';
  switch (config.mode) {
    case 'standalone':
      return new Redis(config.url, { ...nodeOptions(config, connect), keyPrefix });
    case 'sentinel':
      return new Redis({
        ...nodeOptions(config, connect),
        keyPrefix,
        sentinels: config.sentinels,
        name: config.name,
        sentinelRetryStrategy: reconnectDelay,
        // Reconnect as soon as a Sentinel announces a new master (+switch-master): the old master
        // keeps accepting writes until the Sentinels reconfigure it, which can take seconds, and
        // everything written there in between is lost (and WAIT on it fails: its replicas left).
        failoverDetector: true,
      });
    case 'cluster': {
      const {
        retryStrategy: _perNode,
        enableOfflineQueue: _queue,
        enableAutoPipelining,
        ...redisOptions
      } = nodeOptions(config, connect);
      const options: ClusterOptions = {
        lazyConnect: true,
        enableOfflineQueue: connect.queueWhileReconnecting === true,
        enableAutoPipelining,
        keyPrefix,
        scaleReads: 'master',
        clusterRetryStrategy: reconnectDelay,
        redisOptions,
      };
      return new Cluster(config.nodes, options);
    }
  }
}

export type RedisErrorListener = (error: Error) => void;

const errorListeners = new WeakMap<RedisClient, RedisErrorListener>();

/** A listener hears the first connection error, then at most one summary per this many ms. */
export const ERROR_SUMMARY_MS = 5_000;
const summarized = new WeakMap<RedisErrorListener, RedisErrorListener>();

/**
 * `onError`, rate-limited: the first error, then every ERROR_SUMMARY_MS at most one error
 * counting those in between. Shared by every connection given the same listener (a service's
 * shared, ledger and blocking connections): while Redis is gone each of them fails every
 * reconnect attempt, and a line per failure buried everything else in the log.
 */
function summarizing(onError: RedisErrorListener): RedisErrorListener {
  const known = summarized.get(onError);
  if (known) return known;
  let reportedAt = -Infinity;
  let held = 0;
  let latest: Error | undefined;
  let timer: NodeJS.Timeout | undefined;
  const summarize = () => {
    timer = undefined;
    reportedAt = Date.now();
    onError(
      new Error(
        `${held} more connection error(s) within ${ERROR_SUMMARY_MS} ms, the last: ${latest!.message}`,
      ),
    );
    held = 0;
  };
  const listener = (error: Error) => {
    const now = Date.now();
    if (held === 0 && now - reportedAt >= ERROR_SUMMARY_MS) {
      reportedAt = now;
      onError(error);
      return;
    }
    held++;
    latest = error;
    // Unref'd: a pending summary never keeps a stopping process alive.
    timer ??= setTimeout(summarize, reportedAt + ERROR_SUMMARY_MS - now).unref();
  };
  summarized.set(onError, listener);
  return listener;
}

/** How often each connection (a standalone or Sentinel client, a Cluster node) has closed. */
const closes = new WeakMap<Redis, number>();

type Internals = {
  stream?: NodeJS.EventEmitter;
  flushQueue?: (error: Error, options: { offlineQueue: boolean }) => void;
};

/** What a command gets whose reply was lost: it may have run, so it must not be sent again. */
export const LOST_REPLY = 'connection to Redis lost before the reply';

/**
 * Counts the connection's closes, and when its socket closes rejects every command still
 * awaiting a reply with LOST_REPLY, before ioredis handles the close. ioredis would reject them
 * too (maxRetriesPerRequest 0; a Cluster node does not reconnect), but with "Connection is
 * closed.", which a Cluster client takes as "not sent" and sends again after
 * retryDelayOnFailover: right for the commands it never wrote (those stay in the offline queue
 * and keep that error), wrong for a written one — it could run twice.
 */
function guardConnection(connection: Redis): void {
  if (closes.has(connection)) return;
  closes.set(connection, 0);
  const internals = connection as unknown as Internals;
  if (typeof internals.flushQueue !== 'function')
    throw new GovernanceError(
      'config.invalid',
      'this ioredis version has no flushQueue (see store/redis-connection.ts)',
    );
  // 'connect': the socket is up and ioredis has attached its own close handler, which this one
  // now precedes.
  connection.on('connect', () => {
    internals.stream?.prependOnceListener('close', () =>
      internals.flushQueue!.call(connection, new Error(LOST_REPLY), { offlineQueue: false }),
    );
  });
  connection.on('close', () => closes.set(connection, (closes.get(connection) ?? 0) + 1));
}

function listen(client: RedisClient, onError: RedisErrorListener): void {
  errorListeners.set(client, onError);
  // Without a listener, ioredis re-emits connection errors as unhandled 'error' events.
  client.on('error', summarizing(onError));
  if (client instanceof Cluster) {
    // Node connections never reconnect: a lost node is replaced by a new connection (+node).
    client.on('+node', (node: Redis) => guardConnection(node));
    for (const node of client.nodes()) guardConnection(node);
  } else {
    guardConnection(client);
  }
}

/** Connects within CONNECT_TIMEOUT_MS: a paused server accepts TCP but never answers the handshake. */
async function open(client: RedisClient, what: string): Promise<RedisClient> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer within ${CONNECT_TIMEOUT_MS} ms`)),
      CONNECT_TIMEOUT_MS,
    );
  });
  try {
    await Promise.race([client.connect(), deadline]);
    return client;
  } catch (cause) {
    client.disconnect();
    throw new GovernanceError(
      'state.unavailable',
      `${what} did not answer: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Validates the config, connects, and resolves once the connection is ready; rejects with
 * GovernanceError('state.unavailable') when the server does not answer. Connection errors after
 * that go to `onError` (the caller logs them); the client keeps reconnecting with capped backoff.
 */
export async function connectRedis(
  input: RedisConfig,
  onError: RedisErrorListener = () => undefined,
  connect: ConnectOptions = {},
): Promise<RedisClient> {
  const config = parseRedisConfig(input);
  const client = createClient(config, connect);
  listen(client, onError);
  return open(client, describeTarget(config));
}

/**
 * A second connection to the same server(s) for blocking reads (XREAD BLOCK), so a long wait
 * never stalls the shared connection. It has no command timeout: its caller bounds each read.
 */
export async function connectBlocking(client: RedisClient): Promise<RedisClient> {
  const blocking =
    client instanceof Cluster
      ? client.duplicate([], {
          lazyConnect: true,
          enableAutoPipelining: false,
          redisOptions: { commandTimeout: undefined },
        })
      : client.duplicate({ lazyConnect: true, enableAutoPipelining: false, commandTimeout: undefined });
  listen(blocking, errorListeners.get(client) ?? (() => undefined));
  return open(blocking, 'redis (blocking connection)');
}

export function commandTimeoutOf(client: RedisClient): number {
  const options = client instanceof Cluster ? client.options.redisOptions : client.options;
  return options?.commandTimeout ?? DEFAULT_COMMAND_TIMEOUT_MS;
}

const QUIT_MS = 1_000;

/**
 * Closes politely when the server answers (QUIT after the replies already due), and at once when
 * it does not, or not within a second (a paused server, a connection without command timeout).
 */
export async function closeRedis(client: RedisClient): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('no answer to QUIT')), QUIT_MS);
  });
  try {
    await Promise.race([client.quit(), late]);
  } catch {
    client.disconnect();
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Redis Cluster's hash slot of a key (CRC16/XMODEM of its hash tag, or of the whole key when it
 * has no non-empty `{…}`), as the server computes it (CLUSTER KEYSLOT).
 */
export function hashSlot(key: string): number {
  let tagged = Buffer.from(key, 'utf8');
  const open = tagged.indexOf(0x7b);
  if (open >= 0) {
    const close = tagged.indexOf(0x7d, open + 1);
    if (close > open + 1) tagged = tagged.subarray(open + 1, close);
  }
  let crc = 0;
  for (const byte of tagged) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++)
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16_384;
}

/** One connection at one point of its life: equal links mean no close in between. */
export interface Link {
  connection: Redis;
  closes: number;
}

/**
 * The connection the client sends `key`'s commands through, now: the client itself in standalone
 * and Sentinel mode (Sentinel mode connects to the current master, and reconnects to the new one
 * after a failover); on a Cluster, the connection to the master that owns the key's hash slot in
 * the client's slot map (undefined while it has none). A command sent directly on it — WAIT,
 * which has no key a Cluster client could route by — reaches the server that ran the key's
 * writes, as long as the link is unchanged (sameLink) since them.
 */
export function linkFor(client: RedisClient, key: string): Link | undefined {
  let connection: Redis | undefined;
  if (client instanceof Cluster) {
    const owner = client.slots[hashSlot((client.options.keyPrefix ?? '') + key)]?.[0];
    connection = client.nodes('master').find((node) => `${node.options.host}:${node.options.port}` === owner);
  } else {
    connection = client;
  }
  if (connection === undefined) return undefined;
  guardConnection(connection);
  return { connection, closes: closes.get(connection)! };
}

export function sameLink(a: Link | undefined, b: Link | undefined): boolean {
  return a !== undefined && b !== undefined && a.connection === b.connection && a.closes === b.closes;
}

export type ScriptCall = (keys: readonly string[], args: readonly string[]) => Promise<unknown>;

/**
 * Registers a Lua script on the client (EVALSHA, with EVAL when the server lost its script
 * cache, e.g. after a restart) and returns a typed way to call it. For Cluster, every key of one
 * call must share a hash slot.
 */
export function defineScript(
  client: RedisClient,
  name: string,
  lua: string,
  numberOfKeys: number,
): ScriptCall {
  client.defineCommand(name, { lua, numberOfKeys });
  const command = (client as unknown as Record<string, (...args: string[]) => Promise<unknown>>)[name];
  if (typeof command !== 'function') throw new Error(`script ${name} was not registered`);
  return (keys, args) => {
    if (keys.length !== numberOfKeys) {
      throw new Error(`script ${name} takes ${numberOfKeys} keys, got ${keys.length}`);
    }
    return command.call(client, ...keys, ...args);
  };
}
