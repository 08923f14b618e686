/**
 * The job workflow as deployed: the state machine definition resolved from the synthesized
 * gpujobs stack, executed by aws-local-stepfunctions, with Batch answering as Step Functions
 * reports it and the Lambda tasks running the shipped use cases over an in-memory job store.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { CANCEL_TERMINATE_REASON } from '../../core/failure.js';
import type { CapacityType, JobSpec, JobStatus } from '../../core/job.js';
import { TerminalEventBusyError } from '../../app/terminal-event.js';
import { STATE, batchJobName, type FinishResult } from '../../core/contract/workflow.js';
import { jobDefinitionContent } from '../../lambdas/prepare/job-definitions.js';
import { BATCH_JOB_TAG, BatchApiError } from '../../lib/workflow/batch-task.js';
import {
  REASON,
  exitedWith,
  misconfigured,
  noCapacity,
  reclaimedOnEveryRun,
  reclaimedOnTwoRuns,
  reclaimedThenNoCapacity,
  succeeded,
  succeededAfterReclaimsInPlace,
  terminatedForCancel,
  throttled,
  timedOut,
  type SubmitJobRequest,
} from './batch-fixtures.js';
import { aJobSpec } from '../support/jobs.js';
import { JOB_DEFINITION_ARN, StoredJob } from './use-case-tasks.js';
import { runWorkflow, validateAsl, type BatchOutcome, type WorkflowRun } from './run-workflow.js';
import { workflowUnderTest, type WorkflowUnderTest } from './workflow-under-test.js';

let workflow: WorkflowUnderTest;

beforeAll(() => {
  workflow = workflowUnderTest();
});

/** The job the scenarios submit: an image of the owner's with its own command, environment and time limit. */
const TRAINING_JOB = {
  image: '123456789012.dkr.ecr.us-east-1.amazonaws.com/trainer:latest',
  command: ['python', 'train.py', '--epochs', '3'],
  environment: { DATASET: 's3://bucket/data' },
  timeoutSeconds: 3_600,
} as const satisfies Partial<JobSpec>;

let jobCounter = 0;

/** A training job, submitted and moved along `path` before its execution starts. */
async function aJob(spec: Partial<JobSpec> = {}, path: readonly JobStatus[] = [], idSuffix = 'WORKFLOW'): Promise<StoredJob> {
  jobCounter += 1;
  const jobId = `01JD3Q8ZK${String(jobCounter).padStart(4, '0')}${idSuffix}`;
  return StoredJob.submitted(jobId, aJobSpec({ ...TRAINING_JOB, ...spec }), path);
}

/** Runs the workflow on `job`; `record` is the job as stored once the execution ended. */
async function runOn(job: StoredJob, batch: readonly BatchOutcome[]) {
  const run = await runWorkflow(workflow, { jobId: job.jobId }, job, batch);
  return { run, job, jobId: job.jobId, record: await job.record() };
}

async function runJob(batch: readonly BatchOutcome[], spec: Partial<JobSpec> = {}, path: readonly JobStatus[] = []) {
  return runOn(await aJob(spec, path), batch);
}

/** Where each submission went: the capacity behind its queue, the state that made it, and its attempt number. */
function placements(run: WorkflowRun): { capacity: CapacityType | undefined; state: string; attempt: string | undefined }[] {
  return run.submissions.map(({ queueCapacity, state, request }) => ({
    capacity: queueCapacity,
    state,
    attempt: request.Tags?.[BATCH_JOB_TAG.attempt],
  }));
}

/** The job definition's evaluateOnExit rules, in the PascalCase of a Step Functions Batch task. */
function jobDefinitionRules(): Record<string, string>[] {
  const definition = jobDefinitionContent(
    { image: 'trainer:latest', gpus: 1, vcpus: 4, memoryMiB: 16_384 },
    {
      namePrefix: 'gpujobs',
      jobRoleArn: 'arn:aws:iam::123456789012:role/job',
      executionRoleArn: 'arn:aws:iam::123456789012:role/exec',
      logGroupName: '/gpujobs/jobs',
    },
  );
  return (definition.retryStrategy?.evaluateOnExit ?? []).map((rule) =>
    Object.fromEntries(Object.entries(rule).map(([key, value]) => [key.charAt(0).toUpperCase() + key.slice(1), value as string])),
  );
}

