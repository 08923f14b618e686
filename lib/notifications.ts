import { Duration } from 'aws-cdk-lib';
import type * as batch from 'aws-cdk-lib/aws-batch';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';

export interface NotificationsProps {
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

/** The execution statuses that the workflow itself cannot report (stopped, crashed, timed out). */
export const UNFINISHED_EXECUTION_STATUSES = ['ABORTED', 'FAILED', 'TIMED_OUT'] as const;

/**
 * Events in and out: the custom bus gpujobs publishes its job events on (no resource
 * policy, so only this account's principals with PutEvents can publish), and the rules
 * that feed AWS events to the handlers. Every target retries and keeps what it could not
 * deliver in a dead-letter queue.
 */
export class Notifications extends Construct {
  readonly eventBus: events.EventBus;
  readonly batchStateChangeRule: events.Rule;
  readonly executionEndedRule: events.Rule;
  /** Events no handler could take after every retry. */
  readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: NotificationsProps) {
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

    this.batchStateChangeRule = new events.Rule(this, 'BatchJobStateChangeRule', {
      description: 'Batch job state changes of the gpujobs queues',
      eventPattern: {
        source: ['aws.batch'],
        detailType: ['Batch Job State Change'],
        detail: { jobQueue: props.jobQueues.map((queue) => queue.jobQueueArn) },
      },
      targets: [new targets.LambdaFunction(props.batchEventsFunction, { ...retry, deadLetterQueue: this.deadLetterQueue })],
    });

    this.executionEndedRule = new events.Rule(this, 'ExecutionEndedRule', {
      description: 'gpujobs workflow executions that ended without reaching Finish',
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: { stateMachineArn: [props.stateMachine.stateMachineArn], status: [...UNFINISHED_EXECUTION_STATUSES] },
      },
      targets: [new targets.LambdaFunction(props.reconcileFunction, { ...retry, deadLetterQueue: this.deadLetterQueue })],
    });
  }

  /** Publishing gpujobs events on the bus. */
  grantPutEvents(grantee: iam.IGrantable): iam.Grant {
    return this.eventBus.grantPutEventsTo(grantee);
  }
}
