import { Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import { Construct } from 'constructs';

export interface WatchdogScheduleProps {
  /** The watchdog function (lambdas/watchdog/handler.ts). */
  readonly watchdogFunction: lambda.IFunction;
  /**
   * Time between runs; a waiting job fails over at most this long after its capacity timeout.
   * @default Duration.minutes(1)
   */
  readonly interval?: Duration;
}

/**
 * Runs the watchdog on an EventBridge Scheduler schedule. Scheduler rather than a scheduled
 * EventBridge rule because its price is stated per invocation, with 14 million invocations a
 * month free (https://aws.amazon.com/eventbridge/pricing/): at one run a minute the schedule
 * itself costs nothing. Scheduler invokes Lambda asynchronously
 * (https://docs.aws.amazon.com/lambda/latest/dg/with-eventbridge-scheduler.html); neither
 * Scheduler nor Lambda retries a failed run, because the next run repeats all of its work an
 * interval later, and retries would only pile up runs.
 */
export class WatchdogSchedule extends Construct {
  readonly schedule: scheduler.Schedule;
  readonly interval: Duration;
  /** The role Scheduler assumes to invoke the watchdog; it may invoke nothing else. */
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: WatchdogScheduleProps) {
    super(scope, id);
    this.interval = props.interval ?? Duration.minutes(1);
    const minutes = this.interval.toMinutes();
    if (!Number.isInteger(minutes) || minutes < 1) {
      throw new Error(`interval must be a whole number of minutes, at least 1. Received ${this.interval.toHumanString()}.`);
    }
    // A run still undelivered when the next one is due is dropped: the next one does its work.
    props.watchdogFunction.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: this.interval });
    // Only schedules of this account may assume it (the confused-deputy guard Scheduler documents:
    // https://docs.aws.amazon.com/scheduler/latest/UserGuide/setting-up.html#setting-up-execution-role).
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
      description: 'gpujobs watchdog schedule: invoke the watchdog function',
    });
    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      description: 'gpujobs watchdog: capacity failover for every waiting job, ends whose event was lost',
      schedule: scheduler.ScheduleExpression.rate(this.interval),
      target: new targets.LambdaInvoke(props.watchdogFunction, {
        role: this.role,
        retryAttempts: 0,
        maxEventAge: this.interval,
      }),
    });
  }
}
