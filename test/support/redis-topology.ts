// Real Redis Sentinel and Redis Cluster deployments for integration tests: redis-server processes
// on free loopback ports, in a temporary folder, killed and removed by stop(). They need
// redis-server and redis-cli on PATH (CI installs them); tests say why they skip otherwise.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { RedisConfig } from '../../store/redis-connection.js';
import { freePort, waitForRedis } from './redis.js';

export const haveRedisTools = ['redis-server', 'redis-cli'].every(
  (command) => spawnSync(command, ['--version'], { stdio: 'ignore' }).status === 0,
);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const HOST = '127.0.0.1';

/** redis-server processes in one temporary folder. */
export class LocalServers {
  private readonly processes = new Map<number, ChildProcess>();
  private files = 0;
  readonly dir = mkdtempSync(join(tmpdir(), 'gov-redis-topology-'));

  /** Starts a redis-server with these arguments on a free port; resolves once it answers. */
  async start(args: string[]): Promise<number> {
    const port = await freePort();
    // A replica's first sync starts at once (the default waits 5 s for more replicas to join).
    const own = ['--port', String(port), '--bind', HOST, '--save', '', '--repl-diskless-sync-delay', '0'];
    const child = spawn('redis-server', [...args, ...own], {
      cwd: this.dir,
      stdio: 'ignore',
    });
    child.on('error', () => undefined);
    this.processes.set(port, child);
    await waitForRedis(`redis://${HOST}:${port}`);
    return port;
  }

  /** A file name not used before in this folder. */
  newFile(prefix: string, extension: string): string {
    return `${prefix}-${++this.files}.${extension}`;
  }

  /** The process listening on `port` (to pause or kill it). */
  process(port: number): ChildProcess {
    const child = this.processes.get(port);
    if (!child) throw new Error(`no local server on port ${port}`);
    return child;
  }

  async stop(): Promise<void> {
    await Promise.all(
      [...this.processes.values()].map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGCONT');
            child.kill('SIGKILL');
          }),
      ),
    );
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A plain connection to one server, for the test's own checks (never through the code under test). */
export function adminConnection(port: number): Redis {
  const admin = new Redis({ host: HOST, port, lazyConnect: false, maxRetriesPerRequest: 1 });
  admin.on('error', () => undefined);
  return admin;
}

async function until(what: string, condition: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

async function info(port: number, section: string): Promise<string> {
  const admin = adminConnection(port);
  try {
    return await admin.info(section);
  } finally {
    admin.disconnect();
  }
}

/** Starts a replica of the server on `masterPort` and waits until it is in sync. */
async function startReplica(servers: LocalServers, masterPort: number, args: string[] = []): Promise<number> {
  const port = await servers.start([...args, '--replicaof', HOST, String(masterPort)]);
  await until(`the replica on ${port}`, async () =>
    /master_link_status:up/.test(await info(port, 'replication')),
  );
  return port;
}

export interface LocalSentinel {
  servers: LocalServers;
  name: string;
  masterPort: number;
  replicaPorts: number[];
  sentinelPort: number;
  /** The connection config of the stores, with a key prefix. */
  config(keyPrefix?: string): RedisConfig;
  /** The port of the master the Sentinel names now. */
  currentMasterPort(): Promise<number>;
  stop(): Promise<void>;
}

/** A master, `replicas` replicas of it and one Sentinel monitoring them (quorum 1). */
export async function startSentinel(options: { replicas?: number } = {}): Promise<LocalSentinel> {
  const servers = new LocalServers();
  const name = 'gov-master';
  try {
    const masterPort = await servers.start([]);
    const replicaPorts: number[] = [];
    for (let i = 0; i < (options.replicas ?? 0); i++)
      replicaPorts.push(await startReplica(servers, masterPort));
    const conf = join(servers.dir, servers.newFile('sentinel', 'conf'));
    writeFileSync(
      conf,
      [
        `sentinel monitor ${name} ${HOST} ${masterPort} 1`,
        `sentinel down-after-milliseconds ${name} 2000`,
        `sentinel failover-timeout ${name} 10000`,
        '',
      ].join('\n'),
    );
    const sentinelPort = await servers.start([conf, '--sentinel']);
    const currentMasterPort = async () => {
      const admin = adminConnection(sentinelPort);
      try {
        const [, port] = (await admin.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)) as [string, string];
        return Number(port);
      } finally {
        admin.disconnect();
      }
    };
    if (replicaPorts.length > 0) {
      // A failover needs the Sentinel to know the replicas (from the master's INFO).
      await until('the Sentinel to see the replicas', async () => {
        const admin = adminConnection(sentinelPort);
        try {
          const known = (await admin.call('SENTINEL', 'REPLICAS', name)) as unknown[];
          return known.length === replicaPorts.length;
        } finally {
          admin.disconnect();
        }
      });
    }
    return {
      servers,
      name,
      masterPort,
      replicaPorts,
      sentinelPort,
      config: (keyPrefix) => ({
        mode: 'sentinel',
        sentinels: [{ host: HOST, port: sentinelPort }],
        name,
        ...(keyPrefix === undefined ? {} : { keyPrefix }),
      }),
      currentMasterPort,
      stop: () => servers.stop(),
    };
  } catch (e) {
    await servers.stop();
    throw e;
  }
}

