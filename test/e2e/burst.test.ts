import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../../core/job.js';
import { startTestPlatform, TERMINAL_EVENT_TYPES, waitFor, type TestPlatform } from './support.js';

let local: TestPlatform;

beforeAll(async () => {
  local = await startTestPlatform();
});
afterAll(async () => {
  await local?.dispose();
});

describe('a burst of submissions', () => {
  it('runs 300 concurrent submissions to SUCCEEDED with exactly 300 terminal events', async () => {
    // WHEN 300 jobs are submitted at once
    const submitted = await Promise.all(Array.from({ length: 300 }, () => local.api.submit({ command: ['true'] }, { owner: 'burst' })));
    const ids = new Set(submitted.map((job) => job.jobId));

    // THEN every one of them ends SUCCEEDED, each announced exactly once
    const terminalEvents = await waitFor(
      async () => {
        const terminal = (await local.api.events()).filter((event) => TERMINAL_EVENT_TYPES.includes(event['detail-type']));
        return terminal.length >= 300 ? terminal : undefined;
      },
      'terminal events for all 300 jobs',
      120_000,
      250,
    );
    const succeeded: Job[] = [];
    let nextToken: string | undefined;
    do {
      const page = await local.api.request<{ jobs: Job[]; nextToken?: string }>(
        'GET',
        `/v1/jobs?status=SUCCEEDED&limit=100${nextToken ? `&nextToken=${encodeURIComponent(nextToken)}` : ''}`,
        { owner: 'burst' },
      );
      succeeded.push(...page.body.jobs);
      nextToken = page.body.nextToken;
    } while (nextToken);

    expect(ids.size).toBe(300);
    expect(new Set(succeeded.map((job) => job.jobId))).toEqual(ids);
    expect(terminalEvents).toHaveLength(300);
    expect(new Set(terminalEvents.map((event) => event.detail.jobId))).toEqual(ids);
  }, 180_000);
});
