/**
 * What the `batch:submitJob.sync` integration hands back, shaped as Step Functions does:
 * the DescribeJobs JobDetail with PascalCase members on success; on failure an error named
 * `States.TaskFailed` whose Cause is that JobDetail as JSON; on a Batch API failure an error
 * named after the service exception.
 */
import { BatchApiError, BatchJobFailedError, type BatchSubmitJobParameters } from '../../lib/workflow/batch-task.js';

/** What a Batch task override receives: the state's Parameters, resolved. */
export type SubmitJobRequest = BatchSubmitJobParameters;

export interface BatchAttemptFixture {
  readonly statusReason: string;
  readonly exitCode?: number;
  readonly containerReason?: string;
  readonly instanceId?: string;
}

let jobCounter = 0;
const START = Date.parse('2025-01-01T00:00:00Z');

function containerDetail(request: SubmitJobRequest, attempt: BatchAttemptFixture | undefined, jobId: string) {
  return {
    Image: '123456789012.dkr.ecr.us-east-1.amazonaws.com/trainer:latest',
    Command: request.ContainerOverrides.Command,
    Environment: request.ContainerOverrides.Environment,
    ResourceRequirements: [
      { Type: 'GPU', Value: '1' },
      { Type: 'VCPU', Value: '4' },
      { Type: 'MEMORY', Value: '16384' },
    ],
    ...(attempt?.exitCode !== undefined && { ExitCode: attempt.exitCode }),
    ...(attempt?.containerReason !== undefined && { Reason: attempt.containerReason }),
    LogStreamName: `gpujobs/default/${jobId.slice(0, 32)}`,
    ContainerInstanceArn: `arn:aws:ecs:us-east-1:123456789012:container-instance/gpujobs/${jobId}`,
    TaskArn: `arn:aws:ecs:us-east-1:123456789012:task/gpujobs/${jobId}`,
    NetworkInterfaces: [],
  };
}

/** A DescribeJobs JobDetail for the submitted job, ended with `status` after the given Batch attempts. */
export function batchJobDetail(
  request: SubmitJobRequest,
  status: 'SUCCEEDED' | 'FAILED',
  attempts: readonly BatchAttemptFixture[],
  jobStatusReason?: string,
): Record<string, unknown> {
  jobCounter += 1;
  const jobId = `4f6c${String(jobCounter).padStart(4, '0')}-1a2b-4c3d-8e9f-0123456789ab`;
  const last = attempts.at(-1);
  return {
    JobArn: `arn:aws:batch:us-east-1:123456789012:job/${jobId}`,
    JobName: request.JobName,
    JobId: jobId,
    JobQueue: request.JobQueue,
    JobDefinition: request.JobDefinition,
    Status: status,
    ...((jobStatusReason ?? last?.statusReason) !== undefined && { StatusReason: jobStatusReason ?? last?.statusReason }),
    CreatedAt: START,
    ...(attempts.length > 0 && { StartedAt: START + 60_000, StoppedAt: START + 60_000 + attempts.length * 600_000 }),
    Attempts: attempts.map((attempt, i) => ({
      Container: {
        ContainerInstanceArn: `arn:aws:ecs:us-east-1:123456789012:container-instance/gpujobs/${attempt.instanceId ?? 'i-0abc'}`,
        TaskArn: `arn:aws:ecs:us-east-1:123456789012:task/gpujobs/${jobId}-${i}`,
        ...(attempt.exitCode !== undefined && { ExitCode: attempt.exitCode }),
        ...(attempt.containerReason !== undefined && { Reason: attempt.containerReason }),
        LogStreamName: `gpujobs/default/${jobId}-${i}`,
        NetworkInterfaces: [],
      },
      StartedAt: START + 60_000 + i * 600_000,
      StoppedAt: START + 60_000 + (i + 1) * 600_000,
      StatusReason: attempt.statusReason,
    })),
    Container: containerDetail(request, last, jobId),
    Tags: request.Tags ?? {},
    Timeout: { AttemptDurationSeconds: request.Timeout.AttemptDurationSeconds },
    ...(request.RetryStrategy !== undefined && { RetryStrategy: request.RetryStrategy }),
    PlatformCapabilities: ['EC2'],
    PropagateTags: true,
  };
}

