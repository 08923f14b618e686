import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { batchRetryStrategy, stepFunctionsEvaluateOnExit } from '../../../core/retry-strategy.js';
import { BATCH_STATUS_REASON, LocalBatch, type JobDetail, type LocalBatchOptions } from '../../../local/batch/index.js';
import { LogStore } from '../../../local/log-store.js';
import { consoleLogger } from '../../../local/logger.js';
import { lastAttemptLogLines } from '../../support/batch-logs.js';

let directory: string;
let logStore: LogStore;
let events: JobDetail[];

beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), 'gpujobs-batch-'));
  logStore = new LogStore(join(directory, 'logs'));
  events = [];
});
afterEach(async () => {
  await logStore.close();
  rmSync(directory, { recursive: true, force: true });
});

function localBatch(overrides: Partial<LocalBatchOptions> = {}): LocalBatch {
  return new LocalBatch({
    account: '000000000000',
    region: 'us-east-1',
    gpus: [0, 1, 2, 3].map((index) => ({ index, name: 'virtual GPU' })),
    logStore,
    defaultLogGroupName: '/aws/batch/job',
    jobDefinitionsFile: join(directory, 'job-definitions.json'),
    capacityTimeoutSeconds: 600,
    stopGracePeriodSeconds: 1,
    sandboxesDirectory: join(directory, 'sandboxes'),
    instanceType: 'local',
    logger: consoleLogger({ quiet: true }),
    onStateChange: (detail) => events.push(detail),
    ...overrides,
  });
}

function register(batch: LocalBatch, gpus = 1, retryStrategy?: object): string {
  return batch.registerJobDefinition({
    jobDefinitionName: 'gpujobs-test',
    type: 'container',
    containerProperties: {
      image: 'busybox',
      command: ['true'],
      environment: [{ name: 'FROM_DEFINITION', value: 'yes' }],
      resourceRequirements: [
        { type: 'GPU', value: String(gpus) },
        { type: 'VCPU', value: '1' },
      ],
    },
    ...(retryStrategy ? { retryStrategy } : {}),
  }).jobDefinitionArn;
}

function submit(
  batch: LocalBatch,
  definition: string,
  command: string[],
  options: { capacity?: 'spot' | 'on-demand'; name?: string; environment?: Record<string, string> } = {},
) {
  return batch.submitJob(
    {
      JobName: options.name ?? 'gpujobs-job-1',
      JobQueue: 'arn:aws:batch:us-east-1:000000000000:job-queue/spot',
      JobDefinition: definition,
      ContainerOverrides: {
        Command: command,
        Environment: Object.entries(options.environment ?? {}).map(([Name, Value]) => ({ Name, Value })),
      },
    },
    options.capacity ?? 'spot',
  );
}

const logLines = (detail: JobDetail) => lastAttemptLogLines(logStore, detail);

