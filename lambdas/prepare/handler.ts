/**
 * Step Functions task `Prepare`: `{jobId}` → PrepareResult. See app/prepare-job.ts.
 */
import { BatchClient } from '@aws-sdk/client-batch';
import { createJobPreparer } from '../../app/prepare-job.js';
import { ENV } from '../../core/contract/environment.js';
import type { PrepareInput, PrepareResult } from '../../core/contract/workflow.js';
import { listEnv, requireEnv } from '../shared/config.js';
import { jobEventSending, publisherFromEnvironment } from '../shared/event-wiring.js';
import { functionLogger, handlerWith, isoNow, jobStoreFromEnvironment } from '../shared/wiring.js';
import { explainRegistrationFailure, JobDefinitionResolver } from './job-definitions.js';

const logger = functionLogger('gpujobs-prepare');
const store = jobStoreFromEnvironment();
const publisher = publisherFromEnvironment();
const config = {
  allowedRegistries: listEnv(ENV.allowedRegistries),
  jobDefinitions: {
    namePrefix: requireEnv(ENV.jobDefinitionPrefix),
    jobRoleArn: requireEnv(ENV.jobRoleArn),
    executionRoleArn: requireEnv(ENV.jobExecutionRoleArn),
    logGroupName: requireEnv(ENV.jobLogGroupName),
  },
};

// Module scope: a warm container resolves each image's definition from memory.
const jobDefinitions = new JobDefinitionResolver(new BatchClient({}), config.jobDefinitions);
const prepareJob = createJobPreparer({
  store,
  ...jobEventSending(publisher),
  now: isoNow,
  allowedRegistries: config.allowedRegistries,
  resolveJobDefinition: (record) => jobDefinitions.resolve(record),
  explainRegistrationFailure,
});

async function prepare(input: PrepareInput): Promise<PrepareResult> {
  const result = await prepareJob(input);
  logger.info('Prepared job', { jobId: input.jobId, plan: result.plan.next, jobDefinitionArn: result.job?.jobDefinitionArn });
  return result;
}

// Prepare records no metrics, so none are published.
export const handler = handlerWith(prepare, { logger });
