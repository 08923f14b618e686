import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPlatform, type TestPlatform } from './support.js';

// GIVEN local mode with 2 GPU slots
let local: TestPlatform;
beforeAll(async () => {
  local = await startTestPlatform({ gpus: 2 });
});
afterAll(async () => {
  await local?.dispose();
});

describe('local mode, a job larger than the machine', () => {
  it('is refused with 422 naming gpus and the slots, and never stored', async () => {
    const owner = 'shapes-owner';

    const response = await local.api.request<{ type: string; detail: string; errors: { path: string; message: string }[] }>(
      'POST',
      '/v1/jobs',
      {
        body: { image: 'busybox', command: ['true'], gpus: 3 },
        owner,
      },
    );

    expect(response.status).toBe(422);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    expect(response.body.type).toBe('urn:gpujobs:problem:unplaceable');
    expect(response.body.errors).toEqual([{ path: 'gpus', message: 'the most available is 2 GPUs (the 2 local GPU slots); received 3' }]);
    // Local mode limits GPUs only: no vCPU or memory bound is quoted that it does not have.
    expect(response.body.detail).toBe(
      'No instance this deployment can launch holds the job. The largest jobs it can run: 2 GPUs, any vCPU count and any memory the API accepts (the 2 local GPU slots).',
    );
    const listing = await local.api.request<{ jobs: unknown[] }>('GET', '/v1/jobs', { owner });
    expect(listing.body.jobs).toEqual([]);
  });

  it('is accepted when it asks for every slot, with vCPUs and memory sized for AWS', async () => {
    const job = await local.api.submit({ command: ['true'], gpus: 2, vcpus: 48, memoryMiB: 186_777 });

    expect(job.status).toBe('QUEUED');
    await local.api.waitForStatus(job.jobId, ['SUCCEEDED']);
  });
});
