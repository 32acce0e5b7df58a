// Enforces the dependency direction README.md describes ("Layout"):
//   core ← store ← ledger ← authority | authz-server | sequencer | witness ← devkit ← bench ← cli
//   core ← store ← service ← authority | authz-server | sequencer | witness
//   core ← client ← cli
// The services never import each other; the workload client library (client/) depends on
// the protocol core only, so a workload pulls in no server code; cli/ reaches bench/ from
// `govctl bench` alone; nothing shipped imports test/; core/ imports no I/O modules; the portable
// verifier (core/portable.ts and everything it reaches) imports no Node built-in at all, so it
// runs in a browser.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const SERVICE_BASE = ['core', 'store', 'ledger', 'service'];
const SERVICES = ['authority', 'authz-server', 'sequencer', 'witness'];
const ALLOWED: Record<string, readonly string[]> = {
  core: ['core'],
  store: ['core', 'store'],
  ledger: ['core', 'store', 'ledger'],
  // Start-up, configuration files, signals, key loading and opening the stores: the same for
  // every service.
  service: ['core', 'store', 'service'],
  authority: [...SERVICE_BASE, 'authority'],
  'authz-server': [...SERVICE_BASE, 'authz-server'],
  sequencer: [...SERVICE_BASE, 'sequencer'],
  witness: [...SERVICE_BASE, 'witness'],
  client: ['core', 'client'],
  // The development deployment (dev mode, the demo, the benchmarks and the tests start from it),
  // the Envoy request builders, and starting services and redis-server as child processes.
  devkit: [...SERVICE_BASE, ...SERVICES, 'devkit'],
  bench: [...SERVICE_BASE, ...SERVICES, 'devkit', 'bench'],
  cli: [...SERVICE_BASE, ...SERVICES, 'devkit', 'client', 'cli', 'bench'],
};
/**
 * Edges a room allows from one file only: `govctl bench` runs the Check benchmark's harness
 * against any ext_authz address, and is the one part of cli/ that may reach bench/.
 */
const ONLY_FROM: Record<string, Record<string, string>> = { cli: { bench: 'cli/commands/bench.ts' } };
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
          const only = ONLY_FROM[layer]?.[target];
          if (!ALLOWED[layer]!.includes(target) && !(isTest && target === 'test')) {
            problems.push(`${where}: ${layer}/ may not depend on ${target}/`);
          } else if (only !== undefined && relative(root, file) !== only) {
            problems.push(`${where}: ${layer}/ may depend on ${target}/ from ${only} only`);
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
