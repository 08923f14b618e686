/**
 * Step Functions task `Finish`: FinishInput → FinishResult. See finish-job.ts.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import middy from '@middy/core';
import { jobCostUsd } from '../../core/cost.js';
import type { FinishInput, FinishResult } from '../../core/contract/workflow.js';
import { createDocumentClient } from '../shared/clients.js';
import { requireEnv } from '../shared/config.js';
import { ENV } from '../../core/contract/environment.js';
import { EventPublisher } from '../shared/events-publisher.js';
import { DynamoJobStore } from '../shared/job-store.js';
import { terminalEventDependencies } from '../../app/terminal-event.js';
import { metricsFromEnvironment } from '../shared/metrics.js';
import { createJobFinisher } from '../../app/finish-job.js';

const logger = new Logger({ serviceName: 'gpujobs-finish' });
const config = {
  tableName: requireEnv(ENV.tableName),
  eventBusName: requireEnv(ENV.eventBusName),
};

const publisher = new EventPublisher(new EventBridgeClient({}), config.eventBusName);
const metrics = metricsFromEnvironment(logger);
const store = new DynamoJobStore(createDocumentClient(), config.tableName);
const finishJob = createJobFinisher({
  store,
  terminalEvents: terminalEventDependencies(store, publisher),
  metrics,
  jobCostUsd: (record) => jobCostUsd(record.attempts),
  now: () => new Date().toISOString(),
});

async function finish(input: FinishInput): Promise<FinishResult> {
  const result = await finishJob(input);
  logger.info('Finished job', { ...result, outcome: input.outcome });
  return result;
}

export const handler = middy(finish).use(injectLambdaContext(logger)).use(logMetrics(metrics));
