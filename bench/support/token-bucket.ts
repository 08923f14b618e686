/**
 * A token bucket: `ratePerSecond` tokens refill continuously up to `capacity`. This is how
 * AWS describes its API rate limits (a bucket size and a refill rate), so the stand-ins
 * throttle the way the services do.
 */
export interface TokenBucketOptions {
  readonly ratePerSecond: number;
  /** Tokens available at once; the bucket starts full. */
  readonly capacity: number;
  /** Milliseconds clock. @default performance.now */
  readonly now?: () => number;
}

export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly now: () => number;

  constructor(private readonly options: TokenBucketOptions) {
    if (!(options.ratePerSecond > 0)) throw new RangeError(`ratePerSecond must be positive. Received ${options.ratePerSecond}.`);
    if (!(options.capacity >= 1)) throw new RangeError(`capacity must be at least 1. Received ${options.capacity}.`);
    this.now = options.now ?? (() => performance.now());
    this.tokens = options.capacity;
    this.last = this.now();
  }

  /** Takes one token when there is one; false means the call is throttled. */
  tryTake(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Tokens available now (fractional while refilling). */
  available(): number {
    this.refill();
    return this.tokens;
  }

  private refill(): void {
    const now = this.now();
    const elapsedSeconds = Math.max(0, now - this.last) / 1000;
    this.last = now;
    this.tokens = Math.min(this.options.capacity, this.tokens + elapsedSeconds * this.options.ratePerSecond);
  }
}
