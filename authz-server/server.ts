// createAuthzServer: the enforcement point wired from explicit dependencies (stores, ledger
// writer, clock, keys), so main.ts, the tests and the dev mode build the same server. It serves
// envoy.service.auth.v3.Authorization/Check, the standard gRPC health service (SERVING only
// while keys, revocations and the ledger are fresh) and server reflection on the gRPC port, and
// metrics, health and the runtime API on the HTTP port.
import type { KeyObject } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Server as HttpServer } from 'node:http';
import type { Http2Server, ServerHttp2Session } from 'node:http2';
import { Server, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation } from 'grpc-health-check';
import { pino, type Logger } from 'pino';
import type { CryptoSuite } from '../core/crypto.js';
import { nodeCrypto } from '../core/crypto-node.js';
import type { PinnedRoots } from '../core/registry.js';
import type { LedgerWriter } from '../ledger/types.js';
import type { RegistryStore, UseStateStore } from '../store/types.js';
import type { LoadedConfig } from './config.js';
import { Enforcer, type RegistrySource } from './enforcer.js';
import type { LoadShedder } from './overload.js';
import {
  AUTHORIZATION_SERVICE,
  checkServiceDenyingUndecodable,
  loadEnvoyAuthProto,
  type CheckRequestMessage,
  type CheckResponseMessage,
} from './envoy-proto.js';
import { createHttpApi } from './http-api.js';
import { grpcServerCredentials } from '../service/grpc-tls.js';
import type { HealthReport } from '../service/http.js';
import { AuthzMetrics } from './metrics.js';
import { RegistryView } from './registry-view.js';
import { RuntimeApi } from './runtime-api.js';

/** A registry view with its lifecycle; RegistryView by default. */
export type RegistryFollower = RegistrySource & { start(): Promise<void>; stop(): Promise<void> };

export interface AuthzServerDeps {
  config: LoadedConfig;
  registryStore: RegistryStore;
  useState: UseStateStore;
  ledger: LedgerWriter;
  roots: PinnedRoots;
  /** Signs attestations; the same identity the ledger writer signs events as. */
  producer: { id: string; kid: string; privateKey: KeyObject };
  suite?: CryptoSuite;
  /** Epoch milliseconds. */
  clock?: () => number;
  logger?: Logger;
  /** Replaces the RegistryView built from registryStore and roots. */
  registry?: RegistryFollower;
  registryBlockMs?: number;
  healthIntervalMs?: number;
}

export interface AuthzServer {
  readonly enforcer: Enforcer;
  readonly metrics: AuthzMetrics;
  readonly registry: RegistryFollower;
  /** Binds both ports (0 picks a free one) and starts following the registry. */
  start(): Promise<{ grpcPort: number; httpPort: number }>;
  stop(): Promise<void>;
  health(): HealthReport;
}

const HEALTH_SERVICES = ['', AUTHORIZATION_SERVICE];

/**
 * Opens every HTTP/2 connection of `server` with a receive window of `bytes` instead of the
 * protocol's 64 KiB. Measured (bench/check.ts --overload): at 64 KiB the window, not the CPU,
 * capped one connection at ~1,100 Checks/s here, and at twice that rate every Check waited
 * ~240 ms for its body behind the window — past Envoy's timeout, with nothing shed. grpc-js has no
 * server option for it (grpc/grpc-node#3058), so its HTTP/2 servers are reached through a private
 * field; start() fails, rather than serve with the small window, if a release renames it.
 */
function widenConnectionWindows(server: Server, bytes: number): void {
  const servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(servers instanceof Map) || servers.size === 0)
    throw new Error('@grpc/grpc-js internals changed: cannot set the HTTP/2 connection window');
  for (const http2Server of servers.keys() as Iterable<Http2Server>) {
    http2Server.on('session', (session: ServerHttp2Session) => session.setLocalWindowSize(bytes));
  }
}

/** What is left of a call's deadline (grpc-js: epoch ms, a Date, or Infinity without grpc-timeout). */
function remainingMs(deadline: Date | number): number {
  return (deadline instanceof Date ? deadline.getTime() : deadline) - Date.now();
}

