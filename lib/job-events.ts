import { Duration } from 'aws-cdk-lib';
import type * as batch from 'aws-cdk-lib/aws-batch';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { batchJobStateChangePattern, executionEndedPattern, type EventPattern } from '../core/contract/event-rules.js';

export interface JobEventsProps {
  /** Receives Batch job state changes of the two queues (PENDING/RUNNING transitions, attempt details). */
  readonly batchEventsFunction: lambda.IFunction;
  /** Receives the workflow's executions that ended ABORTED, FAILED or TIMED_OUT. */
  readonly reconcileFunction: lambda.IFunction;
  /** The job queues whose Batch events matter. */
  readonly jobQueues: readonly batch.IJobQueue[];
  /** The job workflow. */
  readonly stateMachine: sfn.IStateMachine;
  /**
   * How often EventBridge retries delivering an event to a handler.
   * @default 8
   */
  readonly retryAttempts?: number;
  /**
   * How long EventBridge keeps retrying before the event goes to the dead-letter queue.
   * @default Duration.hours(6)
   */
  readonly maxEventAge?: Duration;
}

/** Lambda's retries of an asynchronous invocation that failed (its maximum, and its default). */
export const HANDLER_ASYNC_RETRY_ATTEMPTS = 2;

/**
 * Events in and out: the custom bus gpujobs publishes its job events on (no resource
 * policy, so only this account's principals with PutEvents can publish), and the rules
 * that feed AWS events to the handlers. Every target retries and keeps what it could not
 * deliver in a dead-letter queue.
 */
export class JobEvents extends Construct {
  readonly eventBus: events.EventBus;
  readonly batchStateChangeRule: events.Rule;
  readonly executionEndedRule: events.Rule;
  /** Events EventBridge could not deliver to a handler after every retry. */
  readonly deadLetterQueue: sqs.Queue;
  /**
   * Invocation records (the event and the error) of events a handler received but failed on,
   * after Lambda's own retries of the asynchronous invocation.
   */
  readonly handlerFailureQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: JobEventsProps) {
    super(scope, id);
    const retry = { retryAttempts: props.retryAttempts ?? 8, maxEventAge: props.maxEventAge ?? Duration.hours(6) };

    this.eventBus = new events.EventBus(this, 'EventBus', {
      description: 'gpujobs job events: GPU Job Status Change, Succeeded, Failed, Cancelled',
    });

    this.deadLetterQueue = new sqs.Queue(this, 'TargetDeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      // Marks it as a dead-letter queue; naming the source queue instead would be a circular reference.
      redriveAllowPolicy: { redrivePermission: sqs.RedrivePermission.ALLOW_ALL },
    });

    // EventBridge invokes a Lambda target asynchronously: its retry policy and dead-letter queue
    // cover only delivery. Once Lambda has accepted the event, a function error is retried by
    // Lambda (twice) and then dropped unless the function has an on-failure destination:
    // https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html
    this.handlerFailureQueue = new sqs.Queue(this, 'HandlerFailureQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      // The end of the line like the target dead-letter queue: nothing consumes it but a person.
      redriveAllowPolicy: { redrivePermission: sqs.RedrivePermission.ALLOW_ALL },
    });
    for (const handler of [props.batchEventsFunction, props.reconcileFunction]) {
      handler.configureAsyncInvoke({
        onFailure: new destinations.SqsDestination(this.handlerFailureQueue),
        retryAttempts: HANDLER_ASYNC_RETRY_ATTEMPTS,
        maxEventAge: retry.maxEventAge,
      });
    }

    this.batchStateChangeRule = new events.Rule(this, 'BatchJobStateChangeRule', {
      description: 'Batch job state changes of the gpujobs queues',
      eventPattern: cdkEventPattern(batchJobStateChangePattern(props.jobQueues.map((queue) => queue.jobQueueArn))),
      targets: [new targets.LambdaFunction(props.batchEventsFunction, { ...retry, deadLetterQueue: this.deadLetterQueue })],
    });

    this.executionEndedRule = new events.Rule(this, 'ExecutionEndedRule', {
      description: 'gpujobs workflow executions that ended without reaching Finish',
      eventPattern: cdkEventPattern(executionEndedPattern(props.stateMachine.stateMachineArn)),
      targets: [new targets.LambdaFunction(props.reconcileFunction, { ...retry, deadLetterQueue: this.deadLetterQueue })],
    });
  }

  /** Publishing gpujobs events on the bus. */
  grantPutEvents(grantee: iam.IGrantable): iam.Grant {
    return this.eventBus.grantPutEventsTo(grantee);
  }
}

/** CDK's EventPattern names the top-level fields in camelCase and renders them back in EventBridge's JSON form. */
const CDK_PATTERN_FIELDS: Readonly<Record<string, keyof events.EventPattern>> = {
  version: 'version',
  id: 'id',
  'detail-type': 'detailType',
  source: 'source',
  account: 'account',
  time: 'time',
  region: 'region',
  resources: 'resources',
  detail: 'detail',
};

/** A pattern in EventBridge's JSON form (core/contract/event-rules.ts) as CDK's `eventPattern` takes it. */
export function cdkEventPattern(pattern: EventPattern): events.EventPattern {
  return Object.fromEntries(
    Object.entries(pattern).map(([field, value]) => {
      const cdkField = CDK_PATTERN_FIELDS[field];
      if (!cdkField)
        throw new Error(
          `An event pattern's top-level field must be one of ${Object.keys(CDK_PATTERN_FIELDS).join(', ')}. Received ${JSON.stringify(field)}.`,
        );
      return [cdkField, value];
    }),
  ) as events.EventPattern;
}
