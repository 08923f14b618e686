import { Match, type Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../lib/app.js';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { fits, parseJobShapes, regionsOffering, shapesOf } from '../../core/instance-catalogue.js';
import { ENV } from '../../core/contract/environment.js';
import { JOB_SPEC_DEFAULTS } from '../../core/spec.js';
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

  it('launches 4-GPU sizes too, so jobs of 2 to 4 GPUs can be placed', () => {
    const fourGpus = DEFAULT_CONFIG.gpuInstanceTypes.filter((type) => /\.12xlarge$/.test(type));

    expect(fourGpus).toEqual(['g4dn.12xlarge', 'g5.12xlarge', 'g6.12xlarge']);
    for (const gpus of [2, 3, 4]) expect(fits({ ...JOB_SPEC_DEFAULTS, gpus }, shapesOf(DEFAULT_CONFIG.gpuInstanceTypes)).fits).toBe(true);
  });

  it('places the default job shape on every default xlarge, not only on larger types', () => {
    for (const type of DEFAULT_CONFIG.gpuInstanceTypes.filter((name) => name.endsWith('.xlarge'))) {
      expect(fits(JOB_SPEC_DEFAULTS, shapesOf([type])).fits, type).toBe(true);
    }
  });

  it('gives the compute environments room for the largest default type', () => {
    expect(DEFAULT_CONFIG.maxVcpus).toBeGreaterThanOrEqual(48);
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

  it('tells the api the largest jobs the configured instance types hold', () => {
    const { stack } = createApp({ context: { 'gpujobs.gpuInstanceTypes': 'g5.xlarge,g5.16xlarge', 'aws:cdk:bundling-stacks': [] } });
    const api = stack.functions.api.function.node.defaultChild as CfnFunction;

    const variables = (stack.resolve(api.environment) as { variables: Record<string, string> }).variables;

    expect(parseJobShapes(variables[ENV.jobShapes]!, ENV.jobShapes)).toEqual([
      { label: 'g5.16xlarge', gpus: 1, vcpus: 64, memoryMiB: 249_036 },
    ]);
  });

  it.each([
    [{}, 'session'],
    [{ 'gpujobs.ownerIdentity': 'role' }, 'role'],
  ])('tells the api whose jobs an assumed-role caller sees (context %o: %s)', (context, expected) => {
    const { stack } = createApp({ context: { ...context, 'aws:cdk:bundling-stacks': [] } });
    const api = stack.functions.api.function.node.defaultChild as CfnFunction;

    const variables = (stack.resolve(api.environment) as { variables: Record<string, string> }).variables;

    expect(variables[ENV.ownerIdentity]).toBe(expected);
  });

  it('reads the gpujobs object given as a JSON string (-c gpujobs=...)', () => {
    const { stack } = createApp({ context: { gpujobs: '{"maxVcpus": 96}', 'aws:cdk:bundling-stacks': [] } });
    expect(stack.compute.onDemandComputeEnvironment.maxvCpus).toBe(96);
  });
});

describe('configuration validation', () => {
  const failsWith = (raw: Record<string, unknown>, message: string) => {
    expect(() => parseConfig(raw)).toThrow(ConfigError);
    expect(() => parseConfig(raw)).toThrow(message);
  };

  it('fails when maxVcpus is not an integer', () => {
    failsWith({ maxVcpus: 'abc' }, 'gpujobs.maxVcpus must be an integer between 1 and 10000. Received "abc".');
    failsWith({ maxVcpus: 1.5 }, 'Received 1.5.');
  });

  it('fails when maxVcpus is 0, a compute environment that can never scale', () => {
    failsWith({ maxVcpus: 0 }, 'gpujobs.maxVcpus must be an integer between 1 and 10000. Received 0.');
  });

  it('fails when maxVcpus is below the vCPUs of the largest instance type, naming both', () => {
    failsWith(
      { maxVcpus: 47 },
      'gpujobs.maxVcpus must be at least 48, the vCPUs of "g4dn.12xlarge", the largest of gpujobs.gpuInstanceTypes. Received 47.',
    );
    failsWith({ maxVcpus: 63, gpuInstanceTypes: ['g5.xlarge', 'g5.16xlarge'] }, 'must be at least 64, the vCPUs of "g5.16xlarge"');
    expect(parseConfig({ maxVcpus: 4, gpuInstanceTypes: ['g5.xlarge'] }).maxVcpus).toBe(4);
  });

  it('fails when an instance type is not in the catalogue, listing the known ones', () => {
    failsWith(
      { gpuInstanceTypes: ['g5.xlarge', 'g7.xlarge'] },
      'gpujobs.gpuInstanceTypes contains "g7.xlarge", which is not in gpujobs\' instance catalogue',
    );
    failsWith({ gpuInstanceTypes: ['g7.xlarge'] }, 'Known types: g4dn.xlarge, g4dn.2xlarge,');
  });

  it("fails when the capacity timeout is below Batch's minimum of 600 seconds", () => {
    failsWith({ capacityTimeoutSeconds: 300 }, 'gpujobs.capacityTimeoutSeconds must be an integer between 600 and 86400. Received 300.');
  });

  it('fails when ownerIdentity is neither role nor session', () => {
    failsWith({ ownerIdentity: 'user' }, 'gpujobs.ownerIdentity must be one of "role", "session". Received "user".');
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
      'gpujobs.maxVcpus must be an integer between 1 and 10000. Received "abc".',
    );
    expect(() => createApp({ context: { gpujobs: '{not json', 'aws:cdk:bundling-stacks': [] } })).toThrow('gpujobs must be a JSON object.');
  });
});

