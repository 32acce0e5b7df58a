import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import {
  ARTIFACT_HEADER,
  decide,
  decodeArtifact,
  formatSeconds,
  isGovernanceError,
  lineageOf,
  parseSeconds,
  portableCrypto,
  type Environment,
} from '../../core/portable.js';
import { keyFromPem, rawPublicKey } from '../../core/keys.js';
import {
  addAuthorityOptions,
  collect,
  namedValues,
  pairs,
  readText,
  withAuthority,
  writeText,
  type AuthorityOptions,
} from '../options.js';
import { CliError, emit, EXIT, type OutputOptions } from '../output.js';

/** The header value from an argument, a file (@path) or standard input (-). */
export function readHeader(source: string): string {
  let text = source;
  if (source === '-') text = readFileSync(0, 'utf8');
  else if (source.startsWith('@')) text = readText(source.slice(1), 'artifact file');
  text = text.trim();
  // Accept a pasted "x-execution-artifact: <value>" line as well as the bare value.
  const prefix = `${ARTIFACT_HEADER}:`;
  if (text.toLowerCase().startsWith(prefix)) text = text.slice(prefix.length).trim();
  return text;
}

/** An id (or lineage) as given, or the id of an artifact given as a header value (@file, -). */
export function idOrHeader(source: string): string {
  if (source !== '-' && !source.startsWith('@')) return source;
  const header = readHeader(source);
  try {
    return decodeArtifact(header).artifact.id;
  } catch (e) {
    throw new CliError(`${source} does not hold an artifact: ${(e as Error).message}`);
  }
}

interface RequestOptions extends AuthorityOptions {
  op: string;
  param: string[];
  scope: string[];
  identity?: string;
  runtime?: string;
  region?: string;
  tenancy?: string;
  policy?: string;
  attribute: string[];
  out?: string;
}

interface VerifyOptions {
  key: string[];
  issuer?: string;
  now?: string;
  identity?: string;
  operation?: string;
  param: string[];
  scope: string[];
  policy?: string;
  policyHash: string[];
  runtime?: string;
  region?: string;
  tenancy?: string;
  revoked: string[];
  skew: string;
}

