import { describe, expect, it } from 'vitest';
import { endedRunsOf, interpretAttemptResult, interpretSubmissionResult, isTaskError } from '../../core/batch-result.js';

const CE = 'AWSBatch-gpujobs-spot-CE-QHSw71AzV6gbcMc5-34b9c50a-cf83-38e4-94f1-4b7b6119425a';
const containerInstanceArn = `arn:aws:ecs:us-east-1:123456789012:container-instance/${CE}/34fd0f5536dc43bcbc15153177602533`;
const taskArn = `arn:aws:ecs:us-east-1:123456789012:task/${CE}/768909f634d64e42976ae404e740b386`;
const logStreamName = 'gpujobs/default/768909f634d64e42976ae404e740b386';

// What Step Functions puts in the state after a successful batch:submitJob.sync (PascalCase JobDetail).
const succeededOutput = {
  Attempts: [
    {
      Container: {
        ContainerInstanceArn: containerInstanceArn,
        ExitCode: 0,
        LogStreamName: logStreamName,
        NetworkInterfaces: [],
        TaskArn: taskArn,
      },
      StartedAt: 1765040596993,
      StatusReason: 'Essential container in task exited',
      StoppedAt: 1765044196993,
    },
  ],
  Container: {
    Command: ['python', 'train.py'],
    ContainerInstanceArn: containerInstanceArn,
    Environment: [{ Name: 'GPUJOBS_JOB_ID', Value: '01JD7ZK6E8Q6V0YF3W4H2Z9X1M' }],
    ExitCode: 0,
    Image: 'pytorch/pytorch:2.3',
    LogStreamName: logStreamName,
    ResourceRequirements: [{ Type: 'GPU', Value: '1' }],
    TaskArn: taskArn,
  },
  CreatedAt: 1765040500000,
  DependsOn: [],
  JobArn: 'arn:aws:batch:us-east-1:123456789012:job/7a1b3c9e-6f0e-4d1e-9a51-0c3b0f1e2d4c',
  JobDefinition: 'arn:aws:batch:us-east-1:123456789012:job-definition/gpujobs-3f2a:1',
  JobId: '7a1b3c9e-6f0e-4d1e-9a51-0c3b0f1e2d4c',
  JobName: 'gpujobs-01JD7ZK6E8Q6V0YF3W4H2Z9X1M-1',
  JobQueue: 'arn:aws:batch:us-east-1:123456789012:job-queue/gpujobs-spot',
  StartedAt: 1765040596993,
  Status: 'SUCCEEDED',
  StatusReason: 'Essential container in task exited',
  StoppedAt: 1765044196993,
  Tags: {},
};

// The Cause of a States.TaskFailed after a Spot reclaim: the same JobDetail, as JSON text.
const reclaimedDetail = {
  Attempts: [
    {
      Container: { ContainerInstanceArn: containerInstanceArn, LogStreamName: logStreamName, NetworkInterfaces: [], TaskArn: taskArn },
      StartedAt: 1765040596993,
      StatusReason: 'Host EC2 (instance i-0737c70432d64f82a) terminated.',
      StoppedAt: 1765040671155,
    },
  ],
  Container: { ContainerInstanceArn: containerInstanceArn, LogStreamName: logStreamName, TaskArn: taskArn },
  JobId: '9d0e8f1a-2b3c-4d5e-8f70-123456789abc',
  JobName: 'gpujobs-01JD7ZK6E8Q6V0YF3W4H2Z9X1M-1',
  StartedAt: 1765040596993,
  Status: 'FAILED',
  StatusReason: 'Host EC2 (instance i-0737c70432d64f82a) terminated.',
  StoppedAt: 1765040671155,
};

