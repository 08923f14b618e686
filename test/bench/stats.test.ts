import { describe, expect, it } from 'vitest';
import { EmptySampleError, mapWithConcurrency, median, percentile, perSecondCounts, summarize } from '../../bench/support/stats.js';

describe('percentile (nearest rank)', () => {
  it('returns an observed value: p50 of 1..10 is 5, p99 is 10', () => {
    // GIVEN ten samples in shuffled order
    const values = [7, 3, 10, 1, 5, 9, 2, 8, 4, 6];
    // WHEN / THEN
    expect(percentile(values, 50)).toBe(5);
    expect(percentile(values, 90)).toBe(9);
    expect(percentile(values, 99)).toBe(10);
    expect(percentile(values, 100)).toBe(10);
  });

  it('gives the single value for a sample of one', () => {
    expect(percentile([42], 1)).toBe(42);
    expect(percentile([42], 99)).toBe(42);
  });

  it('fails on an empty sample and on a percentile outside (0, 100]', () => {
    expect(() => percentile([], 50)).toThrow(EmptySampleError);
    expect(() => percentile([1], 0)).toThrow('Received 0');
    expect(() => percentile([1], 101)).toThrow('Received 101');
  });

  it("does not reorder the caller's array", () => {
    const values = [3, 1, 2];
    percentile(values, 50);
    expect(values).toEqual([3, 1, 2]);
  });
});

describe('median', () => {
  it('averages the two middle values of an even sample', () => {
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it('takes the middle value of an odd sample', () => {
    expect(median([9, 1, 5])).toBe(5);
  });
});

describe('summarize', () => {
  it('reports count, extremes, percentiles and mean', () => {
    const summary = summarize([10, 20, 30, 40]);
    expect(summary).toEqual({ count: 4, min: 10, p50: 20, p90: 40, p99: 40, max: 40, mean: 25 });
  });
});

describe('perSecondCounts', () => {
  it('buckets timestamps by whole seconds from the origin, empty seconds included', () => {
    // GIVEN events at 0.1 s, 0.9 s, 1.0 s and 3.5 s after the origin
    const counts = perSecondCounts([1_100, 1_900, 2_000, 4_500], 1_000);
    // THEN seconds 0..3 hold 2, 1, 0, 1
    expect(counts).toEqual([2, 1, 0, 1]);
  });

  it('fails when an event precedes the origin', () => {
    expect(() => perSecondCounts([500], 1_000)).toThrow(RangeError);
  });
});

describe('mapWithConcurrency', () => {
  it('never has more than the limit in flight and keeps results in input order', async () => {
    let inFlight = 0;
    let peak = 0;
    const results = await mapWithConcurrency([5, 1, 4, 2, 3, 0], 2, async (delay, index) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((resolve) => setTimeout(resolve, delay));
      inFlight--;
      return index * 10;
    });
    expect(peak).toBe(2);
    expect(results).toEqual([0, 10, 20, 30, 40, 50]);
  });

  it('rejects a concurrency that is not a positive integer', async () => {
    await expect(mapWithConcurrency([1], 0, async (x) => x)).rejects.toThrow('Received 0');
  });
});