describe('the local Batch executor', () => {
  it('runs the command as a process with its environment and GPU slots, and reports SUCCEEDED like Batch', async () => {
    // GIVEN a job definition asking for 2 GPUs
    const batch = localBatch();
    const definition = register(batch, 2);

    // WHEN a job prints its environment
    const { completion } = submit(
      batch,
      definition,
      ['sh', '-c', 'echo "gpus=$CUDA_VISIBLE_DEVICES def=$FROM_DEFINITION mine=$MINE attempt=$AWS_BATCH_JOB_ATTEMPT"'],
      {
        environment: { MINE: 'override' },
      },
    );
    const detail = await completion;

    // THEN it succeeded with Batch's reason and exit code, its output is in its log stream, and the states were announced in order
    expect(detail.status).toBe('SUCCEEDED');
    expect(detail.statusReason).toBe(BATCH_STATUS_REASON.containerExited);
    expect((detail.container as { exitCode?: number }).exitCode).toBe(0);
    expect(logLines(detail)).toEqual(['gpus=0,1 def=yes mine=override attempt=1']);
    expect(events.map((event) => event.status)).toEqual(['RUNNABLE', 'STARTING', 'RUNNING', 'SUCCEEDED']);
  });

  it('reports a non-zero exit as FAILED with the exit code and no retry by default', async () => {
    const batch = localBatch();
    const { completion } = submit(batch, register(batch), ['sh', '-c', 'echo failing >&2; exit 3']);

    const detail = await completion;

    expect(detail.status).toBe('FAILED');
    expect(detail.statusReason).toBe('Essential container in task exited');
    expect(detail.attempts).toHaveLength(1);
    expect((detail.attempts as { container: { exitCode: number } }[])[0]!.container.exitCode).toBe(3);
    expect(logLines(detail)).toEqual(['failing']);
  });

  it('reclaims running Spot attempts with the EC2 reason and retries them when the retry strategy says so', async () => {
    // GIVEN the stack's retry strategy: Host EC2* → RETRY, * → EXIT, 2 attempts
    const batch = localBatch();
    const definition = register(batch, 1, {
      attempts: 2,
      evaluateOnExit: [
        { onStatusReason: 'Host EC2*', action: 'RETRY' },
        { onReason: '*', action: 'EXIT' },
      ],
    });
    const { completion } = submit(batch, definition, ['sh', '-c', 'if [ "$AWS_BATCH_JOB_ATTEMPT" = 1 ]; then sleep 30; fi']);
    await waitFor(() => events.some((event) => event.status === 'RUNNING'));

    // WHEN Spot is interrupted
    expect(batch.interruptSpot()).toBe(1);
    const detail = await completion;

    // THEN the first attempt failed with the EC2 reason and the second succeeded
    const attempts = detail.attempts as { statusReason: string }[];
    expect(attempts[0]!.statusReason).toMatch(/^Host EC2 \(instance i-[0-9a-f]{17}\) terminated\.$/);
    expect(detail.status).toBe('SUCCEEDED');
    expect(attempts).toHaveLength(2);
  });

  it("lets a SubmitJob RetryStrategy override the definition's, as Batch does: 1 attempt means no retry in place", async () => {
    // GIVEN a definition that retries a lost host (2 attempts), and a submission allowing 1
    const batch = localBatch();
    const definition = register(batch, 1, batchRetryStrategy(2));
    const { completion } = batch.submitJob(
      {
        JobName: 'gpujobs-job-1',
        JobQueue: 'arn:aws:batch:us-east-1:000000000000:job-queue/spot',
        JobDefinition: definition,
        ContainerOverrides: { Command: ['sh', '-c', 'if [ "$AWS_BATCH_JOB_ATTEMPT" = 1 ]; then sleep 30; fi'] },
        RetryStrategy: { Attempts: 1, EvaluateOnExit: stepFunctionsEvaluateOnExit() },
      },
      'spot',
    );
    await waitFor(() => events.some((event) => event.status === 'RUNNING'));

    // WHEN Spot is interrupted
    batch.interruptSpot();
    const detail = await completion;

    // THEN the job failed after its one run, and reports the retry strategy it ran with
    expect(detail.status).toBe('FAILED');
    expect(detail.attempts).toHaveLength(1);
    expect(detail.statusReason).toMatch(/^Host EC2 /);
    expect(detail.retryStrategy).toEqual(batchRetryStrategy(1));
  });

  it('keeps Spot jobs RUNNABLE without capacity and cancels them after the capacity timeout', async () => {
    const batch = localBatch({ capacityTimeoutSeconds: 0.2 });
    batch.setSpotCapacity(false);
    const started = Date.now();

    const detail = await submit(batch, register(batch), ['true']).completion;

    expect(detail.status).toBe('FAILED');
    expect(detail.statusReason).toBe('Canceled by JobStateTimeLimit action due to reason: CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY');
    expect(detail.attempts).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
  });

  it('runs On-Demand jobs while Spot capacity is off', async () => {
    const batch = localBatch({ capacityTimeoutSeconds: 60 });
    batch.setSpotCapacity(false);

    const detail = await submit(batch, register(batch), ['true'], { capacity: 'on-demand' }).completion;

    expect(detail.status).toBe('SUCCEEDED');
  });

  it('makes a job wait until enough GPU slots are free', async () => {
    // GIVEN a pool of 2 GPUs and a job holding both
    const batch = localBatch({ gpus: [0, 1].map((index) => ({ index, name: 'virtual GPU' })) });
    const definition = register(batch, 2);
    const first = submit(batch, definition, ['sh', '-c', 'sleep 0.4'], { name: 'gpujobs-first-1' });

    // WHEN a second 2-GPU job arrives
    const second = submit(batch, definition, ['true'], { name: 'gpujobs-second-1' });
    const [firstDetail, secondDetail] = await Promise.all([first.completion, second.completion]);

    // THEN it starts only after the first one stopped
    expect(Number(secondDetail.startedAt)).toBeGreaterThanOrEqual(Number(firstDetail.stoppedAt));
  });

  it('terminates a running job and its whole process group', async () => {
    const batch = localBatch();
    const { jobId, completion } = submit(batch, register(batch), ['sh', '-c', 'sleep 30 & wait']);
    await waitFor(() => batch.runningProcesses().length === 1);
    const { pid } = batch.runningProcesses()[0]!;

    batch.terminateJob(jobId, 'cancelled by test');
    const detail = await completion;

    expect(detail.status).toBe('FAILED');
    expect(detail.statusReason).toBe('cancelled by test');
    expect(() => process.kill(pid, 0)).toThrow();
  });

  it('terminates a waiting job without ever starting it', async () => {
    const batch = localBatch({ capacityTimeoutSeconds: 60 });
    batch.setSpotCapacity(false);
    const { jobId, completion } = submit(batch, register(batch), ['true']);

    batch.terminateJob(jobId, 'cancelled while waiting');
    const detail = await completion;

    expect(detail.status).toBe('FAILED');
    expect(detail.attempts).toEqual([]);
    expect(events.map((event) => event.status)).toEqual(['RUNNABLE', 'FAILED']);
  });

  it("kills an attempt that exceeds its timeout with Batch's timeout reason", async () => {
    const batch = localBatch();
    const detail = await batch.submitJob(
      {
        JobName: 'gpujobs-slow-1',
        JobQueue: 'q',
        JobDefinition: register(batch),
        ContainerOverrides: { Command: ['sleep', '30'] },
        Timeout: { AttemptDurationSeconds: 0.3 },
      },
      'on-demand',
    ).completion;

    expect(detail.status).toBe('FAILED');
    expect(detail.statusReason).toBe('Job attempt duration exceeded timeout');
  });

  it('keeps registered job definitions across restarts', () => {
    const first = localBatch();
    const arn = register(first);

    const second = localBatch();

    expect(
      second.describeJobDefinitions({ jobDefinitions: [arn] }).jobDefinitions.map((definition) => definition.jobDefinitionArn),
    ).toEqual([arn]);
    expect(second.describeJobDefinitions({ jobDefinitionName: 'gpujobs-test', status: 'ACTIVE' }).jobDefinitions).toHaveLength(1);
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
