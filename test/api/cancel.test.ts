import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { StopExecutionCommand } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { JobStatus } from '../../core/job.js';
import { aJobId, aJobSpec, anOwner } from '../support/jobs.js';
import { EVENT_BUS_NAME, STATE_MACHINE_ARN, eventBridgeMock, resetAwsMocks, sfnMock, startApi, type ApiHarness } from './harness.js';
import { transitionJob } from '../../app/update-job.js';

let api: ApiHarness;

beforeAll(async () => {
  api = await startApi();
});
afterAll(async () => api.stop());
beforeEach(() => resetAwsMocks());

const NOW = '2026-03-01T12:00:00.000Z';

async function jobIn(status: JobStatus, owner = anOwner()) {
  const jobId = aJobId();
  await api.store.createJob({ jobId, owner, spec: aJobSpec({ tags: { team: 'vision' } }), now: NOW });
  if (status !== 'QUEUED') await transitionJob(api.store, { jobId, from: ['QUEUED'], to: status, now: NOW });
  return { jobId, owner };
}

const cancel = (jobId: string, owner: string) => api.call({ method: 'POST', path: `/v1/jobs/${jobId}/cancel`, principalArn: owner });

const executionArnOf = (jobId: string) => `arn:aws:states:us-east-1:123456789012:execution:gpujobs-jobs:${jobId}`;

