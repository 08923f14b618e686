import 'aws-sdk-client-mock-vitest/extend';
import { BatchClient, CancelJobCommand, ListJobsCommand, TerminateJobCommand, type JobSummary } from '@aws-sdk/client-batch';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { DescribeExecutionCommand, ListExecutionsCommand, SFNClient, type ExecutionListItem } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { classifyAttemptFailure } from '../../core/failure.js';
import { ENV } from '../../core/contract/environment.js';
import type { DynamoJobStore } from '../../lambdas/shared/job-store.js';
import type { WatchdogReport } from '../../lambdas/watchdog/watchdog.js';
import { startDynalite, type RunningDynalite } from '../support/dynalite.js';
import { STATE_MACHINE_ARN, lambdaContext, seedJob, setHandlerEnvironment, storeFor } from './handler-fixtures.js';
import { recordingEventBus } from './terminal-events.js';
import { putJobAttempts, requestJobCancel } from '../../app/update-job.js';

const batchMock = mockClient(BatchClient);
const sfnMock = mockClient(SFNClient);
const eventsMock = mockClient(EventBridgeClient);

const SPOT_QUEUE = 'arn:aws:batch:us-east-1:123456789012:job-queue/GpuComputeSpotJobQueue';
const ON_DEMAND_QUEUE = 'arn:aws:batch:us-east-1:123456789012:job-queue/GpuComputeOnDemandJobQueue';
const CAPACITY_TIMEOUT_SECONDS = 600;
const ON_DEMAND_TIMEOUT_SECONDS = 3600;
const EXECUTION_TIMEOUT_SECONDS = 24 * 24 * 3600;
const MINUTE = 60_000;

// The strings Batch sets on the head of a blocked queue (job_stuck_in_runnable_* pages).
const BLOCKED_NO_CAPACITY =
  'CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - Service cannot fulfill the capacity requested for instance type [g5.xlarge]';
const BLOCKED_UNDETERMINED = 'UNDETERMINED - Batch job is blocked, root cause is undetermined.';

let dynamo: RunningDynalite;
let store: DynamoJobStore;
let handler: (event: unknown, context: ReturnType<typeof lambdaContext>) => Promise<WatchdogReport>;

beforeAll(async () => {
  dynamo = await startDynalite();
  setHandlerEnvironment(dynamo);
  process.env[ENV.spotJobQueueArn] = SPOT_QUEUE;
  process.env[ENV.onDemandJobQueueArn] = ON_DEMAND_QUEUE;
  process.env[ENV.capacityTimeoutSeconds] = String(CAPACITY_TIMEOUT_SECONDS);
  process.env[ENV.onDemandCapacityTimeoutSeconds] = String(ON_DEMAND_TIMEOUT_SECONDS);
  process.env[ENV.executionTimeoutSeconds] = String(EXECUTION_TIMEOUT_SECONDS);
  store = storeFor(dynamo);
  ({ handler } = (await import('../../lambdas/watchdog/handler.js')) as unknown as { handler: typeof handler });
});

afterAll(async () => {
  await dynamo?.stop();
});

beforeEach(() => {
  batchMock.reset();
  sfnMock.reset();
  eventsMock.reset();
  batchMock.on(ListJobsCommand).resolves({ jobSummaryList: [] });
  batchMock.on(CancelJobCommand).resolves({});
  batchMock.on(TerminateJobCommand).resolves({});
  sfnMock.on(ListExecutionsCommand).resolves({ executions: [] });
});

/** A RUNNABLE job as ListJobs summarizes it, submitted `waitedMs` ago. */
function runnable(jobId: string, waitedMs: number, statusReason?: string, extra: Partial<JobSummary> = {}): JobSummary {
  return {
    jobArn: `arn:aws:batch:us-east-1:123456789012:job/${jobId}`,
    jobId,
    jobName: `gpujobs-${jobId}-1`,
    createdAt: Date.now() - waitedMs,
    status: 'RUNNABLE',
    ...(statusReason ? { statusReason } : {}),
    jobDefinition: 'arn:aws:batch:us-east-1:123456789012:job-definition/GpuJobs-abc:1',
    ...extra,
  };
}

function queueHolds(queue: string, jobs: JobSummary[]): void {
  batchMock.on(ListJobsCommand, { jobQueue: queue, jobStatus: 'RUNNABLE' }).resolves({ jobSummaryList: jobs });
}

const cancelled = () => batchMock.commandCalls(CancelJobCommand).map((call) => call.args[0].input);

