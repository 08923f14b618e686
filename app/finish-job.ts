/**
 * The workflow's last step: the job's terminal write when prepare or settle-attempt decided an
 * outcome without making it (app/end-job.ts), then its events. Safe to run again (Step
 * Functions retries it): the write is conditional on the record it was decided from, and the
 * events are published from the debt that write recorded (app/terminal-event.ts), so a retry
 * after a failed PutEvents publishes exactly what the first try could not, and nothing twice.
 */
import { endJob, type EndJobDependencies } from './end-job.js';
import { payTerminalEventDebt } from './terminal-event.js';
import { updateJob } from './update-job.js';
import type { FinishInput, FinishResult } from '../core/contract/workflow.js';
import { isTerminal, type JobRecord } from '../core/job.js';
import { JobNotFoundError, type JobStore } from '../core/ports.js';

export interface FinishDependencies extends EndJobDependencies {
  readonly store: Pick<JobStore, 'getJob' | 'update'>;
  readonly jobCostUsd: (record: JobRecord) => number;
  readonly now: () => string;
}

/** The workflow's own steps: a job they ended was ended by this execution. */
const WORKFLOW_WRITERS = new Set(['finish', 'settle-attempt']);

export function createJobFinisher(dependencies: FinishDependencies) {
  return function finishJob({ jobId, outcome }: FinishInput): Promise<FinishResult> {
    return updateJob<FinishResult>(dependencies.store, jobId, async (record) => {
      if (!record) throw new JobNotFoundError(jobId);
      if (isTerminal(record.status)) {
        await payTerminalEventDebt(dependencies.terminalEvents, record);
        // Terminal by this workflow (an earlier try, or settle-attempt), or first by something else (a cancel).
        const writer = record.terminalEvent?.writer;
        return { done: { jobId, status: record.status, transitioned: writer !== undefined && WORKFLOW_WRITERS.has(writer) } };
      }
      const now = dependencies.now();
      return endJob(
        dependencies,
        record,
        {
          status: outcome.status,
          writer: 'finish',
          statusReason: outcome.statusReason,
          exitCode: outcome.exitCode,
          finishedAt: now,
          now,
          // No attempt stays open on a terminal job: one the workflow never settled (a Batch
          // event that arrived after settling) ends with the job, in the same write.
          closing: {
            cancelled: outcome.status === 'CANCELLED',
            stoppedAt: now,
            reason: outcome.statusReason ?? `The job ended ${outcome.status}`,
          },
        },
        async (ended, pay) => {
          await pay();
          return { jobId, status: ended.status, transitioned: true };
        },
      );
    });
  };
}
