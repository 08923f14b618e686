/**
 * Client mistakes over HTTP in local mode: a forged logs token and a job id that is not valid
 * percent-encoding get 4xx problem details, and `allowedRegistries` path entries admit exactly
 * the images under them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENV } from '../../core/contract/environment.js';
import { startTestPlatform, type TestPlatform } from './support.js';

const ECR = '123456789012.dkr.ecr.us-east-1.amazonaws.com';

let local: TestPlatform;

beforeAll(async () => {
  process.env[ENV.allowedRegistries] = `ghcr.io/acme,${ECR}/team,docker.io/library`;
  local = await startTestPlatform();
});
afterAll(async () => {
  await local?.dispose();
  delete process.env[ENV.allowedRegistries];
});

const forged = (payload: unknown) => Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');

describe('client mistakes in local mode', () => {
  it('answers a forged logs nextToken with 400 naming nextToken, and keeps serving the logs', async () => {
    const { jobId } = await local.api.submit({ command: ['sh', '-c', 'echo hello'] });
    await local.api.waitForStatus(jobId, ['SUCCEEDED']);

    for (const nextToken of [forged({ a: 1, t: 'garbage' }), forged({ a: 1, t: 'f/-1/s' }), forged({ a: 1, x: 1 }), 'garbage']) {
      const response = await local.api.request<{ errors: { path: string }[] }>('GET', `/v1/jobs/${jobId}/logs?nextToken=${nextToken}`);
      expect({ nextToken, status: response.status }).toEqual({ nextToken, status: 400 });
      expect(response.headers.get('content-type')).toContain('application/problem+json');
      expect(response.body.errors.map((error) => error.path)).toEqual(['nextToken']);
    }
    expect(await local.api.logs(jobId)).toEqual(['hello']);
  });

  it.each(['%', '%E0%A4%A', '%ZZ', 'abc%'])(
    'answers a job id %j that is not valid percent-encoding with 404 on every job route',
    async (jobId) => {
      const responses = [
        await local.api.request('GET', `/v1/jobs/${jobId}`),
        await local.api.request('POST', `/v1/jobs/${jobId}/cancel`, { body: {} }),
        await local.api.request('GET', `/v1/jobs/${jobId}/logs`),
      ];

      for (const response of responses) {
        expect(response.status).toBe(404);
        expect(response.headers.get('content-type')).toContain('application/problem+json');
      }
      expect((await local.api.request('GET', '/v1/jobs')).status).toBe(200);
    },
  );

  it('admits the images under each allowed path and refuses the rest, naming the image field', async () => {
    const admitted = [];
    for (const image of ['ghcr.io/acme/app:1', `${ECR}/team/model:1`, 'busybox']) {
      admitted.push(await local.api.request<{ jobId: string }>('POST', '/v1/jobs', { body: { image, command: ['true'] } }));
    }
    const refused = [];
    for (const image of ['ghcr.io/acmecorp/x', 'attacker/miner', `${ECR}/teammate/model:1`, 'quay.io/acme/app']) {
      refused.push(await local.api.request<{ errors: { path: string }[] }>('POST', '/v1/jobs', { body: { image, command: ['true'] } }));
    }
    for (const { body } of admitted) await local.api.request('POST', `/v1/jobs/${body.jobId}/cancel`, { body: {} });

    expect(admitted.map((response) => response.status)).toEqual([202, 202, 202]);
    expect(refused.map((response) => response.status)).toEqual([400, 400, 400, 400]);
    expect(refused.map((response) => response.body.errors.map((error) => error.path))).toEqual([
      ['image'],
      ['image'],
      ['image'],
      ['image'],
    ]);
  });
});
