/**
 * Applies one Batch state change to the job record. Events come at least once and
 * in any order, so every write is decided from the record as stored and is
 * conditional: a duplicate changes nothing, a late event never undoes a newer one,
 * and nothing touches a job that is already terminal (the store refuses).
 *
 * Division of labour: this handler tells the API that an attempt is waiting or
 * running (and on what instance); the workflow's settle-attempt decides how a
 * submission ended and what follows, so for a finished Batch job only facts are
 * recorded. One exception: when Batch runs a job again in place (after losing its
 * host), the run that ended is an attempt of its own and is settled here, with its
 * times, reason and cost, so the owner sees the reclaim while the retry waits or runs.
 */
import { recordEndedRuns } from './record-runs.js';
import { announceStatusChange, type StatusChangeDependencies } from './status-change.js';
import { updateJob, type JobDecision } from './update-job.js';
import { JOB_METRICS } from '../core/contract/metrics.js';
import { definedOnly, type StoredAttempt } from '../core/job-change.js';
import { isAttemptSettled, isTerminal, type Attempt, type JobRecord, type JobStatus } from '../core/job.js';
import type { JobStore } from '../core/ports.js';
import type { MetricsRecorder } from '../core/contract/metrics.js';
import type { BatchAttemptFacts } from '../core/batch-result.js';

export interface BatchEventDependencies extends StatusChangeDependencies {
  readonly store: Pick<JobStore, 'getJob' | 'update'>;
  readonly instanceTypeOf: (containerInstanceArn: string) => Promise<string | undefined>;
  /** What an ended attempt cost, when its instance type and times are known. */
  readonly attemptCostUsd: (attempt: Attempt) => number | undefined;
  /** Records TimeToStartSeconds when this event is the one that first moved the job to RUNNING. */
  readonly metrics: MetricsRecorder;
}

export type BatchEventEffect =
  | 'not-our-job'
  | 'job-terminal'
  | 'attempt-unknown'
  | 'attempt-settled'
  | 'stale'
  | 'duplicate'
  | 'attempt-updated'
  | 'job-running'
  | 'job-pending';

const WAITING_BATCH_STATUSES = new Set(['SUBMITTED', 'PENDING', 'RUNNABLE', 'STARTING']);

export function createBatchEventApplier(dependencies: BatchEventDependencies) {
  const { store } = dependencies;

  /** Seconds from submission to the container running, for the first attempt that ran. */
  function recordTimeToStart(record: JobRecord, startedAt: string): void {
    const seconds = (Date.parse(startedAt) - Date.parse(record.createdAt)) / 1000;
    if (Number.isFinite(seconds)) dependencies.metrics.add(JOB_METRICS.timeToStartSeconds, Math.max(0, seconds));
  }

  /**
   * One write of the attempts, with the job's move when there is one; `unchanged` when the
   * store found nothing new to write (core/job-change.ts). The store refuses a write that would move an
   * attempt back (one settle-attempt settled after our read): the next round decides again.
   */
  function write(
    record: JobRecord,
    attempts: readonly StoredAttempt[],
    unchanged: BatchEventEffect,
    move?: { readonly to: JobStatus; readonly startedAt?: string; readonly effect: BatchEventEffect; readonly onMoved?: () => void },
  ): JobDecision<BatchEventEffect> {
    return {
      write: { attempts, ...(move ? { to: move.to, set: { startedAt: move.startedAt } } : {}), now: dependencies.now() },
      after: async (written) => {
        if (!move) return written.version === record.version ? unchanged : 'attempt-updated';
        move.onMoved?.();
        await announceStatusChange(dependencies, written, record.status);
        return move.effect;
      },
    };
  }

  return function applyBatchEvent(facts: BatchAttemptFacts): Promise<BatchEventEffect> {
    return updateJob<BatchEventEffect>(store, facts.jobId, async (record) => {
      if (!record) return { done: 'not-our-job' };
      if (isTerminal(record.status)) return { done: 'job-terminal' };
      // Prepare and settle-attempt record each submission's first attempt (with its capacity) before submitting it.
      const submitted = record.attempts.find((attempt) => attempt.attempt === facts.submittedAttempt);
      if (!submitted) return { done: 'attempt-unknown' };
      const existing = record.attempts.find((attempt) => attempt.attempt === facts.attempt) as StoredAttempt | undefined;
      const isCurrentAttempt = record.attempts.every((attempt) => attempt.attempt <= facts.attempt);
      // The earlier runs Batch retried in place, as settled attempts; those already settled are left as they are.
      const earlierRuns = await recordEndedRuns(record, submitted.capacity, facts.endedAttempts, dependencies);

      if (existing && isAttemptSettled(existing.status)) return write(record, earlierRuns, 'attempt-settled');
      // Batch's retry in place is the next attempt, on the capacity of the submission it belongs to.
      const base: StoredAttempt = existing ?? { attempt: facts.attempt, capacity: submitted.capacity, status: 'PENDING' };

      if (facts.batchStatus === 'RUNNING') {
        const instanceType = facts.containerInstanceArn ? await dependencies.instanceTypeOf(facts.containerInstanceArn) : undefined;
        const running: StoredAttempt = {
          ...base,
          ...definedOnly({
            status: 'RUNNING' as const,
            batchJobId: facts.batchJobId,
            // A retry Batch did not give a start time yet started now, as far as anyone can tell.
            startedAt: facts.startedAt ?? base.startedAt ?? (facts.endedAttempts.length > 0 ? dependencies.now() : undefined),
            instanceType,
            logStreamName: facts.logStreamName,
          }),
        };
        if (isCurrentAttempt && record.status === 'PENDING') {
          // startedAt on the job is the first time any attempt ran.
          const startedAt = record.startedAt ?? running.startedAt ?? dependencies.now();
          const firstRun = record.startedAt === undefined;
          return write(record, [...earlierRuns, running], 'duplicate', {
            to: 'RUNNING',
            startedAt,
            effect: 'job-running',
            onMoved: () => {
              if (firstRun) recordTimeToStart(record, startedAt);
            },
          });
        }
        return write(record, [...earlierRuns, running], 'duplicate');
      }

      if (WAITING_BATCH_STATUSES.has(facts.batchStatus)) {
        // Waiting after running is an old event: a run that ended is listed, and makes this a later attempt.
        if (existing?.status === 'RUNNING') return write(record, earlierRuns, 'stale');
        const waiting = [...earlierRuns, { ...base, ...definedOnly({ batchJobId: facts.batchJobId }) }];
        // Batch retries in place after the host was lost: the job waits again until the retry runs.
        if (isCurrentAttempt && record.status === 'RUNNING')
          return write(record, waiting, 'duplicate', { to: 'PENDING', effect: 'job-pending' });
        return write(record, waiting, 'duplicate');
      }

      // SUCCEEDED or FAILED: settle-attempt owns the outcome of the last attempt; keep the facts for the API meanwhile.
      const instanceType =
        !base.instanceType && facts.containerInstanceArn ? await dependencies.instanceTypeOf(facts.containerInstanceArn) : undefined;
      const withFacts: StoredAttempt = {
        ...base,
        ...definedOnly({
          batchJobId: facts.batchJobId,
          startedAt: facts.startedAt,
          stoppedAt: facts.stoppedAt,
          exitCode: facts.exitCode,
          statusReason: facts.statusReason,
          logStreamName: facts.logStreamName,
          instanceType,
        }),
      };
      return write(record, [...earlierRuns, withFacts], 'duplicate');
    });
  };
}
