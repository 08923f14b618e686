/**
 * On AWS, API Gateway hands the handler the `{jobId}` path parameter already decoded, and a
 * `$default` route hands it the raw path: whatever arrives that is not a job id names no job.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aJobId, aJobSpec, anOwner } from '../support/jobs.js';
import { startApi, type ApiHarness } from './harness.js';

let api: ApiHarness;

beforeAll(async () => {
  api = await startApi();
});
afterAll(async () => api.stop());

const NOT_JOB_IDS = ['%', '%E0%A4%A', '%ZZ', '\u0000', '../../etc', 'é', ' ', 'x'.repeat(8000)];

const ROUTES = [
  { method: 'GET', suffix: '' },
  { method: 'POST', suffix: '/cancel' },
  { method: 'GET', suffix: '/logs' },
] as const;

describe('a {jobId} that is no job id', () => {
  it.each(ROUTES.flatMap((route) => NOT_JOB_IDS.map((jobId) => [route.method, route.suffix, jobId] as const)))(
    'answers %s /v1/jobs/{jobId}%s with 404 problem details for %j',
    async (method, suffix, jobId) => {
      const response = await api.call({ method, path: `/v1/jobs/${jobId}${suffix}` });

      expect(response.statusCode).toBe(404);
      expect(response.headers['content-type']).toBe('application/problem+json');
      expect(response.body.status).toBe(404);
    },
  );

  it.each(ROUTES.map((route) => [route.method, route.suffix] as const))(
    'answers %s /v1/jobs/%%E0%%A4%%A%s on a $default route with 404 problem details',
    async (method, suffix) => {
      const response = await api.call({ method, path: `/v1/jobs/%E0%A4%A${suffix}`, routeKey: '$default' });

      expect(response.statusCode).toBe(404);
      expect(response.headers['content-type']).toBe('application/problem+json');
    },
  );

  it("finds the caller's job by a fully percent-encoded id on a $default route", async () => {
    const jobId = aJobId();
    const owner = anOwner();
    await api.store.createJob({ jobId, owner, spec: aJobSpec(), now: '2026-03-01T12:00:00.000Z' });
    const encoded = [...jobId].map((character) => `%${character.charCodeAt(0).toString(16)}`).join('');

    const found = await api.call({ method: 'GET', path: `/v1/jobs/${encoded}`, routeKey: '$default', principalArn: owner });

    expect(found.statusCode).toBe(200);
    expect(found.body.jobId).toBe(jobId);
  });
});
