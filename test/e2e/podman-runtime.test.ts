/**
 * Local mode with GPUJOBS_LOCAL_RUNTIME=podman, end to end on the test image built with no
 * registry: a job's image runs as a container, with its exit code, its output in the job's
 * logs, its environment, its sandbox mounted at /gpujobs/work, a cancel that leaves no
 * container behind, a missing image that fails as a misconfiguration, and a container left by a
 * platform killed with SIGKILL removed by the next start before its job is settled. Without podman the
 * tests skip saying why; in CI (CI=true) a missing podman fails the run instead.
 */
import { type ChildProcess, execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SANDBOX_MOUNT_PATH } from '../../local/batch/container-runner.js';
import { detectContainerEngine, type DetectedContainerEngine } from '../../local/container-engine.js';
import { ensureTestImage, TEST_IMAGE } from '../support/test-image.js';
import { ApiClient, startPlatformProcess, startTestPlatform, terminalEventsOf, waitFor, type TestPlatform } from './support.js';

const run = promisify(execFile);
const detected = await detectContainerEngine({ env: process.env, candidates: ['podman'] });
const inCi = process.env.CI === 'true';
const FINISHED = ['SUCCEEDED', 'FAILED', 'CANCELLED'] as const;

const SCENARIOS = [
  'runs the image with the job’s command and puts its output in the job’s logs',
  'reports the container’s exit code',
  'gives the container the job’s variables and the platform’s job variables, not the host’s',
  'mounts the attempt’s sandbox at /gpujobs/work, so that nothing lands in the checkout',
  'stops the container on cancel and leaves no container of the job behind',
  'fails a job whose image cannot be found as a misconfiguration, with CannotPullContainerError',
  'caps vcpus and memory above what this machine has, and says so on the attempt',
  'removes a container left by a platform killed with SIGKILL at the restart, and settles its job',
];

/** Runs attempt 1 until the platform goes away; any later attempt finishes at once. */
const INTERRUPTIBLE = ['sh', '-c', 'echo attempt=$GPUJOBS_ATTEMPT; if [ "$GPUJOBS_ATTEMPT" = 1 ]; then sleep 600; fi; echo done'];

