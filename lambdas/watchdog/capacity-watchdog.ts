/**
 * No-capacity failover for every waiting job, not one job per timeout.
 *
 * Batch puts the reason a queue is blocked only on the RUNNABLE job at its head (in that
 * job's `statusReason`, which ListJobs returns), and its jobStateTimeLimitActions act only on
 * that job: with N Spot jobs waiting for capacity, Batch cancels one every
 * `capacityTimeoutSeconds`, and the N-th fails over after N timeouts
 * (https://docs.aws.amazon.com/batch/latest/userguide/job_stuck_in_runnable.html). A queue
 * blocked by a vCPU quota reports ACTION_REQUIRED or UNDETERMINED, which no
 * jobStateTimeLimitAction can act on at all, so its jobs would wait until the task timeout
 * (https://docs.amazonaws.cn/batch/latest/userguide/job_stuck_in_runnable_undetermined.html).
 *
 * So, for each queue whose head is blocked, every RUNNABLE job that has waited its own timeout
 * is cancelled here with a reason core/failure.ts classifies as NO_CAPACITY: a Spot job then
 * fails over to On-Demand exactly as when Batch cancels the head job; an On-Demand job ends
 * after the attempts core/capacity.ts allows On-Demand, with the quota named in its reason.
 * A queue whose head carries no blocked reason is only busy (jobs queued behind the
 * platform's own maxVcpus): nothing is cancelled, a burst stays on Spot.
 */
import type { CapacityType } from '../../core/job.js';
import { BATCH_REASON_MAX_LENGTH } from '../shared/batch-job-terminator.js';

/** A RUNNABLE job as ListJobs summarizes it (timestamps in epoch milliseconds). */
export interface RunnableJob {
  readonly jobId: string;
  readonly jobName?: string;
  readonly createdAt?: number;
  readonly startedAt?: number;
  readonly stoppedAt?: number;
  readonly statusReason?: string;
}

export interface WatchedQueue {
  readonly capacity: CapacityType;
  readonly jobQueueArn: string;
  /** How long a job of this queue may wait while the queue is blocked. */
  readonly timeoutSeconds: number;
}

export interface CapacityWatchdogDependencies {
  readonly queues: readonly WatchedQueue[];
  /** Every RUNNABLE job of the queue, all pages. */
  readonly listRunnableJobs: (jobQueueArn: string) => Promise<readonly RunnableJob[]>;
  /** Batch CancelJob. */
  readonly cancelJob: (jobId: string, reason: string) => Promise<void>;
  readonly now: () => number;
}

export interface CancelledJob {
  readonly jobId: string;
  readonly jobName?: string;
  readonly capacity: CapacityType;
  readonly waitedSeconds: number;
  readonly reason: string;
}

export interface CapacityWatchdogReport {
  readonly cancelled: readonly CancelledJob[];
  /** Jobs whose cancel failed; the next run tries them again. */
  readonly failed: readonly { readonly jobId: string; readonly error: unknown }[];
}

/**
 * The blocked reasons Batch sets on the head job when the queue cannot place it for want of
 * capacity or of a working account setup (quotas, invalid compute environments), as Batch writes them:
 * `CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - Service cannot fulfill the capacity requested for instance type [...]`
 * (https://docs.aws.amazon.com/batch/latest/userguide/job_stuck_in_runnable_capacity.html),
 * `ACTION_REQUIRED - CE(s) associated with the job queue are invalid.`
 * (https://docs.amazonaws.cn/en_us/batch/latest/userguide/job_stuck_in_runnable_invalid_ce.html),
 * `UNDETERMINED - Batch job is blocked, root cause is undetermined.` (the undetermined page above).
 * MISCONFIGURATION:* reasons are not among them: they concern the job itself (it fits no
 * instance type), which On-Demand would not fix, and the queues' own actions cancel it.
 */
const BLOCKED_REASON = /^(?:CAPACITY:[A-Z_]+|ACTION_REQUIRED|UNDETERMINED)\b/;

export function isBlockedReason(statusReason: string | undefined): boolean {
  return statusReason !== undefined && BLOCKED_REASON.test(statusReason);
}

