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
import { isAttemptSettled, isTerminal, type Attempt, type CapacityType, type JobRecord, type JobStatus } from '../../core/job.js';
import { ConflictError, type JobStore } from '../../core/ports.js';
import { JOB_METRICS, type MetricsRecorder } from '../shared/metrics.js';
import { changeStatus, type StatusChangeDependencies } from '../workflow/status-change.js';
import type { BatchAttemptFacts, EndedAttemptFacts } from './batch-job-event.js';

type StoredAttempt = Attempt & { readonly logStreamName?: string };

export interface BatchEventDependencies extends StatusChangeDependencies {
  readonly store: Pick<JobStore, 'getJob' | 'putAttempts' | 'transition'>;
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

  /** Writes the attempts that say something new, in one write; false when there was nothing to write. */
  async function writeAttempts(record: JobRecord, attempts: readonly StoredAttempt[]): Promise<boolean> {
    const changed = attempts.filter((attempt) => {
      const existing = record.attempts.find((candidate) => candidate.attempt === attempt.attempt) as StoredAttempt | undefined;
      return !existing || Object.entries(attempt).some(([field, value]) => value !== undefined && existing[field as keyof StoredAttempt] !== value);
    });
    if (changed.length === 0) return false;
    // The store refuses (ConflictError) a write that would move an attempt back, e.g. one settle-attempt settled after our read.
    await store.putAttempts(record.jobId, changed);
    return true;
  }

  /** The earlier runs Batch retried in place, as settled attempts; those already settled are left as they are. */
  async function settledEarlierRuns(record: JobRecord, capacity: CapacityType, ended: readonly EndedAttemptFacts[]): Promise<StoredAttempt[]> {
    const attempts: StoredAttempt[] = [];
    for (const facts of ended) {
      const existing = record.attempts.find((candidate) => candidate.attempt === facts.attempt) as StoredAttempt | undefined;
      if (existing && isAttemptSettled(existing.status)) continue;
      const instanceType =
        existing?.instanceType ?? (facts.containerInstanceArn ? await dependencies.instanceTypeOf(facts.containerInstanceArn) : undefined);
      const settled: StoredAttempt = definedOnly({
        ...existing,
        attempt: facts.attempt,
        capacity: existing?.capacity ?? capacity,
        status: facts.status,
        failureClass: facts.failureClass,
        statusReason: facts.statusReason,
        exitCode: facts.exitCode,
        startedAt: facts.startedAt ?? existing?.startedAt,
        stoppedAt: facts.stoppedAt ?? existing?.stoppedAt,
        logStreamName: facts.logStreamName ?? existing?.logStreamName,
        instanceType,
      }) as StoredAttempt;
      const costUsd = dependencies.attemptCostUsd(settled);
      attempts.push(costUsd === undefined ? settled : { ...settled, costUsd });
    }
    return attempts;
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
    // Prepare and settle-attempt record each submission's first attempt (with its capacity) before submitting it.
    const submitted = record.attempts.find((attempt) => attempt.attempt === facts.submittedAttempt);
    if (!submitted) return 'attempt-unknown';
    const existing = record.attempts.find((attempt) => attempt.attempt === facts.attempt) as StoredAttempt | undefined;
    const isCurrentAttempt = record.attempts.every((attempt) => attempt.attempt <= facts.attempt);

    try {
      const earlierRuns = await settledEarlierRuns(record, submitted.capacity, facts.endedAttempts);
      if (existing && isAttemptSettled(existing.status)) {
        return (await writeAttempts(record, earlierRuns)) ? 'attempt-updated' : 'attempt-settled';
      }
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
        const attemptsChanged = await writeAttempts(record, [...earlierRuns, running]);
        if (isCurrentAttempt && record.status === 'PENDING') {
          // startedAt on the job is the first time any attempt ran.
          const startedAt = record.startedAt ?? running.startedAt ?? dependencies.now();
          const firstRun = record.startedAt === undefined;
          const moved = await moveJob(record, 'RUNNING', { startedAt }, () => {
            if (firstRun) recordTimeToStart(record, startedAt);
          });
          if (moved) return 'job-running';
        }
        return attemptsChanged ? 'attempt-updated' : 'duplicate';
      }

      if (WAITING_BATCH_STATUSES.has(facts.batchStatus)) {
        // Waiting after running is an old event: a run that ended is listed, and makes this a later attempt.
        if (existing?.status === 'RUNNING') return earlierRuns.length > 0 && (await writeAttempts(record, earlierRuns)) ? 'attempt-updated' : 'stale';
        const attemptsChanged = await writeAttempts(record, [...earlierRuns, { ...base, ...definedOnly({ batchJobId: facts.batchJobId }) }]);
        // Batch retries in place after the host was lost: the job waits again until the retry runs.
        if (isCurrentAttempt && record.status === 'RUNNING' && (await moveJob(record, 'PENDING', {}))) return 'job-pending';
        return attemptsChanged ? 'attempt-updated' : 'duplicate';
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
      return (await writeAttempts(record, [...earlierRuns, withFacts])) ? 'attempt-updated' : 'duplicate';
    } catch (error) {
      // The job became terminal (or an attempt moved on) between our read and our write.
      if (error instanceof ConflictError) return 'stale';
      throw error;
    }
  };
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as Partial<T>;
}
