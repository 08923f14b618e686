/**
 * A job's billed usage, line by line, from the path its workflow took and the SDK calls its
 * handlers made. What is counted comes from the path or the measurement; what cannot be measured
 * locally (billed durations, platform log lines) is assumed here, named and stated in each line's
 * basis. Pricing the lines is bench/support/cost-model.ts's; this module does no I/O.
 */
import type { StateMachineDefinition } from 'aws-local-stepfunctions';
import { STATE } from '../../core/contract/workflow.js';
import { lambdaGbSeconds, readRequestUnits, writeRequestUnits, type UsageLine } from './cost-model.js';
import type { SdkCall } from './sdk-call-counter.js';
import { resourcesOfType, type FunctionRole, type StackFunction } from './stack-settings.js';
import type { SynthesizedTemplate } from './template.js';

/** The states one execution entered, in order, and what they add up to. */
export interface PathUsage {
  /** Billed state transitions: every state entered, and every retry. */
  readonly transitions: number;
  readonly statesEntered: readonly string[];
  /** Batch attempts (Spot and On-Demand run states entered). */
  readonly attempts: number;
}

/** The handlers' SDK calls and log bytes for a number of jobs that took the same path. */
export interface MeasuredCalls {
  readonly jobs: number;
  readonly calls: readonly SdkCall[];
  readonly handlerLogBytes: number;
  /** Size of one stored job item, as DynamoDB bills it. */
  readonly itemBytes: number;
}

/** Assumed billed duration per warm invocation at 512 MB on arm64 (a few DynamoDB calls each). */
export const ASSUMED_BILLED_MS: Readonly<Record<FunctionRole, number>> = {
  api: 60,
  dispatcher: 80,
  prepare: 120,
  settleAttempt: 60,
  finish: 80,
  batchEvents: 60,
  reconcile: 60,
};
/** Lambda's own JSON log lines per invocation (platform.start and platform.report). */
export const LAMBDA_PLATFORM_LOG_BYTES = 550;
/** Step Functions execution log (level ALL, no execution data): one event line each. */
export const SFN_LOG_EVENT_BYTES = 400;
const SFN_LOG_EVENTS_PER_TASK_STATE = 5;
const SFN_LOG_EVENTS_PER_OTHER_STATE = 2;
const SFN_LOG_EVENTS_PER_EXECUTION = 2;
/**
 * Batch sends a state-change event for every change after submission (none for the submission
 * itself): RUNNABLE, STARTING, RUNNING and the final status for a job without dependencies.
 * https://docs.aws.amazon.com/batch/latest/userguide/batch_job_events.html
 */
export const BATCH_EVENT_STATUSES_PER_ATTEMPT = ['RUNNABLE', 'STARTING', 'RUNNING', 'FINAL'] as const;
/** The SQS event source's requests for a batch of one: ReceiveMessage and DeleteMessageBatch. */
export const EVENT_SOURCE_REQUESTS_PER_JOB = 2;

const DYNAMO_WRITES = new Set(['PutCommand', 'UpdateCommand', 'DeleteCommand', 'PutItemCommand', 'UpdateItemCommand', 'DeleteItemCommand']);
const DYNAMO_READS = new Set(['GetCommand', 'QueryCommand', 'GetItemCommand', 'ScanCommand']);
const DYNAMO_CLIENTS = new Set(['DynamoDBClient', 'DynamoDBDocumentClient']);

export interface DynamoUsage {
  readonly writesPerJob: number;
  readonly readsPerJob: number;
  readonly wruPerJob: number;
  readonly rruPerJob: number;
}

/** The partition key a write names, in its Key (update, delete) or its Item (put). */
function writtenPartitionKey(call: SdkCall): unknown {
  const key = call.input.Key as { pk?: unknown } | undefined;
  const item = call.input.Item as { pk?: unknown } | undefined;
  return typeof key?.pk === 'string' ? key.pk : item?.pk;
}

