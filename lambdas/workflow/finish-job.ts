/**
 * The workflow's last step: the job's one terminal transition, then its events.
 * Safe to run again (Step Functions retries it): the transition is conditional on
 * the version it was computed from, and the events are published from the debt the
 * transition recorded (see lambdas/shared/terminal-event.ts), so a retry after a failed PutEvents
 * publishes exactly what the first try could not, and nothing twice.
 */
import { closingWrites, isTerminal, type JobRecord } from '../../core/job.js';
import { ConflictError, type JobStore } from '../../core/ports.js';
import { allowedFrom } from '../../core/transitions.js';
import type { FinishInput, FinishResult } from '../../core/contract/workflow.js';
import { terminalStatusMetric, type MetricsRecorder } from '../shared/metrics.js';
import { JobNotFoundError } from './job-not-found.js';
import { payTerminalEventDebt, terminalEventOf, terminalTransitionFields, type TerminalEventDependencies } from '../shared/terminal-event.js';

export interface FinishDependencies {
  readonly store: Pick<JobStore, 'getJob' | 'transition' | 'putAttempts'>;
  readonly terminalEvents: TerminalEventDependencies;
  readonly jobCostUsd: (record: JobRecord) => number;
  readonly now: () => string;
  /** Counts the job's end, once: only when this call's transition made it terminal. */
  readonly metrics: MetricsRecorder;
}

/** Rounds of read-then-conditional-write when other writers (batch-events) keep moving the version. */
const MAX_WRITE_ROUNDS = 8;

export function createJobFinisher(dependencies: FinishDependencies) {
  const { store } = dependencies;

  return async function finishJob({ jobId, outcome }: FinishInput): Promise<FinishResult> {
    for (let round = 0; round < MAX_WRITE_ROUNDS; round++) {
      const record = await store.getJob(jobId);
      if (!record) throw new JobNotFoundError(`Job ${jobId} does not exist.`);

      if (isTerminal(record.status)) {
        await payTerminalEventDebt(dependencies.terminalEvents, record);
        // Terminal by this workflow's own earlier try, or first by something else (a cancel).
        return { jobId, status: record.status, transitioned: terminalEventOf(record)?.writer === 'finish' };
      }

      const now = dependencies.now();
      try {
        // No attempt stays open on a terminal job: one the workflow never settled (a Batch event
        // that arrived after settling) ends with the job, and the write below is pinned to a read
        // that shows none open.
        const closing = closingWrites(record.attempts, {
          cancelled: outcome.status === 'CANCELLED',
          stoppedAt: now,
          reason: outcome.statusReason ?? `The job ended ${outcome.status}`,
        });
        if (closing.length > 0) {
          await store.putAttempts(jobId, closing);
          continue;
        }
        const finished = await store.transition({
          jobId,
          from: allowedFrom(outcome.status),
          to: outcome.status,
          // Pinned to the version read, so the recorded previous status and cost are exact.
          expectedVersion: record.version,
          now,
          set: terminalTransitionFields(
            {
              statusReason: outcome.statusReason,
              exitCode: outcome.exitCode,
              finishedAt: now,
              costUsd: dependencies.jobCostUsd(record),
            },
            'finish',
            record.status,
          ),
        });
        const endMetric = terminalStatusMetric(finished.status);
        if (endMetric) dependencies.metrics.add(endMetric);
        await payTerminalEventDebt(dependencies.terminalEvents, finished);
        return { jobId, status: finished.status, transitioned: true };
      } catch (error) {
        if (!(error instanceof ConflictError)) throw error;
      }
    }
    throw new ConflictError(`Job ${jobId} kept changing; could not finish it in ${MAX_WRITE_ROUNDS} rounds.`);
  };
}
