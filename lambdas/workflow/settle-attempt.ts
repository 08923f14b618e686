/**
 * Step Functions task `SettleAttempt`: SettleAttemptInput → Plan. See settle-attempt-job.ts.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { ECSClient } from '@aws-sdk/client-ecs';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import middy from '@middy/core';
import { terminalEventDependencies } from '../../app/terminal-event.js';
import { attemptCostUsd, jobCostUsd } from '../../core/cost.js';
import { buildJobEvent } from '../../core/events.js';
import type { Plan, SettleAttemptInput } from '../../core/contract/workflow.js';
import { InstanceTypeLookup } from '../shared/instance-types.js';
import { createDocumentClient } from '../shared/clients.js';
import { requireEnv } from '../shared/config.js';
import { ENV } from '../../core/contract/environment.js';
import { EventPublisher } from '../shared/events-publisher.js';
import { DynamoJobStore } from '../shared/job-store.js';
import { metricsFromEnvironment } from '../shared/metrics.js';
import { createAttemptSettler } from '../../app/settle-attempt.js';

const logger = new Logger({ serviceName: 'gpujobs-settle-attempt' });
const config = {
  tableName: requireEnv(ENV.tableName),
  eventBusName: requireEnv(ENV.eventBusName),
};

const publisher = new EventPublisher(new EventBridgeClient({}), config.eventBusName);
const instanceTypes = new InstanceTypeLookup(new ECSClient({}));
const metrics = metricsFromEnvironment(logger);
const store = new DynamoJobStore(createDocumentClient(), config.tableName);
const settleAttempt = createAttemptSettler({
  store,
  terminalEvents: terminalEventDependencies(store, publisher),
  jobCostUsd: (record) => jobCostUsd(record.attempts),
  publish: (events) => publisher.publish(events),
  buildEvents: buildJobEvent,
  now: () => new Date().toISOString(),
  // The state change event may not have named the instance yet when the attempt ends this fast.
  instanceTypeOf: (containerInstanceArn) => instanceTypes.instanceTypeOf(containerInstanceArn),
  onLookupFailure: (error, containerInstanceArn) =>
    logger.warn('Instance type lookup failed; the attempt is settled without it', { containerInstanceArn, error }),
  attemptCostUsd: (attempt) => attemptCostUsd(attempt)?.costUsd,
  metrics,
});

async function settle(input: SettleAttemptInput): Promise<Plan> {
  const plan = await settleAttempt(input);
  logger.info('Settled attempt', { jobId: input.jobId, attempt: input.attempt, capacity: input.capacity, next: plan.next });
  return plan;
}

export const handler = middy(settle).use(injectLambdaContext(logger)).use(logMetrics(metrics));
