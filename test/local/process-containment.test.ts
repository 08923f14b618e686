/**
 * The local Batch executor contains each attempt's processes as a container would: the attempt
 * ends with its main process, everything it started dies with it (whatever group or session it
 * moved to), and the end is reported only once nothing of it runs.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalBatch, type JobDetail, type LocalBatchOptions } from '../../local/batch/index.js';
import { LogStore } from '../../local/log-store.js';
import { consoleLogger } from '../../local/logger.js';
import { canFindProcessesByEnvironment, isRunning, killLeftoverProcesses, PLATFORM_TOKEN_VARIABLE } from '../../local/process-tree.js';

const GRACE_SECONDS = 1;

let directory: string;
let logStore: LogStore;
let batch: LocalBatch | undefined;
/** At each announced status, whether the child whose pid the job wrote to child.pid was still running ([] before it wrote it). */
let aliveAtStatus: { status: string; alive: boolean[] }[];
const strays: number[] = [];

beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), 'gpujobs-containment-'));
  logStore = new LogStore(join(directory, 'logs'));
  aliveAtStatus = [];
});
afterEach(async () => {
  await batch?.shutdown();
  batch = undefined;
  for (const pid of strays.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone, as it should be.
    }
  }
  await logStore.close();
  rmSync(directory, { recursive: true, force: true });
});

function localBatch(overrides: Partial<LocalBatchOptions> = {}): LocalBatch {
  batch = new LocalBatch({
    account: '000000000000',
    region: 'us-east-1',
    gpus: [0, 1].map((index) => ({ index, name: 'virtual GPU' })),
    logStore,
    defaultLogGroupName: '/aws/batch/job',
    jobDefinitionsFile: join(directory, 'job-definitions.json'),
    capacityTimeoutSeconds: 600,
    stopGracePeriodSeconds: GRACE_SECONDS,
    sandboxesDirectory: join(directory, 'sandboxes'),
    instanceType: 'local',
    logger: consoleLogger({ quiet: true }),
    onStateChange: (detail: JobDetail) => aliveAtStatus.push({ status: detail.status, alive: childPid().map(isRunning) }),
    ...overrides,
  });
  return batch;
}

function submit(target: LocalBatch, command: string[], options: { name?: string; retryStrategy?: object } = {}) {
  const definition = target.registerJobDefinition({
    jobDefinitionName: 'gpujobs-test',
    type: 'container',
    containerProperties: { image: 'busybox', command: ['true'], resourceRequirements: [{ type: 'GPU', value: '1' }] },
    ...(options.retryStrategy ? { retryStrategy: options.retryStrategy } : {}),
  }).jobDefinitionArn;
  return target.submitJob(
    {
      JobName: options.name ?? 'gpujobs-job-1',
      JobQueue: 'arn:aws:batch:us-east-1:000000000000:job-queue/spot',
      JobDefinition: definition,
      // Each attempt runs in its own sandbox; the job moves to `directory` (exec keeps its pid) to leave child.pid where the test reads it.
      ContainerOverrides: { Command: ['sh', '-c', 'cd "$0" && exec "$@"', directory, ...command] },
    },
    'spot',
  );
}

/** The pid the job's command wrote to child.pid in its working directory, once it has. */
function childPid(): number[] {
  const file = join(directory, 'child.pid');
  const text = existsSync(file) ? readFileSync(file, 'utf8').trim() : '';
  return /^\d+$/.test(text) ? [Number(text)] : [];
}

async function waitForChildPid(): Promise<number> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const [pid] = childPid();
    if (pid !== undefined) {
      strays.push(pid);
      return pid;
    }
    if (Date.now() > deadline) throw new Error('the job wrote no child.pid');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([promise, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms))]);
}

