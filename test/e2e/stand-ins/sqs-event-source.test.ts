import { GetQueueAttributesCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterEach, describe, expect, it } from 'vitest';
import { consoleLogger } from '../../../local/logger.js';
import { SqsEventSourceMapping, startSqs, type RunningSqs, type SqsLambdaEvent } from '../../../local/sqs.js';

const logger = { ...consoleLogger({ quiet: true }), warn: () => undefined };
let sqs: RunningSqs | undefined;
let mapping: SqsEventSourceMapping | undefined;

afterEach(async () => {
  await mapping?.stop();
  await sqs?.close();
  mapping = undefined;
  sqs = undefined;
});

async function queue(visibilityTimeoutSeconds: number, maxReceiveCount = 5): Promise<{ running: RunningSqs; client: SQSClient }> {
  sqs = await startSqs({
    region: 'us-east-1',
    account: '000000000000',
    queue: { queueName: 'intake', deadLetterQueueName: 'intake-dlq', visibilityTimeoutSeconds, maxReceiveCount },
  });
  return { running: sqs, client: new SQSClient({ endpoint: sqs.endpoint, region: 'us-east-1' }) };
}

describe('the intake queue and its event source mapping', () => {
  it('delivers messages as Lambda SQS events and deletes the ones handled', async () => {
    const { running, client } = await queue(30);
    const bodies: string[] = [];
    mapping = new SqsEventSourceMapping({
      sqs: running,
      region: 'us-east-1',
      batchSize: 10,
      concurrency: 2,
      logger,
      invoke: async (event: SqsLambdaEvent) => {
        for (const record of event.Records) {
          expect(record.eventSource).toBe('aws:sqs');
          expect(record.attributes.ApproximateReceiveCount).toBe('1');
          bodies.push(record.body);
        }
      },
    });
    mapping.start();

    await Promise.all(
      ['a', 'b', 'c'].map((body) => client.send(new SendMessageCommand({ QueueUrl: running.queueUrl, MessageBody: body }))),
    );
    await waitFor(() => bodies.length === 3);

    expect(bodies.sort()).toEqual(['a', 'b', 'c']);
    await waitFor(async () => (await depth(client, running.queueUrl)) === 0);
  });

  it('redelivers the batch item failures after the visibility timeout', async () => {
    const { running, client } = await queue(1);
    const receives: { body: string; count: string }[] = [];
    mapping = new SqsEventSourceMapping({
      sqs: running,
      region: 'us-east-1',
      batchSize: 10,
      concurrency: 1,
      logger,
      invoke: async (event) => {
        for (const record of event.Records) receives.push({ body: record.body, count: record.attributes.ApproximateReceiveCount! });
        return {
          batchItemFailures: event.Records.filter((record) => record.attributes.ApproximateReceiveCount === '1').map((record) => ({
            itemIdentifier: record.messageId,
          })),
        };
      },
    });
    mapping.start();

    await client.send(new SendMessageCommand({ QueueUrl: running.queueUrl, MessageBody: 'retry-me' }));
    await waitFor(() => receives.length === 2, 5_000);

    expect(receives).toEqual([
      { body: 'retry-me', count: '1' },
      { body: 'retry-me', count: '2' },
    ]);
  });

  it('moves a message that keeps failing to the dead-letter queue after maxReceiveCount receives', async () => {
    const { running, client } = await queue(1, 2);
    let receives = 0;
    mapping = new SqsEventSourceMapping({
      sqs: running,
      region: 'us-east-1',
      batchSize: 10,
      concurrency: 1,
      logger,
      invoke: async () => {
        receives += 1;
        throw new Error('always failing');
      },
    });
    mapping.start();

    await client.send(new SendMessageCommand({ QueueUrl: running.queueUrl, MessageBody: 'poison' }));

    await waitFor(async () => (await depth(client, running.deadLetterQueueUrl)) === 1, 8_000);
    expect(receives).toBe(2);
  });
});

async function depth(client: SQSClient, queueUrl: string): Promise<number> {
  const { Attributes } = await client.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return Number(Attributes?.ApproximateNumberOfMessages ?? 0) + Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
}

async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
