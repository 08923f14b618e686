/**
 * The SQS stand-in answers only the SDK: a message on the intake queue starts a job's workflow,
 * so a web page's form-encoded POST (SQS's query protocol) or a rebound Host is refused.
 */
import { request as httpRequest, type OutgoingHttpHeaders } from 'node:http';
import { GetQueueAttributesCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_CREDENTIALS } from '../../local/credentials.js';
import { startSqs, type RunningSqs } from '../../local/sqs.js';

let sqs: RunningSqs;

beforeAll(async () => {
  sqs = await startSqs({
    region: 'us-east-1',
    account: '000000000000',
    queue: { queueName: 'intake', deadLetterQueueName: 'intake-dlq', visibilityTimeoutSeconds: 30, maxReceiveCount: 3 },
  });
});
afterAll(async () => sqs?.close());

function post(headers: OutgoingHttpHeaders, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(
      {
        host: '127.0.0.1',
        port: sqs.port,
        method: 'POST',
        path: '/',
        headers: { host: `127.0.0.1:${sqs.port}`, ...headers },
        setHost: false,
      },
      (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
      },
    );
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

async function messagesOnQueue(): Promise<string | undefined> {
  const client = new SQSClient({ endpoint: sqs.endpoint, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
  try {
    const attributes = await client.send(
      new GetQueueAttributesCommand({ QueueUrl: sqs.queueUrl, AttributeNames: ['ApproximateNumberOfMessages'] }),
    );
    return attributes.Attributes?.ApproximateNumberOfMessages;
  } finally {
    client.destroy();
  }
}

const sendMessageForm = () => `Action=SendMessage&QueueUrl=${encodeURIComponent(sqs.queueUrl)}&MessageBody=%7B%22jobId%22%3A%22x%22%7D`;

describe('the SQS stand-in', () => {
  it.each([
    ['a form-encoded SendMessage (the query protocol a page can send)', { 'content-type': 'application/x-www-form-urlencoded' }],
    [
      'a cross-origin JSON SendMessage',
      { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'AmazonSQS.SendMessage', origin: 'http://evil.example' },
    ],
    [
      'a JSON SendMessage under a rebound Host',
      { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'AmazonSQS.SendMessage', host: 'attacker.example:1234' },
    ],
  ])('refuses %s, and no message lands on the queue', async (_, headers: Record<string, string>) => {
    const body = headers['x-amz-target'] ? JSON.stringify({ QueueUrl: sqs.queueUrl, MessageBody: '{"jobId":"x"}' }) : sendMessageForm();
    expect(await post(headers, body)).toBe(403);
    expect(await messagesOnQueue()).toBe('0');
  });

  it('serves the SDK, whose SendMessage lands', async () => {
    const client = new SQSClient({ endpoint: sqs.endpoint, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
    try {
      await client.send(new SendMessageCommand({ QueueUrl: sqs.queueUrl, MessageBody: '{"jobId":"x"}' }));
    } finally {
      client.destroy();
    }
    expect(await messagesOnQueue()).toBe('1');
  });
});