function executionOf(jobId: string, status: string, stoppedAgoMs: number, ranMs = 10 * MINUTE): ExecutionListItem {
  const stopDate = new Date(Date.now() - stoppedAgoMs);
  return {
    executionArn: `${STATE_MACHINE_ARN.replace(':stateMachine:', ':execution:')}:${jobId}`,
    stateMachineArn: STATE_MACHINE_ARN,
    name: jobId,
    status: status as ExecutionListItem['status'],
    startDate: new Date(stopDate.getTime() - ranMs),
    stopDate,
  };
}

/** A RUNNING job whose first attempt runs on Spot as Batch job `batchJobId`. */
async function runningJob(batchJobId = 'b-running') {
  const job = await seedJob(store, { path: ['PENDING', 'RUNNING'] });
  return putJobAttempts(store, job.jobId, [
    { attempt: 1, capacity: 'spot', status: 'RUNNING', batchJobId, startedAt: new Date(Date.now() - 20 * MINUTE).toISOString() },
  ]);
}

describe('watchdog: capacity', () => {
  it('cancels every Spot job of a blocked queue that waited its own timeout, with a reason that fails it over, and leaves younger ones waiting', async () => {
    // GIVEN the head blocked for lack of capacity, two more jobs past the timeout and two younger ones
    queueHolds(SPOT_QUEUE, [
      runnable('head', 15 * MINUTE, BLOCKED_NO_CAPACITY),
      runnable('second', 12 * MINUTE),
      runnable('third', 10 * MINUTE + 5_000),
      runnable('young', 9 * MINUTE),
      runnable('newest', 5_000),
    ]);

    // WHEN
    const report = await handler({}, lambdaContext('watchdog'));

    // THEN
    expect(
      cancelled()
        .map((input) => input.jobId)
        .sort(),
    ).toEqual(['head', 'second', 'third']);
    for (const { reason } of cancelled()) {
      expect(classifyAttemptFailure({ statusReason: reason })).toBe('NO_CAPACITY');
      expect(reason).toMatch(/^CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - no Spot capacity for \d+ s .*gpujobs watchdog/);
    }
    expect(report.capacity.cancelled.find((job) => job.jobId === 'second')?.waitedSeconds).toBeGreaterThanOrEqual(720);
  });

  it('leaves a queue alone when no job carries a blocked reason (only busy behind maxVcpus)', async () => {
    queueHolds(SPOT_QUEUE, [runnable('a', 30 * MINUTE), runnable('b', 20 * MINUTE), runnable('c', 11 * MINUTE)]);

    await handler({}, lambdaContext('watchdog'));

    expect(batchMock).not.toHaveReceivedCommand(CancelJobCommand);
  });

  it('leaves a queue alone whose head is blocked by its own misconfiguration, which On-Demand would not fix', async () => {
    queueHolds(SPOT_QUEUE, [
      runnable(
        'huge',
        30 * MINUTE,
        'MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT - The job resource requirement (vCPU/memory/GPU) is higher than that can be met by the CE(s) attached to the job queue.',
      ),
      runnable('b', 20 * MINUTE),
    ]);

    await handler({}, lambdaContext('watchdog'));

    expect(batchMock).not.toHaveReceivedCommand(CancelJobCommand);
  });

  it('gives a job Batch retried in place a full wait from its last run, not from its submission', async () => {
    queueHolds(SPOT_QUEUE, [
      runnable('head', 15 * MINUTE, BLOCKED_NO_CAPACITY),
      runnable('retried', 3 * 60 * MINUTE, undefined, { startedAt: Date.now() - 4 * MINUTE }),
    ]);

    await handler({}, lambdaContext('watchdog'));

    expect(cancelled().map((input) => input.jobId)).toEqual(['head']);
  });

  it('cancels On-Demand jobs of a quota-blocked queue after the On-Demand timeout, naming the quota', async () => {
    // GIVEN an On-Demand queue Batch reports UNDETERMINED (what a vCPU quota of 0 looks like)
    queueHolds(ON_DEMAND_QUEUE, [runnable('od-old', 61 * MINUTE, BLOCKED_UNDETERMINED), runnable('od-young', 30 * MINUTE)]);

    await handler({}, lambdaContext('watchdog'));

    expect(cancelled()).toEqual([{ jobId: 'od-old', reason: expect.stringContaining('L-DB2E81BA') }]);
    const reason = String(cancelled()[0]?.reason);
    expect(reason).toContain(BLOCKED_UNDETERMINED);
    expect(classifyAttemptFailure({ statusReason: reason })).toBe('NO_CAPACITY');
    expect(reason.length).toBeLessThanOrEqual(1024);
  });

  it('reads every page of RUNNABLE jobs', async () => {
    batchMock
      .on(ListJobsCommand, { jobQueue: SPOT_QUEUE, jobStatus: 'RUNNABLE' })
      .resolvesOnce({ jobSummaryList: [runnable('head', 15 * MINUTE, BLOCKED_NO_CAPACITY)], nextToken: 'page-2' })
      .resolvesOnce({ jobSummaryList: [runnable('on-page-2', 11 * MINUTE)] });

    await handler({}, lambdaContext('watchdog'));

    expect(batchMock).toHaveReceivedCommandWith(ListJobsCommand, { jobQueue: SPOT_QUEUE, nextToken: 'page-2' });
    expect(
      cancelled()
        .map((input) => input.jobId)
        .sort(),
    ).toEqual(['head', 'on-page-2']);
  });

  it('tries the other jobs when one cancel fails, and reports the run as failed', async () => {
    queueHolds(SPOT_QUEUE, [runnable('head', 15 * MINUTE, BLOCKED_NO_CAPACITY), runnable('second', 12 * MINUTE)]);
    batchMock
      .on(CancelJobCommand, { jobId: 'head' })
      .rejects(Object.assign(new Error('Rate exceeded'), { name: 'TooManyRequestsException' }));

    await expect(handler({}, lambdaContext('watchdog'))).rejects.toThrow(/for jobs head/);

    expect(batchMock).toHaveReceivedCommandWith(CancelJobCommand, { jobId: 'second' });
  });
});

