import 'aws-sdk-client-mock-vitest/extend';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { FinishInput, FinishResult } from '../../core/contract/workflow.js';
import type { DynamoJobStore } from '../../lambdas/shared/job-store.js';
import { startDynalite, type RunningDynalite } from '../support/dynalite.js';
import { lambdaContext, seedJob, setHandlerEnvironment, storeFor } from './handler-fixtures.js';
import { recordingEventBus } from './terminal-events.js';
import { putJobAttempts, transitionJob } from '../../app/update-job.js';

const eventsMock = mockClient(EventBridgeClient);
let dynamo: RunningDynalite;
let store: DynamoJobStore;
let handler: (input: FinishInput, context: ReturnType<typeof lambdaContext>) => Promise<FinishResult>;

beforeAll(async () => {
  dynamo = await startDynalite();
  setHandlerEnvironment(dynamo);
  store = storeFor(dynamo);
  ({ handler } = await import('../../lambdas/finish/handler.js'));
});

afterAll(async () => {
  await dynamo?.stop();
});

beforeEach(() => {
  eventsMock.reset();
});

/** A RUNNING job whose one On-Demand attempt succeeded and cost $0.50. */
async function jobWithSettledAttempt() {
  const job = await seedJob(store, { path: ['PENDING', 'RUNNING'] });
  await putJobAttempts(store, job.jobId, [
    {
      attempt: 1,
      capacity: 'on-demand',
      status: 'SUCCEEDED',
      exitCode: 0,
      instanceType: 'g5.xlarge',
      startedAt: '2025-05-01T10:00:00.000Z',
      stoppedAt: '2025-05-01T10:30:00.000Z',
      costUsd: 0.5,
    },
  ]);
  return job;
}

const succeeded = (jobId: string): FinishInput => ({
  jobId,
  outcome: { status: 'SUCCEEDED', statusReason: 'Completed on attempt 1 (On-Demand)', exitCode: 0 },
});

describe('finish', () => {
  it('writes the terminal status and announces it once, even when PutEvents rejects the terminal entry at first', async () => {
    // GIVEN EventBridge rejects the terminal event on its first try
    const job = await jobWithSettledAttempt();
    const bus = recordingEventBus(eventsMock, { rejectOnce: (entry) => entry.DetailType === 'GPU Job Succeeded' });

    // WHEN
    const result = await handler(succeeded(job.jobId), lambdaContext('finish'));

    // THEN
    expect(result).toEqual({ jobId: job.jobId, status: 'SUCCEEDED', transitioned: true });
    const stored = await store.getJob(job.jobId);
    expect(stored).toMatchObject({ status: 'SUCCEEDED', statusReason: 'Completed on attempt 1 (On-Demand)', exitCode: 0, costUsd: 0.5 });
    expect(stored?.finishedAt).toEqual(expect.any(String));
    expect(bus.terminal()).toEqual([
      {
        detailType: 'GPU Job Succeeded',
        detail: expect.objectContaining({ jobId: job.jobId, status: 'SUCCEEDED', previousStatus: 'RUNNING', costUsd: 0.5 }),
      },
    ]);
    expect(bus.accepted.filter((event) => event.detailType === 'GPU Job Status Change')).toHaveLength(1);
  });

  it('publishes nothing more when Step Functions runs it a second time', async () => {
    // GIVEN a finished and announced job
    const job = await jobWithSettledAttempt();
    const bus = recordingEventBus(eventsMock);
    await handler(succeeded(job.jobId), lambdaContext('finish'));
    const announced = bus.accepted.length;

    // WHEN it runs again
    const again = await handler(succeeded(job.jobId), lambdaContext('finish'));

    // THEN same answer, no event
    expect(again).toEqual({ jobId: job.jobId, status: 'SUCCEEDED', transitioned: true });
    expect(bus.accepted).toHaveLength(announced);
    expect(bus.terminal()).toHaveLength(1);
  });

  it('publishes on the retry what a failed PutEvents could not, and only that once', async () => {
    // GIVEN EventBridge is down during the first try
    const job = await jobWithSettledAttempt();
    eventsMock.on(PutEventsCommand).rejects(new Error('EventBridge unavailable'));
    await expect(handler(succeeded(job.jobId), lambdaContext('finish'))).rejects.toThrow('EventBridge unavailable');
    expect((await store.getJob(job.jobId))?.status).toBe('SUCCEEDED');

    // WHEN Step Functions retries twice with EventBridge back
    eventsMock.reset();
    const bus = recordingEventBus(eventsMock);
    await handler(succeeded(job.jobId), lambdaContext('finish'));
    await handler(succeeded(job.jobId), lambdaContext('finish'));

    // THEN
    expect(bus.terminal()).toEqual([expect.objectContaining({ detailType: 'GPU Job Succeeded' })]);
  });

  it('leaves a job that was cancelled first alone and publishes nothing', async () => {
    // GIVEN the job became CANCELLED before the workflow finished it
    const job = await jobWithSettledAttempt();
    const cancelled = await transitionJob(store, { jobId: job.jobId, from: ['RUNNING'], to: 'CANCELLED', now: new Date().toISOString() });
    recordingEventBus(eventsMock);

    // WHEN
    const result = await handler(succeeded(job.jobId), lambdaContext('finish'));

    // THEN
    expect(result).toEqual({ jobId: job.jobId, status: 'CANCELLED', transitioned: false });
    expect((await store.getJob(job.jobId))?.version).toBe(cancelled.version);
    expect(eventsMock).not.toHaveReceivedCommand(PutEventsCommand);
  });

  it('fails a job with the outcome the workflow decided', async () => {
    // GIVEN
    const job = await jobWithSettledAttempt();
    const bus = recordingEventBus(eventsMock);

    // WHEN
    const result = await handler(
      {
        jobId: job.jobId,
        outcome: { status: 'FAILED', statusReason: 'The container exited with code 3', exitCode: 3, failureClass: 'APP_ERROR' },
      },
      lambdaContext('finish'),
    );

    // THEN
    expect(result.status).toBe('FAILED');
    expect(await store.getJob(job.jobId)).toMatchObject({
      status: 'FAILED',
      exitCode: 3,
      statusReason: 'The container exited with code 3',
    });
    expect(bus.terminal()).toEqual([
      expect.objectContaining({ detailType: 'GPU Job Failed', detail: expect.objectContaining({ exitCode: 3 }) }),
    ]);
  });
});
