import { CloudFormationClient, GetTemplateCommand } from '@aws-sdk/client-cloudformation';
import {
  GetAWSDefaultServiceQuotaCommand,
  GetServiceQuotaCommand,
  NoSuchResourceException,
  ServiceQuotasClient,
} from '@aws-sdk/client-service-quotas';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { INSTANCE_TYPE_SPECS } from '../../core/instance-catalogue.js';
import { DEFAULT_CONFIG } from '../../lib/config.js';
import { cli } from './run-cli.js';

const serviceQuotas = mockClient(ServiceQuotasClient);
const cloudFormation = mockClient(CloudFormationClient);

const credentials = async () => ({ accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' });

const SPOT = { code: 'L-3819A6DF', name: 'All G and VT Spot Instance Requests' };
const ON_DEMAND = { code: 'L-DB2E81BA', name: 'Running On-Demand G and VT instances' };

/** A GetServiceQuota / GetAWSDefaultServiceQuota answer, shaped as the API returns it. */
const quota = (code: string, name: string, value: number) => ({
  Quota: {
    ServiceCode: 'ec2',
    ServiceName: 'Amazon Elastic Compute Cloud (Amazon EC2)',
    QuotaArn: `arn:aws:servicequotas:us-east-1:123456789012:ec2/${code}`,
    QuotaCode: code,
    QuotaName: name,
    Value: value,
    Unit: 'None',
    Adjustable: true,
    GlobalQuota: false,
  },
});

const givenQuotas = (spot: number, onDemand: number) => {
  serviceQuotas.on(GetServiceQuotaCommand, { ServiceCode: 'ec2', QuotaCode: SPOT.code }).resolves(quota(SPOT.code, SPOT.name, spot));
  serviceQuotas
    .on(GetServiceQuotaCommand, { ServiceCode: 'ec2', QuotaCode: ON_DEMAND.code })
    .resolves(quota(ON_DEMAND.code, ON_DEMAND.name, onDemand));
};

/** A template with the stack's two compute environments, as `cdk synth` writes them. */
const templateWith = (spot: string[], onDemand: string[]) =>
  JSON.stringify({
    Resources: {
      GpuComputeSpotComputeEnvironment881D138D: {
        Type: 'AWS::Batch::ComputeEnvironment',
        Properties: { Type: 'MANAGED', ComputeResources: { Type: 'SPOT', InstanceTypes: spot, MaxvCpus: 256, MinvCpus: 0 } },
      },
      GpuComputeOnDemandComputeEnvironmentB6D2F7A8: {
        Type: 'AWS::Batch::ComputeEnvironment',
        Properties: { Type: 'MANAGED', ComputeResources: { Type: 'EC2', InstanceTypes: onDemand, MaxvCpus: 256, MinvCpus: 0 } },
      },
      JobTable: { Type: 'AWS::DynamoDB::Table', Properties: {} },
    },
  });

describe('gpujobs doctor', () => {
  beforeEach(() => {
    serviceQuotas.reset();
    cloudFormation.reset();
  });

  it("exits 0 when both quotas hold the largest of the stack's instance types", async () => {
    // GIVEN a stack whose largest Spot type has 8 vCPUs and largest On-Demand type 16
    cloudFormation
      .on(GetTemplateCommand, { StackName: 'GpuJobs' })
      .resolves({ TemplateBody: templateWith(['g4dn.xlarge', 'g5.2xlarge'], ['g6.4xlarge']) });
    givenQuotas(8, 64);

    // WHEN
    const result = await cli(['doctor', '--stack', 'GpuJobs', '--region', 'us-east-1'], { credentials });

    // THEN
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('GPU vCPU quotas in us-east-1, for the instance types of stack GpuJobs:');
    expect(result.stdout).toContain(
      `PASS ${SPOT.code} ${SPOT.name} (Spot): 8 vCPUs (applied), needs 8 (g5.2xlarge, the largest Spot type)`,
    );
    expect(result.stdout).toContain(
      `PASS ${ON_DEMAND.code} ${ON_DEMAND.name} (On-Demand): 64 vCPUs (applied), needs 16 (g6.4xlarge, the largest On-Demand type)`,
    );
    expect(result.stdout).not.toContain('request-service-quota-increase');
  });

  it('exits 1 and prints the console page and the exact request for a quota of 0', async () => {
    cloudFormation.on(GetTemplateCommand).resolves({ TemplateBody: templateWith(['g4dn.xlarge'], ['g4dn.2xlarge']) });
    givenQuotas(0, 0);

    const result = await cli(['doctor', '--stack', 'GpuJobs', '--region', 'eu-west-1'], { credentials });

    expect(result.code).toBe(1);
    expect(result.stdout).toContain(
      `FAIL ${SPOT.code} ${SPOT.name} (Spot): 0 vCPUs (applied), needs 4 (g4dn.xlarge, the largest Spot type)`,
    );
    expect(result.stdout).toContain(`https://console.aws.amazon.com/servicequotas/home/services/ec2/quotas/${SPOT.code}`);
    expect(result.stdout).toContain(
      `aws service-quotas request-service-quota-increase --service-code ec2 --quota-code ${SPOT.code} --desired-value 4 --region eu-west-1`,
    );
    expect(result.stdout).toContain(
      `aws service-quotas request-service-quota-increase --service-code ec2 --quota-code ${ON_DEMAND.code} --desired-value 8 --region eu-west-1`,
    );
  });

  it("falls back to AWS's default value when the account has no applied value", async () => {
    // GIVEN Service Quotas has no applied value for the Spot quota
    serviceQuotas
      .on(GetServiceQuotaCommand, { QuotaCode: SPOT.code })
      .rejects(
        new NoSuchResourceException({ message: 'The request failed because the specified service quota does not exist.', $metadata: {} }),
      );
    serviceQuotas
      .on(GetAWSDefaultServiceQuotaCommand, { ServiceCode: 'ec2', QuotaCode: SPOT.code })
      .resolves(quota(SPOT.code, SPOT.name, 0));
    serviceQuotas.on(GetServiceQuotaCommand, { QuotaCode: ON_DEMAND.code }).resolves(quota(ON_DEMAND.code, ON_DEMAND.name, 64));

    // WHEN
    const result = await cli(['doctor', '--vcpus', '4', '--region', 'us-east-1', '--json'], { credentials });

    // THEN
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout) as { ok: boolean; quotas: Record<string, unknown>[] };
    expect(report.ok).toBe(false);
    expect(report.quotas).toEqual([
      expect.objectContaining({
        code: SPOT.code,
        vcpus: 0,
        valueSource: 'AWS default',
        neededVcpus: 4,
        neededFor: '--vcpus',
        enough: false,
      }),
      expect.objectContaining({ code: ON_DEMAND.code, vcpus: 64, valueSource: 'applied', enough: true }),
    ]);
    expect(report.quotas[0]).toMatchObject({
      request: {
        consoleUrl: `https://console.aws.amazon.com/servicequotas/home/services/ec2/quotas/${SPOT.code}`,
        command: `aws service-quotas request-service-quota-increase --service-code ec2 --quota-code ${SPOT.code} --desired-value 4 --region us-east-1`,
      },
    });
  });

  it('checks the default instance types when no stack is known', async () => {
    givenQuotas(0, 1000);
    const largest = Math.max(...DEFAULT_CONFIG.gpuInstanceTypes.map((type) => INSTANCE_TYPE_SPECS.types[type]!.vcpus));

    const result = await cli(['doctor', '--region', 'us-east-1'], { credentials });

    expect(result.stdout).toContain('for the instance types of the default gpuInstanceTypes');
    expect(result.stdout).toMatch(new RegExp(`^FAIL ${SPOT.code} .*needs ${largest} \\(`, 'm'));
    expect(cloudFormation.calls()).toHaveLength(0);
  });

  it('says how to set up credentials when there are none, before calling AWS', async () => {
    const noCredentials = async () => {
      throw Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' });
    };

    const result = await cli(['doctor', '--region', 'us-east-1'], { credentials: noCredentials });

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('no AWS credentials to read the Service Quotas');
    expect(result.stderr).toContain('Run `aws configure` or `aws sso login`, or set AWS_PROFILE');
    expect(serviceQuotas.calls()).toHaveLength(0);
  });

  it('names the permissions when Service Quotas refuses the call', async () => {
    serviceQuotas.on(GetServiceQuotaCommand).rejects(
      Object.assign(new Error('User: arn:aws:iam::123456789012:user/dev is not authorized to perform: servicequotas:GetServiceQuota'), {
        name: 'AccessDeniedException',
      }),
    );

    const result = await cli(['doctor', '--vcpus', '4', '--region', 'us-east-1'], { credentials });

    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`cannot read quota ${SPOT.code} (${SPOT.name})`);
    expect(result.stderr).toContain('The caller needs servicequotas:GetServiceQuota and servicequotas:GetAWSDefaultServiceQuota.');
  });
});
