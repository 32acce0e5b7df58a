// The sequencer's client of C2SP tlog-witnesses (https://c2sp.org/tlog-witness): asks every
// configured witness to cosign a checkpoint, in parallel, proving each one consistent with the
// checkpoint that witness cosigned last. Only cosignatures that verify under the witness's
// configured key are returned; whether there are enough is the caller's decision (threshold),
// so a witness that is down, slow, lying or broken costs its cosignature and a log line, never
// an exception.
import { nodeCrypto } from '../core/crypto-node.js';
import type { CryptoSuite } from '../core/crypto.js';
import { utf8Decode } from '../core/encoding.js';
import { GovernanceError } from '../core/errors.js';
import {
  parseCheckpoint,
  parseCosignatureVerifierKey,
  parseNote,
  verifyCosignature,
  type NoteSignature,
} from '../core/note.js';
import { TLOG_SIZE_CONTENT_TYPE, formatAddCheckpoint, parseTreeSizeBody } from '../core/witness.js';

export interface CheckpointWitnesses {
  readonly threshold: number;
  /** The cosignatures the witnesses gave, each having checked `consistency(old)`: the proof from the size it last cosigned to this checkpoint's size. */
  cosign(
    note: string,
    size: number,
    consistency: (oldSize: number) => Promise<Uint8Array[]>,
  ): Promise<NoteSignature[]>;
}

export type WitnessLogLevel = 'info' | 'warn' | 'error';

export interface HttpWitnessesOptions {
  threshold: number;
  /**
   * Each witness: its key name, its submission prefix (add-checkpoint is POSTed to
   * `<url>/add-checkpoint`) and its cosignature verifier key (name+hash+base64(0x04 || key)).
   */
  witnesses: { name: string; url: string; key: string }[];
  /** Per request, the reply's body included (default 5000 ms). */
  timeoutMs?: number;
  suite?: CryptoSuite;
  fetch?: typeof fetch;
  log?: (level: WitnessLogLevel, message: string) => void;
}

/** A reply is a few signature lines; more than this is not a witness's reply. */
const MAX_REPLY_BYTES = 64 * 1024;
const DEFAULT_TIMEOUT_MS = 5000;

function invalidKey(message: string): never {
  throw new GovernanceError('key.invalid', message);
}

/** The body as text, or undefined when it is larger than `max` bytes or not UTF-8. */
async function readBounded(response: Response, max: number): Promise<string | undefined> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let length = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    length += value.length;
    if (length > max) {
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(length);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return utf8Decode(bytes);
}

/** The media type of a Content-Type header, without parameters, lower case. */
function mediaType(header: string | null): string {
  return (header ?? '').split(';')[0]!.trim().toLowerCase();
}

class HttpWitness {
  /** The size this witness last cosigned, as far as we know: what the next proof starts from. */
  private lastSize = 0;
  /** One checkpoint at a time per witness: lastSize is read and updated around each request. */
  private queue: Promise<unknown> = Promise.resolve();
  private readonly endpoint: string;
  private readonly publicKey: Uint8Array;

  constructor(
    readonly name: string,
    url: string,
    key: string,
    private readonly suite: CryptoSuite,
    private readonly fetcher: typeof fetch,
    private readonly timeoutMs: number,
    private readonly log: (level: WitnessLogLevel, message: string) => void,
  ) {
    const parsed = parseCosignatureVerifierKey(suite, key);
    if (parsed.name !== name) invalidKey(`witness ${name}: its verifier key is named ${parsed.name}`);
    this.publicKey = parsed.publicKey;
    if (!URL.canParse(url) || !['http:', 'https:'].includes(new URL(url).protocol)) {
      invalidKey(`witness ${name}: ${JSON.stringify(url)} is not an http(s) URL`);
    }
    this.endpoint = url.replace(/\/+$/, '') + '/add-checkpoint';
  }

  cosign(
    note: string,
    body: string,
    size: number,
    consistency: (oldSize: number) => Promise<Uint8Array[]>,
  ): Promise<NoteSignature | undefined> {
    const run = () =>
      this.request(note, body, size, consistency).catch((e: unknown) => {
        this.log('warn', `witness ${this.name}: no cosignature for size ${size}: ${(e as Error).message}`);
        return undefined;
      });
    const result = this.queue.then(run, run);
    this.queue = result;
    return result;
  }

