/**
 * EventBridge "Step Functions Execution Status Change" (ABORTED, FAILED, TIMED_OUT)
 * for the job workflow → the job becomes terminal unless it already is, and a Batch job
 * a stopped execution left running is terminated. See app/reconcile-execution.ts.
 */
import { BatchClient } from '@aws-sdk/client-batch';
import { endedExecutionFrom, type ReconcileEffect } from '../../app/reconcile-execution.js';
import { jobFunctionFromEnvironment } from '../shared/event-wiring.js';
import { executionReconcilerFor } from '../shared/reconciler-wiring.js';
import { handlerWith } from '../shared/wiring.js';

const { logger, store, publisher, metrics } = jobFunctionFromEnvironment('gpujobs-reconcile');
const reconcile = executionReconcilerFor({ store, publisher, metrics, logger, batch: new BatchClient({}) });

async function reconcileExecution(event: unknown): Promise<{ effect: ReconcileEffect | 'not-an-end' }> {
  const execution = endedExecutionFrom(event);
  if (!execution) return { effect: 'not-an-end' };
  const effect = await reconcile(execution);
  logger.info('Reconciled ended execution', { jobId: execution.jobId, executionStatus: execution.status, effect });
  return { effect };
}

export const handler = handlerWith(reconcileExecution, { logger, metrics });
