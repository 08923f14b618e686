/**
 * Local mode: the whole platform on one machine, running the same handlers and the
 * same workflow definition as AWS (jobWorkflowAsl), with stand-ins for the AWS services.
 * This module only composes them: it starts the stand-ins, points the handlers at them
 * (handler-environment.ts, once per process: later starts reuse the same loopback ports),
 * wires the workflow's tasks, the stack's event rules and the dispatcher's event source,
 * recovers what an earlier run left, and stops everything in an order that keeps the data
 * dir consistent.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CapacityType } from '../core/job.js';
import { startAwsServer } from './aws-server.js';
import { LocalBatch } from './batch/index.js';
import type { ContainerRuntime } from './batch/container-runner.js';
import { removeLeftoverContainers } from './batch/leftover-containers.js';
import { checkDataDir } from './data-dir.js';
import { startDynamoDb } from './dynamodb.js';
import { LocalEventBus, type ListedEvent } from './event-bus.js';
import { detectGpus, type GpuPool } from './gpus.js';
import { configureHandlerEnvironment, importHandlers } from './handler-environment.js';
import { handlerRules } from './handler-rules.js';
import { type ChosenJobRuntime, chooseJobRuntime } from './job-runtime.js';
import { startHttpApi } from './http-api.js';
import { LocalLambda } from './lambda-runtime.js';
import { LogStore } from './log-store.js';
import {
  resolveLocalOptions,
  type JobRuntime,
  type LocalPlatformOptions,
  type LocalRuntime,
  type ResolvedLocalOptions,
} from './options.js';
import { killLeftoverProcesses, platformTokenFor } from './process-tree.js';
import { recoverInterruptedJobs, type RecoveredJobs } from './recovery.js';
import { EVENT_BUS_NAME, INTAKE_QUEUE, JOB_LOG_GROUP_NAME, LOCAL_ACCOUNT, TABLE_NAME } from './resources.js';
import { SqsEventSourceMapping, startSqs, type SqsBatchResponse, type SqsLambdaEvent } from './sqs.js';
import { LocalStepFunctions } from './step-functions.js';
import { startWatchdogSchedule } from './watchdog-schedule.js';
import { loadWorkflowDefinition } from './workflow-definition.js';
import { assertEveryTaskRunsLocally, jobQueuesOf, workflowTaskHandlers } from './workflow-tasks.js';

export {
  InvalidLocalOptionError,
  RuntimeUnavailableError,
  type JobRuntime,
  type LocalPlatformOptions,
  type LocalRuntime,
} from './options.js';
export type { RecoveredJobs } from './recovery.js';

export interface LocalPlatform {
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  readonly gpus: GpuPool;
  readonly capacityTimeoutSeconds: number;
  /**
   * What runs jobs, and what was asked for (GPUJOBS_LOCAL_RUNTIME); for a container runtime, the
   * engine's version and the pull policy.
   */
  readonly runtime: {
    readonly requested: LocalRuntime;
    readonly used: JobRuntime;
    readonly engineVersion?: string;
    readonly pull?: ResolvedLocalOptions['pullPolicy'];
    /** Why `auto` runs host processes: no engine answered. */
    readonly noEngineReason?: string;
  };
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

export class LocalPlatformRunningError extends Error {
  override readonly name = 'LocalPlatformRunningError';
}

/** Ports fixed by the first start in this process: the handlers' clients keep pointing at them. */
let processPorts: { dynamodb: number; sqs: number; aws: number } | undefined;
let running = false;