describe('the target region', () => {
  const app = (region: string | undefined, gpujobs?: Record<string, unknown>) =>
    createApp({ ...(region === undefined ? {} : { region }), context: { ...(gpujobs ? { gpujobs } : {}), 'aws:cdk:bundling-stacks': [] } });

  it('fails synthesis naming each default type the region does not offer, and the region', () => {
    expect(() => app('eu-west-1')).toThrow(ConfigError);
    expect(() => app('eu-west-1')).toThrow(
      'gpujobs.gpuInstanceTypes contains "g6.xlarge", "g6.2xlarge", "g6.4xlarge", "g6.8xlarge", "g6.12xlarge", not offered in eu-west-1',
    );
  });

  it('fails synthesis in a region offering none of the types', () => {
    expect(() => app('ap-east-2', { gpuInstanceTypes: ['g5.xlarge'] })).toThrow(
      'gpujobs.gpuInstanceTypes contains "g5.xlarge", not offered in ap-east-2',
    );
  });

  it('synthesizes where every configured type is offered', () => {
    expect(() => app('us-east-1')).not.toThrow();
    expect(() => app('eu-west-1', { gpuInstanceTypes: ['g4dn.xlarge', 'g5.xlarge', 'g5.12xlarge'] })).not.toThrow();
  });

  it('says, without failing, when it cannot check the types against a region', () => {
    const infos = (region: string | undefined) =>
      app(region)
        .stack.node.metadata.filter((entry) => entry.type === 'aws:cdk:info')
        .map((entry) => String(entry.data));

    expect(infos('xx-nowhere-9')).toEqual([expect.stringContaining('not checked against xx-nowhere-9')]);
    expect(infos(undefined)).toEqual([expect.stringContaining('not checked against a region')]);
    expect(infos('us-east-1')).toEqual([]);
  });

  it('is documented: README lists exactly the regions that offer every default type', () => {
    const section = readFileSync('README.md', 'utf8').split('### Regions')[1]!.split('\n## ')[0]!;
    const list = section.split('The default\ntypes are all offered in:')[1]!.trim().split('\n\n')[0]!;

    expect([...list.matchAll(/`([a-z]{2}(?:-[a-z]+)+-\d)`/g)].map((match) => match[1])).toEqual(
      regionsOffering(DEFAULT_CONFIG.gpuInstanceTypes),
    );
  });

  it("is the CLI's target region when the CDK app runs", () => {
    // GIVEN the app entry point run as the CDK CLI runs it, deploying to eu-west-1
    const outdir = mkdtempSync(join(tmpdir(), 'gpujobs-region-'));
    try {
      const run = spawnSync(process.execPath, ['--import', 'tsx', 'bin/gpujobs.ts'], {
        env: {
          ...process.env,
          CDK_DEFAULT_REGION: 'eu-west-1',
          CDK_OUTDIR: outdir,
          CDK_CONTEXT_JSON: JSON.stringify({ 'aws:cdk:bundling-stacks': [] }),
        },
        encoding: 'utf8',
        timeout: 60_000,
      });

      // THEN synthesis stops on the types eu-west-1 does not offer
      expect(run.status).not.toBe(0);
      expect(run.stderr).toContain('not offered in eu-west-1');
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
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
      JobStateTimeLimitActions: Match.arrayWith([
        Match.objectLike({ Reason: 'CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY', MaxTimeSeconds: 900 }),
      ]),
    });
  });

  it('lets jobs pull only from the allowed ECR registry path', () => {
    const policies = Object.values(
      template.findResources('AWS::IAM::Policy', {
        Properties: { Roles: [{ Ref: stack.getLogicalId(stack.compute.jobExecutionRole.node.defaultChild as never) }] },
      }),
    );
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
    template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Delete',
      Properties: Match.objectLike({ DeletionProtectionEnabled: false }),
    });
  });

  it('applies the throttling and log retention settings', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: { ThrottlingRateLimit: 5, ThrottlingBurstLimit: 10 },
    });
    const retentions = Object.values(template.findResources('AWS::Logs::LogGroup')).map(
      (g) => (g.Properties as { RetentionInDays?: number }).RetentionInDays,
    );
    expect(new Set(retentions)).toEqual(new Set([30]));
  });
});
