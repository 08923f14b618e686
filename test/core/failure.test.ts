import { describe, expect, it } from 'vitest';
import type { FailureClass } from '../../core/job.js';
import { CANCEL_TERMINATE_REASON, classifyAttemptFailure, describeFailure, type AttemptFailureInput } from '../../core/failure.js';

// Reasons as AWS Batch writes them (DescribeJobs statusReason / container.reason).
const FIXTURES: [string, AttemptFailureInput, FailureClass][] = [
  ['Spot reclaim of the host', { statusReason: 'Host EC2 (instance i-0abc123) terminated.' }, 'SPOT_RECLAIM'],
  [
    'Spot reclaim, container killed with it',
    { statusReason: 'Host EC2 (instance i-0737c70432d64f82a) terminated.', exitCode: 137 },
    'SPOT_RECLAIM',
  ],
  [
    'stuck RUNNABLE for lack of capacity, cancelled by the queue',
    { statusReason: 'Canceled by JobStateTimeLimit action due to reason: CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY' },
    'NO_CAPACITY',
  ],
  [
    'the same, in the "Terminated by" wording',
    { statusReason: 'Terminated by JobStateTimeLimit action due to reason: CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY' },
    'NO_CAPACITY',
  ],
  [
    'the RUNNABLE-stuck reason itself',
    {
      statusReason: 'CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - Service cannot fulfill the capacity requested for instance type [g5.xlarge]',
    },
    'NO_CAPACITY',
  ],
  ['no instance type fits the job', { statusReason: 'MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT' }, 'MISCONFIGURATION'],
  [
    'compute environment too small, cancelled by the queue',
    { statusReason: 'Canceled by JobStateTimeLimit action due to reason: MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE' },
    'MISCONFIGURATION',
  ],
  [
    'service role lacks permissions',
    { statusReason: 'MISCONFIGURATION:SERVICE_ROLE_PERMISSIONS - Batch cannot describe scaling activities' },
    'MISCONFIGURATION',
  ],
  [
    'image cannot be pulled',
    {
      statusReason: 'Task failed to start',
      containerReason:
        'CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref docker.io/library/nosuch:latest: not found',
    },
    'MISCONFIGURATION',
  ],
  [
    'image not in local mode’s podman store (pull never)',
    {
      statusReason: 'CannotPullContainerError: localhost/does-not-exist:1: image not known',
      containerReason: 'CannotPullContainerError: localhost/does-not-exist:1: image not known',
    },
    'MISCONFIGURATION',
  ],
  [
    'image unreachable from local mode’s podman (no registry)',
    {
      statusReason:
        'CannotPullContainerError: initializing source docker://localhost/does-not-exist:1: pinging container registry localhost: Get "https://localhost/v2/": dial tcp 127.0.0.1:443: connect: connection refused',
    },
    'MISCONFIGURATION',
  ],
  [
    'container cannot start',
    {
      statusReason: 'Task failed to start',
      containerReason:
        'CannotStartContainerError: Error response from daemon: failed to create shim task: exec: "trian.py": executable file not found in $PATH',
    },
    'MISCONFIGURATION',
  ],
  [
    'task resources cannot be initialized',
    {
      statusReason: 'Task failed to start',
      containerReason: 'ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed',
    },
    'MISCONFIGURATION',
  ],
  [
    'command and environment too long for the container overrides',
    { statusReason: 'Container Overrides length must be at most 8192' },
    'MISCONFIGURATION',
  ],
  [
    'a submission over 30 KiB, refused by SubmitJob',
    { statusReason: 'Batch.ClientException: Job size must be less than 30 KiB' },
    'MISCONFIGURATION',
  ],
  ['the application exits 1', { statusReason: 'Essential container in task exited', exitCode: 1 }, 'APP_ERROR'],
  ['the application segfaults', { statusReason: 'Essential container in task exited', exitCode: 139 }, 'APP_ERROR'],
  [
    'the container is OOM-killed',
    {
      statusReason: 'Essential container in task exited',
      exitCode: 137,
      containerReason: 'OutOfMemoryError: Container killed due to memory usage',
    },
    'APP_ERROR',
  ],
  ['the attempt outlives its timeout', { statusReason: 'Job attempt duration exceeded timeout' }, 'TIMEOUT'],
  ['gpujobs terminated it for a cancel', { statusReason: CANCEL_TERMINATE_REASON }, 'CANCELLED'],
  ['the execution was stopped', { statusReason: 'Execution was stopped' }, 'CANCELLED'],
  [
    'cancel requested while Batch reports a reclaim',
    { statusReason: 'Host EC2 (instance i-0abc123) terminated.', cancelRequested: true },
    'CANCELLED',
  ],
  ['cancel requested with no reason at all', { cancelRequested: true }, 'CANCELLED'],
  ['a reason nobody has seen before', { statusReason: 'Something new went sideways' }, 'APP_ERROR'],
  ['no information at all', {}, 'APP_ERROR'],
];

