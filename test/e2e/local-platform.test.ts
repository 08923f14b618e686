import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DescribeExecutionCommand, SFNClient } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../../core/job.js';
import { executionArnFor } from '../../core/contract/workflow.js';
import { isAlive, startTestPlatform, terminalEventsOf, waitFor, type TestPlatform } from './support.js';

let local: TestPlatform;
let sfn: SFNClient;

beforeAll(async () => {
  local = await startTestPlatform();
  // The platform points the SDK at its Step Functions stand-in through AWS_ENDPOINT_URL_SFN.
  sfn = new SFNClient({});
});
afterAll(async () => {
  await local?.dispose();
});

/** Reclaims the running Spot attempt `times` times, waiting for each to start and to be gone. */
async function reclaimSpot(times: number): Promise<void> {
  for (let round = 0; round < times; round += 1) {
    const { pid } = await waitFor(
      () => local.platform.runningProcesses().find((process) => process.capacity === 'spot'),
      'a running Spot attempt',
    );
    const response = await local.api.request<{ interrupted: number }>('POST', '/local/spot/interrupt');
    expect(response.body.interrupted).toBe(1);
    await waitFor(() => !isAlive(pid) || undefined, `process ${pid} to end`);
  }
}

/** The job's log lines with the attempt each came from, every page. */
async function logLinesByAttempt(jobId: string): Promise<{ attempt: number; message: string }[]> {
  const lines: { attempt: number; message: string }[] = [];
  let nextToken: string | undefined;
  do {
    const query = nextToken ? `?nextToken=${encodeURIComponent(nextToken)}` : '';
    const page = await local.api.request<{ lines: { attempt: number; message: string }[]; nextToken?: string }>(
      'GET',
      `/v1/jobs/${jobId}/logs${query}`,
    );
    lines.push(...page.body.lines.map(({ attempt, message }) => ({ attempt, message })));
    nextToken = page.body.lines.length > 0 ? page.body.nextToken : undefined;
  } while (nextToken);
  return lines;
}

/**
 * Waits for the job's workflow execution to end. Finish publishes the status change and the
 * terminal event before the execution can end, so every event the workflow owes is out by then.
 */
async function workflowEnded(jobId: string): Promise<void> {
  const executionArn = executionArnFor(local.platform.stateMachineArn, jobId);
  await waitFor(
    async () => (await sfn.send(new DescribeExecutionCommand({ executionArn }))).status !== 'RUNNING' || undefined,
    `the workflow of job ${jobId} to end`,
  );
}

/** Waits until the local Batch executor has let go of the attempt whose process is `pid`. */
async function attemptEnded(pid: number): Promise<void> {
  await waitFor(
    () => !local.platform.runningProcesses().some((process) => process.pid === pid) || undefined,
    `the attempt of process ${pid} to end`,
  );
}

/** `previous→status` of each GPU Job Status Change the job announced, in order. */
async function statusChangesOf(jobId: string): Promise<string[]> {
  return (await local.api.events())
    .filter((event) => event.detail.jobId === jobId && event['detail-type'] === 'GPU Job Status Change')
    .map((event) => `${String(event.detail.previousStatus)}→${String(event.detail.status)}`);
}

const attemptsOf = (job: Job) =>
  job.attempts.map((attempt) => `${attempt.capacity}:${attempt.status}${attempt.failureClass ? `:${attempt.failureClass}` : ''}`);

