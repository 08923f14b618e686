/**
 * The lifecycle guarantees of issue 3, checked on the code that runs in production: the real
 * handler logic (prepare, batch-events, settle-attempt, finish, reconcile, the api's cancel) on
 * a real store, the DynamoJobStore against dynalite (real conditional writes) and the in-memory
 * store held to the same contract (test/store/job-store.test.ts), with EventBridge, Step
 * Functions and SQS stubbed by aws-sdk-client-mock and every accepted event recorded. Any
 * sequence of duplicated and reordered Batch events, workflow steps, cancels (the owner's, and
 * another owner's) and execution ends, some of them racing each other, with PutEvents rejecting
 * entries for a while and the failed deliveries retried, must leave a legal history:
 * - every status change allowed by core/transitions.ts, each written by one conditional transition;
 * - at most one terminal status, which never changes;
 * - exactly one terminal event exactly when the job is terminal, its debt paid;
 * - every transition announced exactly once, except a status change whose PutEvents entry was
 *   rejected on every try (it carries no debt; a terminal one only once its terminal event went
 *   out), and nothing else announced;
 * - attempts numbered 1..n without gaps, never moving back from how they ended, and none
 *   PENDING or RUNNING in any version of the record in which the job is terminal;
 * - another owner's cancel refused with 404 and without effect; the job listed under its owner
 *   and status only.
 * Runs are fixed (no time limit that would skip them on a slow machine) and the seed is fixed:
 * a failure prints the seed and path to replay, and GPUJOBS_PROPERTY_SEED runs another seed.
 */
import { EventBridgeClient, PutEventsCommand, type PutEventsCommandInput } from '@aws-sdk/client-eventbridge';
import { SFNClient, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attemptCostUsd, jobCostUsd } from '../../core/cost.js';
import { buildJobEvent } from '../../core/events.js';
import {
  JOB_STATUSES,
  isAttemptSettled,
  isTerminal,
  type AttemptStatus,
  type CapacityType,
  type JobRecord,
  type JobStatus,
} from '../../core/job.js';
import type { JobChange } from '../../core/job-change.js';
import { applyChange, type ConditionalUpdate } from '../../lambdas/shared/job-item.js';
import { newJobId } from '../../core/job-id.js';
import { ConflictError } from '../../core/ports.js';
import { STATUS_CHANGE_DETAIL_TYPE, TERMINAL_DETAIL_TYPE, canTransition } from '../../core/transitions.js';
import { batchJobName, type Outcome, type SettleAttemptInput } from '../../core/contract/workflow.js';
import { createJobApi } from '../../lambdas/api/job-api.js';
import { HttpProblem } from '../../lambdas/api/problem.js';
import { createBatchEventApplier } from '../../app/apply-batch-event.js';
import { attemptFactsFrom } from '../../lambdas/batch-events/batch-job-event.js';
import { createExecutionReconciler, endedExecutionFrom } from '../../app/reconcile-execution.js';
import { EventPublishError } from '../../core/ports.js';
import { EventPublisher } from '../../lambdas/shared/events-publisher.js';
import { NO_METRICS } from '../../core/contract/metrics.js';
import { TerminalEventBusyError, terminalEventDependencies } from '../../app/terminal-event.js';
import { createJobFinisher } from '../../app/finish-job.js';
import { createJobPreparer } from '../../app/prepare-job.js';
import { createAttemptSettler } from '../../app/settle-attempt.js';
import { apiEvent } from '../support/api-gateway.js';
import { batchJobStateChange, executionStatusChange } from '../support/aws-events.js';
import { documentClientFor, startDynalite } from '../support/dynalite.js';
import { aJobSpec } from '../support/jobs.js';
import { RecordingJobStore, RecordingMemoryJobStore, type RecordingStore, type Snapshot, type WriteLog } from './recording-job-store.js';

const STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:123456789012:stateMachine:gpujobs-job-workflow';
const OWNER = 'arn:aws:iam::123456789012:user/alice';
/** Another owner of the same account: it must never see or change alice's jobs. */
const STRANGER = 'arn:aws:iam::123456789012:user/mallory';
const CONTAINER_INSTANCE_ARN = 'arn:aws:ecs:us-east-1:123456789012:container-instance/AWSBatch-gpujobs-spot/0f1e2d3c4b5a';
const RECLAIM_REASON = 'Host EC2 (instance i-0abc123def4567890) terminated.';
const APP_ERROR_REASON = 'Essential container in task exited';
const T0 = Date.parse('2025-05-01T10:00:00.000Z');
const MINUTE = 60_000;

const eventBridgeMock = mockClient(EventBridgeClient);
const sfnMock = mockClient(SFNClient);
const sqsMock = mockClient(SQSClient);

/** Every event EventBridge accepted, by job id, in the order it accepted them. */
const acceptedEvents = new Map<string, { detailType: string; detail: Record<string, unknown> }[]>();

/** Runs, once, while a PutEvents call carrying an entry of this detail type is in flight (before it is answered). */
let whilePublishing: { readonly detailType: string; readonly run: () => Promise<unknown> } | undefined;

// ---------------------------------------------------------------------------------------------
// What can happen to a job

type BatchStatus = 'RUNNABLE' | 'STARTING' | 'RUNNING' | 'SUCCEEDED' | 'FAILED';
type SubmissionResult = 'success' | 'reclaim' | 'app-error';

type Operation =
  | { readonly kind: 'prepare' }
  /** A "Batch Job State Change" for the Batch job `gpujobs-<jobId>-<submission>`; `retriedInPlace`: Batch lists one earlier run it lost. */
  | { readonly kind: 'batch-event'; readonly submission: 1 | 2; readonly batchStatus: BatchStatus; readonly retriedInPlace: boolean }
  | { readonly kind: 'settle'; readonly submission: 1 | 2; readonly capacity: CapacityType; readonly result: SubmissionResult }
  | { readonly kind: 'finish'; readonly status: Outcome['status'] }
  | { readonly kind: 'cancel' }
  /** Another owner asks to cancel this job (a guessed or leaked job id). */
  | { readonly kind: 'stranger-cancel' }
  | { readonly kind: 'reconcile'; readonly executionStatus: 'ABORTED' | 'FAILED' };