const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));
/** The timeout local mode gives every handler invocation. */
const HANDLER_TIMEOUT_MS = 120_000;

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
  const settings = resolveLocalOptions(options);
  const { region, dataDir, logger, capacityTimeoutSeconds } = settings;
  // Before anything writes there: a full or read-only disk is named here, not as a stand-in's ECONNREFUSED.
  checkDataDir(dataDir);
  const [gpus, workflow, chosen] = await Promise.all([
    detectGpus(settings.gpuCount === undefined ? {} : { count: settings.gpuCount }),
    loadWorkflowDefinition({ projectRoot: PROJECT_ROOT, region, account: LOCAL_ACCOUNT }),
    // An engine asked for by name that does not answer stops the start here, naming why.
    chooseJobRuntime(settings.requestedRuntime, { env: process.env }),
  ]);
  const containers: ContainerRuntime | undefined =
    chosen.used === 'process' ? undefined : { engine: chosen.used, env: chosen.engine.env, pull: settings.pullPolicy, realGpus: gpus.real };
  const { stateMachineArn, definition } = workflow;

  const closers: (() => Promise<void>)[] = [];
  const closeAll = async () => {
    for (const close of closers.reverse()) {
      await close().catch((error: unknown) => logger.warn('stopping the local platform', error));
    }
    closers.length = 0;
  };

  try {
    const dynamodb = await startDynamoDb({
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
    if (leftovers.survivors.length > 0)
      logger.warn(`job processes ${leftovers.survivors.join(', ')} left by an earlier run on ${dataDir} did not die of SIGKILL`);
    // Its containers run on under podman's monitor, without the platform's token in their environment: found by label.
    if (containers) {
      const { removed } = await removeLeftoverContainers(containers, platformToken);
      if (removed > 0) logger.warn(`removed ${removed} job container(s) left by an earlier run on ${dataDir}`);
    }
    const sqs = await startSqs({
      region,
      account: LOCAL_ACCOUNT,
      queue: INTAKE_QUEUE,
      ...(processPorts ? { port: processPorts.sqs } : {}),
    });
    closers.push(() => sqs.close());

    const logStore = new LogStore(join(dataDir, 'logs'), settings.logStoreIo ? { io: settings.logStoreIo } : {});
    closers.push(() => logStore.close());
    const bus = new LocalEventBus({
      eventLogFile: join(dataDir, 'events.jsonl'),
      busName: EVENT_BUS_NAME,
      webhookUrls: settings.webhookUrls,
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
      stopGracePeriodSeconds: settings.stopGracePeriodSeconds,
      // Under the data dir: a job's relative output never lands in the platform's working directory.
      sandboxesDirectory: join(dataDir, 'sandboxes'),
      keepFailedSandboxSeconds: settings.keepFailedSandboxSeconds,
      ...(containers ? { containers } : {}),
      platformToken,
      ...(settings.retainedBatchJobs !== undefined ? { retainedFinishedJobs: settings.retainedBatchJobs } : {}),
      instanceType: 'local',
      logger,
      onStateChange: (detail) => bus.publishServiceEvent('aws.batch', 'Batch Job State Change', detail, [String(detail.jobArn)]),
    });
    let stepFunctions: LocalStepFunctions | undefined;
    const stepFunctionsWhenReady = () => {
      if (!stepFunctions) throw new Error('Step Functions is not ready yet');
      return stepFunctions;
    };
    const aws = await startAwsServer(
      { stepFunctions: stepFunctionsWhenReady, batch, eventBus: bus, logStore, logger },
      processPorts?.aws ?? 0,
    );
    closers.push(() => aws.close());
    processPorts ??= { dynamodb: dynamodb.port, sqs: sqs.port, aws: aws.port };

    const jobQueues = jobQueuesOf(definition.States);
    configureHandlerEnvironment({
      region,
      endpoints: { dynamodb: dynamodb.endpoint, sqs: sqs.endpoint, aws: aws.endpoint },
      intakeQueueUrl: sqs.queueUrl,
      stateMachineArn,
      capacityTimeoutSeconds,
      jobQueues,
      executionTimeoutSeconds: definition.TimeoutSeconds,
      gpuSlots: gpus.slots.length,
    });
    const handlers = await importHandlers();
    const lambda = new LocalLambda({ region, account: LOCAL_ACCOUNT, timeoutMs: HANDLER_TIMEOUT_MS });
    const invoke = lambda.invoke.bind(lambda);

    assertEveryTaskRunsLocally(definition.States);
    const sfn = new LocalStepFunctions({
      stateMachineArn,
      definition,
      createTaskHandlers: (execution) => workflowTaskHandlers(execution, { handlers, invoke, batch, bus }),
      onStatusChange: (detail) =>
        bus.publishServiceEvent('aws.states', 'Step Functions Execution Status Change', detail, [String(detail.executionArn)]),
      logger,
    });
    stepFunctions = sfn;
    const rules = handlerRules({
      jobQueueArns: Object.values(jobQueues),
      stateMachineArn,
      deliverBatchEvent: (event) => invoke('batch-events', handlers.batchEvents, event),
      deliverExecutionEnded: (event) => invoke('reconcile', handlers.reconcile, event),
    });
    for (const rule of rules) bus.addRule(rule);

    const recovered = await recoverInterruptedJobs({ dynamodb, sqs, aws, region, bus, logger });

    const dispatcher = new SqsEventSourceMapping({
      sqs,
      region,
      batchSize: settings.dispatcherBatchSize,
      concurrency: settings.dispatcherConcurrency,
      invoke: async (event: SqsLambdaEvent) => (await invoke('dispatcher', handlers.dispatcher, event)) as SqsBatchResponse | undefined,
      logger,
    });
    dispatcher.start();

    const http = await startHttpApi(
      {
        invokeApi: (event) => invoke('api', handlers.api, event),
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
      settings.port,
      settings.host,
    );

    const watchdog = startWatchdogSchedule(settings.watchdogIntervalSeconds, () => invoke('watchdog', handlers.watchdog, {}), logger);

    // Stop order: no new requests, no new dispatches, abandon executions, end job processes,
    // let in-flight handler calls land, then close the stores they write to.
    closers.push(async () => {
      sfn.shutdown();
      await batch.shutdown();
      await bus.close();
      await lambda.settle(10_000);
    });
    closers.push(() => dispatcher.stop());
    closers.push(() => http.close());
    // First to stop: no watchdog run may start against stand-ins that are shutting down.
    closers.push(() => watchdog.stop());

    let stopped: Promise<void> | undefined;
    return {
      url: http.url,
      port: http.port,
      dataDir,
      gpus,
      capacityTimeoutSeconds,
      runtime: runtimeSummary(settings, chosen),
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

function runtimeSummary(settings: ResolvedLocalOptions, chosen: ChosenJobRuntime): LocalPlatform['runtime'] {
  const requested = settings.requestedRuntime;
  if (chosen.used === 'process')
    return { requested, used: 'process', ...(chosen.noEngineReason !== undefined ? { noEngineReason: chosen.noEngineReason } : {}) };
  return { requested, used: chosen.used, engineVersion: chosen.engine.version, pull: settings.pullPolicy };
}
