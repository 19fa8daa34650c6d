// The medians the benchmarks report: of repeated timings, of per-run ratios.

/** The median: the middle value, or the mean of the middle two for an even count. */
export function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The upper median: the middle value, or the larger of the middle two (always a measured value). */
export function upperMedian(xs: readonly number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}
