import type { Command } from 'commander';
import {
  base64urlEncode,
  certifyKey,
  formatSeconds,
  generatePrivateKey,
  hexEncode,
  keyFromPem,
  keyToJwk,
  nodeCrypto,
  privateKeyToPem,
  publicKeyToPem,
  rawPublicKey,
  signSync,
  type KeyRole,
} from '../../core/index.js';
import { readText, writeText } from '../options.js';
import { CliError, emit, type OutputOptions } from '../output.js';

function readKey(path: string) {
  const text = readText(path, 'key file');
  try {
    return keyFromPem(text);
  } catch (e) {
    throw new CliError(`${path}: ${(e as Error).message}`);
  }
}

/** A short, stable fingerprint of a public key: SHA3-512 of the raw key, first 16 bytes, hex. */
export function fingerprint(raw: Uint8Array): string {
  return 'sha3-512:' + hexEncode(nodeCrypto.sha3_512(raw).subarray(0, 16));
}

function describeKey(path: string) {
  const key = readKey(path);
  const raw = rawPublicKey(key);
  return {
    type: key.type,
    public_key: base64urlEncode(raw),
    fingerprint: fingerprint(raw),
    jwk: keyToJwk(key.type === 'private' ? keyFromPem(publicKeyToPem(key)) : key),
    pem: publicKeyToPem(key),
  };
}

const ROLES: KeyRole[] = ['issuer', 'producer', 'audit'];

export function registerKeyCommands(program: Command, output: () => OutputOptions): void {
  const keys = program.command('keys').description('generate, show and certify Ed25519 keys');

  keys
    .command('generate')
    .description('generate an Ed25519 key pair: <out>.key.pem (PKCS#8, mode 0600) and <out>.pub.pem (SPKI)')
    .requiredOption('--out <prefix>', 'path prefix of the two files')
    .action((opts: { out: string }) => {
      const key = generatePrivateKey();
      writeText(`${opts.out}.key.pem`, privateKeyToPem(key), 'private key', { mode: 0o600 });
      writeText(`${opts.out}.pub.pem`, publicKeyToPem(key), 'public key', {});
      const raw = rawPublicKey(key);
      const result = {
        private_key_file: `${opts.out}.key.pem`,
        public_key_file: `${opts.out}.pub.pem`,
        public_key: base64urlEncode(raw),
        fingerprint: fingerprint(raw),
      };
      emit(
        output(),
        result,
        () =>
          `wrote ${result.private_key_file} and ${result.public_key_file}\nfingerprint ${result.fingerprint}`,
      );
    });

  keys
    .command('show')
    .description(
      'show a PEM key (private or public) as raw base64url, JWK and PEM; never prints private material',
    )
    .argument('<file>', 'PEM file')
    .action((file: string) => {
      const info = describeKey(file);
      emit(output(), info, () =>
        [
          `type         ${info.type}`,
          `public key   ${info.public_key}`,
          `fingerprint  ${info.fingerprint}`,
          `jwk          ${JSON.stringify(info.jwk)}`,
          info.pem.trimEnd(),
        ].join('\n'),
      );
    });

  keys
    .command('certify')
    .description(
      'sign a key record with a root key, so that enforcement points pinning the root accept the key',
    )
    .requiredOption('--root <file>', 'root private key (PKCS#8 PEM)')
    .requiredOption('--root-kid <kid>', 'kid of the root key')
    .requiredOption('--key <file>', 'the key to certify (PEM; only its public half is used)')
    .requiredOption('--kid <kid>', 'kid of the certified key')
    .requiredOption('--role <role>', `one of ${ROLES.join(', ')}`)
    .requiredOption('--subject <id>', 'issuer id, producer id or ledger log id the key speaks for')
    .option('--not-before <time>', 'RFC 3339 UTC, whole seconds (default: now)')
    .option('--not-after <time>', 'RFC 3339 UTC, whole seconds (default: 90 days after not-before)')
    .option('--out <file>', 'write the record to this file instead of standard output')
    .action(
      (opts: {
        root: string;
        rootKid: string;
        key: string;
        kid: string;
        role: string;
        subject: string;
        notBefore?: string;
        notAfter?: string;
        out?: string;
      }) => {
        if (!ROLES.includes(opts.role as KeyRole))
          throw new CliError(`--role must be one of ${ROLES.join(', ')}`);
        const root = readKey(opts.root);
        if (root.type !== 'private') throw new CliError('--root must be a private key');
        const notBefore = opts.notBefore ?? formatSeconds(Date.now() / 1000);
        const notAfter = opts.notAfter ?? formatSeconds(Date.parse(notBefore) / 1000 + 90 * 86_400);
        let record;
        try {
          record = certifyKey(
            {
              v: '1',
              kid: opts.kid,
              role: opts.role as KeyRole,
              public_key: base64urlEncode(rawPublicKey(readKey(opts.key))),
              subject: opts.subject,
              not_before: notBefore,
              not_after: notAfter,
            },
            opts.rootKid,
            (message) => signSync(root, message),
          );
        } catch (e) {
          throw new CliError((e as Error).message);
        }
        const text = JSON.stringify(record, null, 2) + '\n';
        if (opts.out) writeText(opts.out, text, 'key record');
        emit(output(), record, () =>
          opts.out ? `wrote key record ${opts.kid} to ${opts.out}` : text.trimEnd(),
        );
      },
    );
}
