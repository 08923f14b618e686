import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchClient, DescribeJobDefinitionsCommand, RegisterJobDefinitionCommand, TerminateJobCommand } from '@aws-sdk/client-batch';
import { CloudWatchLogsClient, GetLogEventsCommand, ResourceNotFoundException } from '@aws-sdk/client-cloudwatch-logs';
import { DescribeContainerInstancesCommand, ECSClient } from '@aws-sdk/client-ecs';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAwsServer, type RunningAwsServer } from '../../../local/aws-server.js';
import { LocalBatch } from '../../../local/batch/index.js';
import { LocalEventBus, type EventEnvelope } from '../../../local/event-bus.js';
import { LogStore } from '../../../local/log-store.js';
import { consoleLogger } from '../../../local/logger.js';
import { LocalStepFunctions } from '../../../local/step-functions.js';

const logger = consoleLogger({ quiet: true });
const stateMachineArn = 'arn:aws:states:us-east-1:000000000000:stateMachine:Test';
let directory: string;
let server: RunningAwsServer;
let logStore: LogStore;
let batch: LocalBatch;
let bus: LocalEventBus;
let statusChanges: Record<string, unknown>[];
let webhookBodies: EventEnvelope[];
let webhook: ReturnType<typeof createServer>;
let releaseWait: () => void;

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), 'gpujobs-aws-'));
  webhookBodies = [];
  webhook = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      webhookBodies.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as EventEnvelope);
      response.end();
    });
  });
  await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
  logStore = new LogStore(join(directory, 'logs'));
  bus = new LocalEventBus({
    eventLogFile: join(directory, 'events.jsonl'),
    busName: 'gpujobs',
    webhookUrls: [`http://127.0.0.1:${(webhook.address() as AddressInfo).port}/hook`, 'http://127.0.0.1:1/unreachable'],
    account: '000000000000',
    region: 'us-east-1',
    logger: { ...logger, warn: () => undefined },
  });
  batch = new LocalBatch({
    account: '000000000000',
    region: 'us-east-1',
    gpus: [{ index: 0, name: 'virtual GPU' }],
    logStore,
    defaultLogGroupName: '/aws/batch/job',
    jobDefinitionsFile: join(directory, 'defs.json'),
    capacityTimeoutSeconds: 600,
    stopGracePeriodSeconds: 1,
    sandboxesDirectory: join(directory, 'sandboxes'),
    instanceType: 'local',
    logger,
    onStateChange: () => undefined,
  });
  statusChanges = [];
  const gate = new Promise<void>((resolve) => {
    releaseWait = resolve;
  });
  const stepFunctions = new LocalStepFunctions({
    stateMachineArn,
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
    onStatusChange: (detail) => statusChanges.push(detail),
    logger,
  });
  server = await startAwsServer({ stepFunctions: () => stepFunctions, batch, eventBus: bus, logStore, logger });
  // The SDK finds the stand-in through the service-specific endpoint variables, as the handlers do.
  for (const service of ['SFN', 'BATCH', 'EVENTBRIDGE', 'CLOUDWATCH_LOGS', 'ECS'])
    process.env[`AWS_ENDPOINT_URL_${service}`] = server.endpoint;
});

afterAll(async () => {
  await server.close();
  await bus.close();
  await logStore.close();
  await new Promise((resolve) => webhook.close(resolve));
  rmSync(directory, { recursive: true, force: true });
});

