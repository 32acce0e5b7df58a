// The Docker Compose stack and the image: the compose file against the Compose Specification's
// own JSON schema (shipped in node_modules/docker-compose), and both against the configs they
// carry, since neither can run here (no Docker engine).
import { createRequire } from 'node:module';
import { posix } from 'node:path';
import AjvModule from 'ajv';
import { clustersOf, endpointsOf, listenerPorts } from './envoy-config.js';
import { Problems } from './problems.js';
import { isObject, isRepoFolder, readRepoText, repoFileExists, repoFilesIn } from './repo.js';
import { SERVER_CONFIGS } from './layout.js';
import type { SequencerView } from './sequencer.js';
import { isUnder, type WitnessDeploymentView } from './witnesses.js';

type ServerName = (typeof SERVER_CONFIGS)[number]['name'];

type Obj = Record<string, unknown>;
const obj = (value: unknown): Obj => (isObject(value) ? value : {});
const strings = (value: unknown): string[] => (Array.isArray(value) ? value.map(String) : []);

const require = createRequire(import.meta.url);
const COMPOSE_SPEC = require('docker-compose/schema/compose-spec.json') as Obj;
/** The services built from this repository, and the server config each one reads, if any. */
export const OUR_SERVICES: Record<string, ServerName> = {
  'authz-server': 'authz',
  authority: 'authority',
  sequencer: 'sequencer',
  'witness-a': 'witness-a',
  'witness-b': 'witness-b',
  'witness-c': 'witness-c',
};
const ENVOY_IMAGE = 'envoyproxy/envoy:v1.31-latest';

export function composeSchemaProblems(compose: unknown): string[] {
  // The spec names its meta-schema by an https URL Ajv does not know; the schema is what counts.
  const { $schema: _metaSchema, ...schema } = COMPOSE_SPEC;
  const Ajv = AjvModule.default;
  const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
  if (validate(compose)) return [];
  return (validate.errors ?? []).map(
    (error) => `${error.instancePath || '/'} ${error.message ?? ''} ${JSON.stringify(error.params)}`,
  );
}

interface Mount {
  source: string;
  target: string;
  readOnly: boolean;
}

/** Short-syntax (`source:target[:mode]`) and long-syntax volumes; bind mounts have a ./ or ../ source. */
function mountsOf(service: Obj): Mount[] {
  const volumes: unknown[] = Array.isArray(service.volumes) ? service.volumes : [];
  return volumes.map((volume) => {
    if (isObject(volume)) {
      return {
        source: String(volume.source ?? ''),
        target: String(volume.target ?? ''),
        readOnly: volume.read_only === true,
      };
    }
    const [source = '', target = '', mode = ''] = String(volume).split(':');
    return { source, target, readOnly: mode.split(',').includes('ro') };
  });
}

const isBind = (mount: Mount): boolean => /^\.\.?\//.test(mount.source);

