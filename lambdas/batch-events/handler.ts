/**
 * EventBridge "Batch Job State Change" for the job queues → the job's and its
 * attempts' status, Batch job id, instance type, times and log stream (and the
 * attempts Batch retried in place, settled). See apply-batch-event.ts.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { ECSClient } from '@aws-sdk/client-ecs';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import middy from '@middy/core';
import { attemptCostUsd } from '../../core/cost.js';
import { buildJobEvent } from '../../core/events.js';
import { createDocumentClient } from '../shared/clients.js';
import { requireEnv } from '../shared/config.js';
import { ENV } from '../../core/contract/environment.js';
import { EventPublisher } from '../shared/events-publisher.js';
import { DynamoJobStore } from '../shared/job-store.js';
import { metricsFromEnvironment } from '../shared/metrics.js';
import { createBatchEventApplier, type BatchEventEffect } from '../../app/apply-batch-event.js';
import { attemptFactsFrom } from './batch-job-event.js';
import { InstanceTypeLookup } from '../shared/instance-types.js';

const logger = new Logger({ serviceName: 'gpujobs-batch-events' });
const config = {
  tableName: requireEnv(ENV.tableName),
  eventBusName: requireEnv(ENV.eventBusName),
};

const publisher = new EventPublisher(new EventBridgeClient({}), config.eventBusName);
const instanceTypes = new InstanceTypeLookup(new ECSClient({}));
const metrics = metricsFromEnvironment(logger);
const applyBatchEvent = createBatchEventApplier({
  store: new DynamoJobStore(createDocumentClient(), config.tableName),
  instanceTypeOf: (containerInstanceArn) => instanceTypes.instanceTypeOf(containerInstanceArn),
  attemptCostUsd: (attempt) => attemptCostUsd(attempt)?.costUsd,
  publish: (events) => publisher.publish(events),
  buildEvents: buildJobEvent,
  now: () => new Date().toISOString(),
  metrics,
});

const QUIET_EFFECTS = new Set<BatchEventEffect>(['duplicate', 'stale', 'job-terminal', 'not-our-job']);

async function applyEvent(event: unknown): Promise<{ effect: BatchEventEffect }> {
  const facts = attemptFactsFrom(event);
  if (!facts) return { effect: 'not-our-job' };
  const effect = await applyBatchEvent(facts);
  // Duplicates and late events are expected traffic, not news.
  const log = QUIET_EFFECTS.has(effect) ? logger.debug.bind(logger) : logger.info.bind(logger);
  log('Applied Batch job state change', { jobId: facts.jobId, attempt: facts.attempt, batchStatus: facts.batchStatus, effect });
  return { effect };
}

export const handler = middy(applyEvent).use(injectLambdaContext(logger)).use(logMetrics(metrics));
