/**
 * What the watchdog needs from the local Batch and Step Functions stand-ins: a blocked queue
 * that behaves like Batch's (the reason and the time-limit cancel on its head job only),
 * ListJobs and CancelJob, and ListExecutions, through real SDK clients.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchClient, CancelJobCommand, ListJobsCommand } from '@aws-sdk/client-batch';
import { ListExecutionsCommand, SFNClient, StartExecutionCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startAwsServer, type RunningAwsServer } from '../../local/aws-server.js';
import { BATCH_STATUS_REASON, LocalBatch, type JobDetail, type LocalBatchOptions } from '../../local/batch/index.js';
import { LocalEventBus } from '../../local/event-bus.js';
import { LogStore } from '../../local/log-store.js';
import { consoleLogger } from '../../local/logger.js';
import { LocalStepFunctions } from '../../local/step-functions.js';

const logger = consoleLogger({ quiet: true });
const SPOT_QUEUE = 'arn:aws:batch:us-east-1:000000000000:job-queue/GpuComputeSpotJobQueue';
const ON_DEMAND_QUEUE = 'arn:aws:batch:us-east-1:000000000000:job-queue/GpuComputeOnDemandJobQueue';
const STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:000000000000:stateMachine:Watched';

let directory: string;
let logStore: LogStore;
const batches: LocalBatch[] = [];

async function disposeStandIns(): Promise<void> {
  for (const batch of batches.splice(0)) await batch.shutdown();
  await logStore.close();
  rmSync(directory, { recursive: true, force: true });
}

function localBatch(overrides: Partial<LocalBatchOptions> = {}): LocalBatch {
  const batch = new LocalBatch({
    account: '000000000000',
    region: 'us-east-1',
    gpus: [0, 1].map((index) => ({ index, name: 'virtual GPU' })),
    logStore,
    defaultLogGroupName: '/aws/batch/job',
    jobDefinitionsFile: join(directory, 'job-definitions.json'),
    capacityTimeoutSeconds: 600,
    stopGracePeriodSeconds: 0.2,
    sandboxesDirectory: join(directory, 'sandboxes'),
    instanceType: 'g5.xlarge',
    logger,
    onStateChange: () => undefined,
    ...overrides,
  });
  batches.push(batch);
  return batch;
}

function submitter(batch: LocalBatch) {
  const definition = batch.registerJobDefinition({
    jobDefinitionName: 'gpujobs-watched',
    type: 'container',
    containerProperties: { image: 'busybox', command: ['true'], resourceRequirements: [{ type: 'GPU', value: '1' }] },
  }).jobDefinitionArn;
  return (name: string, options: { capacity?: 'spot' | 'on-demand'; command?: string[] } = {}) =>
    batch.submitJob(
      {
        JobName: name,
        JobQueue: options.capacity === 'on-demand' ? ON_DEMAND_QUEUE : SPOT_QUEUE,
        JobDefinition: definition,
        ContainerOverrides: { Command: options.command ?? ['true'] },
      },
      options.capacity ?? 'spot',
    );
}

const runnableReasons = (batch: LocalBatch) =>
  batch.listJobs({ jobQueue: SPOT_QUEUE, jobStatus: 'RUNNABLE' }).jobSummaryList.map((job) => [job.jobName, job.statusReason ?? null]);

describe('the local Batch queue without Spot capacity', () => {
  beforeEach(() => {
    directory = mkdtempSync(join(tmpdir(), 'gpujobs-watchdog-stand-ins-'));
    logStore = new LogStore(join(directory, 'logs'));
  });
  afterEach(disposeStandIns);

  it('puts the blocked reason on its head job only, and cancels one job per capacity timeout, as Batch does', async () => {
    // GIVEN no Spot capacity and three Spot jobs
    const batch = localBatch({ capacityTimeoutSeconds: 0.3 });
    batch.setSpotCapacity(false);
    const submit = submitter(batch);
    const jobs = ['first', 'second', 'third'].map((name) => submit(name));
    await new Promise((resolve) => queueMicrotask(() => resolve(undefined)));

    // THEN only the head says why the queue is blocked
    expect(runnableReasons(batch)).toEqual([
      ['first', BATCH_STATUS_REASON.queueBlockedNoCapacity('g5.xlarge')],
      ['second', null],
      ['third', null],
    ]);

    // WHEN the time limit acts, it cancels the head; the next job becomes the head with a clock of its own
    const first = await jobs[0]!.completion;
    expect(first.statusReason).toBe(BATCH_STATUS_REASON.noCapacity);
    expect(runnableReasons(batch)).toEqual([
      ['second', BATCH_STATUS_REASON.queueBlockedNoCapacity('g5.xlarge')],
      ['third', null],
    ]);
    const [second, third] = (await Promise.all(jobs.slice(1).map((job) => job.completion))) as [JobDetail, JobDetail];
    expect(Number(second.stoppedAt) - Number(first.stoppedAt)).toBeGreaterThanOrEqual(290);
    expect(Number(third.stoppedAt) - Number(second.stoppedAt)).toBeGreaterThanOrEqual(290);
  });

  it('clears the blocked reason and runs the jobs when capacity comes back', async () => {
    const batch = localBatch({ capacityTimeoutSeconds: 60 });
    batch.setSpotCapacity(false);
    const submit = submitter(batch);
    const job = submit('waiting');
    await new Promise((resolve) => queueMicrotask(() => resolve(undefined)));
    expect(runnableReasons(batch)).toEqual([['waiting', BATCH_STATUS_REASON.queueBlockedNoCapacity('g5.xlarge')]]);

    batch.setSpotCapacity(true);
    const detail = await job.completion;

    expect(detail.status).toBe('SUCCEEDED');
    expect(detail.statusReason).toBe(BATCH_STATUS_REASON.containerExited);
  });

  it('cancels a waiting job at once with the reason given, and leaves a running one alone', async () => {
    const batch = localBatch();
    const submit = submitter(batch);
    const running = submit('running', { command: ['sleep', '30'] });
    await waitFor(() => batch.runningProcesses().length === 1);
    batch.setSpotCapacity(false);
    const waiting = submit('waiting');
    await new Promise((resolve) => queueMicrotask(() => resolve(undefined)));

    batch.cancelJob(waiting.jobId, 'CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - no Spot capacity for 600 s (gpujobs watchdog)');
    batch.cancelJob(running.jobId, 'too late');

    const cancelled = await waiting.completion;
    expect(cancelled).toMatchObject({
      status: 'FAILED',
      statusReason: 'CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - no Spot capacity for 600 s (gpujobs watchdog)',
      attempts: [],
    });
    expect(batch.describeJobs([running.jobId])[0]?.status).toBe('RUNNING');
    expect(() => batch.cancelJob('no-such-job', 'x')).toThrow(/does not exist/);
  });
});

describe('ListJobs, CancelJob and ListExecutions through real SDK clients', () => {
  let server: RunningAwsServer;
  let batch: LocalBatch;
  let stepFunctions: LocalStepFunctions;
  let bus: LocalEventBus;
  let releaseWork: () => void;

  beforeAll(async () => {
    directory = mkdtempSync(join(tmpdir(), 'gpujobs-watchdog-sdk-'));
    logStore = new LogStore(join(directory, 'logs'));
    batch = localBatch({ capacityTimeoutSeconds: 60 });
    bus = new LocalEventBus({
      eventLogFile: join(directory, 'events.jsonl'),
      busName: 'gpujobs',
      webhookUrls: [],
      account: '000000000000',
      region: 'us-east-1',
      logger,
    });
    const gate = new Promise<void>((resolve) => {
      releaseWork = resolve;
    });
    stepFunctions = new LocalStepFunctions({
      stateMachineArn: STATE_MACHINE_ARN,
      definition: {
        StartAt: 'Work',
        States: { Work: { Type: 'Task', Resource: 'arn:aws:lambda:us-east-1:000000000000:function:work', End: true } },
      },
      createTaskHandlers: () => ({
        Work: async (input) => {
          await gate;
          return input;
        },
      }),
      onStatusChange: () => undefined,
      logger,
    });
    server = await startAwsServer({ stepFunctions: () => stepFunctions, batch, eventBus: bus, logStore, logger });
    for (const service of ['SFN', 'BATCH']) process.env[`AWS_ENDPOINT_URL_${service}`] = server.endpoint;
  });
  afterAll(async () => {
    releaseWork();
    await stepFunctions.drain();
    await server.close();
    await bus.close();
    await disposeStandIns();
  });

  it("lists a queue's RUNNABLE jobs page by page, as JobSummary objects, and cancels one", async () => {
    batch.setSpotCapacity(false);
    const submit = submitter(batch);
    const submitted = ['a', 'b', 'c'].map((name) => submit(`gpujobs-${name}-1`));
    submit('gpujobs-od-1', { capacity: 'on-demand' });
    await new Promise((resolve) => queueMicrotask(() => resolve(undefined)));
    const client = new BatchClient({});

    const first = await client.send(new ListJobsCommand({ jobQueue: SPOT_QUEUE, jobStatus: 'RUNNABLE', maxResults: 2 }));
    const second = await client.send(
      new ListJobsCommand({ jobQueue: SPOT_QUEUE, jobStatus: 'RUNNABLE', maxResults: 2, nextToken: first.nextToken }),
    );
    await client.send(new CancelJobCommand({ jobId: submitted[1]!.jobId, reason: 'CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - test' }));
    const after = await client.send(new ListJobsCommand({ jobQueue: 'GpuComputeSpotJobQueue', jobStatus: 'RUNNABLE' }));

    expect(first.jobSummaryList?.map((job) => job.jobName)).toEqual(['gpujobs-a-1', 'gpujobs-b-1']);
    expect(first.jobSummaryList?.[0]).toEqual({
      jobArn: `arn:aws:batch:us-east-1:000000000000:job/${submitted[0]!.jobId}`,
      jobId: submitted[0]!.jobId,
      jobName: 'gpujobs-a-1',
      createdAt: expect.any(Number),
      status: 'RUNNABLE',
      statusReason: BATCH_STATUS_REASON.queueBlockedNoCapacity('g5.xlarge'),
      jobDefinition: expect.stringMatching(/:job-definition\/gpujobs-watched:\d+$/),
    });
    expect(second.jobSummaryList?.map((job) => job.jobName)).toEqual(['gpujobs-c-1']);
    expect(second.nextToken).toBeUndefined();
    expect(after.jobSummaryList?.map((job) => job.jobName)).toEqual(['gpujobs-a-1', 'gpujobs-c-1']);
    expect((await submitted[1]!.completion).statusReason).toBe('CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - test');
  });

  it('lists executions of one status, newest start first, with their dates', async () => {
    const sfn = new SFNClient({});
    for (const name of ['older', 'newer']) {
      const { executionArn } = await sfn.send(new StartExecutionCommand({ stateMachineArn: STATE_MACHINE_ARN, name, input: '{}' }));
      await sfn.send(new StopExecutionCommand({ executionArn }));
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await sfn.send(new StartExecutionCommand({ stateMachineArn: STATE_MACHINE_ARN, name: 'still-running', input: '{}' }));
    await waitFor(
      () => stepFunctions.listExecutions({ stateMachineArn: STATE_MACHINE_ARN, statusFilter: 'ABORTED' }).executions.length === 2,
    );

    const aborted = await sfn.send(new ListExecutionsCommand({ stateMachineArn: STATE_MACHINE_ARN, statusFilter: 'ABORTED' }));

    expect(aborted.executions?.map((execution) => execution.name)).toEqual(['newer', 'older']);
    expect(aborted.executions?.[0]?.startDate).toBeInstanceOf(Date);
    expect(aborted.executions?.[0]?.stopDate).toBeInstanceOf(Date);
  });
});

async function waitFor(probe: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
