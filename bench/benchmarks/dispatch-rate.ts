/**
 * Dispatch at AWS Batch's account limit. 5,000 queued jobs flow through the REAL dispatcher
 * handler (lambdas/dispatcher/handler.ts), fed in SQS batches with the event source's batch size
 * and maximum concurrency from the template. Its SFNClient talks to a loopback Step Functions
 * stand-in (AWS JSON protocol, StartExecution idempotent by name, StartExecution's own quota as a
 * token bucket) that runs the REAL workflow definition (jobWorkflowAsl) with aws-local-stepfunctions.
 * Prepare, SettleAttempt and Finish are stubbed; RunOnSpot submits to a Batch stand-in that allows
 * 50 SubmitJob/s (token bucket) and beyond that fails the task with Batch.TooManyRequestsException,
 * which is what the definition's Retry policy sees in AWS. The jobs are in dynalite, created
 * through the DynamoDB job store the dispatcher reads.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { parseJobSpec } from '../../core/spec.js';
import { batchJobName, STATE } from '../../core/contract/workflow.js';
import { createDocumentClient } from '../../lambdas/shared/clients.js';
import { ENV } from '../../core/contract/environment.js';
import { DynamoJobStore } from '../../lambdas/shared/job-store.js';
import { BatchApiError, type BatchSubmitJobParameters } from '../../lib/workflow/batch-task.js';
import { startDynamoDb } from '../../local/dynamodb.js';
import { lambdaContext } from '../../local/lambda-runtime.js';
import { consoleLogger } from '../../local/logger.js';
import { LocalStepFunctions, StepFunctionsError, type JsonValue } from '../../local/step-functions.js';
import { BENCH_ACCOUNT, BENCH_REGION } from '../support/aws-env.js';
import { figure } from '../support/report.js';
import { startSfnServer, SfnServiceError } from '../support/sfn-server.js';
import { benchWorkflow, dispatcherEventSource } from '../support/stack-settings.js';
import { mapWithConcurrency, median, percentile, perSecondCounts } from '../support/stats.js';
import { loadTemplate } from '../support/template.js';
import { TokenBucket } from '../support/token-bucket.js';
import type { Benchmark, BenchmarkContext } from './types.js';

const JOB_COUNT = 5_000;
/** AWS Batch: SubmitJob is limited to 50 transactions per second per account (a hard quota). */
const BATCH_SUBMIT_RATE = 50;
const BATCH_SUBMIT_BURST = 50;
/**
 * Step Functions StartExecution (Standard) in us-east-1: bucket 1,300, refill 300/s.
 * https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html (API action throttling).
 */
const START_EXECUTION_BUCKET = 1_300;
const START_EXECUTION_REFILL = 300;
const RATE_GOAL = 45;
const DEADLINE_SECONDS = 230;
/** Failed messages come back after the visibility timeout; here sooner, to keep the run bounded. */
const MAX_REDELIVERY_DELAY_MS = 5_000;
const TABLE_NAME = 'GpuJobs-bench-jobs';

// biome-ignore lint/suspicious/noConfusingVoidType: a Lambda handler returns nothing or a batch response, as aws-lambda's SQSHandler types it
type DispatcherHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse | void>;

interface Message {
  readonly messageId: string;
  readonly body: string;
  receiveCount: number;
  readonly sentAt: number;
}