type Step = { readonly together: readonly [Operation] | readonly [Operation, Operation] };

const submission = fc.constantFrom<1 | 2>(1, 2);

const operation: fc.Arbitrary<Operation> = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ kind: 'prepare' as const }) },
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant('batch-event' as const),
      submission,
      batchStatus: fc.constantFrom<BatchStatus>('RUNNABLE', 'STARTING', 'RUNNING', 'SUCCEEDED', 'FAILED'),
      retriedInPlace: fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('settle' as const),
      submission,
      capacity: fc.constantFrom<CapacityType>('spot', 'on-demand'),
      result: fc.constantFrom<SubmissionResult>('success', 'reclaim', 'app-error'),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('finish' as const),
      status: fc.constantFrom<Outcome['status']>('SUCCEEDED', 'FAILED', 'CANCELLED'),
    }),
  },
  { weight: 2, arbitrary: fc.constant({ kind: 'cancel' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'stranger-cancel' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('reconcile' as const),
      executionStatus: fc.constantFrom<'ABORTED' | 'FAILED'>('ABORTED', 'FAILED'),
    }),
  },
);

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: operation.map((one) => ({ together: [one] as const })) },
  // Two deliveries at once: their reads and conditional writes interleave.
  { weight: 1, arbitrary: fc.tuple(operation, operation).map((pair) => ({ together: pair })) },
);

/** `value` with the given probability, else null (which shrinks first). */
const sometimes = <T>(value: fc.Arbitrary<T>, probability: number): fc.Arbitrary<T | null> =>
  fc.oneof(
    { weight: Math.round((1 - probability) * 12), arbitrary: fc.constant(null) },
    { weight: Math.round(probability * 12), arbitrary: value },
  );

/**
 * Any operations in any order: mostly refusals, and the odd path nobody planned for. Only the
 * workflow's own order is kept, because Step Functions runs its tasks one after another: no
 * settle before a prepare, and no settle of the second submission before one of the first
 * (that would record attempt 2 on a job without attempt 1, which no execution can do).
 */
const anySteps = fc.array(step, { minLength: 1, maxLength: 14 }).map((steps): Step[] => {
  let prepared = false;
  let firstSettled = false;
  const possible = (op: Operation): boolean => {
    if (op.kind === 'prepare') prepared = true;
    if (op.kind !== 'settle') return true;
    if (!prepared || (op.submission === 2 && !firstSettled)) return false;
    firstSettled ||= op.submission === 1;
    return true;
  };
  return steps.flatMap(({ together }): Step[] => {
    const kept = together.filter(possible);
    return kept.length === 0 ? [] : [{ together: kept as [Operation] | [Operation, Operation] }];
  });
});

/**
 * A run of the workflow as it would go (prepare, each submission's Batch events and settle,
 * finish), then delivered the way AWS delivers: Batch events late, early and twice, workflow
 * steps retried, an owner's cancel at any moment (its execution then stopped, or not), the
 * execution failing at any moment, and neighbouring deliveries racing each other.
 */
const workflowRun = fc
  .record({
    firstEnding: fc.constantFrom<SubmissionResult>('success', 'reclaim', 'app-error'),
    secondEnding: fc.constantFrom<SubmissionResult>('success', 'reclaim', 'app-error'),
    secondCapacity: fc.constantFrom<CapacityType>('spot', 'on-demand'),
    retriedInPlace: fc.boolean(),
    /** Slots each delivery arrives after its due time (Batch events only: the workflow is sequential). */
    lateBy: fc.array(fc.integer({ min: -1, max: 4 }), { minLength: 16, maxLength: 16 }),
    /** Slots after which a delivery comes again; null: once. */
    againAfter: fc.array(sometimes(fc.nat({ max: 6 }), 1 / 4), { minLength: 16, maxLength: 16 }),
    cancelAt: sometimes(fc.nat({ max: 14 }), 1 / 2),
    /** Whether the cancel stopped the execution (else StopExecution found nothing to stop yet). */
    cancelStopsExecution: fc.boolean(),
    executionFailsAt: sometimes(fc.nat({ max: 14 }), 1 / 5),
    strangerCancelAt: sometimes(fc.nat({ max: 14 }), 1 / 5),
    /** Whether each delivery races the next one. */
    racesNext: fc.array(
      sometimes(fc.constant(true), 1 / 3).map((races) => races === true),
      { minLength: 24, maxLength: 24 },
    ),
  })
  .map((run): Step[] => {
    const due: { readonly op: Operation; readonly slot: number; readonly workflow: boolean }[] = [];
    const add = (op: Operation, workflow: boolean) => due.push({ op, slot: due.length, workflow });
    const submit = (number: 1 | 2, capacity: CapacityType, ending: SubmissionResult) => {
      for (const batchStatus of ['RUNNABLE', 'STARTING', 'RUNNING', ending === 'success' ? 'SUCCEEDED' : 'FAILED'] as const) {
        add(
          { kind: 'batch-event', submission: number, batchStatus, retriedInPlace: run.retriedInPlace && batchStatus !== 'RUNNABLE' },
          false,
        );
      }
      add({ kind: 'settle', submission: number, capacity, result: ending }, true);
    };
    add({ kind: 'prepare' }, true);
    submit(1, 'spot', run.firstEnding);
    const lastEnding = run.firstEnding === 'reclaim' ? run.secondEnding : run.firstEnding;
    if (run.firstEnding === 'reclaim') submit(2, run.secondCapacity, run.secondEnding);
    add({ kind: 'finish', status: lastEnding === 'success' ? 'SUCCEEDED' : 'FAILED' }, true);

    // Once the execution ends, the workflow takes no further step (one already running still finishes).
    const executionEndsAt = Math.min(
      run.cancelAt !== null && run.cancelStopsExecution ? run.cancelAt : Infinity,
      run.executionFailsAt ?? Infinity,
    );
    const deliveries: { readonly op: Operation; readonly time: number }[] = [];
    due.forEach(({ op, slot, workflow }, index) => {
      if (workflow && slot > executionEndsAt + 1) return;
      const time = 10 * slot + (workflow ? 0 : 10 * (run.lateBy[index % run.lateBy.length] ?? 0));
      deliveries.push({ op, time });
      const again = run.againAfter[index % run.againAfter.length];
      if (again !== null && again !== undefined) deliveries.push({ op, time: time + 10 * again + 5 });
    });
    if (run.cancelAt !== null) {
      deliveries.push({ op: { kind: 'cancel' }, time: 10 * run.cancelAt + 3 });
      if (run.cancelStopsExecution)
        deliveries.push({ op: { kind: 'reconcile', executionStatus: 'ABORTED' }, time: 10 * run.cancelAt + 14 });
    }
    if (run.strangerCancelAt !== null) deliveries.push({ op: { kind: 'stranger-cancel' }, time: 10 * run.strangerCancelAt + 7 });
    if (run.executionFailsAt !== null)
      deliveries.push({ op: { kind: 'reconcile', executionStatus: 'FAILED' }, time: 10 * run.executionFailsAt + 14 });

    const ordered = deliveries.sort((left, right) => left.time - right.time).map(({ op }) => op);
    const steps: Step[] = [];
    for (let index = 0; index < ordered.length; index++) {
      const next = ordered[index + 1];
      if (next !== undefined && run.racesNext[index % run.racesNext.length]) {
        steps.push({ together: [ordered[index]!, next] });
        index++;
      } else {
        steps.push({ together: [ordered[index]!] });
      }
    }
    return steps;
  });