if (detected.engine !== undefined) {
  const engine: DetectedContainerEngine = detected;
  let local: TestPlatform;

  /** The containers, running or not, labelled with the Batch job id. */
  const containersOf = async (batchJobId: string): Promise<string[]> => {
    const { stdout } = await run('podman', ['ps', '--all', '--filter', `label=gpujobs.job-id=${batchJobId}`, '--format', '{{.Names}}'], {
      env: engine.env,
    });
    return stdout.split('\n').filter(Boolean);
  };

  // One platform runs per process: this one stops before the restart scenario starts its own.
  describe('local mode with the podman runtime', () => {
    beforeAll(async () => {
      await ensureTestImage(engine);
      local = await startTestPlatform({ runtime: 'podman', pull: 'never' });
    }, 60_000);
    afterAll(async () => {
      await local?.dispose();
    });

    it(SCENARIOS[0]!, async () => {
      // WHEN a job runs echo in the test image
      const job = await local.api.submit({ image: TEST_IMAGE, command: ['echo', 'hello'] });
      const finished = await local.api.waitForStatus(job.jobId, FINISHED, { timeoutMs: 30_000 });

      // THEN it succeeded with exit code 0 and its output is in its logs
      expect(finished).toMatchObject({ status: 'SUCCEEDED', exitCode: 0 });
      expect(await local.api.logs(job.jobId)).toEqual(['hello']);
    });

    it(SCENARIOS[1]!, async () => {
      const job = await local.api.submit({ image: TEST_IMAGE, command: ['sh', '-c', 'exit 3'] });
      const finished = await local.api.waitForStatus(job.jobId, FINISHED, { timeoutMs: 30_000 });

      expect(finished).toMatchObject({ status: 'FAILED', exitCode: 3, attempts: [expect.objectContaining({ failureClass: 'APP_ERROR' })] });
    });

    it(SCENARIOS[2]!, async () => {
      // GIVEN a variable in the platform's own environment
      process.env.GPUJOBS_TEST_HOST_ONLY = 'leaked';
      try {
        const job = await local.api.submit({ image: TEST_IMAGE, command: ['env'], environment: { MINE: 'yes' } });
        await local.api.waitForStatus(job.jobId, FINISHED, { timeoutMs: 30_000 });

        const variables = await local.api.logs(job.jobId);
        expect(variables).toContain('MINE=yes');
        expect(variables).toContain(`GPUJOBS_JOB_ID=${job.jobId}`);
        expect(variables).toContain('AWS_BATCH_JOB_ATTEMPT=1');
        expect(variables.some((line) => line.startsWith('GPUJOBS_TEST_HOST_ONLY='))).toBe(false);
        expect(variables.some((line) => line.startsWith('GPUJOBS_PLATFORM_TOKEN='))).toBe(false);
      } finally {
        delete process.env.GPUJOBS_TEST_HOST_ONLY;
      }
    });

    it(SCENARIOS[3]!, async () => {
      // WHEN a job writes into the mount, fails so that its sandbox is kept, and lists the mount
      const job = await local.api.submit({
        image: TEST_IMAGE,
        command: ['sh', '-c', `echo data > ${SANDBOX_MOUNT_PATH}/out.txt; cat ${SANDBOX_MOUNT_PATH}/out.txt; exit 1`],
      });
      const finished = await local.api.waitForStatus(job.jobId, FINISHED, { timeoutMs: 30_000 });

      // THEN the file is in the attempt's sandbox under the data dir, and not in the checkout
      expect(finished.status).toBe('FAILED');
      expect(await local.api.logs(job.jobId)).toEqual(['data']);
      const sandboxes = join(local.dataDir, 'sandboxes');
      const written = readdirSync(sandboxes).filter((entry) => existsSync(join(sandboxes, entry, 'out.txt')));
      expect(written).toHaveLength(1);
      expect(existsSync(join(process.cwd(), 'out.txt'))).toBe(false);
    });

    it(SCENARIOS[4]!, async () => {
      // GIVEN a running container
      const job = await local.api.submit({ image: TEST_IMAGE, command: ['sleep', '600'] });
      const running = await local.api.waitForStatus(job.jobId, ['RUNNING'], { timeoutMs: 30_000 });
      const batchJobId = running.attempts.at(-1)?.batchJobId;
      expect(batchJobId).toBeDefined();
      await waitFor(async () => (await containersOf(batchJobId!)).length === 1, `the container of ${batchJobId}`, 30_000);

      // WHEN the job is cancelled
      const cancelled = await local.api.request('POST', `/v1/jobs/${job.jobId}/cancel`);
      expect(cancelled.status).toBe(202);
      const finished = await local.api.waitForStatus(job.jobId, FINISHED, { timeoutMs: 30_000 });

      // THEN it reads CANCELLED and no container of it is left, running or stopped
      expect(finished.status).toBe('CANCELLED');
      expect(await containersOf(batchJobId!)).toEqual([]);
    });

    it(SCENARIOS[5]!, async () => {
      const job = await local.api.submit({ image: 'localhost/does-not-exist:1', command: ['true'] });
      const finished = await local.api.waitForStatus(job.jobId, FINISHED, { timeoutMs: 30_000 });

      const attempt = finished.attempts.at(-1);
      expect(finished.status).toBe('FAILED');
      expect(attempt?.failureClass).toBe('MISCONFIGURATION');
      expect(finished.attempts).toHaveLength(1);
      expect(finished.statusReason).toContain('CannotPullContainerError: localhost/does-not-exist:1: image not known');
    });

    it(SCENARIOS[6]!, async () => {
      // WHEN a job asks for more than any machine running these tests has
      const job = await local.api.submit({ image: TEST_IMAGE, command: ['true'], vcpus: 192, memoryMiB: 2_000_000 });
      const finished = await local.api.waitForStatus(job.jobId, FINISHED, { timeoutMs: 30_000 });

      // THEN it still ran, and its attempt names both caps
      expect(finished.status).toBe('SUCCEEDED');
      expect(finished.attempts.at(-1)?.statusReason).toMatch(
        /vcpus 192 capped to this machine's \d+; memoryMiB 2000000 capped to this machine's \d+/,
      );
    });
  });

  describe('restarting local mode with the podman runtime', () => {
    let child: ChildProcess | undefined;
    let restarted: TestPlatform | undefined;
    const dataDirs: string[] = [];
    const batchJobIds: string[] = [];

    // A test that failed half-way must leave no platform process and no container behind.
    afterEach(async () => {
      if (child?.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      child = undefined;
      await restarted?.platform.stop();
      restarted = undefined;
      for (const batchJobId of batchJobIds.splice(0)) {
        const left = await containersOf(batchJobId);
        if (left.length > 0) await run('podman', ['rm', '--force', '--time', '0', ...left], { env: engine.env });
      }
      for (const dataDir of dataDirs.splice(0)) rmSync(dataDir, { recursive: true, force: true });
    });

    it(SCENARIOS[7]!, async () => {
      // GIVEN `npm start` with the podman runtime in its own process, running a job's container
      await ensureTestImage(engine);
      const dataDir = mkdtempSync(join(tmpdir(), 'gpujobs-podman-restart-'));
      dataDirs.push(dataDir);
      const started = await withEnvironment({ GPUJOBS_LOCAL_RUNTIME: 'podman', GPUJOBS_LOCAL_PULL: 'never' }, () =>
        startPlatformProcess(dataDir),
      );
      child = started.process;
      const api = new ApiClient(started.url);
      const job = await api.submit({ image: TEST_IMAGE, command: INTERRUPTIBLE, maxSpotAttempts: 1 });
      const running = await api.waitForStatus(job.jobId, ['RUNNING'], { timeoutMs: 30_000 });
      const interruptedBatchJobId = running.attempts.at(-1)?.batchJobId;
      expect(interruptedBatchJobId).toBeDefined();
      batchJobIds.push(interruptedBatchJobId!);
      await waitFor(
        async () => (await containersOf(interruptedBatchJobId!)).length === 1,
        `the container of ${interruptedBatchJobId}`,
        30_000,
      );
      await waitFor(async () => (await api.logs(job.jobId)).includes('attempt=1'), 'the first attempt’s output', 30_000);

      // WHEN the platform process is killed outright, and started again on the same data dir
      const exited = new Promise((resolve) => child!.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
      const survived = await containersOf(interruptedBatchJobId!);
      restarted = await startTestPlatform({ dataDir, gpus: 1, runtime: 'podman', pull: 'never' });

      // THEN the container outlived the kill, and is gone once the platform has started again
      expect(survived).toHaveLength(1);
      expect(await containersOf(interruptedBatchJobId!)).toEqual([]);
      // AND its job was interrupted, as in process mode: attempt 1 ended as a reclaim, attempt 2 ran it to the end
      expect(restarted.platform.recovered.interrupted).toEqual([job.jobId]);
      const finished = await restarted.api.waitForStatus(job.jobId, FINISHED, { timeoutMs: 60_000 });
      batchJobIds.push(...finished.attempts.flatMap((attempt) => (attempt.batchJobId ? [attempt.batchJobId] : [])));
      expect(finished.status).toBe('SUCCEEDED');
      expect(finished.attempts.map(({ attempt, capacity, status, failureClass }) => ({ attempt, capacity, status, failureClass }))).toEqual(
        [
          { attempt: 1, capacity: 'spot', status: 'FAILED', failureClass: 'SPOT_RECLAIM' },
          { attempt: 2, capacity: 'on-demand', status: 'SUCCEEDED', failureClass: undefined },
        ],
      );
      expect(finished.attempts[0]?.statusReason).toContain('local platform stopped');
      expect((await restarted.api.logs(job.jobId)).filter((line) => line === 'done')).toHaveLength(1);
      expect(await terminalEventsOf(restarted.api, job.jobId)).toEqual(['GPU Job Succeeded']);
      // AND no container of either attempt is left
      for (const batchJobId of batchJobIds) expect(await containersOf(batchJobId)).toEqual([]);
    }, 120_000);
  });
} else if (inCi) {
  describe('local mode with the podman runtime in CI', () => {
    it(`fails when podman does not answer: ${detected.reason}`, () => {
      throw new Error(`CI installs podman, but it does not answer: ${detected.reason}`);
    });
  });
} else {
  console.warn(`Skipping the podman runtime tests: podman does not answer (${detected.reason}).`);
  describe('local mode with the podman runtime', () => {
    for (const scenario of SCENARIOS) it.skip(`${scenario} (skipped: podman does not answer: ${detected.reason})`, () => {});
  });
}

/** Runs `start` with `variables` in this process's environment (a child started meanwhile inherits them), then puts it back. */
async function withEnvironment<T>(variables: Record<string, string>, start: () => Promise<T>): Promise<T> {
  const before = Object.fromEntries(Object.keys(variables).map((name) => [name, process.env[name]]));
  Object.assign(process.env, variables);
  try {
    return await start();
  } finally {
    for (const [name, value] of Object.entries(before)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}
