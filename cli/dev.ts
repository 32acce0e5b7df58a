// `npm start`: dev mode. The one-process dev mode (authority, ext_authz server and ledger on an
// in-memory store) arrives with issue #7; until then this says so plainly.
console.error(
  'dev mode is not built yet: the authority, ext_authz server and ledger land in later issues.\n' +
    'What works today: `npm test` (protocol core: canonical bytes, artifact v1, both verifiers, vectors).',
);
process.exit(1);
