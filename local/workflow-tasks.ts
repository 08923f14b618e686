/**
 * The job workflow's Task states, as local mode runs them: the Lambda tasks (Prepare,
 * SettleAttempt, Finish) invoke the same handler modules, and the Batch tasks (RunOnSpot,
 * RunOnDemand) stand in for `batch:submitJob.sync` over the local Batch, reporting as
 * lib/workflow/batch-task.ts says the integration does.
 */
import type { CapacityType } from '../core/job.js';
import { STATE } from '../core/contract/workflow.js';
import { BatchApiError, BatchJobFailedError } from '../lib/workflow/batch-task.js';
import { ClientException, type LocalBatch } from './batch/index.js';
import type { LocalEventBus } from './event-bus.js';
import type { Handlers } from './handler-environment.js';
import { BATCH_EVENTS_RULE } from './handler-rules.js';
import { LambdaFunctionError, type LambdaHandler } from './lambda-runtime.js';
import { InvalidLocalOptionError } from './options.js';
import type { ExecutionHandle, JsonValue, TaskHandler } from './step-functions.js';

type SubmitJobParameters = Parameters<LocalBatch['submitJob']>[0];
type JobDetail = Awaited<ReturnType<LocalBatch['submitJob']>['completion']>;

const BATCH_STATES: Readonly<Record<string, CapacityType>> = { [STATE.runOnSpot]: 'spot', [STATE.runOnDemand]: 'on-demand' };

export interface WorkflowTaskContext {
  readonly handlers: Handlers;
  readonly invoke: (name: string, handler: LambdaHandler, event: unknown) => Promise<unknown>;
  readonly batch: LocalBatch;
  readonly bus: LocalEventBus;
}

/** The workflow's Task states by state name, for one execution. */
export function workflowTaskHandlers(execution: ExecutionHandle, context: WorkflowTaskContext): Record<string, TaskHandler> {
  const lambdaTask =
    (name: string, handler: LambdaHandler): TaskHandler =>
    async (input) => {
      try {
        // Lambda hands the result over as JSON.
        return JSON.parse(JSON.stringify((await context.invoke(name, handler, input)) ?? null)) as JsonValue;
      } catch (error) {
        throw LambdaFunctionError.of(error);
      }
    };
  const batchTask =
    (capacity: CapacityType): TaskHandler =>
    async (input) => {
      let submitted: ReturnType<LocalBatch['submitJob']>;
      try {
        submitted = context.batch.submitJob(input as unknown as SubmitJobParameters, capacity);
      } catch (error) {
        if (error instanceof ClientException)
          throw new BatchApiError('ClientException', `${error.message} (Service: Batch, Status Code: 400)`);
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
      throw new BatchJobFailedError(output as Record<string, JsonValue>);
    };
  return {
    [STATE.prepare]: lambdaTask('prepare', context.handlers.prepare),
    [STATE.settleAttempt]: lambdaTask('settle-attempt', context.handlers.settleAttempt),
    [STATE.finish]: lambdaTask('finish', context.handlers.finish),
    ...Object.fromEntries(Object.entries(BATCH_STATES).map(([state, capacity]) => [state, batchTask(capacity)])),
  };
}

type States = Record<string, { Type: string; Parameters?: unknown }>;

/** The queue each Batch state submits to, as the definition names it. */
export function jobQueuesOf(states: States): Record<CapacityType, string> {
  const queueOf = (state: string) => {
    const queue = (states[state]?.Parameters as { JobQueue?: unknown } | undefined)?.JobQueue;
    if (typeof queue !== 'string')
      throw new InvalidLocalOptionError(`The workflow's ${state} state names no JobQueue. Received ${JSON.stringify(queue)}.`);
    return queue;
  };
  return { spot: queueOf(STATE.runOnSpot), 'on-demand': queueOf(STATE.runOnDemand) };
}

/** Throws when the definition has a Task state workflowTaskHandlers does not run. */
export function assertEveryTaskRunsLocally(states: States): void {
  const overridden: readonly string[] = [STATE.prepare, STATE.settleAttempt, STATE.finish, ...Object.keys(BATCH_STATES)];
  const missing = Object.entries(states)
    .filter(([name, state]) => state.Type === 'Task' && !overridden.includes(name))
    .map(([name]) => name);
  if (missing.length > 0) {
    throw new InvalidLocalOptionError(`The workflow has Task states local mode cannot run: ${missing.join(', ')}.`);
  }
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
