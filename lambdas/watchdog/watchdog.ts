/**
 * One watchdog run: first the capacity failovers (a waiting job is the costlier delay), then
 * the ends whose event was lost. Each part runs even when the other failed; a run with any
 * failure throws after doing everything it could, so the failure shows in the function's
 * errors while the next run, a schedule interval later, tries the rest again.
 */
import type { CapacityWatchdogReport } from './capacity-watchdog.js';
import type { LostEndReport } from './lost-ends.js';

export interface WatchdogReport {
  readonly capacity: CapacityWatchdogReport;
  readonly lostEnds: LostEndReport;
}

export class WatchdogRunError extends AggregateError {
  override readonly name = 'WatchdogRunError';
}

export interface WatchdogDependencies {
  readonly failOverWaitingJobs: () => Promise<CapacityWatchdogReport>;
  readonly settleLostEnds: () => Promise<LostEndReport>;
}

const EMPTY_CAPACITY: CapacityWatchdogReport = { cancelled: [], failed: [] };
const EMPTY_LOST_ENDS: LostEndReport = { examined: 0, settled: [], failed: [] };

export function createWatchdog(dependencies: WatchdogDependencies) {
  return async function runWatchdog(): Promise<WatchdogReport> {
    const errors: unknown[] = [];
    const capacity = await dependencies.failOverWaitingJobs().catch((error: unknown) => {
      errors.push(error);
      return EMPTY_CAPACITY;
    });
    const lostEnds = await dependencies.settleLostEnds().catch((error: unknown) => {
      errors.push(error);
      return EMPTY_LOST_ENDS;
    });
    errors.push(...capacity.failed.map(({ error }) => error), ...lostEnds.failed.map(({ error }) => error));
    if (errors.length > 0) {
      const jobs = [...capacity.failed, ...lostEnds.failed].map(({ jobId }) => jobId);
      throw new WatchdogRunError(
        errors,
        `The watchdog run failed ${errors.length} time(s)${jobs.length > 0 ? `, for jobs ${jobs.join(', ')}` : ''}; the next run tries again.`,
      );
    }
    return { capacity, lostEnds };
  };
}
