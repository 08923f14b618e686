import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { formatJobShapes, placeableShapes, shapesOf } from '../core/instance-catalogue.js';
import { ENV } from '../core/contract/environment.js';
import { DISPATCHER_TIMEOUT_SECONDS } from '../core/contract/intake-queue.js';
import type { GpuJobsConfig } from './config.js';
import { GpuCompute } from './gpu-compute.js';
import { GpuJobsFunction, HANDLER_ENTRIES } from './gpujobs-function.js';
import { HttpJobApi } from './http-job-api.js';
import { IntakeQueue } from './intake-queue.js';
import { JobNetwork } from './job-network.js';
import { JobTable } from './job-table.js';
import { Monitoring } from './monitoring.js';
import { JobEvents } from './job-events.js';
import { WatchdogSchedule } from './watchdog-schedule.js';
import { EXECUTION_TIMEOUT_SECONDS, JobWorkflow } from './workflow/job-workflow.js';

export interface GpuJobsStackProps extends StackProps {
  /** Validated configuration (lib/config.ts). */
  readonly config: GpuJobsConfig;
}

/**
 * The gpujobs platform. This class only wires the constructs together: each function
 * receives an environment variable together with the grant that variable implies.
 */
export class GpuJobsStack extends Stack {
  readonly api: HttpJobApi;
  readonly store: JobTable;
  readonly intake: IntakeQueue;
  readonly network: JobNetwork;
  readonly compute: GpuCompute;
  readonly workflow: JobWorkflow;
  readonly notifications: JobEvents;
  readonly monitoring: Monitoring;
  readonly watchdogSchedule: WatchdogSchedule;
  readonly functions: Readonly<Record<keyof typeof HANDLER_ENTRIES, GpuJobsFunction>>;

