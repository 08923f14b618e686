/**
 * The CLI against the real local platform (same handlers and workflow as AWS),
 * started in-process on a random port with a temporary data directory.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../../core/job.js';
import { startLocalPlatform, type LocalPlatform } from '../../local/platform.js';
import { cli, type CliOptions } from './run-cli.js';

describe('gpujobs against the local platform', () => {
  let platform: LocalPlatform;
  const run = (args: readonly string[], options: CliOptions = {}) =>
    cli(args, { realSleep: true, pollIntervalMs: 200, ...options, env: { GPUJOBS_ENDPOINT: platform.url, ...options.env } });

  beforeAll(async () => {
    platform = await startLocalPlatform({
      port: 0,
      dataDir: mkdtempSync(join(tmpdir(), 'gpujobs-cli-local-')),
      gpus: 4,
      capacityTimeoutSeconds: 5,
      stopGracePeriodSeconds: 1,
      quiet: true,
      // Host commands, whatever engine this machine has: the container runtimes have their own suite.
      runtime: 'process',
    });
  });

  afterAll(async () => {
    await platform?.stop();
  });

  it('submits and follows a job to SUCCEEDED (exit 0), then lists and shows it', async () => {
    const submitted = await run([
      'submit',
      '--wait',
      '--image',
      'alpine:3',
      '--name',
      'hello',
      '--',
      'sh',
      '-c',
      'echo hello from $GPUJOBS_JOB_ID',
    ]);

    expect(submitted.stderr).toContain('exit code 0');
    expect(submitted.code).toBe(0);
    const jobId = submitted.stdout.trim();

    const listed = await run(['list', '--json']);
    expect(JSON.parse(listed.stdout).jobs.map((job: { jobId: string }) => job.jobId)).toContain(jobId);
    const table = await run(['list']);
    expect(table.stdout).toMatch(new RegExp(`^${jobId} +hello +SUCCEEDED +spot `, 'm'));

    const shown = await run(['get', jobId]);
    expect(shown.stdout).toMatch(/status +SUCCEEDED/);
    expect(shown.stdout).toMatch(/^1 +spot +SUCCEEDED /m);

    const logs = await run(['logs', jobId]);
    expect(logs.stdout).toBe(`hello from ${jobId}\n`);
  });

  it('exits 1 and shows the exit code when the job FAILS', async () => {
    const result = await run(['submit', '--wait', '--image', 'alpine:3', '--', 'sh', '-c', 'exit 3']);

    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/FAILED after \S+ · exit code 3/);
  });

  it('follows logs until the job ends', async () => {
    const jobId = (
      await run(['submit', '--image', 'alpine:3', '--', 'sh', '-c', 'for i in 1 2 3; do echo line $i; sleep 0.3; done'])
    ).stdout.trim();

    const result = await run(['logs', jobId, '--follow']);

    expect(result.code).toBe(0);
    expect(result.stdout).toBe('line 1\nline 2\nline 3\n');
  });

  it('cancels a running job, and watch exits 130', async () => {
    const jobId = (await run(['submit', '--image', 'alpine:3', '--', 'sleep', '60'])).stdout.trim();

    const cancelled = await run(['cancel', jobId]);
    const watched = await run(['watch', jobId]);

    expect(cancelled.code).toBe(0);
    expect(watched.code).toBe(130);
    expect(watched.stdout).toContain('CANCELLED');
  });

  it('shows Spot reclaims and the failover to On-Demand in watch', async () => {
    // GIVEN a Spot job that is reclaimed every time it runs on Spot, until it fails over
    const jobId = (
      await run(['submit', '--image', 'alpine:3', '--max-spot-attempts', '1', '--', 'sh', '-c', 'sleep 3; echo done'])
    ).stdout.trim();
    const watching = run(['watch', jobId]);
    for (let tries = 0; tries < 200; tries += 1) {
      const job = JSON.parse((await run(['get', jobId, '--json'])).stdout) as Job;
      const last = job.attempts.at(-1);
      if (job.status === 'SUCCEEDED' || job.status === 'FAILED' || last?.capacity === 'on-demand') break;
      if (job.status === 'RUNNING' && last?.capacity === 'spot') {
        await fetch(new URL('/local/spot/interrupt', platform.url), { method: 'POST', headers: { 'content-type': 'application/json' } });
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    // WHEN
    const result = await watching;

    // THEN
    expect(result.stdout).toMatch(/attempt 1 on spot reclaimed after \S+ → attempt 2 on on-demand/);
    expect(result.code).toBe(0);
  });

  it("keeps one owner's jobs from another through --owner", async () => {
    const jobId = (await run(['submit', '--owner', 'alice', '--image', 'alpine:3', '--', 'true'])).stdout.trim();

    const asAlice = await run(['get', jobId, '--json', '--owner', 'alice']);
    const asBob = await run(['get', jobId], { env: { GPUJOBS_OWNER: 'bob' } });

    expect(JSON.parse(asAlice.stdout)).toMatchObject({ jobId, owner: 'alice' });
    expect(asBob.code).toBe(1);
    expect(asBob.stderr).toContain('(HTTP 404)');
  });

  it('shows the validation errors of the local check per field', async () => {
    const result = await run(['submit', '--image', 'alpine:3', '--gpus', '9', '--', 'true']);

    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^ {2}gpus: /m);
  });
});
