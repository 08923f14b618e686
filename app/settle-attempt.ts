/**
 * After each Batch submission (success or failure): record how each of its attempts
 * ended, then decide what follows. A submission is several attempts when Batch ran the
 * job again in place after losing its host: the Batch job named after attempt N that
 * ran k times is attempts N … N+k-1, each with its own times, reason, log stream and
 * cost (app/record-runs.ts), and the next attempt is N+k. Another attempt is recorded as
 * planned, in the same write as the ended ones, with the job back to PENDING; otherwise the
 * job ends in that same write (app/end-job.ts) and the plan carries its outcome to finish,
 * which finds it ended.
 *
 * Safe to run again for the same submission (Step Functions retries it): the attempts'
 * facts are rewritten with the same values, the decision is made from the attempts up
 * to this submission's only, and a job already ended or PENDING is not moved again.
 */
import { endJob, type EndJobDependencies } from './end-job.js';
import { recordEndedRuns } from './record-runs.js';
import { payTerminalEventDebt, TerminalEventBusyError } from './terminal-event.js';
import { announceStatusChange, type StatusChangeDependencies } from './status-change.js';
import { updateJob } from './update-job.js';
import { endedRunOf, interpretSubmissionResult } from '../core/batch-result.js';
import type { Plan, SettleAttemptInput } from '../core/contract/workflow.js';
import { withAttempts, type StoredAttempt } from '../core/job-change.js';
import { isAttemptSettled, isTerminal, type Attempt, type JobRecord } from '../core/job.js';
import { planAfterAttempt } from '../core/plan.js';
import { JobNotFoundError, type JobStore } from '../core/ports.js';
import { JOB_METRICS } from '../core/contract/metrics.js';

export interface SettleAttemptDependencies extends StatusChangeDependencies, EndJobDependencies {
  readonly store: Pick<JobStore, 'getJob' | 'update'>;
  readonly instanceTypeOf: (containerInstanceArn: string) => Promise<string | undefined>;
  /** Told when the instance-type lookup failed; the attempt is settled without it. */
  readonly onLookupFailure: (error: unknown, containerInstanceArn: string) => void;
  /** What the attempt cost, when its instance type and times are known. */
  readonly attemptCostUsd: (attempt: Attempt) => number | undefined;
  /** What the job cost, once it ends here. */
  readonly jobCostUsd: (record: JobRecord) => number;
}

/** The record as it was when `attempt` was the latest: later attempts are this step's own earlier planning. */
const upToAttempt = (record: JobRecord, attempt: number): JobRecord => ({
  ...record,
  attempts: record.attempts.filter((candidate) => candidate.attempt <= attempt),
});

export function createAttemptSettler(dependencies: SettleAttemptDependencies) {
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
  const runRecording = { instanceTypeOf: optionalInstanceType, attemptCostUsd: dependencies.attemptCostUsd };

  return function settleAttempt(input: SettleAttemptInput): Promise<Plan> {
    return updateJob<Plan>(dependencies.store, input.jobId, async (record) => {
      if (!record) throw new JobNotFoundError(input.jobId);
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
      if (isTerminal(record.status)) {
        // This step's earlier try ended the job and could not publish: it pays now. A claim held
        // elsewhere is left to its holder, and to finish, which the plan leads to.
        if (record.terminalEvent?.writer === 'settle-attempt') {
          await payTerminalEventDebt(dependencies.terminalEvents, record).catch((error: unknown) => {
            if (!(error instanceof TerminalEventBusyError)) throw error;
          });
        }
        return { done: decide(record) };
      }

      const runs = results.map((result, index) => endedRunOf(input.attempt + index, result));
      // An attempt settled already (by an earlier try of this step, or by batch-events for a run Batch retried in place) stays as it is.
      const toSettle = await recordEndedRuns(record, input.capacity, runs, runRecording);
      const plan = decide(withAttempts(record, toSettle));

      // A retry of this step finds the submission's last attempt settled by its earlier try, and counts nothing again.
      const lastKnown = record.attempts.find((attempt) => attempt.attempt === lastNumber);
      const countReclaims = () => {
        if (lastKnown && isAttemptSettled(lastKnown.status)) return;
        const reclaims = input.capacity === 'spot' ? runs.filter((run) => run.failureClass === 'SPOT_RECLAIM').length : 0;
        if (reclaims > 0) dependencies.metrics.add(JOB_METRICS.spotReclaims, reclaims);
      };
      const now = dependencies.now();

      if (plan.next === 'finish') {
        const { outcome } = plan;
        return endJob(
          dependencies,
          record,
          {
            status: outcome.status,
            writer: 'settle-attempt',
            statusReason: outcome.statusReason,
            exitCode: outcome.exitCode,
            finishedAt: now,
            now,
            attempts: toSettle,
            closing: {
              cancelled: outcome.status === 'CANCELLED',
              stoppedAt: now,
              reason: outcome.statusReason ?? `The job ended ${outcome.status}`,
            },
          },
          async (_ended, pay) => {
            countReclaims();
            await pay();
            return plan;
          },
        );
      }
      if (plan.next !== 'spot' && plan.next !== 'on-demand') return { done: plan };

      const planned = record.attempts.find((attempt) => attempt.attempt === plan.attempt);
      const alreadyPlanned = planned !== undefined;
      // A waiting attempt under that number that says another capacity is a retry Batch announced and never ran: this plan replaces it.
      const recordPlan = !planned || (planned.status === 'PENDING' && planned.capacity !== plan.next);
      const writes: StoredAttempt[] = [
        ...toSettle,
        ...(recordPlan ? [{ attempt: plan.attempt, capacity: plan.next, status: 'PENDING' as const }] : []),
      ];
      const waitsAgain = record.status === 'RUNNING';
      return {
        write: { attempts: writes, ...(waitsAgain ? { to: 'PENDING' as const } : {}), now },
        after: async (written) => {
          countReclaims();
          if (!alreadyPlanned && input.capacity === 'spot' && plan.next === 'on-demand') dependencies.metrics.add(JOB_METRICS.failovers);
          if (waitsAgain) await announceStatusChange(dependencies, written, record.status);
          return plan;
        },
      };
    });
  };
}