/** The files an operator folder's README lists (the first, back-quoted column of its tables). */
export function documentedFiles(folder: string): string[] {
  const readme = posix.join(folder, 'README.md');
  if (!repoFileExists(readme)) return [];
  return [...readRepoText(readme).matchAll(/^\|\s*`([^`]+)`/gm)].map((match) => match[1]!);
}

/**
 * Whether a bind mount source (relative to the compose folder) will be there: a file of the
 * repository, or one the operator makes in a folder of the repository whose README lists it
 * (keys, TLS files: never committed).
 */
function bindSourceExists(folder: string, source: string): boolean {
  const path = posix.join(folder, source);
  return repoFileExists(path) || documentedFiles(posix.dirname(path)).includes(posix.basename(path));
}

/** The container paths a config names under `root` (key files, TLS files, policies). */
function pathsUnder(value: unknown, root: string): string[] {
  if (typeof value === 'string') return value.startsWith(root) ? [value] : [];
  if (Array.isArray(value)) return value.flatMap((item) => pathsUnder(item, root));
  return isObject(value) ? Object.values(value).flatMap((item) => pathsUnder(item, root)) : [];
}

export interface ComposeContext {
  /** The folder the compose file is in, relative to the repository. */
  folder: string;
  frontProxy: Obj;
  serverConfigs: Record<ServerName, Obj>;
  /** The folders tsconfig.build.json compiles into dist/. */
  buildFolders: string[];
}

/** The ports a server config listens on: its gRPC and HTTP listeners, those it has. */
export function serverPorts(config: Obj): number[] {
  return ['grpc', 'http']
    .filter((listener) => listener in config)
    .map((listener) => Number(obj(config[listener]).port));
}

export function composeProblems(compose: Obj, context: ComposeContext): string[] {
  const problems = new Problems();
  const services = obj(compose.services);
  const service = (name: string): Obj => obj(services[name]);
  for (const name of ['envoy', ...Object.keys(OUR_SERVICES), 'redis', 'echo']) {
    problems.need(name in services, `service ${name} is missing`);
  }
  const mounted = (name: string, path: string): Mount | undefined =>
    mountsOf(service(name)).find((mount) => path === mount.target || path.startsWith(`${mount.target}/`));
  for (const [name, entry] of Object.entries(services)) {
    for (const { source } of mountsOf(obj(entry)).filter(isBind)) {
      problems.need(
        bindSourceExists(context.folder, source),
        `${name}: bind mount source ${source} does not exist (nor does its folder's README list it)`,
      );
    }
  }

  const envoy = service('envoy');
  problems.need(envoy.image === ENVOY_IMAGE, `envoy must run ${ENVOY_IMAGE}`);
  const envoyCommand = strings(envoy.command);
  const bootstrapPath = envoyCommand[envoyCommand.indexOf('-c') + 1] ?? '';
  problems.need(
    mounted('envoy', bootstrapPath)?.source === './front-proxy/envoy.yaml',
    `envoy must load front-proxy/envoy.yaml`,
  );
  for (const file of pathsUnder(context.frontProxy, '/etc/envoy/')) {
    problems.need(mounted('envoy', file) !== undefined, `envoy: ${file} is not mounted`);
  }
  const published = strings(envoy.ports).map((port) => Number(port.split(':').at(-1)));
  problems.need(
    listenerPorts(context.frontProxy).every((port) => published.includes(Number(port))),
    'envoy must publish the front proxy listener port',
  );

  const redis = service('redis');
  const redisCommand = strings(redis.command).join(' ');
  problems.need(
    redisCommand.includes('--appendonly yes') && redisCommand.includes('--appendfsync everysec'),
    'redis needs --appendonly yes --appendfsync everysec',
  );
  const dataVolume = mountsOf(redis).find((mount) => mount.target === '/data')?.source ?? '';
  problems.need(dataVolume in obj(compose.volumes), 'redis needs a named volume at /data');

  for (const [name, configName] of Object.entries(OUR_SERVICES)) {
    const entry = service(name);
    const need = (ok: boolean, problem: string): void => problems.need(ok, `${name}: ${problem}`);
    const build = obj(entry.build);
    need(
      repoFileExists(posix.join(context.folder, String(build.context), String(build.dockerfile))),
      'must build from the repository Dockerfile',
    );
    const config = context.serverConfigs[configName];
    // The witnesses use no Redis.
    if ('redis' in config)
      need(obj(entry.environment).REDIS_URL === 'redis://redis:6379', 'needs REDIS_URL=redis://redis:6379');
    const command = strings(entry.command);
    const script = /^dist\/(([^/]+)\/[^/]+)\.js$/.exec(command[1] ?? '');
    need(
      command[0] === 'node' &&
        script !== null &&
        context.buildFolders.includes(script[2]!) &&
        repoFileExists(`${script[1]}.ts`),
      `runs ${command[1]}, which tsconfig.build.json does not build`,
    );
    const configPath = command[command.indexOf('--config') + 1] ?? '';
    const configFile = posix.basename(SERVER_CONFIGS.find((entry) => entry.name === configName)!.compose);
    need(
      mounted(name, configPath)?.source === `./config/${configFile}`,
      `--config ${configPath} must be config/${configFile}`,
    );
    for (const path of pathsUnder(config, '/etc/governance/'))
      need(mounted(name, path) !== undefined, `${path} is not mounted`);
    const published = strings(entry.ports)
      .map((port) => Number(port.split(':').at(-1)))
      .sort();
    const listening = serverPorts(config).sort();
    // A witness is published nowhere: only the sequencer is to reach it.
    if (name.startsWith('witness-')) need(published.length === 0, 'must publish nothing');
    else
      need(JSON.stringify(published) === JSON.stringify(listening), `must publish ${listening.join(', ')}`);
  }

  // The front proxy reaches its clusters by compose service name.
  const authzPort = obj(context.serverConfigs.authz.grpc).port;
  for (const [clusterName, expected] of [
    ['governance_authz', { address: 'authz-server', port: authzPort }],
    ['echo', { address: 'echo', port: 8080 }],
  ] as const) {
    const endpoints = endpointsOf(clustersOf(context.frontProxy).get(clusterName) ?? {});
    problems.need(
      endpoints.length > 0 &&
        endpoints.every(
          (endpoint) => endpoint.address === expected.address && endpoint.port === expected.port,
        ),
      `front proxy cluster ${clusterName} must target ${expected.address}:${String(expected.port)}`,
    );
  }
  problems.need(
    strings(service('echo').command).includes('-listen=:8080') &&
      strings(service('echo').expose).includes('8080'),
    'echo must listen on 8080',
  );
  return problems.list;
}

