// The Docker Compose stack and the image, checked without Docker: the compose file against the
// Compose Specification's schema, and compose file, Dockerfile and configs against each other.
import { dirname } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  composeProblems,
  composeSchemaProblems,
  dockerfileProblems,
  serverPorts,
  type ComposeContext,
} from './support/compose.js';
import { COMPOSE_FILE, ENVOY_CONFIGS, SERVER_CONFIGS } from './support/layout.js';
import { mutated, readRepoText, readYaml } from './support/repo.js';

type Obj = Record<string, unknown>;
const compose = readYaml(COMPOSE_FILE, { merge: true }) as Obj;
const tsconfig = JSON.parse(readRepoText('tsconfig.build.json')) as { include: string[] };
const context: ComposeContext = {
  folder: dirname(COMPOSE_FILE),
  frontProxy: readYaml(ENVOY_CONFIGS[0].path) as Obj,
  serverConfigs: Object.fromEntries(
    SERVER_CONFIGS.map((config) => [config.name, readYaml(config.compose) as Obj]),
  ) as ComposeContext['serverConfigs'],
  buildFolders: tsconfig.include,
};
const ports = Object.values(context.serverConfigs).flatMap(serverPorts);
const service = (copy: Obj, name: string): Obj => (copy.services as Obj)[name] as Obj;

describe(COMPOSE_FILE, () => {
  it('is valid under the Compose Specification schema', () => {
    expect(composeSchemaProblems(compose)).toEqual([]);
  });

  it('agrees with the Envoy config, the server configs, the build and the repository', () => {
    expect(composeProblems(compose, context)).toEqual([]);
  });
});

describe('the compose checks flag', () => {
  it('a field the Compose Specification does not know', () => {
    const copy = mutated(compose, (c) => (service(c, 'redis').healthchek = {}));
    expect(composeSchemaProblems(copy)).toContainEqual(
      expect.stringMatching(/must NOT have additional properties.*healthchek/),
    );
  });

  it.each<[string, (copy: Obj) => unknown, RegExp]>([
    ['a missing service', (c) => delete (c.services as Obj).echo, /service echo is missing/],
    [
      'another Envoy',
      (c) => (service(c, 'envoy').image = 'envoyproxy/envoy:v1.20-latest'),
      /envoy must run envoyproxy\/envoy:v1\.31-latest/,
    ],
    [
      'the sidecar config on the front proxy',
      (c) => ((service(c, 'envoy').volumes as string[])[0] = './sidecar/envoy.yaml:/etc/envoy/envoy.yaml:ro'),
      /envoy must load front-proxy\/envoy\.yaml/,
    ],
    [
      'TLS files not mounted',
      (c) => (service(c, 'envoy').volumes as string[]).pop(),
      /envoy: \/etc\/envoy\/tls\/server\.crt is not mounted/,
    ],
    [
      'a mount of a file not in the repository',
      (c) =>
        ((service(c, 'authz-server').volumes as string[])[0] =
          './config/authz.yml:/etc/governance/authz.yaml:ro'),
      /bind mount source \.\/config\/authz\.yml does not exist/,
    ],
    [
      'a key file nobody is told to make',
      (c) => ((service(c, 'sequencer').volumes as Obj[])[1]!.source = './keys/sequencer.key.pem'),
      /sequencer: bind mount source \.\/keys\/sequencer\.key\.pem does not exist \(nor does its folder's README list it\)/,
    ],
    [
      'keys not mounted',
      (c) => (service(c, 'authority').volumes as string[]).splice(1, 1),
      /authority: \/etc\/governance\/keys\/issuer\.key\.pem is not mounted/,
    ],
    [
      'an entry point the build does not produce',
      (c) => ((service(c, 'sequencer').command as string[])[1] = 'dist/ledger/sequencer-main.js'),
      /sequencer: runs dist\/ledger\/sequencer-main\.js/,
    ],
    [
      'a wrong published port',
      (c) => ((service(c, 'authority').ports as string[])[0] = '127.0.0.1:7071:7071'),
      /authority: must publish 7070, 7080/,
    ],
    [
      'Redis without an append-only file',
      (c) => (service(c, 'redis').command = ['redis-server']),
      /redis needs --appendonly yes/,
    ],
    [
      'the wrong Redis URL',
      (c) => (service(c, 'sequencer').environment = { REDIS_URL: 'redis://localhost:6379' }),
      /sequencer: needs REDIS_URL/,
    ],
  ])('%s', (_, mutate, expected) => {
    expect(composeProblems(mutated(compose, mutate), context)).toContainEqual(
      expect.stringMatching(expected),
    );
  });

  it('a front proxy that does not target the compose services', () => {
    const frontProxy = mutated(context.frontProxy, (c) => {
      const clusters = (c.static_resources as Obj).clusters as Obj[];
      clusters[1] = { ...clusters[1], load_assignment: { cluster_name: 'echo', endpoints: [] } };
    });
    expect(composeProblems(compose, { ...context, frontProxy })).toContainEqual(
      expect.stringMatching(/cluster echo must target echo:8080/),
    );
  });
});

describe('Dockerfile', () => {
  const dockerfile = readRepoText('Dockerfile');
  const dockerignore = readRepoText('.dockerignore');

  it('builds in stages on node:20-bookworm-slim, runs as non-root and bakes no keys in', () => {
    expect(dockerfileProblems(dockerfile, dockerignore, ports)).toEqual([]);
  });

  it.each<[string, (text: string) => string, RegExp]>([
    ['a root user', (t) => t.replace(/^USER .*$/m, 'USER root'), /numeric non-root USER/],
    ['no user at all', (t) => t.replace(/^USER .*$/m, ''), /numeric non-root USER/],
    [
      'keys copied in',
      (t) => t.replace('COPY . .', 'COPY . .\nCOPY envoy/keys /etc/governance/keys'),
      /would bake key material in/,
    ],
    [
      'a secret in the environment',
      (t) => t.replace('ENV NODE_ENV=production', 'ENV ISSUER_KEY=abc'),
      /looks like a secret/,
    ],
    [
      'dev dependencies kept',
      (t) => t.replace(' && npm prune --omit=dev --ignore-scripts', ''),
      /must run npm prune --omit=dev/,
    ],
    ['one stage', (t) => t.replace(/^FROM node:20-bookworm-slim$/m, ''), /must be multi-stage/],
    [
      'the proto files left out',
      (t) => t.replace(/^COPY --from=build \/app\/proto .*$/m, ''),
      /must copy proto\//,
    ],
    [
      'another base image',
      (t) => t.replace(/^FROM node:20-bookworm-slim$/m, 'FROM node:20'),
      /node:20-bookworm-slim/,
    ],
  ])('flag %s', (_, edit, expected) => {
    expect(dockerfileProblems(edit(dockerfile), dockerignore, ports)).toContainEqual(
      expect.stringMatching(expected),
    );
  });

  it('flag a build context that would carry keys', () => {
    const problems = dockerfileProblems(dockerfile, dockerignore.replace('envoy/keys\n', ''), ports);
    expect(problems).toEqual(['Dockerfile: .dockerignore must exclude envoy/keys']);
  });
});