/** Service Quotas codes of the vCPU quotas that gate GPU instances (G and VT families). */
export const GPU_VCPU_QUOTA_CODES = { spot: 'L-3819A6DF', 'on-demand': 'L-DB2E81BA' } as const satisfies Record<CapacityType, string>;

const QUOTA_NAMES: Record<CapacityType, string> = {
  spot: 'All G and VT Spot Instance Requests',
  'on-demand': 'Running On-Demand G and VT instances',
};

/** Parallel CancelJob calls: a burst of hundreds of waiting jobs ends in seconds without a throttling storm. */
const CANCEL_CONCURRENCY = 8;
const MAX_QUOTED_REASON_LENGTH = 300;

/**
 * The reason a watchdog cancel carries. It starts with `CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY`
 * so that the failure classifier files it as NO_CAPACITY whatever the queue reported, and it
 * quotes what Batch reported and names the quota to raise when that was not a capacity shortage.
 */
export function capacityCancelReason(capacity: CapacityType, waitedSeconds: number, blockedReason: string): string {
  const market = capacity === 'spot' ? 'Spot' : 'On-Demand';
  const quoted =
    blockedReason.length > MAX_QUOTED_REASON_LENGTH ? `${blockedReason.slice(0, MAX_QUOTED_REASON_LENGTH - 1)}…` : blockedReason;
  // On-Demand has no cheaper fallback: a blocked On-Demand queue is most often a quota still at 0.
  const quotaHint =
    capacity === 'on-demand' || !blockedReason.startsWith('CAPACITY:')
      ? `; check the "${QUOTA_NAMES[capacity]}" vCPU quota (${GPU_VCPU_QUOTA_CODES[capacity]})`
      : '';
  const reason = `CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - no ${market} capacity for ${waitedSeconds} s${quotaHint} (gpujobs watchdog; the queue reported: ${quoted})`;
  return reason.slice(0, BATCH_REASON_MAX_LENGTH);
}

/**
 * When the job last started waiting: its submission (Batch sets createdAt at SubmitJob and the
 * job is RUNNABLE seconds later), or, for a job Batch retried in place after a reclaim, no
 * earlier than its previous run, so a job back in the queue gets a full wait of its own.
 */
export function waitingSince(job: RunnableJob): number | undefined {
  const times = [job.createdAt, job.startedAt, job.stoppedAt].filter(
    (time): time is number => typeof time === 'number' && Number.isFinite(time),
  );
  return times.length === 0 ? undefined : Math.max(...times);
}

export function createCapacityWatchdog(dependencies: CapacityWatchdogDependencies) {
  async function watchQueue(
    queue: WatchedQueue,
    report: { cancelled: CancelledJob[]; failed: { jobId: string; error: unknown }[] },
  ): Promise<void> {
    const runnable = await dependencies.listRunnableJobs(queue.jobQueueArn);
    const blocking = runnable.find((job) => isBlockedReason(job.statusReason));
    if (!blocking) return;
    const now = dependencies.now();
    const due = runnable.flatMap((job) => {
      const since = waitingSince(job);
      if (since === undefined) return [];
      const waitedSeconds = Math.floor((now - since) / 1000);
      return waitedSeconds >= queue.timeoutSeconds ? [{ job, waitedSeconds }] : [];
    });
    let next = 0;
    const worker = async () => {
      while (next < due.length) {
        const { job, waitedSeconds } = due[next++]!;
        const reason = capacityCancelReason(queue.capacity, waitedSeconds, blocking.statusReason!);
        try {
          await dependencies.cancelJob(job.jobId, reason);
          report.cancelled.push({
            jobId: job.jobId,
            ...(job.jobName ? { jobName: job.jobName } : {}),
            capacity: queue.capacity,
            waitedSeconds,
            reason,
          });
        } catch (error) {
          report.failed.push({ jobId: job.jobId, error });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(CANCEL_CONCURRENCY, due.length) }, worker));
  }

  return async function failOverWaitingJobs(): Promise<CapacityWatchdogReport> {
    const report = { cancelled: [] as CancelledJob[], failed: [] as { jobId: string; error: unknown }[] };
    await Promise.all(dependencies.queues.map((queue) => watchQueue(queue, report)));
    return report;
  };
}