/** A Dockerfile as instructions, continuation lines joined and comments dropped. */
function instructions(dockerfile: string): Array<{ op: string; args: string }> {
  return dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const [op = '', ...rest] = line.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(' ') };
    });
}

export const RUNTIME_FOLDERS = ['dist', 'proto'];

export function dockerfileProblems(dockerfile: string, dockerignore: string, ports: number[]): string[] {
  const problems = new Problems('Dockerfile: ');
  const steps = instructions(dockerfile);
  const stages = steps.filter((step) => step.op === 'FROM');
  problems.need(stages.length >= 2, 'must be multi-stage');
  problems.need(
    stages.every((stage) => stage.args.split(' ')[0] === 'node:20-bookworm-slim'),
    'every stage must be node:20-bookworm-slim',
  );
  const runs = steps
    .filter((step) => step.op === 'RUN')
    .map((step) => step.args)
    .join(' && ');
  for (const command of ['npm ci', 'npm run build', 'npm prune --omit=dev'])
    problems.need(runs.includes(command), `must run ${command}`);
  const last = steps.slice(steps.lastIndexOf(stages.at(-1)!));
  const user = last.filter((step) => step.op === 'USER').at(-1)?.args ?? '';
  problems.need(
    /^[1-9]\d*(:\d+)?$/.test(user),
    `the final stage must run as a numeric non-root USER, has "${user}"`,
  );
  problems.need(
    last.some((step) => step.op === 'CMD' || step.op === 'ENTRYPOINT'),
    'the final stage needs a CMD',
  );
  const exposed = last
    .filter((step) => step.op === 'EXPOSE')
    .flatMap((step) => step.args.split(/\s+/).map(Number));
  for (const port of ports) problems.need(exposed.includes(port), `must EXPOSE ${port}`);
  // Folders the services read at run time, beside dist/ (the authority loads its .proto file).
  const copied = last.filter((step) => step.op === 'COPY').map((step) => step.args);
  for (const folder of RUNTIME_FOLDERS) {
    problems.need(
      copied.some((args) => args.includes(`/app/${folder} `)),
      `the final stage must copy ${folder}/ (read at run time)`,
    );
  }
  for (const step of steps.filter((entry) => ['COPY', 'ADD'].includes(entry.op))) {
    problems.need(
      !/(keys|tls|\.pem|\.key)\b/.test(step.args),
      `${step.op} ${step.args} would bake key material in`,
    );
  }
  for (const step of steps.filter((entry) => ['ENV', 'ARG'].includes(entry.op))) {
    problems.need(
      !/(KEY|SECRET|TOKEN|PASSWORD)/i.test(step.args),
      `${step.op} ${step.args} looks like a secret`,
    );
  }
  const ignored = dockerignore.split('\n').map((line) => line.trim());
  for (const entry of ['.git', 'node_modules', 'envoy/keys', 'envoy/tls', '**/*.pem', '**/*.key']) {
    problems.need(ignored.includes(entry), `.dockerignore must exclude ${entry}`);
  }
  return problems.list;
}

/**
 * The sequencer service as test/deploy/support/sequencer.ts checks it, `configs` being the server
 * configs by name; file names are repository paths.
 */