describe('interpretAttemptResult', () => {
  it('reads a successful submitJob.sync output (PascalCase job detail)', () => {
    expect(interpretAttemptResult(succeededOutput)).toEqual({
      succeeded: true,
      batchJobId: '7a1b3c9e-6f0e-4d1e-9a51-0c3b0f1e2d4c',
      batchStatus: 'SUCCEEDED',
      exitCode: 0,
      statusReason: 'Essential container in task exited',
      startedAt: '2025-12-06T17:03:16.993Z',
      stoppedAt: '2025-12-06T18:03:16.993Z',
      logStreamName,
      containerInstanceArn,
    });
  });

  it("reads a DescribeJobs job detail in the API's camelCase (local mode)", () => {
    const detail = {
      jobId: 'local-1',
      jobName: 'gpujobs-01JD7ZK6E8Q6V0YF3W4H2Z9X1M-2',
      status: 'FAILED',
      statusReason: 'Essential container in task exited',
      startedAt: 1765040596993,
      stoppedAt: 1765040600000,
      container: { exitCode: 3, logStreamName: 'local/attempt-2', containerInstanceArn: 'local' },
      attempts: [{ container: { exitCode: 3 }, startedAt: 1765040596993, stoppedAt: 1765040600000 }],
    };
    expect(interpretAttemptResult(detail)).toMatchObject({
      succeeded: false,
      batchJobId: 'local-1',
      exitCode: 3,
      logStreamName: 'local/attempt-2',
      failureClass: 'APP_ERROR',
    });
  });

  it('classifies a Spot reclaim from the TaskError Cause', () => {
    const result = interpretAttemptResult({ Error: 'States.TaskFailed', Cause: JSON.stringify(reclaimedDetail) });
    expect(result).toEqual({
      succeeded: false,
      batchJobId: '9d0e8f1a-2b3c-4d5e-8f70-123456789abc',
      batchStatus: 'FAILED',
      statusReason: 'Host EC2 (instance i-0737c70432d64f82a) terminated.',
      startedAt: '2025-12-06T17:03:16.993Z',
      stoppedAt: '2025-12-06T17:04:31.155Z',
      logStreamName,
      containerInstanceArn,
      failureClass: 'SPOT_RECLAIM',
    });
  });

  it('classifies a container that exited non-zero, with its exit code', () => {
    const detail = {
      ...reclaimedDetail,
      StatusReason: 'Essential container in task exited',
      Container: { ...reclaimedDetail.Container, ExitCode: 1 },
      Attempts: [{ ...reclaimedDetail.Attempts[0], StatusReason: 'Essential container in task exited', Container: { ExitCode: 1 } }],
    };
    expect(interpretAttemptResult({ Error: 'States.TaskFailed', Cause: JSON.stringify(detail) })).toMatchObject({
      succeeded: false,
      exitCode: 1,
      failureClass: 'APP_ERROR',
    });
  });

  it('classifies a job cancelled for lack of capacity, which never started', () => {
    const detail = {
      JobId: 'c0ffee00-0000-4000-8000-000000000001',
      JobName: 'gpujobs-01JD7ZK6E8Q6V0YF3W4H2Z9X1M-1',
      Status: 'FAILED',
      StatusReason: 'Canceled by JobStateTimeLimit action due to reason: CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY',
      Attempts: [],
      Container: {},
      CreatedAt: 1765040500000,
      StoppedAt: 1765041100000,
    };
    const result = interpretAttemptResult({ Error: 'States.TaskFailed', Cause: JSON.stringify(detail) });
    expect(result.failureClass).toBe('NO_CAPACITY');
    expect(result.startedAt).toBeUndefined();
    expect(result.exitCode).toBeUndefined();
  });

  it('reads the container reason of an image that cannot be pulled', () => {
    const detail = {
      JobId: 'c0ffee00-0000-4000-8000-000000000002',
      Status: 'FAILED',
      StatusReason: 'Task failed to start',
      Container: { Reason: 'CannotPullContainerError: failed to resolve ref docker.io/library/nosuch:latest: not found' },
    };
    expect(interpretAttemptResult({ Error: 'States.TaskFailed', Cause: JSON.stringify(detail) })).toMatchObject({
      failureClass: 'MISCONFIGURATION',
      containerReason: expect.stringMatching(/^CannotPullContainerError/),
    });
  });

  it('falls back to the last attempt when the job-level fields are absent', () => {
    const detail = {
      JobId: 'j',
      Status: 'FAILED',
      Attempts: [
        { StatusReason: 'Host EC2 (instance i-1) terminated.', StartedAt: 1000, StoppedAt: 2000, Container: { ExitCode: 137 } },
        {
          StatusReason: 'Job attempt duration exceeded timeout',
          StartedAt: 3000,
          StoppedAt: 4000,
          Container: { ExitCode: 143, LogStreamName: 'last' },
        },
      ],
    };
    expect(interpretAttemptResult({ Error: 'States.TaskFailed', Cause: JSON.stringify(detail) })).toMatchObject({
      statusReason: 'Job attempt duration exceeded timeout',
      exitCode: 143,
      logStreamName: 'last',
      startedAt: new Date(3000).toISOString(),
      failureClass: 'TIMEOUT',
    });
  });

  it('treats a task timeout with a non-JSON Cause as TIMEOUT', () => {
    expect(interpretAttemptResult({ Error: 'States.Timeout', Cause: 'Task timed out after 90000 seconds' })).toEqual({
      succeeded: false,
      statusReason: 'States.Timeout: Task timed out after 90000 seconds',
      failureClass: 'TIMEOUT',
    });
  });

  it('treats a rejected SubmitJob as MISCONFIGURATION', () => {
    const result = interpretAttemptResult({
      Error: 'Batch.ClientException',
      Cause: 'Job definition gpujobs-3f2a:1 is INACTIVE (Service: AWSBatch; Status Code: 400; Error Code: ClientException)',
    });
    expect(result.failureClass).toBe('MISCONFIGURATION');
    expect(result.succeeded).toBe(false);
  });

  it('treats an unknown error without a job as APP_ERROR, never as an infrastructure failure', () => {
    expect(interpretAttemptResult({ Error: 'States.Runtime' }).failureClass).toBe('APP_ERROR');
    expect(interpretAttemptResult({ Error: 'States.TaskFailed', Cause: '{not json' }).failureClass).toBe('APP_ERROR');
  });

  it('classifies any failure as CANCELLED once the owner asked to cancel', () => {
    const result = interpretAttemptResult(
      { Error: 'States.TaskFailed', Cause: JSON.stringify(reclaimedDetail) },
      { cancelRequested: true },
    );
    expect(result.failureClass).toBe('CANCELLED');
  });

  it('never reports a caught task error as a success', () => {
    const cause = JSON.stringify({ ...reclaimedDetail, Status: 'SUCCEEDED' });
    expect(interpretAttemptResult({ Error: 'States.TaskFailed', Cause: cause }).succeeded).toBe(false);
  });
});

