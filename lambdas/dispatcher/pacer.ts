/**
 * Spaces calls at least 1/rate seconds apart. Every execution the dispatcher starts submits
 * a Batch job moments later, and Batch accepts at most 50 SubmitJob calls per second per
 * account: pacing the starts keeps a burst of submissions flowing at that rate instead of
 * arriving all at once and being throttled into long retry backoffs.
 */
export interface PacerClock {
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
}

const realClock: PacerClock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export class InvalidDispatchRateError extends Error {
  override readonly name = 'InvalidDispatchRateError';
}

export type Pace = () => Promise<void>;

export function createPacer(ratePerSecond: number, clock: PacerClock = realClock): Pace {
  if (!Number.isFinite(ratePerSecond) || ratePerSecond <= 0) {
    throw new InvalidDispatchRateError(`The dispatch rate must be a positive number of executions per second. Received ${ratePerSecond}.`);
  }
  const intervalMs = 1000 / ratePerSecond;
  let nextSlot = Number.NEGATIVE_INFINITY;
  return async () => {
    const now = clock.now();
    // Reserve the slot before waiting, so concurrent callers queue up one interval apart.
    const slot = Math.max(now, nextSlot);
    nextSlot = slot + intervalMs;
    if (slot > now) await clock.sleep(slot - now);
  };
}

/** The pacer for a rate read from the environment; no pacing when the variable is unset. */
export function pacerFromEnvironment(value: string | undefined, name: string): Pace | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const rate = Number(value);
  if (!Number.isFinite(rate) || rate <= 0) {
    throw new InvalidDispatchRateError(`${name} must be a positive number of executions per second. Received "${value}".`);
  }
  return createPacer(rate);
}
