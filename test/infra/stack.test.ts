import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JOB_TABLE } from '../../core/table.js';
import { ROUTES } from '../../core/contract/routes.js';
import { ENV } from '../../core/contract/environment.js';
import { DEFAULT_CONFIG } from '../../lib/config.js';
import { HANDLER_ENTRIES } from '../../lib/gpujobs-function.js';
import type { GpuJobsStack } from '../../lib/gpujobs-stack.js';
import { JOB_METRICS, METRICS_NAMESPACE } from '../../lib/monitoring.js';
import { synthesize, type SynthResult } from './support.js';

// GIVEN the default configuration, synthesized once (bundling every handler) for all tests below.
let result: SynthResult;
let template: Template;
let stack: GpuJobsStack;
beforeAll(() => {
  result = synthesize();
  template = result.template;
  stack = result.stack;
});
afterAll(() => result?.dispose());

const ref = (logicalId: string) => ({ Ref: logicalId });
const arnOf = (logicalId: string) => ({ 'Fn::GetAtt': [logicalId, 'Arn'] });
const logicalId = (construct: { node: { defaultChild?: unknown } }) => stack.getLogicalId(construct.node.defaultChild as never);
const fnLogicalId = (name: keyof GpuJobsStack['functions']) => logicalId(stack.functions[name].function);
const roleLogicalId = (name: keyof GpuJobsStack['functions']) => logicalId(stack.functions[name].role);

/** Every statement of the inline policies attached to a role. */
function statementsOf(roleLogicalId: string): Record<string, unknown>[] {
  const policies = template.findResources('AWS::IAM::Policy', { Properties: { Roles: Match.arrayWith([ref(roleLogicalId)]) } });
  return Object.values(policies).flatMap(
    (p) => (p as { Properties: { PolicyDocument: { Statement: Record<string, unknown>[] } } }).Properties.PolicyDocument.Statement,
  );
}
function actionsOf(roleLogicalId: string): string[] {
  return statementsOf(roleLogicalId).flatMap((s) => [s.Action].flat() as string[]);
}

describe('job store', () => {
  it('is an on-demand table with point-in-time recovery, KMS encryption and the idempotency TTL', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [
        { AttributeName: JOB_TABLE.partitionKey, KeyType: 'HASH' },
        { AttributeName: JOB_TABLE.sortKey, KeyType: 'RANGE' },
      ],
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
      TimeToLiveSpecification: { AttributeName: JOB_TABLE.timeToLiveAttribute, Enabled: true },
      DeletionProtectionEnabled: true,
    });
  });

  it('has the two owner indexes of core/table.ts, projecting whole jobs', () => {
    const indexes = Object.values(JOB_TABLE.indexes).map((index) => ({
      IndexName: index.indexName,
      KeySchema: [
        { AttributeName: index.partitionKey, KeyType: 'HASH' },
        { AttributeName: index.sortKey, KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'ALL' },
    }));
    template.hasResourceProperties('AWS::DynamoDB::Table', { GlobalSecondaryIndexes: indexes });
  });

  it('is retained when the stack is deleted', () => {
    template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
  });
});

describe('intake queue', () => {
  it('moves a message to the dead-letter queue after five receives, and the DLQ keeps it 14 days', () => {
    const dlq = logicalId(stack.intake.deadLetterQueue);
    template.hasResourceProperties('AWS::SQS::Queue', {
      RedrivePolicy: { deadLetterTargetArn: arnOf(dlq), maxReceiveCount: 5 },
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 4 * 24 * 3600,
    });
    template.hasResourceProperties('AWS::SQS::Queue', {
      QueueName: Match.absent(),
      MessageRetentionPeriod: 14 * 24 * 3600,
      SqsManagedSseEnabled: true,
    });
  });

  it('keeps messages invisible for six times the dispatcher timeout', () => {
    const dispatcherTimeout = stack.functions.dispatcher.timeout.toSeconds();
    template.hasResourceProperties('AWS::SQS::Queue', { VisibilityTimeout: dispatcherTimeout * 6 });
    template.hasResourceProperties('AWS::Lambda::Function', { FunctionName: Match.absent(), Timeout: dispatcherTimeout });
  });

  it('refuses requests that do not use TLS on both queues', () => {
    for (const queue of [stack.intake.queue, stack.intake.deadLetterQueue]) {
      template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [ref(logicalId(queue))],
        PolicyDocument: {
          Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
        },
      });
    }
  });

  it('feeds the dispatcher in batches with partial failures and bounded concurrency', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: ref(fnLogicalId('dispatcher')),
      EventSourceArn: arnOf(logicalId(stack.intake.queue)),
      BatchSize: DEFAULT_CONFIG.dispatcherBatchSize,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: DEFAULT_CONFIG.dispatcherMaxConcurrency },
    });
  });
});

