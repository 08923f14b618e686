/**
 * Where the next attempt of a job runs, given its capacity policy and what
 * happened to the attempts so far.
 *
 * - First attempt: Spot, unless the policy is `on-demand`.
 * - Spot reclaimed: Spot again while fewer than `maxSpotAttempts` Spot attempts
 *   were made; then On-Demand (`spot-first`) or nothing (`spot-only`).
 * - No Spot capacity: On-Demand at once (`spot-first`) or nothing (`spot-only`);
 *   the queue already waited for capacity before cancelling the attempt.
 * - On-Demand interrupted or short of capacity: On-Demand again, up to
 *   ON_DEMAND_ATTEMPT_LIMIT On-Demand attempts in all. On-Demand instances are not
 *   reclaimed for price, so this is a rare host failure or a brief regional
 *   shortage; one more try is worth it, an open-ended loop of paid attempts is not.
 * - Any other failure (the application, its configuration, a timeout, a cancel):
 *   nothing. Another attempt would fail the same way and cost money.
 *
 * Every run counts: when Batch retries a reclaimed job in place, each run is an attempt
 * of its own in the history, so the Spot budget bounds Batch's retries and the workflow's alike.
 */
import type { CapacityPolicy, CapacityType, FailureClass } from './job.js';
import { clampBatchAttempts } from './retry-strategy.js';

export const ON_DEMAND_ATTEMPT_LIMIT = 2;

export type NextCapacity = CapacityType | 'none';

export interface CapacityHistoryEntry {
  readonly capacity: CapacityType;
  readonly failureClass?: FailureClass;
}

export interface CapacityPlanInput {
  readonly policy: CapacityPolicy;
  readonly maxSpotAttempts: number;
  /** Attempts so far, oldest first; the last one is the attempt that just ended. */
  readonly attempts: readonly CapacityHistoryEntry[];
}

export function planNextCapacity({ policy, maxSpotAttempts, attempts }: CapacityPlanInput): NextCapacity {
  const last = attempts.at(-1);
  if (!last) return policy === 'on-demand' ? 'on-demand' : 'spot';
  const failureClass = last.failureClass;
  if (failureClass !== 'SPOT_RECLAIM' && failureClass !== 'NO_CAPACITY') return 'none';

  if (last.capacity === 'on-demand') {
    const onDemandAttempts = attempts.filter((attempt) => attempt.capacity === 'on-demand').length;
    return onDemandAttempts < ON_DEMAND_ATTEMPT_LIMIT ? 'on-demand' : 'none';
  }

  const spotAttempts = attempts.filter((attempt) => attempt.capacity === 'spot').length;
  if (failureClass === 'SPOT_RECLAIM' && spotAttempts < maxSpotAttempts) return 'spot';
  return policy === 'spot-only' ? 'none' : 'on-demand';
}

/** Spot attempts the job may still make: its budget less every Spot attempt so far, in-place retries included. */
export function remainingSpotAttempts(maxSpotAttempts: number, attempts: readonly Pick<CapacityHistoryEntry, 'capacity'>[]): number {
  return Math.max(0, maxSpotAttempts - attempts.filter((attempt) => attempt.capacity === 'spot').length);
}

/**
 * How many runs Batch may make of the next submission (its `RetryStrategy.Attempts`),
 * given where it goes and the attempts so far (not including it):
 *
 * - Spot: whatever is left of the Spot budget, so Batch's in-place retries after reclaims
 *   never take the job past `maxSpotAttempts`; capped at Batch's 10.
 * - On-Demand: 1. On-Demand instances are not reclaimed, and the rare lost host goes back
 *   to the workflow, which allows ON_DEMAND_ATTEMPT_LIMIT On-Demand attempts in all.
 */
export function batchAttemptsFor(
  next: CapacityType,
  { maxSpotAttempts, attempts }: Pick<CapacityPlanInput, 'maxSpotAttempts' | 'attempts'>,
): number {
  if (next === 'on-demand') return 1;
  return clampBatchAttempts(remainingSpotAttempts(maxSpotAttempts, attempts));
}
