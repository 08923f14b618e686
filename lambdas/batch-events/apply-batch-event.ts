/**
 * Applies one Batch state change to the job record. Events come at least once and
 * in any order, so every write is decided from the record as stored and is
 * conditional: a duplicate changes nothing, a late event never undoes a newer one,
 * and nothing touches a job that is already terminal (the store refuses).
 *
 * Division of labour: this handler tells the API that an attempt is waiting or
 * running (and on what instance); the workflow's settle-attempt decides how an
 * attempt ended and what follows, so for a finished Batch job only facts are recorded.
 */
import { isAttemptSettled, isTerminal, type Attempt, type JobRecord, type JobStatus } from '../../core/job.js';
import { ConflictError, type JobStore, type PutAttemptOptions } from '../../core/ports.js';
import { JOB_METRICS, type MetricsRecorder } from '../shared/metrics.js';
import { changeStatus, type StatusChangeDependencies } from '../workflow/status-change.js';
import type { BatchAttemptFacts } from './batch-job-event.js';

type StoredAttempt = Attempt & { readonly logStreamName?: string };

export interface BatchEventDependencies extends StatusChangeDependencies {
  readonly store: Pick<JobStore, 'getJob' | 'putAttempt' | 'transition'>;
  readonly instanceTypeOf: (containerInstanceArn: string) => Promise<string | undefined>;
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

  /**
   * Writes `patch` onto the attempt unless it already says all of it. The store refuses (ConflictError)
   * a write that would move the attempt's status back, e.g. when settle-attempt settled it after our read.
   */
  async function updateAttempt(
    jobId: string,
    existing: StoredAttempt,
    patch: Partial<StoredAttempt>,
    options: PutAttemptOptions = {},
  ): Promise<boolean> {
    const changed = Object.entries(patch).some(
      ([field, value]) => value !== undefined && existing[field as keyof StoredAttempt] !== value,
    );
    if (!changed) return false;
    await store.putAttempt(jobId, { ...existing, ...definedOnly(patch) }, options);
    return true;
  }

  /** Moves the job and announces it; losing the race to another writer is not an error. */
  async function moveJob(
    record: JobRecord,
    to: JobStatus,
    set: { startedAt?: string },
    onMoved?: (updated: JobRecord) => void,
  ): Promise<boolean> {
    return (await changeStatus(dependencies, record, to, set, onMoved)) !== undefined;
  }

  /** Seconds from submission to the container running, for the first attempt that ran. */
  function recordTimeToStart(record: JobRecord, startedAt: string): void {
    const seconds = (Date.parse(startedAt) - Date.parse(record.createdAt)) / 1000;
    if (Number.isFinite(seconds)) dependencies.metrics.add(JOB_METRICS.timeToStartSeconds, Math.max(0, seconds));
  }

  return async function applyBatchEvent(facts: BatchAttemptFacts): Promise<BatchEventEffect> {
    const record = await store.getJob(facts.jobId);
    if (!record) return 'not-our-job';
    if (isTerminal(record.status)) return 'job-terminal';
    // Prepare and settle-attempt record each attempt (with its capacity) before submitting it.
    const existing = record.attempts.find((attempt) => attempt.attempt === facts.attempt) as StoredAttempt | undefined;
    if (!existing) return 'attempt-unknown';
    if (isAttemptSettled(existing.status)) return 'attempt-settled';
    const isCurrentAttempt = record.attempts.every((attempt) => attempt.attempt <= facts.attempt);

    try {
      if (facts.batchStatus === 'RUNNING') {
        // A run older than the one recorded (Batch retried in place since) is stale.
        if (existing.startedAt && facts.startedAt && facts.startedAt < existing.startedAt) return 'stale';
        const instanceType = facts.containerInstanceArn ? await dependencies.instanceTypeOf(facts.containerInstanceArn) : undefined;
        const attemptChanged = await updateAttempt(record.jobId, existing, {
          status: 'RUNNING',
          batchJobId: facts.batchJobId,
          startedAt: facts.startedAt,
          instanceType,
          logStreamName: facts.logStreamName,
        });
        if (isCurrentAttempt && record.status === 'PENDING') {
          // startedAt on the job is the first time any attempt ran.
          const startedAt = record.startedAt ?? facts.startedAt ?? dependencies.now();
          const firstRun = record.startedAt === undefined;
          const moved = await moveJob(record, 'RUNNING', { startedAt }, () => {
            if (firstRun) recordTimeToStart(record, startedAt);
          });
          if (moved) return 'job-running';
        }
        return attemptChanged ? 'attempt-updated' : 'duplicate';
      }

      if (WAITING_BATCH_STATUSES.has(facts.batchStatus)) {
        if (existing.status === 'RUNNING') {
          // Waiting after running is news only when Batch reports that the recorded run has
          // stopped (host lost, Batch retrying in place); otherwise the event is just late.
          const recordedRunEnded = Boolean(existing.startedAt && facts.lastRunStoppedAt && facts.lastRunStoppedAt >= existing.startedAt);
          if (!recordedRunEnded) return 'stale';
          await updateAttempt(record.jobId, existing, { status: 'PENDING', batchJobId: facts.batchJobId }, { retryingInPlace: true });
          if (isCurrentAttempt && record.status === 'RUNNING' && (await moveJob(record, 'PENDING', {}))) return 'job-pending';
          return 'attempt-updated';
        }
        return (await updateAttempt(record.jobId, existing, { batchJobId: facts.batchJobId })) ? 'attempt-updated' : 'duplicate';
      }

      // SUCCEEDED or FAILED: settle-attempt owns the outcome; keep the facts for the API meanwhile.
      const instanceType =
        !existing.instanceType && facts.containerInstanceArn ? await dependencies.instanceTypeOf(facts.containerInstanceArn) : undefined;
      const factsChanged = await updateAttempt(record.jobId, existing, {
        batchJobId: facts.batchJobId,
        startedAt: facts.startedAt,
        stoppedAt: facts.stoppedAt,
        exitCode: facts.exitCode,
        statusReason: facts.statusReason,
        logStreamName: facts.logStreamName,
        instanceType,
      });
      return factsChanged ? 'attempt-updated' : 'duplicate';
    } catch (error) {
      // The job became terminal (or moved on) between our read and our write.
      if (error instanceof ConflictError) return 'stale';
      throw error;
    }
  };
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as Partial<T>;
}
