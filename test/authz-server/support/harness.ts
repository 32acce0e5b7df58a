// Starts a real enforcement point (gRPC on 127.0.0.1:0, HTTP on 127.0.0.1:0) wired with the
// given stores, a published World, and an Envoy-speaking client.
import { pino, type Logger } from 'pino';
import { MemoryRegistryStore } from '../../../store/registry-memory.js';
import { MemoryUseStateStore } from '../../../store/use-state-memory.js';
import type { RegistryStore, UseStateStore } from '../../../store/types.js';
import type { LedgerWriter } from '../../../ledger/types.js';
import type { AuthzConfigInput } from '../../../authz-server/config.js';
import { createAuthzServer, type AuthzServer, type AuthzServerDeps } from '../../../authz-server/server.js';
import { EnvoyClient } from './envoy-client.js';
import { RecordingLedger } from './recording-ledger.js';
import { testConfig, World } from './world.js';

/** Wall time plus an offset the test moves forward. */
export class TestClock {
  offsetMs = 0;
  readonly now = (): number => Date.now() + this.offsetMs;
}

export interface HarnessOptions {
  config?: Partial<AuthzConfigInput>;
  registryStore?: RegistryStore;
  useState?: UseStateStore;
  ledger?: LedgerWriter;
  /** Wraps the server's registry view (to inject failing lookups). */
  registry?: (deps: AuthzServerDeps) => AuthzServerDeps['registry'];
  publish?: boolean;
  /** The server's logger (silent unless given). */
  logger?: Logger;
  /** Another replica's world (same keys, same registry store); nothing is published again. */
  world?: World;
}

export interface Harness {
  world: World;
  clock: TestClock;
  ledger: RecordingLedger;
  server: AuthzServer;
  grpcPort: number;
  httpPort: number;
  client: EnvoyClient;
  close(): Promise<void>;
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const clock = new TestClock();
  const registryStore = options.world?.store ?? options.registryStore ?? new MemoryRegistryStore();
  const world = options.world ?? new World(registryStore, clock.now);
  if (options.world === undefined && options.publish !== false) await world.publish();
  const ledger = (options.ledger ?? new RecordingLedger()) as RecordingLedger;
  const useState = options.useState ?? new MemoryUseStateStore({ clock: clock.now });
  const deps: AuthzServerDeps = {
    config: testConfig(options.config),
    registryStore,
    useState,
    ledger,
    roots: world.roots,
    producer: world.producer,
    clock: clock.now,
    logger: options.logger ?? pino({ level: 'silent' }),
    registryBlockMs: 50,
    healthIntervalMs: 50,
  };
  if (options.registry) deps.registry = options.registry(deps);
  const server = createAuthzServer(deps);
  const { grpcPort, httpPort } = await server.start();
  const client = new EnvoyClient(grpcPort);
  return {
    world,
    clock,
    ledger,
    server,
    grpcPort,
    httpPort,
    client,
    async close() {
      client.close();
      await server.stop();
      (registryStore as Partial<MemoryRegistryStore>).close?.();
      (useState as Partial<MemoryUseStateStore>).close?.();
    },
  };
}

/** Polls until `condition` holds or the timeout passes; returns whether it held. */
export async function eventually(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 3000,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
}

let requestCounter = 0;
/** A fresh Envoy-style request id. */
export function requestId(): string {
  requestCounter++;
  return `6c1b2f3a-0d4e-4f5a-9b8c-${String(requestCounter).padStart(12, '0')}`;
}
