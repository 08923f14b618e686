/**
 * The SQS stand-in (local-aws-sqs on a loopback port)
 * and a poller that plays Lambda's SQS event source mapping for the dispatcher:
 * batches, partial batch failures, redelivery after the visibility timeout, and the
 * dead-letter queue after maxReceiveCount receives (local-aws-sqs's redrive).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
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
import { INTAKE_DEAD_LETTER_RETENTION_SECONDS, INTAKE_RETENTION_SECONDS } from '../core/contract/intake-queue.js';
import { LOCAL_CREDENTIALS } from './credentials.js';
import type { LocalLogger } from './logger.js';
import { createRequestGuard, type RequestGuard } from './request-guard.js';

/** The queue and its dead-letter queue; their retention periods are the stack's (core/contract/intake-queue.ts). */
export interface IntakeQueueSettings {
  readonly queueName: string;
  readonly deadLetterQueueName: string;
  readonly visibilityTimeoutSeconds: number;
  /** Receives before a message moves to the dead-letter queue. */
  readonly maxReceiveCount: number;
}

export interface RunningSqs {
  readonly endpoint: string;
  readonly port: number;
  readonly queueUrl: string;
  readonly queueArn: string;
  readonly deadLetterQueueUrl: string;
  close(): Promise<void>;
}

export async function startSqs(options: {
  readonly region: string;
  readonly account: string;
  readonly queue: IntakeQueueSettings;
  readonly port?: number;
}): Promise<RunningSqs> {
  let handle: ReturnType<typeof createRequestHandler>['requestHandler'] | undefined;
  let guard: RequestGuard | undefined;
  const server: Server = createServer((request, response) => {
    const refused = guard ? refuseNonSdkRequest(guard, request) : 'not listening yet';
    if (refused) {
      request.resume();
      response.writeHead(403, { 'content-type': 'application/x-amz-json-1.0' });
      response.end(JSON.stringify({ __type: 'com.amazonaws.sqs#AccessDenied', message: refused }));
      return;
    }
    void handle!(request, response);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  guard = createRequestGuard('127.0.0.1', port);
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
        Attributes: { MessageRetentionPeriod: String(INTAKE_DEAD_LETTER_RETENTION_SECONDS) },
      }),
    );
    const deadLetterQueueArn = `arn:aws:sqs:${options.region}:${options.account}:${options.queue.deadLetterQueueName}`;
    const intake = await client.send(
      new CreateQueueCommand({
        QueueName: options.queue.queueName,
        Attributes: {
          VisibilityTimeout: String(options.queue.visibilityTimeoutSeconds),
          MessageRetentionPeriod: String(INTAKE_RETENTION_SECONDS),
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
      close: () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    };
  } finally {
    client.destroy();
  }
}

/**
 * The SDK speaks SQS's JSON protocol: no Origin, a loopback Host and an X-Amz-Target header,
 * which a web page cannot send cross-site without a preflight this server never grants. The
 * query protocol (form-encoded POSTs, GETs), which a page can send, is refused: the queue starts jobs.
 */
function refuseNonSdkRequest(guard: RequestGuard, request: IncomingMessage): string | undefined {
  const addressRefusal = guard.checkAddress(request.headers);
  if (addressRefusal) return addressRefusal.detail;
  if (typeof request.headers['x-amz-target'] === 'string') return undefined;
  return 'The SQS stand-in accepts only SDK requests in the JSON protocol (X-Amz-Target).';
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
  // biome-ignore lint/suspicious/noConfusingVoidType: a Lambda handler returns nothing or a batch response, as aws-lambda's SQSHandler types it
  readonly invoke: (event: SqsLambdaEvent) => Promise<SqsBatchResponse | void>;
  readonly logger: LocalLogger;
}

/** An idle poller's long poll, as Lambda's pollers use (SQS's longest). */
const IDLE_WAIT_SECONDS = 20;

export class SqsEventSourceMapping {
  private readonly client: SQSClient;
  private running = false;
  private pollers: Promise<void>[] = [];
  /** Ends the idle pollers' long polls when the mapping stops. */
  private readonly stopping = new AbortController();

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
    this.stopping.abort();
    await Promise.all(this.pollers);
    this.client.destroy();
  }

  private async poll(): Promise<void> {
    // Messages found waiting by the last look; none: wait on the queue itself.
    let waiting = 0;
    while (this.running) {
      try {
        // local-aws-sqs hands messages over on a 10 ms tick and answers a receive once it holds
        // MaxNumberOfMessages, else when its wait ends. An idle poller long-polls for one message, so a
        // submission is picked up at the next tick (also after a visibility timeout runs out); a busy one
        // asks for exactly what is waiting, so batches fill under bursts without waiting for more.
        const idle = waiting === 0;
        const { Messages } = await this.client.send(
          new ReceiveMessageCommand({
            QueueUrl: this.options.sqs.queueUrl,
            MaxNumberOfMessages: idle ? 1 : Math.min(this.options.batchSize, 10, waiting),
            WaitTimeSeconds: idle ? IDLE_WAIT_SECONDS : 0,
            MessageSystemAttributeNames: ['All'],
            // local-aws-sqs reads only the older parameter.
            AttributeNames: ['All'],
            MessageAttributeNames: ['All'],
          }),
          { abortSignal: this.stopping.signal },
        );
        // Received while stopping: the messages stay in the queue (its contents end with the process).
        if (!this.running) return;
        if (Messages?.length) await this.handleBatch(Messages);
        waiting = await this.visibleMessages();
      } catch (error) {
        if (!this.running) return;
        this.options.logger.warn('intake queue poller', error);
        waiting = 0;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  }

  private async visibleMessages(): Promise<number> {
    const { Attributes } = await this.client.send(
      new GetQueueAttributesCommand({
        QueueUrl: this.options.sqs.queueUrl,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    // local-aws-sqs counts messages in flight in ApproximateNumberOfMessages too; asking for those would
    // hold a receive open until its wait ends.
    const waiting = Number(Attributes?.ApproximateNumberOfMessages ?? 0) - Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
    return Math.max(0, waiting);
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
