// The traffic mix and the artifacts it carries. Every artifact is issued before a run starts, so
// issuance (signing) never competes with the Checks being measured.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  decodeArtifact,
  encodeArtifact,
  signArtifact,
  type ArtifactPayload,
  type UseTerms,
} from '../../core/artifact.js';
import type { Signer } from '../../core/crypto.js';
import { nodeCrypto } from '../../core/crypto-node.js';
import { base64urlEncode } from '../../core/encoding.js';
import type { DenialReason } from '../../core/errors.js';
import { formatSeconds } from '../../core/time.js';
import type { EnvoyCheckRequest } from '../../devkit/check-request.js';
import { ALLOW, type Outcome } from './envoy-client.js';

export const TRAFFIC_KINDS = ['single', 'bounded', 'rate', 'replay', 'bad-signature', 'missing'] as const;
export type TrafficKind = (typeof TRAFFIC_KINDS)[number];
/** Relative weights; a kind with weight 0 is not sent. */
export type Mix = Record<TrafficKind, number>;

export const DEFAULT_MIX: Mix = {
  single: 70,
  bounded: 5,
  rate: 5,
  replay: 10,
  'bad-signature': 5,
  missing: 5,
};

/** "single=70,replay=10,missing=20": kinds left out get weight 0. */
export function parseMix(text: string): Mix {
  const mix = Object.fromEntries(TRAFFIC_KINDS.map((kind) => [kind, 0])) as Mix;
  for (const part of text.split(',')) {
    const [kind, weight] = part.split('=');
    if (!TRAFFIC_KINDS.includes(kind as TrafficKind) || !/^\d+$/.test(weight ?? '')) {
      throw new Error(
        `mix entry ${JSON.stringify(part)} is not <kind>=<integer weight>, kinds: ${TRAFFIC_KINDS.join(', ')}`,
      );
    }
    mix[kind as TrafficKind] = Number(weight);
  }
  if (TRAFFIC_KINDS.every((kind) => mix[kind] === 0)) throw new Error('the mix sends nothing');
  return mix;
}

/**
 * What a server does with artifacts: nothing (the no-op baseline), signatures only (the
 * crypto-floor baseline), or everything including single use (the real server, any --target).
 */
export type Enforcement = 'none' | 'signature' | 'full';

const DENIED_BY: Partial<Record<TrafficKind, { reason: DenialReason; from: Enforcement[] }>> = {
  replay: { reason: 'artifact.replayed', from: ['full'] },
  'bad-signature': { reason: 'artifact.signature.invalid', from: ['signature', 'full'] },
  missing: { reason: 'artifact.missing', from: ['signature', 'full'] },
};

/** The outcome a correct server of this enforcement gives this kind of request. */
export function expectedOutcome(enforcement: Enforcement, kind: TrafficKind): Outcome {
  const denial = DENIED_BY[kind];
  return denial && denial.from.includes(enforcement) ? denial.reason : ALLOW;
}

export type MintableUse = UseTerms['mode'];

/** Where artifact header values come from: minted with a signing key, or read from a file. */
export interface ArtifactSource {
  readonly description: string;
  /** Whether bounded and rate artifacts can be made (a file holds what it holds). */
  readonly canMint: boolean;
  /** A header value never handed out before, or undefined when the source is used up. */
  issue(mode: MintableUse): Promise<string | undefined>;
}

/** Bounded artifacts allow this many distinct requests each. */
export const BOUNDED_MAX_USES = 1000;
/** Rate artifacts: a bucket no run can empty (1,000,000 per second), so every use is allowed. */
const RATE_TERMS = { rate: 1_000_000, window: 1 } as const;
/** Validity: started a minute ago (clock skew), ends in six hours (longer than any run). */
const NOT_BEFORE_SECONDS = 60;
const LIFETIME_SECONDS = 6 * 3600;

/** The signed fields that do not change from one artifact to the next. */
export type PayloadTemplate = Omit<ArtifactPayload, 'nbf' | 'exp' | 'use'>;

function useTerms(mode: MintableUse): UseTerms {
  const nonce = base64urlEncode(randomBytes(16));
  if (mode === 'single') return { mode, nonce };
  if (mode === 'bounded') return { mode, nonce, max: BOUNDED_MAX_USES };
  return { mode, nonce, ...RATE_TERMS };
}