describe('classifyAttemptFailure', () => {
  it.each(FIXTURES)('classifies %s', (_case, input, expected) => {
    expect(classifyAttemptFailure(input)).toBe(expected);
  });

  it('does not mistake the word CAPACITY inside another reason for a capacity shortage', () => {
    expect(
      classifyAttemptFailure({ statusReason: 'Essential container in task exited', containerReason: 'INSUFFICIENT_INSTANCE_CAPACITY_X' }),
    ).toBe('APP_ERROR');
  });

  it('does not treat a reclaim-like message from the application as a reclaim', () => {
    expect(
      classifyAttemptFailure({
        statusReason: 'Essential container in task exited',
        exitCode: 1,
        containerReason: 'Error: Host EC2 (instance i-1) terminated.',
      }),
    ).toBe('APP_ERROR');
  });
});

describe('describeFailure', () => {
  it("explains a reclaim and keeps Batch's reason", () => {
    expect(describeFailure('SPOT_RECLAIM', 'Host EC2 (instance i-0abc123) terminated.')).toBe(
      'The instance running the attempt was reclaimed (Host EC2 (instance i-0abc123) terminated.)',
    );
  });

  it('tells the owner to raise memoryMiB after an OOM kill', () => {
    const text = describeFailure('APP_ERROR', 'Essential container in task exited', {
      exitCode: 137,
      containerReason: 'OutOfMemoryError: Container killed due to memory usage',
    });
    expect(text).toMatch(/ran out of memory; submit it again with a larger memoryMiB/);
    expect(text).toContain('OutOfMemoryError: Container killed due to memory usage');
  });

  it('names the exit code of a failed container', () => {
    expect(describeFailure('APP_ERROR', 'Essential container in task exited', { exitCode: 2 })).toBe(
      'The container exited with code 2 (Essential container in task exited)',
    );
  });

  it('says which resource requirement cannot be met', () => {
    expect(describeFailure('MISCONFIGURATION', 'MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT')).toMatch(/gpus, vcpus and memoryMiB/);
  });

  it.each(['Container Overrides length must be at most 8192', 'Batch.ClientException: Job size must be less than 30 KiB'])(
    'tells the owner to shorten command and environment after "%s"',
    (reason) => {
      expect(describeFailure('MISCONFIGURATION', reason)).toBe(
        `The job's command and environment are longer than AWS Batch accepts; submit it again with a shorter command or fewer or shorter environment variables (${reason})`,
      );
    },
  );

  it('works without any reason', () => {
    expect(describeFailure('TIMEOUT')).toBe('The attempt ran longer than timeoutSeconds');
  });

  it('clips a very long Batch reason', () => {
    const text = describeFailure('APP_ERROR', 'x'.repeat(5000));
    expect(text.length).toBeLessThan(600);
  });
});
