// Enforces the dependency direction README.md describes ("Layout"):
//   core ← store ← ledger ← authority | authz-server ← bench ← cli
//   core ← client ← cli
// authority/ and authz-server/ never import each other; the workload client library (client/)
// depends on the protocol core only, so a workload pulls in no server code; nothing shipped imports test/;
// core/ imports no I/O modules; the portable verifier (core/portable.ts and everything it
// reaches) imports no Node built-in at all, so it runs in a browser.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const ALLOWED: Record<string, readonly string[]> = {
  core: ['core'],
  store: ['core', 'store'],
  ledger: ['core', 'store', 'ledger'],
  authority: ['core', 'store', 'ledger', 'authority'],
  'authz-server': ['core', 'store', 'ledger', 'authz-server'],
  client: ['core', 'client'],
  // cli → bench: `govctl bench` runs the Check benchmark's harness (bench/lib/check-command.ts)
  // against any ext_authz address, and `govctl check` builds its CheckRequest with the harness's
  // builder (bench/lib/check-request.ts), so there is one of each. bench/ imports nothing from
  // cli/: the development deployment writer both start from is bench/lib/dev-deployment.ts.
  cli: ['core', 'store', 'ledger', 'authority', 'authz-server', 'client', 'bench', 'cli'],
  bench: ['core', 'store', 'ledger', 'authority', 'authz-server', 'bench'],
};
/** Packages core/ may use: hashing, signatures and nothing that performs I/O. */
const CORE_PACKAGES = [/^node:crypto$/, /^@noble\//];
const PORTABLE_ENTRY = 'core/portable.ts';

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

function importsOf(file: string): string[] {
  const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  return info.importedFiles.map((f) => f.fileName);
}

function topFolder(root: string, path: string): string {
  return relative(root, path).split(sep)[0]!;
}

/** The .ts file a relative specifier points to. */
function resolveLocal(from: string, specifier: string): string {
  return resolve(dirname(from), specifier).replace(/\.js$/, '.ts');
}

export function checkLayers(root: string = ROOT): string[] {
  const problems: string[] = [];
  for (const layer of Object.keys(ALLOWED)) {
    let files: string[];
    try {
      files = sourceFiles(join(root, layer));
    } catch {
      continue; // the folder does not exist yet
    }
    for (const file of files) {
      const isTest = file.endsWith('.test.ts');
      for (const specifier of importsOf(file)) {
        const where = `${relative(root, file)} imports ${specifier}`;
        if (specifier.startsWith('.')) {
          const target = topFolder(root, resolveLocal(file, specifier));
          if (!ALLOWED[layer]!.includes(target) && !(isTest && target === 'test')) {
            problems.push(`${where}: ${layer}/ may not depend on ${target}/`);
          }
        } else if (layer === 'core' && !isTest && !CORE_PACKAGES.some((re) => re.test(specifier))) {
          problems.push(`${where}: core/ may only use node:crypto and @noble/* (no I/O)`);
        }
      }
    }
  }
  // The portable verifier's closure must not reach any Node built-in.
  const seen = new Set<string>();
  const queue = [join(root, PORTABLE_ENTRY)];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    let specifiers: string[];
    try {
      specifiers = importsOf(file);
    } catch {
      problems.push(`${relative(root, file)} is missing`);
      continue;
    }
    for (const specifier of specifiers) {
      if (specifier.startsWith('.')) queue.push(resolveLocal(file, specifier));
      else if (specifier.startsWith('node:') || !specifier.startsWith('@noble/')) {
        problems.push(
          `${relative(root, file)} imports ${specifier}: the portable verifier must use @noble/* only`,
        );
      }
    }
  }
  return problems;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const problems = checkLayers();
  for (const p of problems) console.error(`layer violation: ${p}`);
  if (problems.length > 0) process.exit(1);
  console.log('layers: ok');
}
