// C2SP signed notes, checkpoints and cosignatures against the published vectors: Go's
// golang.org/x/mod/sumdb/note tests, the C2SP tlog-checkpoint and tlog-cosignature examples, and
// transparency-dev/formats' note tests. Where no vector exists (an Ed25519 cosignature with a
// published key), the bytes are recomputed independently with node:crypto.
import { createHash, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { CryptoSuite, Signer } from '../../core/crypto.js';
import { nodeCrypto } from '../../core/crypto-node.js';
import { portableCrypto } from '../../core/crypto-portable.js';
import { base64Decode, base64Encode, hexEncode, utf8Encode } from '../../core/encoding.js';
import { isGovernanceError } from '../../core/errors.js';
import {
  generatePrivateKey,
  keySigner,
  privateKeyFromSeed,
  publicKeyFromRaw,
  rawPublicKey,
} from '../../core/keys.js';
import {
  NOTE_MAX_BYTES,
  NOTE_MAX_SIGNATURES,
  cosign,
  cosignatureKeyHash,
  cosignatureMessage,
  ed25519KeyHash,
  formatCheckpoint,
  formatNote,
  isValidKeyName,
  parseCheckpoint,
  parseNote,
  parseVerifierKey,
  signNote,
  verifierKey,
  verifyCosignature,
  verifyNoteSignature,
  type NoteSignature,
} from '../../core/note.js';

// golang.org/x/mod sumdb/note/note_test.go (TestNewVerifier, TestNewSigner, TestSign, TestOpen).
const PETER_VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const PETER_SKEY_B64 = 'AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz'; // from PRIVATE+KEY+PeterNeumann+c74f20a3+…
const ENOCH_VKEY = 'EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop';
const GO_TEXT =
  "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_SIG =
  '— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n';
const ENOCH_SIG =
  '— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n';

// C2SP tlog-checkpoint.md and tlog-cosignature.md: the example checkpoint, its log signature and
// the cosignature by witness.example.com/w1 (whose key is not published), and the example
// cosignature/v1 message with its timestamp 1679315147.
const SPEC_BODY = 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n';
const SPEC_LOG_SIG =
  '— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n';
const SPEC_WITNESS_SIG =
  '— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n';
const SPEC_COSIGNED_MESSAGE =
  'cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n';

// transparency-dev/formats note/note_cosigv1_test.go (TestCoSigV1NewVerifier, TestCoSigV1Timestamp).
const TEST_VKEY = 'TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6';
const REMORA_COSIG_VKEY = 'remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2';
const FORMATS_COSIG_B64 =
  'ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJXORmnFBOBA==';

const b64 = (text: string) => base64Decode(text)!;
const sha256 = (...parts: Uint8Array[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
};

function expectInvalid(f: () => unknown, code: 'encoding.invalid' | 'key.invalid' = 'encoding.invalid') {
  let thrown: unknown;
  try {
    f();
  } catch (e) {
    thrown = e;
  }
  expect(isGovernanceError(thrown, code), `expected GovernanceError ${code}, got ${String(thrown)}`).toBe(
    true,
  );
}

function ed25519Key() {
  const privateKey = generatePrivateKey();
  return { privateKey, publicKey: rawPublicKey(privateKey), signer: keySigner('k', privateKey) };
}

const peterSeed = b64(PETER_SKEY_B64).slice(1);
const peterPrivate = privateKeyFromSeed(peterSeed);

describe.each([nodeCrypto, portableCrypto])('signed notes with $name', (suite: CryptoSuite) => {
  const peter = parseVerifierKey(suite, PETER_VKEY);
  const enoch = parseVerifierKey(suite, ENOCH_VKEY);

  describe('verifier keys', () => {
    it("reads Go's PeterNeumann vkey, whose key is the skey's public key", () => {
      expect(peter.name).toBe('PeterNeumann');
      expect(hexEncode(peter.keyHash)).toBe('c74f20a3');
      expect(peter.publicKey).toEqual(rawPublicKey(peterPrivate));
      expect(verifierKey(suite, 'PeterNeumann', peter.publicKey)).toBe(PETER_VKEY);
      expect(verifierKey(suite, 'EnochRoot', enoch.publicKey)).toBe(ENOCH_VKEY);
    });

    it('computes the key hash as SHA-256(name || 0x0A || 0x01 || key)[:4]', () => {
      const expected = sha256(utf8Encode('PeterNeumann\n'), Uint8Array.of(1), peter.publicKey).slice(0, 4);
      expect(ed25519KeyHash(suite, 'PeterNeumann', peter.publicKey)).toEqual(expected);
      expect(hexEncode(expected)).toBe('c74f20a3');
    });

    it("reads transparency-dev/formats' TEST vkey, whose base64 holds a '+'", () => {
      const key = parseVerifierKey(suite, TEST_VKEY);
      expect(key.name).toBe('TEST');
      expect(hexEncode(key.keyHash)).toBe('7997405c');
      expect(verifierKey(suite, 'TEST', key.publicKey)).toBe(TEST_VKEY);
    });

    it('refuses every substring and every single-byte increment of the vkey (Go TestNewVerifier)', () => {
      const bytes = [...PETER_VKEY];
      for (let i = 0; i <= bytes.length; i++) {
        for (let j = i + 1; j <= bytes.length; j++) {
          if (i === 0 && j === bytes.length) continue;
          expectInvalid(() => parseVerifierKey(suite, bytes.slice(i, j).join('')), 'key.invalid');
        }
      }
      for (let i = 0; i < bytes.length; i++) {
        const mangled = [...bytes];
        mangled[i] = String.fromCharCode(mangled[i]!.charCodeAt(0) + 1);
        expectInvalid(() => parseVerifierKey(suite, mangled.join('')), 'key.invalid');
      }
    });

    it.each([
      [
        'a wrong-length key with a matching hash (Go)',
        'PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==',
      ],
      [
        'an unknown algorithm with a matching hash (Go)',
        'PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW',
      ],
      ['a cosignature (0x04) key (transparency-dev/formats)', REMORA_COSIG_VKEY],
      ['an unknown algorithm (transparency-dev/formats)', 'rekor.sigstore.dev+12345678+AwEB'],
      ['too few parts (transparency-dev/formats)', 'bananas.sigstore.dev+12344556'],
      ['an upper-case hash', PETER_VKEY.replace('c74f20a3', 'C74F20A3')],
      ['a short hash', PETER_VKEY.replace('c74f20a3', 'c74f20a')],
      ['a wrong hash', PETER_VKEY.replace('c74f20a3', 'c74f20a4')],
      ['a name with a space', 'Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'],
      ['trailing whitespace', PETER_VKEY + ' '],
      ['a trailing newline', PETER_VKEY + '\n'],
      ['a key of type 0x01 alone', 'PeterNeumann+c74f20a3+AQ=='],
    ])('refuses %s', (_name, text) => expectInvalid(() => parseVerifierKey(suite, text), 'key.invalid'));

    it('refuses to write a vkey for an invalid name or a key that is not 32 bytes', () => {
      expectInvalid(() => verifierKey(suite, 'a+b', peter.publicKey), 'key.invalid');
      expectInvalid(() => verifierKey(suite, 'PeterNeumann', peter.publicKey.slice(1)), 'key.invalid');
    });
  });

  describe('key names', () => {
    it.each(['PeterNeumann', 'example.com/behind-the-sofa', 'oid/1.3.6.1.4.1', 'é'])('accepts %j', (name) =>
      expect(isValidKeyName(name)).toBe(true),
    );
    it.each([
      ['empty', ''],
      ['a plus', 'a+b'],
      ['a space', 'a b'],
      ['a tab', 'a\tb'],
      ['a newline', 'a\nb'],
      ['a no-break space', 'a\u00a0b'],
      ['a next-line (U+0085)', 'a\u0085b'],
      ['an em space', 'a\u2003b'],
      ['an ideographic space', 'a\u3000b'],
      ['a control character', 'a\u0001b'],
      ['a lone surrogate', 'a\ud800b'],
    ])('refuses %s', (_name, name) => expect(isValidKeyName(name)).toBe(false));
  });

  describe("Go's signed note", () => {
    it('signs the PeterNeumann note byte for byte as Go does (TestSign)', async () => {
      const sig = await signNote(
        GO_TEXT,
        'PeterNeumann',
        keySigner('peter', peterPrivate),
        suite,
        peter.publicKey,
      );
      expect(formatNote(GO_TEXT, [sig])).toBe(GO_TEXT + '\n' + PETER_SIG);
    });

    it('opens the doubly signed note and verifies both signatures (TestOpen)', () => {
      const { body, signatures } = parseNote(GO_TEXT + '\n' + PETER_SIG + ENOCH_SIG);
      expect(body).toBe(GO_TEXT);
      expect(signatures.map((s) => [s.name, hexEncode(s.keyHash)])).toEqual([
        ['PeterNeumann', 'c74f20a3'],
        ['EnochRoot', 'af0cfe78'],
      ]);
      expect(verifyNoteSignature(suite, body, signatures[0]!, 'PeterNeumann', peter.publicKey)).toBe(true);
      expect(verifyNoteSignature(suite, body, signatures[1]!, 'EnochRoot', enoch.publicKey)).toBe(true);
      // Each signature is bound to its own key: swapping the verifiers fails both.
      expect(verifyNoteSignature(suite, body, signatures[0]!, 'EnochRoot', enoch.publicKey)).toBe(false);
      expect(verifyNoteSignature(suite, body, signatures[1]!, 'PeterNeumann', peter.publicKey)).toBe(false);
      expect(formatNote(body, signatures)).toBe(GO_TEXT + '\n' + PETER_SIG + ENOCH_SIG);
    });

    it('parses but does not verify a signature with bytes spliced in (TestOpen)', () => {
      const { body, signatures } = parseNote(
        GO_TEXT + '\n' + PETER_SIG.slice(0, 60) + 'ABCD' + PETER_SIG.slice(60),
      );
      expect(verifyNoteSignature(suite, body, signatures[0]!, 'PeterNeumann', peter.publicKey)).toBe(false);
    });

    it('fails verification on every altered byte of body, key hash and signature', () => {
      const { body, signatures } = parseNote(GO_TEXT + '\n' + PETER_SIG);
      const sig = signatures[0]!;
      const ok = (s: NoteSignature, b = body) =>
        verifyNoteSignature(suite, b, s, 'PeterNeumann', peter.publicKey);
      expect(ok(sig)).toBe(true);
      for (let i = 0; i < body.length - 1; i++) {
        const altered = body.slice(0, i) + String.fromCharCode(body.charCodeAt(i) ^ 1) + body.slice(i + 1);
        expect(ok(sig, altered), `body char ${i}`).toBe(false);
      }
      for (let i = 0; i < 4; i++) {
        const keyHash = sig.keyHash.slice();
        keyHash[i]! ^= 1;
        expect(ok({ ...sig, keyHash }), `key hash byte ${i}`).toBe(false);
      }
      for (let i = 0; i < sig.signature.length; i++) {
        const signature = sig.signature.slice();
        signature[i]! ^= 1;
        expect(ok({ ...sig, signature }), `signature byte ${i}`).toBe(false);
      }
      expect(ok({ ...sig, signature: sig.signature.slice(0, 63) })).toBe(false);
      expect(ok({ ...sig, name: 'PeterNeuman' })).toBe(false);
      expect(verifyNoteSignature(suite, body, sig, 'PeterNeuman', peter.publicKey)).toBe(false);
      expect(verifyNoteSignature(suite, body, sig, 'PeterNeumann', enoch.publicKey)).toBe(false);
      expect(verifyNoteSignature(suite, body.slice(0, -1), sig, 'PeterNeumann', peter.publicKey)).toBe(false);
    });
  });

  describe('parseNote strictness', () => {
    const valid = GO_TEXT + '\n' + PETER_SIG;
    const nonCanonical = PETER_SIG.replace('AM=\n', 'AN=\n'); // the same bytes, unused bits set

    it('accepts the valid note, and one more line of body that is empty in the middle', () => {
      expect(parseNote(valid).body).toBe(GO_TEXT);
      expect(parseNote('a\n\nb\n\n' + PETER_SIG).body).toBe('a\n\nb\n');
    });

    it.each([
      // The first seven are Go's TestOpen bad messages ('\xff' becomes a lone surrogate here).
      ['the text alone', GO_TEXT],
      ['the text and a blank line', GO_TEXT + '\n'],
      ['a missing final newline', GO_TEXT + '\n' + PETER_SIG.slice(0, -1)],
      ['a control character', '\u0001' + valid],
      ['invalid UTF-8', '\ud800' + valid],
      ['a key name with a space', GO_TEXT + '\n' + PETER_SIG.replace('PeterNeumann', 'Bad Name')],
      ['text after the signatures', valid + 'Unexpected line.\n'],
      ['two blank lines before the signatures', GO_TEXT + '\n\n' + PETER_SIG],
      ['an empty body', '\n' + PETER_SIG],
      ['a body that is one empty line', '\n\n' + PETER_SIG],
      ['CRLF line ends', valid.replaceAll('\n', '\r\n')],
      ['a CR before the final newline', valid.slice(0, -1) + '\r\n'],
      ['a hyphen instead of an em dash', valid.replace('—', '-')],
      ['an en dash instead of an em dash', valid.replace('—', '–')],
      ['no space after the em dash', valid.replace('— ', '—')],
      ['two spaces after the em dash', valid.replace('— ', '—  ')],
      ['two spaces before the signature', valid.replace('PeterNeumann ', 'PeterNeumann  ')],
      ['a trailing space', valid.slice(0, -1) + ' \n'],
      ['a key name with a plus', valid.replace('PeterNeumann', 'Peter+Neumann')],
      ['no signature after the name', GO_TEXT + '\n— PeterNeumann\n'],
      ['an empty signature', GO_TEXT + '\n— PeterNeumann \n'],
      ['bad base64', valid.replace('x08go/', 'x08go!')],
      ['base64url', valid.replace('x08go/', 'x08go_')],
      ['missing base64 padding', valid.replace('AM=\n', 'AM\n')],
      ['extra base64 padding', valid.replace('AM=\n', 'AM==\n')],
      ['non-canonical base64 (unused bits set)', GO_TEXT + '\n' + nonCanonical],
      ['a signature of 4 bytes (key hash only)', GO_TEXT + '\n— PeterNeumann x08gow==\n'],
      ['a blank line after the signatures', valid + '\n'],
    ])('refuses %s', (_name, text) => expectInvalid(() => parseNote(text)));

    it(`accepts ${NOTE_MAX_SIGNATURES} signatures and refuses one more (Go TestOpen)`, () => {
      expect(parseNote(GO_TEXT + '\n' + PETER_SIG.repeat(NOTE_MAX_SIGNATURES)).signatures).toHaveLength(100);
      expectInvalid(() => parseNote(GO_TEXT + '\n' + PETER_SIG.repeat(NOTE_MAX_SIGNATURES + 1)));
    });

    it(`refuses a note over ${NOTE_MAX_BYTES} bytes, counted in UTF-8`, () => {
      const fits = (n: number) => 'x'.repeat(n) + '\n\n' + PETER_SIG;
      const overhead = utf8Encode(fits(0)).length;
      expect(parseNote(fits(NOTE_MAX_BYTES - overhead)).signatures).toHaveLength(1);
      expectInvalid(() => parseNote(fits(NOTE_MAX_BYTES - overhead + 1)));
      // Two-byte characters: under the bound in UTF-16 code units, over it in UTF-8 bytes.
      const wide = 'é'.repeat(NOTE_MAX_BYTES / 2) + '\n\n' + PETER_SIG;
      expect(wide.length).toBeLessThan(NOTE_MAX_BYTES);
      expectInvalid(() => parseNote(wide));
    });
  });

  describe('formatNote', () => {
    const sig = parseNote(GO_TEXT + '\n' + PETER_SIG).signatures[0]!;
    it.each<[string, string, NoteSignature[]]>([
      ['no signatures', GO_TEXT, []],
      ['a body without a final newline', GO_TEXT.slice(0, -1), [sig]],
      ['a body ending in an empty line', GO_TEXT + '\n', [sig]],
      ['a body with a CR', GO_TEXT.replace('\n', '\r\n'), [sig]],
      ['a name with a space', GO_TEXT, [{ ...sig, name: 'a b' }]],
      ['a 3-byte key hash', GO_TEXT, [{ ...sig, keyHash: sig.keyHash.slice(1) }]],
      ['an empty signature', GO_TEXT, [{ ...sig, signature: new Uint8Array(0) }]],
      ['too many signatures', GO_TEXT, Array<NoteSignature>(NOTE_MAX_SIGNATURES + 1).fill(sig)],
    ])('refuses %s', (_name, body, sigs) => expectInvalid(() => formatNote(body, sigs)));
  });

  describe('checkpoints', () => {
    it('reads the C2SP tlog-checkpoint example and writes it back byte for byte', () => {
      const text = SPEC_BODY + '\n' + SPEC_LOG_SIG;
      const { body, signatures } = parseNote(text);
      const c = parseCheckpoint(body);
      expect(c).toEqual({
        origin: 'example.com/behind-the-sofa',
        size: 20852163,
        root: b64('CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I='),
        extensions: [],
      });
      expect(c.root).toHaveLength(32);
      expect(formatCheckpoint(c)).toBe(SPEC_BODY);
      expect(formatNote(formatCheckpoint(c), signatures)).toBe(text);
      expect(signatures[0]!.signature).toHaveLength(64);
    });

    it('keeps extension lines, and an empty tree is size 0', () => {
      const c = { origin: 'o', size: 0, root: new Uint8Array(32), extensions: ['ext one', 'two'] };
      const body = formatCheckpoint(c);
      expect(body).toBe(`o\n0\n${base64Encode(new Uint8Array(32))}\next one\ntwo\n`);
      expect(parseCheckpoint(body)).toEqual(c);
      const max = { ...c, size: Number.MAX_SAFE_INTEGER, extensions: [] };
      expect(parseCheckpoint(formatCheckpoint(max))).toEqual(max);
    });

    const root = 'CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=';
    it.each([
      ['two lines', 'o\n1\n'],
      ['no final newline', `o\n1\n${root}`],
      ['an empty origin', `\n1\n${root}\n`],
      ['an origin with a leading space', ` o\n1\n${root}\n`],
      ['an origin with a trailing space', `o \n1\n${root}\n`],
      ['a size with a leading zero', `o\n01\n${root}\n`],
      ['a size of 00', `o\n00\n${root}\n`],
      ['a signed size', `o\n+1\n${root}\n`],
      ['a negative size', `o\n-1\n${root}\n`],
      ['a size with a space', `o\n 1\n${root}\n`],
      ['a hex size', `o\n0x1\n${root}\n`],
      ['an empty size', `o\n\n${root}\n`],
      ['a size above 2^53 - 1', `o\n9007199254740992\n${root}\n`],
      ['a 31-byte root', `o\n1\n${base64Encode(new Uint8Array(31))}\n`],
      ['a 33-byte root', `o\n1\n${base64Encode(new Uint8Array(33))}\n`],
      ['an unpadded root', `o\n1\n${root.slice(0, -1)}\n`],
      ['a non-canonical root', `o\n1\n${root.replace('2I=', '2J=')}\n`],
      ['a base64url root', `o\n1\n${base64Encode(new Uint8Array(32).fill(0xff)).replaceAll('/', '_')}\n`],
      ['an empty extension line', `o\n1\n${root}\n\n`],
      ['an empty extension line between two', `o\n1\n${root}\na\n\nb\n`],
      ['a CR', `o\n1\r\n${root}\n`],
    ])('refuses %s', (_name, body) => expectInvalid(() => parseCheckpoint(body)));

    it.each([
      ['an empty origin', { origin: '' }],
      ['a two-line origin', { origin: 'a\nb' }],
      ['a negative size', { size: -1 }],
      ['a fractional size', { size: 1.5 }],
      ['an unsafe size', { size: 2 ** 53 }],
      ['a 31-byte root', { root: new Uint8Array(31) }],
      ['an empty extension line', { extensions: [''] }],
      ['an extension line with a newline', { extensions: ['a\nb'] }],
    ])('refuses to write %s', (_name, change) =>
      expectInvalid(() =>
        formatCheckpoint({ origin: 'o', size: 1, root: new Uint8Array(32), extensions: [], ...change }),
      ),
    );
  });

  describe('cosignatures', () => {
    it('builds exactly the C2SP tlog-cosignature example message', () => {
      expect(cosignatureMessage(SPEC_BODY, 1679315147)).toEqual(utf8Encode(SPEC_COSIGNED_MESSAGE));
    });

    it("reads the spec example's witness cosignature: key hash, then the timestamp of its message", () => {
      const { body, signatures } = parseNote(SPEC_BODY + '\n' + SPEC_LOG_SIG + SPEC_WITNESS_SIG);
      expect(body).toBe(SPEC_BODY);
      const witness = signatures[1]!;
      expect(witness.name).toBe('witness.example.com/w1');
      expect(witness.signature).toHaveLength(8 + 64);
      expect(Buffer.from(witness.signature.subarray(0, 8)).readBigUInt64BE()).toBe(1679315147n);
    });

    it("reads transparency-dev/formats' cosignature timestamp (TestCoSigV1Timestamp)", () => {
      const { signatures } = parseNote(`${SPEC_BODY}\n— w ${FORMATS_COSIG_B64}\n`);
      expect(Buffer.from(signatures[0]!.signature.subarray(0, 8)).readBigUInt64BE()).toBe(1727964367n);
    });

    it("computes remora.n621.de's cosignature key hash (transparency-dev/formats vkey)", () => {
      const raw = b64(REMORA_COSIG_VKEY.split('+')[2]!);
      expect(raw[0]).toBe(0x04);
      expect(hexEncode(cosignatureKeyHash(suite, 'remora.n621.de', raw.slice(1)))).toBe('da77ade7');
      expect(hexEncode(ed25519KeyHash(suite, 'remora.n621.de', raw.slice(1)))).not.toBe('da77ade7');
    });

    it('cosigns so that node:crypto, recomputing every byte by hand, agrees', async () => {
      const { privateKey, publicKey, signer } = ed25519Key();
      const name = 'witness.example.com/w1';
      const ts = 1679315147;
      const sig = await cosign(suite, SPEC_BODY, name, signer, ts, publicKey);
      const expectedHash = sha256(Buffer.from(name + '\n'), Uint8Array.of(4), publicKey).slice(0, 4);
      expect(sig.keyHash).toEqual(expectedHash);
      expect(sig.signature.subarray(0, 8)).toEqual(Uint8Array.of(0, 0, 0, 0, 0x64, 0x18, 0x50, 0xcb));
      const message = Buffer.from(`cosignature/v1\ntime ${ts}\n${SPEC_BODY}`);
      expect(nodeVerify(null, message, publicKeyFromRaw(publicKey), sig.signature.subarray(8))).toBe(true);
      expect(sig.signature.subarray(8)).toEqual(new Uint8Array(nodeSign(null, message, privateKey)));
      expect(verifyCosignature(suite, SPEC_BODY, sig, name, publicKey)).toEqual({ timestamp: ts });
      // It is a note signature line like any other.
      const text = formatNote(SPEC_BODY, [sig]);
      expect(parseNote(text).signatures[0]).toEqual(sig);
    });

    it('verifies a cosignature made by hand with node:crypto, extension lines included', async () => {
      const { privateKey, publicKey } = ed25519Key();
      const body = SPEC_BODY + 'extension\n';
      const ts = Number.MAX_SAFE_INTEGER;
      const raw = nodeSign(null, Buffer.from(`cosignature/v1\ntime ${ts}\n${body}`), privateKey);
      const stamp = Buffer.alloc(8);
      stamp.writeBigUInt64BE(BigInt(ts));
      const sig = {
        name: 'w',
        keyHash: sha256(Buffer.from('w\n'), Uint8Array.of(4), publicKey).slice(0, 4),
        signature: new Uint8Array(Buffer.concat([stamp, raw])),
      };
      expect(verifyCosignature(suite, body, sig, 'w', publicKey)).toEqual({ timestamp: ts });
      expect(verifyCosignature(suite, SPEC_BODY + 'extensioN\n', sig, 'w', publicKey)).toBeUndefined();
      // Ed25519 is deterministic: cosign writes the same bytes, the timestamp's high word included.
      expect(await cosign(suite, body, 'w', keySigner('k', privateKey), ts, publicKey)).toEqual(sig);
    });

    it('fails on every altered byte, a wrong name, key, key type or body, and an unsafe timestamp', async () => {
      const { publicKey, signer } = ed25519Key();
      const other = ed25519Key();
      const sig = await cosign(suite, SPEC_BODY, 'w', signer, 1700000000, publicKey);
      const check = (s: NoteSignature, body = SPEC_BODY) => verifyCosignature(suite, body, s, 'w', publicKey);
      expect(check(sig)).toEqual({ timestamp: 1700000000 });
      for (let i = 0; i < sig.signature.length; i++) {
        const signature = sig.signature.slice();
        signature[i]! ^= 1;
        expect(check({ ...sig, signature }), `signature byte ${i}`).toBeUndefined();
      }
      for (let i = 0; i < 4; i++) {
        const keyHash = sig.keyHash.slice();
        keyHash[i]! ^= 1;
        expect(check({ ...sig, keyHash }), `key hash byte ${i}`).toBeUndefined();
      }
      for (let i = 0; i < SPEC_BODY.length - 1; i++) {
        const altered =
          SPEC_BODY.slice(0, i) + String.fromCharCode(SPEC_BODY.charCodeAt(i) ^ 1) + SPEC_BODY.slice(i + 1);
        expect(check(sig, altered), `body char ${i}`).toBeUndefined();
      }
      expect(check({ ...sig, name: 'v' })).toBeUndefined();
      expect(verifyCosignature(suite, SPEC_BODY, sig, 'v', publicKey)).toBeUndefined();
      expect(verifyCosignature(suite, SPEC_BODY, sig, 'w', other.publicKey)).toBeUndefined();
      // A type 0x01 key hash over the same key and name is another key: it does not match.
      expect(check({ ...sig, keyHash: ed25519KeyHash(suite, 'w', publicKey) })).toBeUndefined();
      // A plain note signature by the same key is not a cosignature, and vice versa.
      const plain = await signNote(SPEC_BODY, 'w', signer, suite, publicKey);
      expect(check({ ...plain, keyHash: sig.keyHash })).toBeUndefined();
      expect(verifyNoteSignature(suite, SPEC_BODY, { ...sig, keyHash: plain.keyHash }, 'w', publicKey)).toBe(
        false,
      );
      // Timestamps past 2^53 - 1 cannot be held exactly: refused, not rounded.
      const huge = sig.signature.slice();
      huge[1] = 0x20;
      expect(check({ ...sig, signature: huge })).toBeUndefined();
      expect(check(sig, 'not a checkpoint\n')).toBeUndefined();
    });

    it('refuses to cosign what is not a checkpoint, or at a bad timestamp', async () => {
      const { publicKey, signer } = ed25519Key();
      await expect(cosign(suite, 'a\nb\n', 'w', signer, 1, publicKey)).rejects.toMatchObject({
        code: 'encoding.invalid',
      });
      for (const ts of [-1, 1.5, 2 ** 53, Number.NaN]) {
        await expect(cosign(suite, SPEC_BODY, 'w', signer, ts, publicKey)).rejects.toMatchObject({
          code: 'encoding.invalid',
        });
      }
      await expect(cosign(suite, SPEC_BODY, 'a b', signer, 1, publicKey)).rejects.toMatchObject({
        code: 'key.invalid',
      });
    });
  });

  describe('signers', () => {
    it('round-trips a note signed by a fresh key, and refuses a signer that holds another key', async () => {
      const { publicKey, signer } = ed25519Key();
      const sig = await signNote(SPEC_BODY, 'log', signer, suite, publicKey);
      const { body, signatures } = parseNote(formatNote(SPEC_BODY, [sig]));
      expect(verifyNoteSignature(suite, body, signatures[0]!, 'log', publicKey)).toBe(true);
      const other = ed25519Key();
      await expect(signNote(SPEC_BODY, 'log', other.signer, suite, publicKey)).rejects.toMatchObject({
        code: 'key.invalid',
      });
      await expect(cosign(suite, SPEC_BODY, 'w', other.signer, 1, publicKey)).rejects.toMatchObject({
        code: 'key.invalid',
      });
      const broken: Signer = { kid: 'x', sign: async () => new Uint8Array(64) };
      await expect(signNote(SPEC_BODY, 'log', broken, suite, publicKey)).rejects.toMatchObject({
        code: 'key.invalid',
      });
    });

    it('refuses to sign a body that formatNote could not write', async () => {
      const { publicKey, signer } = ed25519Key();
      for (const body of ['', 'no newline', 'ends blank\n\n', 'cr\r\n']) {
        await expect(signNote(body, 'log', signer, suite, publicKey)).rejects.toMatchObject({
          code: 'encoding.invalid',
        });
      }
    });
  });
});