/** DynamoDB requests per job, and the request units they bill with items of `itemBytes`. */
export function dynamoUsage(calls: readonly SdkCall[], itemBytes: number, gsiCount: number, jobs: number): DynamoUsage {
  let writes = 0;
  let reads = 0;
  let wru = 0;
  let rru = 0;
  for (const call of calls.filter((c) => DYNAMO_CLIENTS.has(c.client))) {
    if (DYNAMO_WRITES.has(call.command)) {
      writes++;
      // A job item carries the keys of both list indexes (projected in full), so each write is
      // also a write to each index. A write whose key cannot be read is counted as a job item's.
      const pk = writtenPartitionKey(call);
      const touchesIndexes = typeof pk === 'string' ? pk.startsWith('JOB#') : true;
      wru += writeRequestUnits(itemBytes) * (1 + (touchesIndexes ? gsiCount : 0));
    } else if (DYNAMO_READS.has(call.command)) {
      reads++;
      rru += readRequestUnits(itemBytes, call.input.ConsistentRead === true);
    }
  }
  return { writesPerJob: writes / jobs, readsPerJob: reads / jobs, wruPerJob: wru / jobs, rruPerJob: rru / jobs };
}

/** Calls of one client's commands per job; with `entriesKey`, the entries those calls carry (a batch of n counts n). */
export function perJobCount(
  calls: readonly SdkCall[],
  client: string,
  commands: readonly string[],
  jobs: number,
  entriesKey?: string,
): number {
  let count = 0;
  for (const call of calls) {
    if (call.client !== client || !commands.includes(call.command)) continue;
    count += entriesKey ? ((call.input[entriesKey] as unknown[] | undefined)?.length ?? 1) : 1;
  }
  return count / jobs;
}

/** Batch state-change events per attempt that the status rule forwards (its pattern's detail.status, if any). */
export function batchEventsPerAttempt(template: SynthesizedTemplate): number {
  const rule = resourcesOfType(template, 'AWS::Events::Rule').find(([, r]) =>
    ((r.Properties?.EventPattern as { source?: unknown[] } | undefined)?.source ?? []).includes('aws.batch'),
  );
  const statuses = (rule?.[1].Properties?.EventPattern as { detail?: { status?: unknown } } | undefined)?.detail?.status;
  if (!Array.isArray(statuses)) return BATCH_EVENT_STATUSES_PER_ATTEMPT.length;
  return BATCH_EVENT_STATUSES_PER_ATTEMPT.filter((s) =>
    s === 'FINAL' ? statuses.includes('SUCCEEDED') || statuses.includes('FAILED') : statuses.includes(s),
  ).length;
}

/** Bytes of one API access-log line, taken as the length of the stage's format template. */
export function accessLogLineBytes(template: SynthesizedTemplate): number {
  const stage = resourcesOfType(template, 'AWS::ApiGatewayV2::Stage')[0]?.[1];
  const format = (stage?.Properties?.AccessLogSettings as { Format?: unknown } | undefined)?.Format;
  return typeof format === 'string' ? Buffer.byteLength(format, 'utf8') : 0;
}

export interface PerJobUsageInput {
  readonly path: PathUsage;
  readonly measured: MeasuredCalls;
  /** The stack's functions, for their memory. */
  readonly functions: readonly StackFunction[];
  readonly definition: StateMachineDefinition;
  readonly template: SynthesizedTemplate;
  /** Global secondary indexes of the job table. */
  readonly gsiCount: number;
}

