/**
 * The one way a job becomes terminal (settle-attempt and finish for the workflow, reconcile for
 * an execution that ended without finishing, the api for a QUEUED job cancelled at once): one
 * conditional write of the terminal status, its fields, every attempt still open closed with it
 * (so no attempt stays open on a terminal job), the cost, and the terminal event debt with its
 * writer holding the claim to publish it (app/terminal-event.ts); then the end metric, once,
 * and the event.
 */
import type { JobChange, StoredAttempt } from '../core/job-change.js';
import { withAttempts } from '../core/job-change.js';
import { closingWrites, type AttemptClosing, type JobRecord, type TerminalStatus, type TerminalWriter } from '../core/job.js';
import { ConflictError } from '../core/ports.js';
import { canTransition } from '../core/transitions.js';
import { terminalStatusMetric, type MetricsRecorder } from '../core/contract/metrics.js';
import { payTerminalEventDebt, terminalWriteFields, type TerminalEventDependencies } from './terminal-event.js';
import type { JobDecision } from './update-job.js';

export interface EndJobDependencies {
  readonly terminalEvents: TerminalEventDependencies;
  /** What the job cost, from its attempts as they are once it ended; absent writes no cost. */
  readonly jobCostUsd?: (record: JobRecord) => number;
  /** Counts the job's end, once: only when this write made it terminal. */
  readonly metrics: MetricsRecorder;
}

/** How a job ends, decided by the caller from the record it read. */
export interface JobEnding {
  readonly status: TerminalStatus;
  readonly writer: TerminalWriter;
  readonly statusReason?: string;
  readonly exitCode?: number;
  readonly finishedAt: string;
  readonly now: string;
  /** Written with the status: a QUEUED job cancelled at once records the request it fulfils. */
  readonly cancelRequested?: boolean;
  /** Attempts the caller settles in the same write (settle-attempt: the runs of the submission). */
  readonly attempts?: readonly StoredAttempt[];
  /** How the attempts still open after `attempts` close. */
  readonly closing: AttemptClosing;
}

/**
 * The decision that ends the job from `record`. `after` runs once the write landed, with the
 * record as written and `pay`, which publishes the terminal event the write made owed
 * (TerminalEventBusyError or the publish error when it could not): the caller decides what a
 * failed publish means for it. Throws ConflictError (with the record) when the transition table
 * does not let the job end that way from where it is (a SUCCEEDED outcome for a QUEUED job).
 */
export function endJob<R>(
  dependencies: EndJobDependencies,
  record: JobRecord,
  ending: JobEnding,
  after: (ended: JobRecord, pay: () => Promise<void>) => R | Promise<R>,
): JobDecision<R> {
  if (!canTransition(record.status, ending.status)) {
    throw new ConflictError(`Job ${record.jobId} is ${record.status}; it cannot become ${ending.status}.`, record);
  }
  const settled = withAttempts(record, ending.attempts ?? []);
  const closing = closingWrites(settled.attempts, ending.closing);
  const attempts = [
    ...(ending.attempts ?? []).filter((attempt) => !closing.some((closed) => closed.attempt === attempt.attempt)),
    ...closing,
  ];
  const held = dependencies.terminalEvents.holdInWrite(record.jobId);
  const change: JobChange = {
    to: ending.status,
    attempts,
    now: ending.now,
    set: terminalWriteFields(
      {
        statusReason: ending.statusReason,
        exitCode: ending.exitCode,
        finishedAt: ending.finishedAt,
        cancelRequested: ending.cancelRequested,
        costUsd: dependencies.jobCostUsd?.(withAttempts(settled, closing)),
      },
      ending.writer,
      record.status,
      held,
    ),
  };
  return {
    write: change,
    after: (ended) => {
      const endMetric = terminalStatusMetric(ended.status);
      if (endMetric) dependencies.metrics.add(endMetric);
      return after(ended, async () => {
        await payTerminalEventDebt(dependencies.terminalEvents, ended, held);
      });
    },
  };
}