describe('local mode end to end, over HTTP', () => {
  it('runs a job to SUCCEEDED with its logs and exactly one terminal event', async () => {
    const { jobId, status } = await local.api.submit({ command: ['sh', '-c', 'echo hello; echo world >&2'] });

    const job = await local.api.waitForStatus(jobId, ['SUCCEEDED', 'FAILED']);
    await workflowEnded(jobId);

    expect(status).toBe('QUEUED');
    expect(job.status).toBe('SUCCEEDED');
    expect(job.exitCode).toBe(0);
    expect(attemptsOf(job)).toEqual(['spot:SUCCEEDED']);
    expect((await local.api.logs(jobId)).sort()).toEqual(['hello', 'world']);
    expect(await terminalEventsOf(local.api, jobId)).toEqual(['GPU Job Succeeded']);
  });

  it('ends an application failure FAILED with its exit code and no On-Demand attempt', async () => {
    const { jobId } = await local.api.submit({ command: ['sh', '-c', 'echo hi; exit 3'] });

    const job = await local.api.waitForStatus(jobId, ['SUCCEEDED', 'FAILED']);

    expect(job.status).toBe('FAILED');
    expect(job.exitCode).toBe(3);
    expect(attemptsOf(job)).toEqual(['spot:FAILED:APP_ERROR']);
    expect(await terminalEventsOf(local.api, jobId)).toEqual(['GPU Job Failed']);
  });

  it('gives the job its environment, its id and attempt, and CUDA_VISIBLE_DEVICES for gpus: 2', async () => {
    const { jobId } = await local.api.submit({
      gpus: 2,
      environment: { MY_SETTING: 'forty two' },
      command: [
        'node',
        '-e',
        'const e = process.env; console.log([e.MY_SETTING, e.GPUJOBS_JOB_ID, e.GPUJOBS_ATTEMPT, e.CUDA_VISIBLE_DEVICES].join("|"))',
      ],
    });

    await local.api.waitForStatus(jobId, ['SUCCEEDED']);
    const [line] = await local.api.logs(jobId);

    const [setting, id, attempt, devices] = line!.split('|');
    expect({ setting, id, attempt }).toEqual({ setting: 'forty two', id: jobId, attempt: '1' });
    expect(devices!.split(',')).toHaveLength(2);
  });

  it('rejects bad input with problem details: 400 per field, malformed JSON, 413 over 64 KiB, 404 for unknown routes', async () => {
    const missingImage = await local.api.request<{ errors: { path: string }[] }>('POST', '/v1/jobs', {
      body: { command: ['true'], gpus: 9 },
    });
    const malformed = await local.api.request('POST', '/v1/jobs', {
      rawBody: '{"image":',
      headers: { 'content-type': 'application/json' },
    });
    const notObject = await local.api.request('POST', '/v1/jobs', { body: ['busybox'] });
    const unknownField = await local.api.request<{ errors: { path: string }[] }>('POST', '/v1/jobs', {
      body: { image: 'busybox', command: ['true'], colour: 'red' },
    });
    const tooLarge = await local.api.request('POST', '/v1/jobs', {
      body: { image: 'busybox', command: ['true'], environment: { BIG: 'x'.repeat(70 * 1024) } },
    });
    const unknownRoute = await local.api.request('GET', '/v2/jobs');

    expect(missingImage.status).toBe(400);
    expect(missingImage.headers.get('content-type')).toContain('application/problem+json');
    expect(missingImage.body.errors.map((error) => error.path).sort()).toEqual(['gpus', 'image']);
    expect(malformed.status).toBe(400);
    expect(notObject.status).toBe(400);
    expect(unknownField.status).toBe(400);
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.headers.get('content-type')).toContain('application/problem+json');
    expect(unknownRoute.status).toBe(404);
    expect(unknownRoute.headers.get('content-type')).toContain('application/problem+json');
  });

  it('keeps owners apart through X-Gpujobs-Owner', async () => {
    const { jobId, owner } = await local.api.submit({ command: ['true'] }, { owner: 'alice' });

    const asBob = await local.api.request('GET', `/v1/jobs/${jobId}`, { owner: 'bob' });
    const bobsList = await local.api.request<{ jobs: Job[] }>('GET', '/v1/jobs', { owner: 'bob' });
    const bobCancels = await local.api.request('POST', `/v1/jobs/${jobId}/cancel`, { owner: 'bob' });
    const alicesList = await local.api.request<{ jobs: Job[] }>('GET', '/v1/jobs', { owner: 'alice' });

    expect(owner).toBe('alice');
    expect(asBob.status).toBe(404);
    expect(bobCancels.status).toBe(404);
    expect(bobsList.body.jobs.map((job) => job.jobId)).not.toContain(jobId);
    expect(alicesList.body.jobs.map((job) => job.jobId)).toContain(jobId);
  });

  it('creates one job for concurrent replays of an Idempotency-Key and refuses the key with another body', async () => {
    const body = { command: ['true'], name: 'idempotent' };

    const replies = await Promise.all(Array.from({ length: 8 }, () => local.api.submit(body, { owner: 'idem', idempotencyKey: 'key-1' })));
    const conflicting = await local.api.request('POST', '/v1/jobs', {
      body: { image: 'busybox', command: ['false'] },
      owner: 'idem',
      headers: { 'idempotency-key': 'key-1' },
    });
    const listed = await local.api.request<{ jobs: Job[] }>('GET', '/v1/jobs', { owner: 'idem' });

    expect(new Set(replies.map((job) => job.jobId)).size).toBe(1);
    expect(conflicting.status).toBe(409);
    expect(listed.body.jobs).toHaveLength(1);
  });

  it('cancels a running job: its process is really gone and it ends CANCELLED with one event', async () => {
    const { jobId } = await local.api.submit({ command: ['sh', '-c', 'echo pid=$$; sleep 60'] });
    await local.api.waitForStatus(jobId, ['RUNNING']);
    const pidLine = await waitFor(async () => (await local.api.logs(jobId)).find((line) => line.startsWith('pid=')), 'the pid line');
    const pid = Number(pidLine.slice(4));
    expect(isAlive(pid)).toBe(true);

    const cancel = await local.api.request('POST', `/v1/jobs/${jobId}/cancel`);
    const job = await local.api.waitForStatus(jobId, ['CANCELLED', 'FAILED', 'SUCCEEDED']);
    // The job turns CANCELLED when its stopped execution is reconciled, which can be before the executor's kill lands.
    await attemptEnded(pid);

    expect(cancel.status).toBe(202);
    expect(job.status).toBe('CANCELLED');
    expect(isAlive(pid)).toBe(false);
    expect(await terminalEventsOf(local.api, jobId)).toEqual(['GPU Job Cancelled']);
    expect((await local.api.request('POST', `/v1/jobs/${jobId}/cancel`)).status).toBe(202);
  });

  it('cancels a job waiting for GPUs: it never starts', async () => {
    // GIVEN a job holding all 4 GPU slots and a second one waiting for them
    const holder = await local.api.submit({ gpus: 4, command: ['sleep', '60'] });
    await local.api.waitForStatus(holder.jobId, ['RUNNING']);
    const marker = join(local.dataDir, 'waiting-job-started');
    const waiting = await local.api.submit({ command: ['touch', marker] });
    await local.api.waitForStatus(waiting.jobId, ['PENDING']);

    // WHEN it is cancelled, and the slots free up afterwards
    await local.api.request('POST', `/v1/jobs/${waiting.jobId}/cancel`);
    const cancelled = await local.api.waitForStatus(waiting.jobId, ['CANCELLED', 'FAILED', 'SUCCEEDED']);
    await local.api.request('POST', `/v1/jobs/${holder.jobId}/cancel`);
    await local.api.waitForStatus(holder.jobId, ['CANCELLED']);
    // A job needing every slot, submitted last: the executor starts runnable jobs in order, so once
    // it has run, the freed slots went to whatever was queued ahead of it and that has ended.
    const sentinel = await local.api.submit({ gpus: 4, command: ['true'] });
    await local.api.waitForStatus(sentinel.jobId, ['SUCCEEDED']);

    // THEN it ended CANCELLED and its command never ran
    expect(cancelled.status).toBe('CANCELLED');
    expect(existsSync(marker)).toBe(false);
    expect(cancelled.attempts.every((attempt) => attempt.startedAt === undefined)).toBe(true);
  });

  it('retries a reclaimed Spot attempt in place within the budget: attempt 2 on Spot, with its own times and log lines', async () => {
    // GIVEN a job with a Spot budget of 3 whose first run waits to be reclaimed (Batch numbers its runs in AWS_BATCH_JOB_ATTEMPT)
    const { jobId } = await local.api.submit({
      maxSpotAttempts: 3,
      command: ['sh', '-c', 'echo "run $AWS_BATCH_JOB_ATTEMPT"; if [ "$AWS_BATCH_JOB_ATTEMPT" = 1 ]; then sleep 60; fi; echo done'],
    });
    await waitFor(async () => (await local.api.logs(jobId)).includes('run 1') || undefined, 'the first run to write its line');

    // WHEN its Spot instance is reclaimed
    await reclaimSpot(1);
    const job = await local.api.waitForStatus(jobId, ['SUCCEEDED', 'FAILED']);
    await workflowEnded(jobId);

    // THEN Batch ran it again in place, on Spot, as attempt 2, and the job shows both attempts
    expect(job.status).toBe('SUCCEEDED');
    expect(attemptsOf(job)).toEqual(['spot:FAILED:SPOT_RECLAIM', 'spot:SUCCEEDED']);
    expect(job.attempts.map((attempt) => attempt.attempt)).toEqual([1, 2]);
    expect(job.statusReason).toBe('Completed on attempt 2 (Spot) after 1 Spot reclaim');
    const [reclaimed, retried] = job.attempts;
    expect(reclaimed!.statusReason).toMatch(/^Host EC2 \(instance i-[0-9a-f]+\) terminated\.$/);
    expect(reclaimed!.stoppedAt! <= retried!.startedAt!).toBe(true);
    expect(reclaimed!.costUsd).toBe(0);
    // AND each attempt has its own log lines
    expect(await logLinesByAttempt(jobId)).toEqual([
      { attempt: 1, message: 'run 1' },
      { attempt: 2, message: 'run 2' },
      { attempt: 2, message: 'done' },
    ]);
    // AND the job waited again while the retry waited for its instance
    expect(await statusChangesOf(jobId)).toEqual([
      'QUEUED→PENDING',
      'PENDING→RUNNING',
      'RUNNING→PENDING',
      'PENDING→RUNNING',
      'RUNNING→SUCCEEDED',
    ]);
  });

  it('fails over to On-Demand when a reclaim exceeds a Spot budget of 1, with no retry on Spot', async () => {
    const { jobId } = await local.api.submit({
      maxSpotAttempts: 1,
      command: ['sh', '-c', 'if [ "$GPUJOBS_ATTEMPT" = 1 ]; then sleep 60; fi'],
    });

    await reclaimSpot(1);
    const job = await local.api.waitForStatus(jobId, ['SUCCEEDED', 'FAILED']);

    expect(job.status).toBe('SUCCEEDED');
    expect(attemptsOf(job)).toEqual(['spot:FAILED:SPOT_RECLAIM', 'on-demand:SUCCEEDED']);
    expect(job.attempts.map((attempt) => attempt.attempt)).toEqual([1, 2]);
    expect(job.statusReason).toBe('Completed on attempt 2 (On-Demand) after 1 Spot reclaim');
  });

  it('fails over to On-Demand once in-place retries use up the Spot budget', async () => {
    const { jobId } = await local.api.submit({
      maxSpotAttempts: 2,
      command: ['sh', '-c', 'if [ "$GPUJOBS_ATTEMPT" = 1 ]; then sleep 60; fi'],
    });

    // Batch runs the Spot submission again in place once (the budget is 2), and both runs are reclaimed.
    await reclaimSpot(2);
    const job = await local.api.waitForStatus(jobId, ['SUCCEEDED', 'FAILED']);

    expect(job.status).toBe('SUCCEEDED');
    expect(attemptsOf(job)).toEqual(['spot:FAILED:SPOT_RECLAIM', 'spot:FAILED:SPOT_RECLAIM', 'on-demand:SUCCEEDED']);
  });

  it('ends a spot-only job FAILED when its Spot budget is exhausted', async () => {
    const { jobId } = await local.api.submit({ capacity: 'spot-only', maxSpotAttempts: 1, command: ['sleep', '60'] });

    await reclaimSpot(1);
    const job = await local.api.waitForStatus(jobId, ['SUCCEEDED', 'FAILED']);

    expect(job.status).toBe('FAILED');
    expect(attemptsOf(job)).toEqual(['spot:FAILED:SPOT_RECLAIM']);
  });

  it('fails over to On-Demand after the capacity timeout when Spot has no capacity', async () => {
    await local.api.request('POST', '/local/spot/capacity', { body: { available: false } });
    try {
      const { jobId } = await local.api.submit({ command: ['true'] });

      const job = await local.api.waitForStatus(jobId, ['SUCCEEDED', 'FAILED']);

      expect(job.status).toBe('SUCCEEDED');
      expect(attemptsOf(job)).toEqual(['spot:FAILED:NO_CAPACITY', 'on-demand:SUCCEEDED']);
    } finally {
      await local.api.request('POST', '/local/spot/capacity', { body: { available: true } });
    }
  });

  it('runs an on-demand job on On-Demand only', async () => {
    const { jobId } = await local.api.submit({ capacity: 'on-demand', command: ['true'] });

    const job = await local.api.waitForStatus(jobId, ['SUCCEEDED', 'FAILED']);

    expect(attemptsOf(job)).toEqual(['on-demand:SUCCEEDED']);
  });

  it('pages through 25 jobs newest first and filters them by status', async () => {
    const submitted: string[] = [];
    for (let index = 0; index < 25; index += 1) {
      submitted.push((await local.api.submit({ command: [index % 5 === 0 ? 'false' : 'true'] }, { owner: 'pager' })).jobId);
    }
    for (const jobId of submitted) await local.api.waitForStatus(jobId, ['SUCCEEDED', 'FAILED'], { owner: 'pager' });

    const pages: Job[][] = [];
    let nextToken: string | undefined;
    do {
      const query = `?limit=10${nextToken ? `&nextToken=${encodeURIComponent(nextToken)}` : ''}`;
      const page = await local.api.request<{ jobs: Job[]; nextToken?: string }>('GET', `/v1/jobs${query}`, { owner: 'pager' });
      pages.push(page.body.jobs);
      nextToken = page.body.nextToken;
    } while (nextToken);
    const failed = await local.api.request<{ jobs: Job[] }>('GET', '/v1/jobs?status=FAILED&limit=100', { owner: 'pager' });
    const badLimit = await local.api.request('GET', '/v1/jobs?limit=1000', { owner: 'pager' });

    expect(pages.map((page) => page.length)).toEqual([10, 10, 5]);
    expect(pages.flat().map((job) => job.jobId)).toEqual([...submitted].reverse());
    expect(failed.body.jobs.map((job) => job.jobId).sort()).toEqual(submitted.filter((_, index) => index % 5 === 0).sort());
    expect(badLimit.status).toBe(400);
  });
});
