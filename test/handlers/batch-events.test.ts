import 'aws-sdk-client-mock-vitest/extend';
import { DescribeContainerInstancesCommand, ECSClient } from '@aws-sdk/client-ecs';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { batchJobName } from '../../core/contract/workflow.js';
import type { DynamoJobStore } from '../../lambdas/shared/job-store.js';
import { batchJobStateChange } from '../support/aws-events.js';
import { startDynalite, type RunningDynalite } from '../support/dynalite.js';
import { lambdaContext, seedJob, setHandlerEnvironment, storeFor } from './handler-fixtures.js';
import { putJobAttempts, transitionJob } from '../../app/update-job.js';

const ecsMock = mockClient(ECSClient);
const eventsMock = mockClient(EventBridgeClient);
let dynamo: RunningDynalite;
let store: DynamoJobStore;
let handler: (event: unknown, context: ReturnType<typeof lambdaContext>) => Promise<unknown>;

const CLUSTER = 'AWSBatch-gpujobs-spot-1a2b3c';
const CONTAINER_INSTANCE_ARN = `arn:aws:ecs:us-east-1:123456789012:container-instance/${CLUSTER}/0f1e2d3c4b5a`;
const STARTED_AT = Date.parse('2025-05-01T10:00:00.000Z');
const STOPPED_AT = Date.parse('2025-05-01T10:30:00.000Z');

beforeAll(async () => {
  dynamo = await startDynalite();
  setHandlerEnvironment(dynamo);
  store = storeFor(dynamo);
  ({ handler } = await import('../../lambdas/batch-events/handler.js'));
});

afterAll(async () => {
  await dynamo?.stop();
});

beforeEach(() => {
  ecsMock.reset();
  eventsMock.reset();
  ecsMock.on(DescribeContainerInstancesCommand).resolves({
    containerInstances: [
      {
        containerInstanceArn: CONTAINER_INSTANCE_ARN,
        attributes: [
          { name: 'ecs.availability-zone', value: 'us-east-1a' },
          { name: 'ecs.instance-type', value: 'g5.xlarge' },
        ],
      },
    ],
    failures: [],
  });
  eventsMock.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'event-1' }] });
});

function batchEvent(jobName: string, status: string, detail: Record<string, unknown> = {}) {
  return batchJobStateChange(jobName, status, detail, '2025-05-01T10:00:00Z');
}

const runningDetail = {
  startedAt: STARTED_AT,
  container: {
    containerInstanceArn: CONTAINER_INSTANCE_ARN,
    taskArn: `arn:aws:ecs:us-east-1:123456789012:task/${CLUSTER}/abc`,
    logStreamName: 'gpujobs/default/abc',
  },
};

/** A PENDING job whose first attempt (Spot) was planned by prepare. */
async function pendingJobWithPlannedAttempt() {
  const job = await seedJob(store, { path: ['PENDING'] });
  return putJobAttempts(store, job.jobId, [{ attempt: 1, capacity: 'spot', status: 'PENDING' }]);
}

function publishedDetails() {
  return eventsMock
    .commandCalls(PutEventsCommand)
    .flatMap((call) => call.args[0].input.Entries ?? [])
    .map((entry) => ({ detailType: entry.DetailType, detail: JSON.parse(entry.Detail ?? '{}') as Record<string, unknown> }));
}

