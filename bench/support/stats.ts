/** Summary statistics for latency samples. Percentiles use the nearest-rank method, so every reported value was observed. */

export class EmptySampleError extends Error {
  override readonly name = 'EmptySampleError';
}

/** The nearest-rank percentile `p` (0 < p ≤ 100) of `values`. */
export function percentile(values: readonly number[], p: number): number {
  if (!(p > 0 && p <= 100)) throw new RangeError(`Percentile must be in (0, 100]. Received ${p}.`);
  if (values.length === 0) throw new EmptySampleError(`Cannot take the p${p} of an empty sample.`);
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** The median as the mean of the two middle values for an even count (the usual definition for timing runs). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new EmptySampleError('Cannot take the median of an empty sample.');
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export interface SampleSummary {
  readonly count: number;
  readonly min: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

export function summarize(values: readonly number[]): SampleSummary {
  if (values.length === 0) throw new EmptySampleError('Cannot summarize an empty sample.');
  const sorted = [...values].sort((a, b) => a - b);
  return {
    count: sorted.length,
    min: sorted[0]!,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1]!,
    mean: sorted.reduce((sum, value) => sum + value, 0) / sorted.length,
  };
}

/** Events per whole second since `origin` (ms timestamps), one bucket per second from the first to the last event. */
export function perSecondCounts(timestamps: readonly number[], origin = Math.min(...timestamps)): number[] {
  if (timestamps.length === 0) return [];
  const buckets: number[] = [];
  for (const timestamp of timestamps) {
    const second = Math.floor((timestamp - origin) / 1000);
    if (second < 0) throw new RangeError(`Timestamp ${timestamp} is before the origin ${origin}.`);
    while (buckets.length <= second) buckets.push(0);
    buckets[second]! += 1;
  }
  return buckets;
}

/** Runs `task` over `items` with at most `concurrency` in flight, keeping results in input order. */
export async function mapWithConcurrency<T, R>(
  items: readonly T[],
  concurrency: number,
  task: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new RangeError(`Concurrency must be a positive integer. Received ${concurrency}.`);
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}
