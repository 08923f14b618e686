/**
 * The job execution role's ECR pull grant and the API's image check read the same
 * `allowedRegistries`: every ECR image the API admits can be pulled, and nothing the API
 * refuses is granted beyond what a bare host entry means (the whole registry).
 */
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { describe, expect, it } from 'vitest';
import { isImageAllowed, parseImageReference } from '../../core/image-reference.js';
import { GpuCompute } from '../../lib/gpu-compute.js';

const ACCOUNT = '123456789012';
const REGION = 'us-east-1';
const ECR = `${ACCOUNT}.dkr.ecr.${REGION}.amazonaws.com`;

/** The repository ARNs the job execution role may pull from, with the partition resolved. */
function pullableRepositoryPatterns(allowedRegistries: readonly string[]): string[] {
  const stack = new Stack(new App(), 'Grant', { env: { account: ACCOUNT, region: REGION } });
  const vpc = new ec2.Vpc(stack, 'Vpc', {
    maxAzs: 1,
    natGateways: 0,
    subnetConfiguration: [{ name: 'public', subnetType: ec2.SubnetType.PUBLIC }],
  });
  new GpuCompute(stack, 'Compute', {
    vpc,
    subnets: { subnetType: ec2.SubnetType.PUBLIC },
    securityGroup: new ec2.SecurityGroup(stack, 'Instances', { vpc }),
    instanceTypes: ['g5.xlarge'],
    maxVcpus: 16,
    capacityTimeout: Duration.seconds(600),
    logRetention: logs.RetentionDays.ONE_WEEK,
    allowedRegistries,
  });
  const policies = Template.fromStack(stack).findResources('AWS::IAM::Policy');
  const statements = Object.values(policies).flatMap(
    (policy) =>
      (policy as { Properties: { PolicyDocument: { Statement: { Action: string | string[]; Resource: unknown }[] } } }).Properties
        .PolicyDocument.Statement,
  );
  const pull = statements.filter((statement) => [statement.Action].flat().includes('ecr:BatchGetImage'));
  return pull.flatMap((statement) => [statement.Resource].flat().map(resolvePartition));
}

function resolvePartition(resource: unknown): string {
  if (typeof resource === 'string') return resource;
  const join = (resource as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  if (!join) throw new Error(`unexpected resource ${JSON.stringify(resource)}`);
  return join[1]
    .map((part) => (typeof part === 'string' ? part : (part as { Ref?: string }).Ref === 'AWS::Partition' ? 'aws' : JSON.stringify(part)))
    .join(join[0]);
}

/** IAM resource matching: `*` is any run of characters, `/` included; `?` is one character. */
function iamMatches(pattern: string, arn: string): boolean {
  const regex = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${regex}$`).test(arn);
}

const IMAGES = [
  `${ECR}/team`,
  `${ECR}/team/model:1`,
  `${ECR}/team/nested/model:1`,
  `${ECR}/teammate/model:1`,
  `${ECR}/team-b/model:1`,
  `${ECR}/other:1`,
  `${ECR}/team/sub/x`,
  `${ECR}/team/subway/x`,
];

describe('the ECR pull grant of the job execution role', () => {
  it.each([[[`${ECR}/team`]], [[`${ECR}/team/sub`]], [[ECR]], [[`${ECR}/team`, `${ECR}/other`, 'ghcr.io/acme']]])(
    'allows pulling exactly the ECR images the API admits with %j',
    (allowedRegistries) => {
      const patterns = pullableRepositoryPatterns(allowedRegistries);

      for (const image of IMAGES) {
        const reference = parseImageReference(image)!;
        const arn = `arn:aws:ecr:${REGION}:${ACCOUNT}:repository/${reference.repository}`;
        const pullable = patterns.some((pattern) => iamMatches(pattern, arn));
        expect({ image, pullable }).toEqual({ image, pullable: isImageAllowed(reference, allowedRegistries) });
      }
    },
  );

  it('grants no ECR repository of another account or region', () => {
    const patterns = pullableRepositoryPatterns([`${ECR}/team`]);

    expect(patterns.some((pattern) => iamMatches(pattern, `arn:aws:ecr:eu-west-1:${ACCOUNT}:repository/team/x`))).toBe(false);
    expect(patterns.some((pattern) => iamMatches(pattern, `arn:aws:ecr:${REGION}:210987654321:repository/team/x`))).toBe(false);
  });

  it('grants every repository of the account and region when no registry is configured', () => {
    expect(pullableRepositoryPatterns([])).toEqual([`arn:aws:ecr:${REGION}:${ACCOUNT}:repository/*`]);
  });
});
