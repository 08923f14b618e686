import 'aws-sdk-client-mock-vitest/extend';
import { DescribeContainerInstancesCommand, ECSClient } from '@aws-sdk/client-ecs';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { CapacityType } from '../../core/job.js';
import type { Plan, SettleAttemptInput } from '../../core/contract/workflow.js';
import type { DynamoJobStore } from '../../lambdas/shared/job-store.js';
import { startDynalite, type RunningDynalite } from '../support/dynalite.js';
import { lambdaContext, seedJob, setHandlerEnvironment, storeFor } from './handler-fixtures.js';
import { putJobAttempts, requestJobCancel } from '../../app/update-job.js';

const ecsMock = mockClient(ECSClient);
const eventsMock = mockClient(EventBridgeClient);
let dynamo: RunningDynalite;
let store: DynamoJobStore;
let handler: (input: SettleAttemptInput, context: ReturnType<typeof lambdaContext>) => Promise<Plan>;

const STARTED_AT = Date.parse('2025-05-01T10:00:00.000Z');
const STOPPED_AT = Date.parse('2025-05-01T10:30:00.000Z');
const CONTAINER_INSTANCE_ARN = 'arn:aws:ecs:us-east-1:123456789012:container-instance/AWSBatch-gpujobs-ondemand/9a8b7c';

beforeAll(async () => {
  dynamo = await startDynalite();
  setHandlerEnvironment(dynamo);
  store = storeFor(dynamo);
  ({ handler } = await import('../../lambdas/settle-attempt/handler.js'));
});

afterAll(async () => {
  await dynamo?.stop();
});

beforeEach(() => {
  ecsMock.reset();
  eventsMock.reset();
  eventsMock.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'event-1' }] });
  ecsMock.on(DescribeContainerInstancesCommand).resolves({
    containerInstances: [{ containerInstanceArn: CONTAINER_INSTANCE_ARN, attributes: [{ name: 'ecs.instance-type', value: 'g5.xlarge' }] }],
  });
});

/** The job detail Batch reports for a finished job, as Step Functions' `.sync` carries it (PascalCase). */
function batchJobDetail(
  status: 'SUCCEEDED' | 'FAILED',
  fields: { statusReason?: string; exitCode?: number; reason?: string; ran?: boolean },
) {
  const ran = fields.ran ?? true;
  return {
    JobId: 'b-1',
    JobName: 'gpujobs-x-1',
    Status: status,
    StatusReason: fields.statusReason,
    ...(ran ? { StartedAt: STARTED_AT, StoppedAt: STOPPED_AT } : {}),
    Container: {
      ...(fields.exitCode === undefined ? {} : { ExitCode: fields.exitCode }),
      ...(fields.reason === undefined ? {} : { Reason: fields.reason }),
      ...(ran ? { ContainerInstanceArn: CONTAINER_INSTANCE_ARN, LogStreamName: 'gpujobs/default/abc' } : {}),
    },
    Attempts: [],
  };
}

const failedTask = (detail: object) => ({ Error: 'States.TaskFailed', Cause: JSON.stringify(detail) });

/** A job whose attempt 1 (on `capacity`) was started, with the job in `status`. */
async function jobWithAttempt(capacity: CapacityType, status: 'PENDING' | 'RUNNING', instanceType?: string) {
  const job = await seedJob(store, {
    spec: { environment: { MODEL: 'tiny' } },
    path: status === 'RUNNING' ? ['PENDING', 'RUNNING'] : ['PENDING'],
  });
  return putJobAttempts(store, job.jobId, [{ attempt: 1, capacity, status, ...(instanceType ? { instanceType } : {}) }]);
}

