/**
 * The cdk-nag (AwsSolutions) and cfn-guard (Control Tower) findings this design accepts,
 * each acknowledged on the narrowest construct with the reason it holds. Anything not
 * listed here fails synthesis.
 */
import { Stack, Validations, type CfnResource } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import type { GpuJobsConfig } from './config.js';
import { ecrRepositoryPatterns } from './gpu-compute.js';
import type { GpuJobsStack } from './gpujobs-stack.js';

const GUARD = 'cdk-validator-cfnguard';

const REASONS = {
  logGroupKms:
    'CloudWatch Logs encrypts every log group at rest with service-managed keys. A customer managed KMS key would add a monthly charge to a platform that must cost nothing while idle; add one if your job output is regulated.',
  lambdaOutsideVpc:
    'The functions call only AWS service APIs (DynamoDB, SQS, Step Functions, Batch, EventBridge, CloudWatch Logs, ECS) and reach no private resource. Inside the VPC they would need a NAT gateway or interface endpoints, which bill every hour while idle.',
  lambdaRuntime:
    'Pinned to nodejs22.x, the runtime the handlers are bundled for (esbuild target node22) and tested on; moving to a newer runtime is a deliberate upgrade, not a side effect of a CDK release.',
  xrayAndDescribe:
    'X-Ray PutTraceSegments/PutTelemetryRecords (active tracing) support no resource-level permissions, so "*" is the only valid resource.',
  tableIndexes:
    "Queries on the job table's two indexes (byOwner, byOwnerStatus); index ARNs exist only under the table ARN, and this grants no other table.",
} as const;

