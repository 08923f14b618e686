/**
 * Local mode with a container runtime (GPUJOBS_LOCAL_RUNTIME=podman, then docker), end to end on
 * the test image built with no registry: a job's image runs as a container, with its exit code,
 * its output in the job's logs, its environment, its sandbox mounted at /gpujobs/work, a cancel,
 * a Spot reclaim and a timeout that leave no container behind, a missing image that fails as a
 * misconfiguration, the README's first job, and a container left by a platform killed with
 * SIGKILL removed by the next start before its job is settled.
 *
 * container-runtime-podman.test.ts and container-runtime-docker.test.ts run it. An engine that
 * does not answer skips its tests saying why, except podman in CI (CI=true),
 * which CI installs: there its absence fails the run. CI installs no Docker.
 */
import { type ChildProcess, execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../../core/job.js';
import { SANDBOX_MOUNT_PATH } from '../../local/batch/container-runner.js';
import { type ContainerEngineName, detectContainerEngine, type DetectedContainerEngine } from '../../local/container-engine.js';
import { ensureTestImage, TEST_IMAGE } from '../support/test-image.js';
import { ApiClient, startPlatformProcess, startTestPlatform, terminalEventsOf, type TestPlatform, waitFor } from './support.js';

const run = promisify(execFile);
const inCi = process.env.CI === 'true';
const FINISHED = ['SUCCEEDED', 'FAILED', 'CANCELLED'] as const;
/** The shortest timeoutSeconds a job may ask for (Batch's minimum attempt duration). */
const SHORTEST_TIMEOUT_SECONDS = 60;

const SCENARIOS = [
  'runs the image with the job’s command and puts its output in the job’s logs',
  'reports the container’s exit code',
  'gives the container the job’s variables and the platform’s job variables, not the host’s',
  'mounts the attempt’s sandbox at /gpujobs/work, so that nothing lands in the checkout',
  'stops the container on cancel and leaves no container of the job behind',
  'fails a job whose image cannot be found as a misconfiguration, with CannotPullContainerError',
  'caps vcpus and memory above what this machine has, and says so on the attempt',
  'runs the README’s first job on the test image: its output says hello from the job id',
  'kills a reclaimed Spot container that ignores SIGTERM after the grace period, runs attempt 2 and leaves no container',
  'sends SIGTERM first on a reclaim: a container that traps it exits on its own and its output is in the logs',
  'ends a job past its timeoutSeconds FAILED as TIMEOUT and leaves no container',
  'removes a container left by a platform killed with SIGKILL at the restart, and settles its job',
];

/** Runs attempt 1 until it is stopped; any later attempt finishes at once. */
const INTERRUPTIBLE = ['sh', '-c', 'echo attempt=$GPUJOBS_ATTEMPT; if [ "$GPUJOBS_ATTEMPT" = 1 ]; then sleep 600; fi; echo done'];
/** As INTERRUPTIBLE, but attempt 1 ignores SIGTERM: only SIGKILL ends it. */
const IGNORES_TERM = [
  'sh',
  '-c',
  `trap '' TERM; echo attempt=$GPUJOBS_ATTEMPT; if [ "$GPUJOBS_ATTEMPT" = 1 ]; then sleep 600; fi; echo done`,
];
/** As INTERRUPTIBLE, but attempt 1 says so and exits 0 on SIGTERM (the shell waits on a background sleep so that the trap runs at once). */
const TRAPS_TERM = [
  'sh',
  '-c',
  `trap 'echo got TERM; exit 0' TERM; echo attempt=$GPUJOBS_ATTEMPT; if [ "$GPUJOBS_ATTEMPT" = 1 ]; then sleep 600 & wait $!; fi; echo done`,
];

/** The JSON of the README's first `curl … /v1/jobs` example: what a newcomer pastes first. */
function readmeFirstJob(): Record<string, unknown> {
  const readme = readFileSync(join(process.cwd(), 'README.md'), 'utf8');
  for (const [, block] of readme.matchAll(/```sh\n([\s\S]*?)```/g)) {
    if (!/curl[^\n]*-X POST[^\n]*\/v1\/jobs/.test(block!)) continue;
    const body = /-d '([^']*)'/.exec(block!)?.[1];
    if (body === undefined) throw new Error(`README's first POST /v1/jobs example has no -d '…' body: ${block}`);
    return JSON.parse(body) as Record<string, unknown>;
  }
  throw new Error('README.md has no ```sh block that POSTs to /v1/jobs');
}

const batchJobIdsOf = (job: Job) => job.attempts.flatMap((attempt) => (attempt.batchJobId ? [attempt.batchJobId] : []));

