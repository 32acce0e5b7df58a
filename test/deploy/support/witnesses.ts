// The ledger's witnesses in both deployments. The configurations ship placeholders where each
// deployment's own vkeys go (`<witness vkey of NAME>`, `<log vkey of LOG>`: no service starts on
// them), so the checks read the placeholders as the keys they stand for. Each deployment is read
// into one view: the sequencer's witness list and threshold, the producers' witness policy, and
// every witness it runs (its configuration, how the sequencer reaches it, where its key and its
// state come from), then checked: a real quorum, one policy for the sequencer and the producers,
// every listed witness deployed and reachable, each on its own key and its own persistent state.
import type { KeyObject } from 'node:crypto';
import { cosignatureVerifierKey, verifierKey } from '../../../core/note.js';
import { nodeCrypto } from '../../../core/crypto-node.js';
import { generatePrivateKey, rawPublicKey } from '../../../core/keys.js';
import { Problems } from './problems.js';
import { isObject } from './repo.js';

type Obj = Record<string, unknown>;
const obj = (value: unknown): Obj => (isObject(value) ? value : {});
const list = (value: unknown): Obj[] => (Array.isArray(value) ? value.filter(isObject) : []);
const strings = (value: unknown): string[] => (Array.isArray(value) ? value.map(String) : []);

const WITNESS_VKEY = /^<witness vkey of (\S+)>$/;
const LOG_VKEY = /^<log vkey of (\S+)>$/;
export const DEFAULT_LOG = 'governance';

/** The key a placeholder (or a real vkey) is of: `witness NAME` or `log NAME`. */
export function vkeyOf(text: string): string | undefined {
  const witness = WITNESS_VKEY.exec(text) ?? /^([^+]+)\+[0-9a-f]{8}\+B[A-P]/.exec(text);
  if (witness) return `witness ${witness[1]}`;
  const log = LOG_VKEY.exec(text) ?? /^([^+]+)\+[0-9a-f]{8}\+A[Q-Za-f]/.exec(text);
  return log ? `log ${log[1]}` : undefined;
}

/** Private keys for the placeholders: the witnesses' by name, and the log's audit key. */
export interface VkeyFixture {
  audit: KeyObject;
  witnesses: Map<string, KeyObject>;
}

export function vkeyFixture(audit: KeyObject = generatePrivateKey()): VkeyFixture {
  return { audit, witnesses: new Map() };
}

/**
 * The configuration as its operator completes it: every placeholder replaced by the vkey it
 * names, from the fixture's keys (a witness the fixture has no key for gets a fresh one).
 */
export function withVkeys<T>(value: T, keys: VkeyFixture): T {
  const fill = (item: unknown): unknown => {
    if (typeof item === 'string') {
      const witness = WITNESS_VKEY.exec(item);
      if (witness) {
        const name = witness[1]!;
        if (!keys.witnesses.has(name)) keys.witnesses.set(name, generatePrivateKey());
        return cosignatureVerifierKey(nodeCrypto, name, rawPublicKey(keys.witnesses.get(name)!));
      }
      const log = LOG_VKEY.exec(item);
      return log ? verifierKey(nodeCrypto, log[1]!, rawPublicKey(keys.audit)) : item;
    }
    if (Array.isArray(item)) return item.map(fill);
    return isObject(item) ? Object.fromEntries(Object.entries(item).map(([k, v]) => [k, fill(v)])) : item;
  };
  return fill(value) as T;
}

/** One witness a deployment runs. */
export interface WitnessView {
  /** The workload (StatefulSet, compose service). */
  workload: string;
  /** Its configuration, undefined when no mount holds its --config file. */
  config: Obj | undefined;
  /** The host and port the sequencer reaches it at (its Service's, its compose service's). */
  address: { host: string; port: number | undefined };
  /** Where its key file comes from (a Secret key, a host file), undefined when not mounted. */
  keySource: string | undefined;
  /** The other workloads that mount that source. */
  keyAlsoMountedBy: string[];
  /** The volume its stateDir lies on, undefined when none. */
  state: { volume: string; persistent: boolean; writable: boolean } | undefined;
}

export interface WitnessDeploymentView {
  sequencer: Obj;
  /** The producers' configurations: authz, authority. */
  producers: Record<string, Obj>;
  witnesses: WitnessView[];
}

const under = (path: string, mount: string): boolean => path === mount || path.startsWith(`${mount}/`);
export { under as isUnder };

