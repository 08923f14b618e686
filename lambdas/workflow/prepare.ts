/**
 * Step Functions task `Prepare`: `{jobId}` → PrepareResult. See prepare-job.ts.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { BatchClient } from '@aws-sdk/client-batch';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import middy from '@middy/core';
import { buildJobEvent } from '../../core/events.js';
import type { PrepareInput, PrepareResult } from '../../core/contract/workflow.js';
import { createDocumentClient } from '../shared/clients.js';
import { listEnv, requireEnv } from '../shared/config.js';
import { ENV } from '../../core/contract/environment.js';
import { EventPublisher } from '../shared/events-publisher.js';
import { DynamoJobStore } from '../shared/job-store.js';
import { explainRegistrationFailure, JobDefinitionResolver } from './job-definitions.js';
import { createJobPreparer } from '../../app/prepare-job.js';

const logger = new Logger({ serviceName: 'gpujobs-prepare' });
const config = {
  tableName: requireEnv(ENV.tableName),
  eventBusName: requireEnv(ENV.eventBusName),
  allowedRegistries: listEnv(ENV.allowedRegistries),
  jobDefinitions: {
    namePrefix: requireEnv(ENV.jobDefinitionPrefix),
    jobRoleArn: requireEnv(ENV.jobRoleArn),
    executionRoleArn: requireEnv(ENV.jobExecutionRoleArn),
    logGroupName: requireEnv(ENV.jobLogGroupName),
  },
};

const publisher = new EventPublisher(new EventBridgeClient({}), config.eventBusName);
// Module scope: a warm container resolves each image's definition from memory.
const jobDefinitions = new JobDefinitionResolver(new BatchClient({}), config.jobDefinitions);
const prepareJob = createJobPreparer({
  store: new DynamoJobStore(createDocumentClient(), config.tableName),
  publish: (events) => publisher.publish(events),
  buildEvents: buildJobEvent,
  now: () => new Date().toISOString(),
  allowedRegistries: config.allowedRegistries,
  resolveJobDefinition: (record) => jobDefinitions.resolve(record),
  explainRegistrationFailure,
});

async function prepare(input: PrepareInput): Promise<PrepareResult> {
  const result = await prepareJob(input);
  logger.info('Prepared job', { jobId: input.jobId, plan: result.plan.next, jobDefinitionArn: result.job?.jobDefinitionArn });
  return result;
}

export const handler = middy(prepare).use(injectLambdaContext(logger));
