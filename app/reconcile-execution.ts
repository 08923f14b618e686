/**
 * A job's workflow execution ended without finishing the job: stopped for a cancel
 * (ABORTED), failed, or timed out. Unless the job is already terminal, this makes it
 * terminal now, so no job is ever left PENDING or RUNNING with nothing driving it.
 * The reconcile handler runs it for each end event; the watchdog runs it for ends whose
 * event never arrived.
 */
import * as z from 'zod/mini';
import { ENDED_EXECUTION_STATUSES } from '../core/contract/workflow.js';
import { CANCEL_TERMINATE_REASON, describeFailure } from '../core/failure.js';
import { endJob, type EndJobDependencies } from './end-job.js';
import { payTerminalEventDebt } from './terminal-event.js';
import { updateJob } from './update-job.js';
import { isAttemptSettled, isTerminal, type JobRecord } from '../core/job.js';
import type { JobStore } from '../core/ports.js';

export const executionStatusChangeSchema = z.object({
  'detail-type': z.literal('Step Functions Execution Status Change'),
  detail: z.object({
    executionArn: z.string(),
    /** The execution name, which is the job id. */
    name: z.string().check(z.minLength(1)),
    status: z.string(),
    stopDate: z.optional(z.nullable(z.number())),
    error: z.optional(z.nullable(z.string())),
    cause: z.optional(z.nullable(z.string())),
  }),
});

export class MalformedExecutionEventError extends Error {
  override readonly name = 'MalformedExecutionEventError';
}

export interface EndedExecution {
  readonly jobId: string;
  readonly executionArn: string;
  readonly status: (typeof ENDED_EXECUTION_STATUSES)[number];
  readonly stoppedAt?: string;
  readonly error?: string;
  readonly cause?: string;
}

/** The ended execution, or undefined for a status change that is not an end this handler settles. */
export function endedExecutionFrom(event: unknown): EndedExecution | undefined {
  const parsed = executionStatusChangeSchema.safeParse(event);
  if (!parsed.success) {
    throw new MalformedExecutionEventError(`Not a Step Functions Execution Status Change event: ${z.prettifyError(parsed.error)}`);
  }
  const { detail } = parsed.data;
  const status = ENDED_EXECUTION_STATUSES.find((candidate) => candidate === detail.status);
  if (!status) return undefined;
  return {
    jobId: detail.name,
    executionArn: detail.executionArn,
    status,
    stoppedAt: typeof detail.stopDate === 'number' ? new Date(detail.stopDate).toISOString() : undefined,
    error: detail.error ?? undefined,
    cause: detail.cause ?? undefined,
  };
}

const MAX_CAUSE_LENGTH = 400;

/** `Workflow execution TIMED_OUT: States.Timeout: …`, short enough for a status line. */
export function workflowFailureReason(execution: EndedExecution): string {
  const details = [execution.error, execution.cause].filter((part): part is string => !!part && part.length > 0).join(': ');
  const clipped = details.length > MAX_CAUSE_LENGTH ? `${details.slice(0, MAX_CAUSE_LENGTH - 1)}…` : details;
  return clipped ? `Workflow execution ${execution.status}: ${clipped}` : `Workflow execution ${execution.status}`;
}

export type ReconcileEffect = 'unknown-job' | 'already-terminal' | 'cancelled' | 'failed';

export interface ReconcileDependencies extends EndJobDependencies {
  readonly store: Pick<JobStore, 'getJob' | 'update'>;
  readonly jobCostUsd: (record: JobRecord) => number;
  readonly now: () => string;
  /**
   * Batch TerminateJob for an attempt's Batch job. Step Functions stops the Batch job of a
   * stopped `.sync` task only on a best-effort basis
   * (https://docs.aws.amazon.com/step-functions/latest/dg/connect-to-resource.html), so the
   * open attempts of an ABORTED or TIMED_OUT execution are terminated here as well: a stop
   * that failed must not leave a GPU instance billing under a job recorded as ended.
   * @default - no Batch call
   */
  readonly terminateBatchJob?: (batchJobId: string, reason: string) => Promise<void>;
}

/** Executions that can end while their Batch job still runs (FAILED ones end in a Lambda task, after the job). */
const MAY_LEAVE_BATCH_JOB_RUNNING = new Set<EndedExecution['status']>(['ABORTED', 'TIMED_OUT']);

/** The TerminateJob reason for an attempt outliving its execution; every `Terminated by gpujobs` reason classifies as CANCELLED. */
export function orphanedAttemptTerminateReason(execution: Pick<EndedExecution, 'status'>, cancelled: boolean): string {
  return cancelled ? CANCEL_TERMINATE_REASON : `Terminated by gpujobs: workflow execution ${execution.status}`;
}

export function createExecutionReconciler(dependencies: ReconcileDependencies) {
  /** Terminates each open attempt's Batch job once per reconcile, whatever the write rounds. */
  async function terminateOpenBatchJobs(
    record: JobRecord,
    execution: EndedExecution,
    cancelled: boolean,
    done: Set<string>,
  ): Promise<void> {
    const terminate = dependencies.terminateBatchJob;
    if (!terminate || !MAY_LEAVE_BATCH_JOB_RUNNING.has(execution.status)) return;
    for (const attempt of record.attempts) {
      if (isAttemptSettled(attempt.status) || !attempt.batchJobId || done.has(attempt.batchJobId)) continue;
      await terminate(attempt.batchJobId, orphanedAttemptTerminateReason(execution, cancelled));
      done.add(attempt.batchJobId);
    }
  }

  return function reconcile(execution: EndedExecution): Promise<ReconcileEffect> {
    const terminated = new Set<string>();
    return updateJob<ReconcileEffect>(dependencies.store, execution.jobId, async (record) => {
      if (!record) return { done: 'unknown-job' };
      if (isTerminal(record.status)) {
        // A finish that wrote the status but could not publish is paid for here: its execution is over.
        await payTerminalEventDebt(dependencies.terminalEvents, record);
        return { done: 'already-terminal' };
      }
      const cancelled = record.cancelRequested === true;
      const reason = cancelled ? describeFailure('CANCELLED') : workflowFailureReason(execution);
      const now = dependencies.now();
      const stoppedAt = execution.stoppedAt ?? now;
      // Before the job is recorded as ended: if this throws, the retry (or the watchdog) still finds it open.
      await terminateOpenBatchJobs(record, execution, cancelled, terminated);
      // The attempts still open end with the job, in the same write, pinned to the record read:
      // an attempt that prepare (still running after StopExecution) adds meanwhile moves the
      // version, so the next round closes it too.
      return endJob(
        dependencies,
        record,
        {
          status: cancelled ? 'CANCELLED' : 'FAILED',
          writer: 'reconcile',
          statusReason: reason,
          finishedAt: stoppedAt,
          now,
          closing: { cancelled, stoppedAt, reason },
        },
        async (_ended, pay) => {
          await pay();
          return cancelled ? 'cancelled' : 'failed';
        },
      );
    });
  };
}
