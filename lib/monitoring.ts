import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';

// The handlers emit these (Embedded Metric Format, dimension `service` = the stack name);
// one definition, so the dashboard can never read a metric nobody writes.
import { JOB_METRICS, METRICS_NAMESPACE } from '../core/contract/metrics.js';
export { JOB_METRICS, METRICS_NAMESPACE };

/** A function shown on the dashboard by its role in the platform. */
export interface MonitoredFunction {
  readonly label: string;
  readonly function: lambda.IFunction;
}

export interface MonitoringProps {
  /** Value of the metrics' `service` dimension. */
  readonly serviceName: string;
  /** Handlers whose errors and throttles are charted. */
  readonly functions: readonly MonitoredFunction[];
  /** Its errors raise an alarm: jobs stop reaching the workflow. */
  readonly dispatcher: lambda.IFunction;
  /** Dead-letter queues; any message in one raises an alarm. */
  readonly deadLetterQueues: readonly { readonly label: string; readonly queue: sqs.IQueue }[];
  /** The intake queue (its backlog is charted). */
  readonly intakeQueue: sqs.IQueue;
  /** The job workflow; failed, timed-out or aborted-by-error executions raise an alarm. */
  readonly stateMachine: sfn.IStateMachine;
  /**
   * Where alarm notifications are emailed.
   * @default - no topic, the alarms only show in CloudWatch
   */
  readonly alarmEmail?: string;
}

/**
 * What an operator looks at: a dashboard of jobs by outcome, time to start, Spot
 * reclaims and failovers, queue depths and handler errors; alarms on dead letters,
 * dispatcher errors and failed executions, emailed through an encrypted SNS topic
 * when an address is configured.
 */
export class Monitoring extends Construct {
  readonly dashboard: cloudwatch.Dashboard;
  readonly alarms: readonly cloudwatch.Alarm[];
  /** Present when an alarm email is configured. */
  readonly alarmTopic?: sns.Topic;
  /** Console URL of the dashboard. */
  readonly dashboardUrl: string;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const period = Duration.minutes(5);
    const jobMetric = (metricName: string, label: string, statistic = cloudwatch.Stats.SUM) =>
      new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName,
        dimensionsMap: { service: props.serviceName },
        statistic,
        period,
        label,
      });

    const alarms: cloudwatch.Alarm[] = [];
    for (const { label, queue } of props.deadLetterQueues) {
      alarms.push(
        queue
          .metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: cloudwatch.Stats.MAXIMUM })
          .createAlarm(this, `${label}NotEmpty`, {
            alarmDescription: `${label}: messages that could not be processed are waiting; inspect and redrive them.`,
            threshold: 0,
            comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluationPeriods: 1,
            treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
          }),
      );
    }
    alarms.push(
      props.dispatcher.metricErrors({ period, statistic: cloudwatch.Stats.SUM }).createAlarm(this, 'DispatcherErrors', {
        alarmDescription: 'The dispatcher failed: queued jobs are not reaching the workflow.',
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );
    const executionsFailed = new cloudwatch.MathExpression({
      expression: 'failed + timedOut',
      usingMetrics: {
        failed: props.stateMachine.metricFailed({ period, statistic: cloudwatch.Stats.SUM }),
        timedOut: props.stateMachine.metricTimedOut({ period, statistic: cloudwatch.Stats.SUM }),
      },
      label: 'Executions failed or timed out',
      period,
    });
    alarms.push(
      executionsFailed.createAlarm(this, 'ExecutionsFailed', {
        alarmDescription: 'Job workflow executions failed or timed out (a job failing is not an execution failing).',
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );
    this.alarms = alarms;

    if (props.alarmEmail !== undefined) {
      // A customer managed key: CloudWatch cannot publish to a topic encrypted with the AWS managed SNS key.
      const key = new kms.Key(this, 'AlarmTopicKey', {
        description: 'gpujobs alarm topic',
        enableKeyRotation: true,
      });
      key.addToResourcePolicy(
        new iam.PolicyStatement({
          principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
          actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          resources: ['*'],
          conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
        }),
      );
      key.addToResourcePolicy(
        new iam.PolicyStatement({
          effect: iam.Effect.DENY,
          principals: [new iam.AnyPrincipal()],
          actions: ['kms:CreateGrant'],
          resources: ['*'],
          conditions: { BoolIfExists: { 'kms:GrantIsForAWSResource': 'false', 'aws:PrincipalIsAWSService': 'false' } },
        }),
      );
      this.alarmTopic = new sns.Topic(this, 'AlarmTopic', {
        displayName: 'gpujobs alarms',
        masterKey: key,
        enforceSSL: true,
      });
      this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));
      const action = new actions.SnsAction(this.alarmTopic);
      for (const alarm of alarms) alarm.addAlarmAction(action);
    }

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.days(1),
    });
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Jobs by outcome',
        width: 12,
        left: [
          jobMetric(JOB_METRICS.jobsSubmitted, 'Submitted'),
          jobMetric(JOB_METRICS.jobsSucceeded, 'Succeeded'),
          jobMetric(JOB_METRICS.jobsFailed, 'Failed'),
          jobMetric(JOB_METRICS.jobsCancelled, 'Cancelled'),
        ],
      }),
      new cloudwatch.GraphWidget({
        title: 'Time to start (s)',
        width: 12,
        left: [
          jobMetric(JOB_METRICS.timeToStartSeconds, 'p50', cloudwatch.Stats.percentile(50)),
          jobMetric(JOB_METRICS.timeToStartSeconds, 'p90', cloudwatch.Stats.percentile(90)),
          jobMetric(JOB_METRICS.timeToStartSeconds, 'max', cloudwatch.Stats.MAXIMUM),
        ],
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Spot reclaims and failovers to On-Demand',
        width: 12,
        left: [jobMetric(JOB_METRICS.spotReclaims, 'Spot reclaims'), jobMetric(JOB_METRICS.failovers, 'Failovers')],
      }),
      new cloudwatch.GraphWidget({
        title: 'Queues',
        width: 12,
        left: [
          props.intakeQueue.metricApproximateNumberOfMessagesVisible({
            period,
            label: 'Intake backlog',
            statistic: cloudwatch.Stats.MAXIMUM,
          }),
          ...props.deadLetterQueues.map(({ label, queue }) =>
            queue.metricApproximateNumberOfMessagesVisible({ period, label, statistic: cloudwatch.Stats.MAXIMUM }),
          ),
        ],
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Handler errors',
        width: 12,
        left: props.functions.map(({ label, function: fn }) => fn.metricErrors({ period, label, statistic: cloudwatch.Stats.SUM })),
      }),
      new cloudwatch.GraphWidget({
        title: 'Workflow executions',
        width: 12,
        left: [
          props.stateMachine.metricStarted({ period, label: 'Started' }),
          props.stateMachine.metricSucceeded({ period, label: 'Succeeded' }),
          props.stateMachine.metricAborted({ period, label: 'Aborted (cancelled)' }),
          executionsFailed,
        ],
      }),
    );
    this.dashboard.addWidgets(new cloudwatch.AlarmStatusWidget({ title: 'Alarms', width: 24, alarms }));

    this.dashboardUrl = `https://console.aws.amazon.com/cloudwatch/home?region=${stack.region}#dashboards:name=${this.dashboard.dashboardName}`;
  }
}
