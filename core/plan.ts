/**
 * The workflow's decisions as pure functions: what prepare and settle-attempt
 * return to the state machine. The Lambda tasks load the record and call these;
 * the workflow tests call them directly as task overrides, so the definition is
 * exercised against the real decisions.
 */
import { batchAttemptsFor, planNextCapacity } from './capacity.js';
import { describeFailure } from './failure.js';
import { isAttemptSettled, isTerminal, type Attempt, type CapacityType, type FailureClass, type JobRecord, type JobSpec } from './job.js';
import { batchJobName, type BatchEnvironmentVariable, type Outcome, type Plan } from './contract/workflow.js';

export const JOB_ID_VARIABLE = 'GPUJOBS_JOB_ID';
export const ATTEMPT_VARIABLE = 'GPUJOBS_ATTEMPT';

/**
 * The container environment of one attempt: the job's own variables, then
 * GPUJOBS_JOB_ID and GPUJOBS_ATTEMPT. The platform's two always win, so a job can
 * rely on them (e.g. to name checkpoints) whatever it was submitted with.
 */
export function attemptEnvironment(spec: Pick<JobSpec, 'environment'>, jobId: string, attempt: number): BatchEnvironmentVariable[] {
  const own = Object.entries(spec.environment)
    .filter(([name]) => name !== JOB_ID_VARIABLE && name !== ATTEMPT_VARIABLE)
    .map(([Name, Value]) => ({ Name, Value }));
  return [...own, { Name: JOB_ID_VARIABLE, Value: jobId }, { Name: ATTEMPT_VARIABLE, Value: String(attempt) }];
}

const byNumber = (attempts: readonly Attempt[]) => [...attempts].sort((a, b) => a.attempt - b.attempt);

const nextAttemptNumber = (attempts: readonly Attempt[]) =>
  attempts.reduce((highest, attempt) => Math.max(highest, attempt.attempt), 0) + 1;

/** The next submission; `history` is every attempt before it, each in-place retry of Batch's included. */
function attemptPlan(record: JobRecord, next: CapacityType, attempt: number, history: readonly Attempt[]): Plan {
  return {
    next,
    attempt,
    jobName: batchJobName(record.jobId, attempt),
    environment: attemptEnvironment(record, record.jobId, attempt),
    batchAttempts: batchAttemptsFor(next, { maxSpotAttempts: record.maxSpotAttempts, attempts: history }),
  };
}

const finish = (outcome: Outcome): Plan => ({ next: 'finish', outcome });

const CANCELLED_OUTCOME: Outcome = { status: 'CANCELLED', statusReason: describeFailure('CANCELLED'), failureClass: 'CANCELLED' };

/**
 * Prepare's decision: where the job's first attempt of this execution runs, or how it ends.
 *
 * A fresh job has no settled attempt and starts as attempt 1. A job that a new execution
 * takes up again (local mode after a restart) has settled attempts on its record: they are
 * its history, counted against its policy exactly as settle-attempt counts them, so the job
 * gets only the attempts its policy has left, and a job whose last attempt already decided
 * its end (it succeeded, failed for good, or used up its budget) finishes as settle-attempt
 * would have finished it. Open attempts (planned, never run) are not history: the plan
 * numbers the next attempt after the settled ones, and prepare reuses one planned under
 * that number.
 */
export function planFirstAttempt(record: JobRecord): Plan {
  if (isTerminal(record.status)) return { next: 'skip' };
  const history = byNumber(record.attempts.filter((attempt) => isAttemptSettled(attempt.status)));
  const last = history.at(-1);
  if (last) return planAfterAttempt({ ...record, attempts: history }, settledAs(last));
  if (record.cancelRequested) return finish(CANCELLED_OUTCOME);
  const next = planNextCapacity({ policy: record.capacity, maxSpotAttempts: record.maxSpotAttempts, attempts: [] });
  // 'none' cannot come from an empty history; the narrowing keeps the type honest.
  if (next === 'none') return finish({ status: 'FAILED', statusReason: "No capacity is allowed by the job's capacity policy" });
  return attemptPlan(record, next, 1, []);
}

/** A settled attempt as settle-attempt would have read it at the end of its submission. */
function settledAs(attempt: Attempt): SettledAttempt {
  return {
    succeeded: attempt.status === 'SUCCEEDED',
    failureClass: attempt.failureClass ?? (attempt.status === 'CANCELLED' ? 'CANCELLED' : undefined),
    ...(attempt.exitCode === undefined ? {} : { exitCode: attempt.exitCode }),
    ...(attempt.statusReason === undefined ? {} : { statusReason: attempt.statusReason }),
  };
}

/** How an attempt that was running when its host went away is settled. */
export interface AttemptInterruption {
  readonly stoppedAt: string;
  readonly statusReason: string;
}

/**
 * The writes that settle every open attempt of the job that really ran (RUNNING, or started)
 * as interrupted, when the host under it went away and nothing will report its end (local
 * mode stopped or crashed while it ran). Losing the host is the infrastructure's doing, not
 * the job's: the class is SPOT_RECLAIM, as Batch reports an instance terminated under an
 * attempt (on On-Demand, "a lost On-Demand host"), so the job's own policy decides whether
 * another attempt follows. A cancel the owner asked for wins, as in classifyAttemptFailure.
 * Attempts that never started are left as they are: they only waited, and the job's next
 * execution runs them.
 */