describe('batch-events', () => {
  it('marks the job and its attempt RUNNING with the Batch job id, instance type and log stream', async () => {
    // GIVEN a PENDING job whose first attempt waits on Spot
    const job = await pendingJobWithPlannedAttempt();

    // WHEN Batch reports the attempt RUNNING
    await handler(batchEvent(batchJobName(job.jobId, 1), 'RUNNING', runningDetail), lambdaContext('batch-events'));

    // THEN
    const stored = await store.getJob(job.jobId);
    expect(stored?.status).toBe('RUNNING');
    expect(stored?.startedAt).toBe(new Date(STARTED_AT).toISOString());
    expect(stored?.attempts).toEqual([
      {
        attempt: 1,
        capacity: 'spot',
        status: 'RUNNING',
        batchJobId: '5f0c1b2a',
        startedAt: new Date(STARTED_AT).toISOString(),
        instanceType: 'g5.xlarge',
        logStreamName: 'gpujobs/default/abc',
      },
    ]);
    expect(ecsMock).toHaveReceivedCommandWith(DescribeContainerInstancesCommand, {
      cluster: CLUSTER,
      containerInstances: [CONTAINER_INSTANCE_ARN],
    });
    expect(publishedDetails()).toEqual([
      expect.objectContaining({
        detailType: 'GPU Job Status Change',
        detail: expect.objectContaining({ jobId: job.jobId, status: 'RUNNING', previousStatus: 'PENDING' }),
      }),
    ]);
  });

  it('changes nothing when the same RUNNING event comes twice', async () => {
    // GIVEN a job already moved to RUNNING by a first delivery
    const job = await pendingJobWithPlannedAttempt();
    const event = batchEvent(batchJobName(job.jobId, 1), 'RUNNING', runningDetail);
    await handler(event, lambdaContext('batch-events'));
    const afterFirst = await store.getJob(job.jobId);
    eventsMock.resetHistory();

    // WHEN the event is delivered again
    await handler(event, lambdaContext('batch-events'));

    // THEN no write and no second event
    expect((await store.getJob(job.jobId))?.version).toBe(afterFirst?.version);
    expect(eventsMock).not.toHaveReceivedCommand(PutEventsCommand);
  });

  it('never lets a late RUNNING event touch a SUCCEEDED job', async () => {
    // GIVEN a job that already finished
    const job = await pendingJobWithPlannedAttempt();
    await putJobAttempts(store, job.jobId, [{ attempt: 1, capacity: 'spot', status: 'SUCCEEDED', exitCode: 0 }]);
    const finished = await transitionJob(store, { jobId: job.jobId, from: ['PENDING'], to: 'SUCCEEDED', now: new Date().toISOString() });

    // WHEN the RUNNING event arrives late
    await handler(batchEvent(batchJobName(job.jobId, 1), 'RUNNING', runningDetail), lambdaContext('batch-events'));

    // THEN
    const stored = await store.getJob(job.jobId);
    expect(stored?.status).toBe('SUCCEEDED');
    expect(stored?.version).toBe(finished.version);
    expect(stored?.attempts[0]?.status).toBe('SUCCEEDED');
    expect(eventsMock).not.toHaveReceivedCommand(PutEventsCommand);
  });

  it('never moves an attempt the workflow settled back to RUNNING when the RUNNING event was read before the settle', async () => {
    // GIVEN a PENDING attempt, and a settle-attempt that records it SUCCEEDED while the RUNNING event is being
    // applied (between the handler's read and its write: while it looks up the instance type)
    const job = await pendingJobWithPlannedAttempt();
    const containerInstanceArn = `arn:aws:ecs:us-east-1:123456789012:container-instance/${CLUSTER}/${crypto.randomUUID()}`;
    let settled: Awaited<ReturnType<typeof putJobAttempts>> | undefined;
    ecsMock.on(DescribeContainerInstancesCommand).callsFake(async () => {
      settled = await putJobAttempts(store, job.jobId, [
        { attempt: 1, capacity: 'spot', status: 'SUCCEEDED', exitCode: 0, stoppedAt: new Date(STOPPED_AT).toISOString() },
      ]);
      return {
        containerInstances: [{ containerInstanceArn, attributes: [{ name: 'ecs.instance-type', value: 'g5.xlarge' }] }],
        failures: [],
      };
    });

    // WHEN the RUNNING event is applied
    const result = await handler(
      batchEvent(batchJobName(job.jobId, 1), 'RUNNING', {
        ...runningDetail,
        container: { ...runningDetail.container, containerInstanceArn },
      }),
      lambdaContext('batch-events'),
    );

    // THEN the refused write is decided again on the record as it is now: the attempt is settled,
    // exactly as settle-attempt left it
    expect(result).toEqual({ effect: 'attempt-settled' });
    const stored = await store.getJob(job.jobId);
    expect(stored?.attempts).toEqual([
      { attempt: 1, capacity: 'spot', status: 'SUCCEEDED', exitCode: 0, stoppedAt: new Date(STOPPED_AT).toISOString() },
    ]);
    expect(stored?.version).toBe(settled?.version);
    expect(eventsMock).not.toHaveReceivedCommand(PutEventsCommand);
  });

  it('changes nothing when a RUNNING event comes for an attempt already SUCCEEDED', async () => {
    // GIVEN an attempt the workflow settled while the job has not finished yet
    const job = await pendingJobWithPlannedAttempt();
    const settled = await putJobAttempts(store, job.jobId, [{ attempt: 1, capacity: 'spot', status: 'SUCCEEDED', exitCode: 0 }]);

    // WHEN its RUNNING event arrives, and again
    const first = await handler(batchEvent(batchJobName(job.jobId, 1), 'RUNNING', runningDetail), lambdaContext('batch-events'));
    const second = await handler(batchEvent(batchJobName(job.jobId, 1), 'RUNNING', runningDetail), lambdaContext('batch-events'));

    // THEN
    expect([first, second]).toEqual([{ effect: 'attempt-settled' }, { effect: 'attempt-settled' }]);
    expect(await store.getJob(job.jobId)).toEqual(settled);
    expect(eventsMock).not.toHaveReceivedCommand(PutEventsCommand);
  });

  it('ignores a RUNNABLE event that arrives after RUNNING', async () => {
    // GIVEN a RUNNING job
    const job = await pendingJobWithPlannedAttempt();
    await handler(batchEvent(batchJobName(job.jobId, 1), 'RUNNING', runningDetail), lambdaContext('batch-events'));
    const running = await store.getJob(job.jobId);
    eventsMock.resetHistory();

    // WHEN the earlier RUNNABLE event is delivered late
    await handler(batchEvent(batchJobName(job.jobId, 1), 'RUNNABLE'), lambdaContext('batch-events'));

    // THEN the job and attempt stay RUNNING
    const stored = await store.getJob(job.jobId);
    expect(stored?.status).toBe('RUNNING');
    expect(stored?.attempts[0]?.status).toBe('RUNNING');
    expect(stored?.version).toBe(running?.version);
    expect(eventsMock).not.toHaveReceivedCommand(PutEventsCommand);
  });

  describe('when Batch runs the job again in place after losing its host', () => {
    const RECLAIMED_AT = STARTED_AT + 5 * 60_000;
    const RETRY_STARTED_AT = RECLAIMED_AT + 2 * 60_000;
    const HOST_LOST = 'Host EC2 (instance i-0abc) terminated.';
    /** The run Batch ended, as it lists it in `attempts` from then on. */
    const lostRun = {
      container: {
        containerInstanceArn: CONTAINER_INSTANCE_ARN,
        taskArn: `arn:aws:ecs:us-east-1:123456789012:task/${CLUSTER}/abc`,
        logStreamName: 'gpujobs/default/abc',
      },
      startedAt: STARTED_AT,
      stoppedAt: RECLAIMED_AT,
      statusReason: HOST_LOST,
    };
    const retryRunning = {
      startedAt: RETRY_STARTED_AT,
      container: {
        containerInstanceArn: CONTAINER_INSTANCE_ARN,
        taskArn: `arn:aws:ecs:us-east-1:123456789012:task/${CLUSTER}/def`,
        logStreamName: 'gpujobs/default/def',
      },
      attempts: [lostRun],
    };
    /** While the retry waits, the job-level container is still the lost run's. */
    const retryWaiting = { startedAt: STARTED_AT, container: lostRun.container, attempts: [lostRun] };

    async function runningJob() {
      const job = await pendingJobWithPlannedAttempt();
      await handler(batchEvent(batchJobName(job.jobId, 1), 'RUNNING', runningDetail), lambdaContext('batch-events'));
      eventsMock.resetHistory();
      return job;
    }

    /** Attempt 1 as settled from the lost run: 5 minutes on a g5.xlarge at the Spot estimate. */
    const settledFirstAttempt = {
      attempt: 1,
      capacity: 'spot',
      status: 'FAILED',
      failureClass: 'SPOT_RECLAIM',
      statusReason: HOST_LOST,
      batchJobId: '5f0c1b2a',
      startedAt: new Date(STARTED_AT).toISOString(),
      stoppedAt: new Date(RECLAIMED_AT).toISOString(),
      instanceType: 'g5.xlarge',
      logStreamName: 'gpujobs/default/abc',
      costUsd: 0.033533,
    };

    it('settles the lost run as attempt 1 and waits, PENDING, for attempt 2', async () => {
      // GIVEN a RUNNING job on attempt 1
      const job = await runningJob();

      // WHEN Batch reports the job RUNNABLE again, with the lost run among its attempts
      const result = await handler(batchEvent(batchJobName(job.jobId, 1), 'RUNNABLE', retryWaiting), lambdaContext('batch-events'));

      // THEN attempt 1 ended as a reclaim, attempt 2 (same Spot submission) waits, and so does the job
      expect(result).toEqual({ effect: 'job-pending' });
      const stored = await store.getJob(job.jobId);
      expect(stored?.status).toBe('PENDING');
      expect(stored?.attempts).toEqual([settledFirstAttempt, { attempt: 2, capacity: 'spot', status: 'PENDING', batchJobId: '5f0c1b2a' }]);
      expect(publishedDetails()).toEqual([
        expect.objectContaining({ detail: expect.objectContaining({ status: 'PENDING', previousStatus: 'RUNNING', attempts: 2 }) }),
      ]);
    });

    it('records the retry RUNNING as attempt 2, with its own start and log stream, and settles attempt 1', async () => {
      // GIVEN a RUNNING job on attempt 1 whose RUNNABLE event was lost
      const job = await runningJob();

      // WHEN Batch reports the retry RUNNING
      const result = await handler(batchEvent(batchJobName(job.jobId, 1), 'RUNNING', retryRunning), lambdaContext('batch-events'));

      // THEN
      expect(result).toEqual({ effect: 'attempt-updated' });
      const stored = await store.getJob(job.jobId);
      expect(stored?.status).toBe('RUNNING');
      // The job started when its first attempt did.
      expect(stored?.startedAt).toBe(new Date(STARTED_AT).toISOString());
      expect(stored?.attempts).toEqual([
        settledFirstAttempt,
        {
          attempt: 2,
          capacity: 'spot',
          status: 'RUNNING',
          batchJobId: '5f0c1b2a',
          startedAt: new Date(RETRY_STARTED_AT).toISOString(),
          instanceType: 'g5.xlarge',
          logStreamName: 'gpujobs/default/def',
        },
      ]);
    });

    it('moves the job from PENDING to RUNNING again when the retry runs', async () => {
      const job = await runningJob();
      await handler(batchEvent(batchJobName(job.jobId, 1), 'RUNNABLE', retryWaiting), lambdaContext('batch-events'));
      eventsMock.resetHistory();

      const result = await handler(batchEvent(batchJobName(job.jobId, 1), 'RUNNING', retryRunning), lambdaContext('batch-events'));

      expect(result).toEqual({ effect: 'job-running' });
      const stored = await store.getJob(job.jobId);
      expect(stored?.status).toBe('RUNNING');
      expect(stored?.attempts.map(({ attempt, status }) => `${attempt}:${status}`)).toEqual(['1:FAILED', '2:RUNNING']);
      expect(publishedDetails()).toEqual([
        expect.objectContaining({ detail: expect.objectContaining({ status: 'RUNNING', previousStatus: 'PENDING' }) }),
      ]);
    });

    it('changes nothing for duplicates and for the older events that arrive late', async () => {
      // GIVEN the retry already recorded RUNNING
      const job = await runningJob();
      await handler(batchEvent(batchJobName(job.jobId, 1), 'RUNNABLE', retryWaiting), lambdaContext('batch-events'));
      await handler(batchEvent(batchJobName(job.jobId, 1), 'RUNNING', retryRunning), lambdaContext('batch-events'));
      const before = await store.getJob(job.jobId);
      eventsMock.resetHistory();

      // WHEN the same RUNNING comes again, then the retry's RUNNABLE, then the first run's RUNNING, late
      const effects = [
        await handler(batchEvent(batchJobName(job.jobId, 1), 'RUNNING', retryRunning), lambdaContext('batch-events')),
        await handler(batchEvent(batchJobName(job.jobId, 1), 'RUNNABLE', retryWaiting), lambdaContext('batch-events')),
        await handler(batchEvent(batchJobName(job.jobId, 1), 'RUNNING', runningDetail), lambdaContext('batch-events')),
      ];

      // THEN nothing moved back and nothing was written or announced
      expect(effects).toEqual([{ effect: 'duplicate' }, { effect: 'stale' }, { effect: 'attempt-settled' }]);
      expect(await store.getJob(job.jobId)).toEqual(before);
      expect(eventsMock).not.toHaveReceivedCommand(PutEventsCommand);
    });

    it("records the facts of both runs when the Batch job ends, leaving the last attempt's outcome to the workflow", async () => {
      const job = await runningJob();
      await handler(batchEvent(batchJobName(job.jobId, 1), 'RUNNING', retryRunning), lambdaContext('batch-events'));

      // WHEN the retried job fails
      const finalRun = { ...retryRunning.container, exitCode: 3 };
      await handler(
        batchEvent(batchJobName(job.jobId, 1), 'FAILED', {
          startedAt: RETRY_STARTED_AT,
          stoppedAt: STOPPED_AT,
          statusReason: 'Essential container in task exited',
          container: finalRun,
          attempts: [
            lostRun,
            { container: finalRun, startedAt: RETRY_STARTED_AT, stoppedAt: STOPPED_AT, statusReason: 'Essential container in task exited' },
          ],
        }),
        lambdaContext('batch-events'),
      );

      // THEN
      const stored = await store.getJob(job.jobId);
      expect(stored?.attempts[0]).toEqual(settledFirstAttempt);
      expect(stored?.attempts[1]).toMatchObject({
        attempt: 2,
        status: 'RUNNING',
        exitCode: 3,
        stoppedAt: new Date(STOPPED_AT).toISOString(),
      });
    });
  });

  it('records the facts of a failed Batch job and leaves the outcome to the workflow', async () => {
    // GIVEN a RUNNING attempt
    const job = await pendingJobWithPlannedAttempt();
    await handler(batchEvent(batchJobName(job.jobId, 1), 'RUNNING', runningDetail), lambdaContext('batch-events'));
    eventsMock.resetHistory();

    // WHEN Batch reports the job FAILED
    await handler(
      batchEvent(batchJobName(job.jobId, 1), 'FAILED', {
        ...runningDetail,
        stoppedAt: STOPPED_AT,
        statusReason: 'Essential container in task exited',
        container: { ...runningDetail.container, exitCode: 3, reason: 'Essential container in task exited' },
      }),
      lambdaContext('batch-events'),
    );

    // THEN the attempt has its facts, and the job's status is untouched
    const stored = await store.getJob(job.jobId);
    expect(stored?.status).toBe('RUNNING');
    expect(stored?.attempts[0]).toMatchObject({
      status: 'RUNNING',
      exitCode: 3,
      stoppedAt: new Date(STOPPED_AT).toISOString(),
      statusReason: 'Essential container in task exited',
    });
    expect(eventsMock).not.toHaveReceivedCommand(PutEventsCommand);
  });

  it('ignores Batch jobs that are not gpujobs attempts', async () => {
    // WHEN
    await handler(batchEvent('nightly-etl', 'RUNNING', runningDetail), lambdaContext('batch-events'));

    // THEN
    expect(ecsMock).not.toHaveReceivedCommand(DescribeContainerInstancesCommand);
    expect(eventsMock).not.toHaveReceivedCommand(PutEventsCommand);
  });
});
