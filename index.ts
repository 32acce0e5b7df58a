// The package's public entry point (`import … from 'execution-governance'`): the workload client
// library. The services run from their own entry points (dist/*/main.js) and govctl.
export * from './client/index.js';
export type { Artifact } from './core/artifact.js';
export type { Code } from './core/errors.js';
