/**
 * Control-plane cost per job, priced with the published us-east-1 prices in bench/prices.json.
 *
 * - State transitions: the workflow definition the stack deploys (jobWorkflowAsl), executed
 *   with aws-local-stepfunctions with stubbed task results, for a happy-path job and for a job
 *   whose Spot attempt is reclaimed and which fails over to On-Demand.
 * - DynamoDB, SQS and EventBridge calls: MEASURED, by counting the SDK calls the real handlers
 *   make in local mode for the same two paths (jobs submitted over HTTP one at a time).
 * - Lambda invocations from the paths (memory from the template, billed durations assumed and
 *   stated), API requests, X-Ray traces and CloudWatch Logs bytes (handler log bytes measured at
 *   INFO, Lambda platform and Step Functions log lines estimated).
 * - Idle monthly cost, itemized from the template's resources.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { join } from 'node:path';
import { StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import type { Job } from '../../core/job.js';
import { jobKey } from '../../core/table.js';
import { batchJobName, STATE } from '../../core/contract/workflow.js';
import { ENV } from '../../lambdas/shared/environment.js';
import { BatchJobFailedError } from '../../lib/workflow/batch-task.js';
import type { LocalPlatform } from '../../local/platform.js';
import type { JsonValue } from '../../local/step-functions.js';
import { BENCH_ACCOUNT, BENCH_REGION } from '../support/aws-env.js';
import {
  dynamoItemSizeBytes,
  HOURS_PER_MONTH,
  lambdaGbSeconds,
  loadPriceBook,
  priceUsage,
  readRequestUnits,
  writeRequestUnits,
  type PriceBook,
  type UsageLine,
} from '../support/cost-model.js';
import { startBenchPlatform, submitJob, waitForTerminalEvents } from '../support/local-platform.js';
import { BENCH_DIR, figure } from '../support/report.js';
import { countByCommand, SdkCallCounter, type SdkCall } from '../support/sdk-call-counter.js';
import { benchWorkflow, referencedLogicalIds, resourcesOfType, stackFunctions, workflowTaskFunctions, type FunctionRole, type StackFunction } from '../support/stack-settings.js';
import { loadTemplate, type SynthesizedTemplate } from '../support/template.js';
import type { Benchmark, BenchmarkContext } from './types.js';

const GOAL_USD_PER_1000_JOBS = 0.1;
/** Issue 6: idle cost "should be ≈ $0"; read here as at most $1 a month at list prices. */
const IDLE_GOAL_USD_PER_MONTH = 1;
const HAPPY_JOBS = 10;
const FAILOVER_JOBS = 3;

/** Assumed billed duration per warm invocation at 512 MB on arm64 (a few DynamoDB calls each). */
const ASSUMED_BILLED_MS: Record<FunctionRole, number> = { api: 60, dispatcher: 80, prepare: 120, settleAttempt: 60, finish: 80, batchEvents: 60, reconcile: 60 };
/** Lambda's own JSON log lines per invocation (platform.start and platform.report). */
const LAMBDA_PLATFORM_LOG_BYTES = 550;
/** Step Functions execution log (level ALL, no execution data): one event line each. */
const SFN_LOG_EVENT_BYTES = 400;
const SFN_LOG_EVENTS_PER_TASK_STATE = 5;
const SFN_LOG_EVENTS_PER_OTHER_STATE = 2;
const SFN_LOG_EVENTS_PER_EXECUTION = 2;
/**
 * Batch sends a state-change event for every change after submission (none for the submission
 * itself): RUNNABLE, STARTING, RUNNING and the final status for a job without dependencies.
 * https://docs.aws.amazon.com/batch/latest/userguide/batch_job_events.html
 */
const BATCH_EVENT_STATUSES_PER_ATTEMPT = ['RUNNABLE', 'STARTING', 'RUNNING', 'FINAL'] as const;
/** The SQS event source's requests for a batch of one: ReceiveMessage and DeleteMessageBatch. */
const EVENT_SOURCE_REQUESTS_PER_JOB = 2;
const EVENT_SOURCE_SQS_COMMANDS = new Set(['ReceiveMessageCommand', 'DeleteMessageBatchCommand', 'DeleteMessageCommand', 'ChangeMessageVisibilityBatchCommand', 'ChangeMessageVisibilityCommand', 'GetQueueAttributesCommand', 'CreateQueueCommand']);
/** Assumed billed duration of a scheduled run with nothing to do (the watchdog: a few list calls). */
const IDLE_SCHEDULED_RUN_BILLED_MS = 100;
/** Lambda's SQS event source long-polls with this many pollers while the queue is empty (20 s waits). */
const IDLE_SQS_POLLERS = 5;

interface PathUsage {
  readonly transitions: number;
  readonly statesEntered: string[];
  readonly attempts: number;
}