/** Acknowledges the findings for the given configuration (some exist only with certain settings). */
export function acknowledgeFindings(stack: GpuJobsStack, config: GpuJobsConfig): void {
  const ack = (scope: IConstruct, id: string, reason: string) => Validations.of(scope).acknowledge({ id, reason });
  const ref = (resource: IConstruct) => Stack.of(resource).getLogicalId(resource as CfnResource);
  const fns = Object.values(stack.functions);

  // Stack-wide design decisions.
  ack(stack, `${GUARD}::cloudwatch_log_group_encrypted_check`, REASONS.logGroupKms);
  ack(stack, `${GUARD}::lambda_inside_vpc_check`, REASONS.lambdaOutsideVpc);

  if (config.logRetentionDays < 365) {
    ack(
      stack,
      `${GUARD}::cloudwatch_log_group_retention_period_check`,
      `The operator chose a retention of ${config.logRetentionDays} days (gpujobs.logRetentionDays); the default is 365.`,
    );
  }

  // Functions.
  const tableLogicalId = ref(stack.store.table.node.defaultChild!);
  for (const f of fns) {
    ack(f.function, 'AwsSolutions-L1', REASONS.lambdaRuntime);
    ack(f.role, 'AwsSolutions-IAM5[Resource::*]', REASONS.xrayAndDescribe);
    ack(f.role, `AwsSolutions-IAM5[Resource::<${tableLogicalId}.Arn>/index/*]`, REASONS.tableIndexes);
  }
  ack(
    stack.functions.prepare.role,
    'AwsSolutions-IAM5[Resource::*]',
    `${REASONS.xrayAndDescribe} The same holds for batch:DescribeJobDefinitions, which prepare needs to find a job definition it registered before.`,
  );
  ack(
    stack.functions.prepare.role,
    `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:batch:<AWS::Region>:<AWS::AccountId>:job-definition/${stack.compute.jobDefinitionPrefix}*]`,
    'Job definitions are registered at run time, one per image and resource shape, so their names are only known by prefix; the grant covers that prefix and nothing else.',
  );
  for (const f of [stack.functions.settleAttempt, stack.functions.batchEvents]) {
    ack(
      f.role,
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:container-instance/*]',
      'Reads the instance type of the container instance an attempt ran on. Batch creates its ECS clusters at run time, so the grant is limited by an ecs:cluster condition to the two cluster name shapes Batch uses (AWSBatch-* and *_Batch_*).',
    );
  }
  ack(
    stack.functions.api.role,
    `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"${ref(stack.workflow.stateMachine.node.defaultChild!)}"}]}]}:*]`,
    'Cancel stops the running execution of a job; executions are named after job ids, which exist only at run time. The grant is limited to executions of this state machine.',
  );
  const batchJobs = 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:batch:<AWS::Region>:<AWS::AccountId>:job/*]';
  ack(
    stack.functions.reconcile.role,
    batchJobs,
    'Terminates the Batch job a stopped or timed-out execution left running; Batch job ids exist only at run time, and TerminateJob supports only the job resource type.',
  );
  ack(
    stack.functions.watchdog.role,
    batchJobs,
    'Cancels jobs waiting in a blocked queue past their timeout, and terminates the Batch job a stopped execution left running; Batch job ids exist only at run time, and CancelJob/TerminateJob support only the job resource type.',
  );
  ack(
    stack.functions.watchdog.role,
    'AwsSolutions-IAM5[Resource::*]',
    `${REASONS.xrayAndDescribe} The same holds for batch:ListJobs, which the watchdog needs to see the jobs waiting in the two queues.`,
  );
  ack(
    stack.functions.watchdog.role,
    `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"${ref(stack.workflow.stateMachine.node.defaultChild!)}"}]}]}:*]`,
    'Reads the error and cause of an ended execution whose end event was lost; executions are named after job ids, which exist only at run time. The grant is limited to executions of this state machine.',
  );
  ack(
    stack.watchdogSchedule.role,
    `AwsSolutions-IAM5[Resource::<${ref(stack.functions.watchdog.function.node.defaultChild!)}.Arn>:*]`,
    "Invoking the watchdog function's versions and aliases, as the Scheduler Lambda target grants; only the watchdog function.",
  );
  for (const route of stack.api.httpApi.node.findAll()) {
    if (route.node.id === 'ApiIntegration-Permission') {
      ack(
        route,
        `${GUARD}::lambda_function_public_access_prohibited_check`,
        'The permission is for apigateway.amazonaws.com with a SourceArn limited to this API and route; the rule cannot evaluate a SourceArn built with Fn::Join.',
      );
    }
  }

  // Batch compute.
  ack(
    stack.compute.instanceRole,
    'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role]',
    'The policy AWS Batch documents for the ECS container instance role; AWS keeps it in step with what the ECS agent needs.',
  );
  ack(
    stack.compute.jobExecutionRole,
    'AwsSolutions-IAM5[Resource::*]',
    'ecr:GetAuthorizationToken supports no resource-level permissions; the image pull itself is limited to the allowed ECR repositories.',
  );
  ack(
    stack.compute.jobExecutionRole,
    'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecr:<AWS::Region>:<AWS::AccountId>:repository/*]',
    'Jobs run user-chosen images; with no allowed registries configured, any repository of this account and region may be pulled (repository names are only known at submission).',
  );
  for (const { region, account, repositoryPrefix } of ecrRepositoryPatterns(config.allowedRegistries)) {
    ack(
      stack.compute.jobExecutionRole,
      `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecr:${region}:${account}:repository/${repositoryPrefix}*]`,
      'Jobs run user-chosen images from this allowed ECR registry (gpujobs.allowedRegistries); repository names are only known at submission.',
    );
  }

  // Network: public subnets without NAT keep the idle network cost at zero.
  if (config.vpcId === undefined) {
    for (const subnet of stack.network.vpc.publicSubnets) {
      ack(
        subnet,
        `${GUARD}::subnet_auto_assign_public_ip_disabled_check`,
        'Public subnets with public IPs instead of private subnets behind a NAT gateway (about $32 a month each, idle or not): the Batch instances need outbound access to ECR, ECS and Batch, and their security group admits no inbound traffic.',
      );
    }
  }

  // Events.
  ack(
    stack.notifications.deadLetterQueue,
    'AwsSolutions-SQS3',
    'This queue is itself the dead-letter queue of the EventBridge rule targets; cdk-nag recognises only SQS redrive dead-letter queues.',
  );
  ack(
    stack.notifications.handlerFailureQueue,
    'AwsSolutions-SQS3',
    "This queue is itself the on-failure destination of the status handlers (events they failed on after Lambda's retries); cdk-nag recognises only SQS redrive dead-letter queues.",
  );

  // Monitoring.
  if (config.alarmEmail === undefined) {
    for (const alarm of stack.monitoring.alarms) {
      ack(
        alarm,
        `${GUARD}::cloudwatch_alarm_action_check`,
        'No alarm email is configured (gpujobs.alarmEmail), so the alarm has no action; it still shows on the dashboard and in CloudWatch. Setting alarmEmail adds an encrypted SNS topic as the action.',
      );
    }
  }

  // The workflow's role: Step Functions' Batch and Lambda integrations.
  const workflowRole = stack.workflow.stateMachine.role;
  for (const f of [stack.functions.prepare, stack.functions.settleAttempt, stack.functions.finish]) {
    ack(
      workflowRole,
      `AwsSolutions-IAM5[Resource::<${ref(f.function.node.defaultChild!)}.Arn>:*]`,
      "Invoking the task function's versions and aliases, as the Step Functions Lambda integration grants; only the three task functions.",
    );
  }
  ack(
    workflowRole,
    `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:batch:<AWS::Region>:<AWS::AccountId>:job-definition/${stack.compute.jobDefinitionPrefix}*]`,
    'Submitting (and tagging on submission) jobs with the job definitions prepare registers at run time, known only by their name prefix.',
  );
  ack(
    workflowRole,
    'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:batch:<AWS::Region>:<AWS::AccountId>:job/*]',
    'Tagging and terminating the Batch jobs the workflow submits (StopExecution must terminate them); Batch job ids exist only at run time.',
  );
  ack(
    workflowRole,
    'AwsSolutions-IAM5[Resource::*]',
    'batch:DescribeJobs (used by the .sync integration), the CloudWatch Logs delivery actions for execution logging and X-Ray tracing support no resource-level permissions.',
  );
}
