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
export * from './merkle.js';
export * from './event.js';
export * from './registry.js';
