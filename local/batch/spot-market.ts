/**
 * The simulated Spot market: Spot capacity that can be switched off and on, and reclaims of
 * running Spot attempts, with the reason EC2's interruption gives them in Batch.
 */
import type { AttemptStop, BatchJob, RunningAttempt } from './batch-job.js';
import { BATCH_STATUS_REASON } from './status-reasons.js';

export class SpotMarket {
  private available = true;

  get capacityAvailable(): boolean {
    return this.available;
  }

  setCapacity(available: boolean): void {
    this.available = available;
  }

  /** The stops a reclaim of every Spot instance gives: one per running Spot attempt not already being stopped. */
  reclaims(jobs: Iterable<BatchJob>): { readonly running: RunningAttempt; readonly stop: AttemptStop }[] {
    const stops: { running: RunningAttempt; stop: AttemptStop }[] = [];
    for (const job of jobs) {
      if (job.capacity !== 'spot' || !job.running || job.running.stop) continue;
      stops.push({
        running: job.running,
        stop: { statusReason: BATCH_STATUS_REASON.hostTerminated(job.running.instanceId), kind: 'reclaim' },
      });
    }
    return stops;
  }
}
