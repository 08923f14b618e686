/**
 * What the handler tests share: a Lambda context, handler environments, and jobs
 * seeded through the real store into dynalite.
 */
import type { Context } from 'aws-lambda';
import type { JobSpec, JobStatus } from '../../core/job.js';
import { aJobId, aJobSpec } from '../support/jobs.js';
import { ENV } from '../../core/contract/environment.js';
import { DynamoJobStore } from '../../lambdas/shared/job-store.js';
import { documentClientFor, type RunningDynalite } from '../support/dynalite.js';
import { lambdaContext as localLambdaContext } from '../../local/lambda-runtime.js';
import { transitionJob } from '../../app/update-job.js';

export const STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:123456789012:stateMachine:gpujobs-job-workflow';

export function lambdaContext(functionName = 'gpujobs-test'): Context {
  return localLambdaContext(functionName, { region: 'us-east-1', account: '123456789012', timeoutMs: 60_000, logStreamName: 'test' });
}

/** Every variable any of these handlers reads, pointed at the test's dynalite. */
export function setHandlerEnvironment(dynamo: RunningDynalite): void {
  process.env.AWS_ENDPOINT_URL_DYNAMODB = dynamo.endpoint;
  process.env[ENV.tableName] = dynamo.tableName;
  process.env[ENV.stateMachineArn] = STATE_MACHINE_ARN;
  process.env[ENV.eventBusName] = 'gpujobs-test-bus';
  process.env[ENV.jobLogGroupName] = '/gpujobs/jobs';
  process.env[ENV.jobRoleArn] = 'arn:aws:iam::123456789012:role/gpujobs-job';
  process.env[ENV.jobExecutionRoleArn] = 'arn:aws:iam::123456789012:role/gpujobs-job-execution';
  process.env[ENV.jobDefinitionPrefix] = 'gpujobs-test';
  // Keep test output readable; the handlers' logs and metrics are not what these tests assert
  // (metrics.test.ts turns metrics back on).
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
}

export function storeFor(dynamo: RunningDynalite): DynamoJobStore {
  return new DynamoJobStore(documentClientFor(dynamo.endpoint), dynamo.tableName);
}

/** Creates a job QUEUED (on aJobSpec with `spec` over it), then walks it through `path` (each step a legal transition). */
export async function seedJob(
  store: DynamoJobStore,
  options: { readonly spec?: Partial<JobSpec>; readonly path?: readonly JobStatus[]; readonly owner?: string } = {},
) {
  const jobId = aJobId();
  const created = await store.createJob({
    jobId,
    owner: options.owner ?? 'arn:aws:iam::123456789012:user/alice',
    spec: aJobSpec(options.spec),
    now: new Date().toISOString(),
  });
  if (created.kind !== 'created') throw new Error(`Seeding job ${jobId} gave ${created.kind}.`);
  let record = created.job;
  for (const status of options.path ?? []) {
    record = await transitionJob(store, { jobId, from: [record.status], to: status, now: new Date().toISOString() });
  }
  return record;
}