describe('isTaskError', () => {
  it('tells a caught error from a job detail', () => {
    expect(isTaskError({ Error: 'States.TaskFailed', Cause: '{}' })).toBe(true);
    expect(isTaskError(succeededOutput)).toBe(false);
    expect(isTaskError(null)).toBe(false);
  });
});

// Batch lost the host under the first run and ran the job again in place; the second run succeeded.
const retriedInPlaceOutput = {
  ...succeededOutput,
  Attempts: [
    {
      Container: {
        ContainerInstanceArn: `${containerInstanceArn}-lost`,
        LogStreamName: 'gpujobs/default/first-run',
        TaskArn: `${taskArn}-1`,
      },
      StartedAt: 1765040000000,
      StatusReason: 'Host EC2 (instance i-0737c70432d64f82a) terminated.',
      StoppedAt: 1765040300000,
    },
    ...succeededOutput.Attempts,
  ],
  RetryStrategy: { Attempts: 3 },
};

describe('interpretSubmissionResult', () => {
  it('makes each run Batch listed an attempt of its own: the reclaimed run, then the one that succeeded', () => {
    const [reclaimedRun, lastRun, ...more] = interpretSubmissionResult(retriedInPlaceOutput);

    expect(more).toEqual([]);
    expect(reclaimedRun).toEqual({
      succeeded: false,
      batchJobId: retriedInPlaceOutput.JobId,
      batchStatus: 'FAILED',
      statusReason: 'Host EC2 (instance i-0737c70432d64f82a) terminated.',
      startedAt: new Date(1765040000000).toISOString(),
      stoppedAt: new Date(1765040300000).toISOString(),
      logStreamName: 'gpujobs/default/first-run',
      containerInstanceArn: `${containerInstanceArn}-lost`,
      failureClass: 'SPOT_RECLAIM',
    });
    expect(lastRun).toMatchObject({ succeeded: true, exitCode: 0, logStreamName, startedAt: '2025-12-06T17:03:16.993Z' });
    expect(interpretAttemptResult(retriedInPlaceOutput)).toEqual(lastRun);
  });

  it('reads the same runs from the camelCase detail of local mode and of the state change events', () => {
    const detail = {
      jobId: 'local-1',
      status: 'FAILED',
      statusReason: 'Essential container in task exited',
      container: { exitCode: 2, logStreamName: 'second' },
      attempts: [
        { container: { logStreamName: 'first' }, startedAt: 1000, stoppedAt: 2000, statusReason: 'Host EC2 (instance i-1) terminated.' },
        {
          container: { exitCode: 2, logStreamName: 'second' },
          startedAt: 3000,
          stoppedAt: 4000,
          statusReason: 'Essential container in task exited',
        },
      ],
    };

    expect(interpretSubmissionResult(detail).map(({ failureClass, logStreamName }) => ({ failureClass, logStreamName }))).toEqual([
      { failureClass: 'SPOT_RECLAIM', logStreamName: 'first' },
      { failureClass: 'APP_ERROR', logStreamName: 'second' },
    ]);
  });

  it('counts a retry still waiting when the queue cancelled it for lack of capacity as one more attempt, which never started', () => {
    const detail = {
      JobId: 'b-2',
      Status: 'FAILED',
      StatusReason: 'Canceled by JobStateTimeLimit action due to reason: CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY',
      Attempts: [reclaimedDetail.Attempts[0]],
      RetryStrategy: { Attempts: 3 },
    };

    const results = interpretSubmissionResult({ Error: 'States.TaskFailed', Cause: JSON.stringify(detail) });

    expect(results.map((result) => result.failureClass)).toEqual(['SPOT_RECLAIM', 'NO_CAPACITY']);
    expect(results[1]).toEqual({
      succeeded: false,
      batchJobId: 'b-2',
      batchStatus: 'FAILED',
      statusReason: detail.StatusReason,
      failureClass: 'NO_CAPACITY',
    });
  });

  it('adds no attempt after the last run when Batch had no attempt left', () => {
    const detail = { ...reclaimedDetail, StatusReason: 'Job failed after its last attempt', RetryStrategy: { Attempts: 1 } };

    expect(interpretSubmissionResult({ Error: 'States.TaskFailed', Cause: JSON.stringify(detail) })).toHaveLength(1);
  });

  it('applies a pending cancel to the last attempt only: earlier runs stay reclaims', () => {
    const detail = {
      ...retriedInPlaceOutput,
      Status: 'FAILED',
      StatusReason: 'Terminated by gpujobs: cancelled by owner',
    };

    const results = interpretSubmissionResult({ Error: 'States.TaskFailed', Cause: JSON.stringify(detail) }, { cancelRequested: true });

    expect(results.map((result) => result.failureClass)).toEqual(['SPOT_RECLAIM', 'CANCELLED']);
  });

  it('is one attempt for a task error without a job detail', () => {
    expect(interpretSubmissionResult({ Error: 'States.Timeout' })).toHaveLength(1);
  });
});

describe('endedRunsOf', () => {
  it('lists the runs a still-going Batch job has ended, each as a failed attempt', () => {
    const waiting = {
      jobId: 'b-3',
      status: 'RUNNABLE',
      attempts: [{ startedAt: 1000, stoppedAt: 2000, statusReason: 'Host EC2 (instance i-1) terminated.' }],
    };

    expect(endedRunsOf(waiting)).toEqual([
      {
        succeeded: false,
        batchJobId: 'b-3',
        batchStatus: 'FAILED',
        statusReason: 'Host EC2 (instance i-1) terminated.',
        startedAt: new Date(1000).toISOString(),
        stoppedAt: new Date(2000).toISOString(),
        failureClass: 'SPOT_RECLAIM',
      },
    ]);
    expect(endedRunsOf({ jobId: 'b-4', status: 'RUNNING', attempts: [] })).toEqual([]);
  });
});
