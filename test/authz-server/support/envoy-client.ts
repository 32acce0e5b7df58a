// Speaks to the server as Envoy does: CheckRequests written in proto3 JSON (the fixtures in
// ../fixtures use the exact JSON names of envoy.service.auth.v3.CheckRequest) are encoded with
// Envoy's own protos into wire bytes and sent over a real gRPC channel; responses are decoded
// back into proto3 JSON names, as Envoy would read them.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, credentials, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import protobuf from 'protobufjs';

const require = createRequire(import.meta.url);
const DEPS = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
const INCLUDE_DIRS = [
  ...['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((dir) => join(DEPS, dir)),
  dirname(require.resolve('protobufjs/package.json')),
];
const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');

const root = new protobuf.Root();
root.resolvePath = (_origin, target) => {
  for (const dir of INCLUDE_DIRS) {
    const path = join(dir, target);
    if (existsSync(path)) return path;
  }
  return target;
};
root.loadSync('envoy/service/auth/v3/external_auth.proto');
root.resolveAll();
const CheckRequest = root.lookupType('envoy.service.auth.v3.CheckRequest');
const CheckResponse = root.lookupType('envoy.service.auth.v3.CheckResponse');

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** proto3 JSON → protobufjs object: JSON names (or proto names) to fields, Timestamps from RFC 3339. */
function fromProto3Json(type: protobuf.Type, json: { [key: string]: Json }): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(json)) {
    const field =
      type.fields[key] ??
      type.fieldsArray.find((f) => f.name === key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()));
    if (field === undefined) throw new Error(`fixture: ${type.fullName} has no field ${key}`);
    const convert = (item: Json): unknown => {
      const nested = field.resolvedType;
      if (!(nested instanceof protobuf.Type)) return item;
      if (nested.fullName === '.google.protobuf.Timestamp' && typeof item === 'string') {
        const ms = Date.parse(item);
        return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
      }
      return fromProto3Json(nested, item as { [key: string]: Json });
    };
    if (field.map) {
      out[field.name] = Object.fromEntries(
        Object.entries(value as { [key: string]: Json }).map(([k, v]) => [k, convert(v)]),
      );
    } else if (field.repeated) {
      out[field.name] = (value as Json[]).map(convert);
    } else {
      out[field.name] = convert(value);
    }
  }
  return out;
}

/** A fixture file: what the request is and shows (`desc`), where its shape comes from, the request. */
export interface FixtureFile {
  desc: string;
  source: string;
  check_request: { [key: string]: Json };
}

/** Every fixture file by name (test/authz-server/fixtures/<name>.json). */
export function fixtureFiles(): Map<string, FixtureFile> {
  return new Map(
    readdirSync(FIXTURES)
      .filter((file) => file.endsWith('.json'))
      .map((file) => [
        file.slice(0, -'.json'.length),
        JSON.parse(readFileSync(join(FIXTURES, file), 'utf8')) as FixtureFile,
      ]),
  );
}

/**
 * A fixture's CheckRequest in proto3 JSON with its placeholders filled in: "<artifact>",
 * "<other-artifact>", "<request-id>", and each one's "<name-raw>" twin (base64 of the value, as
 * header_map raw_value bytes are spelled in proto3 JSON). A header whose whole value is a
 * placeholder without a value is left out.
 */
export function fixture(
  name: string,
  values: Record<string, string | undefined> = {},
): { [key: string]: Json } {
  const json = (JSON.parse(readFileSync(join(FIXTURES, `${name}.json`), 'utf8')) as FixtureFile)
    .check_request;
  const all: Record<string, string> = {};
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined) continue;
    all[key] = value;
    all[`${key}-raw`] = Buffer.from(value, 'latin1').toString('base64');
  }
  const fill = (node: Json): Json => {
    if (typeof node === 'string') {
      const whole = /^<([a-z-]+)>$/.exec(node);
      if (whole && all[whole[1]!] === undefined) return null;
      return node.replace(/<([a-z-]+)>/g, (m, key: string) => all[key] ?? m);
    }
    if (Array.isArray(node)) return node.map(fill).filter((item) => !isDroppedHeader(item));
    if (node !== null && typeof node === 'object') {
      const out: { [key: string]: Json } = {};
      for (const [k, v] of Object.entries(node)) {
        const filled = fill(v);
        if (filled !== null) out[k] = filled;
      }
      return out;
    }
    return node;
  };
  return fill(json) as { [key: string]: Json };
}

/** A header_map entry whose value placeholder had no value. */
function isDroppedHeader(item: Json): boolean {
  return (
    item !== null &&
    typeof item === 'object' &&
    !Array.isArray(item) &&
    'key' in item &&
    !('value' in item) &&
    !('rawValue' in item)
  );
}

export interface CheckAnswer {
  status?: { code?: number; message?: string };
  okResponse?: {
    headers?: { header: { key: string; value: string }; appendAction?: string }[];
    headersToRemove?: string[];
  };
  deniedResponse?: {
    status?: { code?: string };
    headers?: { header: { key: string; value: string } }[];
    body?: string;
  };
}

/** A proto3-JSON CheckRequest in its wire encoding. */
export function checkRequestBytes(request: { [key: string]: Json }): Buffer {
  const message = CheckRequest.fromObject(fromProto3Json(CheckRequest, request));
  return Buffer.from(CheckRequest.encode(message).finish());
}

export class EnvoyClient {
  private readonly client: Client;

  constructor(port: number, channelCredentials: ChannelCredentials = credentials.createInsecure()) {
    this.client = new Client(`127.0.0.1:${port}`, channelCredentials);
  }

  /** Sends a proto3-JSON CheckRequest; rejects only on a gRPC error (which a test treats as a failure). */
  check(request: { [key: string]: Json }, deadlineMs = 5000, signal?: AbortSignal): Promise<CheckAnswer> {
    return this.checkBytes(checkRequestBytes(request), deadlineMs, signal);
  }

  /** Sends `bytes` as the CheckRequest message, valid protobuf or not; `signal` cancels the call. */
  checkBytes(bytes: Buffer, deadlineMs = 5000, signal?: AbortSignal): Promise<CheckAnswer> {
    return new Promise((resolve, reject) => {
      const call = this.client.makeUnaryRequest(
        '/envoy.service.auth.v3.Authorization/Check',
        (b: Buffer) => b,
        (b: Buffer) =>
          CheckResponse.toObject(CheckResponse.decode(b), {
            enums: String,
            longs: String,
            oneofs: true,
          }) as CheckAnswer,
        bytes,
        { deadline: Date.now() + deadlineMs },
        (error: ServiceError | null, answer?: CheckAnswer) => (error ? reject(error) : resolve(answer!)),
      );
      signal?.addEventListener('abort', () => call.cancel(), { once: true });
    });
  }

  close(): void {
    this.client.close();
  }
}

export function deniedBody(answer: CheckAnswer): Record<string, unknown> {
  return JSON.parse(answer.deniedResponse?.body ?? '{}') as Record<string, unknown>;
}

export function headerOf(answer: CheckAnswer, name: string): string | undefined {
  const headers = answer.okResponse?.headers ?? answer.deniedResponse?.headers ?? [];
  return headers.find((h) => h.header.key === name)?.header.value;
}