describe('functions', () => {
  const names = ['api', 'dispatcher', 'prepare', 'settleAttempt', 'finish', 'batchEvents', 'reconcile'] as const;

  it.each(names)('%s runs Node.js 22 on arm64 with X-Ray and a log group of its own', (name) => {
    const logGroup = logicalId(stack.functions[name].logGroup);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Handler: 'index.handler',
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      TracingConfig: { Mode: 'Active' },
      LoggingConfig: Match.objectLike({ LogGroup: ref(logGroup), LogFormat: 'JSON' }),
      Role: arnOf(roleLogicalId(name)),
    });
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: DEFAULT_CONFIG.logRetentionDays });
    expect(statementsOf(roleLogicalId(name))).toContainEqual(
      expect.objectContaining({ Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: arnOf(logGroup) }),
    );
  });

  it('bundles each handler into a minified ES module that can still require() CommonJS dependencies', () => {
    const fn = template.findResources('AWS::Lambda::Function', { Properties: { Handler: 'index.handler' } });
    const assetDirs = Object.values(fn).map((r) => {
      const key = (r as { Properties: { Code: { S3Key: string } } }).Properties.Code.S3Key;
      return `asset.${key.replace(/\.zip$/, '')}`;
    });
    expect(new Set(assetDirs).size).toBe(Object.keys(HANDLER_ENTRIES).length);
    for (const assetDir of assetDirs) {
      const bundle = join(result.outdir, assetDir, 'index.mjs');
      expect(existsSync(bundle)).toBe(true);
      expect(existsSync(`${bundle}.map`)).toBe(true);
      const code = readFileSync(bundle, 'utf8');
      expect(code.startsWith("import{createRequire as __gpujobsCreateRequire}from'node:module'")).toBe(true);
    }
  });

  it('loads every bundled handler with exactly the environment the stack gives it', () => {
    // A handler checks its configuration when its module loads; a variable the stack forgot
    // would fail every invocation in AWS. Load each real bundle in a fresh Node process with
    // only the stack's variables (CloudFormation references replaced by placeholders).
    const functions = template.findResources('AWS::Lambda::Function', { Properties: { Handler: 'index.handler' } });
    const failures: string[] = [];
    for (const [id, resource] of Object.entries(functions)) {
      const props = (resource as { Properties: { Code: { S3Key: string }; Environment?: { Variables: Record<string, unknown> } } })
        .Properties;
      const bundle = join(result.outdir, `asset.${props.Code.S3Key.replace(/\.zip$/, '')}`, 'index.mjs');
      const variables = Object.fromEntries(
        Object.entries(props.Environment?.Variables ?? {}).map(([key, value]) => [
          key,
          typeof value === 'string' ? value : `placeholder-${key}`,
        ]),
      );
      const run = spawnSync(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `const m = await import(${JSON.stringify(pathToFileURL(bundle).href)}); if (typeof m.handler !== 'function') throw new Error('no handler export');`,
        ],
        {
          env: { PATH: process.env.PATH, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'x', ...variables },
          encoding: 'utf8',
          timeout: 30_000,
        },
      );
      if (run.status !== 0) failures.push(`${id}: ${run.stderr.split('\n').find((line) => /Error/.test(line)) ?? run.stderr}`);
    }
    expect(failures).toEqual([]);
  });

  it('hands each handler the environment it reads, and nothing it does not need', () => {
    const env = (name: keyof GpuJobsStack['functions']) => {
      const props = template.findResources('AWS::Lambda::Function')[fnLogicalId(name)]!.Properties as {
        Environment: { Variables: Record<string, unknown> };
      };
      return Object.keys(props.Environment.Variables)
        .filter((key) => (Object.values(ENV) as string[]).includes(key))
        .sort();
    };
    expect(env('api')).toEqual(
      [
        ENV.allowedRegistries,
        ENV.eventBusName,
        ENV.intakeQueueUrl,
        ENV.jobLogGroupName,
        ENV.jobShapes,
        ENV.ownerIdentity,
        ENV.stateMachineArn,
        ENV.tableName,
      ].sort(),
    );
    expect(env('dispatcher')).toEqual([ENV.dispatchRatePerSecond, ENV.stateMachineArn, ENV.tableName].sort());
    expect(env('prepare')).toEqual(
      [
        ENV.allowedRegistries,
        ENV.eventBusName,
        ENV.jobDefinitionPrefix,
        ENV.jobExecutionRoleArn,
        ENV.jobLogGroupName,
        ENV.jobRoleArn,
        ENV.tableName,
      ].sort(),
    );
    expect(env('settleAttempt')).toEqual([ENV.eventBusName, ENV.tableName].sort());
    expect(env('finish')).toEqual([ENV.eventBusName, ENV.tableName].sort());
    expect(env('batchEvents')).toEqual([ENV.eventBusName, ENV.tableName].sort());
    expect(env('reconcile')).toEqual([ENV.eventBusName, ENV.tableName].sort());
    expect(JSON.stringify(template.toJSON())).not.toContain(ENV.localMode);
  });
});

