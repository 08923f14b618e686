import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { captureEmf, type EmfCapture } from '../handlers/emf-capture.js';
import { anOwner } from '../support/jobs.js';
import { eventBridgeMock, resetAwsMocks, sqsMock, startApi, type ApiHarness } from './harness.js';

let api: ApiHarness;
let emf: EmfCapture;

beforeAll(async () => {
  emf = captureEmf();
  api = await startApi({ POWERTOOLS_METRICS_DISABLED: 'false', POWERTOOLS_SERVICE_NAME: 'GpuJobsStack' });
});
afterAll(async () => {
  emf?.restore();
  await api?.stop();
});
beforeEach(() => {
  resetAwsMocks();
  emf.clear();
});

const validBody = { image: 'public.ecr.aws/docker/library/python:3.12', command: ['python', 'train.py'] };

const submit = (owner: string, headers?: Record<string, string>) =>
  api.call({ method: 'POST', path: '/v1/jobs', body: validBody, principalArn: owner, ...(headers ? { headers } : {}) });

const cancel = (jobId: string, owner: string) => api.call({ method: 'POST', path: `/v1/jobs/${jobId}/cancel`, principalArn: owner });

describe('api metrics', () => {
  it('counts an accepted job as JobsSubmitted in namespace GpuJobs with the service from POWERTOOLS_SERVICE_NAME', async () => {
    const response = await submit(anOwner());

    expect(response.statusCode).toBe(202);
    expect(emf.all()).toEqual({ JobsSubmitted: [1] });
    expect(emf.documents[0]).toMatchObject({
      service: 'GpuJobsStack',
      _aws: {
        CloudWatchMetrics: [{ Namespace: 'GpuJobs', Dimensions: [['service']], Metrics: [{ Name: 'JobsSubmitted', Unit: 'Count' }] }],
      },
    });
  });

  it('does not count a replay of an idempotent request, nor a job the intake queue refused', async () => {
    const owner = anOwner();
    const headers = { 'Idempotency-Key': 'once' };
    await submit(owner, headers);
    emf.clear();

    const replay = await submit(owner, headers);
    sqsMock.on(SendMessageCommand).rejects(new Error('queue down'));
    const refused = await submit(owner);

    expect([replay.statusCode, refused.statusCode]).toEqual([202, 503]);
    expect(emf.documents).toEqual([]);
  });

  it('counts a QUEUED cancel as JobsCancelled once, even when its event is published only by a repeated cancel', async () => {
    const owner = anOwner();
    const { jobId } = (await submit(owner)).body as { jobId: string };
    emf.clear();
    eventBridgeMock
      .on(PutEventsCommand)
      .rejectsOnce(new Error('bus unavailable'))
      .resolves({ FailedEntryCount: 0, Entries: [{}, {}] });

    await cancel(jobId, owner);
    await cancel(jobId, owner);

    expect(emf.all()).toEqual({ JobsCancelled: [1] });
    expect(eventBridgeMock).toHaveReceivedCommandTimes(PutEventsCommand, 2);
  });
});