const environmentOf = (request: SubmitJobRequest) =>
  Object.fromEntries(request.ContainerOverrides.Environment.map(({ Name, Value }) => [Name, Value]));

const attemptLoop = (runState: string) => [runState, STATE.settleAttempt, STATE.chooseCapacity];
const start = [STATE.prepare, STATE.chooseCapacity];
const end = [STATE.finish, STATE.done];

describe('the job workflow definition', () => {
  it('is accepted by asl-validator', () => {
    const { isValid, errors } = validateAsl(workflow.definition);

    expect(errors).toBe('');
    expect(isValid).toBe(true);
  });

  it('bounds every Task state with a timeout that Node timers (local mode) can honour', () => {
    const tasks = Object.entries(workflow.definition.States).filter(([, state]) => state.Type === 'Task');

    expect(tasks.map(([name]) => name).sort()).toEqual(
      [STATE.prepare, STATE.runOnSpot, STATE.runOnDemand, STATE.settleAttempt, STATE.finish].sort(),
    );
    for (const [name, state] of tasks) {
      const timeout = (state as { TimeoutSeconds?: number }).TimeoutSeconds;
      expect(timeout, name).toBeGreaterThan(0);
      expect(timeout! * 1000, name).toBeLessThan(2 ** 31);
    }
    expect(workflow.definition.TimeoutSeconds! * 1000).toBeLessThan(2 ** 31);
  });
});

