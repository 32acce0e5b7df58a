// governance_build_info: which version of which service runs on which Node, as a gauge of 1 (the
// Prometheus convention), so a dashboard or alert can tell a mixed or outdated rollout.
import { Gauge, type Registry } from 'prom-client';
import { PACKAGE_VERSION } from './package.js';

export function registerBuildInfo(registry: Registry, service: string): void {
  new Gauge({
    name: 'governance_build_info',
    help: 'The running build: 1, labelled with the service, its version and the Node.js version.',
    labelNames: ['service', 'version', 'node'],
    registers: [registry],
    // The same in every worker of a process group (authz-server/workers.ts).
    aggregator: 'max',
  }).set({ service, version: PACKAGE_VERSION, node: process.versions.node }, 1);
}
