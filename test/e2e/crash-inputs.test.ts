/**
 * The request bodies that once took local mode down (the attack report's D01–D03, F28 and B10),
 * sent to a running platform: each is refused naming its field, or, for a program that does not
 * exist, ends FAILED with the reason, and the platform goes on answering and running jobs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPlatform, type TestPlatform } from './support.js';

let local: TestPlatform;
beforeAll(async () => {
  local = await startTestPlatform();
});
afterAll(async () => {
  await local?.dispose();
});

interface Problem {
  readonly type: string;
  readonly status: number;
  readonly errors?: readonly { readonly path: string; readonly message: string }[];
}

const owner = 'crash-inputs-owner';

const postRaw = (body: string | Buffer) =>
  fetch(`${local.platform.url}/v1/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-gpujobs-owner': owner },
    body,
  });

async function expectPlatformRunsAJob(): Promise<void> {
  const { jobId } = await local.api.submit({ command: ['sh', '-c', 'echo still-here'] }, { owner });
  const job = await local.api.waitForStatus(jobId, ['SUCCEEDED', 'FAILED'], { owner });
  expect(job.status).toBe('SUCCEEDED');
  expect(await local.api.logs(jobId, owner)).toEqual(['still-here']);
}

describe('local mode, given the request bodies that used to crash it', () => {
  const refused: [string, string, number, string, string][] = [
    ['an empty program', JSON.stringify({ image: 'busybox', command: [''] }), 422, 'not-executable', 'command.0'],
    ['a NUL byte in an argument', JSON.stringify({ image: 'busybox', command: ['echo', 'a\u0000b'] }), 422, 'not-executable', 'command.1'],
    [
      'a NUL byte in an environment value',
      JSON.stringify({ image: 'busybox', command: ['true'], environment: { A: 'x\u0000y' } }),
      422,
      'not-executable',
      'environment.A',
    ],
    [
      'a NUL byte in an environment name',
      JSON.stringify({ image: 'busybox', command: ['true'], environment: { 'A\u0000B': 'x' } }),
      400,
      'invalid-request',
      'environment.A\u0000B',
    ],
    // Written out: JSON.stringify of an object literal would not carry a __proto__ member.
    [
      'an environment variable named __proto__',
      '{"image":"busybox","command":["true"],"environment":{"__proto__":{"x":"y"}}}',
      400,
      'invalid-request',
      'environment.__proto__',
    ],
  ];

  it.each(refused)('refuses %s, naming the field, and keeps answering', async (_case, body, status, slug, path) => {
    const response = await postRaw(body);
    const problem = (await response.json()) as Problem;

    expect(response.status).toBe(status);
    expect(problem.type).toBe(`urn:gpujobs:problem:${slug}`);
    expect(problem.errors?.map((error) => error.path)).toEqual([path]);
    const listing = await local.api.request<{ jobs: unknown[] }>('GET', '/v1/jobs', { owner });
    expect(listing.status).toBe(200);
  });

  it('refuses a body that is not UTF-8 instead of running the job with U+FFFD in its command', async () => {
    const json = Buffer.from(JSON.stringify({ image: 'busybox', command: ['echo', 'XX'] }), 'latin1');
    const invalid = Buffer.from(json.toString('latin1').replace('XX', '\xff\xfe'), 'latin1');

    const response = await postRaw(invalid);
    const problem = (await response.json()) as Problem;

    expect(response.status).toBe(400);
    expect(problem.errors?.map((error) => error.path)).toEqual(['']);
  });

  it('ends a job whose program does not exist FAILED with the reason, on Spot alone, and keeps running jobs', async () => {
    const { jobId } = await local.api.submit({ command: ['gpujobs-no-such-program', '--flag'] }, { owner });

    const job = await local.api.waitForStatus(jobId, ['SUCCEEDED', 'FAILED'], { owner });

    expect(job.status).toBe('FAILED');
    expect(job.statusReason).toContain('CannotStartContainerError');
    expect(job.statusReason).toContain('gpujobs-no-such-program');
    expect(job.attempts.map((attempt) => `${attempt.capacity}:${attempt.status}:${attempt.failureClass}`)).toEqual([
      'spot:FAILED:MISCONFIGURATION',
    ]);
    await expectPlatformRunsAJob();
  });

  it('still runs a normal job after all of them', async () => {
    await expectPlatformRunsAJob();
  });
});
