import { describe, expect, it } from 'vitest';
import { clusterOfContainerInstance } from '../../lambdas/shared/instance-types.js';
import { jobDefinitionName, type JobDefinitionSettings } from '../../lambdas/prepare/job-definitions.js';

const settings: JobDefinitionSettings = {
  namePrefix: 'gpujobs',
  jobRoleArn: 'arn:aws:iam::123456789012:role/job',
  executionRoleArn: 'arn:aws:iam::123456789012:role/execution',
  logGroupName: '/gpujobs/jobs',
};
const spec = { image: 'nvcr.io/nvidia/pytorch:24.05-py3', gpus: 1, vcpus: 4, memoryMiB: 16_384 };

describe('job definition names', () => {
  it('are the prefix, a hyphen and a 32-hex-digit hash, within Batch’s 128 characters', () => {
    const name = jobDefinitionName(spec, settings);
    expect(name).toMatch(/^gpujobs-[0-9a-f]{32}$/);
    expect(name.length).toBeLessThanOrEqual(128);
  });

  it('do not double the separator when the prefix already ends in one', () => {
    expect(jobDefinitionName(spec, { ...settings, namePrefix: 'gpujobs-' })).toMatch(/^gpujobs-[0-9a-f]{32}$/);
  });

  it('are equal for equal image and resources, and differ when either changes', () => {
    expect(jobDefinitionName({ ...spec }, settings)).toBe(jobDefinitionName(spec, settings));
    expect(jobDefinitionName({ ...spec, image: 'nvcr.io/nvidia/pytorch:24.06-py3' }, settings)).not.toBe(jobDefinitionName(spec, settings));
    expect(jobDefinitionName({ ...spec, memoryMiB: 32_768 }, settings)).not.toBe(jobDefinitionName(spec, settings));
  });

  it('differ when the deployment’s roles change, so a redeployed stack never reuses a stale definition', () => {
    expect(jobDefinitionName(spec, { ...settings, jobRoleArn: 'arn:aws:iam::123456789012:role/job-v2' })).not.toBe(
      jobDefinitionName(spec, settings),
    );
  });
});

describe('clusterOfContainerInstance', () => {
  it('reads the cluster from a long container instance ARN', () => {
    expect(clusterOfContainerInstance('arn:aws:ecs:eu-west-1:123456789012:container-instance/AWSBatch-spot-ce-1234/5e6f7a8b')).toBe(
      'AWSBatch-spot-ce-1234',
    );
  });

  it('gives undefined for the old ARN format, which does not name the cluster', () => {
    expect(clusterOfContainerInstance('arn:aws:ecs:eu-west-1:123456789012:container-instance/5e6f7a8b')).toBeUndefined();
  });
});
