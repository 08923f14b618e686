/**
 * Attack report row 9: reconcile (and finish) closed open attempts from a read taken before
 * prepare's putAttempt landed, then wrote the terminal status on top of the attempt prepare had
 * just added, so a CANCELLED job kept attempt 1 PENDING for good. These tests land prepare's
 * write exactly in that window, on the real store against dynalite.
 */
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { jobCostUsd } from '../../core/cost.js';
import { isAttemptSettled, type JobRecord } from '../../core/job.js';
import type { JobStore } from '../../core/ports.js';
import { createExecutionReconciler } from '../../app/reconcile-execution.js';
import { EventPublisher } from '../../lambdas/shared/events-publisher.js';
import type { DynamoJobStore } from '../../lambdas/shared/job-store.js';
import { NO_METRICS } from '../../core/contract/metrics.js';
import { terminalEventDependencies } from '../../app/terminal-event.js';
import { createJobFinisher } from '../../app/finish-job.js';
import { startDynalite, type RunningDynalite } from '../support/dynalite.js';
import { seedJob, storeFor } from './handler-fixtures.js';
import { recordingEventBus } from './terminal-events.js';
import { putJobAttempts, requestJobCancel } from '../../app/update-job.js';

const eventsMock = mockClient(EventBridgeClient);
let dynamo: RunningDynalite;
let store: DynamoJobStore;

beforeAll(async () => {
  dynamo = await startDynalite();
  store = storeFor(dynamo);
});

afterAll(async () => {
  await dynamo?.stop();
});

beforeEach(() => {
  eventsMock.reset();
});

/**
 * The store as the racing handler sees it: its first read of the job returns, and only then
 * does `racer` (prepare, still running after StopExecution) write.
 */
function racingStore(racer: () => Promise<unknown>): DynamoJobStore {
  let raced = false;
  return new Proxy(store, {
    get(target, property, receiver) {
      if (property !== 'getJob') return Reflect.get(target, property, receiver) as unknown;
      return async (jobId: string) => {
        const record = await target.getJob(jobId);
        if (!raced) {
          raced = true;
          await racer();
        }
        return record;
      };
    },
  });
}

function dependenciesFor(jobStore: JobStore) {
  const publisher = new EventPublisher(new EventBridgeClient({}), 'gpujobs-test-bus', { sleep: async () => undefined });
  return {
    store: jobStore,
    terminalEvents: terminalEventDependencies(jobStore, publisher),
    jobCostUsd: (record: JobRecord) => jobCostUsd(record.attempts),
    now: () => new Date().toISOString(),
    metrics: NO_METRICS,
  };
}

const openAttempts = (record: JobRecord | undefined) => (record?.attempts ?? []).filter((attempt) => !isAttemptSettled(attempt.status));

describe('a job that ends while prepare records its first attempt', () => {
  it('is CANCELLED by reconcile with that attempt CANCELLED too, never left PENDING', async () => {
    // GIVEN a PENDING job its owner cancelled before prepare recorded attempt 1
    const bus = recordingEventBus(eventsMock);
    const job = await seedJob(store, { path: ['PENDING'] });
    await requestJobCancel(store, job.jobId, new Date().toISOString());
    const prepareWrites = () => putJobAttempts(store, job.jobId, [{ attempt: 1, capacity: 'spot', status: 'PENDING' }]);

    // WHEN reconcile settles the stopped execution and prepare's write lands right after reconcile's read
    const reconcile = createExecutionReconciler(dependenciesFor(racingStore(prepareWrites)));
    const effect = await reconcile({
      jobId: job.jobId,
      executionArn: 'arn:aws:states:us-east-1:123456789012:execution:sm:x',
      status: 'ABORTED',
    });

    // THEN the job is CANCELLED, no attempt is open on it, and it was announced once
    const ended = await store.getJob(job.jobId);
    expect(effect).toBe('cancelled');
    expect(ended?.status).toBe('CANCELLED');
    expect(ended?.attempts).toEqual([expect.objectContaining({ attempt: 1, status: 'CANCELLED', failureClass: 'CANCELLED' })]);
    expect(openAttempts(ended)).toEqual([]);
    expect(bus.terminal().map((event) => event.detailType)).toEqual(['GPU Job Cancelled']);
  });

  it('refuses prepare an attempt once reconcile has made the job terminal', async () => {
    // GIVEN a cancelled PENDING job reconcile has already ended
    recordingEventBus(eventsMock);
    const job = await seedJob(store, { path: ['PENDING'] });
    await requestJobCancel(store, job.jobId, new Date().toISOString());
    await createExecutionReconciler(dependenciesFor(store))({ jobId: job.jobId, executionArn: 'arn:x', status: 'ABORTED' });

    // WHEN prepare's late write arrives
    const late = putJobAttempts(store, job.jobId, [{ attempt: 1, capacity: 'spot', status: 'PENDING' }]);

    // THEN it is refused and the job keeps no open attempt
    await expect(late).rejects.toThrow();
    expect(openAttempts(await store.getJob(job.jobId))).toEqual([]);
  });

  it('is ended by finish with an attempt that appeared after its read closed as well', async () => {
    // GIVEN a RUNNING job whose workflow decided it failed, and a Batch event recording a retry in place meanwhile
    const bus = recordingEventBus(eventsMock);
    const job = await seedJob(store, { path: ['PENDING', 'RUNNING'] });
    await putJobAttempts(store, job.jobId, [
      { attempt: 1, capacity: 'spot', status: 'FAILED', failureClass: 'APP_ERROR', statusReason: 'exit 1' },
    ]);
    const lateEvent = () =>
      putJobAttempts(store, job.jobId, [{ attempt: 2, capacity: 'spot', status: 'RUNNING', startedAt: new Date().toISOString() }]);

    // WHEN finish writes the outcome and the event's write lands right after finish's read
    const finish = createJobFinisher(dependenciesFor(racingStore(lateEvent)));
    const result = await finish({
      jobId: job.jobId,
      outcome: { status: 'FAILED', statusReason: 'Essential container in task exited', failureClass: 'APP_ERROR' },
    });

    // THEN the job is FAILED and the late attempt ended FAILED with it, with one terminal event
    const ended = await store.getJob(job.jobId);
    expect(result).toMatchObject({ status: 'FAILED', transitioned: true });
    expect(openAttempts(ended)).toEqual([]);
    expect(ended?.attempts.find((attempt) => attempt.attempt === 2)).toMatchObject({
      status: 'FAILED',
      statusReason: 'Essential container in task exited',
    });
    expect(bus.terminal().map((event) => event.detailType)).toEqual(['GPU Job Failed']);
  });
});