export function createAuthzServer(deps: AuthzServerDeps): AuthzServer {
  const { config } = deps;
  const suite = deps.suite ?? nodeCrypto;
  const clock = deps.clock ?? Date.now;
  const logger = deps.logger ?? pino({ level: config.logLevel, base: { service: 'authz-server' } });
  const metrics = new AuthzMetrics({
    ledgerCommitLagMs: () => deps.ledger.commitLagMs(),
    ledgerBatchesMissing: () => deps.ledger.batchesMissing(),
    registryAgesMs: () => registry.freshness(clock()),
    // The enforcer is made below, before anything collects.
    load: (): ReturnType<LoadShedder['load']> => enforcer.shedder.load(),
  });
  const registry: RegistryFollower =
    deps.registry ??
    new RegistryView({
      store: deps.registryStore,
      suite,
      roots: deps.roots,
      clock,
      keysSeconds: config.freshness.keysSeconds,
      revocationsSeconds: config.freshness.revocationsSeconds,
      skewSeconds: config.clockSkewSeconds,
      blockMs: deps.registryBlockMs,
      onProblem: (kind, message) => {
        metrics.registryProblem(kind);
        logger.warn({ kind, problem: message }, 'registry problem');
      },
    });
  const enforcer = new Enforcer({
    settings: {
      identity: config.identity,
      limits: config.limits,
      environment: config.environment,
      routeTable: config.routeTable,
      skewSeconds: config.clockSkewSeconds,
      deadlineMs: config.decisionDeadlineMs,
      signatureCacheEntries: config.signatureCacheEntries,
      runtimeApi: config.runtimeApi,
      overload: {
        maxInFlight: config.overload.maxInFlight,
        minInFlight: config.overload.minInFlight,
        targetMs: config.decisionDeadlineMs / 2,
        maxCommitLagMs: config.overload.maxCommitLagMs ?? config.freshness.ledgerCommitWindowMs / 2,
      },
    },
    suite,
    registry,
    useState: deps.useState,
    ledger: deps.ledger,
    clock,
    logger,
    metrics,
    producerId: deps.producer.id,
  });
  const runtimeApi =
    config.runtimeApi === undefined
      ? undefined
      : new RuntimeApi({
          config: config.runtimeApi,
          enforcer,
          registry,
          useState: deps.useState,
          ledger: deps.ledger,
          suite,
          clock,
          producer: deps.producer,
          logger,
          deadlineMs: config.decisionDeadlineMs,
        });

  const health = (): HealthReport => {
    const problems: string[] = [];
    try {
      const freshness = registry.freshness(clock());
      if (!freshness.fresh) problems.push(freshness.problem ?? 'registry view is not fresh');
      const halt = deps.ledger.halt();
      if (halt) problems.push(`${halt.reason}: ${halt.message}`);
    } catch (e) {
      problems.push(`health check failed: ${(e as Error).message}`);
    }
    return { serving: problems.length === 0, problems };
  };

  // Checked now: a TLS file that cannot be read fails the service before it opens anything.
  const grpcCredentials = grpcServerCredentials(config.grpc.tls, (problem) =>
    logger.warn({ problem }, 'TLS files not reloaded'),
  );
  const { packageDefinition, service } = loadEnvoyAuthProto();
  // Channelz (grpc-js's per-call introspection) is served by nothing here and cost ~2 % of the
  // enforcement point's CPU per Check.
  const grpcServer = new Server({
    'grpc.max_receive_message_length': 4 * 1024 * 1024,
    'grpc.enable_channelz': 0,
  });
  grpcServer.addService(checkServiceDenyingUndecodable(service), {
    Check(
      call: ServerUnaryCall<CheckRequestMessage, CheckResponseMessage>,
      callback: sendUnaryData<CheckResponseMessage>,
    ) {
      // enforcer.check never rejects; a client that cancelled still has its decision recorded.
      void enforcer
        .check(call.request, remainingMs(call.getDeadline()))
        .then((response) => callback(null, response));
    },
  });
  const healthService = new HealthImplementation(
    Object.fromEntries(HEALTH_SERVICES.map((s) => [s, 'NOT_SERVING'])),
  );
  healthService.addToServer(grpcServer);
  if (config.grpc.reflection) new ReflectionService(packageDefinition).addToServer(grpcServer);

  const httpServer: HttpServer = createHttpApi({
    metrics,
    health,
    runtime: runtimeApi,
    maxBodyBytes: config.runtimeApi?.maxBodyBytes ?? 65_536,
    logger,
  });

  let serving: boolean | undefined;
  const updateHealth = () => {
    const report = health();
    if (report.serving === serving) return;
    serving = report.serving;
    for (const name of HEALTH_SERVICES) healthService.setStatus(name, serving ? 'SERVING' : 'NOT_SERVING');
    logger.info({ serving, problems: report.problems }, 'health changed');
  };
  let healthTimer: NodeJS.Timeout | undefined;

  return {
    enforcer,
    metrics,
    registry,
    health,
    async start() {
      // The registry is loaded before the ports open: a process (or a worker of a group, which
      // gets connections as soon as it listens) does not take Checks it could only deny as
      // issuer.unavailable. A failed first load is retried by the follower; the ports open anyway.
      await registry.start();
      const grpcPort = await new Promise<number>((resolve, reject) => {
        grpcServer.bindAsync(`${config.grpc.host}:${config.grpc.port}`, grpcCredentials, (err, port) =>
          err ? reject(err) : resolve(port),
        );
      });
      widenConnectionWindows(grpcServer, config.grpc.connectionWindowBytes);
      const httpPort = await new Promise<number>((resolve, reject) => {
        httpServer.once('error', reject);
        httpServer.listen(config.http.port, config.http.host, () =>
          resolve((httpServer.address() as AddressInfo).port),
        );
      });
      updateHealth();
      healthTimer = setInterval(updateHealth, deps.healthIntervalMs ?? 500);
      healthTimer.unref();
      logger.info({ grpcPort, httpPort }, 'authz server listening');
      return { grpcPort, httpPort };
    },
    async stop() {
      clearInterval(healthTimer);
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          grpcServer.forceShutdown();
          resolve();
        }, 2000);
        grpcServer.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
      await new Promise<void>((resolve) => {
        httpServer.close(() => resolve());
        httpServer.closeAllConnections();
      });
      await registry.stop();
      const abandoned = await enforcer.drain();
      if (abandoned > 0) logger.warn({ abandoned }, 'stopped with store writes still unanswered');
    },
  };
}
