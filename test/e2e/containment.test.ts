/**
 * Local mode contains each job's processes as a container would, end to end: a cancel reads
 * CANCELLED only once nothing of the job runs, a job ends with its main process, a killed
 * platform's processes die when the next one starts on its data dir, and the Batch stand-in
 * forgets old finished jobs while the API still answers for them.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchClient, DescribeJobsCommand } from '@aws-sdk/client-batch';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { LocalLogger } from '../../local/logger.js';
import { canFindProcessesByEnvironment, isRunning } from '../../local/process-tree.js';
import { ApiClient, startPlatformProcess, startTestPlatform, waitFor, type TestPlatform } from './support.js';

const workDir = mkdtempSync(join(tmpdir(), 'gpujobs-containment-work-'));
// One data dir for every start in this file: the handlers, loaded once per process, cache the
// job definitions that the Batch stand-in keeps in it.
const dataDir = mkdtempSync(join(tmpdir(), 'gpujobs-containment-'));
const strays: number[] = [];
let local: TestPlatform | undefined;
let platformProcess: ChildProcess | undefined;

afterEach(async () => {
  await local?.platform.stop();
  local = undefined;
  if (platformProcess?.exitCode === null) platformProcess.kill('SIGKILL');
  for (const pid of strays.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone, as it should be.
    }
  }
});
afterAll(() => {
  for (const directory of [workDir, dataDir]) rmSync(directory, { recursive: true, force: true });
});

/** The pid a job wrote to `name` in its working directory. */
async function pidIn(name: string): Promise<number> {
  const file = join(workDir, name);
  const pid = await waitFor(() => {
    const text = existsSync(file) ? readFileSync(file, 'utf8').trim() : '';
    return /^\d+$/.test(text) ? Number(text) : undefined;
  }, `a pid in ${name}`);
  strays.push(pid);
  return pid;
}

/** Polls the job until it reads CANCELLED, noting whether `pid` still ran at each read. */
async function cancelAndWatch(api: ApiClient, jobId: string, pid: number): Promise<{ aliveWhenCancelled: boolean; elapsedMs: number }> {
  const startedAt = Date.now();
  const cancelled = await api.request('POST', `/v1/jobs/${jobId}/cancel`);
  expect(cancelled.status).toBe(202);
  const aliveWhenCancelled = await waitFor(async () => {
    // Read before the job: a process seen dead before a CANCELLED read was dead when that was written.
    const alive = isRunning(pid);
    const job = await api.get(jobId);
    return job.status === 'CANCELLED' ? { alive } : undefined;
  }, `job ${jobId} CANCELLED`);
  return { aliveWhenCancelled: aliveWhenCancelled.alive, elapsedMs: Date.now() - startedAt };
}