  constructor(scope: Construct, id: string, props: GpuJobsStackProps) {
    super(scope, id, props);
    const { config } = props;
    const logRetention = config.logRetentionDays as logs.RetentionDays;

    const fn = (name: keyof typeof HANDLER_ENTRIES, description: string, timeout = Duration.seconds(30), tracing?: lambda.Tracing) =>
      new GpuJobsFunction(this, `${name[0]!.toUpperCase()}${name.slice(1)}Function`, {
        entry: HANDLER_ENTRIES[name],
        description,
        timeout,
        logRetention,
        serviceName: this.stackName,
        ...(tracing !== undefined && { tracing }),
      });
    const functions = {
      // API Gateway gives up on an integration after 30 s; answer well before.
      api: fn('api', 'gpujobs: job API', Duration.seconds(10)),
      dispatcher: fn('dispatcher', 'gpujobs: start a workflow execution per queued job', Duration.seconds(DISPATCHER_TIMEOUT_SECONDS)),
      prepare: fn('prepare', 'gpujobs workflow: register the job definition and plan the first attempt'),
      settleAttempt: fn('settleAttempt', 'gpujobs workflow: record an attempt and plan the next step'),
      finish: fn('finish', 'gpujobs workflow: terminal transition and event'),
      batchEvents: fn('batchEvents', 'gpujobs: Batch job state changes to job status'),
      reconcile: fn('reconcile', 'gpujobs: workflow executions that ended early to job status'),
      // Its schedule's interval is at least a minute; a run that outlasts it only overlaps the next.
      // PASS_THROUGH: the schedule sends no trace header, so no run is traced; sampling all of them,
      // one a minute, would be the largest per-use cost of an idle deployment.
      watchdog: fn(
        'watchdog',
        'gpujobs: fail over every job waiting for capacity, settle jobs whose end event was lost',
        Duration.seconds(60),
        lambda.Tracing.PASS_THROUGH,
      ),
    };
    this.functions = functions;

    // Construct ids stay as first deployed: they name the table's and the rules' logical ids.
    this.store = new JobTable(this, 'JobStore', {
      removalPolicy: config.tableRemovalPolicy === 'destroy' ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
    });
    this.intake = new IntakeQueue(this, 'IntakeQueue', {
      dispatcher: functions.dispatcher.function,
      dispatcherTimeout: functions.dispatcher.timeout,
      batchSize: config.dispatcherBatchSize,
      maxConcurrency: config.dispatcherMaxConcurrency,
    });
    this.network = new JobNetwork(this, 'JobNetwork', {
      ...(config.vpcId !== undefined && { vpcId: config.vpcId }),
      subnetIds: config.subnetIds,
      logRetention,
    });
    this.compute = new GpuCompute(this, 'GpuCompute', {
      vpc: this.network.vpc,
      subnets: this.network.subnets,
      securityGroup: this.network.securityGroup,
      instanceTypes: config.gpuInstanceTypes,
      maxVcpus: config.maxVcpus,
      capacityTimeout: Duration.seconds(config.capacityTimeoutSeconds),
      logRetention,
      allowedRegistries: config.allowedRegistries,
      ...(config.gpuAmiId !== undefined && { gpuAmiId: config.gpuAmiId }),
      rootVolumeGiB: config.rootVolumeGiB,
    });
    this.workflow = new JobWorkflow(this, 'JobWorkflow', {
      prepareFunction: functions.prepare.function,
      settleAttemptFunction: functions.settleAttempt.function,
      finishFunction: functions.finish.function,
      spotJobQueue: this.compute.spotJobQueue,
      onDemandJobQueue: this.compute.onDemandJobQueue,
      jobDefinitionNamePrefix: this.compute.jobDefinitionPrefix,
      logRetention,
    });
    const stateMachine = this.workflow.stateMachine;
    this.notifications = new JobEvents(this, 'Notifications', {
      batchEventsFunction: functions.batchEvents.function,
      reconcileFunction: functions.reconcile.function,
      jobQueues: [this.compute.spotJobQueue, this.compute.onDemandJobQueue],
      stateMachine,
    });
    this.api = new HttpJobApi(this, 'HttpJobApi', {
      handler: functions.api.function,
      auth:
        config.authType === 'jwt'
          ? {
              type: 'jwt',
              issuer: config.jwtIssuer!,
              audience: config.jwtAudience,
              ...(config.jwtRequiredScope !== undefined && { requiredScope: config.jwtRequiredScope }),
            }
          : { type: 'iam' },
      throttlingRateLimit: config.throttlingRateLimit,
      throttlingBurstLimit: config.throttlingBurstLimit,
      logRetention,
    });

    const withTable = (f: GpuJobsFunction, access: 'read' | 'readWrite') => {
      f.addEnvironment(ENV.tableName, this.store.table.tableName);
      if (access === 'read') this.store.grantRead(f.function);
      else this.store.grantReadWrite(f.function);
    };
    const withEventBus = (f: GpuJobsFunction) => {
      f.addEnvironment(ENV.eventBusName, this.notifications.eventBus.eventBusName);
      this.notifications.grantPutEvents(f.function);
    };
    const withContainerInstances = (f: GpuJobsFunction) => {
      // Batch creates its ECS clusters at run time and names them by its service role:
      // AWSBatch-<compute environment>-<uuid> with the service-linked role, <compute environment>_Batch_<uuid>
      // with a custom one. A container instance ARN names its cluster only in the long ARN format,
      // so the resource is every container instance and the cluster is matched by ecs:cluster, a
      // condition key DescribeContainerInstances supports:
      // https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonelasticcontainerservice.html
      const batchClusters = ['AWSBatch-*', '*_Batch_*'].map((name) =>
        this.formatArn({ service: 'ecs', resource: 'cluster', resourceName: name }),
      );
      f.function.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['ecs:DescribeContainerInstances'],
          resources: [this.formatArn({ service: 'ecs', resource: 'container-instance', resourceName: '*' })],
          conditions: { ArnLike: { 'ecs:cluster': batchClusters } },
        }),
      );
    };
    const allowedRegistries = config.allowedRegistries.join(',');

    // api: submit, read, cancel, logs.
    withTable(functions.api, 'readWrite');
    withEventBus(functions.api);
    functions.api.addEnvironment(ENV.intakeQueueUrl, this.intake.queue.queueUrl);
    this.intake.grantSend(functions.api.function);
    functions.api.addEnvironment(ENV.stateMachineArn, stateMachine.stateMachineArn);
    stateMachine.grantExecution(functions.api.function, 'states:StopExecution');
    functions.api.addEnvironment(ENV.jobLogGroupName, this.compute.jobLogGroup.logGroupName);
    this.compute.jobLogGroup.grantRead(functions.api.function);
    functions.api.addEnvironment(ENV.allowedRegistries, allowedRegistries);
    // The largest jobs the compute environments' instance types hold: the api refuses bigger ones at submit.
    functions.api.addEnvironment(ENV.jobShapes, formatJobShapes(placeableShapes(shapesOf(config.gpuInstanceTypes))));
    functions.api.addEnvironment(ENV.ownerIdentity, config.ownerIdentity);

    // dispatcher: queued job → execution named after it.
    withTable(functions.dispatcher, 'read');
    functions.dispatcher.addEnvironment(ENV.stateMachineArn, stateMachine.stateMachineArn);
    // Each of the event source's concurrent invocations paces itself to its share of the rate.
    functions.dispatcher.addEnvironment(ENV.dispatchRatePerSecond, String(config.dispatchRatePerSecond / config.dispatcherMaxConcurrency));
    stateMachine.grantStartExecution(functions.dispatcher.function);

    // prepare: register the job definition for the job's image, with the two job roles.
    withTable(functions.prepare, 'readWrite');
    functions.prepare.addEnvironment(ENV.jobDefinitionPrefix, this.compute.jobDefinitionPrefix);
    functions.prepare.addEnvironment(ENV.jobRoleArn, this.compute.jobRole.roleArn);
    functions.prepare.addEnvironment(ENV.jobExecutionRoleArn, this.compute.jobExecutionRole.roleArn);
    this.compute.grantRegisterJobDefinitions(functions.prepare.function);
    functions.prepare.addEnvironment(ENV.jobLogGroupName, this.compute.jobLogGroup.logGroupName);
    functions.prepare.addEnvironment(ENV.allowedRegistries, allowedRegistries);
    // QUEUED → PENDING is a transition, and every transition is announced.
    withEventBus(functions.prepare);

    // settle-attempt: record the attempt, including the instance type it ran on.
    withTable(functions.settleAttempt, 'readWrite');
    withContainerInstances(functions.settleAttempt);
    // An interrupted attempt moves the job back to PENDING: announced like every transition.
    withEventBus(functions.settleAttempt);

    // finish: the terminal transition and its event.
    withTable(functions.finish, 'readWrite');
    withEventBus(functions.finish);

    // batch-events: PENDING/RUNNING transitions and attempt details.
    withTable(functions.batchEvents, 'readWrite');
    withEventBus(functions.batchEvents);
    withContainerInstances(functions.batchEvents);

    // Batch job ids exist only at run time; TerminateJob and CancelJob support the job resource
    // type only (Service Authorization Reference), so the grant is every job of this account and region.
    const batchJobs = this.formatArn({ service: 'batch', resource: 'job', resourceName: '*' });

    // reconcile: executions stopped (cancel), failed or timed out; the Batch job a stopped one left running.
    withTable(functions.reconcile, 'readWrite');
    withEventBus(functions.reconcile);
    functions.reconcile.function.addToRolePolicy(new iam.PolicyStatement({ actions: ['batch:TerminateJob'], resources: [batchJobs] }));

    // watchdog: every job waiting in a blocked queue past its timeout is cancelled (and fails over),
    // and ended executions whose end event was lost go through reconcile's logic.
    withTable(functions.watchdog, 'readWrite');
    withEventBus(functions.watchdog);
    functions.watchdog.addEnvironment(ENV.spotJobQueueArn, this.compute.spotJobQueue.jobQueueArn);
    functions.watchdog.addEnvironment(ENV.onDemandJobQueueArn, this.compute.onDemandJobQueue.jobQueueArn);
    functions.watchdog.addEnvironment(ENV.capacityTimeoutSeconds, String(config.capacityTimeoutSeconds));
    functions.watchdog.addEnvironment(ENV.onDemandCapacityTimeoutSeconds, String(config.onDemandCapacityTimeoutSeconds));
    // ListJobs supports no resource-level permissions: "*" is the only valid resource.
    functions.watchdog.function.addToRolePolicy(new iam.PolicyStatement({ actions: ['batch:ListJobs'], resources: ['*'] }));
    functions.watchdog.function.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['batch:CancelJob', 'batch:TerminateJob'], resources: [batchJobs] }),
    );
    functions.watchdog.addEnvironment(ENV.stateMachineArn, stateMachine.stateMachineArn);
    functions.watchdog.addEnvironment(ENV.executionTimeoutSeconds, String(EXECUTION_TIMEOUT_SECONDS));
    stateMachine.grant(functions.watchdog.function, 'states:ListExecutions');
    stateMachine.grantExecution(functions.watchdog.function, 'states:DescribeExecution');
    this.watchdogSchedule = new WatchdogSchedule(this, 'WatchdogSchedule', {
      watchdogFunction: functions.watchdog.function,
      interval: Duration.minutes(config.watchdogIntervalMinutes),
    });

    this.monitoring = new Monitoring(this, 'Monitoring', {
      serviceName: this.stackName,
      functions: Object.entries(functions).map(([label, f]) => ({ label, function: f.function })),
      dispatcher: functions.dispatcher.function,
      deadLetterQueues: [
        { label: 'IntakeDeadLetterQueue', queue: this.intake.deadLetterQueue },
        { label: 'EventTargetDeadLetterQueue', queue: this.notifications.deadLetterQueue },
        { label: 'HandlerFailureQueue', queue: this.notifications.handlerFailureQueue },
      ],
      intakeQueue: this.intake.queue,
      stateMachine,
      ...(config.alarmEmail !== undefined && { alarmEmail: config.alarmEmail }),
    });

    new CfnOutput(this, 'ApiUrl', { value: this.api.url, description: 'Base URL of the job API' });
    new CfnOutput(this, 'EventBusName', { value: this.notifications.eventBus.eventBusName });
    new CfnOutput(this, 'EventBusArn', { value: this.notifications.eventBus.eventBusArn });
    new CfnOutput(this, 'JobTableName', { value: this.store.table.tableName });
    new CfnOutput(this, 'IntakeQueueArn', { value: this.intake.queue.queueArn });
    new CfnOutput(this, 'IntakeDeadLetterQueueArn', { value: this.intake.deadLetterQueue.queueArn });
    new CfnOutput(this, 'EventTargetDeadLetterQueueArn', { value: this.notifications.deadLetterQueue.queueArn });
    new CfnOutput(this, 'HandlerFailureQueueArn', { value: this.notifications.handlerFailureQueue.queueArn });
    new CfnOutput(this, 'StateMachineArn', { value: stateMachine.stateMachineArn });
    new CfnOutput(this, 'DashboardUrl', { value: this.monitoring.dashboardUrl });
  }
}
