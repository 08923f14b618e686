import 'aws-sdk-client-mock-vitest/extend';
import { randomUUID } from 'node:crypto';
import { ExecutionAlreadyExists, SFNClient, StartExecutionCommand, StateMachineDoesNotExist } from '@aws-sdk/client-sfn';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DynamoJobStore } from '../../lambdas/shared/job-store.js';
import { startDynalite, type RunningDynalite } from '../support/dynalite.js';
import { STATE_MACHINE_ARN, lambdaContext, seedJob, setHandlerEnvironment, storeFor } from './handler-fixtures.js';

const sfnMock = mockClient(SFNClient);
let dynamo: RunningDynalite;
let store: DynamoJobStore;
let handler: (event: SQSEvent, context: ReturnType<typeof lambdaContext>) => Promise<SQSBatchResponse>;

beforeAll(async () => {
  dynamo = await startDynalite();
  setHandlerEnvironment(dynamo);
  store = storeFor(dynamo);
  ({ handler } = await import('../../lambdas/dispatcher/handler.js'));
});

afterAll(async () => {
  await dynamo?.stop();
});

beforeEach(() => {
  sfnMock.reset();
});

function sqsEvent(bodies: readonly string[]): { event: SQSEvent; messageIds: string[] } {
  const messageIds = bodies.map(() => randomUUID());
  const event: SQSEvent = {
    Records: bodies.map((body, index) => ({
      messageId: messageIds[index]!,
      receiptHandle: `receipt-${index}`,
      body,
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: String(Date.now()),
        SenderId: 'AIDATEST',
        ApproximateFirstReceiveTimestamp: String(Date.now()),
      },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:gpujobs-intake',
      awsRegion: 'us-east-1',
    })),
  };
  return { event, messageIds };
}

const throttled = () =>
  Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } });

const executionArnOf = (jobId: string) => `${STATE_MACHINE_ARN.replace(':stateMachine:', ':execution:')}:${jobId}`;

describe('dispatcher', () => {
  it('reports exactly the message that could not be started, and starts or skips the others', async () => {
    // GIVEN one job throttled once, one whose execution already exists, one cancelled while queued, one failing
    const throttledOnce = await seedJob(store);
    const alreadyStarted = await seedJob(store);
    const cancelledWhileQueued = await seedJob(store, { path: ['CANCELLED'] });
    const failing = await seedJob(store);
    sfnMock
      .on(StartExecutionCommand, { name: throttledOnce.jobId })
      .rejectsOnce(throttled())
      .resolves({ executionArn: executionArnOf(throttledOnce.jobId), startDate: new Date() });
    sfnMock
      .on(StartExecutionCommand, { name: alreadyStarted.jobId })
      .rejects(new ExecutionAlreadyExists({ message: 'Execution Already Exists', $metadata: {} }));
    sfnMock
      .on(StartExecutionCommand, { name: failing.jobId })
      .rejects(new StateMachineDoesNotExist({ message: 'State Machine Does Not Exist', $metadata: {} }));
    const { event, messageIds } = sqsEvent(
      [throttledOnce, alreadyStarted, cancelledWhileQueued, failing].map(({ jobId }) => JSON.stringify({ jobId })),
    );

    // WHEN the batch is dispatched
    const response = await handler(event, lambdaContext('dispatcher'));

    // THEN only the failing message goes back to the queue
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: messageIds[3] }] });
    expect(sfnMock).toHaveReceivedCommandTimes(StartExecutionCommand, 4);
    expect(sfnMock).toHaveReceivedCommandWith(StartExecutionCommand, {
      stateMachineArn: STATE_MACHINE_ARN,
      name: throttledOnce.jobId,
      input: JSON.stringify({ jobId: throttledOnce.jobId }),
    });
    expect(sfnMock.commandCalls(StartExecutionCommand, { name: throttledOnce.jobId })).toHaveLength(2);
    expect(sfnMock.commandCalls(StartExecutionCommand, { name: cancelledWhileQueued.jobId })).toHaveLength(0);
  });

  it('gives up on a message after a bounded number of throttled tries', async () => {
    // GIVEN Step Functions throttles every call for this job
    const job = await seedJob(store);
    sfnMock.on(StartExecutionCommand).rejects(throttled());
    const { event, messageIds } = sqsEvent([JSON.stringify({ jobId: job.jobId })]);

    // WHEN
    const response = await handler(event, lambdaContext('dispatcher'));

    // THEN the message fails (SQS redelivers it later) after five tries, not forever
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: messageIds[0] }] });
    expect(sfnMock).toHaveReceivedCommandTimes(StartExecutionCommand, 5);
  });

  it('fails a malformed message without calling Step Functions', async () => {
    // GIVEN a body that is not {"jobId": string}
    const { event, messageIds } = sqsEvent(['{"job": 1}', 'not json']);

    // WHEN
    const response = await handler(event, lambdaContext('dispatcher'));

    // THEN both messages are reported, for the DLQ to keep
    expect(response).toEqual({
      batchItemFailures: [{ itemIdentifier: messageIds[0] }, { itemIdentifier: messageIds[1] }],
    });
    expect(sfnMock).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  it('treats a message for a job that no longer exists as done', async () => {
    // GIVEN a job id the store does not know (the api withdrew it after a failed send)
    const { event } = sqsEvent([JSON.stringify({ jobId: '01JUNKNOWNJOB' })]);

    // WHEN
    const response = await handler(event, lambdaContext('dispatcher'));

    // THEN
    expect(response).toEqual({ batchItemFailures: [] });
    expect(sfnMock).not.toHaveReceivedCommand(StartExecutionCommand);
  });
  it('starts the executions of one batch one at a time', async () => {
    // GIVEN ten queued jobs, and a StartExecution that takes a moment and records how many calls overlap
    const jobs = await Promise.all(Array.from({ length: 10 }, () => seedJob(store)));
    let inFlight = 0;
    let mostInFlight = 0;
    const startOrder: string[] = [];
    sfnMock.on(StartExecutionCommand).callsFake(async (input: { name: string }) => {
      inFlight += 1;
      mostInFlight = Math.max(mostInFlight, inFlight);
      startOrder.push(input.name);
      await new Promise((resolve) => setTimeout(resolve, 5));
      inFlight -= 1;
      return { executionArn: executionArnOf(input.name), startDate: new Date() };
    });
    const { event } = sqsEvent(jobs.map(({ jobId }) => JSON.stringify({ jobId })));

    // WHEN the batch is dispatched
    const response = await handler(event, lambdaContext('dispatcher'));

    // THEN every job started, in the batch's order, never two calls at once
    expect(response.batchItemFailures).toEqual([]);
    expect(startOrder).toEqual(jobs.map(({ jobId }) => jobId));
    expect(mostInFlight).toBe(1);
  });
});
