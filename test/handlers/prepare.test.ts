import 'aws-sdk-client-mock-vitest/extend';
import { BatchClient, ClientException, DescribeJobDefinitionsCommand, RegisterJobDefinitionCommand } from '@aws-sdk/client-batch';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { PrepareInput, PrepareResult } from '../../core/contract/workflow.js';
import type { DynamoJobStore } from '../../lambdas/shared/job-store.js';
import { startDynalite, type RunningDynalite } from '../support/dynalite.js';
import { lambdaContext, seedJob, setHandlerEnvironment, storeFor } from './handler-fixtures.js';
import { putJobAttempts } from '../../app/update-job.js';

type PrepareHandler = (input: PrepareInput, context: ReturnType<typeof lambdaContext>) => Promise<PrepareResult>;

const batchMock = mockClient(BatchClient);
const eventsMock = mockClient(EventBridgeClient);
let dynamo: RunningDynalite;
let store: DynamoJobStore;

/** A freshly loaded module: a cold start, with an empty job definition cache. */
async function coldStart(): Promise<PrepareHandler> {
  vi.resetModules();
  return (await import('../../lambdas/prepare/handler.js')).handler;
}

beforeAll(async () => {
  dynamo = await startDynalite();
  setHandlerEnvironment(dynamo);
  store = storeFor(dynamo);
});

afterAll(async () => {
  await dynamo?.stop();
});

beforeEach(() => {
  batchMock.reset();
  eventsMock.reset();
  eventsMock.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'event-1' }] });
});

const registeredArn = (name: string) => `arn:aws:batch:us-east-1:123456789012:job-definition/${name}:1`;

/** Batch with no definitions until one is registered, then that one ACTIVE. */
function batchWithRegistry() {
  const registered: { name: string; arn: string }[] = [];
  batchMock.on(DescribeJobDefinitionsCommand).callsFake((input: { jobDefinitionName?: string }) => ({
    jobDefinitions: registered
      .filter((definition) => definition.name === input.jobDefinitionName)
      .map((definition) => ({
        jobDefinitionName: definition.name,
        jobDefinitionArn: definition.arn,
        revision: 1,
        status: 'ACTIVE',
        type: 'container',
      })),
  }));
  batchMock.on(RegisterJobDefinitionCommand).callsFake((input: { jobDefinitionName: string }) => {
    const arn = registeredArn(input.jobDefinitionName);
    registered.push({ name: input.jobDefinitionName, arn });
    return { jobDefinitionName: input.jobDefinitionName, jobDefinitionArn: arn, revision: 1 };
  });
}

