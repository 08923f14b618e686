import { Duration } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sources from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/** Receives before a message is moved to the dead-letter queue. */
export const INTAKE_MAX_RECEIVE_COUNT = 5;

export interface IntakeQueueProps {
  /** The function that turns queued jobs into workflow executions. */
  readonly dispatcher: lambda.IFunction;
  /** The dispatcher's timeout; the visibility timeout is six times it, as Lambda recommends for SQS sources. */
  readonly dispatcherTimeout: Duration;
  /** Messages per dispatcher invocation (1–10). */
  readonly batchSize: number;
  /** Concurrent dispatcher invocations (2–1000); caps how fast jobs reach Batch. */
  readonly maxConcurrency: number;
  /**
   * How long an undelivered job waits in the queue.
   * @default Duration.days(4)
   */
  readonly retentionPeriod?: Duration;
}

/**
 * The buffer between the API and the workflow: bursts of submissions wait here and the
 * dispatcher drains them at a bounded rate. A message that fails five times moves to the
 * dead-letter queue, which keeps it longer than the source so nothing expires first.
 */
export class IntakeQueue extends Construct {
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;
  readonly eventSource: sources.SqsEventSource;

  constructor(scope: Construct, id: string, props: IntakeQueueProps) {
    super(scope, id);
    if (!Number.isInteger(props.batchSize) || props.batchSize < 1 || props.batchSize > 10) {
      throw new Error(`batchSize must be an integer between 1 and 10. Received ${props.batchSize}.`);
    }
    if (!Number.isInteger(props.maxConcurrency) || props.maxConcurrency < 2 || props.maxConcurrency > 1000) {
      throw new Error(`maxConcurrency must be an integer between 2 and 1000. Received ${props.maxConcurrency}.`);
    }
    const retentionPeriod = props.retentionPeriod ?? Duration.days(4);

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      // Marks it as a dead-letter queue; naming the source queue instead would be a circular reference.
      redriveAllowPolicy: { redrivePermission: sqs.RedrivePermission.ALLOW_ALL },
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod,
      visibilityTimeout: Duration.seconds(props.dispatcherTimeout.toSeconds() * 6),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: INTAKE_MAX_RECEIVE_COUNT },
    });

    this.eventSource = new sources.SqsEventSource(this.queue, {
      batchSize: props.batchSize,
      maxConcurrency: props.maxConcurrency,
      reportBatchItemFailures: true,
    });
    props.dispatcher.addEventSource(this.eventSource);
  }

  /** Sending new jobs (the api function). */
  grantSend(grantee: iam.IGrantable): iam.Grant {
    return this.queue.grantSendMessages(grantee);
  }
}
