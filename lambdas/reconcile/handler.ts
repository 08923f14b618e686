/**
 * EventBridge "Step Functions Execution Status Change" (ABORTED, FAILED, TIMED_OUT)
 * for the job workflow → the job becomes terminal unless it already is, and a Batch job
 * a stopped execution left running is terminated. See reconcile-execution.ts.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { BatchClient } from '@aws-sdk/client-batch';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import middy from '@middy/core';
import { jobCostUsd } from '../../core/cost.js';
import { createDocumentClient } from '../shared/clients.js';
import { requireEnv } from '../shared/config.js';
import { ENV } from '../../core/contract/environment.js';
import { EventPublisher } from '../shared/events-publisher.js';
import { DynamoJobStore } from '../shared/job-store.js';
import { terminalEventDependencies } from '../../app/terminal-event.js';
import { metricsFromEnvironment } from '../shared/metrics.js';
import { batchJobTerminator } from '../shared/batch-job-terminator.js';
import { createExecutionReconciler, endedExecutionFrom, type ReconcileEffect } from '../../app/reconcile-execution.js';

const logger = new Logger({ serviceName: 'gpujobs-reconcile' });
const config = {
  tableName: requireEnv(ENV.tableName),
  eventBusName: requireEnv(ENV.eventBusName),
};

const publisher = new EventPublisher(new EventBridgeClient({}), config.eventBusName);
const metrics = metricsFromEnvironment(logger);
const store = new DynamoJobStore(createDocumentClient(), config.tableName);
const reconcile = createExecutionReconciler({
  store,
  terminalEvents: terminalEventDependencies(store, publisher),
  metrics,
  jobCostUsd: (record) => jobCostUsd(record.attempts),
  now: () => new Date().toISOString(),
  terminateBatchJob: batchJobTerminator(new BatchClient({}), {
    onRefused: (batchJobId, error) => logger.warn('Batch refused to terminate the job; nothing left to stop', { batchJobId, error }),
  }),
});

async function reconcileExecution(event: unknown): Promise<{ effect: ReconcileEffect | 'not-an-end' }> {
  const execution = endedExecutionFrom(event);
  if (!execution) return { effect: 'not-an-end' };
  const effect = await reconcile(execution);
  logger.info('Reconciled ended execution', { jobId: execution.jobId, executionStatus: execution.status, effect });
  return { effect };
}

export const handler = middy(reconcileExecution).use(injectLambdaContext(logger)).use(logMetrics(metrics));
