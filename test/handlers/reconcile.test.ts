import 'aws-sdk-client-mock-vitest/extend';
import { BatchClient, ClientException, TerminateJobCommand } from '@aws-sdk/client-batch';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CANCEL_TERMINATE_REASON } from '../../core/failure.js';
import type { FinishInput, FinishResult } from '../../core/contract/workflow.js';
import type { DynamoJobStore } from '../../lambdas/shared/job-store.js';
import { startDynalite, type RunningDynalite } from '../support/dynalite.js';
import { executionStatusChange } from '../support/aws-events.js';
import { STATE_MACHINE_ARN, lambdaContext, seedJob, setHandlerEnvironment, storeFor } from './handler-fixtures.js';
import { recordingEventBus } from './terminal-events.js';
import { putJobAttempts, requestJobCancel } from '../../app/update-job.js';

const eventsMock = mockClient(EventBridgeClient);
const batchMock = mockClient(BatchClient);
let dynamo: RunningDynalite;
let store: DynamoJobStore;
let handler: (event: unknown, context: ReturnType<typeof lambdaContext>) => Promise<unknown>;
let finish: (input: FinishInput, context: ReturnType<typeof lambdaContext>) => Promise<FinishResult>;

const STOPPED_AT = Date.parse('2025-05-01T11:00:00.000Z');

beforeAll(async () => {
  dynamo = await startDynalite();
  setHandlerEnvironment(dynamo);
  store = storeFor(dynamo);
  ({ handler } = await import('../../lambdas/reconcile/handler.js'));
  ({ handler: finish } = await import('../../lambdas/finish/handler.js'));
});

afterAll(async () => {
  await dynamo?.stop();
});

beforeEach(() => {
  eventsMock.reset();
  batchMock.reset();
  batchMock.on(TerminateJobCommand).resolves({});
});

function executionEnded(jobId: string, status: string, failure: { error?: string; cause?: string } = {}) {
  return executionStatusChange({
    stateMachineArn: STATE_MACHINE_ARN,
    jobId,
    status,
    stopDate: STOPPED_AT,
    time: '2025-05-01T11:00:00Z',
    ...failure,
  });
}

/** A RUNNING job with its first attempt running on Spot. */
async function runningJob() {
  const job = await seedJob(store, { path: ['PENDING', 'RUNNING'] });
  return putJobAttempts(store, job.jobId, [
    {
      attempt: 1,
      capacity: 'spot',
      status: 'RUNNING',
      batchJobId: 'b-1',
      startedAt: '2025-05-01T10:00:00.000Z',
    },
  ]);
}