describe('grants', () => {
  it('lets the dispatcher only read jobs and start executions', () => {
    const actions = actionsOf(roleLogicalId('dispatcher'));
    expect(actions).toContain('states:StartExecution');
    expect(actions).toContain('dynamodb:GetItem');
    expect(actions).not.toContain('dynamodb:PutItem');
    expect(actions).not.toContain('dynamodb:UpdateItem');
  });

  it('lets the api stop only executions of the job workflow', () => {
    const stop = statementsOf(roleLogicalId('api')).find((s) => s.Action === 'states:StopExecution');
    expect(JSON.stringify(stop?.Resource)).toContain(':execution:');
    expect(JSON.stringify(stop?.Resource)).toContain(logicalId(stack.workflow.stateMachine));
  });

  it('lets the api send to the intake queue, publish events and read the job logs', () => {
    const actions = actionsOf(roleLogicalId('api'));
    expect(actions).toEqual(
      expect.arrayContaining(['sqs:SendMessage', 'events:PutEvents', 'logs:GetLogEvents', 'logs:FilterLogEvents', 'dynamodb:UpdateItem']),
    );
  });

  it('lets prepare register job definitions under the prefix and pass only the two job roles to Batch and ECS tasks', () => {
    const statements = statementsOf(roleLogicalId('prepare'));
    const register = statements.find((s) => [s.Action].flat().includes('batch:RegisterJobDefinition'));
    expect(JSON.stringify(register?.Resource)).toContain(`:job-definition/${stack.compute.jobDefinitionPrefix}*`);
    expect(statements).toContainEqual(
      expect.objectContaining({
        Action: 'iam:PassRole',
        Resource: expect.arrayContaining([arnOf(logicalId(stack.compute.jobRole)), arnOf(logicalId(stack.compute.jobExecutionRole))]),
        Condition: { StringEquals: { 'iam:PassedToService': ['batch.amazonaws.com', 'ecs-tasks.amazonaws.com'] } },
      }),
    );
  });

  it('lets the status handlers write jobs, publish events and look up container instances', () => {
    for (const name of ['batchEvents', 'settleAttempt'] as const) {
      expect(actionsOf(roleLogicalId(name))).toEqual(expect.arrayContaining(['ecs:DescribeContainerInstances', 'dynamodb:UpdateItem']));
    }
    for (const name of ['finish', 'batchEvents', 'reconcile'] as const) {
      expect(actionsOf(roleLogicalId(name))).toContain('events:PutEvents');
    }
  });
});

describe('network', () => {
  it('creates public subnets only and no NAT gateway', () => {
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
    const subnets = Object.values(template.findResources('AWS::EC2::Subnet'));
    expect(subnets.length).toBeGreaterThan(0);
    for (const subnet of subnets) {
      expect((subnet as { Properties: { MapPublicIpOnLaunch: boolean } }).Properties.MapPublicIpOnLaunch).toBe(true);
    }
  });

  it('gives the instances a security group with no inbound rule', () => {
    template.hasResourceProperties('AWS::EC2::SecurityGroup', {
      GroupDescription: Match.stringLikeRegexp('gpujobs Batch instances'),
      SecurityGroupIngress: Match.absent(),
    });
    template.resourceCountIs('AWS::EC2::SecurityGroupIngress', 0);
  });
});

