import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { BatchJob } from '../../../local/batch/batch-job.js';
import { Scheduler } from '../../../local/batch/scheduler.js';
import { BATCH_STATUS_REASON } from '../../../local/batch/status-reasons.js';

/** Only what the scheduler reads of a job. */
const job = (sequence: number, gpus: number, capacity: 'spot' | 'on-demand' = 'spot') =>
  ({ jobName: `job-${sequence}`, sequence, gpus, capacity, status: 'RUNNABLE' }) as unknown as BatchJob;

function scheduler(options: { slots?: number[]; spot?: boolean } = {}) {
  const started: { job: string; slots: readonly number[] }[] = [];
  const cancelled: { job: string; reason: string }[] = [];
  const instance = new Scheduler({
    slots: options.slots ?? [0, 1],
    capacityTimeoutSeconds: 10,
    instanceType: 'g5.xlarge',
    spotCapacityAvailable: () => options.spot ?? true,
    start: (scheduled, slots) => {
      started.push({ job: scheduled.jobName, slots });
      scheduled.status = 'STARTING';
      instance.dequeue(scheduled);
    },
    cancel: (stuck, reason) => {
      cancelled.push({ job: stuck.jobName, reason });
      stuck.status = 'FAILED';
      instance.dequeue(stuck);
    },
  });
  return { instance, started, cancelled };
}

describe("the stand-in's scheduler", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('starts jobs in submission order on the lowest free slots, whatever order they became RUNNABLE in', () => {
    const { instance, started } = scheduler({ slots: [0, 1, 2] });
    instance.enqueue(job(2, 1));
    instance.enqueue(job(1, 2));
    instance.schedule();
    expect(started).toEqual([
      { job: 'job-1', slots: [0, 1] },
      { job: 'job-2', slots: [2] },
    ]);
  });

  it('lets a smaller job start past one waiting for slots, and starts the waiting one once slots are released', () => {
    const { instance, started } = scheduler({ slots: [0, 1] });
    instance.enqueue(job(1, 1));
    instance.schedule();
    instance.enqueue(job(2, 2));
    instance.enqueue(job(3, 1));
    instance.schedule();
    expect(started.map((entry) => entry.job)).toEqual(['job-1', 'job-3']);
    instance.release([0, 1]);
    instance.schedule();
    expect(started.at(-1)).toEqual({ job: 'job-2', slots: [0, 1] });
  });

  it("cancels a job the pool can never fit after the capacity timeout, with Batch's misconfiguration reason", () => {
    const { instance, cancelled } = scheduler({ slots: [0] });
    instance.enqueue(job(1, 2));
    instance.schedule();
    vi.advanceTimersByTime(9_999);
    expect(cancelled).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(cancelled).toEqual([{ job: 'job-1', reason: BATCH_STATUS_REASON.jobTooLarge }]);
  });

  it('blocks the Spot queue by its head job alone while Spot has no capacity, and leaves On-Demand running', () => {
    const { instance, started, cancelled } = scheduler({ slots: [0, 1], spot: false });
    const head = job(1, 1);
    const behind = job(2, 1);
    instance.enqueue(head);
    instance.enqueue(behind);
    instance.enqueue(job(3, 1, 'on-demand'));
    instance.schedule();
    expect(started.map((entry) => entry.job)).toEqual(['job-3']);
    expect(head.statusReason).toBe(BATCH_STATUS_REASON.queueBlockedNoCapacity('g5.xlarge'));
    expect(behind.statusReason).toBeUndefined();
    vi.advanceTimersByTime(10_000);
    expect(cancelled).toEqual([{ job: 'job-1', reason: BATCH_STATUS_REASON.noCapacity }]);
  });

  it('starts and cancels nothing once halted', () => {
    const { instance, started, cancelled } = scheduler({ slots: [0] });
    instance.enqueue(job(1, 2));
    instance.schedule();
    instance.halt();
    instance.enqueue(job(2, 1));
    instance.schedule();
    vi.advanceTimersByTime(60_000);
    expect(started).toEqual([]);
    expect(cancelled).toEqual([]);
  });
});
