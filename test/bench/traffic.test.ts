// The traffic the Check benchmark sends: mix interleaving, artifact pools that end (or cycle for
// servers without use state), and the crypto floor baseline's decision on each kind.
import { describe, expect, it } from 'vitest';
import { decodeArtifact, verifySignature } from '../../core/index.js';
import { nodeCrypto } from '../../core/crypto-node.js';
import { generatePrivateKey, keySigner, rawPublicKey } from '../../core/keys.js';
import { cryptoFloorDenial } from '../../bench/lib/baseline-server.js';
import { BUILTIN_PRINCIPAL, builtinTemplate } from '../../bench/lib/targets.js';
import {
  DEFAULT_MIX,
  mixCycle,
  parseMix,
  signingSource,
  Traffic,
  withBadSignature,
  type ArtifactSource,
} from '../../bench/lib/traffic.js';

const issuerKey = generatePrivateKey();
const source = signingSource(keySigner('key:bench/test', issuerKey), builtinTemplate(BUILTIN_PRINCIPAL));
const trusted = new Map([['key:bench/test', rawPublicKey(issuerKey)]]);

/** Hands out "h1", "h2", ... as single-use header values. */
function countingSource(): ArtifactSource {
  let n = 0;
  return { description: 'counting', canMint: false, issue: async () => `h${++n}` };
}

describe('traffic mix', () => {
  it('sends each kind in proportion to its weight, interleaved', () => {
    const cycle = mixCycle(DEFAULT_MIX);
    const counts = Object.fromEntries(
      Object.keys(DEFAULT_MIX).map((kind) => [kind, cycle.filter((k) => k === kind).length]),
    );
    expect(counts).toEqual({ single: 14, bounded: 1, rate: 1, replay: 2, 'bad-signature': 1, missing: 1 });
    expect(cycle.indexOf('replay')).toBeLessThan(cycle.length / 2);
    expect(cycle.lastIndexOf('replay')).toBeGreaterThanOrEqual(cycle.length / 2);
  });

  it('rejects unknown kinds and empty mixes', () => {
    expect(parseMix('single=3,missing=1')).toMatchObject({ single: 3, missing: 1, replay: 0 });
    expect(() => parseMix('single=1,forged=1')).toThrow(/not <kind>=<integer weight>/);
    expect(() => parseMix('single=0')).toThrow(/sends nothing/);
  });
});

describe('artifact pools', () => {
  it('end when a server that keeps use state has had every artifact once', async () => {
    const traffic = await Traffic.prepare(countingSource(), parseMix('single=1'), 10, false);
    const sent = Array.from({ length: 11 }, () => traffic.next()!.artifact);
    expect(new Set(sent).size).toBe(11);
    expect(traffic.next()).toBeUndefined();
  });

  it('cycle for a server without use state', async () => {
    const traffic = await Traffic.prepare(countingSource(), parseMix('single=1'), 3, true);
    const sent = Array.from({ length: 7 }, () => traffic.next()!.artifact);
    expect(sent).toEqual(['h1', 'h2', 'h3', 'h1', 'h2', 'h3', 'h1']);
  });

  it('refuse bounded and rate artifacts from a source that cannot mint them', async () => {
    await expect(Traffic.prepare(countingSource(), DEFAULT_MIX, 10, false)).rejects.toThrow(
      /cannot supply bounded or rate/,
    );
  });

  it('replay only the primed artifacts the server confirmed spent', async () => {
    const traffic = await Traffic.prepare(countingSource(), parseMix('single=1,replay=1'), 20, false);
    const spent = traffic.toPrime.slice(0, 2);
    traffic.useReplays(spent);
    const replays = Array.from({ length: 20 }, () => traffic.next()!).filter(
      (item) => item.kind === 'replay',
    );
    expect(replays.map((item) => item.artifact)).toEqual(Array.from({ length: 5 }, () => spent).flat());
  });

  it('go on without replays when the server confirmed none spent', async () => {
    const traffic = await Traffic.prepare(countingSource(), parseMix('single=1,replay=1'), 20, false);
    traffic.useReplays([]);
    const kinds = Array.from({ length: 10 }, () => traffic.next()!.kind);
    expect(kinds).toEqual(Array.from({ length: 10 }, () => 'single'));
  });
});

describe('bad signatures and the crypto floor', () => {
  it('a flipped signature bit still decodes, and only the signature check refuses it', async () => {
    const header = (await source.issue('single'))!;
    const forged = withBadSignature(header);
    expect(forged).not.toBe(header);
    const decoded = decodeArtifact(forged);
    expect(decoded.artifact.id).toBe(decodeArtifact(header).artifact.id);
    const issuer = decodeArtifact(header).artifact.iss;
    const keys = (kid: string) => {
      const publicKey = trusted.get(kid);
      return publicKey && { publicKey, issuer };
    };
    expect(() => verifySignature(decodeArtifact(header), nodeCrypto, keys)).not.toThrow();
    expect(() => verifySignature(decoded, nodeCrypto, keys)).toThrow(/does not verify/);
  });

  it('the crypto floor allows a valid artifact and denies each invalid kind with its reason', async () => {
    const header = (await source.issue('bounded'))!;
    expect(cryptoFloorDenial(header, trusted)).toBeUndefined();
    expect(cryptoFloorDenial(withBadSignature(header), trusted)).toBe('artifact.signature.invalid');
    expect(cryptoFloorDenial(header, new Map())).toBe('artifact.signature.invalid');
    expect(cryptoFloorDenial(undefined, trusted)).toBe('artifact.missing');
    expect(cryptoFloorDenial('', trusted)).toBe('artifact.missing');
    expect(cryptoFloorDenial(header.slice(0, -7), trusted)).toBe('artifact.malformed');
    expect(cryptoFloorDenial('W10', trusted)).toBe('artifact.malformed');
  });
});
