/**
 * An owner's cancel. QUEUED → CANCELLED at once (app/end-job.ts), its terminal event owed on
 * the record. PENDING/RUNNING → the cancel is recorded, then the execution is stopped; the job
 * becomes CANCELLED when the execution ends (reconcile). Every step is a conditional write on
 * the record read, so a cancel racing the dispatcher or the job's own end reads again and
 * decides again; the first terminal write wins. Cancelling a CANCELLED job again pays any
 * terminal event still owed, so an owner's retry delivers what a failed publish could not.
 */
import type { JobRecord } from '../core/job.js';
import { JobNotFoundError, type JobStore } from '../core/ports.js';
import { endJob, type EndJobDependencies } from './end-job.js';
import { payTerminalEventDebt, TerminalEventBusyError } from './terminal-event.js';
import { updateJob } from './update-job.js';

export const CANCELLED_BEFORE_START_REASON = 'Cancelled by its owner before it started';

export interface CancelJobDependencies extends EndJobDependencies {
  readonly store: Pick<JobStore, 'getJob' | 'update'>;
  /** Stops the job's workflow execution; an execution that does not exist is no error. */
  readonly stopExecution: (jobId: string) => Promise<void>;
  readonly now: () => string;
  /** Told when the cancel stands but its terminal event could not go out yet: it stays owed for the next cancel. */
  readonly onEventOwed: (jobId: string, error: unknown) => void;
}

export type CancelOutcome =
  /** SUCCEEDED or FAILED before the cancel: nothing to do. */
  | { readonly kind: 'already-ended'; readonly job: JobRecord }
  | { readonly kind: 'cancelled'; readonly job: JobRecord }
  /** The cancel is recorded and the execution told to stop. */
  | { readonly kind: 'cancel-requested'; readonly job: JobRecord };

export function cancelJob(dependencies: CancelJobDependencies, record: JobRecord): Promise<CancelOutcome> {
  /** The cancel stands either way: a failed publish stays owed on the record for the next cancel. */
  async function payOwed(pay: () => Promise<unknown>, jobId: string): Promise<void> {
    try {
      await pay();
    } catch (error) {
      // Another invocation (reconcile, a concurrent cancel) is publishing it right now.
      if (!(error instanceof TerminalEventBusyError)) dependencies.onEventOwed(jobId, error);
    }
  }

  return updateJob<CancelOutcome>(
    dependencies.store,
    record.jobId,
    async (job) => {
      if (!job) throw new JobNotFoundError(record.jobId);
      switch (job.status) {
        case 'SUCCEEDED':
        case 'FAILED':
          return { done: { kind: 'already-ended', job } };
        case 'CANCELLED':
          await payOwed(() => payTerminalEventDebt(dependencies.terminalEvents, job), job.jobId);
          return { done: { kind: 'cancelled', job } };
        case 'QUEUED': {
          const now = dependencies.now();
          return endJob(
            dependencies,
            job,
            {
              status: 'CANCELLED',
              writer: 'api',
              statusReason: CANCELLED_BEFORE_START_REASON,
              finishedAt: now,
              now,
              cancelRequested: true,
              closing: { cancelled: true, stoppedAt: now, reason: CANCELLED_BEFORE_START_REASON },
            },
            async (ended, pay) => {
              await payOwed(pay, ended.jobId);
              return { kind: 'cancelled', job: ended };
            },
          );
        }
        case 'PENDING':
        case 'RUNNING': {
          if (job.cancelRequested) {
            await dependencies.stopExecution(job.jobId);
            return { done: { kind: 'cancel-requested', job } };
          }
          return {
            write: { set: { cancelRequested: true }, now: dependencies.now() },
            after: async (written) => {
              await dependencies.stopExecution(written.jobId);
              return { kind: 'cancel-requested', job: written };
            },
          };
        }
      }
    },
    { current: record },
  );
}
