/**
 * No-capacity failover at scale, end to end on the local platform: the local Batch queue
 * behaves like Batch's (the blocked reason and the time-limit cancel on the head job only),
 * so without the watchdog a burst fails over one job per capacity timeout, and with it each
 * job fails over within the timeout plus a few watchdog intervals of its own submission.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Job } from '../../core/job.js';
import { startTestPlatform, type TestPlatform } from './support.js';

const CAPACITY_TIMEOUT_SECONDS = 2;
const WATCHDOG_INTERVAL_SECONDS = 0.5;

let local: TestPlatform | undefined;
// One data dir for both platforms: handler modules load once per process and keep what they cached
// (the registered job definition) across starts, as after a restart.
const dataDir = mkdtempSync(join(tmpdir(), 'gpujobs-e2e-watchdog-'));

afterEach(async () => {
  await local?.platform.stop();
  local = undefined;
});
afterAll(() => {
  rmSync(dataDir, { recursive: true, force: true });
});

async function submitWithoutSpotCapacity(platform: TestPlatform, count: number): Promise<string[]> {
  await platform.api.request('POST', '/local/spot/capacity', { body: { available: false } });
  const jobIds: string[] = [];
  for (let index = 0; index < count; index += 1) {
    jobIds.push((await platform.api.submit({ capacity: 'spot-first', command: ['true'], name: `burst-${index}` })).jobId);
  }
  return jobIds;
}

/** Seconds from the job's submission to the end of its Spot attempt. */
function spotWaitSeconds(job: Job): number {
  const spot = job.attempts.find((attempt) => attempt.capacity === 'spot');
  if (!spot?.stoppedAt) throw new Error(`job ${job.jobId} has no ended Spot attempt: ${JSON.stringify(job.attempts)}`);
  return (Date.parse(spot.stoppedAt) - Date.parse(job.createdAt)) / 1000;
}

const attemptsOf = (job: Job) =>
  job.attempts.map((attempt) => `${attempt.capacity}:${attempt.status}${attempt.failureClass ? `:${attempt.failureClass}` : ''}`);

describe('no-capacity failover of a burst', () => {
  it('fails every Spot job over to On-Demand within the capacity timeout plus a few watchdog intervals of its own submission', async () => {
    // GIVEN no Spot capacity, a 2 s capacity timeout, a watchdog every 0.5 s, and 5 spot-first jobs
    local = await startTestPlatform({
      dataDir,
      capacityTimeoutSeconds: CAPACITY_TIMEOUT_SECONDS,
      watchdogIntervalSeconds: WATCHDOG_INTERVAL_SECONDS,
    });
    const jobIds = await submitWithoutSpotCapacity(local, 5);

    // WHEN they run
    const jobs = await Promise.all(jobIds.map((jobId) => local!.api.waitForStatus(jobId, ['SUCCEEDED', 'FAILED'])));

    // THEN each one succeeded on On-Demand after its own Spot wait, none of them after the others' waits
    for (const job of jobs) {
      expect(job.status).toBe('SUCCEEDED');
      expect(attemptsOf(job)).toEqual(['spot:FAILED:NO_CAPACITY', 'on-demand:SUCCEEDED']);
      expect(spotWaitSeconds(job)).toBeGreaterThanOrEqual(CAPACITY_TIMEOUT_SECONDS);
      // Failing over one job per timeout would put jobs 3–5 at 6, 8 and 10 s; the watchdog keeps each near
      // 2.5 s. The bound leaves room for a loaded machine without admitting the serial order.
      expect(spotWaitSeconds(job)).toBeLessThan(3 * CAPACITY_TIMEOUT_SECONDS);
    }
  });

  it('without the watchdog, fails over only the head job per capacity timeout (the control)', async () => {
    // GIVEN the same, with no watchdog
    local = await startTestPlatform({ dataDir, capacityTimeoutSeconds: CAPACITY_TIMEOUT_SECONDS, watchdogIntervalSeconds: 0 });
    const jobIds = await submitWithoutSpotCapacity(local, 3);

    // WHEN they run
    const jobs = await Promise.all(jobIds.map((jobId) => local!.api.waitForStatus(jobId, ['SUCCEEDED', 'FAILED'])));

    // THEN they still fail over, but one per timeout: the n-th waited about n timeouts
    const waits = jobs.map(spotWaitSeconds).sort((a, b) => a - b);
    for (const job of jobs) expect(attemptsOf(job)).toEqual(['spot:FAILED:NO_CAPACITY', 'on-demand:SUCCEEDED']);
    expect(waits[0]).toBeLessThan(2 * CAPACITY_TIMEOUT_SECONDS);
    expect(waits[1]).toBeGreaterThanOrEqual(2 * CAPACITY_TIMEOUT_SECONDS - 0.1);
    expect(waits[2]).toBeGreaterThanOrEqual(3 * CAPACITY_TIMEOUT_SECONDS - 0.1);
  });
});
