import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../../bench/support/token-bucket.js';

function clock(start = 0) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe('TokenBucket', () => {
  it('allows a full bucket at once, then throttles', () => {
    // GIVEN a bucket of 50 refilling at 50/s, and a clock that does not move
    const time = clock();
    const bucket = new TokenBucket({ ratePerSecond: 50, capacity: 50, now: time.now });
    // WHEN 60 calls arrive in the same instant
    const allowed = Array.from({ length: 60 }, () => bucket.tryTake()).filter(Boolean).length;
    // THEN exactly the bucket's capacity passes
    expect(allowed).toBe(50);
  });

  it('refills at the configured rate: 50/s gives one token every 20 ms', () => {
    const time = clock();
    const bucket = new TokenBucket({ ratePerSecond: 50, capacity: 50, now: time.now });
    while (bucket.tryTake());
    time.advance(19);
    expect(bucket.tryTake()).toBe(false);
    time.advance(1);
    expect(bucket.tryTake()).toBe(true);
    expect(bucket.tryTake()).toBe(false);
  });

  it('sustains its rate under constant overload: 10 s at 200 attempts/s lets about 50/s through', () => {
    const time = clock();
    const bucket = new TokenBucket({ ratePerSecond: 50, capacity: 50, now: time.now });
    let allowed = 0;
    for (let ms = 0; ms < 10_000; ms += 5) {
      if (bucket.tryTake()) allowed++;
      time.advance(5);
    }
    // 50 at once, then 50 per second for the 10 seconds.
    expect(allowed).toBeGreaterThanOrEqual(545);
    expect(allowed).toBeLessThanOrEqual(551);
  });

  it('never holds more than its capacity after a long idle time', () => {
    const time = clock();
    const bucket = new TokenBucket({ ratePerSecond: 50, capacity: 10, now: time.now });
    time.advance(60_000);
    expect(bucket.available()).toBe(10);
  });

  it('fails on a rate or capacity that cannot work', () => {
    expect(() => new TokenBucket({ ratePerSecond: 0, capacity: 1 })).toThrow('Received 0');
    expect(() => new TokenBucket({ ratePerSecond: 1, capacity: 0.5 })).toThrow('Received 0.5');
  });
});
