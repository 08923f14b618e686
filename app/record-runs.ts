/**
 * The one way Batch runs become stored attempts: settle-attempt records how each run of a
 * submission ended, and batch-events records a run Batch retried in place as soon as the retry
 * shows (so the owner sees the reclaim while the retry waits). Either way the attempt keeps what
 * the record already knew of it, takes the run's facts, its instance type and its cost; an
 * attempt already settled stays as it is.
 */
import type { EndedRun } from '../core/batch-result.js';
import { definedOnly, type StoredAttempt } from '../core/job-change.js';
import { isAttemptSettled, type Attempt, type CapacityType, type JobRecord } from '../core/job.js';

export interface RecordRunsDependencies {
  /** The instance type behind an ECS container instance, when it can be known. */
  readonly instanceTypeOf: (containerInstanceArn: string) => Promise<string | undefined>;
  /** What an attempt cost, when its instance type and times are known. */
  readonly attemptCostUsd: (attempt: Attempt) => number | undefined;
}

/** The settled attempts for `runs` of a submission on `capacity`, skipping those the record has settled. */
export async function recordEndedRuns(
  record: JobRecord,
  capacity: CapacityType,
  runs: readonly EndedRun[],
  dependencies: RecordRunsDependencies,
): Promise<StoredAttempt[]> {
  const attempts: StoredAttempt[] = [];
  for (const run of runs) {
    const known = record.attempts.find((candidate) => candidate.attempt === run.attempt) as StoredAttempt | undefined;
    if (known && isAttemptSettled(known.status)) continue;
    const instanceType =
      known?.instanceType ?? (run.containerInstanceArn ? await dependencies.instanceTypeOf(run.containerInstanceArn) : undefined);
    const settled = definedOnly({
      ...known,
      attempt: run.attempt,
      capacity: known?.capacity ?? capacity,
      status: run.status,
      failureClass: run.failureClass,
      statusReason: run.statusReason,
      exitCode: run.exitCode,
      batchJobId: run.batchJobId ?? known?.batchJobId,
      startedAt: run.startedAt ?? known?.startedAt,
      stoppedAt: run.stoppedAt ?? known?.stoppedAt,
      logStreamName: run.logStreamName ?? known?.logStreamName,
      instanceType,
    }) as StoredAttempt;
    const costUsd = dependencies.attemptCostUsd(settled);
    attempts.push(costUsd === undefined ? settled : { ...settled, costUsd });
  }
  return attempts;
}
