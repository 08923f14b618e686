import { afterEach, describe, expect, it, vi } from 'vitest';
import { formatJobShapes } from '../../core/instance-catalogue.js';
import { anOwner } from '../support/jobs.js';
import { startApi, type ApiHarness } from './harness.js';

let api: ApiHarness | undefined;

afterEach(async () => {
  await api?.stop();
  api = undefined;
});

const validBody = { image: 'ghcr.io/acme/trainer:1.0', command: ['train'] };

describe('the api handler', () => {
  it('answers an unexpected failure with a bare 500 that names only the request id', async () => {
    api = await startApi({ TABLE_NAME: 'no-such-table' });

    const response = await api.call({ method: 'GET', path: '/v1/jobs', principalArn: anOwner() });

    expect(response.statusCode).toBe(500);
    expect(response.headers['content-type']).toBe('application/problem+json');
    expect(response.body).toEqual({
      type: 'urn:gpujobs:problem:internal-error',
      title: 'Something went wrong',
      status: 500,
      detail: expect.stringMatching(/^Something went wrong\. Quote request id [0-9a-f-]{36} when reporting this\.$/),
      requestId: expect.any(String),
    });
    expect(JSON.stringify(response.body)).not.toMatch(/no-such-table|ResourceNotFound|at .*\.ts/);
  });

  it('fails to load, naming the variable, when its configuration is missing', async () => {
    vi.stubEnv('TABLE_NAME', 'jobs');
    vi.stubEnv('INTAKE_QUEUE_URL', '');
    vi.resetModules();

    await expect(import('../../lambdas/api/handler.js')).rejects.toThrow(/INTAKE_QUEUE_URL/);
    vi.unstubAllEnvs();
  });

  it.each([
    ['missing', ''],
    ['not a list of shapes', '{"gpus": 4}'],
  ])('fails to load, naming JOB_SHAPES, when it is %s', async (_, value) => {
    vi.stubEnv('TABLE_NAME', 'jobs');
    vi.stubEnv('INTAKE_QUEUE_URL', 'https://sqs.us-east-1.amazonaws.com/123456789012/q');
    vi.stubEnv('STATE_MACHINE_ARN', 'arn:aws:states:us-east-1:123456789012:stateMachine:m');
    vi.stubEnv('EVENT_BUS_NAME', 'bus');
    vi.stubEnv('JOB_LOG_GROUP_NAME', '/jobs');
    vi.stubEnv('JOB_SHAPES', value);
    vi.resetModules();

    await expect(import('../../lambdas/api/handler.js')).rejects.toThrow(/JOB_SHAPES/);
    vi.unstubAllEnvs();
  });

  it('judges a job against the shapes it is given', async () => {
    api = await startApi({ JOB_SHAPES: formatJobShapes([{ label: 'two small GPUs', gpus: 2, vcpus: 8, memoryMiB: 30_000 }]) });

    const fits = await api.call({ method: 'POST', path: '/v1/jobs', body: { ...validBody, gpus: 2, vcpus: 8 }, principalArn: anOwner() });
    const tooMany = await api.call({ method: 'POST', path: '/v1/jobs', body: { ...validBody, gpus: 3 }, principalArn: anOwner() });

    expect(fits.statusCode).toBe(202);
    expect(tooMany.statusCode).toBe(422);
    expect(tooMany.body.errors).toEqual([{ path: 'gpus', message: 'the most available is 2 GPUs (two small GPUs); received 3' }]);
  });

  describe('in local mode', () => {
    it('takes the owner from the x-gpujobs-owner header, else "local"', async () => {
      api = await startApi({ GPUJOBS_LOCAL_MODE: '1' });

      const named = await api.call({
        method: 'POST',
        path: '/v1/jobs',
        body: validBody,
        principalArn: null,
        headers: { 'x-gpujobs-owner': 'alice' },
      });
      const anonymous = await api.call({ method: 'POST', path: '/v1/jobs', body: validBody, principalArn: null });
      const asBob = await api.call({
        method: 'GET',
        path: `/v1/jobs/${named.body.jobId}`,
        principalArn: null,
        headers: { 'x-gpujobs-owner': 'bob' },
      });

      expect(named.body.owner).toBe('alice');
      expect(anonymous.body.owner).toBe('local');
      expect(asBob.statusCode).toBe(404);
    });

    it('still prefers a real principal over the header', async () => {
      api = await startApi({ GPUJOBS_LOCAL_MODE: '1' });

      const response = await api.call({
        method: 'POST',
        path: '/v1/jobs',
        body: validBody,
        principalArn: 'arn:aws:iam::123456789012:user/carol',
        headers: { 'x-gpujobs-owner': 'alice' },
      });

      expect(response.body.owner).toBe('arn:aws:iam::123456789012:user/carol');
    });
  });
});