export function witnessProblems(view: WitnessDeploymentView): string[] {
  const problems = new Problems('witnesses: ');
  const policy = obj(view.sequencer.witnesses);
  const threshold = Number(policy.threshold ?? 0);
  const listed = list(policy.list);
  const log = String(obj(view.sequencer.ledger).log ?? DEFAULT_LOG);
  problems.need(threshold >= 1, 'the sequencer must require at least one cosignature (witnesses.threshold)');
  // Two quorums of k among n share a witness only when 2k > n: below that, a log can show two
  // forks, each to a different quorum of honest witnesses.
  problems.need(
    2 * threshold > listed.length,
    `a threshold of ${threshold} of ${listed.length} lets two quorums miss each other (needs 2k > n)`,
  );
  problems.need(
    listed.length - threshold >= 1,
    `${threshold} of ${listed.length} stops at the first witness down`,
  );
  const names = listed.map((entry) => String(entry.name));
  for (const entry of listed) {
    const name = String(entry.name);
    const witness = view.witnesses.find((w) => obj(w.config).name === name);
    problems.need(witness !== undefined, `${name} is listed by the sequencer but not deployed`);
    problems.need(vkeyOf(String(entry.key)) === `witness ${name}`, `${name}: its key is not its vkey`);
    if (!witness) continue;
    const url = URL.canParse(String(entry.url)) ? new URL(String(entry.url)) : undefined;
    const port = Number(obj(obj(witness.config).http).port ?? 7380);
    problems.need(
      url !== undefined &&
        url.hostname === witness.address.host &&
        Number(url.port || (url.protocol === 'https:' ? 443 : 80)) === witness.address.port &&
        witness.address.port !== undefined,
      `${name}: ${String(entry.url)} is not ${witness.workload} (${witness.address.host}:${String(witness.address.port)})`,
    );
    problems.need(
      witness.address.port === port,
      `${name}: ${witness.workload} is reached on ${String(witness.address.port)}, listens on ${port}`,
    );
  }
  for (const witness of view.witnesses) {
    const need = (ok: boolean, problem: string): void => problems.need(ok, `${witness.workload}: ${problem}`);
    const config = obj(witness.config);
    need(witness.config !== undefined, 'its --config file is not mounted');
    need(names.includes(String(config.name)), `${String(config.name)} is not in the sequencer's list`);
    const logs = list(config.logs);
    need(
      logs.length === 1 && logs[0]!.origin === log,
      `must witness exactly the log ${log} (the sequencer's ledger.log)`,
    );
    need(
      strings(logs[0]?.keys).every((key) => vkeyOf(key) === `log ${log}`) &&
        strings(logs[0]?.keys).length > 0,
      `the keys of ${log} must be its audit key's vkey`,
    );
    need(witness.keySource !== undefined, `its keyFile ${String(config.keyFile)} is not mounted`);
    need(
      witness.keyAlsoMountedBy.length === 0,
      `its key ${String(witness.keySource)} is also mounted by ${witness.keyAlsoMountedBy.join(', ')}`,
    );
    const shared = view.witnesses.filter((other) => other !== witness);
    need(
      witness.keySource === undefined || shared.every((other) => other.keySource !== witness.keySource),
      `shares its key ${String(witness.keySource)} with another witness`,
    );
    need(
      witness.state !== undefined && witness.state.persistent && witness.state.writable,
      `its stateDir ${String(config.stateDir)} must lie on a writable persistent volume of its own`,
    );
    need(
      witness.state === undefined || shared.every((other) => other.state?.volume !== witness.state!.volume),
      `shares its state volume ${String(witness.state?.volume)} with another witness`,
    );
  }
  for (const [producer, config] of Object.entries(view.producers)) {
    const held = obj(obj(config.ledger).witnesses);
    const keys = strings(held.keys);
    problems.need(
      Number(held.threshold ?? 0) === threshold,
      `${producer} holds checkpoints to ${String(held.threshold ?? 0)} cosignatures, the sequencer publishes at ${threshold}`,
    );
    const byKey = new Map(listed.map((entry) => [String(entry.key), String(entry.name)]));
    problems.need(
      keys.length === listed.length && keys.every((key) => byKey.has(key)),
      `${producer}'s ledger.witnesses.keys must be the sequencer's witness keys`,
    );
  }
  return problems.list;
}