describe('gpu compute', () => {
  it('runs Spot with price-capacity-optimized and On-Demand with best-fit-progressive, both from zero', () => {
    for (const [type, strategy] of [
      ['SPOT', 'SPOT_PRICE_CAPACITY_OPTIMIZED'],
      ['EC2', 'BEST_FIT_PROGRESSIVE'],
    ] as const) {
      template.hasResourceProperties('AWS::Batch::ComputeEnvironment', {
        Type: 'managed',
        ComputeResources: Match.objectLike({
          Type: type,
          AllocationStrategy: strategy,
          MinvCpus: 0,
          MaxvCpus: DEFAULT_CONFIG.maxVcpus,
          InstanceTypes: [...DEFAULT_CONFIG.gpuInstanceTypes],
          Ec2Configuration: [{ ImageType: 'ECS_AL2023_NVIDIA' }],
          LaunchTemplate: {
            LaunchTemplateId: ref(logicalId(stack.compute.launchTemplate)),
            Version: { 'Fn::GetAtt': [logicalId(stack.compute.launchTemplate), 'LatestVersionNumber'] },
          },
        }),
      });
    }
  });

  it('moves the instances to a changed launch template and the newest GPU AMI on the next deploy', () => {
    // The version the compute environments name is the template's latest: every template change is
    // a compute-environment update, which Batch carries out as an infrastructure update.
    for (const computeEnvironment of [stack.compute.spotComputeEnvironment, stack.compute.onDemandComputeEnvironment]) {
      const properties = template.toJSON().Resources[logicalId(computeEnvironment)].Properties;
      expect(properties.ComputeResources.LaunchTemplate.Version).toEqual({
        'Fn::GetAtt': [logicalId(stack.compute.launchTemplate), 'LatestVersionNumber'],
      });
      expect(properties.ComputeResources.UpdateToLatestImageVersion).toBe(true);
      expect(properties.UpdatePolicy).toEqual({ JobExecutionTimeoutMinutes: 360 });
      expect(properties.ReplaceComputeEnvironment).toBe(false);
    }
  });

  it('offers at least three GPU families by default', () => {
    const families = new Set(DEFAULT_CONFIG.gpuInstanceTypes.map((type) => type.split('.')[0]));
    expect(families).toEqual(new Set(['g4dn', 'g5', 'g6']));
  });

  it('requires IMDSv2 with hop limit 1 so containers cannot use the instance role', () => {
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({
        MetadataOptions: { HttpEndpoint: 'enabled', HttpTokens: 'required', HttpPutResponseHopLimit: 1 },
        BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: Match.objectLike({ Encrypted: true, VolumeType: 'gp3' }) }],
        UserData: Match.absent(),
      }),
    });
  });

  it('cancels Spot jobs stuck without capacity after the capacity timeout, and misconfigured jobs on both queues', () => {
    const misconfigured = ['MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE', 'MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT'].map(
      (Reason) => ({
        Action: 'CANCEL',
        State: 'RUNNABLE',
        MaxTimeSeconds: 600,
        Reason,
      }),
    );
    template.hasResourceProperties('AWS::Batch::JobQueue', {
      ComputeEnvironmentOrder: [
        { ComputeEnvironment: { 'Fn::GetAtt': [logicalId(stack.compute.spotComputeEnvironment), 'ComputeEnvironmentArn'] }, Order: 1 },
      ],
      JobStateTimeLimitActions: [
        {
          Action: 'CANCEL',
          State: 'RUNNABLE',
          MaxTimeSeconds: DEFAULT_CONFIG.capacityTimeoutSeconds,
          Reason: 'CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY',
        },
        ...misconfigured,
      ],
    });
    template.hasResourceProperties('AWS::Batch::JobQueue', {
      ComputeEnvironmentOrder: [
        { ComputeEnvironment: { 'Fn::GetAtt': [logicalId(stack.compute.onDemandComputeEnvironment), 'ComputeEnvironmentArn'] }, Order: 1 },
      ],
      JobStateTimeLimitActions: misconfigured,
    });
  });

  it('lets the execution role pull images and write only the job log group, and gives the job role nothing', () => {
    const execution = statementsOf(logicalId(stack.compute.jobExecutionRole));
    expect(execution.flatMap((s) => [s.Action].flat())).toEqual(
      expect.arrayContaining(['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:GetAuthorizationToken', 'logs:PutLogEvents']),
    );
    expect(statementsOf(logicalId(stack.compute.jobRole))).toEqual([]);
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: { Statement: [Match.objectLike({ Principal: { Service: 'ecs-tasks.amazonaws.com' } })] },
      ManagedPolicyArns: Match.absent(),
      Description: Match.stringLikeRegexp('no permissions by default'),
    });
  });
});

