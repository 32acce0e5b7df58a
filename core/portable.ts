// The portable verifier: everything a third party needs to verify artifacts (and, with the
// ledger spec, chains) using only @noble. No Node built-ins anywhere in its import closure;
// scripts/check-layers.ts enforces that.
export * from './canonical.js';
export * from './encoding.js';
export * from './errors.js';
export * from './time.js';
export * from './protocol.js';
export * from './artifact.js';
export * from './decision.js';
export type { CryptoSuite, Signer } from './crypto.js';
export { portableCrypto } from './crypto-portable.js';
export * from './event.js';
export * from './registry.js';
// Ledger v2 (docs/spec/ledger.md): the tree, signed notes, the lineage index, checkpoints, the
// strict record checks and the proofs, so a third party verifies inclusion, consistency and
// lineage (and exclusion) proofs with this library alone.
export * from './tlog.js';
export * from './note.js';
export * from './smt.js';
export * from './checkpoint.js';
export * from './chain.js';
export * from './proofs.js';
// Redaction (§3.1): a holder of an opening checks the clear value against the signed commitment.
export * from './redaction.js';