describe('POST /v1/jobs/{jobId}/cancel', () => {
  it('cancels a QUEUED job at once and announces it, without touching any execution', async () => {
    const { jobId, owner } = await jobIn('QUEUED');

    const response = await cancel(jobId, owner);

    expect(response.statusCode).toBe(202);
    expect(response.body).toMatchObject({
      jobId,
      status: 'CANCELLED',
      statusReason: expect.stringMatching(/cancelled/i),
      finishedAt: expect.any(String),
    });
    expect((await api.store.getJob(jobId))?.status).toBe('CANCELLED');
    expect(sfnMock).not.toHaveReceivedAnyCommand();
    const detail = {
      schemaVersion: '1',
      jobId,
      name: jobId,
      owner,
      status: 'CANCELLED',
      previousStatus: 'QUEUED',
      statusReason: response.body.statusReason,
      attempts: 0,
      costUsd: 0,
      tags: { team: 'vision' },
    };
    expect(eventBridgeMock).toHaveReceivedCommandExactlyOnceWith(PutEventsCommand, {
      Entries: [
        { EventBusName: EVENT_BUS_NAME, Source: 'gpujobs', DetailType: 'GPU Job Status Change', Detail: JSON.stringify(detail) },
        { EventBusName: EVENT_BUS_NAME, Source: 'gpujobs', DetailType: 'GPU Job Cancelled', Detail: JSON.stringify(detail) },
      ],
    });
  });

  it.each(['PENDING', 'RUNNING'] as const)('records the cancel of a %s job and stops its execution', async (status) => {
    const { jobId, owner } = await jobIn(status);

    const response = await cancel(jobId, owner);

    expect(response.statusCode).toBe(202);
    expect(response.body.status).toBe(status);
    expect(await api.store.getJob(jobId)).toMatchObject({ status, cancelRequested: true });
    expect(STATE_MACHINE_ARN).toContain(':stateMachine:');
    expect(sfnMock).toHaveReceivedCommandExactlyOnceWith(StopExecutionCommand, { executionArn: executionArnOf(jobId) });
    expect(eventBridgeMock).not.toHaveReceivedAnyCommand();
  });

  it('accepts a second cancel of a job being cancelled, stopping its execution again', async () => {
    const { jobId, owner } = await jobIn('RUNNING');
    await cancel(jobId, owner);
    const versionAfterFirst = (await api.store.getJob(jobId))?.version;

    const again = await cancel(jobId, owner);

    expect(again.statusCode).toBe(202);
    expect((await api.store.getJob(jobId))?.version).toBe(versionAfterFirst);
    expect(sfnMock).toHaveReceivedCommandTimes(StopExecutionCommand, 2);
  });

  it('accepts the cancel of a CANCELLED job and does nothing', async () => {
    const { jobId, owner } = await jobIn('CANCELLED');

    const response = await cancel(jobId, owner);

    expect(response.statusCode).toBe(202);
    expect(response.body.status).toBe('CANCELLED');
    expect(sfnMock).not.toHaveReceivedAnyCommand();
    expect(eventBridgeMock).not.toHaveReceivedAnyCommand();
  });

  it.each(['SUCCEEDED', 'FAILED'] as const)('refuses to cancel a %s job with 409', async (status) => {
    const { jobId, owner } = await jobIn(status);

    const response = await cancel(jobId, owner);

    expect(response.statusCode).toBe(409);
    expect(response.body).toMatchObject({ type: 'urn:gpujobs:problem:job-finished', status: 409 });
    expect((await api.store.getJob(jobId))?.status).toBe(status);
    expect(sfnMock).not.toHaveReceivedAnyCommand();
  });

  it("answers 404 for an unknown job and for another caller's job, changing nothing", async () => {
    const { jobId } = await jobIn('QUEUED');

    const foreign = await cancel(jobId, anOwner());
    const unknown = await cancel(aJobId(), anOwner());

    expect([foreign.statusCode, unknown.statusCode]).toEqual([404, 404]);
    expect((await api.store.getJob(jobId))?.status).toBe('QUEUED');
  });

  it('still answers 202 when the execution has not started yet', async () => {
    const { jobId, owner } = await jobIn('PENDING');
    sfnMock.on(StopExecutionCommand).rejects(Object.assign(new Error('no such execution'), { name: 'ExecutionDoesNotExist' }));

    const response = await cancel(jobId, owner);

    expect(response.statusCode).toBe(202);
    expect((await api.store.getJob(jobId))?.cancelRequested).toBe(true);
  });

  it('answers 503 when the execution cannot be stopped, keeping the cancel recorded for a retry', async () => {
    const { jobId, owner } = await jobIn('RUNNING');
    sfnMock.on(StopExecutionCommand).rejects(Object.assign(new Error('throttled'), { name: 'ThrottlingException' }));

    const response = await cancel(jobId, owner);

    expect(response.statusCode).toBe(503);
    expect((await api.store.getJob(jobId))?.cancelRequested).toBe(true);
  });

  it('keeps a QUEUED cancel when its event cannot be published', async () => {
    const { jobId, owner } = await jobIn('QUEUED');
    eventBridgeMock.on(PutEventsCommand).rejects(new Error('bus unavailable'));

    const response = await cancel(jobId, owner);

    expect(response.statusCode).toBe(202);
    expect((await api.store.getJob(jobId))?.status).toBe('CANCELLED');
  });

  it('announces a QUEUED cancel exactly once when PutEvents fails at first: a repeated cancel publishes what the first could not', async () => {
    // GIVEN EventBridge fails the first PutEvents call outright, then accepts
    const { jobId, owner } = await jobIn('QUEUED');
    const accepted: string[] = [];
    let failNextCall = true;
    eventBridgeMock.on(PutEventsCommand).callsFake((input: { Entries: { DetailType: string }[] }) => {
      if (failNextCall) {
        failNextCall = false;
        throw Object.assign(new Error('bus unavailable'), { name: 'InternalException' });
      }
      accepted.push(...input.Entries.map((entry) => entry.DetailType));
      return { FailedEntryCount: 0, Entries: input.Entries.map((_, position) => ({ EventId: `event-${position}` })) };
    });

    // WHEN the owner cancels three times
    const first = await cancel(jobId, owner);
    const acceptedAfterFirst = [...accepted];
    const second = await cancel(jobId, owner);
    const acceptedAfterSecond = [...accepted];
    const third = await cancel(jobId, owner);

    // THEN every cancel answers 202 with the job CANCELLED; the first published nothing, the second the
    // events the first owed, the third nothing: one terminal event in all
    expect([first.statusCode, second.statusCode, third.statusCode]).toEqual([202, 202, 202]);
    expect([first.body.status, second.body.status, third.body.status]).toEqual(['CANCELLED', 'CANCELLED', 'CANCELLED']);
    expect(acceptedAfterFirst).toEqual([]);
    expect(acceptedAfterSecond).toEqual(['GPU Job Status Change', 'GPU Job Cancelled']);
    expect(accepted).toEqual(acceptedAfterSecond);
    expect(eventBridgeMock).toHaveReceivedCommandTimes(PutEventsCommand, 2);
    expect(second.body).not.toHaveProperty('terminalEvent');
  });

  it('resolves a cancel racing the dispatcher: either cancelled while queued or stopped while pending', async () => {
    for (let round = 0; round < 10; round++) {
      resetAwsMocks();
      const { jobId, owner } = await jobIn('QUEUED');

      const [response, dispatch] = await Promise.allSettled([
        cancel(jobId, owner),
        transitionJob(api.store, { jobId, from: ['QUEUED'], to: 'PENDING', now: NOW }),
      ]);

      const final = await api.store.getJob(jobId);
      expect(response.status === 'fulfilled' && response.value.statusCode).toBe(202);
      if (dispatch.status === 'fulfilled') {
        expect(final).toMatchObject({ status: 'PENDING', cancelRequested: true });
        expect(sfnMock).toHaveReceivedCommandWith(StopExecutionCommand, { executionArn: executionArnOf(jobId) });
        expect(eventBridgeMock).not.toHaveReceivedAnyCommand();
      } else {
        expect(final?.status).toBe('CANCELLED');
        expect(eventBridgeMock).toHaveReceivedCommandTimes(PutEventsCommand, 1);
      }
    }
  });

  it("resolves a cancel racing the job's own end: one terminal status, and 409 only if the end came first", async () => {
    for (let round = 0; round < 10; round++) {
      resetAwsMocks();
      const { jobId, owner } = await jobIn('RUNNING');

      const [response, completion] = await Promise.allSettled([
        cancel(jobId, owner),
        transitionJob(api.store, { jobId, from: ['PENDING', 'RUNNING'], to: 'SUCCEEDED', now: NOW }),
      ]);

      const final = await api.store.getJob(jobId);
      expect(completion.status).toBe('fulfilled');
      expect(final?.status).toBe('SUCCEEDED');
      const statusCode = response.status === 'fulfilled' ? response.value.statusCode : 0;
      expect([202, 409]).toContain(statusCode);
      if (statusCode === 409) expect(sfnMock).not.toHaveReceivedAnyCommand();
    }
  });
});