describe('notifications', () => {
  it('keeps every event a status handler failed on, after Lambda has retried it, in a queue with an alarm', () => {
    const failureQueue = logicalId(stack.notifications.handlerFailureQueue);
    for (const name of ['batchEvents', 'reconcile'] as const) {
      template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
        FunctionName: ref(fnLogicalId(name)),
        MaximumRetryAttempts: 2,
        MaximumEventAgeInSeconds: 6 * 3600,
        DestinationConfig: { OnFailure: { Destination: arnOf(failureQueue) } },
      });
      const send = statementsOf(roleLogicalId(name)).find((statement) => [statement.Action].flat().includes('sqs:SendMessage'));
      expect(JSON.stringify(send?.Resource)).toContain(failureQueue);
    }
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [failureQueue, 'QueueName'] } }],
      Threshold: 0,
    });
  });

  it('creates a custom event bus with no resource policy', () => {
    template.resourceCountIs('AWS::Events::EventBus', 1);
    template.resourceCountIs('AWS::Events::EventBusPolicy', 0);
    template.hasResourceProperties('AWS::Events::EventBus', { Policy: Match.absent() });
  });

  it('sends Batch state changes of our two queues to batch-events, with retries and a dead-letter queue', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.batch'],
        'detail-type': ['Batch Job State Change'],
        detail: {
          jobQueue: [
            { 'Fn::GetAtt': [logicalId(stack.compute.spotJobQueue), 'JobQueueArn'] },
            { 'Fn::GetAtt': [logicalId(stack.compute.onDemandJobQueue), 'JobQueueArn'] },
          ],
        },
      },
      Targets: [
        Match.objectLike({
          Arn: arnOf(fnLogicalId('batchEvents')),
          RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 6 * 3600 },
          DeadLetterConfig: { Arn: arnOf(logicalId(stack.notifications.deadLetterQueue)) },
        }),
      ],
    });
  });

  it('sends executions of the job workflow that ended aborted, failed or timed out to reconcile', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.states'],
        'detail-type': ['Step Functions Execution Status Change'],
        detail: { stateMachineArn: [ref(logicalId(stack.workflow.stateMachine))], status: ['ABORTED', 'FAILED', 'TIMED_OUT'] },
      },
      Targets: [
        Match.objectLike({
          Arn: arnOf(fnLogicalId('reconcile')),
          RetryPolicy: Match.objectLike({ MaximumRetryAttempts: 8 }),
          DeadLetterConfig: { Arn: arnOf(logicalId(stack.notifications.deadLetterQueue)) },
        }),
      ],
    });
  });
});

describe('dispatch pacing', () => {
  it("gives each concurrent dispatcher invocation its share of the platform's start rate", () => {
    const props = template.findResources('AWS::Lambda::Function')[fnLogicalId('dispatcher')]!.Properties as {
      Environment: { Variables: Record<string, unknown> };
    };
    const perInvocation = Number(props.Environment.Variables[ENV.dispatchRatePerSecond]);
    expect(perInvocation * DEFAULT_CONFIG.dispatcherMaxConcurrency).toBe(DEFAULT_CONFIG.dispatchRatePerSecond);
    // Batch accepts 50 SubmitJob calls per second per account.
    expect(DEFAULT_CONFIG.dispatchRatePerSecond).toBeLessThan(50);
  });
});