const scenario = fc.record({
  steps: fc.oneof({ weight: 3, arbitrary: workflowRun }, { weight: 1, arbitrary: anySteps }),
  /** Event-loop turns the store waits before each call: which racing read or write lands first. */
  delays: fc.array(fc.nat({ max: 3 }), { minLength: 1, maxLength: 16 }),
  /**
   * A spell of PutEvents calls (counted from the history's first) that reject entries: all of a
   * call's entries, or only its first (the publisher resends just those), or the whole call fails
   * (the SDK gave up on it). Four rejections in a row exhaust the publisher's tries; then, or on a
   * failed call, the delivery fails, to be retried as AWS retries it.
   */
  outage: sometimes(
    fc.record({
      from: fc.nat({ max: 24 }),
      calls: fc.integer({ min: 1, max: 9 }),
      rejects: fc.constantFrom<'every-entry' | 'first-entry' | 'whole-call'>('every-entry', 'first-entry', 'whole-call'),
    }),
    1 / 3,
  ),
});

// ---------------------------------------------------------------------------------------------
// The inputs as AWS delivers them

const runStartedAt = (submissionNumber: number, run: number) => T0 + (submissionNumber * 10 + run * 3) * MINUTE;

/** A run Batch ended and retried in place after losing its host. */
const lostRun = (submissionNumber: number) => ({
  container: { containerInstanceArn: CONTAINER_INSTANCE_ARN, logStreamName: `gpujobs/default/s${submissionNumber}-run0` },
  startedAt: runStartedAt(submissionNumber, 0),
  stoppedAt: runStartedAt(submissionNumber, 0) + MINUTE,
  statusReason: RECLAIM_REASON,
});

function batchStateChange(jobId: string, { submission: number, batchStatus, retriedInPlace }: Extract<Operation, { kind: 'batch-event' }>) {
  const earlierRuns = retriedInPlace ? [lostRun(number)] : [];
  const run = earlierRuns.length;
  const container = { containerInstanceArn: CONTAINER_INSTANCE_ARN, logStreamName: `gpujobs/default/s${number}-run${run}` };
  const started = { startedAt: runStartedAt(number, run), container };
  const stopped = runStartedAt(number, run) + 2 * MINUTE;
  const detailByStatus: Record<BatchStatus, Record<string, unknown>> = {
    RUNNABLE: { attempts: earlierRuns },
    STARTING: { attempts: earlierRuns },
    RUNNING: { ...started, attempts: earlierRuns },
    SUCCEEDED: {
      ...started,
      stoppedAt: stopped,
      container: { ...container, exitCode: 0 },
      attempts: [...earlierRuns, { container: { ...container, exitCode: 0 }, startedAt: started.startedAt, stoppedAt: stopped }],
    },
    FAILED: {
      ...started,
      stoppedAt: stopped,
      statusReason: RECLAIM_REASON,
      attempts: [...earlierRuns, { container, startedAt: started.startedAt, stoppedAt: stopped, statusReason: RECLAIM_REASON }],
    },
  };
  return batchJobStateChange(
    batchJobName(jobId, number),
    batchStatus,
    { jobId: `batch-${number}`, retryStrategy: { attempts: 3 }, ...detailByStatus[batchStatus] },
    new Date(T0).toISOString(),
  );
}

