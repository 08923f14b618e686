/**
 * Local mode: the whole platform on one machine, running the same handlers and the
 * same workflow definition as AWS (jobWorkflowAsl), with stand-ins for the AWS services.
 * The handlers create their SDK clients from the default configuration when their
 * modules load, so the stand-ins' endpoints (AWS_ENDPOINT_URL_<SERVICE>) and the
 * handlers' variables are set before the first handler module is imported, once per
 * process; later starts in the same process reuse the same loopback ports.
 */
import { resolve as resolvePath, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { formatJobShapes, type JobShape } from '../core/instance-catalogue.js';
import { buildJobEvent } from '../core/events.js';
import { isTerminal, type CapacityType, type JobRecord } from '../core/job.js';
import { interruptedAttemptWrites } from '../core/plan.js';
import type { GpuJobEvent } from '../core/ports.js';
import { JOB_SPEC_LIMITS } from '../core/spec.js';
import { STATE } from '../core/contract/workflow.js';
import { DEFAULT_CONFIG } from '../lib/config.js';
import { createDocumentClient } from '../lambdas/shared/clients.js';
import { ENV } from '../lambdas/shared/environment.js';
import { EventPublisher } from '../lambdas/shared/events-publisher.js';
import { DynamoJobStore } from '../lambdas/shared/job-store.js';
import { changeStatus } from '../lambdas/workflow/status-change.js';
import { LOCAL_CREDENTIALS } from './credentials.js';
import { startAwsServer, type RunningAwsServer } from './aws-server.js';
import { LocalBatch, ClientException, type JobDetail, type SubmitJobParameters } from './batch-executor.js';
import { checkDataDir } from './data-dir.js';
import { startDynamoDb, type RunningDynamoDb } from './dynamodb.js';
import { LocalEventBus, type EventEnvelope, type ListedEvent } from './event-bus.js';
import { detectGpus, type GpuPool } from './gpus.js';
import { killLeftoverProcesses, platformTokenFor } from './process-tree.js';
import { startHttpApi, type RunningHttpApi } from './http-api.js';
import { lambdaContext } from './lambda-context.js';
import { LogStore, type LogStoreIo } from './log-store.js';
import { consoleLogger, type LocalLogger } from './logger.js';
import { SqsEventSourceMapping, startSqs, type RunningSqs, type SqsLambdaEvent } from './sqs.js';
import { LocalStepFunctions, type ExecutionHandle, type JsonValue, type TaskHandler } from './step-functions.js';
import { loadWorkflowDefinition } from './workflow-definition.js';

export const LOCAL_ACCOUNT = '000000000000';
export const DEFAULT_PORT = 8787;
export const DEFAULT_DATA_DIR = '.gpujobs';
export const DEFAULT_CAPACITY_TIMEOUT_SECONDS = 600;
export const DEFAULT_STOP_GRACE_SECONDS = 5;
/** The stack's schedule runs the watchdog every minute (`watchdogIntervalMinutes`). */
export const DEFAULT_WATCHDOG_INTERVAL_SECONDS = DEFAULT_CONFIG.watchdogIntervalMinutes * 60;

/** The stack's intake queue: visibility 6 × the dispatcher's 30 s timeout, DLQ after 5 receives. */
const INTAKE_QUEUE = {
  queueName: 'gpujobs-intake',
  deadLetterQueueName: 'gpujobs-intake-dlq',
  visibilityTimeoutSeconds: 180,
  maxReceiveCount: 5,
} as const;
const TABLE_NAME = 'gpujobs-jobs';
const BATCH_EVENTS_RULE = 'batch-job-state-change';
const EVENT_BUS_NAME = 'gpujobs';
const JOB_LOG_GROUP_NAME = '/aws/batch/job';
/** The statusReason of an attempt that was running when the platform stopped (or was killed). */
const RESTART_REASON = 'The local platform stopped while the attempt ran';

export interface LocalPlatformOptions {
  /** HTTP port; 0 picks a free one. @default PORT, else 8787 */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** Database, job logs, event log and caches. @default GPUJOBS_DATA_DIR, else `.gpujobs` in the working directory */
  readonly dataDir?: string;
  /** GPU slots to use (virtual ones when there is no nvidia-smi). @default GPUJOBS_LOCAL_GPUS, else all GPUs or 4 virtual */
  readonly gpus?: number;
  /** Seconds a Spot job waits for capacity before it is cancelled (and fails over). @default GPUJOBS_CAPACITY_TIMEOUT_SECONDS, else 600 */
  readonly capacityTimeoutSeconds?: number;
  /**
   * Seconds between watchdog runs (capacity failover for every waiting job, ends whose event was
   * lost); 0 runs no watchdog. @default GPUJOBS_WATCHDOG_INTERVAL_SECONDS, else 60
   */
  readonly watchdogIntervalSeconds?: number;
  /** Seconds between SIGTERM and SIGKILL on a reclaim or cancel. @default GPUJOBS_SPOT_GRACE_SECONDS, else 5 */
  readonly stopGracePeriodSeconds?: number;
  /** URLs every gpujobs event is POSTed to. @default GPUJOBS_WEBHOOK_URLS (comma-separated), else none */
  readonly webhookUrls?: readonly string[];
  /** Working directory of job processes. @default the current working directory */
  readonly jobWorkingDirectory?: string;
  /** Concurrent dispatcher invocations. @default 2 (the stack's MaximumConcurrency default) */
  readonly dispatcherConcurrency?: number;
  /** Messages per dispatcher invocation. @default 10 */
  readonly dispatcherBatchSize?: number;
  /** Finished jobs the Batch stand-in keeps for DescribeJobs and ListJobs (their records stay in DynamoDB). @default 1000 */
  readonly retainedBatchJobs?: number;
  /** Suppresses informational lines (warnings and errors still print). @default false */
  readonly quiet?: boolean;
  readonly logger?: LocalLogger;
  /** Where defaults are read from. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** File operations of the job log store, replaced by tests that make the disk fail. @default node:fs */
  readonly logStoreIo?: Partial<LogStoreIo>;
}

export interface RecoveredJobs {
  /** QUEUED jobs sent to the intake queue again. */
  readonly requeued: readonly string[];
  /** PENDING or RUNNING jobs whose workflow starts again, planned from the attempts they settled. */
  readonly resumed: readonly string[];
  /** Of the resumed jobs, those whose attempt was running: it ended interrupted, and the job's policy decides the next. */
  readonly interrupted: readonly string[];
}

export interface LocalPlatform {
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  readonly gpus: GpuPool;
  readonly capacityTimeoutSeconds: number;
  readonly stateMachineArn: string;
  readonly recovered: RecoveredJobs;
  /** Reclaims every running Spot attempt (what POST /local/spot/interrupt does). */
  interruptSpot(): number;
  setSpotCapacity(available: boolean): void;
  events(): ListedEvent[];
  /** Process ids of the running job attempts. */
  runningProcesses(): { jobName: string; pid: number; capacity: CapacityType; slots: readonly number[] }[];
  /** Stops job processes and every server; state on disk stays consistent for the next start. */
  stop(): Promise<void>;
}

export class InvalidLocalOptionError extends Error {
  override readonly name = 'InvalidLocalOptionError';
}

export class LocalPlatformRunningError extends Error {
  override readonly name = 'LocalPlatformRunningError';
}

type AnyHandler = (event: unknown, context: Context) => Promise<unknown>;

interface Handlers {
  readonly api: AnyHandler;
  readonly dispatcher: AnyHandler;
  readonly prepare: AnyHandler;
  readonly settleAttempt: AnyHandler;
  readonly finish: AnyHandler;
  readonly batchEvents: AnyHandler;
  readonly reconcile: AnyHandler;
  readonly watchdog: AnyHandler;
}

/** Ports fixed by the first start in this process: the handlers' clients keep pointing at them. */
let processPorts: { dynamodb: number; sqs: number; aws: number } | undefined;
let running = false;

const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));

