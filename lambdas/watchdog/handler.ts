/**
 * Scheduled watchdog: fails over every job waiting for capacity in a blocked queue (not only the
 * head job Batch acts on) and settles jobs whose end event was lost. See capacity-watchdog.ts,
 * lost-ends.ts and watchdog.ts.
 */
import { BatchClient } from '@aws-sdk/client-batch';
import { SFNClient } from '@aws-sdk/client-sfn';
import { publisherFromEnvironment } from '../shared/event-wiring.js';
import { metricsFromEnvironment } from '../shared/metrics.js';
import { executionReconcilerFor } from '../shared/reconciler-wiring.js';
import { functionLogger, handlerWith, jobStoreFromEnvironment } from '../shared/wiring.js';
import { endedExecutionLister, executionFailureDescriber, jobCanceller, runnableJobLister } from './aws-adapters.js';
import { createCapacityWatchdog } from './capacity-watchdog.js';
import { createLostEndFinder } from './lost-ends.js';
import { watchdogSettingsFrom } from './settings.js';
import { createWatchdog, type WatchdogReport } from './watchdog.js';

const logger = functionLogger('gpujobs-watchdog');
const settings = watchdogSettingsFrom();

const batch = new BatchClient({});
const sfn = new SFNClient({});
const metrics = metricsFromEnvironment(logger);
const store = jobStoreFromEnvironment(settings.tableName);
const reconcile = executionReconcilerFor({ store, publisher: publisherFromEnvironment(settings.eventBusName), metrics, logger, batch });

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

export const handler = handlerWith(watch, { logger, metrics });