export function signingSource(signer: Signer, template: PayloadTemplate): ArtifactSource {
  return {
    description: `minted with key ${signer.kid}`,
    canMint: true,
    async issue(mode) {
      const now = Math.floor(Date.now() / 1000);
      const payload: ArtifactPayload = {
        ...template,
        nbf: formatSeconds(now - NOT_BEFORE_SECONDS),
        exp: formatSeconds(now + LIFETIME_SECONDS),
        use: useTerms(mode),
      };
      return encodeArtifact(await signArtifact(payload, signer, nodeCrypto));
    },
  };
}

/** A file the user named, or an error naming it and why it cannot be read. */
export function readInput(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

/** One header value per line; each is presented as a single-use artifact, once. */
export function fileSource(path: string): ArtifactSource {
  const headers = readInput(path, 'artifacts file')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  let next = 0;
  return {
    description: `${headers.length} pre-issued header values from ${path}`,
    canMint: false,
    async issue(mode) {
      if (mode !== 'single') throw new Error(`an artifacts file cannot supply ${mode} artifacts`);
      return headers[next++];
    },
  };
}

/**
 * The same artifact with one signature bit flipped (inside the base64url alphabet, away from the
 * padding bits), so it still decodes and only the signature check can refuse it.
 */
export function withBadSignature(header: string): string {
  const { artifact } = decodeArtifact(header);
  const val = artifact.sig.val;
  const i = val.length >> 1;
  const c = val[i]!;
  const flipped = /[A-Za-z]/.test(c)
    ? c === c.toUpperCase()
      ? c.toLowerCase()
      : c.toUpperCase()
    : /[0-9]/.test(c)
      ? String.fromCharCode(c.charCodeAt(0) ^ 1)
      : c === '-'
        ? '_'
        : '-';
  return encodeArtifact({
    ...artifact,
    sig: { ...artifact.sig, val: val.slice(0, i) + flipped + val.slice(i + 1) },
  });
}

/** Header values handed out in turn: each `usesEach` times, then the next; cycled if reusable. */
class HeaderPool {
  private index = 0;
  private uses = 0;

  constructor(
    private readonly headers: string[],
    private readonly usesEach: number,
    private readonly reusable: boolean,
  ) {}

  next(): string | undefined {
    if (this.headers.length === 0) return undefined;
    if (this.uses === this.usesEach) {
      this.uses = 0;
      this.index++;
    }
    if (this.index === this.headers.length) {
      if (!this.reusable) return undefined;
      this.index = 0;
    }
    this.uses++;
    return this.headers[this.index];
  }
}

/**
 * The kinds in the order they are sent: smooth weighted round-robin, so that a mix of 70/10/...
 * interleaves evenly instead of sending 70 of one kind in a row.
 */
export function mixCycle(mix: Mix): TrafficKind[] {
  const kinds = TRAFFIC_KINDS.filter((kind) => mix[kind] > 0);
  const divisor = kinds.map((kind) => mix[kind]).reduce(gcd);
  const weights = kinds.map((kind) => mix[kind] / divisor);
  const total = weights.reduce((a, b) => a + b, 0);
  const current = weights.map(() => 0);
  const cycle: TrafficKind[] = [];
  for (let n = 0; n < total; n++) {
    let best = 0;
    for (let i = 0; i < kinds.length; i++) {
      current[i]! += weights[i]!;
      if (current[i]! > current[best]!) best = i;
    }
    current[best]! -= total;
    cycle.push(kinds[best]!);
  }
  return cycle;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

export interface TrafficItem {
  kind: TrafficKind;
  /** The x-execution-artifact value; undefined sends no header. */
  artifact: string | undefined;
  /** The CheckRequest built before the run (prebuild), if it was. */
  request?: EnvoyCheckRequest;
}

/** Replays reuse up to this many artifacts, each spent (primed) before the run. */
const REPLAY_POOL = 64;
const BAD_SIGNATURE_POOL = 64;
const RATE_POOL = 4;
/** A server that keeps no use state cannot tell a reused artifact from a new one: cycle this many. */
const STATELESS_POOL = 1024;

export class Traffic {
  private turn = 0;
  private prebuilt: TrafficItem[] = [];
  private prebuiltAt = 0;

  private constructor(
    private readonly mix: Mix,
    private cycle: TrafficKind[],
    private readonly pools: Record<Exclude<TrafficKind, 'missing'>, HeaderPool>,
    /** Single-use artifacts the run must spend, unmeasured, before replaying them (useReplays). */
    readonly toPrime: string[],
  ) {}

  /**
   * The artifacts of toPrime the server's answers proved spent: the only ones replayed, since
   * presenting an unspent one "again" is its first use, which a correct server allows. None
   * (a server that refused them all): the mix goes on without replays, if it holds anything else.
   */
  useReplays(spent: string[]): void {
    this.pools.replay = new HeaderPool(spent, 1, true);
    const others = { ...this.mix, replay: 0 };
    if (spent.length === 0 && TRAFFIC_KINDS.some((kind) => others[kind] > 0)) this.cycle = mixCycle(others);
  }

  /**
   * Builds the next `count` requests now (after useReplays), so that a run sending them does not
   * build them as it goes; `build` makes a request of an artifact (e.g. a client's pre-encoding).
   */
  prebuild(count: number, build: (artifact: string | undefined) => EnvoyCheckRequest): void {
    const items: TrafficItem[] = [];
    for (let i = 0; i < count; i++) {
      const item = this.nextIssued();
      if (item === undefined) break;
      item.request = build(item.artifact);
      items.push(item);
    }
    this.prebuilt = items;
    this.prebuiltAt = 0;
  }

  /** The next request's kind and artifact, or undefined when the issued artifacts are spent. */
  next(): TrafficItem | undefined {
    if (this.prebuiltAt < this.prebuilt.length) {
      const item = this.prebuilt[this.prebuiltAt]!;
      this.prebuilt[this.prebuiltAt++] = undefined as unknown as TrafficItem;
      return item;
    }
    return this.nextIssued();
  }

  private nextIssued(): TrafficItem | undefined {
    const kind = this.cycle[this.turn++ % this.cycle.length]!;
    if (kind === 'missing') return { kind, artifact: undefined };
    const artifact = this.pools[kind].next();
    return artifact === undefined ? undefined : { kind, artifact };
  }

  /**
   * Issues what `requests` requests of this mix need. `reusable`: the server keeps no use state,
   * so a small pool is cycled instead.
   */
  static async prepare(
    source: ArtifactSource,
    mix: Mix,
    requests: number,
    reusable: boolean,
  ): Promise<Traffic> {
    if (!source.canMint && (mix.bounded > 0 || mix.rate > 0)) {
      throw new Error(
        `${source.description} cannot supply bounded or rate artifacts: set their weight to 0 in --mix`,
      );
    }
    const cycle = mixCycle(mix);
    // One more cycle than asked, so that a partial cycle at the end cannot run a kind dry.
    const planned = reusable ? Math.min(requests, STATELESS_POOL) : requests + cycle.length;
    const share = (kind: TrafficKind) => (planned * cycle.filter((k) => k === kind).length) / cycle.length;
    const issueMany = async (mode: MintableUse, count: number): Promise<string[]> => {
      const headers: string[] = [];
      for (let i = 0; i < count; i++) {
        const header = await source.issue(mode);
        if (header === undefined) break;
        headers.push(header);
      }
      return headers;
    };
    const replays = mix.replay > 0 ? await issueMany('single', REPLAY_POOL) : [];
    const badSignatures = mix['bad-signature'] > 0 ? await issueMany('single', BAD_SIGNATURE_POOL) : [];
    const pools = {
      single: new HeaderPool(await issueMany('single', Math.ceil(share('single'))), 1, reusable),
      bounded: new HeaderPool(
        await issueMany('bounded', Math.ceil(share('bounded') / BOUNDED_MAX_USES)),
        BOUNDED_MAX_USES,
        reusable,
      ),
      rate: new HeaderPool(await issueMany('rate', mix.rate > 0 ? RATE_POOL : 0), 1, true),
      replay: new HeaderPool([], 1, true),
      'bad-signature': new HeaderPool(badSignatures.map(withBadSignature), 1, true),
    };
    return new Traffic(mix, cycle, pools, replays);
  }
}