describe('http api', () => {
  it('routes exactly the requests the api handler serves', () => {
    const routeKeys = Object.values(template.findResources('AWS::ApiGatewayV2::Route')).map(
      (route) => (route as { Properties: { RouteKey: string } }).Properties.RouteKey,
    );
    expect(routeKeys.sort()).toEqual(Object.values(ROUTES).sort());
  });

  const routes = ['POST /v1/jobs', 'GET /v1/jobs', 'GET /v1/jobs/{jobId}', 'POST /v1/jobs/{jobId}/cancel', 'GET /v1/jobs/{jobId}/logs'];

  it.each(routes)('requires IAM (SigV4) authorization on %s', (routeKey) => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: routeKey, AuthorizationType: 'AWS_IAM' });
  });

  it('has exactly the routes of the contract, all served by the api function', () => {
    template.resourceCountIs('AWS::ApiGatewayV2::Route', routes.length);
    template.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
      IntegrationType: 'AWS_PROXY',
      IntegrationUri: arnOf(fnLogicalId('api')),
      PayloadFormatVersion: '2.0',
    });
  });

  it('throttles the default stage and writes JSON access logs', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: {
        ThrottlingRateLimit: DEFAULT_CONFIG.throttlingRateLimit,
        ThrottlingBurstLimit: DEFAULT_CONFIG.throttlingBurstLimit,
      },
      AccessLogSettings: {
        DestinationArn: arnOf(logicalId(stack.api.accessLogGroup)),
        Format: Match.stringLikeRegexp('"requestId":"\\$context.requestId"'),
      },
    });
  });
});

describe('monitoring', () => {
  it('charts the job metrics the handlers emit', () => {
    const dashboard = template.findResources('AWS::CloudWatch::Dashboard');
    const body = JSON.stringify(Object.values(dashboard)[0]);
    for (const metric of Object.values(JOB_METRICS)) expect(body).toContain(metric);
    expect(body).toContain(METRICS_NAMESPACE);
  });

  it('alarms on dead letters, dispatcher errors and failed executions', () => {
    template.resourceCountIs('AWS::CloudWatch::Alarm', 5);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalId(stack.intake.deadLetterQueue), 'QueueName'] } }],
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'Errors',
      Namespace: 'AWS/Lambda',
      Dimensions: [{ Name: 'FunctionName', Value: ref(fnLogicalId('dispatcher')) }],
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Metrics: Match.arrayWith([Match.objectLike({ Expression: 'failed + timedOut' })]),
    });
  });

  it('creates no topic when no alarm email is configured', () => {
    template.resourceCountIs('AWS::SNS::Topic', 0);
  });
});

describe('outputs', () => {
  it.each([
    'ApiUrl',
    'EventBusName',
    'EventBusArn',
    'JobTableName',
    'IntakeQueueArn',
    'IntakeDeadLetterQueueArn',
    'EventTargetDeadLetterQueueArn',
    'DashboardUrl',
  ])('exports %s', (name) => {
    expect(Object.keys(template.findOutputs(name))).toEqual([name]);
  });
});

describe('guardrails', () => {
  it('leaves no cdk-nag AwsSolutions or cfn-guard finding unacknowledged', () => {
    // cdk-nag reports only when it has findings; checks.test.ts proves it runs.
    expect(result.report.pluginReports.map((r) => r.pluginName)).toContain('cdk-validator-cfnguard');
    const open = result.report.pluginReports.flatMap((r) =>
      r.violations.flatMap((v) => v.violatingConstructs.map((c) => `${r.pluginName} ${v.ruleName} ${c.constructPath}`)),
    );
    expect(open).toEqual([]);
  });

  it('records a written reason for every acknowledgment', () => {
    const metadata = JSON.parse(readFileSync(join(result.outdir, `${stack.artifactId}.metadata.json`), 'utf8')) as Record<
      string,
      { type: string; data: Record<string, string> }[]
    >;
    const acknowledgments = Object.values(metadata)
      .flat()
      .filter((entry) => entry.type === 'aws:cdk:acknowledged-rules')
      .flatMap((entry) => Object.entries(entry.data));
    expect(acknowledgments.length).toBeGreaterThan(10);
    for (const [rule, reason] of acknowledgments) {
      expect(reason.length, rule).toBeGreaterThan(40);
    }
  });
});
