import 'aws-sdk-client-mock-vitest/extend';
import { DescribeContainerInstancesCommand, ECSClient } from '@aws-sdk/client-ecs';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { batchJobName, type FinishInput, type FinishResult, type Plan, type SettleAttemptInput } from '../../core/contract/workflow.js';
import type { DynamoJobStore } from '../../lambdas/shared/job-store.js';
import { DEFAULT_SERVICE_NAME, JOB_METRICS } from '../../core/contract/metrics.js';
import { MetricsConfigurationError, metricsFromEnvironment, type JobMetrics } from '../../lambdas/shared/metrics.js';
import { startDynalite, type RunningDynalite } from '../support/dynalite.js';
import { captureEmf, type EmfCapture } from './emf-capture.js';
import { batchJobStateChange, executionStatusChange } from '../support/aws-events.js';
import { STATE_MACHINE_ARN, lambdaContext, seedJob, setHandlerEnvironment, storeFor } from './handler-fixtures.js';
import { recordingEventBus } from './terminal-events.js';
import { putJobAttempts, requestJobCancel } from '../../app/update-job.js';

describe('JobMetrics, published by the logMetrics middleware', () => {
  let emf: EmfCapture;
  const quietLogger = () => ({ debug: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn() });

  beforeEach(() => {
    vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
    emf = captureEmf();
  });
  afterEach(() => {
    emf.restore();
    vi.unstubAllEnvs();
  });

  /** One Lambda invocation of a handler that records through `metrics`. */
  async function invoke(metrics: JobMetrics, record: (metrics: JobMetrics) => void): Promise<void> {
    await middy(async () => record(metrics)).use(logMetrics(metrics))(undefined, lambdaContext());
  }

  it('writes one EMF line per invocation: namespace GpuJobs, the service dimension, each metric with its unit', async () => {
    // GIVEN
    vi.stubEnv('POWERTOOLS_SERVICE_NAME', 'GpuJobsStack');
    const metrics = metricsFromEnvironment(quietLogger());

    // WHEN an invocation records two counts and a duration
    await invoke(metrics, (recorder) => {
      recorder.add(JOB_METRICS.jobsSubmitted);
      recorder.add(JOB_METRICS.jobsSubmitted);
      recorder.add(JOB_METRICS.timeToStartSeconds, 42.5);
    });

    // THEN
    expect(emf.documents).toEqual([
      {
        _aws: {
          Timestamp: expect.any(Number),
          CloudWatchMetrics: [
            {
              Namespace: 'GpuJobs',
              Dimensions: [['service']],
              Metrics: [
                { Name: 'JobsSubmitted', Unit: 'Count' },
                { Name: 'TimeToStartSeconds', Unit: 'Seconds' },
              ],
            },
          ],
        },
        service: 'GpuJobsStack',
        JobsSubmitted: [1, 1],
        TimeToStartSeconds: 42.5,
      },
    ]);
  });

  it('writes nothing for an invocation that recorded nothing, and never a value twice', async () => {
    const metrics = metricsFromEnvironment(quietLogger());

    await invoke(metrics, () => undefined);
    await invoke(metrics, (recorder) => recorder.add(JOB_METRICS.failovers));
    await invoke(metrics, () => undefined);

    expect(emf.documents).toHaveLength(1);
    expect(emf.documents[0]).toMatchObject({ Failovers: 1, service: DEFAULT_SERVICE_NAME });
  });

  it('publishes on its own once a metric holds the 100 values one EMF document may hold', async () => {
    const metrics = metricsFromEnvironment(quietLogger());

    await invoke(metrics, (recorder) => {
      for (let count = 0; count < 101; count++) recorder.add(JOB_METRICS.jobsSucceeded);
    });

    expect(emf.documents.map((document) => document.JobsSucceeded)).toEqual([Array.from({ length: 100 }, () => 1), 1]);
  });

  it('refuses a value that is not a finite number', () => {
    const metrics = metricsFromEnvironment(quietLogger());

    expect(() => metrics.add(JOB_METRICS.timeToStartSeconds, Number.NaN)).toThrow(/TimeToStartSeconds needs a finite value. Received NaN/);
  });

  it('takes the service from POWERTOOLS_SERVICE_NAME, defaulting to gpujobs, and is disabled by POWERTOOLS_METRICS_DISABLED, else POWERTOOLS_DEV', async () => {
    const configured = (variables: Record<string, string | undefined>) => {
      vi.unstubAllEnvs();
      for (const [name, value] of Object.entries(variables)) vi.stubEnv(name, value);
      return metricsFromEnvironment(quietLogger());
    };

    const named = configured({ POWERTOOLS_SERVICE_NAME: 'GpuJobsStack', POWERTOOLS_METRICS_DISABLED: undefined });
    const unnamed = configured({ POWERTOOLS_SERVICE_NAME: undefined, POWERTOOLS_METRICS_DISABLED: undefined });
    const disabled = configured({ POWERTOOLS_METRICS_DISABLED: 'true' });
    const devMode = configured({ POWERTOOLS_METRICS_DISABLED: undefined, POWERTOOLS_DEV: 'true' });
    const devButEnabled = configured({ POWERTOOLS_DEV: 'true', POWERTOOLS_METRICS_DISABLED: 'false' });
    const recordOne = (recorder: JobMetrics) => recorder.add(JOB_METRICS.jobsFailed);
    for (const metrics of [named, unnamed, disabled]) await invoke(metrics, recordOne);
    // In dev mode Powertools writes through the global console instead of its own.
    const consoleLog = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    for (const metrics of [devMode, devButEnabled]) await invoke(metrics, recordOne);
    const devLines = consoleLog.mock.calls.map(([line]) => String(line));
    consoleLog.mockRestore();

    expect(emf.documents.map((document) => document.service)).toEqual(['GpuJobsStack', 'gpujobs']);
    expect(devLines.map((line) => (JSON.parse(line) as { JobsFailed: number }).JobsFailed)).toEqual([1]);
  });

  it('writes nothing at all when disabled, not even the notice that nothing was recorded (local mode runs every handler in one terminal)', async () => {
    vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'true');
    const logger = quietLogger();
    const stderr = vi.spyOn(process.stderr, 'write');
    const metrics = metricsFromEnvironment(logger);

    await invoke(metrics, () => undefined);
    await invoke(metrics, (recorder) => recorder.add(JOB_METRICS.jobsSubmitted));

    expect(emf.documents).toEqual([]);
    expect(stderr).not.toHaveBeenCalled();
    expect(logger.warn).not.toHaveBeenCalled();
    expect(logger.debug).toHaveBeenCalledWith(expect.stringContaining('No application metrics to publish'));
    stderr.mockRestore();
  });

  it('fails at load naming a flag it cannot read', () => {
    vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'maybe');

    expect(() => metricsFromEnvironment(quietLogger())).toThrow(MetricsConfigurationError);
    expect(() => metricsFromEnvironment(quietLogger())).toThrow(/POWERTOOLS_METRICS_DISABLED must be true or false .* Received "maybe"/);
  });
});