export function interruptedAttemptWrites(
  record: Pick<JobRecord, 'attempts' | 'cancelRequested'>,
  interruption: AttemptInterruption,
): Attempt[] {
  const cancelled = record.cancelRequested === true;
  return record.attempts
    .filter((attempt) => !isAttemptSettled(attempt.status) && (attempt.status === 'RUNNING' || attempt.startedAt !== undefined))
    .map((attempt) => ({
      ...attempt,
      status: cancelled ? 'CANCELLED' : 'FAILED',
      failureClass: cancelled ? 'CANCELLED' : 'SPOT_RECLAIM',
      stoppedAt: attempt.stoppedAt ?? interruption.stoppedAt,
      statusReason: interruption.statusReason,
    }));
}

/** What settle-attempt learned about the attempt that just ended. */
export interface SettledAttempt {
  readonly succeeded: boolean;
  readonly failureClass?: FailureClass;
  readonly exitCode?: number;
  readonly statusReason?: string;
  readonly containerReason?: string;
}

const times = (count: number) => (count === 1 ? 'once' : `${count} times`);

const counted = (count: number, singular: string, plural = `${singular}s`) => `${count} ${count === 1 ? singular : plural}`;

const capacityName = (capacity: CapacityType) => (capacity === 'spot' ? 'Spot' : 'On-Demand');

/** `after 1 Spot reclaim`, `after 2 Spot reclaims and 1 wait for capacity that timed out`; empty when nothing interrupted the job. */
function afterInterruptions(earlier: readonly Attempt[]): string {
  const spotReclaims = earlier.filter((attempt) => attempt.capacity === 'spot' && attempt.failureClass === 'SPOT_RECLAIM').length;
  const lostHosts = earlier.filter((attempt) => attempt.capacity === 'on-demand' && attempt.failureClass === 'SPOT_RECLAIM').length;
  const shortages = earlier.filter((attempt) => attempt.failureClass === 'NO_CAPACITY').length;
  const parts = [
    ...(spotReclaims > 0 ? [counted(spotReclaims, 'Spot reclaim')] : []),
    ...(lostHosts > 0 ? [counted(lostHosts, 'lost On-Demand host')] : []),
    ...(shortages > 0 ? [counted(shortages, 'wait for capacity that timed out', 'waits for capacity that timed out')] : []),
  ];
  if (parts.length === 0) return '';
  return ` after ${parts.length === 1 ? parts[0] : `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}`}`;
}

function finalFailureReason(record: JobRecord, attempts: readonly Attempt[], failureClass: FailureClass, settled: SettledAttempt): string {
  const last = attempts.at(-1);
  const batchReason = describeFailure(failureClass, settled.statusReason, {
    exitCode: settled.exitCode,
    containerReason: settled.containerReason,
  });
  if (last?.capacity === 'spot' && record.capacity === 'spot-only') {
    if (failureClass === 'SPOT_RECLAIM') {
      const reclaims = attempts.filter((attempt) => attempt.capacity === 'spot' && attempt.failureClass === 'SPOT_RECLAIM').length;
      return `Spot capacity was reclaimed ${times(reclaims)} and spot-only allows no On-Demand attempt`;
    }
    if (failureClass === 'NO_CAPACITY') {
      return `No Spot capacity was available and spot-only allows no On-Demand attempt (${settled.statusReason ?? 'no reason given'})`;
    }
  }
  if (last?.capacity === 'on-demand' && (failureClass === 'SPOT_RECLAIM' || failureClass === 'NO_CAPACITY')) {
    const onDemand = attempts.filter((attempt) => attempt.capacity === 'on-demand').length;
    return `On-Demand attempts failed for lack of capacity ${times(onDemand)}; giving up. Last: ${batchReason}`;
  }
  return batchReason;
}

/**
 * Settle-attempt's decision after a submission ended. `record.attempts` includes
 * every attempt the submission ran (Batch's in-place retries are attempts of their
 * own), the last of them the highest number; `settled` is how that last one ended,
 * and its `failureClass`, when given, overrides whatever the record holds for it
 * (it is the freshest reading).
 */
export function planAfterAttempt(record: JobRecord, settled: SettledAttempt): Plan {
  if (isTerminal(record.status)) return { next: 'skip' };
  const attempts = byNumber(record.attempts);
  const last = attempts.at(-1);

  if (settled.succeeded) {
    const where = last ? ` on attempt ${last.attempt} (${capacityName(last.capacity)})${afterInterruptions(attempts.slice(0, -1))}` : '';
    return finish({ status: 'SUCCEEDED', statusReason: `Completed${where}`, exitCode: settled.exitCode ?? 0 });
  }

  const failureClass: FailureClass = record.cancelRequested ? 'CANCELLED' : (settled.failureClass ?? last?.failureClass ?? 'APP_ERROR');
  if (failureClass === 'CANCELLED') return finish(CANCELLED_OUTCOME);

  const history = last ? [...attempts.slice(0, -1), { ...last, failureClass }] : attempts;
  const next = planNextCapacity({ policy: record.capacity, maxSpotAttempts: record.maxSpotAttempts, attempts: history });
  if (next === 'none') {
    return finish({
      status: 'FAILED',
      statusReason: finalFailureReason(record, history, failureClass, settled),
      failureClass,
      ...(settled.exitCode === undefined ? {} : { exitCode: settled.exitCode }),
    });
  }
  return attemptPlan(record, next, nextAttemptNumber(history), history);
}