describe('settle-attempt', () => {
  it('plans another Spot attempt after a reclaim, with GPUJOBS_ATTEMPT=2, and sends the job back to PENDING', async () => {
    // GIVEN a running Spot attempt on a g5.xlarge (named by the Batch state change event)
    const job = await jobWithAttempt('spot', 'RUNNING', 'g5.xlarge');
    const input: SettleAttemptInput = {
      jobId: job.jobId,
      attempt: 1,
      capacity: 'spot',
      attemptResult: failedTask(batchJobDetail('FAILED', { statusReason: 'Host EC2 (instance i-0abc) terminated.' })),
    };

    // WHEN
    const plan = await handler(input, lambdaContext('settle-attempt'));

    // THEN
    expect(plan).toEqual({
      next: 'spot',
      attempt: 2,
      jobName: `gpujobs-${job.jobId}-2`,
      environment: [
        { Name: 'MODEL', Value: 'tiny' },
        { Name: 'GPUJOBS_JOB_ID', Value: job.jobId },
        { Name: 'GPUJOBS_ATTEMPT', Value: '2' },
      ],
      // Two Spot attempts of the budget of 3 are left.
      batchAttempts: 2,
    });
    const stored = await store.getJob(job.jobId);
    expect(stored?.status).toBe('PENDING');
    expect(stored?.attempts).toEqual([
      {
        attempt: 1,
        capacity: 'spot',
        status: 'FAILED',
        failureClass: 'SPOT_RECLAIM',
        statusReason: 'Host EC2 (instance i-0abc) terminated.',
        batchJobId: 'b-1',
        startedAt: new Date(STARTED_AT).toISOString(),
        stoppedAt: new Date(STOPPED_AT).toISOString(),
        logStreamName: 'gpujobs/default/abc',
        instanceType: 'g5.xlarge',
        // 30 minutes at the Spot estimate (40 % of g5.xlarge's $1.006 On-Demand hourly price).
        costUsd: 0.2012,
      },
      { attempt: 2, capacity: 'spot', status: 'PENDING' },
    ]);
    expect(ecsMock).not.toHaveReceivedCommand(DescribeContainerInstancesCommand);
    const entries = eventsMock.commandCalls(PutEventsCommand).flatMap((call) => call.args[0].input.Entries ?? []);
    expect(entries.map((entry) => JSON.parse(entry.Detail ?? '{}'))).toEqual([
      expect.objectContaining({ status: 'PENDING', previousStatus: 'RUNNING' }),
    ]);
  });

  it('records each run Batch retried in place as an attempt of its own, and numbers the next attempt after them', async () => {
    // GIVEN Spot attempt 1, submitted as gpujobs-<id>-1, which Batch ran twice: the first run's host was reclaimed
    const job = await jobWithAttempt('spot', 'RUNNING', 'g5.xlarge');
    // (not CONTAINER_INSTANCE_ARN: the handler caches instance types, and other tests expect a lookup of that one)
    const LOST_INSTANCE_ARN = 'arn:aws:ecs:us-east-1:123456789012:container-instance/AWSBatch-gpujobs-spot/1c2d3e';
    ecsMock.on(DescribeContainerInstancesCommand).resolves({
      containerInstances: [{ containerInstanceArn: LOST_INSTANCE_ARN, attributes: [{ name: 'ecs.instance-type', value: 'g5.xlarge' }] }],
    });
    const firstRunStopped = STARTED_AT + 10 * 60_000;
    const detail = {
      ...batchJobDetail('FAILED', { statusReason: 'Host EC2 (instance i-0def) terminated.' }),
      Attempts: [
        {
          Container: { ContainerInstanceArn: LOST_INSTANCE_ARN, LogStreamName: 'gpujobs/default/first' },
          StartedAt: STARTED_AT,
          StoppedAt: firstRunStopped,
          StatusReason: 'Host EC2 (instance i-0abc) terminated.',
        },
        {
          Container: { ContainerInstanceArn: LOST_INSTANCE_ARN, LogStreamName: 'gpujobs/default/second' },
          StartedAt: firstRunStopped + 60_000,
          StoppedAt: STOPPED_AT,
          StatusReason: 'Host EC2 (instance i-0def) terminated.',
        },
      ],
    };

    // WHEN the submission is settled
    const plan = await handler(
      { jobId: job.jobId, attempt: 1, capacity: 'spot', attemptResult: failedTask(detail) },
      lambdaContext('settle-attempt'),
    );

    // THEN attempts 1 and 2 are both recorded, each with its own times, log stream and cost, and the next is attempt 3
    expect(plan).toMatchObject({ next: 'spot', attempt: 3, jobName: `gpujobs-${job.jobId}-3`, batchAttempts: 1 });
    const stored = await store.getJob(job.jobId);
    expect(stored?.attempts).toEqual([
      {
        attempt: 1,
        capacity: 'spot',
        status: 'FAILED',
        failureClass: 'SPOT_RECLAIM',
        statusReason: 'Host EC2 (instance i-0abc) terminated.',
        batchJobId: 'b-1',
        startedAt: new Date(STARTED_AT).toISOString(),
        stoppedAt: new Date(firstRunStopped).toISOString(),
        logStreamName: 'gpujobs/default/first',
        instanceType: 'g5.xlarge',
        // 10 minutes at the Spot estimate for g5.xlarge.
        costUsd: 0.067067,
      },
      {
        attempt: 2,
        capacity: 'spot',
        status: 'FAILED',
        failureClass: 'SPOT_RECLAIM',
        statusReason: 'Host EC2 (instance i-0def) terminated.',
        batchJobId: 'b-1',
        startedAt: new Date(firstRunStopped + 60_000).toISOString(),
        stoppedAt: new Date(STOPPED_AT).toISOString(),
        logStreamName: 'gpujobs/default/second',
        instanceType: 'g5.xlarge',
        costUsd: 0.127427,
      },
      { attempt: 3, capacity: 'spot', status: 'PENDING' },
    ]);
    expect(stored?.status).toBe('PENDING');
  });

  it('names the attempt that completed after an in-place retry, and the reclaim before it', async () => {
    // GIVEN attempt 1, whose host Batch lost, and which then succeeded on Batch's second run
    const job = await jobWithAttempt('spot', 'RUNNING', 'g5.xlarge');
    const detail = {
      ...batchJobDetail('SUCCEEDED', { exitCode: 0, statusReason: 'Essential container in task exited' }),
      Container: { ExitCode: 0 },
      Attempts: [
        {
          Container: {},
          StartedAt: STARTED_AT - 60_000,
          StoppedAt: STARTED_AT - 30_000,
          StatusReason: 'Host EC2 (instance i-0abc) terminated.',
        },
        { Container: { ExitCode: 0 }, StartedAt: STARTED_AT, StoppedAt: STOPPED_AT, StatusReason: 'Essential container in task exited' },
      ],
    };

    // WHEN
    const plan = await handler({ jobId: job.jobId, attempt: 1, capacity: 'spot', attemptResult: detail }, lambdaContext('settle-attempt'));

    // THEN
    expect(plan).toEqual({
      next: 'finish',
      outcome: { status: 'SUCCEEDED', statusReason: 'Completed on attempt 2 (Spot) after 1 Spot reclaim', exitCode: 0 },
    });
    expect(
      (await store.getJob(job.jobId))?.attempts.map(({ attempt, status, failureClass }) => ({ attempt, status, failureClass })),
    ).toEqual([
      { attempt: 1, status: 'FAILED', failureClass: 'SPOT_RECLAIM' },
      { attempt: 2, status: 'SUCCEEDED', failureClass: undefined },
    ]);
  });

  it('fails over to On-Demand when Spot had no capacity', async () => {
    // GIVEN a Spot attempt that never left RUNNABLE and was cancelled by the queue's time limit
    const job = await jobWithAttempt('spot', 'PENDING');

    // WHEN
    const plan = await handler(
      {
        jobId: job.jobId,
        attempt: 1,
        capacity: 'spot',
        attemptResult: failedTask(
          batchJobDetail('FAILED', {
            statusReason: 'Canceled by JobStateTimeLimit action due to reason: CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY',
            ran: false,
          }),
        ),
      },
      lambdaContext('settle-attempt'),
    );

    // THEN
    expect(plan).toMatchObject({ next: 'on-demand', attempt: 2, jobName: `gpujobs-${job.jobId}-2` });
    const stored = await store.getJob(job.jobId);
    expect(stored?.status).toBe('PENDING');
    expect(stored?.attempts.map(({ attempt, capacity, status, failureClass }) => ({ attempt, capacity, status, failureClass }))).toEqual([
      { attempt: 1, capacity: 'spot', status: 'FAILED', failureClass: 'NO_CAPACITY' },
      { attempt: 2, capacity: 'on-demand', status: 'PENDING', failureClass: undefined },
    ]);
    expect(stored?.attempts[0]?.costUsd).toBe(0);
    expect(eventsMock).not.toHaveReceivedCommand(PutEventsCommand);
  });

  it('plans to finish FAILED after an application error, without another attempt', async () => {
    // GIVEN an On-Demand attempt whose container exited 1, before any state change event named its instance
    const job = await jobWithAttempt('on-demand', 'RUNNING');

    // WHEN
    const plan = await handler(
      {
        jobId: job.jobId,
        attempt: 1,
        capacity: 'on-demand',
        attemptResult: failedTask(
          batchJobDetail('FAILED', {
            statusReason: 'Essential container in task exited',
            exitCode: 1,
            reason: 'Essential container in task exited',
          }),
        ),
      },
      lambdaContext('settle-attempt'),
    );

    // THEN
    expect(plan).toEqual({
      next: 'finish',
      outcome: { status: 'FAILED', statusReason: expect.stringContaining('exited with code 1'), failureClass: 'APP_ERROR', exitCode: 1 },
    });
    // AND the job ended in the same write as its last attempt, with the outcome the plan carries to finish
    const stored = await store.getJob(job.jobId);
    expect(stored?.status).toBe('FAILED');
    expect(stored?.exitCode).toBe(1);
    expect(stored?.terminalEvent).toMatchObject({ writer: 'settle-attempt', previousStatus: 'RUNNING' });
    expect(stored?.attempts).toHaveLength(1);
    expect(stored?.attempts[0]).toMatchObject({
      status: 'FAILED',
      failureClass: 'APP_ERROR',
      exitCode: 1,
      instanceType: 'g5.xlarge',
      costUsd: 0.503,
    });
    expect(ecsMock).toHaveReceivedCommandWith(DescribeContainerInstancesCommand, {
      cluster: 'AWSBatch-gpujobs-ondemand',
      containerInstances: [CONTAINER_INSTANCE_ARN],
    });
  });

  it('plans to finish SUCCEEDED after a successful attempt', async () => {
    // GIVEN
    const job = await jobWithAttempt('spot', 'RUNNING', 'g5.xlarge');

    // WHEN the .sync task returns the job detail
    const plan = await handler(
      { jobId: job.jobId, attempt: 1, capacity: 'spot', attemptResult: batchJobDetail('SUCCEEDED', { exitCode: 0 }) },
      lambdaContext('settle-attempt'),
    );

    // THEN
    expect(plan).toEqual({ next: 'finish', outcome: { status: 'SUCCEEDED', statusReason: 'Completed on attempt 1 (Spot)', exitCode: 0 } });
    expect((await store.getJob(job.jobId))?.attempts[0]).toMatchObject({ status: 'SUCCEEDED', exitCode: 0 });
  });

  it('settles a successful attempt without its instance type when ECS refuses the lookup', async () => {
    // GIVEN a job whose attempt's instance type is not known yet, and ECS answers AccessDenied
    const job = await jobWithAttempt('spot', 'RUNNING');
    ecsMock
      .on(DescribeContainerInstancesCommand)
      .rejects(
        Object.assign(new Error('User is not authorized to perform: ecs:DescribeContainerInstances'), { name: 'AccessDeniedException' }),
      );

    // WHEN the .sync task returns the job detail of an instance this handler has not looked up before
    const detail = batchJobDetail('SUCCEEDED', { exitCode: 0 });
    const attemptResult = { ...detail, Container: { ...detail.Container, ContainerInstanceArn: `${CONTAINER_INSTANCE_ARN}-unseen` } };
    const plan = await handler({ jobId: job.jobId, attempt: 1, capacity: 'spot', attemptResult }, lambdaContext('settle-attempt'));

    // THEN the job still finishes SUCCEEDED, and the attempt is recorded without an instance type or cost
    expect(plan).toEqual({ next: 'finish', outcome: { status: 'SUCCEEDED', statusReason: 'Completed on attempt 1 (Spot)', exitCode: 0 } });
    const attempt = (await store.getJob(job.jobId))?.attempts[0];
    expect(attempt).toMatchObject({ status: 'SUCCEEDED', exitCode: 0 });
    expect(attempt?.instanceType).toBeUndefined();
    expect(attempt?.costUsd).toBeUndefined();
    expect(ecsMock).toHaveReceivedCommandTimes(DescribeContainerInstancesCommand, 1);
  });

  it('gives the same plan when Step Functions runs it twice for one attempt', async () => {
    // GIVEN a reclaim already settled once
    const job = await jobWithAttempt('spot', 'RUNNING', 'g5.xlarge');
    const input: SettleAttemptInput = {
      jobId: job.jobId,
      attempt: 1,
      capacity: 'spot',
      attemptResult: failedTask(batchJobDetail('FAILED', { statusReason: 'Host EC2 (instance i-0abc) terminated.' })),
    };
    const first = await handler(input, lambdaContext('settle-attempt'));
    eventsMock.resetHistory();

    // WHEN
    const again = await handler(input, lambdaContext('settle-attempt'));

    // THEN
    expect(again).toEqual(first);
    expect((await store.getJob(job.jobId))?.attempts.map((attempt) => attempt.attempt)).toEqual([1, 2]);
    expect(eventsMock).not.toHaveReceivedCommand(PutEventsCommand);
  });

  it('plans to finish CANCELLED when the owner cancelled while the attempt ran', async () => {
    // GIVEN
    const job = await jobWithAttempt('spot', 'RUNNING', 'g5.xlarge');
    await requestJobCancel(store, job.jobId, new Date().toISOString());

    // WHEN the attempt ends because the job was terminated
    const plan = await handler(
      {
        jobId: job.jobId,
        attempt: 1,
        capacity: 'spot',
        attemptResult: failedTask(batchJobDetail('FAILED', { statusReason: 'Terminated by gpujobs: cancelled by owner' })),
      },
      lambdaContext('settle-attempt'),
    );

    // THEN
    expect(plan).toMatchObject({ next: 'finish', outcome: { status: 'CANCELLED', failureClass: 'CANCELLED' } });
    expect((await store.getJob(job.jobId))?.attempts[0]).toMatchObject({ status: 'CANCELLED', failureClass: 'CANCELLED' });
  });
});
