import { describe, expect, it } from 'vitest';
import { clusterOfContainerInstance } from '../../lambdas/shared/instance-types.js';
import { jobDefinitionContent, jobDefinitionName, type JobDefinitionSettings } from '../../lambdas/prepare/job-definitions.js';

const settings: JobDefinitionSettings = {
  namePrefix: 'gpujobs',
  jobRoleArn: 'arn:aws:iam::123456789012:role/job',
  executionRoleArn: 'arn:aws:iam::123456789012:role/execution',
  logGroupName: '/gpujobs/jobs',
};
const spec = { image: 'nvcr.io/nvidia/pytorch:24.05-py3', gpus: 1, vcpus: 4, memoryMiB: 16_384 };
/** `spec`'s name as registered before jobs could size /dev/shm. */
const PRE_SHARED_MEMORY_NAME = 'gpujobs-b19f1aeade1e78b81dfc7c8d94cb1c51';

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

  it('are unchanged for a job without sharedMemoryMiB, so its existing definition is reused', () => {
    // Computed before sharedMemoryMiB existed; a change here would re-register every job's definition.
    expect(jobDefinitionName(spec, settings)).toBe(jobDefinitionName({ ...spec, sharedMemoryMiB: undefined }, settings));
    expect(jobDefinitionName(spec, settings)).toBe(PRE_SHARED_MEMORY_NAME);
  });

  it('differ when sharedMemoryMiB is set, and with its value', () => {
    const withShm = jobDefinitionName({ ...spec, sharedMemoryMiB: 8_192 }, settings);
    expect(withShm).not.toBe(jobDefinitionName(spec, settings));
    expect(jobDefinitionName({ ...spec, sharedMemoryMiB: 4_096 }, settings)).not.toBe(withShm);
  });

  it('differ when the deployment’s roles change, so a redeployed stack never reuses a stale definition', () => {
    expect(jobDefinitionName(spec, { ...settings, jobRoleArn: 'arn:aws:iam::123456789012:role/job-v2' })).not.toBe(
      jobDefinitionName(spec, settings),
    );
  });
});

describe('job definition content', () => {
  it('sizes /dev/shm through linuxParameters.sharedMemorySize when the job sets sharedMemoryMiB', () => {
    const content = jobDefinitionContent({ ...spec, sharedMemoryMiB: 8_192 }, settings);
    expect(content.containerProperties?.linuxParameters).toEqual({ sharedMemorySize: 8_192 });
  });

  it('has no linuxParameters when the job leaves /dev/shm at the default', () => {
    expect(jobDefinitionContent(spec, settings).containerProperties).not.toHaveProperty('linuxParameters');
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
