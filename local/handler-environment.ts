/**
 * The handlers local mode runs, and the environment they load with: the variables the stack sets
 * on each function (pointed at the local resources) and the stand-ins' endpoints, which the
 * handlers' SDK clients pick up (AWS_ENDPOINT_URL_<SERVICE>) when their modules load. So the
 * environment is set first and the handler modules are imported after it, once per process.
 */
import type { CapacityType } from '../core/job.js';
import { formatJobShapes, type JobShape } from '../core/instance-catalogue.js';
import { JOB_SPEC_LIMITS } from '../core/spec.js';
import { ENV } from '../core/contract/environment.js';
import { DEFAULT_CONFIG } from '../lib/config.js';
import { LOCAL_CREDENTIALS } from './credentials.js';
import type { LambdaHandler } from './lambda-runtime.js';
import { EVENT_BUS_NAME, JOB_LOG_GROUP_NAME, LOCAL_ACCOUNT, TABLE_NAME } from './resources.js';

export interface Handlers {
  readonly api: LambdaHandler;
  readonly dispatcher: LambdaHandler;
  readonly prepare: LambdaHandler;
  readonly settleAttempt: LambdaHandler;
  readonly finish: LambdaHandler;
  readonly batchEvents: LambdaHandler;
  readonly reconcile: LambdaHandler;
  readonly watchdog: LambdaHandler;
}

export interface HandlerEnvironmentSettings {
  readonly region: string;
  readonly endpoints: { readonly dynamodb: string; readonly sqs: string; readonly aws: string };
  readonly intakeQueueUrl: string;
  readonly stateMachineArn: string;
  readonly capacityTimeoutSeconds: number;
  readonly jobQueues: Readonly<Record<CapacityType, string>>;
  /** The definition's TimeoutSeconds, if it has one. */
  readonly executionTimeoutSeconds: number | undefined;
  readonly gpuSlots: number;
}

/** Step Functions' own limit on a Standard execution, for a definition without TimeoutSeconds. */
const DEFAULT_EXECUTION_TIMEOUT_SECONDS = 365 * 24 * 3600;

export function configureHandlerEnvironment(settings: HandlerEnvironmentSettings): void {
  const env = process.env;
  env.AWS_REGION = settings.region;
  // Requests never leave this machine; the SDK still wants credentials to sign with.
  env.AWS_ACCESS_KEY_ID ??= LOCAL_CREDENTIALS.accessKeyId;
  env.AWS_SECRET_ACCESS_KEY ??= LOCAL_CREDENTIALS.secretAccessKey;
  env.AWS_ENDPOINT_URL_DYNAMODB = settings.endpoints.dynamodb;
  env.AWS_ENDPOINT_URL_SQS = settings.endpoints.sqs;
  for (const service of ['SFN', 'BATCH', 'EVENTBRIDGE', 'CLOUDWATCH_LOGS', 'ECS']) {
    env[`AWS_ENDPOINT_URL_${service}`] = settings.endpoints.aws;
  }
  env[ENV.tableName] = TABLE_NAME;
  env[ENV.intakeQueueUrl] = settings.intakeQueueUrl;
  env[ENV.stateMachineArn] = settings.stateMachineArn;
  env[ENV.eventBusName] = EVENT_BUS_NAME;
  env[ENV.jobLogGroupName] = JOB_LOG_GROUP_NAME;
  env[ENV.jobRoleArn] = `arn:aws:iam::${LOCAL_ACCOUNT}:role/gpujobs-local-job`;
  env[ENV.jobExecutionRoleArn] = `arn:aws:iam::${LOCAL_ACCOUNT}:role/gpujobs-local-job-execution`;
  env[ENV.jobDefinitionPrefix] = 'gpujobs-';
  env[ENV.allowedRegistries] ??= '';
  env[ENV.jobShapes] = formatJobShapes([localJobShape(settings.gpuSlots)]);
  env[ENV.localMode] = '1';
  // No authorizer runs locally, so no caller is an assumed role; the api still checks the value it deploys with.
  env[ENV.ownerIdentity] = DEFAULT_CONFIG.ownerIdentity;
  env[ENV.spotJobQueueArn] = settings.jobQueues.spot;
  env[ENV.onDemandJobQueueArn] = settings.jobQueues['on-demand'];
  env[ENV.capacityTimeoutSeconds] = String(settings.capacityTimeoutSeconds);
  env[ENV.onDemandCapacityTimeoutSeconds] = String(DEFAULT_CONFIG.onDemandCapacityTimeoutSeconds);
  env[ENV.executionTimeoutSeconds] = String(settings.executionTimeoutSeconds ?? DEFAULT_EXECUTION_TIMEOUT_SECONDS);
  // Handler logs: warnings and errors only, unless asked for.
  env.POWERTOOLS_LOG_LEVEL ??= 'WARN';
  // Handlers run in-process here: their CloudWatch metric lines would flood the terminal.
  env.POWERTOOLS_METRICS_DISABLED ??= 'true';
}

/**
 * The largest job this machine runs: as many GPUs as it has slots (the local executor would refuse
 * more, as Batch cancels a job no instance type can hold). vCPUs and memory are not reserved
 * locally, so any the contract allows is accepted and a spec written for AWS runs here unchanged.
 */
function localJobShape(gpuSlots: number): JobShape {
  return {
    label: `the ${gpuSlots} local GPU slots`,
    gpus: gpuSlots,
    vcpus: JOB_SPEC_LIMITS.vcpus.max,
    memoryMiB: JOB_SPEC_LIMITS.memoryMiB.max,
  };
}

/** The handler modules, imported after configureHandlerEnvironment so that they load with it. */
export async function importHandlers(): Promise<Handlers> {
  const [api, dispatcher, prepare, settleAttempt, finish, batchEvents, reconcile, watchdog] = await Promise.all([
    import('../lambdas/api/handler.js'),
    import('../lambdas/dispatcher/handler.js'),
    import('../lambdas/prepare/handler.js'),
    import('../lambdas/settle-attempt/handler.js'),
    import('../lambdas/finish/handler.js'),
    import('../lambdas/batch-events/handler.js'),
    import('../lambdas/reconcile/handler.js'),
    import('../lambdas/watchdog/handler.js'),
  ]);
  const asHandler = (module: { handler: unknown }) => module.handler as LambdaHandler;
  return {
    api: asHandler(api),
    dispatcher: asHandler(dispatcher),
    prepare: asHandler(prepare),
    settleAttempt: asHandler(settleAttempt),
    finish: asHandler(finish),
    batchEvents: asHandler(batchEvents),
    reconcile: asHandler(reconcile),
    watchdog: asHandler(watchdog),
  };
}