describe('the AWS protocol stand-in, through real SDK clients', () => {
  it('starts executions by name, treats a same-input retry as the same request and rejects a different input', async () => {
    const sfn = new SFNClient({});
    const started = await sfn.send(new StartExecutionCommand({ stateMachineArn, name: 'job-1', input: '{"jobId":"job-1"}' }));
    const again = await sfn.send(new StartExecutionCommand({ stateMachineArn, name: 'job-1', input: '{"jobId":"job-1"}' }));

    await expect(
      sfn.send(new StartExecutionCommand({ stateMachineArn, name: 'job-1', input: '{"jobId":"other"}' })),
    ).rejects.toBeInstanceOf(ExecutionAlreadyExists);
    expect(started.executionArn).toBe('arn:aws:states:us-east-1:000000000000:execution:Test:job-1');
    expect(again.executionArn).toBe(started.executionArn);
    expect(started.startDate).toBeInstanceOf(Date);
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn: started.executionArn }));
    expect(described.status).toBe('RUNNING');
  });

  it('stops an execution: it ends ABORTED with a status change event', async () => {
    const sfn = new SFNClient({});
    const { executionArn } = await sfn.send(new StartExecutionCommand({ stateMachineArn, name: 'job-2', input: '{}' }));

    await sfn.send(new StopExecutionCommand({ executionArn, cause: 'cancelled' }));
    await waitFor(() => statusChanges.some((change) => change.name === 'job-2' && change.status === 'ABORTED'));

    const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    expect(described.status).toBe('ABORTED');
    expect(described.stopDate).toBeInstanceOf(Date);
    releaseWait();
  });

  it('registers and describes job definitions and maps Batch errors to the SDK exception', async () => {
    const client = new BatchClient({});
    const registered = await client.send(
      new RegisterJobDefinitionCommand({
        jobDefinitionName: 'gpujobs-abc',
        type: 'container',
        containerProperties: { image: 'busybox', command: ['true'], resourceRequirements: [{ type: 'GPU', value: '1' }] },
      }),
    );
    const described = await client.send(new DescribeJobDefinitionsCommand({ jobDefinitionName: 'gpujobs-abc', status: 'ACTIVE' }));

    expect(registered.jobDefinitionArn).toBe('arn:aws:batch:us-east-1:000000000000:job-definition/gpujobs-abc:1');
    expect(described.jobDefinitions?.map((definition) => definition.containerProperties?.image)).toEqual(['busybox']);
    await expect(client.send(new TerminateJobCommand({ jobId: 'missing', reason: 'x' }))).rejects.toMatchObject({
      name: 'ClientException',
    });
  });

  it('keeps gpujobs events in the event log and posts them to webhooks, surviving an unreachable one', async () => {
    const client = new EventBridgeClient({});
    const result = await client.send(
      new PutEventsCommand({
        Entries: [{ EventBusName: 'gpujobs', Source: 'gpujobs', DetailType: 'GPU Job Succeeded', Detail: JSON.stringify({ jobId: 'j1' }) }],
      }),
    );
    await bus.drain();

    expect(result.FailedEntryCount).toBe(0);
    expect(bus.allEvents()).toEqual([
      expect.objectContaining({ source: 'gpujobs', 'detail-type': 'GPU Job Succeeded', detail: { jobId: 'j1' } }),
    ]);
    expect(webhookBodies.map((event) => event.detail)).toEqual([{ jobId: 'j1' }]);
  });

  it('serves log streams page by page, forward from the head', async () => {
    for (const line of ['one', 'two', 'three']) logStore.append('/aws/batch/job', 'def/default/task', line);
    await logStore.closeStream('/aws/batch/job', 'def/default/task');
    const client = new CloudWatchLogsClient({});

    const first = await client.send(
      new GetLogEventsCommand({ logGroupName: '/aws/batch/job', logStreamName: 'def/default/task', startFromHead: true, limit: 2 }),
    );
    const second = await client.send(
      new GetLogEventsCommand({
        logGroupName: '/aws/batch/job',
        logStreamName: 'def/default/task',
        nextToken: first.nextForwardToken,
        limit: 2,
      }),
    );
    const end = await client.send(
      new GetLogEventsCommand({ logGroupName: '/aws/batch/job', logStreamName: 'def/default/task', nextToken: second.nextForwardToken }),
    );

    expect(first.events?.map((event) => event.message)).toEqual(['one', 'two']);
    expect(second.events?.map((event) => event.message)).toEqual(['three']);
    expect(end.events).toEqual([]);
    expect(end.nextForwardToken).toBe(second.nextForwardToken);
    await expect(client.send(new GetLogEventsCommand({ logGroupName: '/aws/batch/job', logStreamName: 'missing' }))).rejects.toBeInstanceOf(
      ResourceNotFoundException,
    );
  });

  it('describes the container instance of a running attempt with its instance type', async () => {
    const definition = batch.registerJobDefinition({ jobDefinitionName: 'gpujobs-ecs', containerProperties: { image: 'busybox' } });
    const { completion } = batch.submitJob(
      { JobName: 'gpujobs-ecs-1', JobQueue: 'q', JobDefinition: definition.jobDefinitionArn, ContainerOverrides: { Command: ['true'] } },
      'spot',
    );
    const detail = await completion;
    const containerInstanceArn = String((detail.container as { containerInstanceArn: string }).containerInstanceArn);

    const described = await new ECSClient({}).send(
      new DescribeContainerInstancesCommand({ cluster: 'gpujobs-local-spot', containerInstances: [containerInstanceArn] }),
    );

    expect(described.containerInstances?.[0]?.attributes).toContainEqual({ name: 'ecs.instance-type', value: 'local' });
    expect(described.containerInstances?.[0]?.ec2InstanceId).toMatch(/^i-[0-9a-f]{17}$/);
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