describe('watchdog: ends whose event was lost', () => {
  it('ends a job FAILED, with one terminal event, when its execution failed and no event settled it', async () => {
    // GIVEN a running job whose execution FAILED five minutes ago; the reconcile event never came
    const job = await runningJob();
    const bus = recordingEventBus(eventsMock);
    const execution = executionOf(job.jobId, 'FAILED', 5 * MINUTE);
    sfnMock.on(ListExecutionsCommand, { statusFilter: 'FAILED' }).resolves({ executions: [execution] });
    sfnMock.on(DescribeExecutionCommand).resolves({ ...execution, input: '{}', error: 'Lambda.Unknown', cause: 'The function crashed' });

    // WHEN the watchdog runs, twice
    await handler({}, lambdaContext('watchdog'));
    const second = await handler({}, lambdaContext('watchdog'));

    // THEN
    const stored = await store.getJob(job.jobId);
    expect(stored).toMatchObject({
      status: 'FAILED',
      statusReason: 'Workflow execution FAILED: Lambda.Unknown: The function crashed',
      finishedAt: execution.stopDate!.toISOString(),
    });
    expect(stored?.attempts[0]?.status).toBe('FAILED');
    expect(bus.terminal()).toEqual([
      expect.objectContaining({ detailType: 'GPU Job Failed', detail: expect.objectContaining({ jobId: job.jobId }) }),
    ]);
    expect(second.lostEnds.settled).toEqual([]);
    // A FAILED execution ended in a Lambda task, after its Batch job: nothing to terminate.
    expect(batchMock).not.toHaveReceivedCommand(TerminateJobCommand);
  });

  it('cancels a job whose stopped execution went unreconciled, and terminates the Batch job it left running', async () => {
    const job = await runningJob('b-left-running');
    await requestJobCancel(store, job.jobId, new Date().toISOString());
    recordingEventBus(eventsMock);
    const execution = executionOf(job.jobId, 'ABORTED', 2 * MINUTE);
    sfnMock.on(ListExecutionsCommand, { statusFilter: 'ABORTED' }).resolves({ executions: [execution] });
    sfnMock.on(DescribeExecutionCommand).resolves({ ...execution, input: '{}' });

    await handler({}, lambdaContext('watchdog'));

    expect((await store.getJob(job.jobId))?.status).toBe('CANCELLED');
    expect(batchMock).toHaveReceivedCommandWith(TerminateJobCommand, {
      jobId: 'b-left-running',
      reason: 'Terminated by gpujobs: cancelled by owner',
    });
  });

  it('leaves terminal, announced jobs untouched', async () => {
    // GIVEN a job that SUCCEEDED and was announced, whose execution then failed
    const job = await runningJob();
    recordingEventBus(eventsMock);
    const { handler: finish } = await import('../../lambdas/finish/handler.js');
    await finish({ jobId: job.jobId, outcome: { status: 'SUCCEEDED', statusReason: 'Completed', exitCode: 0 } }, lambdaContext('finish'));
    const finished = await store.getJob(job.jobId);
    eventsMock.resetHistory();
    sfnMock.on(ListExecutionsCommand, { statusFilter: 'FAILED' }).resolves({ executions: [executionOf(job.jobId, 'FAILED', MINUTE)] });

    // WHEN
    const report = await handler({}, lambdaContext('watchdog'));

    // THEN
    expect(await store.getJob(job.jobId)).toEqual(finished);
    expect(report.lostEnds).toMatchObject({ examined: 1, settled: [] });
    expect(eventsMock).not.toHaveReceivedCommand(PutEventsCommand);
    expect(sfnMock).not.toHaveReceivedCommand(DescribeExecutionCommand);
  });

  it('looks only at ends within the look-back, and stops paging at executions too old to have ended in it', async () => {
    // GIVEN an open job whose execution failed 13 hours ago (beyond the 12-hour look-back), and a
    // second page of executions that all started before look-back + execution timeout
    const job = await runningJob();
    const tooOld = executionOf('01ANCIENT', 'FAILED', 13 * 60 * MINUTE);
    sfnMock
      .on(ListExecutionsCommand, { statusFilter: 'FAILED' })
      .resolvesOnce({ executions: [executionOf(job.jobId, 'FAILED', 13 * 60 * MINUTE)], nextToken: 'page-2' })
      .resolvesOnce({
        executions: [{ ...tooOld, startDate: new Date(Date.now() - (EXECUTION_TIMEOUT_SECONDS + 13 * 3600) * 1000) }],
        nextToken: 'page-3',
      });

    const report = await handler({}, lambdaContext('watchdog'));

    expect((await store.getJob(job.jobId))?.status).toBe('RUNNING');
    expect(report.lostEnds.examined).toBe(0);
    expect(sfnMock.commandCalls(ListExecutionsCommand, { statusFilter: 'FAILED' })).toHaveLength(2);
  });

  it('finds a long run that ended recently behind shorter runs that ended long ago', async () => {
    // Listed newest start first: a run started 2 days ago and stopped a minute ago comes after one
    // started 13 hours ago that stopped 12.5 hours ago.
    const job = await runningJob();
    recordingEventBus(eventsMock);
    const longRun = executionOf(job.jobId, 'TIMED_OUT', MINUTE, 2 * 24 * 60 * MINUTE);
    sfnMock
      .on(ListExecutionsCommand, { statusFilter: 'TIMED_OUT' })
      .resolves({ executions: [executionOf('01SHORTOLD', 'TIMED_OUT', 12.5 * 60 * MINUTE, 30 * MINUTE), longRun] });
    sfnMock.on(DescribeExecutionCommand).resolves({ ...longRun, input: '{}', error: 'States.Timeout' });

    await handler({}, lambdaContext('watchdog'));

    expect(await store.getJob(job.jobId)).toMatchObject({ status: 'FAILED', statusReason: 'Workflow execution TIMED_OUT: States.Timeout' });
    expect(batchMock).toHaveReceivedCommandWith(TerminateJobCommand, {
      jobId: 'b-running',
      reason: 'Terminated by gpujobs: workflow execution TIMED_OUT',
    });
  });
});

describe('watchdog: idle', () => {
  it('makes only the two ListJobs calls and one ListExecutions per ended status when nothing waits and nothing ended', async () => {
    await handler({}, lambdaContext('watchdog'));

    expect(batchMock.commandCalls(ListJobsCommand).map((call) => call.args[0].input)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ jobQueue: SPOT_QUEUE, jobStatus: 'RUNNABLE' }),
        expect.objectContaining({ jobQueue: ON_DEMAND_QUEUE, jobStatus: 'RUNNABLE' }),
      ]),
    );
    expect(batchMock.calls()).toHaveLength(2);
    expect(
      sfnMock
        .commandCalls(ListExecutionsCommand)
        .map((call) => call.args[0].input.statusFilter)
        .sort(),
    ).toEqual(['ABORTED', 'FAILED', 'TIMED_OUT']);
    expect(sfnMock.calls()).toHaveLength(3);
    expect(eventsMock.calls()).toHaveLength(0);
  });
});
