import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobStatus } from '../../core/job.js';
import { aJobId, aJobSpec, anOwner } from '../support/jobs.js';
import { startApi, type ApiHarness } from './harness.js';
import { putJobAttempts, transitionJob } from '../../app/update-job.js';

let api: ApiHarness;

beforeAll(async () => {
  api = await startApi();
});
afterAll(async () => api.stop());

const validBody = { image: 'ghcr.io/acme/trainer:1.0', command: ['train'] };

async function submitAs(owner: string, body: object = validBody): Promise<string> {
  const response = await api.call({ method: 'POST', path: '/v1/jobs', body, principalArn: owner });
  expect(response.statusCode).toBe(202);
  return response.body.jobId as string;
}

describe('GET /v1/jobs/{jobId}', () => {
  it("returns the caller's job with its attempts, without internal fields", async () => {
    const owner = anOwner();
    const jobId = await submitAs(owner, { ...validBody, name: 'resnet-50', tags: { team: 'vision' } });
    await transitionJob(api.store, {
      jobId,
      from: ['QUEUED'],
      to: 'RUNNING',
      now: '2026-03-01T12:00:00.000Z',
      set: { startedAt: '2026-03-01T12:00:00.000Z' },
    });
    await putJobAttempts(api.store, jobId, [
      {
        attempt: 1,
        capacity: 'spot',
        status: 'RUNNING',
        batchJobId: 'batch-1',
        instanceType: 'g5.xlarge',
        logStreamName: 'gpujobs/default/abc',
      },
    ]);

    const response = await api.call({ method: 'GET', path: `/v1/jobs/${jobId}`, principalArn: owner });

    expect(response.statusCode).toBe(200);
    expect(response.body).toMatchObject({
      jobId,
      name: 'resnet-50',
      status: 'RUNNING',
      tags: { team: 'vision' },
      startedAt: '2026-03-01T12:00:00.000Z',
    });
    expect(response.body.attempts).toEqual([
      { attempt: 1, capacity: 'spot', status: 'RUNNING', batchJobId: 'batch-1', instanceType: 'g5.xlarge' },
    ]);
    for (const internal of ['version', 'cancelRequested', 'executionArn', 'requestHash', 'pk', 'gsi1pk']) {
      expect(response.body).not.toHaveProperty(internal);
    }
  });

  it("answers 404 for an unknown job and for another caller's job, the same way", async () => {
    const jobId = await submitAs(anOwner());

    const foreign = await api.call({ method: 'GET', path: `/v1/jobs/${jobId}`, principalArn: anOwner() });
    const unknown = await api.call({ method: 'GET', path: '/v1/jobs/01UNKNOWNJOB000000000000000', principalArn: anOwner() });

    expect(foreign.statusCode).toBe(404);
    expect(unknown.statusCode).toBe(404);
    expect(foreign.headers['content-type']).toBe('application/problem+json');
    const withoutId = (detail: string, id: string) => detail.replace(id, '<id>');
    expect(withoutId(foreign.body.detail, jobId)).toBe(withoutId(unknown.body.detail, '01UNKNOWNJOB000000000000000'));
    expect({ ...foreign.body, detail: undefined }).toEqual({ ...unknown.body, detail: undefined });
  });

  it('answers 404 for a job id that cannot exist', async () => {
    const response = await api.call({ method: 'GET', path: '/v1/jobs/not%23a-job', principalArn: anOwner() });

    expect(response.statusCode).toBe(404);
  });
});

