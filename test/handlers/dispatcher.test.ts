import 'aws-sdk-client-mock-vitest/extend';
import { randomUUID } from 'node:crypto';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { SfnServiceError, startSfnServer, type RunningSfnServer } from '../../bench/support/sfn-server.js';
import type { DynamoJobStore } from '../../lambdas/shared/job-store.js';
import { startDynalite, type RunningDynalite } from '../support/dynalite.js';
import { STATE_MACHINE_ARN, lambdaContext, seedJob, setHandlerEnvironment, storeFor } from './handler-fixtures.js';

/** What the Step Functions stand-in does with the next StartExecution for a job: answer, or fail with this error. */
type StartAnswer = 'started' | 'ThrottlingException' | 'ExecutionAlreadyExists' | 'StateMachineDoesNotExist';

let dynamo: RunningDynalite;
let sfn: RunningSfnServer;
let store: DynamoJobStore;
let handler: (event: SQSEvent, context: ReturnType<typeof lambdaContext>) => Promise<SQSBatchResponse>;
/** StartExecution requests as they reached the stand-in, SDK retries included. */
let startRequests: { stateMachineArn: unknown; name: string; input: unknown }[] = [];
/** Answers per job name, used in order; the last one repeats. */
let answers: Record<string, StartAnswer[]> = {};

beforeAll(async () => {
  dynamo = await startDynalite();
  // Over HTTP, so the handler's own SFNClient retries as it would in AWS.
  sfn = await startSfnServer({
    StartExecution: (request) => {
      const name = String(request.name);
      startRequests.push({ stateMachineArn: request.stateMachineArn, name, input: request.input });
      const queued = answers[name] ?? ['started'];
      const answer = queued.length > 1 ? queued.shift()! : queued[0]!;
      if (answer !== 'started') throw new SfnServiceError(answer, `${answer} (from the test)`);
      return { executionArn: executionArnOf(name), startDate: Date.now() / 1000 };
    },
  });
  setHandlerEnvironment(dynamo);
  process.env.AWS_ENDPOINT_URL_SFN = sfn.endpoint;
  store = storeFor(dynamo);
  ({ handler } = await import('../../lambdas/dispatcher/handler.js'));
});

afterAll(async () => {
  delete process.env.AWS_ENDPOINT_URL_SFN;
  await sfn?.close();
  await dynamo?.stop();
});

beforeEach(() => {
  startRequests = [];
  answers = {};
});

const startsOf = (jobId: string) => startRequests.filter((request) => request.name === jobId);

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

const executionArnOf = (jobId: string) => `${STATE_MACHINE_ARN.replace(':stateMachine:', ':execution:')}:${jobId}`;

describe('dispatcher', () => {
  it('reports exactly the message that could not be started, and starts or skips the others', async () => {
    // GIVEN one job throttled once, one whose execution already exists, one cancelled while queued, one failing
    const throttledOnce = await seedJob(store);
    const alreadyStarted = await seedJob(store);
    const cancelledWhileQueued = await seedJob(store, { path: ['CANCELLED'] });
    const failing = await seedJob(store);
    answers = {
      [throttledOnce.jobId]: ['ThrottlingException', 'started'],
      [alreadyStarted.jobId]: ['ExecutionAlreadyExists'],
      [failing.jobId]: ['StateMachineDoesNotExist'],
    };
    const { event, messageIds } = sqsEvent(
      [throttledOnce, alreadyStarted, cancelledWhileQueued, failing].map(({ jobId }) => JSON.stringify({ jobId })),
    );

    // WHEN the batch is dispatched
    const response = await handler(event, lambdaContext('dispatcher'));

    // THEN only the failing message goes back to the queue
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: messageIds[3] }] });
    expect(startRequests).toHaveLength(4);
    expect(startsOf(throttledOnce.jobId)).toContainEqual({
      stateMachineArn: STATE_MACHINE_ARN,
      name: throttledOnce.jobId,
      input: JSON.stringify({ jobId: throttledOnce.jobId }),
    });
    expect(startsOf(throttledOnce.jobId)).toHaveLength(2);
    expect(startsOf(cancelledWhileQueued.jobId)).toHaveLength(0);
  });

  it('gives up on a message after a bounded number of throttled tries', async () => {
    // GIVEN Step Functions throttles every call for this job
    const job = await seedJob(store);
    answers = { [job.jobId]: ['ThrottlingException'] };
    const { event, messageIds } = sqsEvent([JSON.stringify({ jobId: job.jobId })]);

    // WHEN
    const response = await handler(event, lambdaContext('dispatcher'));

    // THEN the message fails (SQS redelivers it later) after five tries, not forever
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: messageIds[0] }] });
    expect(startsOf(job.jobId)).toHaveLength(5);
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
    expect(startRequests).toEqual([]);
  });

  it('treats a message for a job that no longer exists as done', async () => {
    // GIVEN a job id the store does not know (the api withdrew it after a failed send)
    const { event } = sqsEvent([JSON.stringify({ jobId: '01JUNKNOWNJOB' })]);

    // WHEN
    const response = await handler(event, lambdaContext('dispatcher'));

    // THEN
    expect(response).toEqual({ batchItemFailures: [] });
    expect(startRequests).toEqual([]);
  });
  it('starts the executions of one batch one at a time', async () => {
    // GIVEN ten queued jobs, and a StartExecution that takes a moment and records how many calls overlap
    // (mocked in the client: the stand-in answers at once and cannot hold a call open)
    const sfnMock = mockClient(SFNClient);
    onTestFinished(() => sfnMock.restore());
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
