/**
 * The execution reconciler as the reconcile handler and the watchdog both run it: the watchdog
 * settles the ends whose event was lost through the same use case, so both get it from here.
 * Apart from wiring.ts because it brings the Batch client (TerminateJob).
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { BatchClient } from '@aws-sdk/client-batch';
import { createExecutionReconciler } from '../../app/reconcile-execution.js';
import { batchJobTerminator } from './batch-job-terminator.js';
import type { EventPublisher } from './events-publisher.js';
import { terminalEventsFor } from './event-wiring.js';
import type { DynamoJobStore } from './job-store.js';
import type { JobMetrics } from './metrics.js';
import { isoNow, recordCostUsd } from './wiring.js';

export interface ReconcilerWiring {
  readonly store: DynamoJobStore;
  readonly publisher: EventPublisher;
  readonly metrics: JobMetrics;
  /** Told about each Batch job Batch refused to terminate (nothing left to stop). */
  readonly logger: Logger;
  /** Terminates the Batch jobs an ended execution left running. */
  readonly batch: BatchClient;
}

export function executionReconcilerFor(wiring: ReconcilerWiring): ReturnType<typeof createExecutionReconciler> {
  const { store, publisher, metrics, logger, batch } = wiring;
  return createExecutionReconciler({
    store,
    terminalEvents: terminalEventsFor(store, publisher),
    metrics,
    jobCostUsd: recordCostUsd,
    now: isoNow,
    terminateBatchJob: batchJobTerminator(batch, {
      onRefused: (batchJobId, error) => logger.warn('Batch refused to terminate the job; nothing left to stop', { batchJobId, error }),
    }),
  });
}
