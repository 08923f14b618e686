/**
 * What an attempt, and a job, cost: the instance's hourly price × the attempt's
 * billed duration. EC2 Linux bills per second with a 60-second minimum.
 *
 * The cost is the container's run time (Batch startedAt → stoppedAt) on its
 * instance: what the job kept busy, not the instance's whole life (boot, idle
 * time before scale-in, other jobs packed on it), which Batch shares across jobs.
 */
import type { Attempt, CapacityType } from './job.js';
import { onDemandPriceUsdPerHour, SPOT_PRICE_ESTIMATE_FRACTION } from './prices.js';

export const MINIMUM_BILLED_SECONDS = 60;

export interface AttemptCostInput {
  readonly instanceType?: string;
  readonly capacity: CapacityType;
  /** ISO-8601; absent when the container never started. */
  readonly startedAt?: string;
  /** ISO-8601; absent while the attempt still runs. */
  readonly stoppedAt?: string;
  /** The Spot price the instance ran at, when known. */
  readonly spotPriceUsdPerHour?: number;
  /** Cost of a running attempt up to this moment (ISO-8601); without it a running attempt has no cost yet. */
  readonly now?: string;
}

export interface AttemptCost {
  readonly costUsd: number;
  /** True when the price was assumed (Spot without a known Spot price). */
  readonly estimated: boolean;
  readonly billedSeconds: number;
  readonly usdPerHour: number;
}

/** Local mode runs on the developer's own machine: its instance types are `local` or `local…`. */
export function isLocalInstanceType(instanceType: string): boolean {
  return /^local(?:$|[.:/_-])/.test(instanceType);
}

const roundUsd = (usd: number) => Math.round(usd * 1e6) / 1e6;

const epochMs = (iso: string | undefined) => {
  if (iso === undefined) return undefined;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? undefined : ms;
};

/**
 * The cost of one attempt; undefined when it cannot be known (unknown instance
 * type, or still running without `now`). An attempt whose container never
 * started costs 0.
 */
export function attemptCostUsd(input: AttemptCostInput): AttemptCost | undefined {
  const started = epochMs(input.startedAt);
  if (started === undefined) return { costUsd: 0, estimated: false, billedSeconds: 0, usdPerHour: 0 };
  const stopped = epochMs(input.stoppedAt) ?? epochMs(input.now);
  if (stopped === undefined || input.instanceType === undefined) return undefined;
  const billedSeconds = Math.max(MINIMUM_BILLED_SECONDS, Math.ceil(Math.max(0, stopped - started) / 1000));
  if (isLocalInstanceType(input.instanceType)) return { costUsd: 0, estimated: false, billedSeconds, usdPerHour: 0 };

  const onDemand = onDemandPriceUsdPerHour(input.instanceType);
  let usdPerHour: number;
  let estimated = false;
  if (input.capacity === 'spot' && input.spotPriceUsdPerHour !== undefined) {
    usdPerHour = input.spotPriceUsdPerHour;
  } else if (onDemand === undefined) {
    return undefined;
  } else if (input.capacity === 'spot') {
    usdPerHour = onDemand * SPOT_PRICE_ESTIMATE_FRACTION;
    estimated = true;
  } else {
    usdPerHour = onDemand;
  }
  return { costUsd: roundUsd((usdPerHour * billedSeconds) / 3600), estimated, billedSeconds, usdPerHour };
}

/** The job's total: the sum of its attempts' known costs. */
export function jobCostUsd(attempts: readonly Pick<Attempt, 'costUsd'>[]): number {
  return roundUsd(attempts.reduce((total, attempt) => total + (attempt.costUsd ?? 0), 0));
}

/** The part of the total spent on attempts that Spot reclaimed before they finished. */
export function lostToReclaimsUsd(attempts: readonly Pick<Attempt, 'costUsd' | 'failureClass'>[]): number {
  return jobCostUsd(attempts.filter((attempt) => attempt.failureClass === 'SPOT_RECLAIM'));
}