describe('prepare', () => {
  it('moves the job to PENDING, registers its job definition and plans the first attempt on Spot', async () => {
    // GIVEN a queued job and no job definition for its image yet
    batchWithRegistry();
    const handler = await coldStart();
    const job = await seedJob(store, {
      spec: { command: ['python', '-c', 'print(1)'], environment: { MODEL: 'tiny' }, memoryMiB: 16_384, timeoutSeconds: 3_600 },
    });

    // WHEN
    const result = await handler({ jobId: job.jobId }, lambdaContext('prepare'));

    // THEN the definition carries the image, resources, roles, logs and the retry rules in order
    expect(batchMock).toHaveReceivedCommandTimes(RegisterJobDefinitionCommand, 1);
    const registration = batchMock.commandCalls(RegisterJobDefinitionCommand)[0]!.args[0].input;
    expect(registration.jobDefinitionName).toMatch(/^gpujobs-test-[0-9a-f]{32}$/);
    expect(registration).toEqual({
      jobDefinitionName: registration.jobDefinitionName,
      type: 'container',
      platformCapabilities: ['EC2'],
      propagateTags: true,
      containerProperties: {
        image: 'public.ecr.aws/docker/library/python:3.12',
        resourceRequirements: [
          { type: 'GPU', value: '1' },
          { type: 'VCPU', value: '4' },
          { type: 'MEMORY', value: '16384' },
        ],
        jobRoleArn: 'arn:aws:iam::123456789012:role/gpujobs-job',
        executionRoleArn: 'arn:aws:iam::123456789012:role/gpujobs-job-execution',
        logConfiguration: {
          logDriver: 'awslogs',
          options: { 'awslogs-group': '/gpujobs/jobs', 'awslogs-stream-prefix': 'gpujobs' },
        },
      },
      retryStrategy: {
        attempts: 2,
        evaluateOnExit: [
          { onStatusReason: 'Job attempt duration exceeded timeout', action: 'EXIT' },
          { onStatusReason: 'Host EC2*', action: 'RETRY' },
          { onReason: '*', action: 'EXIT' },
        ],
      },
    });
    expect(result).toEqual({
      jobId: job.jobId,
      job: {
        jobDefinitionArn: registeredArn(registration.jobDefinitionName!),
        command: ['python', '-c', 'print(1)'],
        timeoutSeconds: 3_600,
      },
      plan: {
        next: 'spot',
        attempt: 1,
        jobName: `gpujobs-${job.jobId}-1`,
        environment: [
          { Name: 'MODEL', Value: 'tiny' },
          { Name: 'GPUJOBS_JOB_ID', Value: job.jobId },
          { Name: 'GPUJOBS_ATTEMPT', Value: '1' },
        ],
        // The whole Spot budget (maxSpotAttempts 3): Batch may retry a lost host in place up to it.
        batchAttempts: 3,
      },
    });
    const stored = await store.getJob(job.jobId);
    expect(stored?.status).toBe('PENDING');
    expect(stored?.attempts).toEqual([{ attempt: 1, capacity: 'spot', status: 'PENDING' }]);
    expect(eventsMock).toHaveReceivedCommandTimes(PutEventsCommand, 1);
    const [entry] = eventsMock.commandCalls(PutEventsCommand)[0]!.args[0].input.Entries ?? [];
    expect(entry).toMatchObject({ Source: 'gpujobs', DetailType: 'GPU Job Status Change', EventBusName: 'gpujobs-test-bus' });
    expect(JSON.parse(entry?.Detail ?? '{}')).toMatchObject({ status: 'PENDING', previousStatus: 'QUEUED' });
  });

  it('registers one definition per image and resources, and finds it again after a cold start', async () => {
    // GIVEN a first job registered the definition for its image
    batchWithRegistry();
    let handler = await coldStart();
    const first = await handler({ jobId: (await seedJob(store)).jobId }, lambdaContext('prepare'));

    // WHEN a second job with the same image runs in the same container, and a third after a cold start
    const second = await handler({ jobId: (await seedJob(store)).jobId }, lambdaContext('prepare'));
    handler = await coldStart();
    batchMock.resetHistory();
    const third = await handler({ jobId: (await seedJob(store)).jobId }, lambdaContext('prepare'));

    // THEN all three use the one definition; the cold start looked it up and registered nothing
    expect(second.job?.jobDefinitionArn).toBe(first.job?.jobDefinitionArn);
    expect(third.job?.jobDefinitionArn).toBe(first.job?.jobDefinitionArn);
    expect(batchMock).toHaveReceivedCommandTimes(DescribeJobDefinitionsCommand, 1);
    expect(batchMock).toHaveReceivedCommandWith(DescribeJobDefinitionsCommand, {
      jobDefinitionName: first.job?.jobDefinitionArn?.split('/')[1]?.split(':')[0],
      status: 'ACTIVE',
    });
    expect(batchMock).not.toHaveReceivedCommand(RegisterJobDefinitionCommand);
  });

  it('registers a separate definition when the resources differ', async () => {
    // GIVEN
    batchWithRegistry();
    const handler = await coldStart();
    const oneGpu = await handler({ jobId: (await seedJob(store)).jobId }, lambdaContext('prepare'));

    // WHEN the same image asks for two GPUs
    const twoGpus = await handler({ jobId: (await seedJob(store, { spec: { gpus: 2 } })).jobId }, lambdaContext('prepare'));

    // THEN
    expect(twoGpus.job?.jobDefinitionArn).not.toBe(oneGpu.job?.jobDefinitionArn);
    expect(batchMock).toHaveReceivedCommandTimes(RegisterJobDefinitionCommand, 2);
    expect(batchMock).toHaveReceivedNthCommandWith(RegisterJobDefinitionCommand, 2, {
      containerProperties: expect.objectContaining({ resourceRequirements: expect.arrayContaining([{ type: 'GPU', value: '2' }]) }),
    });
  });

  it('registers a definition that sizes /dev/shm for a job that sets sharedMemoryMiB', async () => {
    // GIVEN a job of the default image and resources that asks for 8 GiB of /dev/shm
    batchWithRegistry();
    const handler = await coldStart();
    const plain = await handler({ jobId: (await seedJob(store)).jobId }, lambdaContext('prepare'));

    // WHEN
    const sized = await handler({ jobId: (await seedJob(store, { spec: { sharedMemoryMiB: 8_192 } })).jobId }, lambdaContext('prepare'));

    // THEN its definition is its own and carries the size
    expect(sized.job?.jobDefinitionArn).not.toBe(plain.job?.jobDefinitionArn);
    expect(batchMock).toHaveReceivedNthCommandWith(RegisterJobDefinitionCommand, 2, {
      containerProperties: expect.objectContaining({ linuxParameters: { sharedMemorySize: 8_192 } }),
    });
  });

  it('skips a job that was cancelled while queued', async () => {
    // GIVEN
    batchWithRegistry();
    const handler = await coldStart();
    const job = await seedJob(store, { path: ['CANCELLED'] });

    // WHEN
    const result = await handler({ jobId: job.jobId }, lambdaContext('prepare'));

    // THEN
    expect(result).toEqual({ jobId: job.jobId, plan: { next: 'skip' } });
    expect(batchMock).not.toHaveReceivedAnyCommand();
    expect(eventsMock).not.toHaveReceivedCommand(PutEventsCommand);
  });

  it('gives the same plan and one status event when Step Functions runs it twice', async () => {
    // GIVEN a job prepared once
    batchWithRegistry();
    const handler = await coldStart();
    const job = await seedJob(store);
    const first = await handler({ jobId: job.jobId }, lambdaContext('prepare'));

    // WHEN it is prepared again
    const again = await handler({ jobId: job.jobId }, lambdaContext('prepare'));

    // THEN
    expect(again).toEqual(first);
    expect((await store.getJob(job.jobId))?.attempts).toHaveLength(1);
    expect(eventsMock).toHaveReceivedCommandTimes(PutEventsCommand, 1);
  });

  it('plans attempt 2 after an attempt an earlier execution settled, and records it PENDING', async () => {
    // GIVEN a PENDING job whose attempt 1 on Spot was interrupted (its host went away) under an earlier execution
    batchWithRegistry();
    const handler = await coldStart();
    const job = await seedJob(store, { path: ['PENDING'], spec: { maxSpotAttempts: 1 } });
    await putJobAttempts(store, job.jobId, [{ attempt: 1, capacity: 'spot', status: 'RUNNING', startedAt: '2026-11-01T10:00:00.000Z' }]);
    await putJobAttempts(store, job.jobId, [
      {
        attempt: 1,
        capacity: 'spot',
        status: 'FAILED',
        failureClass: 'SPOT_RECLAIM',
        startedAt: '2026-11-01T10:00:00.000Z',
        stoppedAt: '2026-11-01T10:05:00.000Z',
        statusReason: 'The local platform stopped while the attempt ran',
      },
    ]);

    // WHEN a new execution prepares it, and Step Functions runs the step again
    const result = await handler({ jobId: job.jobId }, lambdaContext('prepare'));
    const again = await handler({ jobId: job.jobId }, lambdaContext('prepare'));

    // THEN the one Spot attempt it was allowed is spent: attempt 2 fails over to On-Demand
    expect(result.plan).toMatchObject({ next: 'on-demand', attempt: 2, jobName: `gpujobs-${job.jobId}-2`, batchAttempts: 1 });
    expect(again).toEqual(result);
    const stored = await store.getJob(job.jobId);
    expect(stored?.status).toBe('PENDING');
    expect(stored?.attempts.map(({ attempt, capacity, status, failureClass }) => ({ attempt, capacity, status, failureClass }))).toEqual([
      { attempt: 1, capacity: 'spot', status: 'FAILED', failureClass: 'SPOT_RECLAIM' },
      { attempt: 2, capacity: 'on-demand', status: 'PENDING', failureClass: undefined },
    ]);
    // AND nothing moved the status, so nothing was announced
    expect(eventsMock).not.toHaveReceivedCommand(PutEventsCommand);
  });

  it('reuses the attempt an earlier execution planned and never ran', async () => {
    // GIVEN a PENDING job whose attempt 1 waited for a slot and never started
    batchWithRegistry();
    const handler = await coldStart();
    const job = await seedJob(store, { path: ['PENDING'] });
    await putJobAttempts(store, job.jobId, [{ attempt: 1, capacity: 'spot', status: 'PENDING' }]);

    // WHEN a new execution prepares it
    const result = await handler({ jobId: job.jobId }, lambdaContext('prepare'));

    // THEN attempt 1 runs, with the whole Spot budget, and is the only attempt
    expect(result.plan).toMatchObject({ next: 'spot', attempt: 1, batchAttempts: 3 });
    expect((await store.getJob(job.jobId))?.attempts).toEqual([{ attempt: 1, capacity: 'spot', status: 'PENDING' }]);
  });

  it('finishes a job whose settled attempts already used up its policy, with the usual reason', async () => {
    // GIVEN a spot-only job whose one Spot attempt was interrupted under an earlier execution
    batchWithRegistry();
    const handler = await coldStart();
    const job = await seedJob(store, { path: ['PENDING'], spec: { capacity: 'spot-only', maxSpotAttempts: 1 } });
    await putJobAttempts(store, job.jobId, [{ attempt: 1, capacity: 'spot', status: 'FAILED', failureClass: 'SPOT_RECLAIM' }]);

    // WHEN a new execution prepares it
    const result = await handler({ jobId: job.jobId }, lambdaContext('prepare'));

    // THEN it goes to Finish, FAILED, without touching Batch
    expect(result.plan).toEqual({
      next: 'finish',
      outcome: {
        status: 'FAILED',
        failureClass: 'SPOT_RECLAIM',
        statusReason: 'Spot capacity was reclaimed once and spot-only allows no On-Demand attempt',
      },
    });
    expect(batchMock).not.toHaveReceivedAnyCommand();
  });

  it('finishes the job FAILED with the reason when Batch refuses the job definition', async () => {
    // GIVEN Batch rejects the image reference
    batchMock.on(DescribeJobDefinitionsCommand).resolves({ jobDefinitions: [] });
    batchMock
      .on(RegisterJobDefinitionCommand)
      .rejects(new ClientException({ message: 'Error executing request, Exception : Invalid image.', $metadata: {} }));
    const handler = await coldStart();
    const job = await seedJob(store, { spec: { image: 'registry.example.com/bad image' } });

    // WHEN
    const result = await handler({ jobId: job.jobId }, lambdaContext('prepare'));

    // THEN
    expect(result).toEqual({
      jobId: job.jobId,
      plan: {
        next: 'finish',
        outcome: {
          status: 'FAILED',
          failureClass: 'MISCONFIGURATION',
          statusReason: expect.stringContaining('Invalid image.'),
        },
      },
    });
  });

  it('finishes the job FAILED as a misconfiguration naming the missing permission when Batch denies the registration', async () => {
    // GIVEN the prepare role may not pass the job roles (AccessDeniedException is not modelled by the Batch client)
    batchMock.on(DescribeJobDefinitionsCommand).resolves({ jobDefinitions: [] });
    const denied = Object.assign(
      new Error(
        'User: arn:aws:sts::123456789012:assumed-role/GpuJobs-PrepareFunctionRole/fn is not authorized to perform: iam:PassRole on resource: arn:aws:iam::123456789012:role/GpuJobs-JobRole because no identity-based policy allows the iam:PassRole action',
      ),
      { name: 'AccessDeniedException', $metadata: { httpStatusCode: 403 } },
    );
    batchMock.on(RegisterJobDefinitionCommand).rejects(denied);
    const handler = await coldStart();
    const job = await seedJob(store, { spec: { image: 'registry.example.com/team/trainer:1' } });

    // WHEN
    const result = await handler({ jobId: job.jobId }, lambdaContext('prepare'));

    // THEN the workflow goes straight to Finish: no crashed execution, no Batch submission
    expect(result.plan).toEqual({
      next: 'finish',
      outcome: {
        status: 'FAILED',
        failureClass: 'MISCONFIGURATION',
        statusReason: expect.stringContaining('missing permission iam:PassRole'),
      },
    });
    expect(result.job).toBeUndefined();
  });

  it('fails the task (for Step Functions to retry) when registration meets an outage, not the job', async () => {
    batchMock.on(DescribeJobDefinitionsCommand).resolves({ jobDefinitions: [] });
    batchMock
      .on(RegisterJobDefinitionCommand)
      .rejects(Object.assign(new Error('Internal failure'), { name: 'ServerException', $metadata: { httpStatusCode: 500 } }));
    const handler = await coldStart();
    const job = await seedJob(store, { spec: { image: 'registry.example.com/team/trainer:2' } });

    await expect(handler({ jobId: job.jobId }, lambdaContext('prepare'))).rejects.toThrow('Internal failure');
    // Nothing is written before the job definition is known: the retry starts from the same record.
    expect((await store.getJob(job.jobId))?.status).toBe('QUEUED');
  });

  it('refuses an image from a registry the deployment no longer allows, before touching Batch', async () => {
    // GIVEN the allow list names only the account's ECR
    batchWithRegistry();
    process.env.ALLOWED_REGISTRIES = '*.dkr.ecr.us-east-1.amazonaws.com';
    const handler = await coldStart();
    delete process.env.ALLOWED_REGISTRIES;
    const job = await seedJob(store, { spec: { image: 'ghcr.io/someone/miner:latest' } });

    // WHEN
    const result = await handler({ jobId: job.jobId }, lambdaContext('prepare'));

    // THEN
    expect(result.plan).toEqual({
      next: 'finish',
      outcome: { status: 'FAILED', failureClass: 'MISCONFIGURATION', statusReason: expect.stringContaining('ghcr.io') },
    });
    expect(batchMock).not.toHaveReceivedAnyCommand();
  });
});