describe('GET /v1/jobs', () => {
  async function arrangeJobs(owner: string, statuses: readonly JobStatus[]) {
    const ids: string[] = [];
    for (const [index, status] of statuses.entries()) {
      const jobId = aJobId();
      await api.store.createJob({ jobId, owner, spec: aJobSpec(), now: `2026-03-01T12:00:${String(index).padStart(2, '0')}.000Z` });
      if (status !== 'QUEUED') await transitionJob(api.store, { jobId, from: ['QUEUED'], to: status, now: '2026-03-01T13:00:00.000Z' });
      ids.push(jobId);
    }
    return ids;
  }

  it("pages through the caller's jobs newest first, with no nextToken on the last page", async () => {
    const owner = anOwner();
    const ids = await arrangeJobs(owner, ['QUEUED', 'RUNNING', 'SUCCEEDED', 'QUEUED', 'FAILED']);
    await submitAs(anOwner());

    const first = await api.call({ method: 'GET', path: '/v1/jobs', query: { limit: '2' }, principalArn: owner });
    const second = await api.call({
      method: 'GET',
      path: '/v1/jobs',
      query: { limit: '2', nextToken: first.body.nextToken },
      principalArn: owner,
    });
    const third = await api.call({
      method: 'GET',
      path: '/v1/jobs',
      query: { limit: '2', nextToken: second.body.nextToken },
      principalArn: owner,
    });

    const pages = [first, second, third];
    expect(pages.map((page) => page.statusCode)).toEqual([200, 200, 200]);
    expect(pages.flatMap((page) => page.body.jobs.map((job: { jobId: string }) => job.jobId))).toEqual([...ids].reverse());
    expect(typeof first.body.nextToken).toBe('string');
    expect(third.body).not.toHaveProperty('nextToken');
  });

  it('filters by status', async () => {
    const owner = anOwner();
    const ids = await arrangeJobs(owner, ['QUEUED', 'RUNNING', 'QUEUED', 'SUCCEEDED']);

    const queued = await api.call({ method: 'GET', path: '/v1/jobs', query: { status: 'QUEUED' }, principalArn: owner });

    expect(queued.body.jobs.map((job: { jobId: string }) => job.jobId)).toEqual([ids[2], ids[0]]);
    expect(queued.body.jobs.every((job: { status: string }) => job.status === 'QUEUED')).toBe(true);
  });

  it('defaults to 20 jobs a page', async () => {
    const owner = anOwner();
    await arrangeJobs(owner, Array<JobStatus>(21).fill('QUEUED'));

    const page = await api.call({ method: 'GET', path: '/v1/jobs', principalArn: owner });

    expect(page.body.jobs).toHaveLength(20);
    expect(page.body.nextToken).toBeDefined();
  });

  it.each([
    ['status', { status: 'DONE' }],
    ['status', { status: 'queued' }],
    ['limit', { limit: '0' }],
    ['limit', { limit: '101' }],
    ['limit', { limit: 'ten' }],
    ['nextToken', { nextToken: 'garbage' }],
    ['nextToken', { nextToken: Buffer.from('{"pk":"x"}').toString('base64url') }],
  ])('rejects a bad %s with 400 naming it (%o)', async (path, query) => {
    const response = await api.call({ method: 'GET', path: '/v1/jobs', query, principalArn: anOwner() });

    expect(response.statusCode).toBe(400);
    expect(response.body.errors).toEqual([{ path, message: expect.any(String) }]);
  });

  it("rejects another caller's nextToken", async () => {
    const owner = anOwner();
    await arrangeJobs(owner, ['QUEUED', 'QUEUED']);
    const page = await api.call({ method: 'GET', path: '/v1/jobs', query: { limit: '1' }, principalArn: owner });

    const stolen = await api.call({ method: 'GET', path: '/v1/jobs', query: { nextToken: page.body.nextToken }, principalArn: anOwner() });

    expect(stolen.statusCode).toBe(400);
  });
});

describe('routing and authentication', () => {
  it('routes a $default request by method and path', async () => {
    const owner = anOwner();
    const jobId = await submitAs(owner);

    const response = await api.call({ method: 'GET', path: `/v1/jobs/${jobId}`, routeKey: '$default', principalArn: owner });

    expect(response.statusCode).toBe(200);
    expect(response.body.jobId).toBe(jobId);
  });

  it('answers 404 for an unknown path and 405 for a known path with another method', async () => {
    const unknown = await api.call({ method: 'GET', path: '/v2/jobs', routeKey: '$default' });
    const wrongMethod = await api.call({ method: 'DELETE', path: '/v1/jobs/ABC', routeKey: '$default' });

    expect(unknown.statusCode).toBe(404);
    expect(wrongMethod.statusCode).toBe(405);
    expect(wrongMethod.headers.allow).toBe('GET');
  });

  it('refuses a request without a principal with 401 outside local mode', async () => {
    const response = await api.call({ method: 'GET', path: '/v1/jobs', principalArn: null, headers: { 'x-gpujobs-owner': 'mallory' } });

    expect(response.statusCode).toBe(401);
    expect(response.headers['content-type']).toBe('application/problem+json');
  });

  it('takes the owner of a JWT request from its sub claim', async () => {
    const response = await api.call({ method: 'POST', path: '/v1/jobs', body: validBody, jwtSubject: 'user-1234' });

    expect(response.body.owner).toBe('user-1234');
  });
});