export function registerArtifactCommands(program: Command, output: () => OutputOptions): void {
  const artifact = program
    .command('artifact')
    .description('request, inspect and verify authorization artifacts');

  addAuthorityOptions(
    artifact
      .command('request')
      .description(
        'ask the authority for an artifact for one operation (through the client library, over gRPC or HTTP)',
      )
      .requiredOption('--op <name>', 'operation name, e.g. model.invoke')
      .option('--param <name=value>', 'an operation parameter, repeatable', collect, [])
      .option('--scope <entry>', 'a scope entry, repeatable', collect, [])
      .option('--identity <id>', "the identity the artifact is for (default: the caller's own)")
      .option('--runtime <runtime>', 'where it will run (may be fixed by the policy rule)')
      .option('--region <region>', 'region')
      .option('--tenancy <tenancy>', 'tenancy')
      .option('--policy <ref>', 'the policy to decide under (default: the one governing the operation)')
      .option('--attribute <name=value>', 'a request attribute the policy sees, repeatable', collect, [])
      .option('--out <file>', 'also write the header value to this file (for --artifact @file)'),
  ).action(async (opts: RequestOptions) => {
    const environment = Object.fromEntries(
      (['runtime', 'region', 'tenancy'] as const).flatMap((k) => (opts[k] ? [[k, opts[k]]] : [])),
    );
    const issued = await withAuthority(opts, (client) =>
      client.requestArtifact({
        operation: {
          name: opts.op,
          params: namedValues(opts.param, '--param'),
          scope: opts.scope,
        },
        environment,
        attributes: namedValues(opts.attribute, '--attribute'),
        ...(opts.identity ? { identity: opts.identity } : {}),
        ...(opts.policy ? { policy: opts.policy } : {}),
      }),
    );
    if (opts.out) writeText(opts.out, issued.header + '\n', 'artifact file');
    emit(
      output(),
      {
        artifact_id: issued.id,
        lineage: issued.lineage,
        expires_at: issued.expiresAt,
        artifact_header: issued.header,
        artifact: issued.artifact,
      },
      () =>
        [
          `issued ${issued.id}  ${issued.lineage}  expires ${issued.expiresAt}`,
          opts.out ? `header written to ${opts.out}` : issued.header,
        ].join('\n'),
    );
  });

  artifact
    .command('inspect')
    .description('decode a header value and print the artifact (does NOT verify the signature)')
    .argument('<header>', 'the header value, @file, or - for standard input')
    .action((source: string) => {
      try {
        const decoded = decodeArtifact(readHeader(source));
        const a = decoded.artifact;
        const info = { artifact: a, lineage: lineageOf(a.id), verified: false };
        emit(output(), info, () =>
          [
            `${a.id}  (signature NOT verified; use 'govctl artifact verify')`,
            `lineage   ${info.lineage}`,
            `issuer    ${a.iss}   kid ${a.sig.kid}`,
            `subject   ${a.sub}`,
            `operation ${a.op.name} ${JSON.stringify(decoded.operation.params)} scope [${a.op.scope.join(', ')}]`,
            `policy    ${a.pol.ref}  ${a.pol.hash.slice(0, 25)}…`,
            `env       ${a.env.runtime}  ${a.env.region}  ${a.env.tenancy}`,
            `window    ${a.nbf} → ${a.exp}`,
            `use       ${JSON.stringify(a.use)}`,
          ].join('\n'),
        );
      } catch (e) {
        if (isGovernanceError(e)) throw new CliError(`${e.code}: ${e.message}`, EXIT.negative);
        throw e;
      }
    });

  artifact
    .command('verify')
    .description(
      'verify offline with public keys through the portable verifier: signature, content hash, id, validity ' +
        'window; and every binding given by a flag (defaults to what the artifact claims). Use state is not checked.',
    )
    .argument('<header>', 'the header value, @file, or - for standard input')
    .requiredOption('--key <kid=file>', 'a trusted issuer public key (PEM), repeatable', collect, [])
    .option(
      '--issuer <iss>',
      'the issuer the keys are certified for (default: the issuer the artifact names)',
    )
    .option('--now <time>', 'RFC 3339 UTC, whole seconds (default: now)')
    .option('--identity <id>', 'caller identity to check against sub')
    .option('--operation <name>', 'operation name to check')
    .option('--param <name=value>', 'operation parameter, repeatable (with --operation)', collect, [])
    .option('--scope <entry>', 'requested scope entry, repeatable (with --operation)', collect, [])
    .option('--policy <ref>', 'policy ref the route requires')
    .option('--policy-hash <hash>', 'a known policy version hash, repeatable', collect, [])
    .option('--runtime <runtime>', 'runtime environment to check')
    .option('--region <region>', 'region to check')
    .option('--tenancy <tenancy>', 'tenancy to check')
    .option('--revoked <id>', 'a revoked artifact id or kid, repeatable', collect, [])
    .option('--skew <seconds>', 'clock-skew allowance', '0')
    .action(async (source: string, opts: VerifyOptions) => {
      const header = readHeader(source);
      const keys = new Map(
        pairs(opts.key, '--key').map(([kid, file]) => [
          kid,
          rawPublicKey(keyFromPem(readText(file, 'key file'))),
        ]),
      );
      const now = opts.now === undefined ? Math.floor(Date.now() / 1000) : parseSeconds(opts.now);
      if (now === undefined) throw new CliError('--now must be RFC 3339 UTC in whole seconds');
      const skew = Number(opts.skew);
      if (!Number.isSafeInteger(skew) || skew < 0)
        throw new CliError('--skew must be a whole number of seconds');
      // Bindings default to the artifact's own claims, so a bare verify checks integrity and time.
      let claimed;
      try {
        claimed = decodeArtifact(header);
      } catch {
        claimed = undefined;
      }
      const a = claimed?.artifact;
      const environment: Environment = {
        runtime: opts.runtime ?? a?.env.runtime ?? '',
        region: opts.region ?? a?.env.region ?? '',
        tenancy: opts.tenancy ?? a?.env.tenancy ?? '',
      };
      const operation = opts.operation
        ? {
            name: opts.operation,
            params: namedValues(opts.param, '--param'),
            scope: opts.scope,
          }
        : (claimed?.operation ?? { name: '', params: {}, scope: [] });
      const decision = await decide(
        {
          header,
          identity: opts.identity ?? a?.sub,
          operation: { ...operation, policy: opts.policy ?? a?.pol.ref ?? '' },
          environment,
          now,
        },
        {
          suite: portableCrypto,
          skewSeconds: skew,
          keys: (kid) => {
            const publicKey = keys.get(kid);
            return publicKey && { publicKey, issuer: opts.issuer ?? a?.iss ?? '' };
          },
          revocations: {
            isArtifactRevoked: (id) => opts.revoked.includes(id),
            isKeyRevoked: (kid) => opts.revoked.includes(kid),
          },
          policies: (_ref, hash) => (opts.policyHash.length === 0 ? true : opts.policyHash.includes(hash)),
          consume: () => true,
        },
      );
      const result = decision.allow
        ? {
            valid: true,
            artifact_id: decision.artifact.id,
            lineage: decision.lineage,
            checked_at: formatSeconds(now),
          }
        : {
            valid: false,
            reason: decision.reason,
            message: decision.message,
            checked_at: formatSeconds(now),
          };
      emit(output(), result, () =>
        decision.allow
          ? `valid  ${decision.artifact.id}  ${decision.lineage}`
          : `INVALID  ${decision.reason}: ${decision.message}`,
      );
      if (!decision.allow) process.exitCode = EXIT.negative;
    });
}
