/**
 * The SQS stand-in (local-aws-sqs behind a thin loopback server that notices sends)
 * and a poller that plays Lambda's SQS event source mapping for the dispatcher:
 * batches, partial batch failures, redelivery after the visibility timeout, and the
 * dead-letter queue after maxReceiveCount receives (local-aws-sqs's redrive).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
  type Message,
} from '@aws-sdk/client-sqs';
import { createRequestHandler } from 'local-aws-sqs';
import { LOCAL_CREDENTIALS } from './credentials.js';
import type { LocalLogger } from './logger.js';

export interface IntakeQueueSettings {
  readonly queueName: string;
  readonly deadLetterQueueName: string;
  readonly visibilityTimeoutSeconds: number;
  readonly maxReceiveCount: number;
}

export interface RunningSqs {
  readonly endpoint: string;
  readonly port: number;
  readonly queueUrl: string;
  readonly queueArn: string;
  readonly deadLetterQueueUrl: string;
  /** Resolves at the next SendMessage/SendMessageBatch, or after `timeoutMs`. */
  nextSend(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

export async function startSqs(options: {
  readonly region: string;
  readonly account: string;
  readonly queue: IntakeQueueSettings;
  readonly port?: number;
}): Promise<RunningSqs> {
  let handle: ReturnType<typeof createRequestHandler>['requestHandler'] | undefined;
  let waiters: (() => void)[] = [];
  const server: Server = createServer((request, response) => {
    const target = request.headers['x-amz-target'];
    if (target === 'AmazonSQS.SendMessage' || target === 'AmazonSQS.SendMessageBatch') {
      response.once('finish', () => {
        const waiting = waiters;
        waiters = [];
        for (const wake of waiting) wake();
      });
    }
    void handle!(request, response);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  handle = createRequestHandler({
    port,
    hostname: '127.0.0.1',
    region: options.region,
    accountId: options.account,
    emulateQueueCreationLifecycle: false,
  }).requestHandler;
  const endpoint = `http://127.0.0.1:${port}`;

  const client = new SQSClient({ endpoint, region: options.region, credentials: LOCAL_CREDENTIALS });
  try {
    const dlq = await client.send(
      new CreateQueueCommand({
        QueueName: options.queue.deadLetterQueueName,
        Attributes: { MessageRetentionPeriod: String(14 * 24 * 3600) },
      }),
    );
    const deadLetterQueueArn = `arn:aws:sqs:${options.region}:${options.account}:${options.queue.deadLetterQueueName}`;
    const intake = await client.send(
      new CreateQueueCommand({
        QueueName: options.queue.queueName,
        Attributes: {
          VisibilityTimeout: String(options.queue.visibilityTimeoutSeconds),
          MessageRetentionPeriod: String(4 * 24 * 3600),
          RedrivePolicy: JSON.stringify({ deadLetterTargetArn: deadLetterQueueArn, maxReceiveCount: options.queue.maxReceiveCount }),
        },
      }),
    );
    return {
      endpoint,
      port,
      queueUrl: intake.QueueUrl!,
      queueArn: `arn:aws:sqs:${options.region}:${options.account}:${options.queue.queueName}`,
      deadLetterQueueUrl: dlq.QueueUrl!,
      nextSend: (timeoutMs) =>
        new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, timeoutMs);
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        }),
      close: () =>
        new Promise<void>((resolve) => {
          for (const wake of waiters) wake();
          waiters = [];
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    };
  } finally {
    client.destroy();
  }
}

/** The subset of aws-lambda's SQSEvent the dispatcher reads. */
export interface SqsLambdaEvent {
  readonly Records: readonly SqsLambdaRecord[];
}
export interface SqsLambdaRecord {
  readonly messageId: string;
  readonly receiptHandle: string;
  readonly body: string;
  readonly attributes: Record<string, string>;
  readonly messageAttributes: Record<string, unknown>;
  readonly md5OfBody: string;
  readonly eventSource: 'aws:sqs';
  readonly eventSourceARN: string;
  readonly awsRegion: string;
}
export interface SqsBatchResponse {
  readonly batchItemFailures?: readonly { readonly itemIdentifier: string }[];
}

export interface EventSourceMappingOptions {
  readonly sqs: RunningSqs;
  readonly region: string;
  readonly batchSize: number;
  /** Concurrent pollers, each invoking the handler with its own batch (MaximumConcurrency). */
  readonly concurrency: number;
  readonly invoke: (event: SqsLambdaEvent) => Promise<SqsBatchResponse | void>;
  readonly logger: LocalLogger;
}

/** Idle pollers look again this often even without a send, to pick up redelivered messages. */
const IDLE_RECHECK_MS = 50;

export class SqsEventSourceMapping {
  private readonly client: SQSClient;
  private running = false;
  private pollers: Promise<void>[] = [];

  constructor(private readonly options: EventSourceMappingOptions) {
    this.client = new SQSClient({ endpoint: options.sqs.endpoint, region: options.region, maxAttempts: 1, credentials: LOCAL_CREDENTIALS });
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.pollers = Array.from({ length: this.options.concurrency }, () => this.poll());
  }

  /** Stops polling and waits for the batches being handled. */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.pollers);
    this.client.destroy();
  }

  private async poll(): Promise<void> {
    while (this.running) {
      try {
        const visible = await this.visibleMessages();
        if (visible === 0) {
          await this.options.sqs.nextSend(IDLE_RECHECK_MS);
          continue;
        }
        // local-aws-sqs answers a receive as soon as it holds MaxNumberOfMessages, else after its wait:
        // asking for what is there keeps latency low under light load and batches full under bursts.
        const { Messages } = await this.client.send(
          new ReceiveMessageCommand({
            QueueUrl: this.options.sqs.queueUrl,
            MaxNumberOfMessages: Math.min(this.options.batchSize, 10, visible),
            WaitTimeSeconds: 0,
            MessageSystemAttributeNames: ['All'],
            // local-aws-sqs reads only the older parameter.
            AttributeNames: ['All'],
            MessageAttributeNames: ['All'],
          }),
        );
        if (!Messages?.length) continue;
        // Received while stopping: the messages stay in the queue (its contents end with the process).
        if (!this.running) return;
        await this.handleBatch(Messages);
      } catch (error) {
        if (!this.running) return;
        this.options.logger.warn('intake queue poller', error);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  }

  private async visibleMessages(): Promise<number> {
    const { Attributes } = await this.client.send(
      new GetQueueAttributesCommand({ QueueUrl: this.options.sqs.queueUrl, AttributeNames: ['ApproximateNumberOfMessages'] }),
    );
    return Number(Attributes?.ApproximateNumberOfMessages ?? 0);
  }

  private async handleBatch(messages: readonly Message[]): Promise<void> {
    const event: SqsLambdaEvent = { Records: messages.map((message) => this.recordOf(message)) };
    let failed: Set<string>;
    try {
      const response = await this.options.invoke(event);
      failed = new Set((response?.batchItemFailures ?? []).map((failure) => failure.itemIdentifier));
    } catch (error) {
      // A failed invocation leaves the whole batch for redelivery after the visibility timeout.
      this.options.logger.warn(`dispatcher invocation failed for ${messages.length} message(s)`, error);
      return;
    }
    const done = messages.filter((message) => !failed.has(message.MessageId!));
    if (done.length === 0) return;
    await this.client.send(
      new DeleteMessageBatchCommand({
        QueueUrl: this.options.sqs.queueUrl,
        Entries: done.map((message, index) => ({ Id: String(index), ReceiptHandle: message.ReceiptHandle! })),
      }),
    );
  }

  private recordOf(message: Message): SqsLambdaRecord {
    const messageAttributes = Object.fromEntries(
      Object.entries(message.MessageAttributes ?? {}).map(([name, value]) => [
        name,
        {
          dataType: value.DataType,
          ...(value.StringValue !== undefined ? { stringValue: value.StringValue } : {}),
          ...(value.BinaryValue !== undefined ? { binaryValue: Buffer.from(value.BinaryValue).toString('base64') } : {}),
          stringListValues: [],
          binaryListValues: [],
        },
      ]),
    );
    return {
      messageId: message.MessageId!,
      receiptHandle: message.ReceiptHandle!,
      body: message.Body ?? '',
      attributes: { ...(message.Attributes as Record<string, string> | undefined) },
      messageAttributes,
      md5OfBody: message.MD5OfBody ?? '',
      eventSource: 'aws:sqs',
      eventSourceARN: this.options.sqs.queueArn,
      awsRegion: this.options.region,
    };
  }
}
