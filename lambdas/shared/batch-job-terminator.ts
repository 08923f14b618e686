/**
 * Batch TerminateJob as the reconciler's `terminateBatchJob`: used by the reconcile handler
 * and by the watchdog, which settles the ends whose event was lost through the same reconciler.
 */
import { TerminateJobCommand, type BatchClient } from '@aws-sdk/client-batch';

/** The CancelJob/TerminateJob `reason` limit (https://docs.aws.amazon.com/batch/latest/APIReference/API_TerminateJob.html). */
export const BATCH_REASON_MAX_LENGTH = 1024;

export interface BatchJobTerminatorOptions {
  /** Told about a job Batch refused to terminate as unknown or invalid (nothing left to stop). */
  readonly onRefused?: (batchJobId: string, error: Error) => void;
}

/**
 * TerminateJob stops a job in any state: one not yet STARTING is cancelled, a STARTING or
 * RUNNING one is stopped, a finished one is left as it is. A ClientException (a job Batch no
 * longer knows, an id that is not one) means there is nothing left to stop, so it is reported,
 * not thrown; anything else (throttling, a server error, a missing permission) is thrown, so the
 * caller's retry comes back to it.
 */
export function batchJobTerminator(batch: BatchClient, options: BatchJobTerminatorOptions = {}) {
  return async function terminateBatchJob(batchJobId: string, reason: string): Promise<void> {
    try {
      await batch.send(new TerminateJobCommand({ jobId: batchJobId, reason: reason.slice(0, BATCH_REASON_MAX_LENGTH) }));
    } catch (error) {
      if (!(error instanceof Error) || error.name !== 'ClientException') throw error;
      options.onRefused?.(batchJobId, error);
    }
  };
}