describe.skipIf(!canFindProcessesByEnvironment())("containment of a job attempt's processes", () => {
  it('kills a setsid child on TerminateJob, and answers and reports FAILED only once it is dead', async () => {
    // GIVEN a running job whose child left the job's process group and session
    const local = localBatch();
    const { jobId, completion } = submit(local, ['sh', '-c', 'setsid sleep 30 & echo $! > child.pid; wait']);
    const child = await waitForChildPid();
    expect(isRunning(child)).toBe(true);

    // WHEN the job is terminated
    await local.terminateJob(jobId, 'cancelled by test');

    // THEN the answer came after the child died, and the job's FAILED was announced after that too
    expect(isRunning(child)).toBe(false);
    expect(local.describeJobs([jobId])[0]?.status).toBe('FAILED');
    expect((await completion).statusReason).toBe('cancelled by test');
    expect(aliveAtStatus.find((entry) => entry.status === 'FAILED')?.alive).toEqual([false]);
  });

  it('ends the attempt when its main process exits, killing a TERM-ignoring child that still holds stdout', async () => {
    // GIVEN a job whose main process exits 0 and leaves a child that ignores SIGTERM, writing to the same stdout
    const local = localBatch();
    const { completion } = submit(local, [
      'sh',
      '-c',
      `sh -c "trap '' TERM; echo \\$\\$ > child.pid.tmp; mv child.pid.tmp child.pid; exec sleep 30" & while [ ! -s child.pid ]; do sleep 0.01; done; echo main done; exit 0`,
    ]);

    // WHEN the main process has exited
    const detail = await within(completion, 10_000, 'the attempt');

    // THEN the job SUCCEEDED with the main process's exit code, long before the child's sleep ends, and the child is dead
    const child = await waitForChildPid();
    expect(detail.status).toBe('SUCCEEDED');
    expect((detail.container as { exitCode?: number }).exitCode).toBe(0);
    expect(isRunning(child)).toBe(false);
    expect(aliveAtStatus.find((entry) => entry.status === 'SUCCEEDED')?.alive).toEqual([false]);
  });

  it('SIGKILLs TERM-ignoring processes of the group after the grace period and answers TerminateJob only after they died', async () => {
    // GIVEN a job whose shell and child both ignore SIGTERM
    const local = localBatch();
    const { jobId } = submit(local, ['sh', '-c', `trap '' TERM; sleep 30 & echo $! > child.pid; wait`]);
    const child = await waitForChildPid();

    // WHEN the job is terminated
    const startedAt = Date.now();
    await local.terminateJob(jobId, 'cancelled by test');

    // THEN nothing died before the grace period, everything died after it, and FAILED came after their death
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(GRACE_SECONDS * 1000 - 50);
    expect(isRunning(child)).toBe(false);
    expect(aliveAtStatus.find((entry) => entry.status === 'FAILED')?.alive).toEqual([false]);
  });

  it('ends a reclaimed Spot attempt, and retries it, only once the escaped child of the first run is dead', async () => {
    // GIVEN a Spot job with a retry in place for a reclaimed host, whose first run leaves a setsid child
    const local = localBatch();
    const { completion } = submit(
      local,
      ['sh', '-c', 'if [ "$AWS_BATCH_JOB_ATTEMPT" = 1 ]; then setsid sleep 30 & echo $! > child.pid; wait; fi'],
      {
        retryStrategy: { attempts: 2, evaluateOnExit: [{ onStatusReason: 'Host EC2*', action: 'RETRY' }] },
      },
    );
    const _child = await waitForChildPid();

    // WHEN the host is reclaimed
    expect(local.interruptSpot()).toBe(1);
    const detail = await completion;

    // THEN the job went RUNNABLE again only after the child died, and the second run succeeded
    expect(detail.status).toBe('SUCCEEDED');
    expect(detail.attempts).toHaveLength(2);
    const retried = aliveAtStatus.filter((entry) => entry.status === 'RUNNABLE')[1];
    expect(retried?.alive).toEqual([false]);
  });

  it('kills the processes an earlier platform on the same data dir left, and no other', async () => {
    // GIVEN a job process left by an earlier platform, and one of another platform
    const left = spawn('sleep', ['30'], {
      env: { ...process.env, [PLATFORM_TOKEN_VARIABLE]: 'earlier-run' },
      detached: true,
      stdio: 'ignore',
    });
    const other = spawn('sleep', ['30'], {
      env: { ...process.env, [PLATFORM_TOKEN_VARIABLE]: 'another-data-dir' },
      detached: true,
      stdio: 'ignore',
    });
    strays.push(left.pid!, other.pid!);

    // WHEN the platform's processes are looked for at start
    const result = await killLeftoverProcesses('earlier-run', 5_000);

    // THEN the left one is dead and counted, the other runs on
    expect(result).toEqual({ killed: 1, survivors: [], searched: true });
    expect(isRunning(left.pid!)).toBe(false);
    expect(isRunning(other.pid!)).toBe(true);
  });
});

describe("the local Batch executor's memory", () => {
  it('keeps only the most recent finished jobs: DescribeJobs leaves the older ones out, as Batch does past its retention', async () => {
    // GIVEN an executor keeping 2 finished jobs
    const local = localBatch({ retainedFinishedJobs: 2 });
    const jobIds: string[] = [];
    const containerInstances: string[] = [];

    // WHEN 4 jobs have finished
    for (let index = 1; index <= 4; index++) {
      const { jobId, completion } = submit(local, ['true'], { name: `gpujobs-job-${index}` });
      const detail = await completion;
      jobIds.push(jobId);
      containerInstances.push(
        String((detail.attempts as { container: { containerInstanceArn: string } }[])[0]!.container.containerInstanceArn),
      );
    }

    // THEN only the last 2 are described and listed, and the container instances of the others are gone too
    expect(local.describeJobs(jobIds).map((detail) => detail.jobId)).toEqual(jobIds.slice(2));
    expect(local.describeJobs([jobIds[0]!])).toEqual([]);
    expect(local.listJobs({ jobQueue: 'spot', jobStatus: 'SUCCEEDED' }).jobSummaryList.map((summary) => summary.jobId)).toEqual(
      jobIds.slice(2),
    );
    expect(local.describeContainerInstances(containerInstances).missing).toEqual(containerInstances.slice(0, 2));
  });

  it('runs waiting jobs in submission order from its queue of RUNNABLE jobs', async () => {
    // GIVEN 2 slots held by running jobs and 3 jobs waiting
    const local = localBatch();
    const blockers = [1, 2].map((index) => submit(local, ['sh', '-c', 'sleep 0.3'], { name: `gpujobs-blocker-${index}` }));
    const waiting = [1, 2, 3].map((index) => submit(local, ['true'], { name: `gpujobs-waiting-${index}` }));

    // WHEN they have all run
    await Promise.all(blockers.map((job) => job.completion));
    const details = await Promise.all(waiting.map((job) => job.completion));

    // THEN the waiting ones started in the order they were submitted
    const starts = details.map((detail) => Number(detail.startedAt));
    expect([...starts].sort((a, b) => a - b)).toEqual(starts);
  });

  it('fails when told to keep no finished job', () => {
    expect(() => localBatch({ retainedFinishedJobs: 0 })).toThrow('retainedFinishedJobs must be a positive integer. Received 0.');
  });
});
