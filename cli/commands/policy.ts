// govctl policy: hash and validate policy documents with the authority's own parser and CEL
// compiler (authority/policy.ts), and publish or activate them through its admin API.
import type { Command } from 'commander';
import {
  compilePolicy,
  PolicyError,
  type CompiledPolicy,
  type PolicyProblem,
} from '../../authority/policy.js';
import {
  addAuthorityOptions,
  adminConnection,
  collect,
  namedValues,
  readText,
  withAuthority,
  type AuthorityOptions,
} from '../options.js';
import { CliError, emit, EXIT, type OutputOptions } from '../output.js';

type Checked =
  | { file: string; valid: true; ref: string; hash: string }
  | { file: string; valid: false; problems: PolicyProblem[] };

function check(file: string): Checked {
  try {
    const policy = compilePolicy(readText(file, 'policy file'));
    return { file, valid: true, ref: policy.ref, hash: policy.hash };
  } catch (e) {
    if (e instanceof PolicyError) return { file, valid: false, problems: e.problems };
    throw e;
  }
}

/** One line per problem, as compilers print them: file:line:column: path: message. */
function problemLines(file: string, problems: PolicyProblem[]): string[] {
  return problems.map(
    (p) => `${file}:${p.line > 0 ? `${p.line}:${p.column}:` : ''} ${p.path ? `${p.path}: ` : ''}${p.message}`,
  );
}

/** A policy that compiles, or a negative exit listing where it is wrong. */
function compiled(file: string): CompiledPolicy {
  try {
    return compilePolicy(readText(file, 'policy file'));
  } catch (e) {
    if (e instanceof PolicyError)
      throw new CliError(['policy.invalid', ...problemLines(file, e.problems)].join('\n'), EXIT.negative);
    throw e;
  }
}

interface AdminOptions extends AuthorityOptions {
  attribute: string[];
}

const attributes = (opts: AdminOptions) => namedValues(opts.attribute, '--attribute');

export function registerPolicyCommands(program: Command, output: () => OutputOptions): void {
  const policy = program
    .command('policy')
    .description('hash, validate, publish and activate policy documents');

  policy
    .command('hash')
    .description(
      "print a policy document's ref and hash (sha3-512 of its canonical JSON), as the authority computes them",
    )
    .argument('<file>', 'policy document (YAML or JSON)')
    .action((file: string) => {
      const { ref, hash } = compiled(file);
      emit(output(), { ref, hash }, () => `${hash}  ${ref}`);
    });

  policy
    .command('validate')
    .description(
      'parse and compile policy documents (schema and every CEL rule); each problem with line and column',
    )
    .argument('<files...>', 'policy documents')
    .action((files: string[]) => {
      const results = files.map(check);
      emit(output(), results, () =>
        results
          .flatMap((r) =>
            r.valid ? [`${r.file}: valid  ${r.ref}  ${r.hash}`] : problemLines(r.file, r.problems),
          )
          .join('\n'),
      );
      if (results.some((r) => !r.valid)) process.exitCode = EXIT.negative;
    });

  addAuthorityOptions(
    policy
      .command('publish')
      .description('publish a policy version through the admin API (governed by the admin policy, ledgered)')
      .argument('<file>', 'policy document')
      .option('--activate', 'activate it once published')
      .option('--attribute <name=value>', 'request attribute the admin policy sees, repeatable', collect, []),
  ).action(async (file: string, opts: AdminOptions & { activate?: boolean }) => {
    const source = readText(file, 'policy file');
    const { ref, hash } = compiled(file);
    const result = await withAuthority(opts, async (client) => {
      const admin = adminConnection(client);
      const published = await admin.call<{ ref: string; hash: string }>('Admin', 'PublishPolicy', {
        source,
        attributes: attributes(opts),
      });
      if (published.hash !== hash)
        throw new CliError(`the authority computed ${published.hash}, not ${hash}`, EXIT.negative);
      if (opts.activate)
        await admin.call('Admin', 'ActivatePolicy', { ref, hash, attributes: attributes(opts) });
      return { ref, hash, published: true, activated: opts.activate === true };
    });
    emit(output(), result, () => `published${result.activated ? ' and activated' : ''}  ${ref}  ${hash}`);
  });

  addAuthorityOptions(
    policy
      .command('activate')
      .description('make a published version the one that decides for its ref')
      .argument('[file]', 'the policy document (gives ref and hash)')
      .option('--ref <ref>', 'policy ref, e.g. policy://medical/inference/v3')
      .option('--hash <hash>', 'sha3-512:<hex> of the version')
      .option('--attribute <name=value>', 'request attribute the admin policy sees, repeatable', collect, []),
  ).action(async (file: string | undefined, opts: AdminOptions & { ref?: string; hash?: string }) => {
    const version = file ? compiled(file) : { ref: opts.ref, hash: opts.hash };
    if (!version.ref || !version.hash) throw new CliError('give the policy file, or --ref and --hash');
    const request = { ref: version.ref, hash: version.hash, attributes: attributes(opts) };
    await withAuthority(opts, (client) => adminConnection(client).call('Admin', 'ActivatePolicy', request));
    emit(
      output(),
      { ref: request.ref, hash: request.hash, activated: true },
      () => `activated  ${request.ref}  ${request.hash}`,
    );
  });
}
