/**
 * After each Batch submission (success or failure): record how each of its attempts
 * ended, then decide what follows. A submission is several attempts when Batch ran the
 * job again in place after losing its host: the Batch job named after attempt N that
 * ran k times is attempts N … N+k-1, each with its own times, reason, log stream and
 * cost, and the next attempt is N+k. Another attempt is recorded as planned, in the
 * same write as the ended ones, and the job goes back to PENDING; otherwise the plan
 * carries the job's outcome to finish.
 *
 * Safe to run again for the same submission (Step Functions retries it): the attempts'
 * facts are rewritten with the same values, the decision is made from the attempts up
 * to this submission's only, and the job is moved to PENDING only if it is not there yet.
 */
import { interpretSubmissionResult, settledAttemptStatus, type AttemptResult } from '../../core/batch-result.js';
import { isAttemptSettled, isTerminal, type Attempt, type JobRecord } from '../../core/job.js';
import { ConflictError, type JobStore } from '../../core/ports.js';
import { planAfterAttempt } from '../../core/plan.js';
import type { Plan, SettleAttemptInput } from '../../core/contract/workflow.js';
import { JOB_METRICS, type MetricsRecorder } from '../shared/metrics.js';
import { JobNotFoundError } from './job-not-found.js';
import { changeStatus, type StatusChangeDependencies } from './status-change.js';

type StoredAttempt = Attempt & { readonly logStreamName?: string };

export interface SettleAttemptDependencies extends StatusChangeDependencies {
  readonly store: Pick<JobStore, 'getJob' | 'transition' | 'putAttempts'>;
  readonly instanceTypeOf: (containerInstanceArn: string) => Promise<string | undefined>;
  /** Told when the instance-type lookup failed; the attempt is settled without it. */
  readonly onLookupFailure: (error: unknown, containerInstanceArn: string) => void;
  /** What the attempt cost, when its instance type and times are known. */
  readonly attemptCostUsd: (attempt: Attempt) => number | undefined;
  /** SpotReclaims and Failovers, each counted by the call that recorded it, never by a retry. */
  readonly metrics: MetricsRecorder;
}

/** Rounds of read-then-conditional-write when batch-events keeps moving the record underneath. */
const MAX_WRITE_ROUNDS = 8;

/** The record as it was when `attempt` was the latest: later attempts are this step's own earlier planning. */
const upToAttempt = (record: JobRecord, attempt: number): JobRecord => ({
  ...record,
  attempts: record.attempts.filter((candidate) => candidate.attempt <= attempt),
});

/** The record with `attempts` written over its own. */
const withAttempts = (record: JobRecord, attempts: readonly StoredAttempt[]): JobRecord => ({
  ...record,
  attempts: [...record.attempts.filter((existing) => !attempts.some((attempt) => attempt.attempt === existing.attempt)), ...attempts],
});

export function createAttemptSettler(dependencies: SettleAttemptDependencies) {
  const { store } = dependencies;

  /**
   * The instance type only prices the attempt: a lookup that fails (ECS throttling, a cluster
   * the role may not describe) must never fail the settlement, and with it a job whose container
   * succeeded. The attempt is recorded without it; a later Batch event may still fill it in.
   */
  async function optionalInstanceType(containerInstanceArn: string): Promise<string | undefined> {
    try {
      return await dependencies.instanceTypeOf(containerInstanceArn);
    } catch (error) {
      dependencies.onLookupFailure(error, containerInstanceArn);
      return undefined;
    }
  }

  /** How attempt `number` ended, as stored: what the record knew of it, overwritten by the submission's result. */
  async function endedAttempt(record: JobRecord, input: SettleAttemptInput, number: number, result: AttemptResult): Promise<StoredAttempt> {
    const known = record.attempts.find((attempt) => attempt.attempt === number) as StoredAttempt | undefined;
    const instanceType = known?.instanceType ?? (result.containerInstanceArn ? await optionalInstanceType(result.containerInstanceArn) : undefined);
    const ended: StoredAttempt = {
      ...known,
      attempt: number,
      capacity: input.capacity,
      status: settledAttemptStatus(result),
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
    return costUsd === undefined ? ended : { ...ended, costUsd };
  }

  return async function settleAttempt(input: SettleAttemptInput): Promise<Plan> {
    for (let round = 0; round < MAX_WRITE_ROUNDS; round++) {
      const record = await store.getJob(input.jobId);
      if (!record) throw new JobNotFoundError(`Job ${input.jobId} does not exist.`);
      const results = interpretSubmissionResult(input.attemptResult, { cancelRequested: record.cancelRequested });
      const lastNumber = input.attempt + results.length - 1;
      const last = results.at(-1)!;
      const decide = (settled: JobRecord) =>
        planAfterAttempt(upToAttempt(settled, lastNumber), {
          succeeded: last.succeeded,
          failureClass: last.failureClass,
          exitCode: last.exitCode,
          statusReason: last.statusReason,
          containerReason: last.containerReason,
        });
      if (isTerminal(record.status)) return decide(record);

      const ended = await Promise.all(results.map((result, index) => endedAttempt(record, input, input.attempt + index, result)));
      // An attempt settled already (by an earlier try of this step, or by batch-events for a run Batch retried in place) stays as it is.
      const toSettle = ended.filter((attempt) => {
        const known = record.attempts.find((candidate) => candidate.attempt === attempt.attempt);
        return !known || !isAttemptSettled(known.status);
      });
      const settled = withAttempts(record, toSettle);
      const plan = decide(settled);
      const next = plan.next === 'spot' || plan.next === 'on-demand' ? plan : undefined;
      const planned = next === undefined ? undefined : record.attempts.find((attempt) => attempt.attempt === next.attempt);
      const alreadyPlanned = planned !== undefined;
      // A waiting attempt under that number that says another capacity is a retry Batch announced and never ran: this plan replaces it.
      const recordPlan = next !== undefined && (!planned || (planned.status === 'PENDING' && planned.capacity !== next.next));
      const writes: StoredAttempt[] = [...toSettle, ...(next && recordPlan ? [{ attempt: next.attempt, capacity: next.next, status: 'PENDING' as const }] : [])];

      let current: JobRecord;
      try {
        current = writes.length > 0 ? await store.putAttempts(input.jobId, writes) : record;
      } catch (error) {
        // Terminal meanwhile (the next round says skip), or an attempt moved on underneath: decide again.
        if (!(error instanceof ConflictError)) throw error;
        continue;
      }

      // A retry of this step finds the submission's last attempt settled by its earlier try, and counts nothing again.
      const lastKnown = record.attempts.find((attempt) => attempt.attempt === lastNumber);
      if (!lastKnown || !isAttemptSettled(lastKnown.status)) {
        const reclaims = ended.filter((attempt) => attempt.capacity === 'spot' && attempt.failureClass === 'SPOT_RECLAIM').length;
        if (reclaims > 0) dependencies.metrics.add(JOB_METRICS.spotReclaims, reclaims);
      }
      if (!next) return plan;
      if (!alreadyPlanned && input.capacity === 'spot' && next.next === 'on-demand') dependencies.metrics.add(JOB_METRICS.failovers);
      if (current.status === 'RUNNING') await changeStatus(dependencies, current, 'PENDING');
      return plan;
    }
    throw new ConflictError(`Job ${input.jobId} kept changing; could not settle attempt ${input.attempt} in ${MAX_WRITE_ROUNDS} rounds.`);
  };
}
