// Byte encodings used on the wire. Pure and portable (no Node built-ins) so that the
// portable verifier can run in a browser; every decoder is strict so that one value has
// exactly one accepted text form.

const B64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const B64URL_LOOKUP = new Int16Array(128).fill(-1);
for (let i = 0; i < B64URL_ALPHABET.length; i++) B64URL_LOOKUP[B64URL_ALPHABET.charCodeAt(i)] = i;

/** base64url without padding (RFC 4648 §5). */
export function base64urlEncode(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out +=
      B64URL_ALPHABET[n >>> 18]! +
      B64URL_ALPHABET[(n >>> 12) & 63]! +
      B64URL_ALPHABET[(n >>> 6) & 63]! +
      B64URL_ALPHABET[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    out += B64URL_ALPHABET[n >>> 18]! + B64URL_ALPHABET[(n >>> 12) & 63]!;
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out += B64URL_ALPHABET[n >>> 18]! + B64URL_ALPHABET[(n >>> 12) & 63]! + B64URL_ALPHABET[(n >>> 6) & 63]!;
  }
  return out;
}

/**
 * Strict base64url decoding: only the URL-safe alphabet, no padding, no whitespace, and the
 * unused low bits of the last character must be zero. Returns undefined for anything else,
 * so a caller can map the failure to its own typed error.
 */
export function base64urlDecode(text: string): Uint8Array | undefined {
  const len = text.length;
  if (len % 4 === 1) return undefined;
  const out = new Uint8Array(Math.floor((len * 3) / 4));
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < len; i++) {
    const c = text.charCodeAt(i);
    const v = c < 128 ? B64URL_LOOKUP[c]! : -1;
    if (v < 0) return undefined;
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >>> bits) & 0xff;
    }
  }
  // Non-zero leftover bits would give a second spelling of the same bytes.
  if (bits > 0 && (acc & ((1 << bits) - 1)) !== 0) return undefined;
  return out;
}

const B64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_LOOKUP = new Int16Array(128).fill(-1);
for (let i = 0; i < B64_ALPHABET.length; i++) B64_LOOKUP[B64_ALPHABET.charCodeAt(i)] = i;

/** Standard base64 with padding (RFC 4648 §4), the encoding of C2SP signed notes and checkpoints. */
export function base64Encode(bytes: Uint8Array): string {
  const body = base64urlEncode(bytes).replaceAll('-', '+').replaceAll('_', '/');
  return body + '='.repeat((4 - (body.length % 4)) % 4);
}

/**
 * Strict standard base64: the RFC 4648 §4 alphabet, length a multiple of 4, padding only where
 * the length needs it, no whitespace, and zero unused bits in the last character. Returns
 * undefined for anything else, so that one byte string has exactly one accepted spelling.
 */
export function base64Decode(text: string): Uint8Array | undefined {
  if (text.length % 4 !== 0) return undefined;
  const pad = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  const body = text.slice(0, text.length - pad);
  for (let i = 0; i < body.length; i++) {
    const c = body.charCodeAt(i);
    if (c >= 128 || B64_LOOKUP[c]! < 0) return undefined;
  }
  // Reuse the url-safe decoder for the bit-level checks (length and trailing bits): the two
  // alphabets differ only in the last two symbols.
  return base64urlDecode(body.replaceAll('+', '-').replaceAll('/', '_'));
}

export function hexEncode(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += (b < 16 ? '0' : '') + b.toString(16);
  return out;
}

/** Lowercase hex only, even length. */
export function hexDecode(text: string): Uint8Array | undefined {
  if (text.length % 2 !== 0 || !/^[0-9a-f]*$/.test(text)) return undefined;
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** Crockford base32, most significant bits first; the input length must be a multiple of 5 bytes. */
export function crockford32Encode(bytes: Uint8Array): string {
  let out = '';
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = ((acc << 8) | b) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += CROCKFORD[(acc >>> bits) & 31]!;
    }
  }
  if (bits > 0) out += CROCKFORD[(acc << (5 - bits)) & 31]!;
  return out;
}

const utf8Encoder = new TextEncoder();
// fatal: malformed UTF-8 is an error, not U+FFFD. ignoreBOM: keep a BOM so that it is rejected later.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function utf8Encode(text: string): Uint8Array {
  return utf8Encoder.encode(text);
}

export function utf8Decode(bytes: Uint8Array): string | undefined {
  try {
    return utf8Decoder.decode(bytes);
  } catch {
    return undefined;
  }
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}