/** What `submitJob.sync` hands settle-attempt: the job detail (PascalCase), or the caught failure around it. */
function submissionResult(jobId: string, number: number, result: SubmissionResult): SettleAttemptInput['attemptResult'] {
  const startedAt = runStartedAt(number, 0);
  const stoppedAt = startedAt + 2 * MINUTE;
  const container = { ContainerInstanceArn: CONTAINER_INSTANCE_ARN, LogStreamName: `gpujobs/default/s${number}-run0` };
  const detail = (status: 'SUCCEEDED' | 'FAILED', fields: { StatusReason?: string; ExitCode?: number }) => ({
    JobId: `batch-${number}`,
    JobName: batchJobName(jobId, number),
    Status: status,
    ...(fields.StatusReason === undefined ? {} : { StatusReason: fields.StatusReason }),
    StartedAt: startedAt,
    StoppedAt: stoppedAt,
    Container: { ...container, ...(fields.ExitCode === undefined ? {} : { ExitCode: fields.ExitCode }) },
    Attempts: [
      {
        Container: { ...container, ...(fields.ExitCode === undefined ? {} : { ExitCode: fields.ExitCode }) },
        StartedAt: startedAt,
        StoppedAt: stoppedAt,
        ...(fields.StatusReason === undefined ? {} : { StatusReason: fields.StatusReason }),
      },
    ],
  });
  const failedTask = (jobDetail: object) => ({ Error: 'States.TaskFailed', Cause: JSON.stringify(jobDetail) });
  switch (result) {
    case 'success':
      return detail('SUCCEEDED', { ExitCode: 0 });
    case 'reclaim':
      return failedTask(detail('FAILED', { StatusReason: RECLAIM_REASON }));
    case 'app-error':
      return failedTask(detail('FAILED', { StatusReason: APP_ERROR_REASON, ExitCode: 1 }));
  }
}

function executionEnded(jobId: string, status: 'ABORTED' | 'FAILED') {
  const failure = status === 'FAILED' ? { error: 'States.TaskFailed', cause: 'The Finish task failed.' } : {};
  return executionStatusChange({ stateMachineArn: STATE_MACHINE_ARN, jobId, status, startDate: T0, ...failure });
}

// ---------------------------------------------------------------------------------------------
// The handlers, wired as their entry points wire them, on one recording store

/** One history: its job and that job's owner (one owner per history, so its listings hold only this job). */
interface History {
  readonly jobId: string;
  readonly owner: string;
}

/** A store under test, the handlers wired on it, and how to let it go. */
interface World {
  readonly store: RecordingStore;
  readonly handlers: ReturnType<typeof wireHandlers>;
  readonly stop: () => Promise<void>;
}

/** Jobs whose cancel could not publish the terminal event: the api logs it, and the owner's repeated cancel pays it. */
const cancelPublishFailed = new Set<string>();

function wireHandlers(jobStore: RecordingStore) {
  const publisher = new EventPublisher(new EventBridgeClient({}), 'gpujobs-test-bus', { sleep: async () => undefined });
  const statusChanges = {
    publish: (events: Parameters<EventPublisher['publish']>[0]) => publisher.publish(events),
    buildEvents: buildJobEvent,
    now: () => new Date().toISOString(),
  };
  const terminalEvents = terminalEventDependencies(jobStore, publisher);
  const instanceTypeOf = async () => 'g5.xlarge';
  const attemptCost = (attempt: Parameters<typeof attemptCostUsd>[0]) => attemptCostUsd(attempt)?.costUsd;
  const jobCost = (record: { attempts: Parameters<typeof jobCostUsd>[0] }) => jobCostUsd(record.attempts);
  return {
    prepare: createJobPreparer({
      ...statusChanges,
      store: jobStore,
      allowedRegistries: [],
      resolveJobDefinition: async () => 'arn:aws:batch:us-east-1:123456789012:job-definition/gpujobs-test-abc:1',
      explainRegistrationFailure: () => undefined,
    }),
    applyBatchEvent: createBatchEventApplier({
      ...statusChanges,
      store: jobStore,
      instanceTypeOf,
      attemptCostUsd: attemptCost,
      metrics: NO_METRICS,
    }),
    settle: createAttemptSettler({
      ...statusChanges,
      store: jobStore,
      instanceTypeOf,
      onLookupFailure: () => undefined,
      attemptCostUsd: attemptCost,
      jobCostUsd: jobCost,
      terminalEvents,
      metrics: NO_METRICS,
    }),
    finish: createJobFinisher({ store: jobStore, terminalEvents, jobCostUsd: jobCost, now: statusChanges.now, metrics: NO_METRICS }),
    reconcile: createExecutionReconciler({
      store: jobStore,
      terminalEvents,
      jobCostUsd: jobCost,
      now: statusChanges.now,
      metrics: NO_METRICS,
    }),
    api: createJobApi({
      store: jobStore,
      sqs: new SQSClient({}),
      sfn: new SFNClient({}),
      logs: { readPage: async () => ({ lines: [] }) },
      terminalEvents,
      metrics: NO_METRICS,
      config: {
        intakeQueueUrl: 'https://sqs.us-east-1.amazonaws.com/123456789012/gpujobs-intake',
        stateMachineArn: STATE_MACHINE_ARN,
        allowedRegistries: [],
        jobShapes: [{ label: 'any job', gpus: 8, vcpus: 192, memoryMiB: 2_000_000 }],
        localMode: false,
        ownerIdentity: 'session',
      },
      newJobId: () => newJobId(),
      now: statusChanges.now,
      logger: {
        warn: () => undefined,
        error: (_message: string, ...extra: unknown[]) => {
          const context = extra[0] as { jobId?: unknown } | undefined;
          if (typeof context?.jobId === 'string') cancelPublishFailed.add(context.jobId);
        },
      },
    }),
  };
}

/** The answer of a delivery whose PutEvents was rejected on every try: AWS delivers it again. */
const PUBLISH_FAILED = 'publish failed';

