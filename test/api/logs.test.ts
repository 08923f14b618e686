import { GetLogEventsCommand, ResourceNotFoundException } from '@aws-sdk/client-cloudwatch-logs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { JobStatus } from '../../core/job.js';
import type { StoredAttempt } from '../../core/job-change.js';
import { aJobId, aJobSpec, anOwner } from '../support/jobs.js';
import { JOB_LOG_GROUP_NAME, logsMock, resetAwsMocks, startApi, type ApiHarness } from './harness.js';
import { putJobAttempts, transitionJob } from '../../app/update-job.js';

let api: ApiHarness;

beforeAll(async () => {
  api = await startApi();
});
afterAll(async () => api.stop());

/** CloudWatch Logs streams as GetLogEvents pages them: forward tokens, the same token back at the end. */
const streams = new Map<string, { timestamp: number; message: string }[]>();

beforeEach(() => {
  resetAwsMocks();
  streams.clear();
  logsMock.on(GetLogEventsCommand).callsFake((input: { logStreamName: string; nextToken?: string; limit?: number }) => {
    const events = streams.get(input.logStreamName);
    if (!events) throw new ResourceNotFoundException({ message: 'The specified log stream does not exist.', $metadata: {} });
    const start = input.nextToken === undefined ? 0 : Number(input.nextToken.replace('f/', ''));
    const page = events.slice(start, start + (input.limit ?? 10_000));
    return { events: page, nextForwardToken: `f/${start + page.length}`, nextBackwardToken: `b/${start}` };
  });
});

const T0 = Date.parse('2026-03-01T12:00:00.000Z');

function writeLines(stream: string, ...messages: string[]) {
  const events = streams.get(stream) ?? [];
  for (const message of messages) events.push({ timestamp: T0 + events.length * 1000, message });
  streams.set(stream, events);
}

async function jobWithAttempts(status: JobStatus, attempts: StoredAttempt[], owner = anOwner()) {
  const jobId = aJobId();
  await api.store.createJob({ jobId, owner, spec: aJobSpec(), now: '2026-03-01T12:00:00.000Z' });
  for (const attempt of attempts) await putJobAttempts(api.store, jobId, [attempt]);
  if (status !== 'QUEUED') await transitionJob(api.store, { jobId, from: ['QUEUED'], to: status, now: '2026-03-01T13:00:00.000Z' });
  return { jobId, owner };
}

const readLogs = (jobId: string, owner: string, query: Record<string, string> = {}) =>
  api.call({ method: 'GET', path: `/v1/jobs/${jobId}/logs`, query, principalArn: owner });

async function readAll(jobId: string, owner: string, limit: number) {
  const pages = [];
  let nextToken: string | undefined;
  do {
    const page = await readLogs(jobId, owner, { limit: String(limit), ...(nextToken ? { nextToken } : {}) });
    expect(page.statusCode).toBe(200);
    pages.push(page.body);
    nextToken = page.body.nextToken;
  } while (nextToken && pages.length < 20);
  return pages;
}

describe('GET /v1/jobs/{jobId}/logs', () => {
  it('returns the lines of every attempt in order, page by page, ending without a token', async () => {
    writeLines('attempt-1', 'loading data', 'epoch 1', 'interrupted');
    writeLines('attempt-2', 'loading data', 'epoch 1', 'done');
    const { jobId, owner } = await jobWithAttempts('SUCCEEDED', [
      { attempt: 1, capacity: 'spot', status: 'FAILED', failureClass: 'SPOT_RECLAIM', logStreamName: 'attempt-1' },
      { attempt: 2, capacity: 'on-demand', status: 'SUCCEEDED', logStreamName: 'attempt-2' },
    ]);

    const pages = await readAll(jobId, owner, 2);

    const lines = pages.flatMap((page) => page.lines);
    expect(lines.map((line: { attempt: number; message: string }) => `${line.attempt}:${line.message}`)).toEqual([
      '1:loading data',
      '1:epoch 1',
      '1:interrupted',
      '2:loading data',
      '2:epoch 1',
      '2:done',
    ]);
    expect(lines[0].timestamp).toBe('2026-03-01T12:00:00.000Z');
    expect(pages.every((page) => page.lines.length <= 2)).toBe(true);
    expect(pages.at(-1)).not.toHaveProperty('nextToken');
    expect(logsMock).toHaveReceivedCommandWith(GetLogEventsCommand, {
      logGroupName: JOB_LOG_GROUP_NAME,
      logStreamName: 'attempt-1',
      startFromHead: true,
    });
  });

  it('keeps following a running attempt: new lines arrive on the next page, none are skipped', async () => {
    writeLines('live', 'step 1', 'step 2');
    const { jobId, owner } = await jobWithAttempts('RUNNING', [{ attempt: 1, capacity: 'spot', status: 'RUNNING', logStreamName: 'live' }]);

    const first = await readLogs(jobId, owner);
    writeLines('live', 'step 3');
    const second = await readLogs(jobId, owner, { nextToken: first.body.nextToken });

    expect(first.body.lines.map((line: { message: string }) => line.message)).toEqual(['step 1', 'step 2']);
    expect(first.body.nextToken).toBeDefined();
    expect(second.body.lines.map((line: { message: string }) => line.message)).toEqual(['step 3']);
    expect(second.body.nextToken).toBeDefined();
  });

  it('skips attempts that never wrote a stream', async () => {
    writeLines('second', 'hello from on-demand');
    const { jobId, owner } = await jobWithAttempts('SUCCEEDED', [
      { attempt: 1, capacity: 'spot', status: 'FAILED', failureClass: 'NO_CAPACITY' },
      { attempt: 2, capacity: 'spot', status: 'FAILED', failureClass: 'NO_CAPACITY', logStreamName: 'never-created' },
      { attempt: 3, capacity: 'on-demand', status: 'SUCCEEDED', logStreamName: 'second' },
    ]);

    const pages = await readAll(jobId, owner, 200);

    expect(pages.flatMap((page) => page.lines)).toEqual([
      { attempt: 3, timestamp: '2026-03-01T12:00:00.000Z', message: 'hello from on-demand' },
    ]);
  });

  it('returns no lines and no token for a job cancelled before it started', async () => {
    const { jobId, owner } = await jobWithAttempts('CANCELLED', []);

    const response = await readLogs(jobId, owner);

    expect(response.statusCode).toBe(200);
    expect(response.body).toEqual({ lines: [] });
    expect(logsMock).not.toHaveReceivedAnyCommand();
  });

  it.each([
    ['limit', { limit: '0' }],
    ['limit', { limit: '1001' }],
    ['nextToken', { nextToken: 'not-a-token' }],
    ['nextToken', { nextToken: Buffer.from('{"a":0}').toString('base64url') }],
  ])('rejects a bad %s with 400 (%o)', async (path, query) => {
    const { jobId, owner } = await jobWithAttempts('RUNNING', []);

    const response = await readLogs(jobId, owner, query);

    expect(response.statusCode).toBe(400);
    expect(response.body.errors).toEqual([{ path, message: expect.any(String) }]);
  });

  it("answers 404 for another caller's job without reading any stream", async () => {
    writeLines('secret', 'password=hunter2');
    const { jobId } = await jobWithAttempts('RUNNING', [{ attempt: 1, capacity: 'spot', status: 'RUNNING', logStreamName: 'secret' }]);

    const response = await readLogs(jobId, anOwner());

    expect(response.statusCode).toBe(404);
    expect(logsMock).not.toHaveReceivedAnyCommand();
  });
});