const WORKFLOW_TASKS = { [STATE.prepare]: 'prepare', [STATE.settleAttempt]: 'settleAttempt', [STATE.finish]: 'finish' } as const;

/** Runs the definition with stubbed task results and counts the states entered (each one a billed transition). */
async function countTransitions(definition: StateMachineDefinition, scenario: 'happy' | 'reclaim-failover'): Promise<PathUsage> {
  const jobId = `01COST${scenario === 'happy' ? 'HAPPY' : 'FAILOVER'}`;
  const machine = new StateMachine(definition, { validationOptions: { checkArn: false, checkPaths: true } });
  let settles = 0;
  const succeeded = (name: string): JsonValue => ({ JobName: name, JobId: crypto.randomUUID(), Status: 'SUCCEEDED', StatusReason: 'Essential container in task exited', Container: { ExitCode: 0 } });
  const execution = machine.run(
    { jobId },
    {
      overrides: {
        taskResourceLocalHandlers: {
          [STATE.prepare]: () => ({
            jobId,
            job: { jobDefinitionArn: `arn:aws:batch:${BENCH_REGION}:${BENCH_ACCOUNT}:job-definition/GpuJobs-cost:1`, command: ['true'], timeoutSeconds: 3600 },
            plan: { next: 'spot', attempt: 1, jobName: batchJobName(jobId, 1), environment: [], batchAttempts: 3 },
          }),
          [STATE.runOnSpot]: (input) => {
            const name = String((input as { JobName?: unknown }).JobName);
            if (scenario === 'happy') return succeeded(name);
            throw new BatchJobFailedError({ JobName: name, JobId: crypto.randomUUID(), Status: 'FAILED', StatusReason: 'Host EC2 (instance i-0abc1234def567890) terminated.', Attempts: [] });
          },
          [STATE.runOnDemand]: (input) => succeeded(String((input as { JobName?: unknown }).JobName)),
          [STATE.settleAttempt]: (): JsonValue => {
            settles++;
            if (scenario === 'reclaim-failover' && settles === 1) return { next: 'on-demand', attempt: 2, jobName: batchJobName(jobId, 2), environment: [], batchAttempts: 1 };
            return { next: 'finish', outcome: { status: 'SUCCEEDED', exitCode: 0 } };
          },
          [STATE.finish]: () => ({ jobId, status: 'SUCCEEDED', transitioned: true }),
        },
      },
    },
  );
  const statesEntered: string[] = [];
  let retries = 0;
  for await (const event of execution.eventLogs) {
    if (event.type === 'StateEntered') statesEntered.push(event.state.name);
    if (event.type === 'StateRetried') retries++;
  }
  await execution.result;
  return { transitions: statesEntered.length + retries, statesEntered, attempts: statesEntered.filter((s) => s === STATE.runOnSpot || s === STATE.runOnDemand).length };
}

interface MeasuredPath {
  readonly jobs: number;
  readonly calls: SdkCall[];
  readonly handlerLogBytes: number;
  readonly itemBytes: number;
  readonly jobRecords: (Job | undefined)[];
}

/** Handler log lines (Powertools JSON) are counted and kept off the terminal. */
class HandlerLogMeter {
  bytes = 0;
  private readonly originals = { out: process.stdout.write.bind(process.stdout), err: process.stderr.write.bind(process.stderr) };