describe('metrics the handlers emit', () => {
  const ecsMock = mockClient(ECSClient);
  const eventsMock = mockClient(EventBridgeClient);
  const CONTAINER_INSTANCE_ARN = 'arn:aws:ecs:us-east-1:123456789012:container-instance/AWSBatch-gpujobs-spot/0f1e2d3c';
  let dynamo: RunningDynalite;
  let store: DynamoJobStore;
  let emf: EmfCapture;
  let finish: (input: FinishInput, context: ReturnType<typeof lambdaContext>) => Promise<FinishResult>;
  let reconcile: (event: unknown, context: ReturnType<typeof lambdaContext>) => Promise<unknown>;
  let settleAttempt: (input: SettleAttemptInput, context: ReturnType<typeof lambdaContext>) => Promise<Plan>;
  let batchEvents: (event: unknown, context: ReturnType<typeof lambdaContext>) => Promise<unknown>;

  beforeAll(async () => {
    dynamo = await startDynalite();
    setHandlerEnvironment(dynamo);
    process.env.POWERTOOLS_METRICS_DISABLED = 'false';
    store = storeFor(dynamo);
    emf = captureEmf();
    ({ handler: finish } = await import('../../lambdas/finish/handler.js'));
    ({ handler: reconcile } = await import('../../lambdas/reconcile/handler.js'));
    ({ handler: settleAttempt } = await import('../../lambdas/settle-attempt/handler.js'));
    ({ handler: batchEvents } = await import('../../lambdas/batch-events/handler.js'));
  });

  afterAll(async () => {
    emf?.restore();
    await dynamo?.stop();
  });

  beforeEach(() => {
    emf.clear();
    eventsMock.reset();
    ecsMock.reset();
    recordingEventBus(eventsMock);
    ecsMock.on(DescribeContainerInstancesCommand).resolves({
      containerInstances: [
        { containerInstanceArn: CONTAINER_INSTANCE_ARN, attributes: [{ name: 'ecs.instance-type', value: 'g5.xlarge' }] },
      ],
    });
  });

  const succeeded = (jobId: string): FinishInput => ({ jobId, outcome: { status: 'SUCCEEDED', statusReason: 'Completed', exitCode: 0 } });

  describe('finish', () => {
    it('counts JobsSucceeded once, not again when Step Functions runs it a second time', async () => {
      const job = await seedJob(store, { path: ['PENDING', 'RUNNING'] });

      await finish(succeeded(job.jobId), lambdaContext('finish'));
      await finish(succeeded(job.jobId), lambdaContext('finish'));

      expect(emf.all()).toEqual({ JobsSucceeded: [1] });
      expect(emf.documents[0]).toMatchObject({
        service: 'gpujobs',
        _aws: {
          CloudWatchMetrics: [{ Namespace: 'GpuJobs', Dimensions: [['service']], Metrics: [{ Name: 'JobsSucceeded', Unit: 'Count' }] }],
        },
      });
    });

    it('counts the end when the transition happened even though PutEvents then failed, and not on the retry', async () => {
      const job = await seedJob(store, { path: ['PENDING', 'RUNNING'] });
      eventsMock.on(PutEventsCommand).rejects(new Error('EventBridge unavailable'));
      const failed = {
        jobId: job.jobId,
        outcome: { status: 'FAILED' as const, statusReason: 'The container exited with code 3', exitCode: 3 },
      };

      await expect(finish(failed, lambdaContext('finish'))).rejects.toThrow('EventBridge unavailable');
      eventsMock.reset();
      recordingEventBus(eventsMock);
      await finish(failed, lambdaContext('finish'));

      expect(emf.all()).toEqual({ JobsFailed: [1] });
    });

    it('counts nothing for a job something else made terminal first', async () => {
      const job = await seedJob(store, { path: ['PENDING', 'RUNNING', 'CANCELLED'] });

      await finish(succeeded(job.jobId), lambdaContext('finish'));

      expect(emf.documents).toEqual([]);
    });
  });

  describe('reconcile', () => {
    function executionEnded(jobId: string, status: string) {
      return executionStatusChange({ stateMachineArn: STATE_MACHINE_ARN, jobId, status });
    }

    it('counts JobsCancelled for a stopped execution once, however often its event comes', async () => {
      const job = await seedJob(store, { path: ['PENDING', 'RUNNING'] });
      await requestJobCancel(store, job.jobId, new Date().toISOString());

      await reconcile(executionEnded(job.jobId, 'ABORTED'), lambdaContext('reconcile'));
      await reconcile(executionEnded(job.jobId, 'ABORTED'), lambdaContext('reconcile'));

      expect(emf.all()).toEqual({ JobsCancelled: [1] });
    });

    it('counts JobsFailed for an execution that timed out', async () => {
      const job = await seedJob(store, { path: ['PENDING'] });

      await reconcile(executionEnded(job.jobId, 'TIMED_OUT'), lambdaContext('reconcile'));

      expect(emf.all()).toEqual({ JobsFailed: [1] });
    });
  });

  describe('settle-attempt', () => {
    const reclaimed = {
      Error: 'States.TaskFailed',
      Cause: JSON.stringify({ JobId: 'b-1', Status: 'FAILED', StatusReason: 'Host EC2 (instance i-0abc) terminated.', Container: {} }),
    };
    const noCapacity = {
      Error: 'States.TaskFailed',
      Cause: JSON.stringify({
        JobId: 'b-1',
        Status: 'FAILED',
        StatusReason: 'Canceled by JobStateTimeLimit action due to reason: CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY',
        Container: {},
      }),
    };

    async function runningSpotAttempt(maxSpotAttempts: number) {
      const job = await seedJob(store, { path: ['PENDING', 'RUNNING'], spec: { maxSpotAttempts } });
      await putJobAttempts(store, job.jobId, [{ attempt: 1, capacity: 'spot', status: 'RUNNING' }]);
      return job;
    }

    it('counts a reclaim within the Spot budget as a SpotReclaim and no failover', async () => {
      const job = await runningSpotAttempt(3);

      const plan = await settleAttempt(
        { jobId: job.jobId, attempt: 1, capacity: 'spot', attemptResult: reclaimed },
        lambdaContext('settle-attempt'),
      );

      expect(plan.next).toBe('spot');
      expect(emf.all()).toEqual({ SpotReclaims: [1] });
    });

    it('counts a reclaim beyond the budget as a SpotReclaim and a Failover, and nothing when Step Functions retries the step', async () => {
      const job = await runningSpotAttempt(1);
      const input: SettleAttemptInput = { jobId: job.jobId, attempt: 1, capacity: 'spot', attemptResult: reclaimed };

      const plan = await settleAttempt(input, lambdaContext('settle-attempt'));
      const retried = await settleAttempt(input, lambdaContext('settle-attempt'));

      expect([plan.next, retried.next]).toEqual(['on-demand', 'on-demand']);
      expect(emf.all()).toEqual({ SpotReclaims: [1], Failovers: [1] });
    });

    it('counts every reclaim of a submission Batch retried in place, once, also when Step Functions retries the step', async () => {
      // GIVEN a Spot submission that Batch ran twice, both runs reclaimed (attempts 1 and 2 of a budget of 2)
      const job = await runningSpotAttempt(2);
      const lost = (instance: string) => ({
        StatusReason: `Host EC2 (instance ${instance}) terminated.`,
        StartedAt: 1,
        StoppedAt: 2,
        Container: {},
      });
      const detail = {
        JobId: 'b-1',
        Status: 'FAILED',
        StatusReason: 'Host EC2 (instance i-0def) terminated.',
        Container: {},
        Attempts: [lost('i-0abc'), lost('i-0def')],
      };
      const input: SettleAttemptInput = {
        jobId: job.jobId,
        attempt: 1,
        capacity: 'spot',
        attemptResult: { Error: 'States.TaskFailed', Cause: JSON.stringify(detail) },
      };

      const plan = await settleAttempt(input, lambdaContext('settle-attempt'));
      await settleAttempt(input, lambdaContext('settle-attempt'));

      expect(plan).toMatchObject({ next: 'on-demand', attempt: 3 });
      expect(emf.all()).toEqual({ SpotReclaims: [2], Failovers: [1] });
    });

    it('counts a failover for want of Spot capacity, which is no reclaim', async () => {
      const job = await runningSpotAttempt(3);

      const plan = await settleAttempt(
        { jobId: job.jobId, attempt: 1, capacity: 'spot', attemptResult: noCapacity },
        lambdaContext('settle-attempt'),
      );

      expect(plan.next).toBe('on-demand');
      expect(emf.all()).toEqual({ Failovers: [1] });
    });
  });

  describe('batch-events', () => {
    function batchEvent(jobName: string, status: string, detail: Record<string, unknown> = {}) {
      return batchJobStateChange(jobName, status, { createdAt: Date.now(), ...detail });
    }

    const running = (startedAt: number) => ({
      startedAt,
      container: { containerInstanceArn: CONTAINER_INSTANCE_ARN, logStreamName: 'gpujobs/default/abc' },
    });

    it('records TimeToStartSeconds from submission to the first run, once, and not for a run after Batch retried in place', async () => {
      // GIVEN a job submitted at createdAt, its first attempt planned
      const job = await seedJob(store, { path: ['PENDING'] });
      await putJobAttempts(store, job.jobId, [{ attempt: 1, capacity: 'spot', status: 'PENDING' }]);
      const firstRun = Date.parse(job.createdAt) + 42_000;
      const secondRun = firstRun + 600_000;

      // WHEN it runs 42 s later (the event delivered twice), loses its host, and runs again (attempt 2)
      const lostRun = {
        startedAt: firstRun,
        stoppedAt: firstRun + 60_000,
        statusReason: 'Host EC2 (instance i-0abc) terminated.',
        container: { logStreamName: 'gpujobs/default/abc' },
      };
      await batchEvents(batchEvent(batchJobName(job.jobId, 1), 'RUNNING', running(firstRun)), lambdaContext('batch-events'));
      await batchEvents(batchEvent(batchJobName(job.jobId, 1), 'RUNNING', running(firstRun)), lambdaContext('batch-events'));
      await batchEvents(batchEvent(batchJobName(job.jobId, 1), 'RUNNABLE', { attempts: [lostRun] }), lambdaContext('batch-events'));
      await batchEvents(
        batchEvent(batchJobName(job.jobId, 1), 'RUNNING', {
          ...running(secondRun),
          container: { containerInstanceArn: CONTAINER_INSTANCE_ARN, logStreamName: 'gpujobs/default/def' },
          attempts: [lostRun],
        }),
        lambdaContext('batch-events'),
      );

      // THEN one time to start: 42 s
      expect((await store.getJob(job.jobId))?.status).toBe('RUNNING');
      expect((await store.getJob(job.jobId))?.attempts.map((attempt) => attempt.status)).toEqual(['FAILED', 'RUNNING']);
      expect(emf.all()).toEqual({ TimeToStartSeconds: [42] });
      expect(emf.documents[0]?._aws.CloudWatchMetrics[0]?.Metrics).toEqual([{ Name: 'TimeToStartSeconds', Unit: 'Seconds' }]);
    });

    it('records the time to start once when announcing the start failed and EventBridge redelivers the event', async () => {
      // GIVEN the job's status change cannot be announced at first
      const job = await seedJob(store, { path: ['PENDING'] });
      await putJobAttempts(store, job.jobId, [{ attempt: 1, capacity: 'spot', status: 'PENDING' }]);
      const event = batchEvent(batchJobName(job.jobId, 1), 'RUNNING', running(Date.parse(job.createdAt) + 7_000));
      eventsMock.reset();
      eventsMock.on(PutEventsCommand).rejects(new Error('EventBridge unavailable'));

      // WHEN the event fails once and is delivered again
      await expect(batchEvents(event, lambdaContext('batch-events'))).rejects.toThrow('EventBridge unavailable');
      eventsMock.reset();
      recordingEventBus(eventsMock);
      await batchEvents(event, lambdaContext('batch-events'));

      // THEN the start, which happened with the first delivery, is counted once
      expect((await store.getJob(job.jobId))?.status).toBe('RUNNING');
      expect(emf.all()).toEqual({ TimeToStartSeconds: [7] });
    });
  });
});
