import { GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MAX_LOG_PAGE_BYTES } from '../../lambdas/api/job-logs.js';
import { aJobId, aJobSpec, anOwner } from '../support/jobs.js';
import { logsMock, resetAwsMocks, startApi, type ApiHarness } from './harness.js';
import { putJobAttempts, transitionJob } from '../../app/update-job.js';

/** A synchronous Lambda response may be at most 6 MB (https://docs.aws.amazon.com/lambda/latest/dg/API_Invoke.html). */
const LAMBDA_RESPONSE_LIMIT_BYTES = 6_000_000;

let api: ApiHarness;
beforeAll(async () => {
  api = await startApi();
});
afterAll(async () => api.stop());

/** One stream, paged as CloudWatch pages it: at most `limit` events and 1 MB (message bytes plus 26 each) per call. */
let stream: { timestamp: number; message: string }[] = [];

beforeEach(() => {
  resetAwsMocks();
  stream = [];
  logsMock.on(GetLogEventsCommand).callsFake((input: { nextToken?: string; limit?: number }) => {
    const start = input.nextToken === undefined ? 0 : Number(input.nextToken.replace('f/', ''));
    const events = [];
    let bytes = 0;
    for (let index = start; index < stream.length && events.length < (input.limit ?? 10_000); index++) {
      const event = stream[index] as { timestamp: number; message: string };
      const cost = Buffer.byteLength(event.message) + 26;
      if (events.length > 0 && bytes + cost > 1_048_576) break;
      events.push(event);
      bytes += cost;
    }
    return { events, nextForwardToken: `f/${start + events.length}`, nextBackwardToken: `b/${start}` };
  });
});

async function finishedJobWithOneStream() {
  const jobId = aJobId();
  const owner = anOwner();
  await api.store.createJob({ jobId, owner, spec: aJobSpec(), now: '2026-03-01T12:00:00.000Z' });
  await putJobAttempts(api.store, jobId, [{ attempt: 1, capacity: 'on-demand', status: 'SUCCEEDED', logStreamName: 'attempt-1' }]);
  await transitionJob(api.store, { jobId, from: ['QUEUED'], to: 'SUCCEEDED', now: '2026-03-01T13:00:00.000Z' });
  return { jobId, owner };
}

/** Every page, with what it would weigh as a Lambda response: the page is the `body` string of the result. */
async function readAllPages(jobId: string, owner: string) {
  const pages: { lines: { message: string }[]; nextToken?: string; responseBytes: number }[] = [];
  let nextToken: string | undefined;
  do {
    const response = await api.call({
      method: 'GET',
      path: `/v1/jobs/${jobId}/logs`,
      query: { limit: '1000', ...(nextToken ? { nextToken } : {}) },
      principalArn: owner,
    });
    expect(response.statusCode).toBe(200);
    const responseBytes = Buffer.byteLength(
      JSON.stringify({ statusCode: 200, headers: response.headers, body: JSON.stringify(response.body) }),
    );
    pages.push({ ...response.body, responseBytes });
    nextToken = response.body.nextToken;
  } while (nextToken && pages.length < 200);
  return pages;
}

describe('GET /v1/jobs/{jobId}/logs page size', () => {
  it('keeps a page of 10 CloudWatch calls of 1 MB under the Lambda response limit, and serves every line once', async () => {
    // GIVEN 40 lines of 250 KB: ten GetLogEvents calls' worth, about 10 MB
    stream = Array.from({ length: 40 }, (_, index) => ({ timestamp: 1_000 + index, message: `${index}:`.padEnd(250 * 1024, 'x') }));
    const { jobId, owner } = await finishedJobWithOneStream();
    // WHEN every page is read
    const pages = await readAllPages(jobId, owner);
    // THEN each page stays under the budget and the limit, and the lines come back once each, in order
    for (const page of pages) expect(page.responseBytes).toBeLessThan(LAMBDA_RESPONSE_LIMIT_BYTES);
    for (const page of pages) expect(page.responseBytes).toBeLessThan(MAX_LOG_PAGE_BYTES + 64 * 1024);
    expect(pages.length).toBeGreaterThan(2);
    expect(pages.flatMap((page) => page.lines.map((line) => line.message.split(':')[0]))).toEqual(
      Array.from({ length: 40 }, (_, index) => String(index)),
    );
    expect(pages.at(-1)).not.toHaveProperty('nextToken');
  });

  it('counts JSON escaping: lines of control characters still fit under the limit', async () => {
    // GIVEN 12 lines of 200,000 control characters: each escapes to six characters, then to seven in the body string
    stream = Array.from({ length: 12 }, (_, index) => ({ timestamp: 1_000 + index, message: `${index}:${'\u0001'.repeat(200_000)}` }));
    const { jobId, owner } = await finishedJobWithOneStream();
    // WHEN every page is read
    const pages = await readAllPages(jobId, owner);
    // THEN no page reaches the limit, and every line is served once
    for (const page of pages) expect(page.responseBytes).toBeLessThan(LAMBDA_RESPONSE_LIMIT_BYTES);
    expect(pages.flatMap((page) => page.lines.map((line) => line.message.split(':')[0]))).toEqual(
      Array.from({ length: 12 }, (_, index) => String(index)),
    );
  });
});