/** What one delivery came to: a handler's own answer, or the refusal it is allowed to give. */
async function perform(world: World, { jobId, owner }: History, op: Operation): Promise<string> {
  const { handlers } = world;
  try {
    switch (op.kind) {
      case 'prepare':
        return `plan ${(await handlers.prepare({ jobId })).plan.next}`;
      case 'batch-event': {
        const facts = attemptFactsFrom(batchStateChange(jobId, op));
        if (!facts) throw new Error(`The Batch event for ${JSON.stringify(op)} was not read as one of ours.`);
        return await handlers.applyBatchEvent(facts);
      }
      case 'settle':
        return `plan ${(await handlers.settle({ jobId, attempt: op.submission, capacity: op.capacity, attemptResult: submissionResult(jobId, op.submission, op.result) })).next}`;
      case 'finish': {
        const outcome: Outcome =
          op.status === 'SUCCEEDED'
            ? { status: 'SUCCEEDED', exitCode: 0 }
            : { status: op.status, statusReason: `Outcome ${op.status}`, ...(op.status === 'FAILED' ? { exitCode: 1 } : {}) };
        return (await handlers.finish({ jobId, outcome })).transitioned ? 'finished' : 'already finished';
      }
      case 'cancel': {
        cancelPublishFailed.delete(jobId);
        const response = await handlers.api.handle(
          apiEvent({ method: 'POST', path: `/v1/jobs/${jobId}/cancel`, principalArn: owner }) as never,
        );
        if (response.statusCode !== 202) throw new Error(`Cancel answered ${response.statusCode}: ${String(response.body)}`);
        // The cancel stands, and the owner, who saw no cancelled event, cancels again.
        return cancelPublishFailed.delete(jobId) ? PUBLISH_FAILED : 'cancel accepted';
      }
      case 'stranger-cancel': {
        // Another owner's job does not exist for the caller: 404, never 409 (which would confirm it exists).
        const refusal = await handlers.api
          .handle(apiEvent({ method: 'POST', path: `/v1/jobs/${jobId}/cancel`, principalArn: STRANGER }) as never)
          .then(
            (response) => new Error(`Another owner's cancel answered ${response.statusCode}: ${String(response.body)}`),
            (error: unknown) => error,
          );
        if (refusal instanceof HttpProblem && refusal.statusCode === 404) return 'not found';
        throw refusal;
      }
      case 'reconcile': {
        const execution = endedExecutionFrom(executionEnded(jobId, op.executionStatus));
        if (!execution) throw new Error(`The ${op.executionStatus} execution event was not read as an end.`);
        return await handlers.reconcile(execution);
      }
    }
  } catch (error) {
    // Losing a conditional write, or cancelling a finished job (409), is an answer; anything else is a failure.
    if (error instanceof ConflictError) return 'conflict';
    // Another invocation holds the claim to publish the terminal event; in AWS this one is retried later.
    if (error instanceof TerminalEventBusyError) return 'busy';
    if (error instanceof HttpProblem && (error.statusCode === 409 || error.statusCode === 503)) return `http ${error.statusCode}`;
    if (error instanceof EventPublishError || error instanceof PutEventsCallFailed) return PUBLISH_FAILED;
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// EventBridge: every accepted entry recorded, and a spell of calls that reject entries

type Outage = NonNullable<Scenario['outage']>;
type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

/** The PutEvents calls of the history being run, and the spell of them that reject entries. */
const putEvents: { calls: number; outage: Outage | null } = { calls: 0, outage: null };

/** A PutEvents call that failed as a whole, as the SDK reports a call it gave up retrying. */
class PutEventsCallFailed extends Error {
  override readonly name = 'InternalException';
}

/** Status changes (`from → to`) whose entry PutEvents rejected at least once, by job id. */
const rejectedChanges = new Map<string, string[]>();

function answerPutEvents(input: PutEventsCommandInput) {
  const entries = input.Entries ?? [];
  const call = putEvents.calls++;
  const { outage } = putEvents;
  const rejecting = outage !== null && call >= outage.from && call < outage.from + outage.calls;
  const rejected = entries.map((_, position) => rejecting && (outage.rejects !== 'first-entry' || position === 0));
  entries.forEach((entry, position) => {
    const detail = JSON.parse(entry.Detail ?? '{}') as Record<string, unknown>;
    const jobId = String(detail.jobId);
    if (!rejected[position]) {
      acceptedEvents.set(jobId, [...(acceptedEvents.get(jobId) ?? []), { detailType: entry.DetailType ?? '', detail }]);
    } else if (entry.DetailType === STATUS_CHANGE_DETAIL_TYPE) {
      rejectedChanges.set(jobId, [...(rejectedChanges.get(jobId) ?? []), `${String(detail.previousStatus)} → ${String(detail.status)}`]);
    }
  });
  if (rejecting && outage.rejects === 'whole-call')
    throw new PutEventsCallFailed('PutEvents failed as a whole (injected by the property test).');
  return {
    FailedEntryCount: rejected.filter(Boolean).length,
    Entries: entries.map((_, position) =>
      rejected[position]
        ? { ErrorCode: 'InternalFailure', ErrorMessage: 'Rejected by the property test.' }
        : { EventId: `event-${call}-${position}` },
    ),
  };
}

// ---------------------------------------------------------------------------------------------
// What must hold

/** A later status of one attempt, seen after `earlier`: a settled status never changes, and a running attempt never waits again. */
function attemptMoveIsForward(earlier: AttemptStatus, later: AttemptStatus): boolean {
  if (earlier === later) return true;
  if (isAttemptSettled(earlier)) return false;
  return !(earlier === 'RUNNING' && later === 'PENDING');
}

interface Observed {
  readonly status: JobStatus;
  readonly attempts: ReadonlyMap<number, AttemptStatus>;
}

/** `after` is a state the job may reach from `before`: a terminal status stays, attempts only move forward and never vanish. */
function expectForward(before: Observed, after: Observed, where: string): void {
  if (isTerminal(before.status)) expect(after.status, `${where}: a ${before.status} job changed status`).toBe(before.status);
  for (const [number, status] of before.attempts) {
    const later = after.attempts.get(number);
    expect(later, `${where}: attempt ${number} disappeared`).toBeDefined();
    expect(attemptMoveIsForward(status, later!), `${where}: attempt ${number} went from ${status} to ${later}`).toBe(true);
  }
}

/** One version of the record on its own: attempts numbered 1..n, and none left open once the job is terminal. */
function expectSoundVersion(snapshot: Pick<Snapshot, 'status' | 'attempts'>, where: string): void {
  const numbers = snapshot.attempts.map((attempt) => attempt.attempt).sort((left, right) => left - right);
  expect(numbers, `${where}: attempts numbered 1..n`).toEqual(numbers.map((_, position) => position + 1));
  if (isTerminal(snapshot.status)) {
    const open = snapshot.attempts.filter((attempt) => !isAttemptSettled(attempt.status));
    expect(open, `${where}: attempts still open on a ${snapshot.status} job`).toEqual([]);
  }
}

const observe = (record: { status: JobStatus; attempts: readonly { attempt: number; status: AttemptStatus }[] }): Observed => ({
  status: record.status,
  attempts: new Map(record.attempts.map((attempt) => [attempt.attempt, attempt.status])),
});

/** An order of the status-change events that walks from QUEUED to `end`, one event after another: the announced history. */
function announcedChain(changes: readonly (readonly [JobStatus, JobStatus])[], end: JobStatus): JobStatus[] | undefined {
  const used = changes.map(() => false);
  const path: JobStatus[] = ['QUEUED'];
  const walk = (at: JobStatus, left: number): boolean => {
    if (left === 0) return at === end;
    for (let index = 0; index < changes.length; index++) {
      const [from, to] = changes[index]!;
      if (used[index] || from !== at) continue;
      used[index] = true;
      path.push(to);
      if (walk(to, left - 1)) return true;
      path.pop();
      used[index] = false;
    }
    return false;
  };
  return walk('QUEUED', changes.length) ? path : undefined;
}

function expectLegalWriteLog(log: WriteLog): { readonly transitions: readonly (readonly [JobStatus, JobStatus])[] } {
  const versions = [...log.snapshots.keys()].sort((left, right) => left - right);
  expect(versions[0], 'the job was created at version 1').toBe(1);
  expect(log.snapshots.get(1)?.status).toBe('QUEUED');
  for (const version of versions) expectSoundVersion(log.snapshots.get(version)!, `version ${version}`);
  // Every state the record was ever in (each write's state before and after), in the order written.
  for (let index = 1; index < versions.length; index++) {
    const before = log.snapshots.get(versions[index - 1]!)!;
    const after = log.snapshots.get(versions[index]!)!;
    const where = `version ${versions[index - 1]} → ${versions[index]}`;
    expectForward(observe(before), observe(after), where);
    if (before.status !== after.status) {
      expect(
        log.transitionVersions.has(versions[index]!) && versions[index] === versions[index - 1]! + 1,
        `${where}: ${before.status} → ${after.status} was not one conditional transition`,
      ).toBe(true);
    }
  }
  const transitions = [...log.transitionVersions]
    .sort((left, right) => left - right)
    .map((version) => {
      const before = log.snapshots.get(version - 1);
      const after = log.snapshots.get(version)!;
      expect(before, `the state before the transition to version ${version} was read by the writer`).toBeDefined();
      return [before!.status, after.status] as const;
    });
  for (const [from, to] of transitions) expect(canTransition(from, to), `written ${from} → ${to}`).toBe(true);
  return { transitions };
}

const transitionKey = ([from, to]: readonly [JobStatus, JobStatus]) => `${from} → ${to}`;

/** `left` without one occurrence of each element of `right`. */
function without(left: readonly string[], right: readonly string[]): string[] {
  const rest = [...left];
  for (const element of right) {
    const position = rest.indexOf(element);
    if (position !== -1) rest.splice(position, 1);
  }
  return rest;
}

/**
 * A failed delivery comes again at once (Step Functions' Retry, EventBridge retrying its target,
 * the owner cancelling again). Each failed delivery uses up at least one of the spell's nine
 * calls at most, so the tenth delivery always finds PutEvents working again.
 */
const MAX_DELIVERIES = 10;

/** One history: the job created, every step delivered (failed deliveries again), then everything that must hold. */
async function runHistory(world: World, history: History, { steps, delays, outage }: Scenario): Promise<void> {
  const { store } = world;
  const { jobId, owner } = history;
  putEvents.calls = 0;
  putEvents.outage = outage;
  // GIVEN a job just submitted (QUEUED), on a fresh id and a fresh owner
  const created = await store.createJob({ jobId, owner, spec: aJobSpec({ tags: { team: 'ml' } }), now: new Date().toISOString() });
  if (created.kind !== 'created') throw new Error(`Creating job ${jobId} gave ${created.kind}.`);
  store.delayCallsBy(delays);
  let seen = observe(created.job);

  // WHEN each step is delivered (a pair at once), read back after every step
  for (const [index, { together }] of steps.entries()) {
    let deliveries: readonly Operation[] = together;
    for (let delivery = 1; deliveries.length > 0; delivery++) {
      if (delivery > MAX_DELIVERIES)
        throw new Error(`Step ${index} still failed to publish after ${MAX_DELIVERIES} deliveries: ${JSON.stringify(deliveries)}.`);
      const answers = await Promise.all(deliveries.map((op) => perform(world, history, op)));
      const current = (await store.getJob(jobId))!;
      const where = `after step ${index}, delivery ${delivery} (${JSON.stringify(deliveries)} answered ${JSON.stringify(answers)})`;
      const now = observe(current);
      expectForward(seen, now, where);
      expectSoundVersion(current, where);
      seen = now;
      deliveries = deliveries.filter((_, position) => answers[position] === PUBLISH_FAILED);
    }
  }
  store.delayCallsBy([0]);

  // THEN the record's whole history (every version written) is legal
  const record = (await store.getJob(jobId))!;
  const { transitions } = expectLegalWriteLog(store.writeLog(jobId));
  const terminalWrites = transitions.filter(([, to]) => isTerminal(to));
  expect(terminalWrites.length, 'terminal transitions written').toBe(isTerminal(record.status) ? 1 : 0);

  // AND exactly one terminal event exactly when the job is terminal, saying what the record says
  const events = acceptedEvents.get(jobId) ?? [];
  const terminalEvents = events.filter((event) => event.detailType !== STATUS_CHANGE_DETAIL_TYPE);
  if (isTerminal(record.status)) {
    expect(terminalEvents.map((event) => [event.detailType, event.detail.status])).toEqual([
      [TERMINAL_DETAIL_TYPE[record.status], record.status],
    ]);
    expect(terminalEvents[0]?.detail.previousStatus).toBe(terminalWrites[0]?.[0]);
    expect(record.terminalEvent?.published, 'the terminal event debt is paid').toBe(true);
  } else {
    expect(terminalEvents).toEqual([]);
    expect(record.terminalEvent).toBeUndefined();
  }

  // AND every written transition was announced once, and nothing else was; only a status change
  // whose every PutEvents try was rejected may go unannounced (it carries no debt; the terminal
  // event that goes with a terminal one was checked above)
  const changes = events
    .filter((event) => event.detailType === STATUS_CHANGE_DETAIL_TYPE)
    .map((event) => [event.detail.previousStatus as JobStatus, event.detail.status as JobStatus] as const);
  for (const change of changes) expect(canTransition(...change), `announced ${transitionKey(change)}`).toBe(true);
  const announced = changes.map(transitionKey);
  const written = transitions.map(transitionKey);
  expect(without(announced, written), `announced without being written, or twice (written: ${written.join(', ')})`).toEqual([]);
  const unannounced = without(written, announced);
  const rejected = rejectedChanges.get(jobId) ?? [];
  for (const key of unannounced) {
    expect(rejected.includes(key), `${key} was written and never announced`).toBe(true);
  }
  if (unannounced.length === 0) {
    expect(
      announcedChain(changes, record.status),
      `announced changes ${announced.join(', ')} form one chain to ${record.status}`,
    ).toBeDefined();
  }

  // AND the job is listed for its owner under its status, and for nobody else
  expect((await store.listJobs({ owner, status: record.status, limit: 10 })).jobs.map((job) => job.jobId)).toEqual([jobId]);
  expect((await store.listJobs({ owner: STRANGER, limit: 10 })).jobs).toEqual([]);

  acceptedEvents.delete(jobId);
  rejectedChanges.delete(jobId);
  store.forget(jobId);
}

// ---------------------------------------------------------------------------------------------

/** The seed every run of `npm test` uses; GPUJOBS_PROPERTY_SEED replays another (fast-check prints the seed and path of a failure). */
const PROPERTY_SEED = propertySeed(process.env.GPUJOBS_PROPERTY_SEED);

function propertySeed(value: string | undefined): number {
  if (value === undefined || value === '') return 20_260_301;
  const seed = Number(value);
  if (!Number.isSafeInteger(seed)) throw new RangeError(`GPUJOBS_PROPERTY_SEED must be an integer. Received ${value}.`);
  return seed;
}

/**
 * Mutation testing (stryker.config.json) runs this file once per mutant, so it divides the number
 * of histories (vitest.mutation.config.ts sets GPUJOBS_PROPERTY_HISTORIES_DIVISOR); `npm test` never sets it.
 */
const HISTORIES_DIVISOR = historiesDivisor(process.env.GPUJOBS_PROPERTY_HISTORIES_DIVISOR);

function historiesDivisor(value: string | undefined): number {
  if (value === undefined || value === '') return 1;
  const divisor = Number(value);
  if (!Number.isSafeInteger(divisor) || divisor < 1)
    throw new RangeError(`GPUJOBS_PROPERTY_HISTORIES_DIVISOR must be a positive integer. Received ${value}.`);
  return divisor;
}

const STORES: readonly {
  readonly name: string;
  readonly histories: number;
  readonly timeoutMs: number;
  readonly start: () => Promise<RecordingStore & { stop?: () => Promise<void> }>;
}[] = [
  { name: 'the in-memory store', histories: 10_000, timeoutMs: 600_000, start: async () => new RecordingMemoryJobStore() },
  {
    name: 'the DynamoJobStore on dynalite',
    histories: 200,
    timeoutMs: 600_000,
    start: async () => {
      const dynamo = await startDynalite();
      const documentClient = documentClientFor(dynamo.endpoint);
      return Object.assign(new RecordingJobStore(documentClient, dynamo.tableName), {
        stop: async () => {
          documentClient.destroy();
          await dynamo.stop();
        },
      });
    },
  },
];

beforeAll(() => {
  eventBridgeMock.reset();
  eventBridgeMock.on(PutEventsCommand).callsFake(async (input: PutEventsCommandInput) => {
    const hook = whilePublishing;
    if (hook && (input.Entries ?? []).some((entry) => entry.DetailType === hook.detailType)) {
      whilePublishing = undefined;
      await hook.run();
    }
    return answerPutEvents(input);
  });
  sfnMock.reset();
  sfnMock.on(StopExecutionCommand).resolves({ stopDate: new Date() });
  sqsMock.reset();
  sqsMock.on(SendMessageCommand).resolves({ MessageId: 'message-1' });
});

/** The lifecycle property: every history on a fresh job of a fresh owner keeps every guarantee. */
function lifecycleProperty(world: World) {
  let historyNumber = 0;
  return fc.asyncProperty(scenario, async (run) => {
    putEvents.outage = null;
    const history = { jobId: newJobId(), owner: `arn:aws:iam::123456789012:user/alice-${++historyNumber}` };
    await runHistory(world, history, run);
  });
}

/**
 * The attack report's mutant M9, for a store whose writes are pinned to the record read: attempt
 * writes land on the job as it is now rather than as their writer read it, even once it is terminal.
 */
class AttemptsWritableOnTerminalJobs extends RecordingMemoryJobStore {
  override async update(current: JobRecord, change: JobChange) {
    if (change.to !== undefined) return super.update(current, change);
    const fresh = (await this.getJob(current.jobId)) ?? current;
    const conditionalUpdate = (this as unknown as { conditionalUpdate: ConditionalUpdate }).conditionalUpdate.bind(this);
    return applyChange({ ...fresh, status: 'RUNNING' }, change, (jobId, _version, fields, condition) =>
      conditionalUpdate(jobId, fresh.version, fields, { ...condition, allowedStatuses: JOB_STATUSES }),
    );
  }
}

describe('the lifecycle property on a store that breaks a guarantee', () => {
  it('fails when attempts stay writable on a terminal job (the property can fail)', async () => {
    // GIVEN the handlers on a store that ignores the terminal-job guard on attempt writes
    const store = new AttemptsWritableOnTerminalJobs();
    const world: World = { store, handlers: wireHandlers(store), stop: async () => undefined };

    // WHEN the property runs on it, without shrinking
    const result = await fc.check(lifecycleProperty(world), { numRuns: 2_000, seed: PROPERTY_SEED, endOnFailure: true });
    putEvents.outage = null;

    // THEN a history leaves an attempt open on a terminal job (a late Batch event's new attempt)
    expect(result.failed).toBe(true);
    expect(String(result.errorInstance)).toMatch(/attempts still open on a (SUCCEEDED|FAILED|CANCELLED) job/);
  });
});

describe.each(STORES.map((store) => ({ ...store, histories: Math.ceil(store.histories / HISTORIES_DIVISOR) })))(
  'on $name',
  ({ histories, timeoutMs, start }) => {
    let world: World;

    beforeAll(async () => {
      const store = await start();
      world = { store, handlers: wireHandlers(store), stop: async () => store.stop?.() };
    });

    afterAll(async () => {
      await world?.stop();
    });

    describe('a job under any interleaving of Batch events, workflow steps, cancels, execution ends and rejected PutEvents', () => {
      it(
        `keeps a legal history with at most one terminal status, announced by exactly one terminal event (${histories} histories, seed ${PROPERTY_SEED})`,
        async () => {
          try {
            await fc.assert(lifecycleProperty(world), { numRuns: histories, seed: PROPERTY_SEED });
          } finally {
            putEvents.outage = null;
          }
        },
        timeoutMs,
      );
    });

    /** A job whose first attempt runs on Spot: prepared, and Batch said RUNNING. */
    async function runningJob(): Promise<History> {
      const history = { jobId: newJobId(), owner: OWNER };
      await world.store.createJob({ jobId: history.jobId, owner: OWNER, spec: aJobSpec(), now: new Date().toISOString() });
      await perform(world, history, { kind: 'prepare' });
      await perform(world, history, { kind: 'batch-event', submission: 1, batchStatus: 'RUNNING', retriedInPlace: false });
      expect((await world.store.getJob(history.jobId))?.status).toBe('RUNNING');
      return history;
    }

    const terminalEventsOf = (jobId: string) =>
      (acceptedEvents.get(jobId) ?? []).filter((event) => event.detailType !== STATUS_CHANGE_DETAIL_TYPE);

    describe('the terminal event when PutEvents accepts part of it', () => {
      // payTerminalEventDebt sends the status change and the terminal event in one publish; when only
      // the status-change entry is rejected on every try, the debt (the terminal event) is paid, so no
      // retry sends the accepted terminal event a second time.
      it("announces a job's end once when only its status-change entry was rejected on every try", async () => {
        // GIVEN a running job, and PutEvents rejecting the first entry of the next four calls
        const history = await runningJob();
        putEvents.calls = 0;
        putEvents.outage = { from: 0, calls: 4, rejects: 'first-entry' };

        // WHEN finish publishes the job's success, and Step Functions runs it again
        try {
          expect(await perform(world, history, { kind: 'finish', status: 'SUCCEEDED' })).not.toBe(PUBLISH_FAILED);
          expect(await perform(world, history, { kind: 'finish', status: 'SUCCEEDED' })).not.toBe(PUBLISH_FAILED);
        } finally {
          putEvents.outage = null;
        }

        // THEN the job's end was announced once and its debt paid; only its status change is lost
        expect(terminalEventsOf(history.jobId).map((event) => event.detailType)).toEqual(['GPU Job Succeeded']);
        expect((await world.store.getJob(history.jobId))?.terminalEvent?.published).toBe(true);
      });
    });

    describe('the terminal event when two handlers find it owed at once', () => {
      it('announces a cancel once when the owner cancels again while reconcile is publishing it', async () => {
        // GIVEN a running job its owner cancelled (the cancel was recorded and its execution stopped)
        const history = await runningJob();
        expect(await perform(world, history, { kind: 'cancel' })).toBe('cancel accepted');
        // AND the owner cancels again (a retry, a second click) while reconcile publishes the job's end
        whilePublishing = { detailType: 'GPU Job Cancelled', run: () => perform(world, history, { kind: 'cancel' }) };

        // WHEN the execution's ABORTED event is reconciled
        expect(await perform(world, history, { kind: 'reconcile', executionStatus: 'ABORTED' })).toBe('cancelled');

        // THEN the job is CANCELLED with one terminal event
        expect((await world.store.getJob(history.jobId))?.status).toBe('CANCELLED');
        expect(terminalEventsOf(history.jobId).map((event) => event.detailType)).toEqual(['GPU Job Cancelled']);
      });

      it('announces a finish once when its stopped execution is reconciled while finish is still publishing', async () => {
        // GIVEN a running job its owner cancelled, whose Finish task was already running: stopping the
        // execution does not stop a Lambda invocation in flight, and the first terminal write wins
        const history = await runningJob();
        expect(await perform(world, history, { kind: 'cancel' })).toBe('cancel accepted');
        // AND the ABORTED execution is reconciled while finish publishes the job's end
        whilePublishing = {
          detailType: 'GPU Job Succeeded',
          run: () => perform(world, history, { kind: 'reconcile', executionStatus: 'ABORTED' }),
        };

        // WHEN finish writes the job's success
        expect(await perform(world, history, { kind: 'finish', status: 'SUCCEEDED' })).toBe('finished');

        // THEN the job is SUCCEEDED with one terminal event
        expect((await world.store.getJob(history.jobId))?.status).toBe('SUCCEEDED');
        expect(terminalEventsOf(history.jobId).map((event) => event.detailType)).toEqual(['GPU Job Succeeded']);
      });
    });
  },
);