/** One job's usage, one line per billed unit. */
export function perJobUsage(input: PerJobUsageInput): UsageLine[] {
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
  const sqsSends =
    perJobCount(measured.calls, 'SQSClient', ['SendMessageCommand'], jobs) +
    perJobCount(measured.calls, 'SQSClient', ['SendMessageBatchCommand'], jobs, 'Entries');
  const customEvents = perJobCount(measured.calls, 'EventBridgeClient', ['PutEventsCommand'], jobs, 'Entries');
  const taskStates = new Set(
    Object.entries(definition.States)
      .filter(([, s]) => s.Type === 'Task')
      .map(([name]) => name),
  );
  const sfnLogEvents =
    SFN_LOG_EVENTS_PER_EXECUTION +
    path.statesEntered.reduce((sum, s) => sum + (taskStates.has(s) ? SFN_LOG_EVENTS_PER_TASK_STATE : SFN_LOG_EVENTS_PER_OTHER_STATE), 0);
  const accessLogBytes = accessLogLineBytes(template);
  const handlerLogBytes = measured.handlerLogBytes / jobs;
  const logBytes = handlerLogBytes + lambdaRequests * LAMBDA_PLATFORM_LOG_BYTES + sfnLogEvents * SFN_LOG_EVENT_BYTES + accessLogBytes;
  const traces = invocations.api + invocations.dispatcher + 1 + invocations.batchEvents + invocations.reconcile;
  const invoked = roles.filter((r) => invocations[r] > 0).map((r) => `${r} ${invocations[r]}`);
  return [
    {
      item: 'Step Functions state transitions',
      priceKey: 'stepFunctions.standardStateTransition',
      quantity: path.transitions,
      basis: `definition run with stubbed tasks: ${path.statesEntered.join(' → ')}`,
    },
    {
      item: 'Lambda requests',
      priceKey: 'lambda.armRequest',
      quantity: lambdaRequests,
      basis: `from the path: ${invoked.join(', ')} (dispatcher: a batch of one, the worst case)`,
    },
    {
      item: 'Lambda compute (GB-s)',
      priceKey: 'lambda.armGbSecond',
      quantity: gbSeconds,
      basis: `memory from the template, billed durations assumed: ${roles.map((r) => `${r} ${ASSUMED_BILLED_MS[r]} ms`).join(', ')}`,
    },
    {
      item: 'API Gateway HTTP API requests',
      priceKey: 'apiGatewayHttp.request',
      quantity: 1,
      basis: 'the submission (status polling by the caller not included)',
    },
    {
      item: 'SQS requests',
      priceKey: 'sqs.standardRequest',
      quantity: sqsSends + EVENT_SOURCE_REQUESTS_PER_JOB,
      basis: `measured sends ${sqsSends.toFixed(2)} + event source receive and delete ${EVENT_SOURCE_REQUESTS_PER_JOB} (a batch of one)`,
    },
    {
      item: 'DynamoDB write request units',
      priceKey: 'dynamodb.onDemandWriteRequestUnit',
      quantity: dynamo.wruPerJob,
      basis: `measured ${dynamo.writesPerJob.toFixed(2)} writes/job × ${writeRequestUnits(measured.itemBytes)} WRU (item ${measured.itemBytes} B) × (1 + ${input.gsiCount} indexes) for job items`,
    },
    {
      item: 'DynamoDB read request units',
      priceKey: 'dynamodb.onDemandReadRequestUnit',
      quantity: dynamo.rruPerJob,
      basis: `measured ${dynamo.readsPerJob.toFixed(2)} reads/job (strongly consistent where the handler asked)`,
    },
    {
      item: 'EventBridge custom events',
      priceKey: 'eventbridge.customEvent',
      quantity: customEvents,
      basis: 'measured PutEvents entries (Batch and Step Functions events on the default bus are free)',
    },
    {
      item: 'CloudWatch Logs ingestion (GB)',
      priceKey: 'cloudwatchLogs.ingestionGb',
      quantity: logBytes / 1e9,
      basis: `handler lines measured ${Math.round(handlerLogBytes)} B + Lambda platform ${LAMBDA_PLATFORM_LOG_BYTES} B × ${lambdaRequests} + Step Functions ${sfnLogEvents} events × ${SFN_LOG_EVENT_BYTES} B + access log ${accessLogBytes} B`,
    },
    {
      item: 'CloudWatch Logs storage, first month (GB-month)',
      priceKey: 'cloudwatchLogs.storageGbMonth',
      quantity: logBytes / 1e9,
      basis: 'uncompressed size, an upper bound (storage is billed compressed)',
    },
    {
      item: 'X-Ray traces recorded',
      priceKey: 'xray.traceRecorded',
      quantity: traces,
      basis:
        'api, dispatcher, the execution (its Lambda tasks join it) and each batch-events invocation; all sampled, as at low rates (the default rule samples 1/s + 5%)',
    },
  ];
}