describe('reconcile', () => {
  it('makes a job whose execution was stopped for a cancel CANCELLED, with one event', async () => {
    // GIVEN a running job its owner cancelled (the api marked it and stopped the execution)
    const job = await runningJob();
    await requestJobCancel(store, job.jobId, new Date().toISOString());
    const bus = recordingEventBus(eventsMock);

    // WHEN the execution's ABORTED event arrives, twice
    await handler(executionEnded(job.jobId, 'ABORTED'), lambdaContext('reconcile'));
    await handler(executionEnded(job.jobId, 'ABORTED'), lambdaContext('reconcile'));

    // THEN
    const stored = await store.getJob(job.jobId);
    expect(stored).toMatchObject({
      status: 'CANCELLED',
      statusReason: 'Cancelled by its owner',
      finishedAt: new Date(STOPPED_AT).toISOString(),
    });
    expect(stored?.attempts[0]).toMatchObject({
      status: 'CANCELLED',
      failureClass: 'CANCELLED',
      stoppedAt: new Date(STOPPED_AT).toISOString(),
    });
    expect(bus.terminal()).toEqual([
      {
        detailType: 'GPU Job Cancelled',
        detail: expect.objectContaining({ jobId: job.jobId, status: 'CANCELLED', previousStatus: 'RUNNING' }),
      },
    ]);
  });

  it('fails a job whose execution timed out, saying so', async () => {
    // GIVEN
    const job = await runningJob();
    const bus = recordingEventBus(eventsMock);

    // WHEN
    await handler(
      executionEnded(job.jobId, 'TIMED_OUT', { error: 'States.Timeout', cause: 'Execution timed out after 2073600 seconds' }),
      lambdaContext('reconcile'),
    );

    // THEN
    const stored = await store.getJob(job.jobId);
    expect(stored?.status).toBe('FAILED');
    expect(stored?.statusReason).toBe('Workflow execution TIMED_OUT: States.Timeout: Execution timed out after 2073600 seconds');
    expect(stored?.attempts[0]?.status).toBe('FAILED');
    expect(bus.terminal()).toEqual([expect.objectContaining({ detailType: 'GPU Job Failed' })]);
  });

  it('does nothing for a job that is already terminal and announced', async () => {
    // GIVEN a job the workflow finished (and announced) before its execution failed
    const job = await runningJob();
    recordingEventBus(eventsMock);
    await finish({ jobId: job.jobId, outcome: { status: 'SUCCEEDED', statusReason: 'Completed', exitCode: 0 } }, lambdaContext('finish'));
    const finished = await store.getJob(job.jobId);
    eventsMock.resetHistory();

    // WHEN
    await handler(executionEnded(job.jobId, 'FAILED', { error: 'Lambda.Unknown' }), lambdaContext('reconcile'));

    // THEN
    expect(await store.getJob(job.jobId)).toEqual(finished);
    expect(eventsMock).not.toHaveReceivedCommand(PutEventsCommand);
  });

  it('publishes the terminal event a finish could not, once its execution has failed', async () => {
    // GIVEN finish wrote SUCCEEDED but EventBridge failed on every retry, so the execution FAILED
    const job = await runningJob();
    eventsMock.on(PutEventsCommand).rejects(new Error('EventBridge unavailable'));
    await expect(
      finish({ jobId: job.jobId, outcome: { status: 'SUCCEEDED', statusReason: 'Completed', exitCode: 0 } }, lambdaContext('finish')),
    ).rejects.toThrow();
    eventsMock.reset();
    const bus = recordingEventBus(eventsMock);

    // WHEN the execution's FAILED event arrives
    await handler(executionEnded(job.jobId, 'FAILED', { error: 'EventPublishError' }), lambdaContext('reconcile'));

    // THEN the job keeps its real outcome, and its one terminal event is out
    expect((await store.getJob(job.jobId))?.status).toBe('SUCCEEDED');
    expect(bus.terminal()).toEqual([expect.objectContaining({ detailType: 'GPU Job Succeeded' })]);
  });

  describe('the Batch job a stopped execution leaves behind', () => {
    it('is terminated when a cancel stopped the execution, before the job is recorded CANCELLED', async () => {
      // GIVEN a cancelled running job whose attempt still runs as Batch job b-1
      const job = await runningJob();
      await requestJobCancel(store, job.jobId, new Date().toISOString());
      recordingEventBus(eventsMock);

      // WHEN
      await handler(executionEnded(job.jobId, 'ABORTED'), lambdaContext('reconcile'));

      // THEN
      expect(batchMock).toHaveReceivedCommandWith(TerminateJobCommand, { jobId: 'b-1', reason: CANCEL_TERMINATE_REASON });
      expect((await store.getJob(job.jobId))?.status).toBe('CANCELLED');
    });

    it('is terminated when the execution timed out', async () => {
      const job = await runningJob();
      recordingEventBus(eventsMock);

      await handler(executionEnded(job.jobId, 'TIMED_OUT', { error: 'States.Timeout' }), lambdaContext('reconcile'));

      expect(batchMock).toHaveReceivedCommandWith(TerminateJobCommand, {
        jobId: 'b-1',
        reason: 'Terminated by gpujobs: workflow execution TIMED_OUT',
      });
    });

    it('is left alone when the execution failed in a Lambda task, after its Batch job ended', async () => {
      const job = await runningJob();
      recordingEventBus(eventsMock);

      await handler(executionEnded(job.jobId, 'FAILED', { error: 'Lambda.Unknown' }), lambdaContext('reconcile'));

      expect(batchMock).not.toHaveReceivedCommand(TerminateJobCommand);
    });

    it('is forgotten when Batch no longer knows it, and the job still ends', async () => {
      const job = await runningJob();
      await requestJobCancel(store, job.jobId, new Date().toISOString());
      recordingEventBus(eventsMock);
      batchMock.on(TerminateJobCommand).rejects(new ClientException({ message: 'Job b-1 not found', $metadata: {} }));

      await handler(executionEnded(job.jobId, 'ABORTED'), lambdaContext('reconcile'));

      expect((await store.getJob(job.jobId))?.status).toBe('CANCELLED');
    });

    it('keeps the job open when Batch could not be reached, so a retry terminates it', async () => {
      const job = await runningJob();
      await requestJobCancel(store, job.jobId, new Date().toISOString());
      recordingEventBus(eventsMock);
      batchMock.on(TerminateJobCommand).rejects(Object.assign(new Error('Service unavailable'), { name: 'ServerException' }));

      await expect(handler(executionEnded(job.jobId, 'ABORTED'), lambdaContext('reconcile'))).rejects.toThrow('Service unavailable');

      expect((await store.getJob(job.jobId))?.status).toBe('RUNNING');
    });
  });
});
