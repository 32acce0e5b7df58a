// govctl witness: run a C2SP tlog-witness in this process (the service of witness/, the same
// configuration file as witness/main.js), and print a witness's verifier key for the logs and
// verifiers that trust it. Its key is an Ed25519 PEM key as `govctl keys generate` writes it.
import type { Command } from 'commander';
import { nodeCrypto } from '../../core/crypto-node.js';
import { isGovernanceError } from '../../core/errors.js';
import { rawPublicKey } from '../../core/keys.js';
import { cosignatureVerifierKey, verifierKey } from '../../core/note.js';
import { readPrivateKey, readPublicKey } from '../../service/keys.js';
import { loadConfig } from '../../witness/config.js';
import { startWitnessService, witnessLogger } from '../../witness/service.js';
import { CliError, EXIT, emit, type OutputOptions } from '../output.js';

function usageError(e: unknown): never {
  if (isGovernanceError(e)) throw new CliError(`${e.code}: ${e.message}`);
  throw new CliError((e as Error).message, EXIT.unavailable);
}

export function registerWitnessCommands(program: Command, output: () => OutputOptions): void {
  const witness = program.command('witness').description('run a C2SP tlog-witness, show its verifier key');

  witness
    .command('serve')
    .description('run the witness (POST /add-checkpoint, /healthz, /metrics) until SIGINT or SIGTERM')
    .requiredOption('--config <file>', 'the witness YAML configuration (as for witness/main.js)')
    .action(async (opts: { config: string }) => {
      let running;
      try {
        const config = loadConfig(opts.config);
        running = await startWitnessService(config, witnessLogger(config));
      } catch (e) {
        usageError(e);
      }
      const { httpPort, verifierKey } = running;
      emit(output(), { http_port: httpPort, vkey: verifierKey }, () =>
        [`witness serving on port ${httpPort}`, `vkey ${verifierKey}`].join('\n'),
      );
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
      await running.stop();
    });

  witness
    .command('vkey')
    .description("print a witness's cosignature verifier key: <name>+<key ID>+base64(0x04 || public key)")
    .requiredOption('--key <file>', "the witness's Ed25519 private key (PEM, from govctl keys generate)")
    .requiredOption('--name <name>', "the witness's key name, e.g. witness.example/w1")
    .action((opts: { key: string; name: string }) => {
      let vkey: string;
      try {
        // Type 0x04 (cosignature/v1), not 0x01: c2sp.org/tlog-cosignature §Format.
        vkey = cosignatureVerifierKey(nodeCrypto, opts.name, rawPublicKey(readPrivateKey(opts.key)));
      } catch (e) {
        usageError(e);
      }
      emit(output(), { name: opts.name, vkey }, () => vkey);
    });
  witness
    .command('log-vkey')
    .description(
      "print a log's verifier key, which witnesses are configured with: <log id>+<key ID>+base64(0x01 || audit public key)",
    )
    .requiredOption('--audit-key <file>', "the log's audit public key (PEM), or its private key")
    .requiredOption('--log <id>', "the log id (the checkpoints' origin and key name), e.g. governance")
    .action((opts: { auditKey: string; log: string }) => {
      let vkey: string;
      try {
        let publicKey: Uint8Array;
        try {
          publicKey = readPublicKey(opts.auditKey);
        } catch {
          publicKey = rawPublicKey(readPrivateKey(opts.auditKey));
        }
        // Type 0x01: the log signs its checkpoints as a signed note (docs/spec/ledger.md §7.3).
        vkey = verifierKey(nodeCrypto, opts.log, publicKey);
      } catch (e) {
        usageError(e);
      }
      emit(output(), { log: opts.log, vkey }, () => vkey);
    });
}
