// govctl revoke: revoke an artifact (by id) or an issuer key (by kid) through the admin API. The
// revocation is signed by the authority, stored, ledgered, and followed by every enforcement
// point within its freshness bound; it is never removed.
import type { Command } from 'commander';
import { ARTIFACT_ID_PATTERN } from '../../core/protocol.js';
import type { RevocationRecord } from '../../core/registry.js';
import {
  addAuthorityOptions,
  adminConnection,
  collect,
  namedValues,
  withAuthority,
  type AuthorityOptions,
} from '../options.js';
import { emit, type OutputOptions } from '../output.js';
import { idOrHeader } from './artifact.js';

export function registerRevokeCommand(program: Command, output: () => OutputOptions): void {
  addAuthorityOptions(
    program
      .command('revoke')
      .description('revoke an artifact (auth_…) or a key (its kid: everything it signed is refused)')
      .argument('<target>', 'an artifact id, a kid, or an artifact header (@file, - for standard input)')
      .requiredOption('--reason <text>', 'why (printable ASCII; part of the signed revocation record)')
      .option(
        '--attribute <name=value>',
        'request attribute the admin policy sees, e.g. incident=INC-1234, repeatable',
        collect,
        [],
      ),
  ).action(async (source: string, opts: AuthorityOptions & { reason: string; attribute: string[] }) => {
    const target = idOrHeader(source);
    const isArtifact = ARTIFACT_ID_PATTERN.test(target);
    const attributes = namedValues(opts.attribute, '--attribute');
    const answer = await withAuthority(opts, (client) =>
      adminConnection(client).call<{ revocation_json: string; added: boolean }>(
        'Admin',
        isArtifact ? 'RevokeArtifact' : 'RevokeKey',
        isArtifact
          ? { artifact_id: target, reason: opts.reason, attributes }
          : { kid: target, reason: opts.reason, attributes },
      ),
    );
    const revocation = JSON.parse(answer.revocation_json) as RevocationRecord;
    emit(output(), { revocation, added: answer.added }, () =>
      answer.added
        ? `revoked ${isArtifact ? 'artifact' : 'key'} ${target} by ${revocation.by} at ${revocation.time}`
        : `${target} was already revoked (${revocation.time}); the earlier record stands`,
    );
  });
}
