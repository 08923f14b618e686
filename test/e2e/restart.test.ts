import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Job } from '../../core/job.js';
import { ApiClient, isAlive, startPlatformProcess, startTestPlatform, terminalEventsOf, waitFor, type TestPlatform } from './support.js';

const dataDirs: string[] = [];
let local: TestPlatform | undefined;
let child: ChildProcess | undefined;
const orphanGroups: number[] = [];

// One platform runs per process: a test that failed half-way must not leave its own running for the next.
afterEach(async () => {
  await local?.platform.stop();
  local = undefined;
  if (child?.exitCode === null) child.kill('SIGKILL');
  for (const group of orphanGroups.splice(0)) killGroup(group);
});

afterAll(() => {
  for (const dataDir of dataDirs) rmSync(dataDir, { recursive: true, force: true });
});

function newDataDir(): string {
  const dataDir = mkdtempSync(join(tmpdir(), 'gpujobs-restart-'));
  dataDirs.push(dataDir);
  return dataDir;
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/** Runs attempt 1 until the platform goes away; any later attempt finishes at once. */
const INTERRUPTIBLE = ['sh', '-c', 'echo pid=$$ attempt=$GPUJOBS_ATTEMPT; if [ "$GPUJOBS_ATTEMPT" = 1 ]; then sleep 60; fi; echo done'];

interface Workload {
  readonly running: Job;
  readonly waiting: readonly Job[];
  readonly keys: ReadonlyMap<string, string>;
  readonly pidLine: string;
}

/**
 * On a platform with one GPU slot: one job running (spot-first, a Spot budget of 1) and
 * three waiting for the slot, each submitted with an Idempotency-Key.
 */
async function submitWorkload(api: ApiClient, tag: string): Promise<Workload> {
  const keys = new Map<string, string>();
  const submit = async (job: Record<string, unknown>, key: string) => {
    const submitted = await api.submit(job, { idempotencyKey: key });
    keys.set(submitted.jobId, key);
    return submitted;
  };
  const running = await submit({ command: INTERRUPTIBLE, maxSpotAttempts: 1 }, `${tag}-running`);
  await api.waitForStatus(running.jobId, ['RUNNING']);
  const pidLine = await waitFor(async () => (await api.logs(running.jobId)).find((line) => line.startsWith('pid=')), 'the pid line');
  // Its RUNNING status is written before it is announced: the announcement is part of the history asserted after the restart.
  await waitFor(
    async () =>
      (await api.events()).find(
        (event) =>
          event.detail.jobId === running.jobId && event.detail.status === 'RUNNING' && event['detail-type'] === 'GPU Job Status Change',
      ),
    'the RUNNING event',
  );
  const waiting = [];
  for (const index of [1, 2, 3]) waiting.push(await submit({ command: ['sh', '-c', `echo waited ${index}`] }, `${tag}-waiting-${index}`));
  for (const job of waiting) {
    // Prepared and submitted to Batch: PENDING with attempt 1 planned, never started.
    await waitFor(async () => {
      const current = await api.get(job.jobId);
      return current.status === 'PENDING' && current.attempts.length === 1 ? current : undefined;
    }, `job ${job.jobId} waiting for the slot`);
  }
  return { running, waiting, keys, pidLine };
}

/** After the restart: nothing is lost, the waiting jobs run, the interrupted one runs again. */
async function expectWorkloadRecovered(restarted: TestPlatform, workload: Workload): Promise<void> {
  const { api, platform } = restarted;
  const { running, waiting, keys } = workload;

  // A replay of a key right after the restart returns the job, open again, not a failed one.
  const replayed = await api.submit({ command: INTERRUPTIBLE, maxSpotAttempts: 1 }, { idempotencyKey: keys.get(running.jobId)! });
  expect(replayed.jobId).toBe(running.jobId);
  expect(['PENDING', 'RUNNING', 'SUCCEEDED']).toContain(replayed.status);

  expect(platform.recovered.resumed).toEqual([running.jobId, ...waiting.map((job) => job.jobId)]);
  expect(platform.recovered.interrupted).toEqual([running.jobId]);
  expect(platform.recovered.requeued).toEqual([]);

  // The interrupted job: attempt 1 ended as an infrastructure failure, attempt 2 (On-Demand, the Spot budget spent) succeeded.
  const rerun = await api.waitForStatus(running.jobId, ['SUCCEEDED', 'FAILED', 'CANCELLED'], { timeoutMs: 30_000 });
  expect(rerun.status).toBe('SUCCEEDED');
  expect(rerun.attempts.map(({ attempt, capacity, status, failureClass }) => ({ attempt, capacity, status, failureClass }))).toEqual([
    { attempt: 1, capacity: 'spot', status: 'FAILED', failureClass: 'SPOT_RECLAIM' },
    { attempt: 2, capacity: 'on-demand', status: 'SUCCEEDED', failureClass: undefined },
  ]);
  expect(rerun.attempts[0]?.statusReason).toContain('local platform stopped');
  expect(rerun.statusReason).toBe('Completed on attempt 2 (On-Demand) after 1 Spot reclaim');
  const logs = await api.logs(running.jobId);
  expect(logs).toContain(workload.pidLine);
  expect(logs.filter((line) => line === 'done')).toHaveLength(1);

  // The waiting jobs: run once, as their attempt 1.
  for (const [index, job] of waiting.entries()) {
    const finished = await api.waitForStatus(job.jobId, ['SUCCEEDED', 'FAILED', 'CANCELLED'], { timeoutMs: 30_000 });
    expect(finished.status).toBe('SUCCEEDED');
    expect(finished.attempts.map(({ attempt, status }) => ({ attempt, status }))).toEqual([{ attempt: 1, status: 'SUCCEEDED' }]);
    expect(await api.logs(job.jobId)).toEqual([`waited ${index + 1}`]);
  }

  // Exactly one terminal event each, and every key still names its job, now finished.
  for (const job of [running, ...waiting]) {
    expect(await terminalEventsOf(api, job.jobId)).toEqual(['GPU Job Succeeded']);
    const again = await api.submit(
      job.jobId === running.jobId ? { command: INTERRUPTIBLE, maxSpotAttempts: 1 } : { command: job.command },
      { idempotencyKey: keys.get(job.jobId)! },
    );
    expect(again).toMatchObject({ jobId: job.jobId, status: 'SUCCEEDED' });
  }

  // The interrupted job went back to PENDING for its next attempt, and said so, as after a Spot reclaim.
  const changes = (await api.events()).filter(
    (event) => event.detail.jobId === running.jobId && event['detail-type'] === 'GPU Job Status Change',
  );
  expect(changes.map((event) => `${String(event.detail.previousStatus)}→${String(event.detail.status)}`)).toEqual([
    'QUEUED→PENDING',
    'PENDING→RUNNING',
    'RUNNING→PENDING',
    'PENDING→RUNNING',
    'RUNNING→SUCCEEDED',
  ]);
}

describe('restarting the local platform', () => {
  it('keeps finished jobs, runs the jobs that waited, and runs again the one that was interrupted, after a stop', async () => {
    // GIVEN a finished job, then one GPU slot taken by a running job and three jobs waiting for it
    const dataDir = newDataDir();
    local = await startTestPlatform({ dataDir, gpus: 1 });
    const finished = await local.api.submit({ command: ['sh', '-c', 'echo kept across restarts'] });
    await local.api.waitForStatus(finished.jobId, ['SUCCEEDED']);
    const workload = await submitWorkload(local.api, 'stop');

    // WHEN the platform stops and starts again on the same data dir
    await local.platform.stop();
    const pid = Number(/^pid=(\d+)/.exec(workload.pidLine)![1]);
    const stoppedProcess = isAlive(pid);
    local = await startTestPlatform({ dataDir, gpus: 1 });

    // THEN the finished job and its logs are still there, untouched
    expect(stoppedProcess).toBe(false);
    expect((await local.api.get(finished.jobId)).status).toBe('SUCCEEDED');
    expect(await local.api.logs(finished.jobId)).toEqual(['kept across restarts']);
    expect(await terminalEventsOf(local.api, finished.jobId)).toEqual(['GPU Job Succeeded']);
    // AND no job is lost: the waiting ones run, the interrupted one runs again, each ends once
    await expectWorkloadRecovered(local, workload);

    // AND the restarted platform runs new jobs
    const next = await local.api.submit({ command: ['true'] });
    expect((await local.api.waitForStatus(next.jobId, ['SUCCEEDED', 'FAILED'])).status).toBe('SUCCEEDED');
  }, 90_000);

  it('loses no job when the platform process is killed with SIGKILL', async () => {
    // GIVEN `npm start` in its own process, one GPU slot taken by a running job and three jobs waiting for it
    const dataDir = newDataDir();
    const started = await startPlatformProcess(dataDir);
    child = started.process;
    const workload = await submitWorkload(new ApiClient(started.url), 'kill');

    // WHEN the platform process is killed outright, and started again on the same data dir
    const exited = new Promise((resolve) => child!.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    // Nothing stopped the killed platform's job process. It is ended here, so that this test is about
    // the jobs' records alone; reaping such survivors at the restart is local/process-tree.ts's.
    const pid = Number(/^pid=(\d+)/.exec(workload.pidLine)![1]);
    orphanGroups.push(pid);
    killGroup(pid);
    local = await startTestPlatform({ dataDir, gpus: 1 });

    // THEN no job is lost: the waiting ones run, the interrupted one runs again, each ends once
    await expectWorkloadRecovered(local, workload);
  }, 90_000);
});