async function run(context: BenchmarkContext) {
  const notes: string[] = [];
  const { template } = await loadTemplate(context.projectRoot, context.assemblyDir ? { assemblyDir: context.assemblyDir } : {});
  const { definition, stateMachineArn } = benchWorkflow();
  const eventSource = dispatcherEventSource(template);
  const retryPolicy = (definition.States[STATE.runOnSpot] as { Retry?: unknown } | undefined)?.Retry;
  context.log(`event source: batch ${eventSource.batchSize}, max concurrency ${eventSource.maximumConcurrency}`);

  // DynamoDB: dynalite in memory, the job table from the shared schema, 5,000 QUEUED jobs.
  const dynamodb = await startDynamoDb({ tableName: TABLE_NAME, region: BENCH_REGION });
  const seedClient = new DynamoDBClient({ endpoint: dynamodb.endpoint, region: BENCH_REGION });
  const store = new DynamoJobStore(createDocumentClient(seedClient), TABLE_NAME);
  const parsed = parseJobSpec({ image: 'public.ecr.aws/docker/library/busybox:latest', command: ['true'] });
  if (!parsed.ok) throw new Error(`The benchmark's job spec is invalid: ${JSON.stringify(parsed.errors)}`);
  const jobIds = Array.from({ length: JOB_COUNT }, (_, i) => `01BENCH${String(i).padStart(19, '0')}`);
  const seedStarted = performance.now();
  await mapWithConcurrency(jobIds, 16, (jobId) =>
    store.createJob({ jobId, owner: 'bench', spec: parsed.spec, now: new Date().toISOString() }),
  );
  const seedSeconds = (performance.now() - seedStarted) / 1000;
  seedClient.destroy();
  context.log(`${JOB_COUNT} jobs created in dynalite in ${seedSeconds.toFixed(1)} s`);

  // The Batch stand-in and what the workflow did.
  const batchBucket = new TokenBucket({ ratePerSecond: BATCH_SUBMIT_RATE, capacity: BATCH_SUBMIT_BURST });
  const acceptedSubmits: { jobName: string; at: number }[] = [];
  let throttledSubmits = 0;
  const onDemandSubmits: string[] = [];
  const settledWithError = new Map<string, string>();
  const finished = new Map<string, number>();
  /** Successful StartExecution calls by execution name (a repeat is an idempotent start of the same execution). */
  const executionsByName = new Map<string, number>();
  let allFinished: () => void = () => undefined;
  const everyJobFinished = new Promise<void>((resolve) => (allFinished = resolve));

  const submit = (input: JsonValue): JsonValue => {
    const parameters = input as unknown as BatchSubmitJobParameters;
    if (!batchBucket.tryTake()) {
      throttledSubmits++;
      throw new BatchApiError(
        'TooManyRequestsException',
        'Too Many Requests (Service: AWSBatch; Status Code: 429; Error Code: TooManyRequestsException)',
      );
    }
    acceptedSubmits.push({ jobName: parameters.JobName, at: Date.now() });
    const jobId = crypto.randomUUID();
    return {
      JobName: parameters.JobName,
      JobId: jobId,
      JobArn: `arn:aws:batch:${BENCH_REGION}:${BENCH_ACCOUNT}:job/${jobId}`,
      Status: 'SUCCEEDED',
      JobQueue: parameters.JobQueue,
    };
  };

  const sfn = new LocalStepFunctions({
    stateMachineArn,
    definition,
    logger: consoleLogger({ quiet: true }),
    onStatusChange: () => undefined,
    createTaskHandlers: () => ({
      [STATE.prepare]: async (input) => {
        const jobId = String((input as { jobId: string }).jobId);
        return {
          jobId,
          job: {
            jobDefinitionArn: `arn:aws:batch:${BENCH_REGION}:${BENCH_ACCOUNT}:job-definition/GpuJobs-bench:1`,
            command: ['true'],
            timeoutSeconds: 3600,
          },
          plan: { next: 'spot', attempt: 1, jobName: batchJobName(jobId, 1), environment: [], batchAttempts: 3 },
        };
      },
      [STATE.runOnSpot]: async (input) => submit(input),
      [STATE.runOnDemand]: async (input) => {
        onDemandSubmits.push(String((input as { JobName?: unknown }).JobName));
        return submit(input);
      },
      [STATE.settleAttempt]: async (input): Promise<JsonValue> => {
        const { jobId, attemptResult } = input as { jobId: string; attemptResult: { Error?: string; Cause?: string } };
        if (attemptResult.Error !== undefined) {
          settledWithError.set(jobId, attemptResult.Error);
          return { next: 'finish', outcome: { status: 'FAILED', statusReason: attemptResult.Error } };
        }
        return { next: 'finish', outcome: { status: 'SUCCEEDED' } };
      },
      [STATE.finish]: async (input) => {
        const { jobId } = input as { jobId: string };
        finished.set(jobId, (finished.get(jobId) ?? 0) + 1);
        if (finished.size === JOB_COUNT) allFinished();
        return { jobId, status: 'SUCCEEDED', transitioned: true };
      },
    }),
  });

  const startBucket = new TokenBucket({ ratePerSecond: START_EXECUTION_REFILL, capacity: START_EXECUTION_BUCKET });
  let throttledStarts = 0;
  let startCalls = 0;
  const server = await startSfnServer({
    StartExecution: (request) => {
      startCalls++;
      if (!startBucket.tryTake()) {
        throttledStarts++;
        throw new SfnServiceError('ThrottlingException', 'Rate exceeded');
      }
      try {
        const started = sfn.startExecution(request as { stateMachineArn?: string; name?: string; input?: string });
        const name = String(request.name);
        executionsByName.set(name, (executionsByName.get(name) ?? 0) + 1);
        return { executionArn: started.executionArn, startDate: started.startDate.getTime() / 1000 };
      } catch (error) {
        if (error instanceof StepFunctionsError) throw new SfnServiceError(error.name, error.message);
        throw error;
      }
    },
  });

  process.env[ENV.tableName] = TABLE_NAME;
  process.env[ENV.stateMachineArn] = stateMachineArn;
  // The dispatcher's pacing, exactly as the stack configures it.
  const dispatcherVariables =
    (template.Resources[eventSource.functionLogicalId]?.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)
      ?.Variables ?? {};
  const dispatchRate = dispatcherVariables[ENV.dispatchRatePerSecond];
  if (typeof dispatchRate === 'string') process.env[ENV.dispatchRatePerSecond] = dispatchRate;
  else delete process.env[ENV.dispatchRatePerSecond];
  process.env.AWS_ENDPOINT_URL_DYNAMODB = dynamodb.endpoint;
  process.env.AWS_ENDPOINT_URL_SFN = server.endpoint;
  // The handler logs one INFO line per job; at WARN the run measures dispatching, not a terminal.
  process.env.POWERTOOLS_LOG_LEVEL = 'WARN';
  // One module instance per concurrent invocation, like Lambda's execution environments: each
  // has its own module scope (clients, and the pacer that spaces its execution starts).
  const handlers = await Promise.all(
    Array.from(
      { length: eventSource.maximumConcurrency },
      async (_, instance) =>
        ((await import(`../../lambdas/dispatcher/handler.js?environment=${instance}`)) as unknown as { handler: DispatcherHandler })
          .handler,
    ),
  );

  // The event source: batches of up to batchSize, at most maximumConcurrency invocations at once.
  const queue: Message[] = jobIds.map((jobId, i) => ({
    messageId: `m-${i}`,
    body: JSON.stringify({ jobId }),
    receiveCount: 0,
    sentAt: Date.now(),
  }));
  const pendingRedeliveries = new Set<NodeJS.Timeout>();
  const deadLettered: string[] = [];
  let batchItemFailures = 0;
  let invocations = 0;
  let invocationErrors = 0;
  const dispatchStarted = Date.now();
  const deadline = dispatchStarted + DEADLINE_SECONDS * 1000;
  let queueDrainedAt: number | undefined;
  const redeliveryDelayMs = Math.min(eventSource.visibilityTimeoutSeconds * 1000, MAX_REDELIVERY_DELAY_MS);

  const toRecord = (message: Message): SQSRecord => ({
    messageId: message.messageId,
    receiptHandle: `${message.messageId}-${message.receiveCount}`,
    body: message.body,
    attributes: {
      ApproximateReceiveCount: String(message.receiveCount),
      SentTimestamp: String(message.sentAt),
      SenderId: 'bench',
      ApproximateFirstReceiveTimestamp: String(Date.now()),
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: `arn:aws:sqs:${BENCH_REGION}:${BENCH_ACCOUNT}:GpuJobs-Intake`,
    awsRegion: BENCH_REGION,
  });

  const poller = async (handler: DispatcherHandler) => {
    while (Date.now() < deadline) {
      const batch = queue.splice(0, eventSource.batchSize);
      if (batch.length === 0) {
        if (pendingRedeliveries.size === 0) {
          queueDrainedAt ??= Date.now();
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
        continue;
      }
      for (const message of batch) message.receiveCount++;
      invocations++;
      let failedIds: string[];
      try {
        const response = await handler(
          { Records: batch.map(toRecord) },
          lambdaContext('GpuJobs-Dispatcher', { region: BENCH_REGION, account: BENCH_ACCOUNT, timeoutMs: 30_000 }),
        );
        failedIds = (response?.batchItemFailures ?? []).map((failure) => failure.itemIdentifier);
      } catch {
        invocationErrors++;
        failedIds = batch.map((m) => m.messageId);
      }
      batchItemFailures += failedIds.length;
      for (const message of batch.filter((m) => failedIds.includes(m.messageId))) {
        if (message.receiveCount >= eventSource.maxReceiveCount) {
          deadLettered.push(message.body);
          continue;
        }
        const timer = setTimeout(() => {
          pendingRedeliveries.delete(timer);
          queue.push(message);
        }, redeliveryDelayMs);
        pendingRedeliveries.add(timer);
      }
    }
  };

  context.log('dispatching …');
  await Promise.all(handlers.map((handler) => poller(handler)));
  const progress = setInterval(
    () => context.log(`${acceptedSubmits.length}/${JOB_COUNT} submitted to Batch, ${throttledSubmits} throttled`),
    10_000,
  );
  const remaining = Math.max(0, deadline - Date.now());
  let timedOut = false;
  await Promise.race([
    everyJobFinished,
    new Promise<void>((resolve) =>
      setTimeout(() => {
        timedOut = true;
        resolve();
      }, remaining).unref(),
    ),
  ]);
  clearInterval(progress);
  for (const timer of pendingRedeliveries) clearTimeout(timer);
  const endedAt = Date.now();
  sfn.shutdown();
  await server.close();
  await dynamodb.close();

  // Every job dispatched exactly once: one execution started by name, one accepted SubmitJob, one Finish.
  const submitsByJobName = new Map<string, number>();
  for (const { jobName } of acceptedSubmits) submitsByJobName.set(jobName, (submitsByJobName.get(jobName) ?? 0) + 1);
  const duplicatedSubmits = [...submitsByJobName.values()].filter((count) => count > 1).length;
  const repeatedStarts = [...executionsByName.values()].reduce((sum, count) => sum + count - 1, 0);
  const duplicatedFinishes = [...finished.values()].filter((count) => count > 1).length;
  const neverSubmitted = jobIds.filter((jobId) => !submitsByJobName.has(batchJobName(jobId, 1)));
  const failedJobs = new Set([...settledWithError.keys(), ...deadLettered.map((body) => (JSON.parse(body) as { jobId: string }).jobId)]);

  const times = acceptedSubmits.map((s) => s.at);
  const firstSubmit = times.length > 0 ? Math.min(...times) : undefined;
  const lastSubmit = times.length > 0 ? Math.max(...times) : undefined;
  const spanSeconds = firstSubmit !== undefined && lastSubmit !== undefined ? (lastSubmit - firstSubmit) / 1000 : 0;
  const overallRate = spanSeconds > 0 ? (acceptedSubmits.length - 1) / spanSeconds : null;
  const perSecond = firstSubmit !== undefined ? perSecondCounts(times, firstSubmit) : [];
  // Whole seconds strictly inside the run (the first and last are partial).
  const steadySeconds = perSecond.slice(1, -1);
  const submitted95At =
    times.length >= Math.ceil(JOB_COUNT * 0.95) ? [...times].sort((a, b) => a - b)[Math.ceil(JOB_COUNT * 0.95) - 1]! : undefined;

  if (timedOut)
    notes.push(`Not every job finished within ${DEADLINE_SECONDS} s: ${finished.size} of ${JOB_COUNT} executions reached Finish.`);
  if (onDemandSubmits.length > 0) notes.push(`${onDemandSubmits.length} submissions went to the On-Demand queue (none expected).`);
  notes.push(
    `Conditions: event source batch size ${eventSource.batchSize} and maximum concurrency ${eventSource.maximumConcurrency} (from the template), dispatcher pacing ${process.env[ENV.dispatchRatePerSecond] ?? 'none'} starts/s per invocation (from the template); the dispatcher's SFNClient over HTTP to a loopback Step Functions stand-in (StartExecution quota as a token bucket of ${START_EXECUTION_BUCKET}, ${START_EXECUTION_REFILL}/s); the stack's definition (jobWorkflowAsl) run by aws-local-stepfunctions with Prepare/SettleAttempt/Finish stubbed; Batch stand-in: ${BATCH_SUBMIT_RATE} SubmitJob/s, burst ${BATCH_SUBMIT_BURST}, Batch.TooManyRequestsException beyond.`,
    'StartExecution answers in about a millisecond here (tens of ms in AWS) and Prepare returns at once, so executions reach Batch faster than they would in AWS: throttling here is, if anything, worse than in AWS.',
    `SubmitJob rate = accepted SubmitJob calls / time from the first to the last accepted one. Throttled calls are retried by the workflow's own Retry on ${STATE.runOnSpot} (from the definition: ${JSON.stringify(retryPolicy)}).`,
  );

  return {
    figures: [
      figure({
        id: 'submitJobRate',
        label: 'SubmitJob rate, first to last accepted',
        value: overallRate,
        unit: '/s',
        goal: { comparison: '>=', value: RATE_GOAL },
      }),
      figure({
        id: 'steadySecondMedian',
        label: 'SubmitJob per whole second, median',
        value: steadySeconds.length > 0 ? median(steadySeconds) : null,
        unit: '/s',
      }),
      figure({
        id: 'steadySecondP10',
        label: 'SubmitJob per whole second, p10 (slowest tenth)',
        value: steadySeconds.length > 0 ? percentile(steadySeconds, 10) : null,
        unit: '/s',
      }),
      figure({
        id: 'jobsFailed',
        label: 'jobs failed (retries exhausted or DLQ)',
        value: failedJobs.size,
        unit: 'jobs',
        goal: { comparison: '==', value: 0 },
        digits: 0,
      }),
      figure({
        id: 'jobsDuplicated',
        label: 'jobs submitted to Batch or finished more than once',
        value: duplicatedSubmits + duplicatedFinishes,
        unit: 'jobs',
        goal: { comparison: '==', value: 0 },
        digits: 0,
      }),
      figure({
        id: 'jobsNotDispatched',
        label: 'jobs never submitted to Batch',
        value: neverSubmitted.length,
        unit: 'jobs',
        goal: { comparison: '==', value: 0 },
        digits: 0,
      }),
      figure({
        id: 'throttledSubmits',
        label: 'SubmitJob calls throttled (then retried)',
        value: throttledSubmits,
        unit: 'calls',
        digits: 0,
      }),
      figure({ id: 'throttledStarts', label: 'StartExecution calls throttled', value: throttledStarts, unit: 'calls', digits: 0 }),
      figure({
        id: 'queueDrainSeconds',
        label: 'intake queue drained (all executions started)',
        value: queueDrainedAt ? (queueDrainedAt - dispatchStarted) / 1000 : null,
        unit: 's',
      }),
      figure({
        id: 'submitted95Seconds',
        label: '95% of jobs submitted to Batch after',
        value: submitted95At ? (submitted95At - dispatchStarted) / 1000 : null,
        unit: 's',
      }),
      figure({
        id: 'allSubmittedSeconds',
        label: 'all jobs submitted to Batch after',
        value: lastSubmit && neverSubmitted.length === 0 ? (lastSubmit - dispatchStarted) / 1000 : null,
        unit: 's',
      }),
    ],
    notes,
    details: {
      jobs: JOB_COUNT,
      eventSource,
      batchLimit: { ratePerSecond: BATCH_SUBMIT_RATE, burst: BATCH_SUBMIT_BURST },
      startExecutionLimit: { bucket: START_EXECUTION_BUCKET, refillPerSecond: START_EXECUTION_REFILL },
      retryPolicy,
      seedSeconds,
      dispatcher: { invocations, invocationErrors, batchItemFailures, deadLettered: deadLettered.length, startExecutionCalls: startCalls },
      executionsStarted: executionsByName.size,
      repeatedStartExecutionCalls: repeatedStarts,
      acceptedSubmits: acceptedSubmits.length,
      throttledSubmits,
      settledWithError: Object.fromEntries([...settledWithError].slice(0, 20)),
      perSecondSubmits: perSecond,
      durationSeconds: (endedAt - dispatchStarted) / 1000,
      timedOut,
    },
  };
}

export const benchmark: Benchmark = { title: 'dispatch at the Batch SubmitJob limit (5,000 jobs)', run };