export interface LocalCluster {
  servers: LocalServers;
  /** The masters, in the order redis-cli gave them their slot ranges. */
  masters: { host: string; port: number }[];
  config(keyPrefix?: string): RedisConfig;
  /** The port of the master serving `slot`. */
  ownerOf(slot: number): Promise<number>;
  /** Adds a replica of the master on `masterPort`; resolves once it is in sync. */
  addReplica(masterPort: number): Promise<number>;
  stop(): Promise<void>;
}

const startClusterNode = (servers: LocalServers) =>
  servers.start([
    '--cluster-enabled',
    'yes',
    '--cluster-config-file',
    servers.newFile('nodes', 'conf'),
    '--cluster-node-timeout',
    '5000',
    '--appendonly',
    'no',
  ]);

function redisCli(args: string[]): string {
  const out = spawnSync('redis-cli', args, { encoding: 'utf8', timeout: 30_000 });
  if (out.status !== 0) throw new Error(`redis-cli ${args.join(' ')} failed: ${out.stdout}${out.stderr}`);
  return out.stdout;
}

/** A Redis Cluster of `masters` masters (at least 3), created with redis-cli, without replicas. */
export async function startCluster(options: { masters?: number } = {}): Promise<LocalCluster> {
  const servers = new LocalServers();
  try {
    const masters: { host: string; port: number }[] = [];
    for (let i = 0; i < (options.masters ?? 3); i++) {
      masters.push({ host: HOST, port: await startClusterNode(servers) });
    }
    redisCli(['--cluster', 'create', ...masters.map((n) => `${n.host}:${n.port}`), '--cluster-yes']);
    for (const node of masters) {
      await until(`cluster node ${node.port}`, async () =>
        /cluster_state:ok/.test(await clusterInfo(node.port)),
      );
    }
    const ownerOf = async (slot: number) => {
      const admin = adminConnection(masters[0]!.port);
      try {
        const ranges = (await admin.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
        const range = ranges.find(([from, to]) => from <= slot && slot <= to);
        if (!range) throw new Error(`no node serves slot ${slot}`);
        return Number(range[2][1]);
      } finally {
        admin.disconnect();
      }
    };
    return {
      servers,
      masters,
      config: (keyPrefix) => ({
        mode: 'cluster',
        nodes: masters,
        ...(keyPrefix === undefined ? {} : { keyPrefix }),
      }),
      ownerOf,
      async addReplica(masterPort) {
        const port = await startClusterNode(servers);
        const id = redisCli(['-p', String(masterPort), 'cluster', 'myid']).trim();
        redisCli([
          '--cluster',
          'add-node',
          `${HOST}:${port}`,
          `${HOST}:${masterPort}`,
          '--cluster-slave',
          '--cluster-master-id',
          id,
        ]);
        await until(`the cluster replica on ${port}`, async () => {
          const replication = await info(port, 'replication');
          return /role:slave/.test(replication) && /master_link_status:up/.test(replication);
        });
        return port;
      },
      stop: () => servers.stop(),
    };
  } catch (e) {
    await servers.stop();
    throw e;
  }
}

async function clusterInfo(port: number): Promise<string> {
  const admin = adminConnection(port);
  try {
    return String(await admin.call('CLUSTER', 'INFO'));
  } finally {
    admin.disconnect();
  }
}