describe.skipIf(!canFindProcessesByEnvironment())('containment of job processes in local mode', () => {
  it('kills a setsid child on cancel, and the job reads CANCELLED only once it is dead', async () => {
    // GIVEN a running job whose child left the job's process group and session
    local = await startTestPlatform({ dataDir });
    const job = await local.api.submit({ command: ['sh', '-c', `cd '${workDir}'; setsid sleep 30 & echo $! > setsid.pid; wait`] });
    await local.api.waitForStatus(job.jobId, ['RUNNING']);
    const child = await pidIn('setsid.pid');

    // WHEN the job is cancelled
    const { aliveWhenCancelled } = await cancelAndWatch(local.api, job.jobId, child);

    // THEN the child was dead before the job read CANCELLED
    expect(aliveWhenCancelled).toBe(false);
    expect(isRunning(child)).toBe(false);
  });

  it('kills TERM-ignoring processes of the group after the grace period, and the job reads CANCELLED only after they died', async () => {
    // GIVEN a running job whose shell and child both ignore SIGTERM (grace period 0.5 s)
    local = await startTestPlatform({ dataDir, stopGracePeriodSeconds: 0.5 });
    const job = await local.api.submit({ command: ['sh', '-c', `cd '${workDir}'; trap '' TERM; sleep 30 & echo $! > ignoring.pid; wait`] });
    await local.api.waitForStatus(job.jobId, ['RUNNING']);
    const child = await pidIn('ignoring.pid');

    // WHEN the job is cancelled
    const { aliveWhenCancelled, elapsedMs } = await cancelAndWatch(local.api, job.jobId, child);

    // THEN CANCELLED came after the grace period, once the child was dead
    expect(aliveWhenCancelled).toBe(false);
    expect(elapsedMs).toBeGreaterThanOrEqual(450);
  });

  it('ends a job with its main process: SUCCEEDED well before a TERM-ignoring child holding stdout would exit, and the child dead', async () => {
    // GIVEN a job whose main process exits 0 while its child, ignoring SIGTERM, sleeps 30 s on the same stdout
    local = await startTestPlatform({ dataDir });
    const startedAt = Date.now();
    const job = await local.api.submit({
      command: [
        'sh',
        '-c',
        `cd '${workDir}'; sh -c "trap '' TERM; echo \\$\\$ > holder.pid.tmp; mv holder.pid.tmp holder.pid; exec sleep 30" & while [ ! -s holder.pid ]; do sleep 0.01; done; echo main done`,
      ],
    });

    // WHEN the main process has exited
    const finished = await local.api.waitForStatus(job.jobId, ['SUCCEEDED', 'FAILED', 'CANCELLED'], { timeoutMs: 15_000 });

    // THEN the job SUCCEEDED promptly and its child is dead
    const child = await pidIn('holder.pid');
    expect(finished.status).toBe('SUCCEEDED');
    expect(Date.now() - startedAt).toBeLessThan(15_000);
    expect(isRunning(child)).toBe(false);
    expect(await local.api.logs(job.jobId)).toEqual(['main done']);
  });

  it('kills, at start, the job processes a platform killed with SIGKILL left on the same data dir, and says how many', async () => {
    // GIVEN `npm start` in its own process, running a job with a setsid child, killed outright
    const started = await startPlatformProcess(dataDir);
    platformProcess = started.process;
    const api = new ApiClient(started.url);
    const job = await api.submit({
      command: ['sh', '-c', 'if [ "$GPUJOBS_ATTEMPT" = 1 ]; then echo main=$$; setsid sleep 60 & echo child=$!; wait; fi'],
    });
    await api.waitForStatus(job.jobId, ['RUNNING']);
    const lines = await waitFor(async () => {
      const logged = await api.logs(job.jobId);
      return logged.length >= 2 ? logged : undefined;
    }, 'the pid lines');
    const pids = lines.map((line) => Number(line.split('=')[1]));
    strays.push(...pids);
    const exited = new Promise((resolve) => platformProcess!.once('exit', resolve));
    platformProcess.kill('SIGKILL');
    await exited;
    expect(pids.map(isRunning)).toEqual([true, true]);

    // WHEN a platform starts again on the same data dir
    const warnings: string[] = [];
    const logger: LocalLogger = { info: () => {}, warn: (message) => warnings.push(message), error: () => {} };
    local = await startTestPlatform({ dataDir, logger });

    // THEN both processes of the killed platform's job are dead, and the start said so
    expect(pids.map(isRunning)).toEqual([false, false]);
    expect(warnings).toContain(`killed 2 job process(es) left running by an earlier run on ${local.platform.dataDir}`);
  }, 90_000);
});

describe("the Batch stand-in's retention in local mode", () => {
  it('forgets finished Batch jobs beyond the ones it keeps, while the API still answers for them from DynamoDB', async () => {
    // GIVEN a platform whose Batch stand-in keeps 2 finished jobs
    local = await startTestPlatform({ dataDir, retainedBatchJobs: 2 });

    // WHEN 4 jobs have finished, one after the other
    const jobIds: string[] = [];
    for (let index = 1; index <= 4; index++) {
      const job = await local.api.submit({ command: ['sh', '-c', `echo job ${index}`] });
      await local.api.waitForStatus(job.jobId, ['SUCCEEDED']);
      jobIds.push(job.jobId);
    }

    // THEN Batch describes only the last 2, and every job still reads SUCCEEDED with its logs
    const jobs = await Promise.all(jobIds.map((jobId) => local!.api.get(jobId)));
    const batchJobIds = jobs.map((job) => job.attempts[0]!.batchJobId!);
    const client = new BatchClient({});
    try {
      const described = await client.send(new DescribeJobsCommand({ jobs: batchJobIds }));
      expect((described.jobs ?? []).map((detail) => detail.jobId)).toEqual(batchJobIds.slice(2));
    } finally {
      client.destroy();
    }
    expect(jobs.map((job) => job.status)).toEqual(['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED']);
    expect(await local.api.logs(jobIds[0]!)).toEqual(['job 1']);
  });
});
