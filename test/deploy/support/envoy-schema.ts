// Strict validation of Envoy YAML against Envoy's own v3 API protos (shipped in
// @grpc/grpc-js-xds/deps). protobufjs' fromObject silently drops what it does not know, so this
// walks each value against the message descriptors itself and reports what Envoy would reject:
// unknown, duplicated or deprecated fields, wrong scalar types, unknown enum values, malformed
// well-known types, an Any whose @type does not resolve, conflicting oneof members, and the
// protoc-gen-validate (PGV) rules the API declares. It also checks that a filter's `name` is an
// extension name its typed_config's proto declares (`[#extension: ...]`), stricter than Envoy,
// which picks the factory by type URL: a name that disagrees with the type misleads readers and
// typed_per_filter_config keys.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import protobuf from 'protobufjs';

const require = createRequire(import.meta.url);
const DEPS = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
/** The API's import roots; protobufjs' own folder supplies google/protobuf/descriptor.proto. */
const INCLUDE_DIRS = [
  ...['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((dir) => join(DEPS, dir)),
  dirname(require.resolve('protobufjs/package.json')),
];
const TYPE_URL_PREFIX = 'type.googleapis.com/';

export interface VisitedMessage {
  /** Fully qualified message name, without the leading dot. */
  type: string;
  path: string;
  /** The fields present, by proto (snake_case) name. */
  fields: Map<string, unknown>;
}

export interface CheckResult {
  issues: string[];
  /** Paths of fields spelled by their JSON (lowerCamel) name rather than their proto name. */
  jsonNamed: string[];
  /** Every message object met, Any payloads included, in document order. */
  messages: VisitedMessage[];
}

type Rules = Record<string, unknown>;

const INT32 = { min: -(2 ** 31), max: 2 ** 31 - 1 };
const UINT32 = { min: 0, max: 2 ** 32 - 1 };
const INT_TYPES: Record<string, { min: number; max: number }> = {
  int32: INT32,
  sint32: INT32,
  sfixed32: INT32,
  uint32: UINT32,
  fixed32: UINT32,
};
const INT64_TYPES: Record<string, { min: bigint; max: bigint }> = {
  int64: { min: -(2n ** 63n), max: 2n ** 63n - 1n },
  sint64: { min: -(2n ** 63n), max: 2n ** 63n - 1n },
  sfixed64: { min: -(2n ** 63n), max: 2n ** 63n - 1n },
  uint64: { min: 0n, max: 2n ** 64n - 1n },
  fixed64: { min: 0n, max: 2n ** 64n - 1n },
};
const WRAPPERS: Record<string, string> = {
  'google.protobuf.DoubleValue': 'double',
  'google.protobuf.FloatValue': 'float',
  'google.protobuf.Int64Value': 'int64',
  'google.protobuf.UInt64Value': 'uint64',
  'google.protobuf.Int32Value': 'int32',
  'google.protobuf.UInt32Value': 'uint32',
  'google.protobuf.BoolValue': 'bool',
  'google.protobuf.StringValue': 'string',
  'google.protobuf.BytesValue': 'bytes',
};
/** Types whose payload hides its real schema from any validator; configs must not use them. */
const OPAQUE_TYPES = new Set(['udpa.type.v1.TypedStruct', 'xds.type.v3.TypedStruct']);
const DURATION = /^(-)?(\d+)(?:\.(\d{1,9}))?s$/;
const MAX_DURATION_SECONDS = 315_576_000_000n;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** PGV's well-known regexes (validate.proto): strict RFC 7230 forms, or the loose one. */
const HEADER_REGEX: Record<string, RegExp> = {
  HTTP_HEADER_NAME: /^:?[0-9a-zA-Z!#$%&'*+\-.^_|~`]+$/,
  // eslint-disable-next-line no-control-regex
  HTTP_HEADER_VALUE: /^[^\u0000-\u0008\u000A-\u001F\u007F]*$/,
  // eslint-disable-next-line no-control-regex
  LOOSE: /^[^\u0000\u000A\u000D]*$/,
};

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function jsonName(protoName: string): string {
  return protoName.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** A Duration string (`0.25s`) as nanoseconds, or undefined when malformed or out of range. */
export function durationNanos(value: unknown): bigint | undefined {
  const match = typeof value === 'string' ? DURATION.exec(value) : null;
  if (!match) return undefined;
  const seconds = BigInt(match[2]!);
  if (seconds > MAX_DURATION_SECONDS) return undefined;
  const nanos = seconds * 1_000_000_000n + BigInt((match[3] ?? '').padEnd(9, '0'));
  return match[1] ? -nanos : nanos;
}

/** The proto3 default a field reads as when absent (enums: their zero value). */
function defaultOf(field: protobuf.Field): unknown {
  if (field.map) return {};
  if (field.repeated) return [];
  if (field.type === 'string' || field.type === 'bytes') return '';
  return field.type === 'bool' ? false : 0;
}

/** protobufjs keeps option values as numbers, strings or Long objects: all print as decimals. */
function optionNumber(value: unknown): number {
  return Number(String(value));
}

/** PGV's repeated rule values (`in`, `not_in`) read back as a scalar when only one is given. */
function optionList(value: unknown): unknown[] | undefined {
  return value === undefined ? undefined : Array.isArray(value) ? value : [value];
}

function ruleDurationNanos(value: unknown): bigint {
  const { seconds = 0, nanos = 0 } = value as { seconds?: unknown; nanos?: unknown };
  return BigInt(String(seconds)) * 1_000_000_000n + BigInt(String(nanos));
}

function mergeRules(into: Rules, from: Rules): Rules {
  for (const [key, value] of Object.entries(from)) {
    const existing = into[key];
    into[key] = isObject(existing) && isObject(value) ? mergeRules({ ...existing }, value) : value;
  }
  return into;
}

/** The `(validate.rules)` of a field, merged from every place protobufjs put them. */
function fieldRules(field: protobuf.Field): Rules | undefined {
  const entries = (field.parsedOptions as unknown as Rules[] | undefined) ?? [];
  let rules: Rules | undefined;
  for (const entry of entries) {
    const value = entry['(validate.rules)'];
    if (isObject(value)) rules = mergeRules(rules ?? {}, value);
  }
  return rules;
}

/** Every `.proto` under envoy/ whose imports all resolve: the extensions this API snapshot ships. */
function loadableProtos(resolve: (target: string) => string | undefined): string[] {
  const memo = new Map<string, boolean>();
  const loadable = (target: string): boolean => {
    const known = memo.get(target);
    if (known !== undefined) return known;
    memo.set(target, true); // import cycles resolve optimistically
    const path = resolve(target);
    const ok =
      path !== undefined &&
      (path === target ||
        [...readFileSync(path, 'utf8').matchAll(/^import\s+(?:public\s+|weak\s+)?"([^"]+)";/gm)].every(
          (match) => loadable(match[1]!),
        ));
    memo.set(target, ok);
    return ok;
  };
  const apiRoot = join(DEPS, 'envoy-api');
  const protos = readdirSync(join(apiRoot, 'envoy'), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.proto'))
    .map((file) => `envoy/${file.split('\\').join('/')}`);
  return protos.filter(loadable);
}

export class EnvoySchema {
  private static cached: EnvoySchema | undefined;
  private readonly jsonNames = new Map<protobuf.Type, Map<string, protobuf.Field>>();
  private readonly extensionNamesByFile = new Map<string, Set<string>>();

  private constructor(private readonly root: protobuf.Root) {}

  static load(): EnvoySchema {
    if (!EnvoySchema.cached) {
      // Well-known types come from protobufjs' bundled definitions (`target` itself).
      const resolve = (target: string): string | undefined =>
        protobuf.common.get(target)
          ? target
          : INCLUDE_DIRS.map((dir) => join(dir, target)).find((path) => existsSync(path));
      const root = new protobuf.Root();
      root.resolvePath = (_origin, target) => resolve(target) ?? target;
      root.loadSync(loadableProtos(resolve), { keepCase: true });
      root.resolveAll();
      EnvoySchema.cached = new EnvoySchema(root);
    }
    return EnvoySchema.cached;
  }

  /** The message type a `type.googleapis.com/...` URL names, if this API snapshot has it. */
  typeOfUrl(url: unknown): protobuf.Type | undefined {
    if (typeof url !== 'string' || !url.startsWith(TYPE_URL_PREFIX)) return undefined;
    const found = this.root.lookup(url.slice(TYPE_URL_PREFIX.length));
    return found instanceof protobuf.Type ? found : undefined;
  }

  /** Checks `value` as an instance of message `typeName` (fully qualified, no leading dot). */
  check(typeName: string, value: unknown): CheckResult {
    const walk = new Walk(this);
    walk.message(this.root.lookupType(typeName), value, '');
    return { issues: walk.issues, jsonNamed: walk.jsonNamed, messages: walk.messages };
  }

  /** An enum's values by name, e.g. envoy.type.v3.StatusCode. */
  enumValues(enumName: string): Record<string, number> {
    return this.root.lookupEnum(enumName).values;
  }

  /** Fields of `typeName` that Envoy's API marks `configure_for_untrusted_downstream`. */
  untrustedDownstreamFields(typeName: string): string[] {
    return this.root
      .lookupType(typeName)
      .fieldsArray.filter((field) =>
        ((field.parsedOptions as unknown as Rules[] | undefined) ?? []).some((option) => {
          const security = option['(udpa.annotations.security)'];
          return isObject(security) && security.configure_for_untrusted_downstream === true;
        }),
      )
      .map((field) => field.name);
  }

  fieldOf(type: protobuf.Type, key: string): protobuf.Field | undefined {
    let byJson = this.jsonNames.get(type);
    if (!byJson) {
      byJson = new Map(type.fieldsArray.map((field) => [jsonName(field.name), field]));
      this.jsonNames.set(type, byJson);
    }
    return type.fields[key] ?? byJson.get(key);
  }

  /** The `[#extension: name]` annotations of the .proto file that defines `type`. */
  extensionNames(type: protobuf.Type): Set<string> {
    let owner: protobuf.ReflectionObject | null = type;
    while (owner && !owner.filename) owner = owner.parent;
    const file = owner?.filename ?? '';
    let names = this.extensionNamesByFile.get(file);
    if (!names) {
      const text = file ? readFileSync(file, 'utf8') : '';
      names = new Set([...text.matchAll(/\[#extension: ([\w.]+)\]/g)].map((match) => match[1]!));
      this.extensionNamesByFile.set(file, names);
    }
    return names;
  }
}

/** One validation pass: collects issues and the messages met. */
class Walk {
  readonly issues: string[] = [];
  readonly jsonNamed: string[] = [];
  readonly messages: VisitedMessage[] = [];

  constructor(private readonly schema: EnvoySchema) {}

  private issue(path: string, message: string): void {
    this.issues.push(`${path || '(root)'}: ${message}`);
  }

  message(type: protobuf.Type, value: unknown, path: string): void {
    const name = type.fullName.slice(1);
    if (this.wellKnown(name, value, path)) return;
    if (!isObject(value)) return this.issue(path, `expected a ${name} object`);
    const fields = new Map<string, unknown>();
    for (const [key, item] of Object.entries(value)) {
      const at = path ? `${path}.${key}` : key;
      const field = this.schema.fieldOf(type, key);
      if (!field) {
        this.issue(at, `unknown field of ${name}`);
        continue;
      }
      if (key !== field.name) this.jsonNamed.push(at);
      if (fields.has(field.name)) this.issue(at, `${field.name} given twice (proto and JSON name)`);
      if (field.options?.deprecated === true) this.issue(at, `deprecated field ${name}.${field.name}`);
      fields.set(field.name, item);
      this.field(field, item, at);
    }
    this.messages.push({ type: name, path, fields });
    for (const oneof of type.oneofsArray) {
      const set = oneof.oneof.filter((member) => fields.has(member));
      if (set.length > 1) this.issue(path, `oneof ${oneof.name} has several members set: ${set.join(', ')}`);
      if (set.length === 0 && oneof.options?.['(validate.required)'] === true) {
        this.issue(path, `one of ${oneof.oneof.join(', ')} is required`);
      }
    }
    for (const field of type.fieldsArray) {
      if (!fields.has(field.name) && !field.partOf) this.absent(field, path);
    }
    this.extensionName(fields, name, path);
  }

  /** PGV rules apply to absent proto3 fields as to their default value. */
  private absent(field: protobuf.Field, path: string): void {
    const rules = fieldRules(field);
    if (!rules) return;
    const at = path ? `${path}.${field.name}` : field.name;
    const required = ['message', 'duration', 'timestamp', 'any'].some(
      (kind) => isObject(rules[kind]) && rules[kind].required === true,
    );
    if (required) return this.issue(at, 'required field is missing');
    if (field.resolvedType instanceof protobuf.Type) return; // an unset message has no value to check
    this.rules(rules, defaultOf(field), field, at);
  }

  private field(field: protobuf.Field, value: unknown, path: string): void {
    if (value === null) return this.issue(path, 'null is not a value (omit the field instead)');
    const rules = fieldRules(field);
    if (field instanceof protobuf.MapField) {
      if (!isObject(value)) return this.issue(path, 'expected a map');
      for (const [key, item] of Object.entries(value)) {
        this.mapKey(field, key, item, `${path}[${key}]`);
        this.single(field, item, `${path}[${key}]`);
      }
    } else if (field.repeated) {
      if (!Array.isArray(value)) return this.issue(path, 'expected a list');
      value.forEach((item: unknown, index) => this.single(field, item, `${path}[${index}]`));
    } else {
      this.single(field, value, path);
    }
    if (rules) this.rules(rules, value, field, path);
  }

  private mapKey(field: protobuf.MapField, key: string, item: unknown, path: string): void {
    if (field.keyType !== 'string') {
      const parsed = field.keyType === 'bool' ? key === 'true' || key === 'false' : /^-?\d+$/.test(key);
      if (!parsed) this.issue(path, `map key is not a ${field.keyType}`);
    }
    // Envoy looks protocol options up by this key and ignores nothing it cannot find: a typo
    // here would silently drop e.g. the HTTP/2 setting, so the key must name the payload.
    if (field.fullName === '.envoy.config.cluster.v3.Cluster.typed_extension_protocol_options') {
      const type = isObject(item) ? this.schema.typeOfUrl(item['@type']) : undefined;
      if (type && key !== type.fullName.slice(1) && !this.schema.extensionNames(type).has(key)) {
        this.issue(path, `key names neither ${type.fullName.slice(1)} nor its extension`);
      }
    }
  }

  private single(field: protobuf.Field, value: unknown, path: string): void {
    const resolved = field.resolvedType;
    if (resolved instanceof protobuf.Type) this.message(resolved, value, path);
    else if (resolved instanceof protobuf.Enum) this.enumValue(resolved, value, path);
    else this.scalar(field.type, value, path);
  }

  private enumValue(type: protobuf.Enum, value: unknown, path: string): void {
    const name =
      typeof value === 'string' ? value : Object.keys(type.values).find((key) => type.values[key] === value);
    if (name === undefined || type.values[name] === undefined) {
      return this.issue(path, `${JSON.stringify(value)} is not a value of ${type.fullName.slice(1)}`);
    }
    if (type.valuesOptions?.[name]?.deprecated === true) this.issue(path, `deprecated enum value ${name}`);
  }

  private scalar(kind: string, value: unknown, path: string): void {
    const ok = (() => {
      if (kind === 'string') return typeof value === 'string';
      if (kind === 'bool') return typeof value === 'boolean';
      if (kind === 'bytes') return typeof value === 'string' && BASE64.test(value);
      if (kind === 'double' || kind === 'float') return typeof value === 'number' && Number.isFinite(value);
      const int = INT_TYPES[kind];
      if (int) return Number.isInteger(value) && (value as number) >= int.min && (value as number) <= int.max;
      const int64 = INT64_TYPES[kind];
      if (int64) {
        // Proto3 JSON writes 64-bit integers as strings; YAML authors write plain numbers.
        const text = Number.isSafeInteger(value) ? String(value) : typeof value === 'string' ? value : '';
        return /^-?\d+$/.test(text) && BigInt(text) >= int64.min && BigInt(text) <= int64.max;
      }
      throw new Error(`unhandled scalar type ${kind}`);
    })();
    if (!ok) this.issue(path, `${JSON.stringify(value)} is not a valid ${kind}`);
  }

  /** Well-known types have their own JSON forms; true when `name` is one (and was checked). */
  private wellKnown(name: string, value: unknown, path: string): boolean {
    const fail = (expected: string): void => this.issue(path, `expected ${expected} for ${name}`);
    const wrapped = WRAPPERS[name];
    if (wrapped) this.scalar(wrapped, value, path);
    else if (name === 'google.protobuf.Any') this.any(value, path);
    else if (name === 'google.protobuf.Duration') {
      if (durationNanos(value) === undefined) fail('a duration string such as "0.25s"');
    } else if (name === 'google.protobuf.Timestamp') {
      if (typeof value !== 'string' || !TIMESTAMP.test(value)) fail('an RFC 3339 timestamp');
    } else if (name === 'google.protobuf.FieldMask') {
      if (typeof value !== 'string') fail('a comma-separated path list');
    } else if (name === 'google.protobuf.Struct') {
      if (!isObject(value)) fail('an object');
    } else if (name === 'google.protobuf.ListValue') {
      if (!Array.isArray(value)) fail('a list');
    } else if (name === 'google.protobuf.Empty') {
      if (!isObject(value) || Object.keys(value).length > 0) fail('{}');
    } else if (name !== 'google.protobuf.Value') {
      return false;
    }
    return true;
  }

  private any(value: unknown, path: string): void {
    if (!isObject(value)) return this.issue(path, 'expected an object with @type');
    const { '@type': url, ...payload } = value;
    const type = this.schema.typeOfUrl(url);
    if (!type) {
      return this.issue(
        `${path}.@type`,
        `${JSON.stringify(url)} is not a type.googleapis.com/ URL of a known type`,
      );
    }
    const name = type.fullName.slice(1);
    if (OPAQUE_TYPES.has(name)) return this.issue(path, `${name} hides the real schema; use its @type`);
    // A well-known type inside an Any carries its JSON form under `value`.
    if (this.wellKnown(name, payload.value, `${path}.value`)) {
      const extra = Object.keys(payload).filter((key) => key !== 'value');
      if (extra.length > 0) this.issue(path, `unknown field(s) ${extra.join(', ')} beside value`);
      return;
    }
    this.message(type, payload, path);
  }

  private extensionName(fields: Map<string, unknown>, typeName: string, path: string): void {
    const name = fields.get('name');
    const config = fields.get('typed_config');
    // TypedExtensionConfig.name is documented as an opaque identifier, not an extension name.
    if (typeName === 'envoy.config.core.v3.TypedExtensionConfig' || typeof name !== 'string') return;
    const type = isObject(config) ? this.schema.typeOfUrl(config['@type']) : undefined;
    const declared = type ? this.schema.extensionNames(type) : new Set<string>();
    if (declared.size > 0 && !declared.has(name)) {
      this.issue(
        `${path}.name`,
        `"${name}" is not the extension name of its typed_config (${[...declared].join(', ')})`,
      );
    }
  }

  private rules(rules: Rules, value: unknown, field: protobuf.Field, path: string): void {
    for (const [kind, spec] of Object.entries(rules)) {
      if (!isObject(spec)) continue;
      if (spec.ignore_empty === true && this.isEmpty(value)) continue;
      const problem = this.rule(kind, spec, value, field, path);
      if (problem) this.issue(path, `violates (validate.rules).${kind}: ${problem}`);
    }
  }

  private isEmpty(value: unknown): boolean {
    if (Array.isArray(value)) return value.length === 0;
    if (isObject(value)) return Object.keys(value).length === 0;
    return value === '' || value === 0 || value === false;
  }

  /** One PGV rule kind; returns what is wrong, if anything. */
  private rule(
    kind: string,
    spec: Rules,
    value: unknown,
    field: protobuf.Field,
    path: string,
  ): string | undefined {
    const checked = new Set(['ignore_empty']);
    const take = (key: string): unknown => {
      checked.add(key);
      return spec[key];
    };
    let problem: string | undefined;
    if (kind === 'message' || kind === 'any') {
      take('required'); // presence is checked where the field is absent
      take('skip');
      const allowed = optionList(take('in'));
      const url = isObject(value) ? value['@type'] : undefined;
      if (allowed && !allowed.includes(url)) problem = `@type must be one of ${allowed.join(', ')}`;
    } else if (kind === 'repeated' || kind === 'map') {
      const items = Array.isArray(value) ? value : isObject(value) ? Object.entries(value) : [];
      const min = take(kind === 'map' ? 'min_pairs' : 'min_items');
      const max = take(kind === 'map' ? 'max_pairs' : 'max_items');
      if (min !== undefined && items.length < optionNumber(min))
        problem = `needs at least ${String(min)} entries`;
      if (max !== undefined && items.length > optionNumber(max))
        problem = `allows at most ${String(max)} entries`;
      if (
        take('unique') === true &&
        new Set(items.map((item) => JSON.stringify(item))).size !== items.length
      ) {
        problem = 'entries must be unique';
      }
      const itemRules = take('items');
      if (isObject(itemRules) && Array.isArray(value)) {
        value.forEach((item: unknown, index) => this.rules(itemRules, item, field, `${path}[${index}]`));
      }
      const keyRules = take('keys');
      const valueRules = take('values');
      take('no_sparse');
      if (isObject(value)) {
        for (const [key, item] of Object.entries(value)) {
          if (isObject(keyRules)) this.rules(keyRules, key, field, `${path}[${key}]`);
          if (isObject(valueRules)) this.rules(valueRules, item, field, `${path}[${key}]`);
        }
      }
    } else if (kind === 'string') {
      problem = this.stringRule(take, value);
    } else if (kind === 'enum') {
      take('defined_only'); // enumValue already requires a defined value
      const number =
        typeof value === 'number' ? value : (field.resolvedType as protobuf.Enum).values[String(value)];
      problem = this.numberRule(take, number ?? NaN);
    } else if (kind === 'bool') {
      const expected = take('const');
      if (expected !== undefined && value !== expected) problem = `must be ${String(expected)}`;
    } else if (kind === 'duration') {
      take('required');
      const nanos = durationNanos(value);
      if (nanos !== undefined) problem = this.rangeRule(take, nanos, ruleDurationNanos);
    } else if (kind in INT_TYPES || kind in INT64_TYPES || kind === 'double' || kind === 'float') {
      problem = this.numberRule(take, Number(value));
    } else {
      checked.clear();
    }
    const unimplemented = Object.keys(spec).filter((key) => !checked.has(key));
    if (unimplemented.length > 0) {
      problem ??= `this validator does not implement ${unimplemented.join(', ')}, so it cannot vouch for the value`;
    }
    return problem;
  }

  private numberRule(take: (key: string) => unknown, value: number): string | undefined {
    const range = this.rangeRule(take, value, optionNumber);
    const allowed = optionList(take('in'));
    const excluded = optionList(take('not_in'));
    if (allowed && !allowed.map(optionNumber).includes(value)) return `${value} is not allowed`;
    if (excluded?.map(optionNumber).includes(value)) return `${value} is excluded`;
    return range;
  }

  /** const/lt/lte/gt/gte with PGV's meaning, including its exclusive ranges (lt below gt). */
  private rangeRule<T extends number | bigint>(
    take: (key: string) => unknown,
    value: T,
    read: (bound: unknown) => T,
  ): string | undefined {
    const bound = (key: string): T | undefined => {
      const raw = take(key);
      return raw === undefined ? undefined : read(raw);
    };
    const exact = bound('const');
    if (exact !== undefined && value !== exact) return `must equal ${exact}`;
    const [lt, lte, gt, gte] = [bound('lt'), bound('lte'), bound('gt'), bound('gte')];
    const upper = lt ?? lte;
    const lower = gt ?? gte;
    const belowUpper = upper === undefined || (lt !== undefined ? value < lt : value <= upper);
    const aboveLower = lower === undefined || (gt !== undefined ? value > gt : value >= lower);
    const exclusive = upper !== undefined && lower !== undefined && upper < lower;
    const ok = exclusive ? belowUpper || aboveLower : belowUpper && aboveLower;
    const describe = [
      ['<', lt],
      ['<=', lte],
      ['>', gt],
      ['>=', gte],
    ]
      .filter(([, limit]) => limit !== undefined)
      .map(([op, limit]) => `${String(op)} ${String(limit)}`)
      .join(exclusive ? ' or ' : ' and ');
    return ok ? undefined : `${value} is not ${describe}`;
  }

  private stringRule(take: (key: string) => unknown, value: unknown): string | undefined {
    const text = String(value);
    const chars = [...text].length;
    const bytes = Buffer.byteLength(text);
    const limit = (key: string): number | undefined => {
      const raw = take(key);
      return raw === undefined ? undefined : optionNumber(raw);
    };
    const checks: Array<[boolean, string]> = [];
    const [len, minLen, maxLen, minBytes, maxBytes] = [
      'len',
      'min_len',
      'max_len',
      'min_bytes',
      'max_bytes',
    ].map(limit);
    if (len !== undefined) checks.push([chars === len, `length must be ${len}`]);
    if (minLen !== undefined) checks.push([chars >= minLen, `needs at least ${minLen} characters`]);
    if (maxLen !== undefined) checks.push([chars <= maxLen, `allows at most ${maxLen} characters`]);
    if (minBytes !== undefined) checks.push([bytes >= minBytes, `needs at least ${minBytes} bytes`]);
    if (maxBytes !== undefined) checks.push([bytes <= maxBytes, `allows at most ${maxBytes} bytes`]);
    const exact = take('const');
    if (exact !== undefined) checks.push([text === exact, `must be ${String(exact)}`]);
    for (const [key, test] of [
      ['prefix', (part: string) => text.startsWith(part)],
      ['suffix', (part: string) => text.endsWith(part)],
      ['contains', (part: string) => text.includes(part)],
      ['not_contains', (part: string) => !text.includes(part)],
    ] as const) {
      const part = take(key);
      if (typeof part === 'string') checks.push([test(part), `${key} ${part}`]);
    }
    const allowed = optionList(take('in'));
    const excluded = optionList(take('not_in'));
    if (allowed) checks.push([allowed.includes(text), `must be one of ${allowed.join(', ')}`]);
    if (excluded) checks.push([!excluded.includes(text), `must not be ${text}`]);
    const pattern = take('pattern');
    if (typeof pattern === 'string') checks.push([new RegExp(pattern).test(text), `must match ${pattern}`]);
    const wellKnown = take('well_known_regex');
    const strict = take('strict') !== false;
    if (typeof wellKnown === 'string') {
      const regex = strict ? HEADER_REGEX[wellKnown] : HEADER_REGEX.LOOSE;
      if (!regex) return `well_known_regex ${wellKnown} is not implemented`;
      checks.push([regex.test(text), `must match ${wellKnown}`]);
    }
    return checks.find(([ok]) => !ok)?.[1];
  }
}