describe('running the job workflow', () => {
  it('finishes SUCCEEDED after one Spot attempt when the container exits 0', async () => {
    // GIVEN a spot-first job whose first attempt succeeds
    const { run, job, jobId, record } = await runJob([succeeded]);

    // THEN one Spot submission carried the job's command, environment and limits
    expect(run.path).toEqual([...start, ...attemptLoop(STATE.runOnSpot), ...end]);
    expect(placements(run)).toEqual([{ capacity: 'spot', state: STATE.runOnSpot, attempt: '1' }]);
    const [submission] = run.submissions;
    expect(submission!.request).toMatchObject({
      JobName: batchJobName(jobId, 1),
      JobDefinition: JOB_DEFINITION_ARN,
      ContainerOverrides: { Command: ['python', 'train.py', '--epochs', '3'] },
      Timeout: { AttemptDurationSeconds: 3_600 },
      Tags: { [BATCH_JOB_TAG.jobId]: jobId, [BATCH_JOB_TAG.attempt]: '1' },
    });
    expect(environmentOf(submission!.request)).toEqual({
      DATASET: 's3://bucket/data',
      GPUJOBS_JOB_ID: jobId,
      GPUJOBS_ATTEMPT: '1',
    });
    // AND the job ended once, with the settled attempt recorded
    expect(run.output).toEqual({ jobId, status: 'SUCCEEDED', transitioned: true } satisfies FinishResult);
    expect(record.status).toBe('SUCCEEDED');
    expect(record.attempts).toMatchObject([{ attempt: 1, capacity: 'spot', status: 'SUCCEEDED', exitCode: 0 }]);
    expect(job.finished).toHaveLength(1);
    // AND settle-attempt made that transition, in the write that settled the attempt, and its terminal event went out once
    expect(record.terminalEvent).toMatchObject({ writer: 'settle-attempt', published: true });
    expect(job.published.filter((event) => event.detailType === 'GPU Job Succeeded')).toHaveLength(1);
  });

  it('lets Batch retry a reclaimed host in place within the Spot budget, and records each run as an attempt', async () => {
    // GIVEN a job with a Spot budget of 3 whose first run is reclaimed and whose retry in place succeeds
    const { run, record } = await runJob([succeededAfterReclaimsInPlace(1)], { maxSpotAttempts: 3 });

    // THEN one Spot submission, allowed the whole budget of runs with the job definition's rules
    expect(run.path).toEqual([...start, ...attemptLoop(STATE.runOnSpot), ...end]);
    expect(placements(run)).toEqual([{ capacity: 'spot', state: STATE.runOnSpot, attempt: '1' }]);
    expect(run.submissions[0]!.request.RetryStrategy).toEqual({ Attempts: 3, EvaluateOnExit: jobDefinitionRules() });
    // AND the job shows two attempts: the reclaimed run and the one that completed
    expect(record.attempts).toMatchObject([
      { attempt: 1, capacity: 'spot', status: 'FAILED', failureClass: 'SPOT_RECLAIM' },
      { attempt: 2, capacity: 'spot', status: 'SUCCEEDED' },
    ]);
    expect(record.statusReason).toBe('Completed on attempt 2 (Spot) after 1 Spot reclaim');
    expect(run.output).toMatchObject({ status: 'SUCCEEDED', transitioned: true });
  });

  it('gives the next Spot submission only the Spot budget that in-place retries left', async () => {
    // GIVEN a budget of 3, and a first submission Batch ran twice, both runs reclaimed
    const { run, jobId, record } = await runJob([reclaimedOnTwoRuns, succeeded], { maxSpotAttempts: 3 });

    // THEN the second submission is attempt 3, still on Spot, and Batch may run it once
    expect(run.path).toEqual([...start, ...attemptLoop(STATE.runOnSpot), ...attemptLoop(STATE.runOnSpot), ...end]);
    expect(placements(run)).toEqual([
      { capacity: 'spot', state: STATE.runOnSpot, attempt: '1' },
      { capacity: 'spot', state: STATE.runOnSpot, attempt: '3' },
    ]);
    expect(run.submissions.map((s) => s.request.RetryStrategy.Attempts)).toEqual([3, 1]);
    expect(run.submissions.map((s) => s.request.JobName)).toEqual([batchJobName(jobId, 1), batchJobName(jobId, 3)]);
    expect(environmentOf(run.submissions[1]!.request).GPUJOBS_ATTEMPT).toBe('3');
    expect(record.attempts.map(({ attempt, status, failureClass }) => `${attempt}:${status}:${failureClass ?? ''}`)).toEqual([
      '1:FAILED:SPOT_RECLAIM',
      '2:FAILED:SPOT_RECLAIM',
      '3:SUCCEEDED:',
    ]);
    expect(record.statusReason).toBe('Completed on attempt 3 (Spot) after 2 Spot reclaims');
  });

  it('fails over to On-Demand once reclaims use up the Spot budget', async () => {
    // GIVEN a budget of two Spot attempts, and Spot reclaiming every run Batch makes
    const { run, record } = await runJob([reclaimedOnEveryRun, succeeded], { maxSpotAttempts: 2 });

    // THEN Batch ran the Spot submission twice (its retry in place), then the job went On-Demand, where Batch does not retry
    expect(run.path).toEqual([...start, ...attemptLoop(STATE.runOnSpot), ...attemptLoop(STATE.runOnDemand), ...end]);
    expect(placements(run)).toEqual([
      { capacity: 'spot', state: STATE.runOnSpot, attempt: '1' },
      { capacity: 'on-demand', state: STATE.runOnDemand, attempt: '3' },
    ]);
    expect(run.submissions.map((s) => s.request.RetryStrategy)).toEqual([
      { Attempts: 2, EvaluateOnExit: jobDefinitionRules() },
      { Attempts: 1, EvaluateOnExit: jobDefinitionRules() },
    ]);
    expect(record.attempts.map(({ capacity, status }) => `${capacity}:${status}`)).toEqual([
      'spot:FAILED',
      'spot:FAILED',
      'on-demand:SUCCEEDED',
    ]);
    expect(run.output).toMatchObject({ status: 'SUCCEEDED', transitioned: true });
  });

  it('never lets Batch retry beyond a Spot budget of 1: the reclaim goes to On-Demand', async () => {
    const { run, record } = await runJob([reclaimedOnEveryRun, succeeded], { maxSpotAttempts: 1 });

    expect(run.submissions.map((s) => `${s.queueCapacity}:${s.request.RetryStrategy.Attempts}`)).toEqual(['spot:1', 'on-demand:1']);
    expect(record.attempts.map(({ attempt, capacity, status }) => `${attempt}:${capacity}:${status}`)).toEqual([
      '1:spot:FAILED',
      '2:on-demand:SUCCEEDED',
    ]);
  });

  it('fails over to On-Demand when the retry in place found no Spot capacity', async () => {
    const { run, record } = await runJob([reclaimedThenNoCapacity, succeeded], { maxSpotAttempts: 3 });

    expect(placements(run)).toEqual([
      { capacity: 'spot', state: STATE.runOnSpot, attempt: '1' },
      { capacity: 'on-demand', state: STATE.runOnDemand, attempt: '3' },
    ]);
    expect(record.attempts.map(({ attempt, capacity, failureClass }) => `${attempt}:${capacity}:${failureClass ?? ''}`)).toEqual([
      '1:spot:SPOT_RECLAIM',
      '2:spot:NO_CAPACITY',
      '3:on-demand:',
    ]);
  });

  it('fails over to On-Demand at once when the Spot queue found no capacity', async () => {
    const { run, record } = await runJob([noCapacity, succeeded]);

    expect(run.path).toEqual([...start, ...attemptLoop(STATE.runOnSpot), ...attemptLoop(STATE.runOnDemand), ...end]);
    expect(placements(run)).toEqual([
      { capacity: 'spot', state: STATE.runOnSpot, attempt: '1' },
      { capacity: 'on-demand', state: STATE.runOnDemand, attempt: '2' },
    ]);
    expect(record.attempts[0]).toMatchObject({ failureClass: 'NO_CAPACITY', statusReason: REASON.noCapacity });
    expect(run.output).toMatchObject({ status: 'SUCCEEDED' });
  });

  it('ends FAILED with the exit code and never tries On-Demand when the application exits 1', async () => {
    const { run, job, jobId, record } = await runJob([exitedWith(1)]);

    expect(run.path).toEqual([...start, ...attemptLoop(STATE.runOnSpot), ...end]);
    expect(placements(run)).toEqual([{ capacity: 'spot', state: STATE.runOnSpot, attempt: '1' }]);
    // A job's own failure is settled, not retried as if Batch had failed.
    expect(run.retried).toEqual([]);
    expect(job.finished).toEqual([
      { jobId, outcome: expect.objectContaining({ status: 'FAILED', exitCode: 1, failureClass: 'APP_ERROR' }) },
    ]);
    expect(record).toMatchObject({ status: 'FAILED', exitCode: 1 });
    expect(run.output).toEqual({ jobId, status: 'FAILED', transitioned: true });
  });

  it('ends FAILED as a timeout when the attempt outlives timeoutSeconds', async () => {
    const { run, job, record } = await runJob([timedOut]);

    expect(run.path).toEqual([...start, ...attemptLoop(STATE.runOnSpot), ...end]);
    expect(run.submissions).toHaveLength(1);
    expect(job.finished[0]!.outcome).toMatchObject({ status: 'FAILED', failureClass: 'TIMEOUT' });
    expect(record.statusReason).toContain(REASON.timeout);
    expect(run.output).toMatchObject({ status: 'FAILED' });
  });

  it('ends FAILED naming the misconfiguration when no instance type fits the job', async () => {
    const { run, job, record } = await runJob([misconfigured]);

    expect(run.path).toEqual([...start, ...attemptLoop(STATE.runOnSpot), ...end]);
    expect(run.submissions).toHaveLength(1);
    expect(job.finished[0]!.outcome).toMatchObject({ status: 'FAILED', failureClass: 'MISCONFIGURATION' });
    expect(record.statusReason).toContain('MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT');
    expect(run.output).toMatchObject({ status: 'FAILED' });
  });

  it('ends FAILED without On-Demand when a spot-only job is reclaimed beyond its budget', async () => {
    const { run, job, record } = await runJob([reclaimedOnEveryRun], { capacity: 'spot-only', maxSpotAttempts: 2 });

    expect(run.path).toEqual([...start, ...attemptLoop(STATE.runOnSpot), ...end]);
    expect(placements(run).map((p) => p.capacity)).toEqual(['spot']);
    expect(record.attempts.map((attempt) => attempt.failureClass)).toEqual(['SPOT_RECLAIM', 'SPOT_RECLAIM']);
    expect(job.finished[0]!.outcome).toMatchObject({ status: 'FAILED', failureClass: 'SPOT_RECLAIM' });
    expect(record.statusReason).toMatch(/spot-only/);
    expect(run.output).toMatchObject({ status: 'FAILED' });
  });

  it('ends FAILED without On-Demand when a spot-only job finds no Spot capacity', async () => {
    const { run, job } = await runJob([noCapacity], { capacity: 'spot-only' });

    expect(placements(run).map((p) => p.capacity)).toEqual(['spot']);
    expect(job.finished[0]!.outcome).toMatchObject({ status: 'FAILED', failureClass: 'NO_CAPACITY' });
  });

  it('runs an on-demand job on On-Demand only, with no retry by Batch', async () => {
    const { run, record } = await runJob([succeeded], { capacity: 'on-demand' });

    expect(run.path).toEqual([...start, ...attemptLoop(STATE.runOnDemand), ...end]);
    expect(placements(run)).toEqual([{ capacity: 'on-demand', state: STATE.runOnDemand, attempt: '1' }]);
    expect(run.submissions[0]!.request.RetryStrategy).toEqual({ Attempts: 1, EvaluateOnExit: jobDefinitionRules() });
    expect(record.attempts).toMatchObject([{ capacity: 'on-demand', status: 'SUCCEEDED' }]);
    expect(run.output).toMatchObject({ status: 'SUCCEEDED' });
  });

  it('retries a throttled submission as the same attempt and succeeds', async () => {
    // GIVEN Batch throttles SubmitJob twice
    const { run, job, jobId } = await runJob([() => throttled(), () => throttled(), succeeded]);

    // THEN Step Functions retried the task, which settled once, as attempt 1
    expect(run.retried).toEqual([STATE.runOnSpot, STATE.runOnSpot]);
    expect(run.path).toEqual([...start, ...attemptLoop(STATE.runOnSpot), ...end]);
    expect(run.submissions.map(({ answer, request }) => `${answer}:${request.JobName}`)).toEqual([
      `Batch.TooManyRequestsException:${batchJobName(jobId, 1)}`,
      `Batch.TooManyRequestsException:${batchJobName(jobId, 1)}`,
      `ok:${batchJobName(jobId, 1)}`,
    ]);
    expect(job.settled.map(({ attempt }) => attempt)).toEqual([1]);
    expect(run.output).toMatchObject({ status: 'SUCCEEDED', transitioned: true });
  });

  it.each(['ServerException', 'AWSBatchException'] as const)('retries the submission after Batch.%s', async (exception) => {
    const outage = () => new BatchApiError(exception, '(Service: AWSBatch; Status Code: 500)');

    const { run } = await runJob([outage, succeeded]);

    expect(run.retried).toEqual([STATE.runOnSpot]);
    expect(run.output).toMatchObject({ status: 'SUCCEEDED' });
  });

  it('retries Finish while another invocation holds the claim to publish the terminal event', async () => {
    // GIVEN a job whose Finish first finds the terminal event being published elsewhere (reconcile)
    const job = await aJob();
    const { jobId } = job;
    const finish = job.finish.bind(job);
    let busy = true;
    job.finish = async (input) => {
      if (busy) {
        busy = false;
        throw new TerminalEventBusyError(jobId);
      }
      return finish(input);
    };

    // WHEN the job runs and succeeds on Spot
    const run = await runWorkflow(workflow, { jobId }, job, [succeeded]);

    // THEN Step Functions ran Finish again instead of failing the execution
    expect(run.retried).toEqual([STATE.finish]);
    expect(run.output).toMatchObject({ status: 'SUCCEEDED', transitioned: true });
  });

  it.each([
    ['SettleAttempt', STATE.settleAttempt],
    ['Finish', STATE.finish],
  ] as const)('runs %s again after a transient handler error instead of failing the execution', async (_name, state) => {
    // GIVEN a job whose handler fails once with an AWS error (a throttled DynamoDB write)
    const job = await aJob();
    const { jobId } = job;
    const method = state === STATE.settleAttempt ? 'settleAttempt' : 'finish';
    const real = (job[method] as (input: never) => Promise<unknown>).bind(job);
    let failures = 1;
    (job as unknown as Record<string, unknown>)[method] = async (input: never) => {
      if (failures > 0) {
        failures -= 1;
        throw Object.assign(new Error('Rate of requests exceeds the allowed throughput.'), {
          name: 'ProvisionedThroughputExceededException',
        });
      }
      return real(input);
    };

    // WHEN the job runs and succeeds on Spot
    const run = await runWorkflow(workflow, { jobId }, job, [succeeded]);

    // THEN Step Functions ran the task again and the job finished
    expect(run.retried).toEqual([state]);
    expect(run.output).toMatchObject({ status: 'SUCCEEDED', transitioned: true });
  });

  it('fails the execution when a handler keeps failing, after its retries', async () => {
    const job = await aJob();
    const { jobId } = job;
    job.finish = async () => {
      throw Object.assign(new Error('Internal server error'), { name: 'InternalServerError' });
    };

    await expect(runWorkflow(workflow, { jobId }, job, [succeeded])).rejects.toThrow(/Internal server error|InternalServerError/);
  });

  it('does nothing for a job cancelled while it was queued', async () => {
    // GIVEN the cancel API already made the queued job CANCELLED
    const { run, job, jobId } = await runJob([], {}, ['CANCELLED']);

    // THEN prepare says skip and the execution ends without a submission or a second terminal write
    expect(run.path).toEqual([...start, STATE.alreadyFinished]);
    expect(run.submissions).toEqual([]);
    expect(job.finished).toEqual([]);
    expect(run.output).toEqual({ jobId, plan: { next: 'skip' } });
  });

  it('does nothing when prepare finds the job already finished by an earlier execution', async () => {
    const job = await aJob({}, ['SUCCEEDED']);
    const { version } = await job.record();

    const { run, record } = await runOn(job, []);

    expect(run.path).toEqual([...start, STATE.alreadyFinished]);
    expect(record).toMatchObject({ status: 'SUCCEEDED', version });
  });

  it('finishes CANCELLED without another attempt when the running attempt is terminated for a cancel', async () => {
    // GIVEN the owner cancels while the Spot attempt runs, and the attempt is terminated
    const job = await aJob({}, [], 'CANCELLED');
    const cancelDuringAttempt: BatchOutcome = async (request) => {
      await job.requestCancel();
      return terminatedForCancel(CANCEL_TERMINATE_REASON)(request);
    };

    // WHEN the workflow runs
    const { run, jobId, record } = await runOn(job, [cancelDuringAttempt]);

    // THEN the job ends CANCELLED with its attempt, Finish reports it, and there is no retry on Spot or On-Demand
    expect(run.path).toEqual([...start, ...attemptLoop(STATE.runOnSpot), ...end]);
    expect(run.submissions).toHaveLength(1);
    expect(job.finished[0]!.outcome).toMatchObject({ status: 'CANCELLED', failureClass: 'CANCELLED' });
    expect(record.status).toBe('CANCELLED');
    expect(run.output).toEqual({ jobId, status: 'CANCELLED', transitioned: true });
  });

  it('finishes CANCELLED without submitting when the cancel arrived before prepare', async () => {
    const job = await aJob({}, ['PENDING']);
    await job.requestCancel();

    const { run, record } = await runOn(job, []);

    expect(run.path).toEqual([...start, ...end]);
    expect(run.submissions).toEqual([]);
    expect(record.status).toBe('CANCELLED');
  });
});
