/**
 * Scheduled watchdog: fails over every job waiting for capacity in a blocked queue (not only the
 * head job Batch acts on) and settles jobs whose end event was lost. See capacity-watchdog.ts,
 * lost-ends.ts and watchdog.ts.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { BatchClient } from '@aws-sdk/client-batch';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SFNClient } from '@aws-sdk/client-sfn';
import middy from '@middy/core';
import { jobCostUsd } from '../../core/cost.js';
import { batchJobTerminator } from '../shared/batch-job-terminator.js';
import { createExecutionReconciler } from '../../app/reconcile-execution.js';
import { createDocumentClient } from '../shared/clients.js';
import { EventPublisher } from '../shared/events-publisher.js';
import { DynamoJobStore } from '../shared/job-store.js';
import { metricsFromEnvironment } from '../shared/metrics.js';
import { terminalEventDependencies } from '../../app/terminal-event.js';
import { endedExecutionLister, executionFailureDescriber, jobCanceller, runnableJobLister } from './aws-adapters.js';
import { createCapacityWatchdog } from './capacity-watchdog.js';
import { createLostEndFinder } from './lost-ends.js';
import { watchdogSettingsFrom } from './settings.js';
import { createWatchdog, type WatchdogReport } from './watchdog.js';

const logger = new Logger({ serviceName: 'gpujobs-watchdog' });
const settings = watchdogSettingsFrom();

const batch = new BatchClient({});
const sfn = new SFNClient({});
const metrics = metricsFromEnvironment(logger);
const store = new DynamoJobStore(createDocumentClient(), settings.tableName);
const reconcile = createExecutionReconciler({
  store,
  terminalEvents: terminalEventDependencies(store, new EventPublisher(new EventBridgeClient({}), settings.eventBusName)),
  metrics,
  jobCostUsd: (record) => jobCostUsd(record.attempts),
  now: () => new Date().toISOString(),
  terminateBatchJob: batchJobTerminator(batch, {
    onRefused: (batchJobId, error) => logger.warn('Batch refused to terminate the job; nothing left to stop', { batchJobId, error }),
  }),
});

const runWatchdog = createWatchdog({
  failOverWaitingJobs: createCapacityWatchdog({
    queues: [
      { capacity: 'spot', jobQueueArn: settings.spotJobQueueArn, timeoutSeconds: settings.capacityTimeoutSeconds },
      { capacity: 'on-demand', jobQueueArn: settings.onDemandJobQueueArn, timeoutSeconds: settings.onDemandCapacityTimeoutSeconds },
    ],
    listRunnableJobs: runnableJobLister(batch),
    cancelJob: jobCanceller(batch),
    now: Date.now,
  }),
  settleLostEnds: createLostEndFinder({
    listExecutions: endedExecutionLister(sfn, settings.stateMachineArn),
    describeFailure: executionFailureDescriber(sfn),
    store,
    reconcile,
    executionTimeoutSeconds: settings.executionTimeoutSeconds,
    now: Date.now,
  }),
});

async function watch(): Promise<WatchdogReport> {
  const report = await runWatchdog();
  // An idle run logs nothing: a line a minute would be most of what the platform costs at rest.
  if (report.capacity.cancelled.length > 0 || report.lostEnds.settled.length > 0) {
    logger.info('Watchdog acted', { cancelled: report.capacity.cancelled, settled: report.lostEnds.settled });
  }
  return report;
}

export const handler = middy(watch).use(injectLambdaContext(logger)).use(logMetrics(metrics));
