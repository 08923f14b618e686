import { Duration } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sources from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import {
  INTAKE_DEAD_LETTER_RETENTION_SECONDS,
  INTAKE_MAX_RECEIVE_COUNT,
  INTAKE_RETENTION_SECONDS,
  intakeVisibilityTimeoutSeconds,
} from '../core/contract/intake-queue.js';

export interface IntakeQueueProps {
  /** The function that turns queued jobs into workflow executions. */
  readonly dispatcher: lambda.IFunction;
  /** The dispatcher's timeout; the visibility timeout is a multiple of it (core/contract/intake-queue.ts). */
  readonly dispatcherTimeout: Duration;
  /** Messages per dispatcher invocation (1–10). */
  readonly batchSize: number;
  /** Concurrent dispatcher invocations (2–1000); caps how fast jobs reach Batch. */
  readonly maxConcurrency: number;
  /**
   * How long an undelivered job waits in the queue.
   * @default Duration.days(4) (INTAKE_RETENTION_SECONDS)
   */
  readonly retentionPeriod?: Duration;
}

/**
 * The buffer between the API and the workflow: bursts of submissions wait here and the
 * dispatcher drains them at a bounded rate. A message that fails INTAKE_MAX_RECEIVE_COUNT times
 * moves to the dead-letter queue, which keeps it longer than the source so nothing expires first.
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
    const retentionPeriod = props.retentionPeriod ?? Duration.seconds(INTAKE_RETENTION_SECONDS);

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.seconds(INTAKE_DEAD_LETTER_RETENTION_SECONDS),
      // Marks it as a dead-letter queue; naming the source queue instead would be a circular reference.
      redriveAllowPolicy: { redrivePermission: sqs.RedrivePermission.ALLOW_ALL },
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod,
      visibilityTimeout: Duration.seconds(intakeVisibilityTimeoutSeconds(props.dispatcherTimeout.toSeconds())),
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