export function composeSequencerView(
  compose: Obj,
  folder: string,
  configs: Record<string, Obj>,
): SequencerView {
  const service = obj(obj(compose.services).sequencer);
  const problems: string[] = [];
  const mounts = mountsOf(service).filter(isBind);
  const sourcePath = (mount: Mount): string => posix.join(folder, mount.source);
  const fileAt = (path: string): string | undefined => {
    const mount = mounts
      .filter((entry) => path === entry.target || path.startsWith(`${entry.target}/`))
      .sort((a, b) => b.target.length - a.target.length)[0];
    if (!mount) return undefined;
    const file = posix.join(sourcePath(mount), path.slice(mount.target.length));
    return bindSourceExists('.', file) ? file : undefined;
  };
  const command = strings(service.command);
  const configFile = command.includes('--config')
    ? fileAt(command[command.indexOf('--config') + 1] ?? '')
    : undefined;
  const server = SERVER_CONFIGS.find((entry) => entry.compose === configFile);
  const exposed = mounts.flatMap((mount) => {
    if (!mount.readOnly) problems.push(`mount of ${mount.source} must be read-only`);
    const path = sourcePath(mount);
    if (!isRepoFolder(path)) return [path];
    // A whole folder: everything its README tells the operator to put there, and what is there.
    const present = repoFilesIn(path).filter((file) => !file.endsWith('/README.md'));
    return [...new Set([...documentedFiles(path).map((file) => posix.join(path, file)), ...present])];
  });
  return { config: server && configs[server.name], configFile, fileAt, exposed, problems };
}

/** The networks a compose service is on (`default` when it names none). */
function networksOf(service: Obj): string[] {
  const networks = service.networks;
  if (Array.isArray(networks)) return networks.map(String);
  return isObject(networks) ? Object.keys(networks) : ['default'];
}

/** The witnesses as test/deploy/support/witnesses.ts checks them; key sources are host paths. */
export function composeWitnessView(
  compose: Obj,
  folder: string,
  configs: Record<string, Obj>,
): WitnessDeploymentView {
  const services = obj(compose.services);
  const namedVolumes = Object.keys(obj(compose.volumes));
  const witnesses = Object.entries(services)
    .filter(([, service]) => strings(obj(service).command)[1] === 'dist/witness/main.js')
    .map(([name, value]) => {
      const service = obj(value);
      const mounts = mountsOf(service);
      const at = (path: string): Mount | undefined =>
        mounts
          .filter((mount) => isUnder(path, mount.target))
          .sort((a, b) => b.target.length - a.target.length)[0];
      const command = strings(service.command);
      const configMount = at(command[command.indexOf('--config') + 1] ?? '');
      const entry = SERVER_CONFIGS.find(
        (config) => configMount && config.compose === posix.join(folder, configMount.source),
      );
      const config = entry && configs[entry.name];
      const keyMount = at(String(obj(config).keyFile ?? ''));
      const keySource =
        keyMount && isBind(keyMount)
          ? posix.join(folder, keyMount.source, String(obj(config).keyFile).slice(keyMount.target.length))
          : undefined;
      const stateMount = at(String(obj(config).stateDir ?? ''));
      return {
        workload: name,
        config,
        address: { host: name, port: Number(strings(service.expose)[0] ?? NaN) || undefined },
        keySource,
        keyAlsoMountedBy: Object.entries(services)
          .filter(([other]) => other !== name)
          .filter(([, other]) =>
            mountsOf(obj(other))
              .filter(isBind)
              .some(
                (mount) => keySource !== undefined && isUnder(keySource, posix.join(folder, mount.source)),
              ),
          )
          .map(([other]) => other),
        state: stateMount && {
          volume: stateMount.source,
          persistent: !isBind(stateMount) && namedVolumes.includes(stateMount.source),
          writable: !stateMount.readOnly,
        },
      };
    });
  return {
    sequencer: configs.sequencer ?? {},
    producers: { authz: configs.authz ?? {}, authority: configs.authority ?? {} },
    witnesses,
  };
}

/** Who shares a network with a witness: only the sequencer (and the other witnesses) may. */
export function composeWitnessNetworkProblems(compose: Obj): string[] {
  const problems = new Problems('witnesses: ');
  const services = Object.entries(obj(compose.services)).map(([name, service]) => ({
    name,
    service: obj(service),
  }));
  const isWitness = (service: Obj): boolean => strings(service.command)[1] === 'dist/witness/main.js';
  const sequencer = services.find((entry) => entry.name === 'sequencer');
  for (const witness of services.filter((entry) => isWitness(entry.service))) {
    const networks = networksOf(witness.service);
    problems.need(
      sequencer !== undefined && networksOf(sequencer.service).some((network) => networks.includes(network)),
      `${witness.name}: the sequencer shares no network with it`,
    );
    for (const other of services.filter((entry) => entry.name !== 'sequencer' && !isWitness(entry.service))) {
      problems.need(
        !networksOf(other.service).some((network) => networks.includes(network)),
        `${witness.name}: ${other.name} shares a network with it`,
      );
    }
  }
  return problems.list;
}
