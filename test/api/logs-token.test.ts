/**
 * A logs page token the caller made up is the caller's mistake: 400 naming nextToken, whether our
 * decoding or CloudWatch Logs refuses it. CloudWatch is stubbed as it answers: `f/<digits>/s`
 * forward tokens, InvalidParameterException (HTTP 400) for a token it did not issue.
 */
import { GetLogEventsCommand, InvalidParameterException } from '@aws-sdk/client-cloudwatch-logs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { StoredAttempt } from '../../core/job-change.js';
import { aJobId, aJobSpec, anOwner } from '../support/jobs.js';
import { logsMock, resetAwsMocks, startApi, type ApiHarness } from './harness.js';
import { putJobAttempts, transitionJob } from '../../app/update-job.js';

let api: ApiHarness;

beforeAll(async () => {
  api = await startApi();
});
afterAll(async () => api.stop());

const STREAM = 'attempt-1';
const EVENTS = ['one', 'two', 'three'].map((message, index) => ({
  timestamp: Date.parse('2026-03-01T12:00:00Z') + index,
  message,
  ingestionTime: 0,
}));

const invalidToken = () =>
  new InvalidParameterException({ message: 'The specified nextToken is invalid.', $metadata: { httpStatusCode: 400 } });

beforeEach(() => {
  resetAwsMocks();
  logsMock.on(GetLogEventsCommand).callsFake((input: { logStreamName: string; nextToken?: string; limit?: number }) => {
    let start = 0;
    if (input.nextToken !== undefined) {
      const match = /^f\/(\d{20})\/s$/.exec(input.nextToken);
      if (!match) throw invalidToken();
      start = Number(match[1]);
    }
    const page = EVENTS.slice(start, start + (input.limit ?? 10_000));
    const token = (position: number) => String(position).padStart(20, '0');
    return { events: page, nextForwardToken: `f/${token(start + page.length)}/s`, nextBackwardToken: `b/${token(start)}/s`, $metadata: {} };
  });
});

async function runningJob() {
  const jobId = aJobId();
  const owner = anOwner();
  await api.store.createJob({ jobId, owner, spec: aJobSpec(), now: '2026-03-01T12:00:00.000Z' });
  const attempt: StoredAttempt = { attempt: 1, capacity: 'spot', status: 'RUNNING', logStreamName: STREAM };
  await putJobAttempts(api.store, jobId, [attempt]);
  await transitionJob(api.store, { jobId, from: ['QUEUED'], to: 'RUNNING', now: '2026-03-01T12:01:00.000Z' });
  return { jobId, owner };
}

const readLogs = (jobId: string, owner: string, query: Record<string, string>) =>
  api.call({ method: 'GET', path: `/v1/jobs/${jobId}/logs`, query, principalArn: owner });

const token = (payload: unknown) => Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');

describe('a logs nextToken the caller made up', () => {
  it.each([
    ['a CloudWatch position CloudWatch never issued', token({ a: 1, t: 'garbage' })],
    ['a negative CloudWatch position', token({ a: 1, t: 'f/-1/s' })],
  ])('answers 400 naming nextToken for %s, as CloudWatch refuses it', async (_case, nextToken) => {
    const { jobId, owner } = await runningJob();

    const response = await readLogs(jobId, owner, { nextToken });

    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toBe('application/problem+json');
    expect(response.body.errors).toEqual([{ path: 'nextToken', message: expect.any(String) }]);
    expect(logsMock).toHaveReceivedCommandWith(GetLogEventsCommand, {
      logStreamName: STREAM,
      nextToken: JSON.parse(Buffer.from(nextToken, 'base64url').toString()).t,
    });
  });

  it.each([
    ['not base64url', 'garbage!!'],
    ['not JSON', Buffer.from('{"a":').toString('base64url')],
    ['attempt 0', token({ a: 0 })],
    ['a fractional attempt', token({ a: 1.5 })],
    ['an attempt as a string', token({ a: '1' })],
    ['an empty position', token({ a: 1, t: '' })],
    ['a position that is not a string', token({ a: 1, t: 5 })],
    ['an extra member', token({ a: 1, x: 1 })],
    ['an array', token([1])],
    ['null', token(null)],
    ['a skip of 0 (never handed out)', token({ a: 1, t: 'f/00000000000000000000/s', s: 0 })],
    ['a negative skip', token({ a: 1, s: -1 })],
    ['a skip past a CloudWatch page', token({ a: 1, s: 10_000 })],
    ['a skip as a string', token({ a: 1, s: '2' })],
  ])('answers 400 naming nextToken for %s without calling CloudWatch', async (_case, nextToken) => {
    const { jobId, owner } = await runningJob();

    const response = await readLogs(jobId, owner, { nextToken });

    expect(response.statusCode).toBe(400);
    expect(response.body.errors).toEqual([{ path: 'nextToken', message: expect.any(String) }]);
    expect(logsMock).not.toHaveReceivedCommand(GetLogEventsCommand);
  });

  it('still pages with the tokens it handed out', async () => {
    const { jobId, owner } = await runningJob();

    const first = await readLogs(jobId, owner, { limit: '2' });
    const second = await readLogs(jobId, owner, { limit: '2', nextToken: first.body.nextToken });

    expect(second.statusCode).toBe(200);
    expect([...first.body.lines, ...second.body.lines].map((line: { message: string }) => line.message)).toEqual(['one', 'two', 'three']);
  });

  it('answers 500, not 400, when CloudWatch refuses a request that carried no caller token', async () => {
    const { jobId, owner } = await runningJob();
    logsMock
      .on(GetLogEventsCommand)
      .rejects(new InvalidParameterException({ message: 'logGroupName is invalid.', $metadata: { httpStatusCode: 400 } }));

    const response = await readLogs(jobId, owner, {});

    expect(response.statusCode).toBe(500);
    expect(JSON.stringify(response.body)).not.toContain('logGroupName');
  });
});
