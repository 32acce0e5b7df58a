// Times on the wire are RFC 3339 UTC strings in exactly one spelling each, so that the same
// instant always has the same canonical bytes: artifacts use whole seconds
// (YYYY-MM-DDTHH:MM:SSZ), ledger events milliseconds (YYYY-MM-DDTHH:MM:SS.sssZ).

const SECONDS_FORMAT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const MILLIS_FORMAT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** Epoch seconds of a whole-second UTC timestamp, or undefined if it is not exactly that form. */
export function parseSeconds(text: string): number | undefined {
  if (!SECONDS_FORMAT.test(text)) return undefined;
  const ms = Date.parse(text);
  // Round-tripping rejects impossible dates such as 2026-02-30 that Date.parse would roll over.
  if (!Number.isFinite(ms) || formatSeconds(ms / 1000) !== text) return undefined;
  return ms / 1000;
}

export function formatSeconds(epochSeconds: number): string {
  return new Date(Math.floor(epochSeconds) * 1000).toISOString().replace('.000Z', 'Z');
}

/** The last text parseMillis parsed and its result: the events of one batch mostly share a time. */
let last: { text: string; ms: number | undefined } = { text: '', ms: undefined };

/** Epoch milliseconds of a millisecond UTC timestamp, or undefined. */
export function parseMillis(text: string): number | undefined {
  if (text === last.text) return last.ms;
  let ms: number | undefined = Date.parse(text);
  if (!MILLIS_FORMAT.test(text) || !Number.isFinite(ms) || formatMillis(ms) !== text) ms = undefined;
  last = { text, ms };
  return ms;
}

export function formatMillis(epochMillis: number): string {
  return new Date(Math.floor(epochMillis)).toISOString();
}
