// Latency histograms (HDR, microseconds, 3 significant digits) and their summary.
import {
  build,
  decodeFromCompressedBase64,
  encodeIntoCompressedBase64,
  type Histogram,
} from 'hdr-histogram-js';

export type { Histogram };

export function latencyHistogram(): Histogram {
  // Auto-resizing, so a stalled server's minutes-long outliers are kept, not clipped.
  return build({ lowestDiscernibleValue: 1, numberOfSignificantValueDigits: 3 });
}

export interface LatencySummary {
  count: number;
  meanUs: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
  /** The whole histogram (HdrHistogram compressed base64), for merging or plotting elsewhere. */
  hdr: string;
}

export function summarize(histogram: Histogram): LatencySummary {
  const maxUs = histogram.maxValue;
  // A percentile is reported as the top of its bucket, which can lie above the largest value seen.
  const at = (percentile: number) => Math.min(histogram.getValueAtPercentile(percentile), maxUs);
  return {
    count: histogram.totalCount,
    meanUs: Math.round(histogram.mean),
    p50Us: at(50),
    p90Us: at(90),
    p99Us: at(99),
    p999Us: at(99.9),
    maxUs,
    hdr: encodeIntoCompressedBase64(histogram),
  };
}

/** The summary of several runs' histograms together (each summary's `hdr`, merged). */
export function mergeSummaries(summaries: LatencySummary[]): LatencySummary {
  const merged = latencyHistogram();
  for (const summary of summaries) merged.add(decodeFromCompressedBase64(summary.hdr));
  return summarize(merged);
}
