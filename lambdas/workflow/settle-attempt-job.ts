/**
 * After each Batch attempt (success or failure): record how it ended, then decide
 * what follows. Another attempt is recorded as planned and the job goes back to
 * PENDING; otherwise the plan carries the job's outcome to finish.
 *
 * Safe to run again for the same attempt (Step Functions retries it): the attempt's
 * facts are rewritten with the same values, the decision is made from the attempts
 * up to this one only, and the job is moved to PENDING only if it is not there yet.
 */
import { interpretAttemptResult } from '../../core/batch-result.js';
import { isAttemptSettled, type Attempt, type AttemptStatus, type JobRecord } from '../../core/job.js';
import { ConflictError, type JobStore } from '../../core/ports.js';
import { planAfterAttempt } from '../../core/plan.js';
import type { Plan, SettleAttemptInput } from '../../core/workflow-contract.js';
import { JOB_METRICS, type MetricsRecorder } from '../shared/metrics.js';
import { JobNotFoundError } from './job-not-found.js';
import { changeStatus, type StatusChangeDependencies } from './status-change.js';

type StoredAttempt = Attempt & { readonly logStreamName?: string };

export interface SettleAttemptDependencies extends StatusChangeDependencies {
  readonly store: Pick<JobStore, 'getJob' | 'transition' | 'putAttempt'>;
  readonly instanceTypeOf: (containerInstanceArn: string) => Promise<string | undefined>;
  /** What the attempt cost, when its instance type and times are known. */
  readonly attemptCostUsd: (attempt: Attempt) => number | undefined;
  /** SpotReclaims and Failovers, each counted by the call that recorded it, never by a retry. */
  readonly metrics: MetricsRecorder;
}

/** The record as it was when `attempt` was the latest: later attempts are this step's own earlier planning. */
const upToAttempt = (record: JobRecord, attempt: number): JobRecord => ({
  ...record,
  attempts: record.attempts.filter((candidate) => candidate.attempt <= attempt),
});

export function createAttemptSettler(dependencies: SettleAttemptDependencies) {
  const { store } = dependencies;

  return async function settleAttempt(input: SettleAttemptInput): Promise<Plan> {
    const record = await store.getJob(input.jobId);
    if (!record) throw new JobNotFoundError(`Job ${input.jobId} does not exist.`);
    const result = interpretAttemptResult(input.attemptResult, { cancelRequested: record.cancelRequested });

    const known = record.attempts.find((attempt) => attempt.attempt === input.attempt) as StoredAttempt | undefined;
    const instanceType =
      known?.instanceType ?? (result.containerInstanceArn ? await dependencies.instanceTypeOf(result.containerInstanceArn) : undefined);
    const status: AttemptStatus = result.succeeded ? 'SUCCEEDED' : result.failureClass === 'CANCELLED' ? 'CANCELLED' : 'FAILED';
    const ended: StoredAttempt = {
      ...known,
      attempt: input.attempt,
      capacity: input.capacity,
      status,
      failureClass: result.failureClass,
      exitCode: result.exitCode,
      statusReason: result.statusReason ?? result.containerReason,
      batchJobId: result.batchJobId ?? known?.batchJobId,
      startedAt: result.startedAt ?? known?.startedAt,
      stoppedAt: result.stoppedAt ?? known?.stoppedAt,
      logStreamName: result.logStreamName ?? known?.logStreamName,
      instanceType,
    };
    const costUsd = dependencies.attemptCostUsd(ended);

    let settled: JobRecord;
    try {
      settled = await store.putAttempt(input.jobId, { ...ended, ...(costUsd === undefined ? {} : { costUsd }) });
      // A retry of this step finds the attempt settled by its earlier try, and does not count it again.
      const settledNow = !known || !isAttemptSettled(known.status);
      if (settledNow && result.failureClass === 'SPOT_RECLAIM' && input.capacity === 'spot') {
        dependencies.metrics.add(JOB_METRICS.spotReclaims);
      }
    } catch (error) {
      // Terminal already (nothing is left to decide: planAfterAttempt says skip), or settled otherwise by an earlier try.
      if (!(error instanceof ConflictError)) throw error;
      settled = error.current ?? record;
    }

    const plan = planAfterAttempt(upToAttempt(settled, input.attempt), {
      succeeded: result.succeeded,
      failureClass: result.failureClass,
      exitCode: result.exitCode,
      statusReason: result.statusReason,
      containerReason: result.containerReason,
    });
    if (plan.next !== 'spot' && plan.next !== 'on-demand') return plan;

    const alreadyPlanned = settled.attempts.some((attempt) => attempt.attempt === plan.attempt);
    const current = await store.putAttempt(input.jobId, { attempt: plan.attempt, capacity: plan.next, status: 'PENDING' });
    if (!alreadyPlanned && input.capacity === 'spot' && plan.next === 'on-demand') dependencies.metrics.add(JOB_METRICS.failovers);
    if (current.status === 'RUNNING') await changeStatus(dependencies, current, 'PENDING');
    return plan;
  };
}