  install(): void {
    const meter = (original: typeof process.stdout.write) =>
      ((chunk: string | Uint8Array, ...rest: unknown[]) => {
        const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
        const lines = text.split('\n').filter((line) => line !== '');
        const handlerLines = lines.filter((line) => line.startsWith('{') && /"service":"gpujobs/.test(line));
        for (const line of handlerLines) this.bytes += Buffer.byteLength(line, 'utf8') + 1;
        if (handlerLines.length === lines.length && lines.length > 0) return true;
        return (original as (...args: unknown[]) => boolean)(chunk, ...rest);
      }) as typeof process.stdout.write;
    process.stdout.write = meter(this.originals.out);
    process.stderr.write = meter(this.originals.err);
  }

  uninstall(): void {
    process.stdout.write = this.originals.out;
    process.stderr.write = this.originals.err;
  }
}

async function untilQuiet(counter: SdkCallCounter, quietMs: number): Promise<void> {
  let last = -1;
  while (counter.pending !== last) {
    last = counter.pending;
    await new Promise((resolve) => setTimeout(resolve, quietMs));
  }
}

async function measurePath(platform: LocalPlatform, counter: SdkCallCounter, meter: HandlerLogMeter, scenario: 'happy' | 'reclaim-failover', jobs: number): Promise<MeasuredPath> {
  await untilQuiet(counter, 500);
  counter.take();
  meter.bytes = 0;
  const jobIds: string[] = [];
  for (let i = 0; i < jobs; i++) {
    const body = scenario === 'happy' ? { image: 'local', command: ['true'] } : { image: 'local', command: ['sleep', '1'], maxSpotAttempts: 1 };
    const submission = await submitJob(platform.url, body);
    if (submission.status !== 202 || !submission.jobId) throw new Error(`Submitting a ${scenario} job failed with HTTP ${submission.status}.`);
    const jobId = submission.jobId;
    jobIds.push(jobId);
    if (scenario === 'reclaim-failover') {
      const deadline = Date.now() + 30_000;
      while (!platform.runningProcesses().some((p) => p.jobName === batchJobName(jobId, 1) && p.capacity === 'spot')) {
        if (Date.now() > deadline) throw new Error(`Job ${jobId} never ran on Spot.`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      platform.interruptSpot();
    }
    if (!(await waitForTerminalEvents(platform, [jobId], Date.now() + 60_000, 20))) throw new Error(`Job ${jobId} did not finish within 60 s.`);
    await untilQuiet(counter, 300);
  }
  await untilQuiet(counter, 750);
  const calls = counter.take();
  const handlerLogBytes = meter.bytes;

  // Read back (uncounted): the stored item's size, and the records to confirm the path taken.
  const documents = DynamoDBDocumentClient.from(new DynamoDBClient({}));
  const stored = await documents.send(new GetCommand({ TableName: process.env[ENV.tableName], Key: jobKey(jobIds[jobIds.length - 1]!) }));
  documents.destroy();
  const jobRecords = await Promise.all(jobIds.map(async (jobId) => {
    const response = await fetch(`${platform.url}/v1/jobs/${jobId}`);
    return response.status === 200 ? ((await response.json()) as Job) : undefined;
  }));
  await untilQuiet(counter, 200);
  counter.take();
  return { jobs, calls, handlerLogBytes, itemBytes: stored.Item ? dynamoItemSizeBytes(stored.Item) : 1024, jobRecords };
}

const DYNAMO_WRITES = new Set(['PutCommand', 'UpdateCommand', 'DeleteCommand', 'PutItemCommand', 'UpdateItemCommand', 'DeleteItemCommand']);
const DYNAMO_READS = new Set(['GetCommand', 'QueryCommand', 'GetItemCommand', 'QueryCommand', 'ScanCommand']);
const DYNAMO_CLIENTS = new Set(['DynamoDBClient', 'DynamoDBDocumentClient']);

function dynamoUsage(calls: readonly SdkCall[], itemBytes: number, gsiCount: number, jobs: number) {
  let writes = 0;
  let reads = 0;
  let wru = 0;
  let rru = 0;
  for (const call of calls.filter((c) => DYNAMO_CLIENTS.has(c.client))) {
    if (DYNAMO_WRITES.has(call.command)) {
      writes++;
      // A job item carries the keys of both list indexes (projected in full), so each write is also a write to each index.
      const touchesIndexes = typeof (call.input.Key as { pk?: unknown } | undefined)?.pk === 'string' ? String((call.input.Key as { pk: string }).pk).startsWith('JOB#') : typeof (call.input.Item as { pk?: unknown } | undefined)?.pk === 'string' ? String((call.input.Item as { pk: string }).pk).startsWith('JOB#') : true;
      wru += writeRequestUnits(itemBytes) * (1 + (touchesIndexes ? gsiCount : 0));
    } else if (DYNAMO_READS.has(call.command)) {
      reads++;
      rru += readRequestUnits(itemBytes, call.input.ConsistentRead === true);
    }
  }
  return { writesPerJob: writes / jobs, readsPerJob: reads / jobs, wruPerJob: wru / jobs, rruPerJob: rru / jobs };
}

function perJobCount(calls: readonly SdkCall[], client: string, commands: readonly string[], jobs: number, entriesKey?: string): number {
  let count = 0;
  for (const call of calls) {
    if (call.client !== client || !commands.includes(call.command)) continue;
    count += entriesKey ? ((call.input[entriesKey] as unknown[] | undefined)?.length ?? 1) : 1;
  }
  return count / jobs;
}

/** Batch state-change events per attempt that the status rule forwards (its pattern's detail.status, if any). */
function batchEventsPerAttempt(template: SynthesizedTemplate): number {
  const rule = resourcesOfType(template, 'AWS::Events::Rule').find(([, r]) => ((r.Properties?.EventPattern as { source?: unknown[] } | undefined)?.source ?? []).includes('aws.batch'));
  const statuses = (rule?.[1].Properties?.EventPattern as { detail?: { status?: unknown } } | undefined)?.detail?.status;
  if (!Array.isArray(statuses)) return BATCH_EVENT_STATUSES_PER_ATTEMPT.length;
  return BATCH_EVENT_STATUSES_PER_ATTEMPT.filter((s) => s === 'FINAL' ? statuses.includes('SUCCEEDED') || statuses.includes('FAILED') : statuses.includes(s)).length;
}

function accessLogLineBytes(template: SynthesizedTemplate): number {
  const stage = resourcesOfType(template, 'AWS::ApiGatewayV2::Stage')[0]?.[1];
  const format = (stage?.Properties?.AccessLogSettings as { Format?: unknown } | undefined)?.Format;
  return typeof format === 'string' ? Buffer.byteLength(format, 'utf8') : 0;
}

function perJobUsage(input: {
  readonly path: PathUsage;
  readonly measured: MeasuredPath;
  readonly functions: readonly StackFunction[];
  readonly definition: StateMachineDefinition;
  readonly template: SynthesizedTemplate;
  readonly gsiCount: number;
}): UsageLine[] {
  const { path, measured, functions, definition, template } = input;
  const jobs = measured.jobs;
  const invocations: Record<FunctionRole, number> = {
    api: 1,
    dispatcher: 1,
    prepare: path.statesEntered.filter((s) => s === STATE.prepare).length,
    settleAttempt: path.statesEntered.filter((s) => s === STATE.settleAttempt).length,
    finish: path.statesEntered.filter((s) => s === STATE.finish).length,
    batchEvents: path.attempts * batchEventsPerAttempt(template),
    reconcile: 0,
  };
  const memoryOf = (role: FunctionRole) => functions.find((f) => f.role === role)?.memoryMiB ?? 512;
  const roles = Object.keys(invocations) as FunctionRole[];
  const lambdaRequests = roles.reduce((sum, role) => sum + invocations[role], 0);
  const gbSeconds = roles.reduce((sum, role) => sum + invocations[role] * lambdaGbSeconds(memoryOf(role), ASSUMED_BILLED_MS[role]), 0);
  const dynamo = dynamoUsage(measured.calls, measured.itemBytes, input.gsiCount, jobs);
  const sqsSends = perJobCount(measured.calls, 'SQSClient', ['SendMessageCommand'], jobs) + perJobCount(measured.calls, 'SQSClient', ['SendMessageBatchCommand'], jobs, 'Entries');
  const customEvents = perJobCount(measured.calls, 'EventBridgeClient', ['PutEventsCommand'], jobs, 'Entries');
  const taskStates = new Set(Object.entries(definition.States).filter(([, s]) => s.Type === 'Task').map(([name]) => name));
  const sfnLogEvents = SFN_LOG_EVENTS_PER_EXECUTION + path.statesEntered.reduce((sum, s) => sum + (taskStates.has(s) ? SFN_LOG_EVENTS_PER_TASK_STATE : SFN_LOG_EVENTS_PER_OTHER_STATE), 0);
  const logBytes = measured.handlerLogBytes / jobs + lambdaRequests * LAMBDA_PLATFORM_LOG_BYTES + sfnLogEvents * SFN_LOG_EVENT_BYTES + accessLogLineBytes(template);
  const traces = invocations.api + invocations.dispatcher + 1 + invocations.batchEvents + invocations.reconcile;
  return [
    { item: 'Step Functions state transitions', priceKey: 'stepFunctions.standardStateTransition', quantity: path.transitions, basis: `definition run with stubbed tasks: ${path.statesEntered.join(' → ')}` },
    { item: 'Lambda requests', priceKey: 'lambda.armRequest', quantity: lambdaRequests, basis: `from the path: ${roles.filter((r) => invocations[r] > 0).map((r) => `${r} ${invocations[r]}`).join(', ')} (dispatcher: a batch of one, the worst case)` },
    { item: 'Lambda compute (GB-s)', priceKey: 'lambda.armGbSecond', quantity: gbSeconds, basis: `memory from the template, billed durations assumed: ${roles.map((r) => `${r} ${ASSUMED_BILLED_MS[r]} ms`).join(', ')}` },
    { item: 'API Gateway HTTP API requests', priceKey: 'apiGatewayHttp.request', quantity: 1, basis: 'the submission (status polling by the caller not included)' },
    { item: 'SQS requests', priceKey: 'sqs.standardRequest', quantity: sqsSends + EVENT_SOURCE_REQUESTS_PER_JOB, basis: `measured sends ${sqsSends.toFixed(2)} + event source receive and delete ${EVENT_SOURCE_REQUESTS_PER_JOB} (a batch of one)` },
    { item: 'DynamoDB write request units', priceKey: 'dynamodb.onDemandWriteRequestUnit', quantity: dynamo.wruPerJob, basis: `measured ${dynamo.writesPerJob.toFixed(2)} writes/job × ${writeRequestUnits(measured.itemBytes)} WRU (item ${measured.itemBytes} B) × (1 + ${input.gsiCount} indexes) for job items` },
    { item: 'DynamoDB read request units', priceKey: 'dynamodb.onDemandReadRequestUnit', quantity: dynamo.rruPerJob, basis: `measured ${dynamo.readsPerJob.toFixed(2)} reads/job (strongly consistent where the handler asked)` },
    { item: 'EventBridge custom events', priceKey: 'eventbridge.customEvent', quantity: customEvents, basis: 'measured PutEvents entries (Batch and Step Functions events on the default bus are free)' },
    { item: 'CloudWatch Logs ingestion (GB)', priceKey: 'cloudwatchLogs.ingestionGb', quantity: logBytes / 1e9, basis: `handler lines measured ${Math.round(measured.handlerLogBytes / jobs)} B + Lambda platform ${LAMBDA_PLATFORM_LOG_BYTES} B × ${lambdaRequests} + Step Functions ${sfnLogEvents} events × ${SFN_LOG_EVENT_BYTES} B + access log ${accessLogLineBytes(template)} B` },
    { item: 'CloudWatch Logs storage, first month (GB-month)', priceKey: 'cloudwatchLogs.storageGbMonth', quantity: logBytes / 1e9, basis: 'uncompressed size, an upper bound (storage is billed compressed)' },
    { item: 'X-Ray traces recorded', priceKey: 'xray.traceRecorded', quantity: traces, basis: 'api, dispatcher, the execution (its Lambda tasks join it) and each batch-events invocation; all sampled, as at low rates (the default rule samples 1/s + 5%)' },
  ];
}

interface IdleItem {
  readonly item: string;
  readonly priceKey?: string;
  readonly quantity: number;
  readonly usd: number;
  readonly basis: string;
  /** Units of this item the always-free tier covers. */
  readonly freeQuantity?: number;
}

function idleMonthlyCost(template: SynthesizedTemplate, book: PriceBook): IdleItem[] {
  const price = (key: string) => book.prices[key]?.usd ?? 0;
  const free = (key: string) => Number((book as unknown as { freeTier?: Record<string, unknown> }).freeTier?.[key] ?? 0);
  const count = (type: string) => resourcesOfType(template, type).length;
  const items: IdleItem[] = [];
  const nat = count('AWS::EC2::NatGateway');
  items.push({ item: 'NAT gateways', priceKey: 'vpc.natGatewayHour', quantity: nat, usd: nat * HOURS_PER_MONTH * price('vpc.natGatewayHour'), basis: `${nat} in the template` });
  const eips = count('AWS::EC2::EIP');
  items.push({ item: 'Elastic IPs (public IPv4 while idle)', priceKey: 'vpc.publicIpv4AddressHour', quantity: eips, usd: eips * HOURS_PER_MONTH * price('vpc.publicIpv4AddressHour'), basis: `${eips} in the template` });
  const endpoints = resourcesOfType(template, 'AWS::EC2::VPCEndpoint').filter(([, r]) => r.Properties?.VpcEndpointType === 'Interface');
  const endpointAzHours = endpoints.reduce((sum, [, r]) => sum + Math.max(1, (r.Properties?.SubnetIds as unknown[] | undefined)?.length ?? 1), 0);
  items.push({ item: 'Interface VPC endpoints', priceKey: 'vpc.interfaceEndpointHour', quantity: endpoints.length, usd: endpointAzHours * HOURS_PER_MONTH * price('vpc.interfaceEndpointHour'), basis: `${endpoints.length} in the template` });
  const computeEnvironments = resourcesOfType(template, 'AWS::Batch::ComputeEnvironment');
  const minVcpus = computeEnvironments.map(([, r]) => Number((r.Properties?.ComputeResources as { MinvCpus?: unknown } | undefined)?.MinvCpus ?? 0));
  items.push({ item: 'Batch compute environments', quantity: computeEnvironments.length, usd: 0, basis: `min vCPUs ${minVcpus.join(', ') || 'none'}: ${minVcpus.every((v) => v === 0) ? 'no instance runs while idle' : 'INSTANCES RUN WHILE IDLE (not priced here)'}` });
  const tables = resourcesOfType(template, 'AWS::DynamoDB::Table');
  const onDemand = tables.every(([, r]) => r.Properties?.BillingMode === 'PAY_PER_REQUEST');
  items.push({ item: 'DynamoDB tables', quantity: tables.length, usd: 0, basis: `${onDemand ? 'on-demand: no charge without requests' : 'PROVISIONED capacity bills while idle (not priced here)'}; storage and PITR of an empty table ≈ $0` });
  const dashboards = count('AWS::CloudWatch::Dashboard');
  items.push({ item: 'CloudWatch dashboards', priceKey: 'cloudwatch.dashboardMonth', quantity: dashboards, usd: dashboards * price('cloudwatch.dashboardMonth'), basis: `${dashboards} in the template`, freeQuantity: free('cloudwatch.dashboardMonth') });
  const alarmMetrics = resourcesOfType(template, 'AWS::CloudWatch::Alarm').reduce((sum, [, r]) => {
    const metrics = r.Properties?.Metrics as { MetricStat?: unknown }[] | undefined;
    return sum + (Array.isArray(metrics) ? Math.max(1, metrics.filter((m) => m.MetricStat).length) : 1);
  }, 0);
  items.push({ item: 'CloudWatch alarm metrics', priceKey: 'cloudwatch.standardAlarmMetricMonth', quantity: alarmMetrics, usd: alarmMetrics * price('cloudwatch.standardAlarmMetricMonth'), basis: `${count('AWS::CloudWatch::Alarm')} alarms, ${alarmMetrics} metrics`, freeQuantity: free('cloudwatch.standardAlarmMetricMonth') });
  const keys = count('AWS::KMS::Key');
  items.push({ item: 'KMS customer managed keys', priceKey: 'kms.customerManagedKeyMonth', quantity: keys, usd: keys * price('kms.customerManagedKeyMonth'), basis: `${keys} in the template` });
  const secrets = count('AWS::SecretsManager::Secret');
  items.push({ item: 'Secrets Manager secrets', priceKey: 'secretsManager.secretMonth', quantity: secrets, usd: secrets * price('secretsManager.secretMonth'), basis: `${secrets} in the template` });
  const sqsMappings = resourcesOfType(template, 'AWS::Lambda::EventSourceMapping').filter(([, r]) => [...referencedLogicalIds(r.Properties?.EventSourceArn)].some((id) => template.Resources[id]?.Type === 'AWS::SQS::Queue')).length;
  const pollRequests = sqsMappings * IDLE_SQS_POLLERS * 3 * 60 * HOURS_PER_MONTH;
  items.push({ item: 'SQS requests from the event source polling an empty queue', priceKey: 'sqs.standardRequest', quantity: pollRequests, usd: pollRequests * price('sqs.standardRequest'), basis: `${sqsMappings} SQS event source(s) × ${IDLE_SQS_POLLERS} pollers (assumed) × one 20 s long poll each`, freeQuantity: free('sqs.standardRequest') });
  // A schedule runs its function while nothing else does: the invocations, the runs and their platform log lines.
  for (const [scheduleId, schedule] of resourcesOfType(template, 'AWS::Scheduler::Schedule')) {
    const rate = /^rate\((\d+) minutes?\)$/.exec(String(schedule.Properties?.ScheduleExpression ?? ''));
    if (!rate) {
      items.push({ item: `Schedule ${scheduleId}`, quantity: 0, usd: 0, basis: `NOT PRICED: expression ${JSON.stringify(schedule.Properties?.ScheduleExpression)} is not a rate in minutes` });
      continue;
    }
    const runs = (60 / Number(rate[1])) * HOURS_PER_MONTH;
    const target = [...referencedLogicalIds((schedule.Properties?.Target as { Arn?: unknown } | undefined)?.Arn)].find((id) => template.Resources[id]?.Type === 'AWS::Lambda::Function');
    const memoryMiB = Number(template.Resources[target ?? '']?.Properties?.MemorySize ?? 128);
    const gbSeconds = runs * (IDLE_SCHEDULED_RUN_BILLED_MS / 1000) * (memoryMiB / 1024);
    const logGb = (runs * LAMBDA_PLATFORM_LOG_BYTES) / 1e9;
    const every = `${rate[1]} min`;
    items.push({ item: `EventBridge Scheduler invocations (${scheduleId})`, priceKey: 'scheduler.invocation', quantity: runs, usd: runs * price('scheduler.invocation'), basis: `one every ${every}, ${HOURS_PER_MONTH} h a month`, freeQuantity: free('scheduler.invocation') });
    items.push({ item: `Lambda requests of the scheduled runs (${target ?? 'unknown target'})`, priceKey: 'lambda.armRequest', quantity: runs, usd: runs * price('lambda.armRequest'), basis: `one per invocation`, freeQuantity: free('lambda.armRequest') });
    items.push({ item: 'Lambda compute of the scheduled runs (GB-s)', priceKey: 'lambda.armGbSecond', quantity: gbSeconds, usd: gbSeconds * price('lambda.armGbSecond'), basis: `${memoryMiB} MiB from the template × ${IDLE_SCHEDULED_RUN_BILLED_MS} ms billed (assumed: an idle run's list calls)`, freeQuantity: free('lambda.armGbSecond') });
    items.push({ item: 'CloudWatch Logs ingestion of the scheduled runs (GB)', priceKey: 'cloudwatchLogs.ingestionGb', quantity: logGb, usd: logGb * price('cloudwatchLogs.ingestionGb'), basis: `Lambda platform lines ${LAMBDA_PLATFORM_LOG_BYTES} B a run; an idle run logs nothing itself`, freeQuantity: free('cloudwatchLogs.ingestionGb') });
  }
  items.push({ item: 'Lambda, Step Functions, API Gateway, EventBridge, SNS, CloudWatch Logs', quantity: 0, usd: 0, basis: 'billed per use: $0 while idle, the scheduled runs above aside (log storage of past logs aside)' });
  return items;
}

async function run(context: BenchmarkContext) {
  const notes: string[] = [];
  const book = loadPriceBook(join(BENCH_DIR, 'prices.json'));
  const { template, source } = await loadTemplate(context.projectRoot, context.assemblyDir ? { assemblyDir: context.assemblyDir } : {});
  const { definition } = benchWorkflow();

  // Which function each Lambda task state invokes, from the template's state machine.
  const functionOfState = workflowTaskFunctions(template, Object.keys(WORKFLOW_TASKS));
  const taskFunctions: Record<string, 'prepare' | 'settleAttempt' | 'finish'> = {};
  for (const [state, role] of Object.entries(WORKFLOW_TASKS)) taskFunctions[functionOfState[state]!] = role;
  const functions = stackFunctions(template, taskFunctions);
  const table = resourcesOfType(template, 'AWS::DynamoDB::Table')[0]?.[1];
  const gsiCount = ((table?.Properties?.GlobalSecondaryIndexes as unknown[] | undefined) ?? []).length;

  context.log('running the workflow definition for both paths …');
  const happyPath = await countTransitions(definition, 'happy');
  const failoverPath = await countTransitions(definition, 'reclaim-failover');

  context.log('measuring handler calls in local mode …');
  // Local mode's stand-in for the SQS event source polls the queue through the SDK; in AWS that
  // polling is Lambda's, priced separately above (EVENT_SOURCE_REQUESTS_PER_JOB).
  const counter = new SdkCallCounter((call) => call.client === 'SQSClient' && EVENT_SOURCE_SQS_COMMANDS.has(call.command));
  const meter = new HandlerLogMeter();
  counter.install();
  // Deployed functions log at Powertools' default level (the template sets none).
  process.env.POWERTOOLS_LOG_LEVEL = 'INFO';
  meter.install();
  const bench = await startBenchPlatform({ gpus: 4, quiet: true, stopGracePeriodSeconds: 0.2 });
  let happy: MeasuredPath;
  let failover: MeasuredPath;
  try {
    // The first job per image registers its Batch job definition: a one-time cost, kept out of the per-job figures.
    await measurePath(bench.platform, counter, meter, 'happy', 2);
    happy = await measurePath(bench.platform, counter, meter, 'happy', HAPPY_JOBS);
    failover = await measurePath(bench.platform, counter, meter, 'reclaim-failover', FAILOVER_JOBS);
  } finally {
    await bench.close();
    meter.uninstall();
    counter.uninstall();
  }
  const failoverShapes = failover.jobRecords.map((job) => job?.attempts.map((a) => `${a.capacity}:${a.failureClass ?? a.status}`).join('→') ?? 'missing');
  const unexpected = failoverShapes.filter((shape) => shape !== 'spot:SPOT_RECLAIM→on-demand:SUCCEEDED');
  if (unexpected.length > 0) notes.push(`Reclaim + failover jobs in local mode took other paths than Spot reclaimed → On-Demand succeeded: ${unexpected.join('; ')}.`);
  if (happy.jobRecords.some((job) => job?.status !== 'SUCCEEDED')) notes.push('Some happy-path jobs in local mode did not succeed; their calls are still counted.');

  const happyUsage = priceUsage(perJobUsage({ path: happyPath, measured: happy, functions, definition, template, gsiCount }), book);
  const failoverUsage = priceUsage(perJobUsage({ path: failoverPath, measured: failover, functions, definition, template, gsiCount }), book);
  const idle = idleMonthlyCost(template, book);
  const idleTotal = idle.reduce((sum, item) => sum + item.usd, 0);
  const idleBeyondFreeTier = idle.reduce((sum, item) => {
    if (item.freeQuantity === undefined || item.quantity === 0) return sum + item.usd;
    return sum + item.usd * (Math.max(0, item.quantity - item.freeQuantity) / item.quantity);
  }, 0);

  const perThousand = (usd: number) => usd * 1000;
  const sfnLine = happyUsage.lines.find((l) => l.priceKey === 'stepFunctions.standardStateTransition');
  const largest = [...happyUsage.lines].sort((a, b) => b.usd - a.usd)[0];
  if (perThousand(happyUsage.totalUsd) > GOAL_USD_PER_1000_JOBS && sfnLine) {
    notes.push(
      `Step Functions Standard alone costs $${perThousand(sfnLine.usd).toFixed(3)} per 1,000 happy-path jobs (${happyPath.transitions} transitions × $0.025/1,000): the goal of $${GOAL_USD_PER_1000_JOBS.toFixed(2)} allows at most ${Math.floor((GOAL_USD_PER_1000_JOBS / 1000) / 0.000025)} transitions per job with nothing else.`,
    );
  }
  notes.push(
    `Prices: bench/prices.json (${book.region}, ${book.asOf}; free tiers not deducted). Template: ${source}.`,
    `Measured in local mode with the real handlers (one job at a time, after 2 warm-up jobs that register the job definition): ${HAPPY_JOBS} happy-path jobs and ${FAILOVER_JOBS} jobs whose Spot attempt was reclaimed (maxSpotAttempts 1) and which finished on On-Demand.`,
    'Not included: the GPU instances and EBS volumes themselves, data transfer, and the caller\'s own GET/list requests.',
  );

  const round = (value: number) => Math.round(value * 1e9) / 1e9;
  return {
    figures: [
      figure({ id: 'happyUsdPer1000Jobs', label: 'happy path, per 1,000 jobs', value: perThousand(happyUsage.totalUsd), unit: 'USD', goal: { comparison: '<=', value: GOAL_USD_PER_1000_JOBS }, digits: 4, ...(largest ? { note: `largest: ${largest.item} $${perThousand(largest.usd).toFixed(4)}` } : {}) }),
      figure({ id: 'failoverUsdPer1000Jobs', label: 'reclaim + failover, per 1,000 jobs', value: perThousand(failoverUsage.totalUsd), unit: 'USD', digits: 4 }),
      figure({ id: 'happyTransitions', label: 'happy path: state transitions per job', value: happyPath.transitions, unit: '', digits: 0 }),
      figure({ id: 'failoverTransitions', label: 'reclaim + failover: state transitions per job', value: failoverPath.transitions, unit: '', digits: 0 }),
      figure({ id: 'happyDynamoWrites', label: 'happy path: DynamoDB writes per job (measured)', value: dynamoUsage(happy.calls, happy.itemBytes, gsiCount, happy.jobs).writesPerJob, unit: '', digits: 1 }),
      figure({ id: 'happyDynamoReads', label: 'happy path: DynamoDB reads per job (measured)', value: dynamoUsage(happy.calls, happy.itemBytes, gsiCount, happy.jobs).readsPerJob, unit: '', digits: 1 }),
      figure({ id: 'happyCustomEvents', label: 'happy path: EventBridge events per job (measured)', value: perJobCount(happy.calls, 'EventBridgeClient', ['PutEventsCommand'], happy.jobs, 'Entries'), unit: '', digits: 1 }),
      figure({ id: 'idleUsdPerMonth', label: 'idle deployment, per month (list prices)', value: idleTotal, unit: 'USD', goal: { comparison: '<=', value: IDLE_GOAL_USD_PER_MONTH }, digits: 2 }),
      figure({ id: 'idleUsdPerMonthBeyondFreeTier', label: 'idle deployment, per month beyond always-free tiers', value: idleBeyondFreeTier, unit: 'USD', digits: 2 }),
    ],
    notes,
    details: {
      prices: { file: 'bench/prices.json', asOf: book.asOf, region: book.region },
      happy: { path: happyPath, perJob: happyUsage.lines.map((l) => ({ ...l, quantity: round(l.quantity), usd: round(l.usd) })), totalUsdPerJob: round(happyUsage.totalUsd), sdkCalls: countByCommand(happy.calls), itemBytes: happy.itemBytes },
      reclaimFailover: { path: failoverPath, perJob: failoverUsage.lines.map((l) => ({ ...l, quantity: round(l.quantity), usd: round(l.usd) })), totalUsdPerJob: round(failoverUsage.totalUsd), sdkCalls: countByCommand(failover.calls), attempts: failoverShapes },
      idleMonthly: idle.map((item) => ({ ...item, usd: Math.round(item.usd * 100) / 100 })),
      functions,
      assumptions: { billedMs: ASSUMED_BILLED_MS, lambdaPlatformLogBytes: LAMBDA_PLATFORM_LOG_BYTES, sfnLogEventBytes: SFN_LOG_EVENT_BYTES, eventSourceRequestsPerJob: EVENT_SOURCE_REQUESTS_PER_JOB, idleSqsPollers: IDLE_SQS_POLLERS, batchEventStatusesPerAttempt: BATCH_EVENT_STATUSES_PER_ATTEMPT },
    },
  };
}

export const benchmark: Benchmark = { title: 'control-plane cost per job and idle monthly cost', run };