  private async request(
    note: string,
    body: string,
    size: number,
    consistency: (oldSize: number) => Promise<Uint8Array[]>,
  ): Promise<NoteSignature | undefined> {
    // One retry: after a 409 the witness has told us its size, and a second 409 means it moved
    // again (another log instance) or lies; either way the next checkpoint tries afresh.
    for (let attempt = 1; attempt <= 2; attempt++) {
      const old = this.lastSize;
      if (old > size) {
        this.log('error', `witness ${this.name}: it cosigned size ${old}, above this checkpoint's ${size}`);
        return undefined;
      }
      const proof = old === 0 || old === size ? [] : await consistency(old);
      const response = await this.fetcher(this.endpoint, {
        method: 'POST',
        headers: { 'content-type': 'text/plain; charset=utf-8' },
        body: formatAddCheckpoint({ oldSize: old, proof, note }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      const text = await readBounded(response, MAX_REPLY_BYTES);
      if (response.status === 200) return this.verified(body, size, text);
      const conflictSize =
        response.status === 409 && mediaType(response.headers.get('content-type')) === TLOG_SIZE_CONTENT_TYPE
          ? parseTreeSizeBody(text ?? '')
          : undefined;
      if (conflictSize !== undefined) {
        this.log('info', `witness ${this.name}: it last cosigned size ${conflictSize}, not ${old}`);
        this.lastSize = conflictSize;
        continue;
      }
      const said = (text ?? '').split('\n')[0]!.slice(0, 200);
      // 409 without a size: the witness holds another tree at this size (a fork, or its state is
      // not ours). 422: it refused our proof. Both deserve an operator's eyes.
      const level = response.status === 409 || response.status === 422 ? 'error' : 'warn';
      this.log(level, `witness ${this.name}: HTTP ${response.status} for size ${size} from ${old}: ${said}`);
      return undefined;
    }
    this.log('warn', `witness ${this.name}: its size moved again while retrying; no cosignature for ${size}`);
    return undefined;
  }

  /** This witness's valid cosignature in the reply, or undefined (logged). */
  private verified(body: string, size: number, text: string | undefined): NoteSignature | undefined {
    let signatures: NoteSignature[] = [];
    try {
      // The reply is signature lines: appended to the body they make a note (tlog-witness).
      if (text !== undefined) signatures = parseNote(body + '\n' + text).signatures;
    } catch {
      text = undefined;
    }
    if (text === undefined) {
      this.log('warn', `witness ${this.name}: its reply is not signature lines; dropped`);
      return undefined;
    }
    const valid = signatures.find(
      (sig) => verifyCosignature(this.suite, body, sig, this.name, this.publicKey) !== undefined,
    );
    if (!valid) {
      this.log('error', `witness ${this.name}: no valid cosignature by its key in its reply; dropped`);
      return undefined;
    }
    this.lastSize = size;
    return valid;
  }
}

/** Witnesses reached over HTTP; throws key.invalid for a bad key, name or URL. */
export function httpWitnesses(options: HttpWitnessesOptions): CheckpointWitnesses {
  const suite = options.suite ?? nodeCrypto;
  const log = options.log ?? (() => undefined);
  // Called as a plain function: some fetch implementations refuse another `this`.
  const fetcher: typeof fetch = options.fetch ?? ((input, init) => fetch(input, init));
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isInteger(options.threshold) || options.threshold < 0) {
    invalidKey('the witness threshold is an integer ≥ 0');
  }
  const names = new Set(options.witnesses.map((w) => w.name));
  if (names.size !== options.witnesses.length) invalidKey('two witnesses have the same name');
  const witnesses = options.witnesses.map(
    (w) => new HttpWitness(w.name, w.url, w.key, suite, fetcher, timeoutMs, log),
  );
  return {
    threshold: options.threshold,
    async cosign(note, size, consistency) {
      let body: string;
      try {
        body = parseNote(note).body;
        if (parseCheckpoint(body).size !== size) invalidKey(`the checkpoint's size is not ${size}`);
      } catch (e) {
        log('error', `not a checkpoint note of size ${size}, not sent to witnesses: ${(e as Error).message}`);
        return [];
      }
      const results = await Promise.all(witnesses.map((w) => w.cosign(note, body, size, consistency)));
      return results.filter((sig): sig is NoteSignature => sig !== undefined);
    },
  };
}