/** Real Batch reasons, as the DESIGN failure table quotes them. */
export const REASON = {
  hostTerminated: (instanceId = 'i-0abc') => `Host EC2 (instance ${instanceId}) terminated.`,
  noCapacity: 'Canceled by JobStateTimeLimit action due to reason: CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY',
  misconfiguration: 'Canceled by JobStateTimeLimit action due to reason: MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT',
  containerExited: 'Essential container in task exited',
  timeout: 'Job attempt duration exceeded timeout',
} as const;

/** The container exited 0. */
export const succeeded = (request: SubmitJobRequest) =>
  batchJobDetail(request, 'SUCCEEDED', [{ statusReason: REASON.containerExited, exitCode: 0 }]);

const lostHost = (run: number): BatchAttemptFixture => {
  const instanceId = `i-0${run.toString(16).padStart(3, '0')}`;
  return { statusReason: REASON.hostTerminated(instanceId), instanceId };
};

/** How many runs Batch may make of the submission: its RetryStrategy, as the workflow set it. */
export const runsAllowed = (request: SubmitJobRequest) => request.RetryStrategy?.Attempts ?? 1;

/**
 * Spot took the instance back on every run Batch was allowed (RetryStrategy.Attempts, each retried
 * in place by the `Host EC2*` rule), so the job reached the workflow FAILED after that many runs.
 */
export const reclaimedOnEveryRun = (request: SubmitJobRequest) =>
  new BatchJobFailedError(
    batchJobDetail(
      request,
      'FAILED',
      Array.from({ length: runsAllowed(request) }, (_, run) => lostHost(run)),
    ),
  );

/** Two runs, both reclaimed, then FAILED: what a Batch that stopped after two runs reports. */
export const reclaimedOnTwoRuns = (request: SubmitJobRequest) =>
  new BatchJobFailedError(batchJobDetail(request, 'FAILED', [lostHost(0), lostHost(1)]));

/** Batch lost the host `reclaims` times and ran the job again in place each time; the last run exited 0. */
export const succeededAfterReclaimsInPlace = (reclaims: number) => (request: SubmitJobRequest) => {
  if (reclaims >= runsAllowed(request)) {
    return new Error(`Batch may run this submission ${runsAllowed(request)} time(s): it cannot retry ${reclaims} reclaim(s) in place`);
  }
  return batchJobDetail(request, 'SUCCEEDED', [
    ...Array.from({ length: reclaims }, (_, run) => lostHost(run)),
    { statusReason: REASON.containerExited, exitCode: 0 },
  ]);
};

/** The host was lost, and the queue's time limit cancelled the retry while it waited RUNNABLE for Spot capacity. */
export const reclaimedThenNoCapacity = (request: SubmitJobRequest) =>
  new BatchJobFailedError(batchJobDetail(request, 'FAILED', [lostHost(0)], REASON.noCapacity));

/** The Spot queue's time limit cancelled the job while it waited RUNNABLE for capacity: no attempt ran. */
export const noCapacity = (request: SubmitJobRequest) => new BatchJobFailedError(batchJobDetail(request, 'FAILED', [], REASON.noCapacity));

export const misconfigured = (request: SubmitJobRequest) =>
  new BatchJobFailedError(batchJobDetail(request, 'FAILED', [], REASON.misconfiguration));

export const exitedWith = (exitCode: number) => (request: SubmitJobRequest) =>
  new BatchJobFailedError(batchJobDetail(request, 'FAILED', [{ statusReason: REASON.containerExited, exitCode }]));

export const timedOut = (request: SubmitJobRequest) =>
  new BatchJobFailedError(batchJobDetail(request, 'FAILED', [{ statusReason: REASON.timeout, exitCode: 137 }]));

/** The attempt terminated because its owner cancelled the job. */
export const terminatedForCancel = (reason: string) => (request: SubmitJobRequest) =>
  new BatchJobFailedError(batchJobDetail(request, 'FAILED', [{ statusReason: reason, exitCode: 143 }]));

export const throttled = () => new BatchApiError('TooManyRequestsException', 'Too Many Requests (Service: AWSBatch; Status Code: 429)');