export async function startLocalPlatform(options: LocalPlatformOptions = {}): Promise<LocalPlatform> {
  if (running) throw new LocalPlatformRunningError('A local platform is already running in this process; stop it first.');
  running = true;
  try {
    return await start(options);
  } catch (error) {
    running = false;
    throw error;
  }
}

async function start(options: LocalPlatformOptions): Promise<LocalPlatform> {
  const env = options.env ?? process.env;
  const logger = options.logger ?? consoleLogger({ quiet: options.quiet ?? false });
  const port = options.port ?? integerEnv(env, 'PORT', DEFAULT_PORT, 0, 65535);
  const host = options.host ?? '127.0.0.1';
  const dataDir = resolvePath(options.dataDir ?? env.GPUJOBS_DATA_DIR ?? DEFAULT_DATA_DIR);
  const capacityTimeoutSeconds =
    options.capacityTimeoutSeconds ?? integerEnv(env, 'GPUJOBS_CAPACITY_TIMEOUT_SECONDS', DEFAULT_CAPACITY_TIMEOUT_SECONDS, 1, 86_400);
  const watchdogIntervalSeconds =
    options.watchdogIntervalSeconds ?? numberEnv(env, 'GPUJOBS_WATCHDOG_INTERVAL_SECONDS', DEFAULT_WATCHDOG_INTERVAL_SECONDS, 0, 3600);
  const stopGracePeriodSeconds =
    options.stopGracePeriodSeconds ?? numberEnv(env, 'GPUJOBS_SPOT_GRACE_SECONDS', DEFAULT_STOP_GRACE_SECONDS, 0, 120);
  const webhookUrls = options.webhookUrls ?? listOf(env.GPUJOBS_WEBHOOK_URLS);
  for (const url of webhookUrls) {
    if (!/^https?:\/\//.test(url)) throw new InvalidLocalOptionError(`GPUJOBS_WEBHOOK_URLS entries must be http(s) URLs. Received ${JSON.stringify(url)}.`);
  }
  const gpuCount = options.gpus ?? (env.GPUJOBS_LOCAL_GPUS ? integerEnv(env, 'GPUJOBS_LOCAL_GPUS', 4, 1, 64) : undefined);
  const region = process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
  // Before anything writes there: a full or read-only disk is named here, not as a stand-in's ECONNREFUSED.
  checkDataDir(dataDir);

  const [gpus, workflow] = await Promise.all([
    detectGpus(gpuCount === undefined ? {} : { count: gpuCount }),
    loadWorkflowDefinition({ projectRoot: PROJECT_ROOT, region, account: LOCAL_ACCOUNT }),
  ]);
  const { stateMachineArn } = workflow;

  const closers: (() => Promise<void>)[] = [];
  const closeAll = async () => {
    for (const close of closers.reverse()) {
      await close().catch((error: unknown) => logger.warn('stopping the local platform', error));
    }
    closers.length = 0;
  };

  try {
    const dynamodb: RunningDynamoDb = await startDynamoDb({
      path: join(dataDir, 'dynamodb'),
      tableName: TABLE_NAME,
      region,
      logger,
      ...(processPorts ? { port: processPorts.dynamodb } : {}),
    });
    closers.push(() => dynamodb.close());
    // The database holds the data dir's lock now, so no other platform runs on it: a job process
    // carrying its token was left by an earlier run (killed, or stopped too late) and would share
    // GPU slots with this run's jobs. Killed before any slot is handed out.
    const platformToken = platformTokenFor(dataDir);
    const leftovers = await killLeftoverProcesses(platformToken, 5_000);
    if (leftovers.killed > 0) logger.warn(`killed ${leftovers.killed} job process(es) left running by an earlier run on ${dataDir}`);
    if (leftovers.survivors.length > 0) logger.warn(`job processes ${leftovers.survivors.join(', ')} left by an earlier run on ${dataDir} did not die of SIGKILL`);
    const sqs: RunningSqs = await startSqs({
      region,
      account: LOCAL_ACCOUNT,
      queue: INTAKE_QUEUE,
      ...(processPorts ? { port: processPorts.sqs } : {}),
    });
    closers.push(() => sqs.close());

    const logStore = new LogStore(join(dataDir, 'logs'), options.logStoreIo ? { io: options.logStoreIo } : {});
    closers.push(() => logStore.close());
    const bus = new LocalEventBus({
      eventLogFile: join(dataDir, 'events.jsonl'),
      busName: EVENT_BUS_NAME,
      webhookUrls,
      account: LOCAL_ACCOUNT,
      region,
      logger,
    });
    const batch = new LocalBatch({
      account: LOCAL_ACCOUNT,
      region,
      gpus: gpus.slots,
      logStore,
      defaultLogGroupName: JOB_LOG_GROUP_NAME,
      jobDefinitionsFile: join(dataDir, 'batch', 'job-definitions.json'),
      capacityTimeoutSeconds,
      stopGracePeriodSeconds,
      jobWorkingDirectory: options.jobWorkingDirectory ?? process.cwd(),
      platformToken,
      ...(options.retainedBatchJobs !== undefined ? { retainedFinishedJobs: options.retainedBatchJobs } : {}),
      instanceType: 'local',
      logger,
      onStateChange: (detail) => bus.publishServiceEvent('aws.batch', 'Batch Job State Change', detail, [String(detail.jobArn)]),
    });
    let stepFunctions: LocalStepFunctions | undefined;
    const aws: RunningAwsServer = await startAwsServer(
      {
        stepFunctions: () => {
          if (!stepFunctions) throw new Error('Step Functions is not ready yet');
          return stepFunctions;
        },
        batch,
        eventBus: bus,
        logStore,
        logger,
      },
      processPorts?.aws ?? 0,
    );
    closers.push(() => aws.close());
    processPorts ??= { dynamodb: dynamodb.port, sqs: sqs.port, aws: aws.port };

    configureHandlerEnvironment({
      region,
      dynamodb,
      sqs,
      aws,
      stateMachineArn,
      capacityTimeoutSeconds,
      jobQueues: jobQueuesOf(workflow.definition.States),
      executionTimeoutSeconds: workflow.definition.TimeoutSeconds,
      gpuSlots: gpus.slots.length,
    });
    const handlers = await importHandlers();
    const invocations = new Set<Promise<unknown>>();
    const invoke = (name: string, handler: AnyHandler, event: unknown): Promise<unknown> => {
      const invocation = handler(event, lambdaContext(`gpujobs-local-${name}`, { region, account: LOCAL_ACCOUNT, timeoutMs: 120_000 }));
      invocations.add(invocation);
      void invocation.then(
        () => invocations.delete(invocation),
        () => invocations.delete(invocation),
      );
      return invocation;
    };

    stepFunctions = new LocalStepFunctions({
      stateMachineArn,
      definition: workflow.definition,
      createTaskHandlers: (execution) => taskHandlers(execution, { handlers, invoke, batch, bus }),
      onStatusChange: (detail) =>
        bus.publishServiceEvent('aws.states', 'Step Functions Execution Status Change', detail, [String(detail.executionArn)]),
      logger,
    });
    assertEveryTaskOverridden(workflow.definition.States, taskHandlerNames());

    bus.addRule({
      name: BATCH_EVENTS_RULE,
      matches: (event) => event.source === 'aws.batch' && event['detail-type'] === 'Batch Job State Change',
      orderingKey: (event) => String(event.detail.jobName ?? event.detail.jobId),
      deliver: (event) => invoke('batch-events', handlers.batchEvents, event),
    });
    bus.addRule({
      name: 'workflow-execution-ended',
      matches: (event) => isEndedExecution(event, stateMachineArn),
      orderingKey: (event) => String(event.detail.executionArn),
      deliver: (event) => invoke('reconcile', handlers.reconcile, event),
    });

    const recovered = await recoverInterruptedJobs({ dynamodb, sqs, aws, region, bus, logger });

    const dispatcher = new SqsEventSourceMapping({
      sqs,
      region,
      batchSize: options.dispatcherBatchSize ?? 10,
      concurrency: options.dispatcherConcurrency ?? 2,
      invoke: async (event: SqsLambdaEvent) => (await invoke('dispatcher', handlers.dispatcher, event)) as void,
      logger,
    });
    dispatcher.start();

    const http: RunningHttpApi = await startHttpApi(
      {
        invokeApi: (event: APIGatewayProxyEventV2) => invoke('api', handlers.api, event),
        control: {
          interruptSpot: () => batch.interruptSpot(),
          setSpotCapacity: (available) => batch.setSpotCapacity(available),
          listEvents: (request) => bus.listEvents(request),
          info: () => ({ gpus: { real: gpus.real, count: gpus.slots.length } }),
        },
        account: LOCAL_ACCOUNT,
        logger,
        unavailable: () => dynamodb.unavailableReason(),
      },
      port,
      host,
    );

    // The stack's schedule, as a timer; a tick that finds the previous run still going is skipped.
    let watchdogRun: Promise<unknown> | undefined;
    const watchdogTimer =
      watchdogIntervalSeconds > 0
        ? setInterval(() => {
            watchdogRun ??= invoke('watchdog', handlers.watchdog, {})
              .catch((error: unknown) => logger.warn('watchdog run failed', error))
              .finally(() => {
                watchdogRun = undefined;
              });
          }, watchdogIntervalSeconds * 1000)
        : undefined;

    const sfn = stepFunctions;
    // Stop order: no new requests, no new dispatches, abandon executions, end job processes,
    // let in-flight handler calls land, then close the stores they write to.
    closers.push(async () => {
      sfn.shutdown();
      await batch.shutdown();
      await bus.close();
      await settleWithin(invocations, 10_000);
    });
    closers.push(() => dispatcher.stop());
    closers.push(() => http.close());
    // First to stop: no watchdog run may start against stand-ins that are shutting down.
    closers.push(async () => {
      clearInterval(watchdogTimer);
      await watchdogRun;
    });

    let stopped: Promise<void> | undefined;
    return {
      url: http.url,
      port: http.port,
      dataDir,
      gpus,
      capacityTimeoutSeconds,
      stateMachineArn,
      recovered,
      interruptSpot: () => batch.interruptSpot(),
      setSpotCapacity: (available) => batch.setSpotCapacity(available),
      events: () => bus.allEvents(),
      runningProcesses: () => batch.runningProcesses(),
      stop: () => {
        stopped ??= closeAll().finally(() => {
          running = false;
        });
        return stopped;
      },
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

function configureHandlerEnvironment(endpoints: {
  region: string;
  dynamodb: RunningDynamoDb;
  sqs: RunningSqs;
  aws: RunningAwsServer;
  stateMachineArn: string;
  capacityTimeoutSeconds: number;
  jobQueues: Readonly<Record<CapacityType, string>>;
  executionTimeoutSeconds: number | undefined;
  gpuSlots: number;
}): void {
  const env = process.env;
  env.AWS_REGION = endpoints.region;
  // Requests never leave this machine; the SDK still wants credentials to sign with.
  env.AWS_ACCESS_KEY_ID ??= LOCAL_CREDENTIALS.accessKeyId;
  env.AWS_SECRET_ACCESS_KEY ??= LOCAL_CREDENTIALS.secretAccessKey;
  env.AWS_ENDPOINT_URL_DYNAMODB = endpoints.dynamodb.endpoint;
  env.AWS_ENDPOINT_URL_SQS = endpoints.sqs.endpoint;
  for (const service of ['SFN', 'BATCH', 'EVENTBRIDGE', 'CLOUDWATCH_LOGS', 'ECS']) {
    env[`AWS_ENDPOINT_URL_${service}`] = endpoints.aws.endpoint;
  }
  env[ENV.tableName] = TABLE_NAME;
  env[ENV.intakeQueueUrl] = endpoints.sqs.queueUrl;
  env[ENV.stateMachineArn] = endpoints.stateMachineArn;
  env[ENV.eventBusName] = EVENT_BUS_NAME;
  env[ENV.jobLogGroupName] = JOB_LOG_GROUP_NAME;
  env[ENV.jobRoleArn] = `arn:aws:iam::${LOCAL_ACCOUNT}:role/gpujobs-local-job`;
  env[ENV.jobExecutionRoleArn] = `arn:aws:iam::${LOCAL_ACCOUNT}:role/gpujobs-local-job-execution`;
  env[ENV.jobDefinitionPrefix] = 'gpujobs-';
  env[ENV.allowedRegistries] ??= '';
  env[ENV.jobShapes] = formatJobShapes([localJobShape(endpoints.gpuSlots)]);
  env[ENV.localMode] = '1';
  // No authorizer runs locally, so no caller is an assumed role; the api still checks the value it deploys with.
  env[ENV.ownerIdentity] = DEFAULT_CONFIG.ownerIdentity;
  env[ENV.spotJobQueueArn] = endpoints.jobQueues.spot;
  env[ENV.onDemandJobQueueArn] = endpoints.jobQueues['on-demand'];
  env[ENV.capacityTimeoutSeconds] = String(endpoints.capacityTimeoutSeconds);
  env[ENV.onDemandCapacityTimeoutSeconds] = String(DEFAULT_CONFIG.onDemandCapacityTimeoutSeconds);
  env[ENV.executionTimeoutSeconds] = String(endpoints.executionTimeoutSeconds ?? DEFAULT_EXECUTION_TIMEOUT_SECONDS);
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
  return { label: `the ${gpuSlots} local GPU slots`, gpus: gpuSlots, vcpus: JOB_SPEC_LIMITS.vcpus.max, memoryMiB: JOB_SPEC_LIMITS.memoryMiB.max };
}

async function importHandlers(): Promise<Handlers> {
  const [api, dispatcher, prepare, settleAttempt, finish, batchEvents, reconcile, watchdog] = await Promise.all([
    import('../lambdas/api/handler.js'),
    import('../lambdas/dispatcher/handler.js'),
    import('../lambdas/workflow/prepare.js'),
    import('../lambdas/workflow/settle-attempt.js'),
    import('../lambdas/workflow/finish.js'),
    import('../lambdas/batch-events/handler.js'),
    import('../lambdas/reconcile/handler.js'),
    import('../lambdas/watchdog/handler.js'),
  ]);
  const asHandler = (module: { handler: unknown }) => module.handler as AnyHandler;
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

const BATCH_STATES: Readonly<Record<string, CapacityType>> = { [STATE.runOnSpot]: 'spot', [STATE.runOnDemand]: 'on-demand' };

/** Step Functions' own limit on a Standard execution, for a definition without TimeoutSeconds. */
const DEFAULT_EXECUTION_TIMEOUT_SECONDS = 365 * 24 * 3600;

/** The queue each Batch state submits to, as the definition names it. */
function jobQueuesOf(states: Record<string, { Type: string; Parameters?: unknown }>): Record<CapacityType, string> {
  const queueOf = (state: string) => {
    const queue = (states[state]?.Parameters as { JobQueue?: unknown } | undefined)?.JobQueue;
    if (typeof queue !== 'string') throw new InvalidLocalOptionError(`The workflow's ${state} state names no JobQueue. Received ${JSON.stringify(queue)}.`);
    return queue;
  };
  return { spot: queueOf(STATE.runOnSpot), 'on-demand': queueOf(STATE.runOnDemand) };
}

function taskHandlerNames(): string[] {
  return [STATE.prepare, STATE.settleAttempt, STATE.finish, ...Object.keys(BATCH_STATES)];
}

/** The workflow's Task states, by state name: the Lambda tasks call the same handler modules, the Batch tasks the local executor. */
function taskHandlers(
  execution: ExecutionHandle,
  context: {
    handlers: Handlers;
    invoke: (name: string, handler: AnyHandler, event: unknown) => Promise<unknown>;
    batch: LocalBatch;
    bus: LocalEventBus;
  },
): Record<string, TaskHandler> {
  const lambdaTask =
    (name: string, handler: AnyHandler): TaskHandler =>
    async (input) => {
      try {
        // Lambda hands the result over as JSON.
        return JSON.parse(JSON.stringify((await context.invoke(name, handler, input)) ?? null)) as JsonValue;
      } catch (error) {
        throw lambdaFunctionError(error);
      }
    };
  const batchTask =
    (capacity: CapacityType): TaskHandler =>
    async (input) => {
      let submitted: ReturnType<LocalBatch['submitJob']>;
      try {
        submitted = context.batch.submitJob(input as unknown as SubmitJobParameters, capacity);
      } catch (error) {
        if (error instanceof ClientException) throw namedError('Batch.ClientException', `${error.message} (Service: Batch, Status Code: 400)`);
        throw error;
      }
      // Stopping the execution terminates the job, as the `.sync` integration does.
      const forget = execution.onStop(() => context.batch.terminateJob(submitted.jobId, 'Step Functions execution was stopped'));
      const detail = await submitted.completion.finally(forget);
      // Batch's state-change events reach the status handler before the workflow moves on, as they
      // usually do in AWS; without this, local runs would make that race the common case.
      await context.bus.delivered(BATCH_EVENTS_RULE, detail.jobName);
      const output = stepFunctionsJobDetail(detail);
      if (detail.status === 'SUCCEEDED') return output;
      throw namedError('States.TaskFailed', JSON.stringify(output));
    };
  return {
    [STATE.prepare]: lambdaTask('prepare', context.handlers.prepare),
    [STATE.settleAttempt]: lambdaTask('settle-attempt', context.handlers.settleAttempt),
    [STATE.finish]: lambdaTask('finish', context.handlers.finish),
    ...Object.fromEntries(Object.entries(BATCH_STATES).map(([state, capacity]) => [state, batchTask(capacity)])),
  };
}

function assertEveryTaskOverridden(states: Record<string, { Type: string }>, overridden: readonly string[]): void {
  const missing = Object.entries(states)
    .filter(([name, state]) => state.Type === 'Task' && !overridden.includes(name))
    .map(([name]) => name);
  if (missing.length > 0) {
    throw new InvalidLocalOptionError(`The workflow has Task states local mode cannot run: ${missing.join(', ')}.`);
  }
}

/** Step Functions names a Lambda failure by its errorType and carries Lambda's error JSON as the cause. */
function lambdaFunctionError(error: unknown): Error {
  const errorType = error instanceof Error ? error.name : 'Error';
  const errorMessage = error instanceof Error ? error.message : String(error);
  return namedError(errorType, JSON.stringify({ errorType, errorMessage, trace: [] }));
}

function namedError(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

/** Step Functions returns Batch's JobDetail with PascalCase member names; map keys (tags, parameters) stay as they are. */
export function stepFunctionsJobDetail(detail: JobDetail): JsonValue {
  return pascalCase(detail, '') as JsonValue;
}

const VERBATIM_MAPS = new Set(['tags', 'parameters', 'options']);

function pascalCase(value: unknown, key: string): unknown {
  if (Array.isArray(value)) return value.map((item) => pascalCase(item, ''));
  if (value === null || typeof value !== 'object') return value;
  if (VERBATIM_MAPS.has(key)) return value;
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>).map(([name, member]) => [
      name.charAt(0).toUpperCase() + name.slice(1),
      pascalCase(member, name),
    ]),
  );
}

function isEndedExecution(event: EventEnvelope, stateMachineArn: string): boolean {
  return (
    event.source === 'aws.states' &&
    event['detail-type'] === 'Step Functions Execution Status Change' &&
    event.detail.stateMachineArn === stateMachineArn &&
    ['ABORTED', 'FAILED', 'TIMED_OUT'].includes(String(event.detail.status))
  );
}

/**
 * Jobs the previous run left behind: the intake queue, the executions and the Batch queue
 * lived in memory, the job records on disk. Every open job is sent to the intake queue
 * again, oldest first, and the dispatcher starts its workflow as usual (execution name =
 * job id, unknown to the fresh Step Functions). QUEUED and PENDING jobs that only waited
 * lose nothing: Prepare plans them from their record, reusing the attempt planned and never
 * run. An attempt that was running cannot be resumed: it is settled first as interrupted
 * (its host went away, see interruptedAttemptWrites) and a RUNNING job goes back to PENDING,
 * as settle-attempt does after a reclaim, so Prepare counts that attempt against the job's
 * own policy, like any other, and the job runs again or ends as its policy says.
 */
async function recoverInterruptedJobs(context: {
  dynamodb: RunningDynamoDb;
  sqs: RunningSqs;
  aws: RunningAwsServer;
  region: string;
  bus: LocalEventBus;
  logger: LocalLogger;
}): Promise<RecoveredJobs> {
  const documents = createDocumentClient(new DynamoDBClient({ endpoint: context.dynamodb.endpoint, region: context.region, credentials: LOCAL_CREDENTIALS }));
  const sqs = new SQSClient({ endpoint: context.sqs.endpoint, region: context.region, credentials: LOCAL_CREDENTIALS });
  const eventBridge = new EventBridgeClient({ endpoint: context.aws.endpoint, region: context.region, credentials: LOCAL_CREDENTIALS });
  const store = new DynamoJobStore(documents, TABLE_NAME);
  const publisher = new EventPublisher(eventBridge, EVENT_BUS_NAME);
  const statusChange = {
    store,
    publish: (events: readonly GpuJobEvent[]) => publisher.publish(events),
    buildEvents: buildJobEvent,
    now: () => new Date().toISOString(),
  };
  const requeued: string[] = [];
  const resumed: string[] = [];
  const interrupted: string[] = [];
  try {
    const open: Pick<JobRecord, 'jobId' | 'createdAt'>[] = [];
    let exclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const page = await documents.send(
        new ScanCommand({
          TableName: TABLE_NAME,
          FilterExpression: 'sk = :job AND #status IN (:queued, :pending, :running)',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':job': 'JOB', ':queued': 'QUEUED', ':pending': 'PENDING', ':running': 'RUNNING' },
          ProjectionExpression: 'jobId, createdAt',
          ...(exclusiveStartKey ? { ExclusiveStartKey: exclusiveStartKey } : {}),
        }),
      );
      open.push(...((page.Items ?? []) as Pick<JobRecord, 'jobId' | 'createdAt'>[]));
      exclusiveStartKey = page.LastEvaluatedKey;
    } while (exclusiveStartKey);
    // In submission order, so the jobs that waited longest get the slots first again.
    open.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.jobId.localeCompare(b.jobId));

    for (const { jobId } of open) {
      let record = await store.getJob(jobId);
      if (!record || isTerminal(record.status)) continue;
      if (record.status === 'QUEUED') {
        requeued.push(jobId);
      } else {
        const writes = interruptedAttemptWrites(record, { stoppedAt: statusChange.now(), statusReason: RESTART_REASON });
        if (writes.length > 0) {
          record = await store.putAttempts(jobId, writes);
          interrupted.push(jobId);
        }
        if (record.status === 'RUNNING') await changeStatus(statusChange, record, 'PENDING');
        resumed.push(jobId);
      }
      await sqs.send(new SendMessageCommand({ QueueUrl: context.sqs.queueUrl, MessageBody: JSON.stringify({ jobId }) }));
    }
    await context.bus.drain();
  } finally {
    documents.destroy();
    sqs.destroy();
    eventBridge.destroy();
  }
  if (requeued.length + resumed.length > 0) {
    context.logger.info(
      `recovered after restart: ${requeued.length} queued job(s) requeued, ${resumed.length} waiting or running job(s) resumed (${interrupted.length} with an interrupted attempt)`,
    );
  }
  return { requeued, resumed, interrupted };
}

async function settleWithin(pending: Set<Promise<unknown>>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (pending.size > 0 && Date.now() < deadline) {
    await Promise.race([Promise.allSettled([...pending]), new Promise((resolve) => setTimeout(resolve, deadline - Date.now()))]);
  }
}

function integerEnv(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const value = numberEnv(env, name, fallback, min, max);
  if (!Number.isInteger(value)) throw new InvalidLocalOptionError(`${name} must be an integer from ${min} to ${max}. Received ${JSON.stringify(env[name])}.`);
  return value;
}

function numberEnv(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new InvalidLocalOptionError(`${name} must be a number from ${min} to ${max}. Received ${JSON.stringify(raw)}.`);
  }
  return value;
}

function listOf(raw: string | undefined): string[] {
  return (raw ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
}
