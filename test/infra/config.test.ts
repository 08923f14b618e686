import { Match, type Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../lib/app.js';
import { ConfigError, DEFAULT_CONFIG, parseConfig } from '../../lib/config.js';
import type { GpuJobsStack } from '../../lib/gpujobs-stack.js';
import { synthesize, type SynthResult } from './support.js';

describe('configuration defaults', () => {
  it('authenticates with IAM, keeps the table and times out capacity waits after 600 s', () => {
    const config = parseConfig({});
    expect(config).toEqual(DEFAULT_CONFIG);
    expect(config.authType).toBe('iam');
    expect(config.tableRemovalPolicy).toBe('retain');
    expect(config.capacityTimeoutSeconds).toBe(600);
  });

  it('keeps the dispatcher at the rate arithmetic of the defaults (2 concurrent invocations of 10 messages)', () => {
    expect(parseConfig({}).dispatcherMaxConcurrency).toBe(2);
    expect(parseConfig({}).dispatcherBatchSize).toBe(10);
  });
});

describe('configuration from the command line', () => {
  it('reads flat gpujobs.<key> strings, splitting lists on commas, over the gpujobs object', () => {
    const { stack } = createApp({
      context: {
        gpujobs: { maxVcpus: 64, gpuInstanceTypes: ['g5.xlarge'] },
        'gpujobs.maxVcpus': '128',
        'gpujobs.gpuInstanceTypes': 'g6.xlarge, g6.2xlarge',
        'aws:cdk:bundling-stacks': [],
      },
    });
    expect(stack.compute.spotComputeEnvironment.maxvCpus).toBe(128);
    expect(stack.compute.spotComputeEnvironment.instanceTypes.map(String)).toEqual(['g6.xlarge', 'g6.2xlarge']);
  });

  it('reads the gpujobs object given as a JSON string (-c gpujobs=...)', () => {
    const { stack } = createApp({ context: { gpujobs: '{"maxVcpus": 32}', 'aws:cdk:bundling-stacks': [] } });
    expect(stack.compute.onDemandComputeEnvironment.maxvCpus).toBe(32);
  });
});

describe('configuration validation', () => {
  const failsWith = (raw: Record<string, unknown>, message: string) => {
    expect(() => parseConfig(raw)).toThrow(ConfigError);
    expect(() => parseConfig(raw)).toThrow(message);
  };

  it('fails when maxVcpus is not an integer', () => {
    failsWith({ maxVcpus: 'abc' }, 'gpujobs.maxVcpus must be an integer between 0 and 10000. Received "abc".');
    failsWith({ maxVcpus: 1.5 }, 'Received 1.5.');
  });

  it('fails when the capacity timeout is below Batch\'s minimum of 600 seconds', () => {
    failsWith({ capacityTimeoutSeconds: 300 }, 'gpujobs.capacityTimeoutSeconds must be an integer between 600 and 86400. Received 300.');
  });

  it('fails when authType is neither iam nor jwt', () => {
    failsWith({ authType: 'cognito' }, 'gpujobs.authType must be one of "iam", "jwt". Received "cognito".');
  });

  it('fails when jwt auth has no issuer or no audience', () => {
    failsWith({ authType: 'jwt', jwtAudience: ['api'] }, 'gpujobs.jwtIssuer is required when gpujobs.authType is "jwt".');
    failsWith({ authType: 'jwt', jwtIssuer: 'https://id.example.com' }, 'gpujobs.jwtAudience needs at least one audience');
  });

  it('fails when the jwt issuer is not an https URL', () => {
    failsWith({ jwtIssuer: 'http://id.example.com' }, 'gpujobs.jwtIssuer must be an https URL. Received "http://id.example.com".');
  });

  it('fails when an instance type is not an NVIDIA GPU type the AL2023 GPU image supports', () => {
    failsWith({ gpuInstanceTypes: ['m5.large'] }, 'Received "m5.large".');
    failsWith({ gpuInstanceTypes: ['p3.2xlarge'] }, 'gpujobs.gpuInstanceTypes contains "p3.2xlarge"');
    failsWith({ gpuInstanceTypes: [] }, 'gpujobs.gpuInstanceTypes needs at least one instance type.');
  });

  it('fails when the dispatcher settings leave the SQS event source limits', () => {
    failsWith({ dispatcherBatchSize: 11 }, 'gpujobs.dispatcherBatchSize must be an integer between 1 and 10. Received 11.');
    failsWith({ dispatcherMaxConcurrency: 1 }, 'gpujobs.dispatcherMaxConcurrency must be an integer between 2 and 1000. Received 1.');
  });

  it("fails when the dispatch rate exceeds Batch's 50 SubmitJob calls per second", () => {
    failsWith({ dispatchRatePerSecond: 51 }, 'gpujobs.dispatchRatePerSecond must be an integer between 1 and 50. Received 51.');
  });

  it('fails when the throttling limits are not positive numbers', () => {
    failsWith({ throttlingRateLimit: 0 }, 'gpujobs.throttlingRateLimit must be a number between 1 and 10000. Received 0.');
    failsWith({ throttlingBurstLimit: 'lots' }, 'Received "lots".');
  });

  it('fails when the log retention is not one CloudWatch accepts', () => {
    failsWith({ logRetentionDays: 45 }, 'gpujobs.logRetentionDays must be one of 1, 3, 5');
    failsWith({ logRetentionDays: 45 }, 'Received 45.');
  });

  it('fails when an existing VPC comes without subnets, or subnets without a VPC', () => {
    failsWith({ vpcId: 'vpc-0123456789abcdef0' }, 'gpujobs.subnetIds needs at least one subnet when gpujobs.vpcId is set.');
    failsWith({ subnetIds: ['subnet-0123456789abcdef0'] }, 'gpujobs.subnetIds can only be used with gpujobs.vpcId.');
    failsWith({ vpcId: 'my-vpc', subnetIds: ['subnet-0123456789abcdef0'] }, 'gpujobs.vpcId must be a VPC id (vpc-…). Received "my-vpc".');
  });

  it('fails when the alarm email, AMI id, registry or removal policy are malformed', () => {
    failsWith({ alarmEmail: 'ops' }, 'gpujobs.alarmEmail must be an email address. Received "ops".');
    failsWith({ gpuAmiId: 'ami-xyz' }, 'gpujobs.gpuAmiId must be an AMI id (ami-…). Received "ami-xyz".');
    failsWith({ allowedRegistries: ['https://ghcr.io'] }, 'Received "https://ghcr.io".');
    failsWith({ tableRemovalPolicy: 'snapshot' }, 'gpujobs.tableRemovalPolicy must be one of "retain", "destroy". Received "snapshot".');
  });

  it('fails when a key is misspelt', () => {
    failsWith({ maxVCPUs: 8 }, 'gpujobs.maxVCPUs is not a gpujobs configuration key.');
  });

  it('fails synthesis, naming the key and the value, when the context holds a bad value', () => {
    expect(() => createApp({ context: { 'gpujobs.maxVcpus': 'abc', 'aws:cdk:bundling-stacks': [] } })).toThrow(
      'gpujobs.maxVcpus must be an integer between 0 and 10000. Received "abc".',
    );
    expect(() => createApp({ context: { gpujobs: '{not json', 'aws:cdk:bundling-stacks': [] } })).toThrow('gpujobs must be a JSON object.');
  });
});

describe('a customised deployment', () => {
  // GIVEN JWT auth, an existing VPC, alarm email, a pinned AMI, an ECR registry and a disposable table
  let result: SynthResult;
  let template: Template;
  let stack: GpuJobsStack;
  beforeAll(() => {
    result = synthesize({
      bundle: false,
      gpujobs: {
        authType: 'jwt',
        jwtIssuer: 'https://id.example.com/',
        jwtAudience: ['gpujobs-api'],
        jwtRequiredScope: 'gpujobs/submit',
        vpcId: 'vpc-0123456789abcdef0',
        subnetIds: ['subnet-0123456789abcdef0', 'subnet-0fedcba9876543210'],
        alarmEmail: 'ops@example.com',
        gpuAmiId: 'ami-0123456789abcdef0',
        allowedRegistries: ['123456789012.dkr.ecr.eu-west-1.amazonaws.com/team', 'ghcr.io/acme'],
        tableRemovalPolicy: 'destroy',
        capacityTimeoutSeconds: 900,
        throttlingRateLimit: 5,
        throttlingBurstLimit: 10,
        logRetentionDays: 30,
      },
    });
    template = result.template;
    stack = result.stack;
  });
  afterAll(() => result?.dispose());

  it('passes cdk-nag and cfn-guard with this configuration too', () => {
    const open = result.report.pluginReports.flatMap((r) => r.violations.map((v) => v.ruleName));
    expect(open).toEqual([]);
  });

  it('authorizes every route with a JWT of the configured issuer, audience and scope', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'JWT',
      JwtConfiguration: { Issuer: 'https://id.example.com/', Audience: ['gpujobs-api'] },
      IdentitySource: ['$request.header.Authorization'],
    });
    const routes = Object.values(template.findResources('AWS::ApiGatewayV2::Route'));
    expect(routes).toHaveLength(5);
    for (const route of routes) {
      expect(route.Properties).toMatchObject({ AuthorizationType: 'JWT', AuthorizationScopes: ['gpujobs/submit'] });
    }
  });

  it('runs in the existing VPC and subnets without creating a network', () => {
    template.resourceCountIs('AWS::EC2::VPC', 0);
    template.resourceCountIs('AWS::EC2::Subnet', 0);
    template.hasResourceProperties('AWS::EC2::SecurityGroup', { VpcId: 'vpc-0123456789abcdef0' });
    template.hasResourceProperties('AWS::Batch::ComputeEnvironment', {
      ComputeResources: Match.objectLike({ Subnets: ['subnet-0123456789abcdef0', 'subnet-0fedcba9876543210'] }),
    });
  });

  it('pins the GPU AMI while keeping the NVIDIA AL2023 image type', () => {
    template.hasResourceProperties('AWS::Batch::ComputeEnvironment', {
      ComputeResources: Match.objectLike({
        Ec2Configuration: [{ ImageType: 'ECS_AL2023_NVIDIA', ImageIdOverride: 'ami-0123456789abcdef0' }],
      }),
    });
  });

  it('cancels Spot jobs waiting for capacity after the configured timeout', () => {
    template.hasResourceProperties('AWS::Batch::JobQueue', {
      JobStateTimeLimitActions: Match.arrayWith([Match.objectLike({ Reason: 'CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY', MaxTimeSeconds: 900 })]),
    });
  });

  it('lets jobs pull only from the allowed ECR registry path', () => {
    const policies = Object.values(template.findResources('AWS::IAM::Policy', {
      Properties: { Roles: [{ Ref: stack.getLogicalId(stack.compute.jobExecutionRole.node.defaultChild as never) }] },
    }));
    const body = JSON.stringify(policies);
    expect(body).toContain(':ecr:eu-west-1:123456789012:repository/team/*');
    expect(body).not.toContain('ghcr.io');
  });

  it('emails alarms through a KMS-encrypted topic that CloudWatch may publish to', () => {
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
    template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: { Statement: Match.arrayWith([Match.objectLike({ Principal: { Service: 'cloudwatch.amazonaws.com' } })]) },
    });
    for (const alarm of Object.values(template.findResources('AWS::CloudWatch::Alarm'))) {
      expect((alarm.Properties as { AlarmActions: unknown[] }).AlarmActions).toHaveLength(1);
    }
  });

  it('deletes the table with the stack when asked to', () => {
    template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Delete', Properties: Match.objectLike({ DeletionProtectionEnabled: false }) });
  });

  it('applies the throttling and log retention settings', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', { DefaultRouteSettings: { ThrottlingRateLimit: 5, ThrottlingBurstLimit: 10 } });
    const retentions = Object.values(template.findResources('AWS::Logs::LogGroup')).map((g) => (g.Properties as { RetentionInDays?: number }).RetentionInDays);
    expect(new Set(retentions)).toEqual(new Set([30]));
  });
});
