// The protocol core: the portable verifier plus the Node-only pieces (OpenSSL crypto, keys).
export * from './portable.js';
export { nodeCrypto } from './crypto-node.js';
export * from './keys.js';
