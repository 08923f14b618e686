/**
 * Ends whose event never arrived. The reconcile handler settles a job when its execution
 * ends ABORTED, FAILED or TIMED_OUT, driven by the EventBridge event of that end; an event
 * that exhausted its retries, or a reconcile that failed past Lambda's own retries, would
 * leave the job PENDING or RUNNING for good. The watchdog lists the ended executions itself
 * and puts every one whose job is still open (or whose terminal event is still owed) through
 * the same reconciler (lambdas/reconcile/reconcile-execution.ts), so the outcome is the one
 * the event would have produced.
 *
 * A job is PENDING or RUNNING only once its execution has started (Prepare writes PENDING),
 * so a job with no execution at all is still QUEUED: its intake message is redelivered and
 * finally kept in the intake dead-letter queue, whose alarm reports it.
 */
import { isTerminal } from '../../core/job.js';
import type { JobStore } from '../../core/ports.js';
import { ENDED_EXECUTION_STATUSES } from '../../core/contract/workflow.js';
import type { EndedExecution, ReconcileEffect } from '../../app/reconcile-execution.js';
import { TerminalEventBusyError } from '../../app/terminal-event.js';

/**
 * Ends up to 12 hours old are examined: twice the 6 hours for which EventBridge keeps retrying
 * the end event (lib/notifications.ts) and Lambda keeps an asynchronous event it could not run,
 * so an end is still looked at long after its event was given up for lost, even across hours
 * in which the watchdog itself failed.
 */
export const LOST_END_LOOKBACK_SECONDS = 12 * 3600;

/**
 * Pages read per status and run, 1,000 executions each: a bound on one run's work should the
 * account hold far more ended executions than expected; the next run reads them again.
 */
export const MAX_PAGES_PER_STATUS = 50;

export type EndedStatus = (typeof ENDED_EXECUTION_STATUSES)[number];

/** An execution as ListExecutions lists it. */
export interface ExecutionSummary {
  readonly executionArn: string;
  /** The execution name: the job id. */
  readonly name: string;
  readonly startDate: Date;
  readonly stopDate?: Date;
}

export interface ExecutionPage {
  readonly executions: readonly ExecutionSummary[];
  readonly nextToken?: string;
}

export interface LostEndDependencies {
  /** ListExecutions of the job workflow with this status filter, newest start first. */
  readonly listExecutions: (status: EndedStatus, nextToken: string | undefined) => Promise<ExecutionPage>;
  /** DescribeExecution's error and cause, for the job's statusReason. */
  readonly describeFailure: (executionArn: string) => Promise<{ readonly error?: string; readonly cause?: string }>;
  readonly store: Pick<JobStore, 'getJob'>;
  /** The reconcile handler's reconciler. */
  readonly reconcile: (execution: EndedExecution) => Promise<ReconcileEffect>;
  /** The workflow's execution timeout: how long before its end an execution may have started. */
  readonly executionTimeoutSeconds: number;
  readonly lookbackSeconds?: number;
  readonly now: () => number;
}

export interface SettledEnd {
  readonly jobId: string;
  readonly executionStatus: EndedStatus;
  readonly effect: ReconcileEffect;
}

export interface LostEndReport {
  /** Ended executions within the look-back window that were checked against their job. */
  readonly examined: number;
  readonly settled: readonly SettledEnd[];
  /** Ends whose reconcile failed; the next run tries them again. */
  readonly failed: readonly { readonly jobId: string; readonly error: unknown }[];
}

export function createLostEndFinder(dependencies: LostEndDependencies) {
  const lookbackMs = (dependencies.lookbackSeconds ?? LOST_END_LOOKBACK_SECONDS) * 1000;

  /**
   * The executions of one status that ended within the look-back. ListExecutions returns them
   * "sorted by time, with the most recent execution first"
   * (https://docs.aws.amazon.com/step-functions/latest/apireference/API_ListExecutions.html): the
   * time every execution has is its start, and a long run can end long after it started, so
   * paging stops only at executions that started more than the look-back plus the workflow's
   * execution timeout ago, none of which can have ended within the look-back. Were the order by
   * stop time instead, this would only read further than needed.
   */
  async function recentEnds(status: EndedStatus, now: number): Promise<ExecutionSummary[]> {
    const endedAfter = now - lookbackMs;
    const startedAfter = endedAfter - dependencies.executionTimeoutSeconds * 1000;
    const recent: ExecutionSummary[] = [];
    let nextToken: string | undefined;
    for (let page = 0; page < MAX_PAGES_PER_STATUS; page++) {
      const listed = await dependencies.listExecutions(status, nextToken);
      for (const execution of listed.executions) {
        if (execution.startDate.getTime() < startedAfter) return recent;
        if (execution.stopDate && execution.stopDate.getTime() >= endedAfter) recent.push(execution);
      }
      nextToken = listed.nextToken;
      if (!nextToken) break;
    }
    return recent;
  }

  /** Whether the reconciler still has something to do for this job. */
  async function isUnsettled(jobId: string): Promise<boolean> {
    const record = await dependencies.store.getJob(jobId);
    if (!record) return false;
    if (!isTerminal(record.status)) return true;
    const debt = record.terminalEvent;
    return debt !== undefined && !debt.published;
  }

  return async function settleLostEnds(): Promise<LostEndReport> {
    const now = dependencies.now();
    const settled: SettledEnd[] = [];
    const failed: { jobId: string; error: unknown }[] = [];
    let examined = 0;
    // The three listings at once: an idle run's time is one round trip, not three.
    const ends = await Promise.all(ENDED_EXECUTION_STATUSES.map(async (status) => ({ status, executions: await recentEnds(status, now) })));
    for (const { status, executions } of ends) {
      for (const execution of executions) {
        examined += 1;
        try {
          if (!(await isUnsettled(execution.name))) continue;
          const { error, cause } = await dependencies.describeFailure(execution.executionArn);
          const effect = await dependencies.reconcile({
            jobId: execution.name,
            executionArn: execution.executionArn,
            status,
            ...(execution.stopDate ? { stoppedAt: execution.stopDate.toISOString() } : {}),
            ...(error ? { error } : {}),
            ...(cause ? { cause } : {}),
          });
          settled.push({ jobId: execution.name, executionStatus: status, effect });
        } catch (error) {
          // The reconcile handler is publishing this job's terminal event right now: nothing to add.
          if (error instanceof TerminalEventBusyError) continue;
          failed.push({ jobId: execution.name, error });
        }
      }
    }
    return { examined, settled, failed };
  };
}
