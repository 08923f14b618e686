/**
 * Bounded retry of an AWS call that was throttled. The SDK already retries a
 * throttled request a few times; this outer loop is for bursts that outlast those
 * retries (thousands of submissions draining from the intake queue at once), so
 * one slow second does not send a whole SQS batch back to the queue.
 */

/** Error names AWS services use when a caller exceeds a rate limit. */
const THROTTLING_ERROR_NAMES: ReadonlySet<string> = new Set([
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'ProvisionedThroughputExceededException',
  'SlowDown',
]);

export function isThrottlingError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const candidate = error as {
    name?: unknown;
    $retryable?: { throttling?: unknown };
    $metadata?: { httpStatusCode?: unknown };
  };
  return (
    (typeof candidate.name === 'string' && THROTTLING_ERROR_NAMES.has(candidate.name)) ||
    candidate.$retryable?.throttling === true ||
    candidate.$metadata?.httpStatusCode === 429
  );
}

export interface ThrottlingRetryOptions {
  /** Calls in all, the first one included. */
  readonly maxAttempts: number;
  /** Upper bound of the first backoff; doubles on every retry. */
  readonly baseDelayMs: number;
  /** Upper bound of any single backoff. */
  readonly maxDelayMs: number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
  readonly onRetry?: (retry: { readonly attempt: number; readonly delayMs: number; readonly error: unknown }) => void;
}

export const DEFAULT_THROTTLING_RETRY: ThrottlingRetryOptions = {
  maxAttempts: 5,
  baseDelayMs: 100,
  maxDelayMs: 2_000,
};

const sleepFor = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Calls `operation`, retrying only throttling errors with exponential backoff and
 * full jitter (a random delay up to the exponential bound, so callers throttled
 * together do not retry together). Other errors, and the last throttling error,
 * are thrown unchanged.
 */
export async function retryOnThrottling<T>(
  operation: () => Promise<T>,
  options: ThrottlingRetryOptions = DEFAULT_THROTTLING_RETRY,
): Promise<T> {
  if (!Number.isInteger(options.maxAttempts) || options.maxAttempts < 1) {
    throw new RangeError(`maxAttempts must be an integer of at least 1. Received ${options.maxAttempts}.`);
  }
  const sleep = options.sleep ?? sleepFor;
  const random = options.random ?? Math.random;
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation();
    } catch (error) {
      if (!isThrottlingError(error) || attempt >= options.maxAttempts) throw error;
      const bound = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** (attempt - 1));
      const delayMs = Math.floor(random() * bound);
      options.onRetry?.({ attempt, delayMs, error });
      await sleep(delayMs);
    }
  }
}