/**
 * The suite for one engine. Each engine has a test file of its own, so that each runs in a
 * process of its own: local mode runs one platform per process, and its handlers' module-scope
 * caches (job definitions) belong to the platform that filled them.
 */
export async function describeContainerRuntime(name: ContainerEngineName): Promise<void> {
  const detected = await detectContainerEngine({ env: process.env, candidates: [name] });
  if (detected.engine !== undefined) {
    describeEngine(detected);
  } else if (name === 'podman' && inCi) {
    describe(`local mode with the ${name} runtime in CI`, () => {
      it(`fails when ${name} does not answer: ${detected.reason}`, () => {
        throw new Error(`CI installs ${name}, but it does not answer: ${detected.reason}`);
      });
    });
  } else {
    console.warn(`Skipping the ${name} runtime tests: ${name} does not answer (${detected.reason}).`);
    describe(`local mode with the ${name} runtime`, () => {
      for (const scenario of SCENARIOS) it.skip(`${scenario} (skipped: ${name} does not answer: ${detected.reason})`, () => {});
    });
  }
}

function describeEngine(engine: DetectedContainerEngine): void {
  const name = engine.engine;

  /** The containers, running or not, labelled with the Batch job id. */
  const containersOf = async (batchJobId: string): Promise<string[]> => {
    const { stdout } = await run(name, ['ps', '--all', '--filter', `label=gpujobs.job-id=${batchJobId}`, '--format', '{{.Names}}'], {
      env: engine.env,
    });
    return stdout.split('\n').filter(Boolean);
  };

  // One platform runs per process: this one stops before the restart scenario starts its own.
  describe(`local mode with the ${name} runtime`, () => {
    let local: TestPlatform;
    // Submitted first and checked last, so that its minute-long wait overlaps the other scenarios.
    let timedOut: Job;

    /** Reclaims the one running Spot attempt once its container exists and it has said which attempt it is. */
    const reclaimFirstAttempt = async (jobId: string): Promise<string> => {
      const running = await local.api.waitForStatus(jobId, ['RUNNING'], { timeoutMs: 30_000 });
      const batchJobId = running.attempts.at(-1)?.batchJobId;
      expect(batchJobId).toBeDefined();
      await waitFor(async () => (await containersOf(batchJobId!)).length === 1, `the container of ${batchJobId}`, 30_000);
      await waitFor(async () => (await local.api.logs(jobId)).includes('attempt=1'), 'the first attempt’s output', 30_000);
      const response = await local.api.request<{ interrupted: number }>('POST', '/local/spot/interrupt');
      expect(response.body.interrupted).toBe(1);
      return batchJobId!;
    };

    beforeAll(async () => {
      await ensureTestImage(engine);
      local = await startTestPlatform({ runtime: name, pull: 'never' });
      // On-Demand, so that the reclaims below do not stop it.
      timedOut = await local.api.submit({
        image: TEST_IMAGE,
        command: ['sleep', '600'],
        capacity: 'on-demand',
        timeoutSeconds: SHORTEST_TIMEOUT_SECONDS,
      });
    }, 120_000);
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
      // Each engine words a missing image its own way; the reason names Batch's error and the image.
      expect(finished.statusReason).toMatch(/CannotPullContainerError: .*localhost\/does-not-exist:1/);
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

    it(SCENARIOS[7]!, async () => {
      // GIVEN the README's first job, on the test image since no registry is reachable here
      const example = readmeFirstJob();
      expect(typeof example.image).toBe('string');

      // WHEN it is submitted as the README shows
      const job = await local.api.submit({ ...example, image: TEST_IMAGE });
      const finished = await local.api.waitForStatus(job.jobId, FINISHED, { timeoutMs: 30_000 });

      // THEN it succeeded and greeted with its own job id
      expect(finished.status).toBe('SUCCEEDED');
      // stdout and stderr (nvidia-smi missing here) are separate streams: their lines may come in either order.
      expect(await local.api.logs(job.jobId)).toContain(`hello from ${job.jobId}`);
    });

    it(SCENARIOS[8]!, async () => {
      // GIVEN a Spot attempt whose container ignores SIGTERM
      const job = await local.api.submit({ image: TEST_IMAGE, command: IGNORES_TERM, maxSpotAttempts: 1 });

      // WHEN its Spot instance is reclaimed
      const reclaimedBatchJobId = await reclaimFirstAttempt(job.jobId);
      const finished = await local.api.waitForStatus(job.jobId, FINISHED, { timeoutMs: 60_000 });

      // THEN SIGKILL ended attempt 1 as a reclaim, as in process mode (a reclaimed host reports no exit code), and attempt 2 ran it to the end
      expect(finished.status).toBe('SUCCEEDED');
      expect(finished.attempts.map(({ attempt, capacity, status, failureClass }) => ({ attempt, capacity, status, failureClass }))).toEqual(
        [
          { attempt: 1, capacity: 'spot', status: 'FAILED', failureClass: 'SPOT_RECLAIM' },
          { attempt: 2, capacity: 'on-demand', status: 'SUCCEEDED', failureClass: undefined },
        ],
      );
      expect(finished.attempts[0]).not.toHaveProperty('exitCode');
      expect(finished.attempts[0]?.statusReason).toMatch(/^Host EC2 \(instance i-[0-9a-f]+\) terminated\./);
      expect((await local.api.logs(job.jobId)).filter((line) => line === 'done')).toHaveLength(1);
      // AND no container of either attempt is left
      for (const batchJobId of new Set([reclaimedBatchJobId, ...batchJobIdsOf(finished)])) {
        expect(await containersOf(batchJobId)).toEqual([]);
      }
    });

    it(SCENARIOS[9]!, async () => {
      // GIVEN a Spot attempt whose container exits 0 on SIGTERM
      const job = await local.api.submit({ image: TEST_IMAGE, command: TRAPS_TERM, maxSpotAttempts: 1 });

      // WHEN its Spot instance is reclaimed
      const reclaimedBatchJobId = await reclaimFirstAttempt(job.jobId);
      const finished = await local.api.waitForStatus(job.jobId, FINISHED, { timeoutMs: 60_000 });

      // THEN the container heard SIGTERM before anything killed it, and the reclaim still counts as one
      expect(await local.api.logs(job.jobId)).toEqual(['attempt=1', 'got TERM', 'attempt=2', 'done']);
      expect(finished.status).toBe('SUCCEEDED');
      expect(finished.attempts.map(({ status, failureClass }) => `${status}:${failureClass ?? ''}`)).toEqual([
        'FAILED:SPOT_RECLAIM',
        'SUCCEEDED:',
      ]);
      for (const batchJobId of new Set([reclaimedBatchJobId, ...batchJobIdsOf(finished)])) {
        expect(await containersOf(batchJobId)).toEqual([]);
      }
    });

    it(SCENARIOS[10]!, async () => {
      const finished = await local.api.waitForStatus(timedOut.jobId, FINISHED, { timeoutMs: 110_000 });

      expect(finished.status).toBe('FAILED');
      expect(finished.attempts).toHaveLength(1);
      expect(finished.attempts[0]?.failureClass).toBe('TIMEOUT');
      // A cap on the default shape may follow Batch's reason, in parentheses.
      expect(finished.attempts[0]?.statusReason).toMatch(/^Job attempt duration exceeded timeout\b/);
      const [batchJobId] = batchJobIdsOf(finished);
      expect(batchJobId).toBeDefined();
      expect(await containersOf(batchJobId!)).toEqual([]);
    }, 120_000);
  });

  describe(`restarting local mode with the ${name} runtime`, () => {
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
        if (left.length > 0) await run(name, ['rm', '--force', ...left], { env: engine.env });
      }
      for (const dataDir of dataDirs.splice(0)) rmSync(dataDir, { recursive: true, force: true });
    });

    it(SCENARIOS[11]!, async () => {
      // GIVEN `npm start` with the container runtime in its own process, running a job's container
      await ensureTestImage(engine);
      const dataDir = mkdtempSync(join(tmpdir(), `gpujobs-${name}-restart-`));
      dataDirs.push(dataDir);
      const started = await startPlatformProcess(dataDir, { env: { GPUJOBS_LOCAL_RUNTIME: name, GPUJOBS_LOCAL_PULL: 'never' } });
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
      restarted = await startTestPlatform({ dataDir, gpus: 1, runtime: name, pull: 'never' });

      // THEN the container outlived the kill, and is gone once the platform has started again
      expect(survived).toHaveLength(1);
      expect(await containersOf(interruptedBatchJobId!)).toEqual([]);
      // AND its job was interrupted, as in process mode: attempt 1 ended as a reclaim, attempt 2 ran it to the end
      expect(restarted.platform.recovered.interrupted).toEqual([job.jobId]);
      const finished = await restarted.api.waitForStatus(job.jobId, FINISHED, { timeoutMs: 60_000 });
      batchJobIds.push(...batchJobIdsOf(finished));
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
}
