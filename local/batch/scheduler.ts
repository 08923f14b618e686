/**
 * The stand-in's scheduler: the RUNNABLE jobs of both queues in submission order over one pool
 * of GPU slots, and each queue's jobStateTimeLimitActions (the capacity clock that cancels a
 * job stuck RUNNABLE for a pool that can never fit it, or for Spot capacity).
 */
import type { BatchJob } from './batch-job.js';
import { BATCH_STATUS_REASON } from './status-reasons.js';

export interface SchedulerOptions {
  /** The GPU slots of the pool, by index. */
  readonly slots: readonly number[];
  /** Seconds a blocked job may wait RUNNABLE before it is cancelled. */
  readonly capacityTimeoutSeconds: number;
  /** Named in the reason the head of a queue without capacity carries. */
  readonly instanceType: string;
  readonly spotCapacityAvailable: () => boolean;
  /** Starts `job` on `slots`, which are taken for it until released; it must leave RUNNABLE. */
  readonly start: (job: BatchJob, slots: readonly number[]) => void;
  /** The capacity clock of a RUNNABLE job ran out: it ends FAILED with `statusReason`. */
  readonly cancel: (job: BatchJob, statusReason: string) => void;
}

export class Scheduler {
  /** RUNNABLE jobs in submission order: what schedule() looks at, rather than every job ever seen. */
  private readonly runnable: BatchJob[] = [];
  private readonly freeSlots: Set<number>;
  private halted = false;

  constructor(private readonly options: SchedulerOptions) {
    this.freeSlots = new Set(options.slots);
  }

  /** The job became RUNNABLE. */
  enqueue(job: BatchJob): void {
    insertBySequence(this.runnable, job);
  }

  /** The job left RUNNABLE. */
  dequeue(job: BatchJob): void {
    removeBySequence(this.runnable, job);
  }

  /** An attempt ended: its slots take the next job. */
  release(slots: readonly number[]): void {
    for (const slot of slots) this.freeSlots.add(slot);
  }

  /** Starts what fits, in submission order; a job that needs more slots than are free waits without blocking the smaller ones behind it. */
  schedule(): void {
    if (this.halted) return;
    let spotQueueHead = true;
    // A copy: starting or failing a job takes it out of the queue.
    for (const job of [...this.runnable]) {
      if (job.gpus > this.options.slots.length) {
        this.startCapacityClock(job, BATCH_STATUS_REASON.jobTooLarge);
        continue;
      }
      if (job.capacity === 'spot' && !this.options.spotCapacityAvailable()) {
        // A queue without capacity is blocked by its head job alone: Batch puts the blocked reason on
        // that job and its jobStateTimeLimitActions cancel only it; the jobs behind it simply wait
        // (https://docs.aws.amazon.com/batch/latest/userguide/job_stuck_in_runnable.html).
        if (spotQueueHead) {
          this.startCapacityClock(
            job,
            BATCH_STATUS_REASON.noCapacity,
            BATCH_STATUS_REASON.queueBlockedNoCapacity(this.options.instanceType),
          );
        } else {
          this.stopCapacityClock(job);
        }
        spotQueueHead = false;
        continue;
      }
      this.stopCapacityClock(job);
      if (job.gpus <= this.freeSlots.size) this.options.start(job, this.takeSlots(job.gpus));
    }
  }

  stopCapacityClock(job: BatchJob): void {
    if (job.blockedTimer) clearTimeout(job.blockedTimer);
    job.blockedTimer = undefined;
    job.blockedSince = undefined;
    // A waiting job carries a statusReason only while it blocks its queue.
    if (job.status === 'RUNNABLE') job.statusReason = undefined;
  }

  /** Starts nothing more and cancels nothing more: the platform is going down. */
  halt(): void {
    this.halted = true;
    for (const job of this.runnable) {
      if (job.blockedTimer) clearTimeout(job.blockedTimer);
    }
  }

  /**
   * A queue's jobStateTimeLimitActions: cancel a job stuck RUNNABLE for the timeout, with
   * `blockedReason` as its statusReason while it waits.
   */
  private startCapacityClock(job: BatchJob, reason: string, blockedReason?: string): void {
    if (blockedReason !== undefined) job.statusReason = blockedReason;
    if (job.blockedTimer) return;
    job.blockedSince = Date.now();
    job.blockedTimer = setTimeout(() => {
      job.blockedTimer = undefined;
      if (job.status !== 'RUNNABLE') return;
      this.options.cancel(job, reason);
      this.schedule();
    }, this.options.capacityTimeoutSeconds * 1000);
  }

  /** The lowest free slots, as CUDA_VISIBLE_DEVICES will list them. */
  private takeSlots(count: number): number[] {
    const slots = [...this.freeSlots].sort((a, b) => a - b).slice(0, count);
    for (const slot of slots) this.freeSlots.delete(slot);
    return slots;
  }
}

/** Batch runs a queue's jobs in submission order, and a job retried in place keeps its place. */
function insertBySequence(queue: BatchJob[], job: BatchJob): void {
  queue.splice(positionOf(queue, job.sequence), 0, job);
}

function removeBySequence(queue: BatchJob[], job: BatchJob): void {
  const position = positionOf(queue, job.sequence);
  if (queue[position] === job) queue.splice(position, 1);
}

/** Where `sequence` is, or would go, in a queue sorted by sequence (binary search). */
function positionOf(queue: readonly BatchJob[], sequence: number): number {
  let low = 0;
  let high = queue.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (queue[middle]!.sequence < sequence) low = middle + 1;
    else high = middle;
  }
  return low;
}
