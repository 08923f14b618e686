/**
 * Local mode's stand-in for AWS Batch: job definitions, a Spot and an On-Demand queue over one
 * pool of GPU slots, each attempt run in its own sandbox directory as a local process or, with a
 * container engine, as its image's container (container-runner.ts), and a
 * simulated Spot market (reclaims, capacity off/on). Job details, state-change events, status reasons and exit codes have the
 * shapes and strings Batch uses, because the shared handlers classify them exactly as in AWS.
 *
 * This module is the Batch job's state machine (SUBMITTED → RUNNABLE → STARTING → RUNNING →
 * SUCCEEDED | FAILED, back to RUNNABLE for a retry in place) and the API over it; the parts it
 * drives live beside it, one concern each.
 */
import { randomUUID } from 'node:crypto';
import type { BatchJobStatus } from '../../core/contract/batch.js';
import type { CapacityType } from '../../core/job.js';
import { deferred } from '../deferred.js';
import { newAttemptToken } from '../process-tree.js';
import { newAttemptHost } from './attempt-host.js';
import { attemptEnd } from './attempt-end.js';
import type { AttemptStop, BatchJob, RunningAttempt } from './batch-job.js';
import { ClientException } from './client-exception.js';
import {
  JobDefinitionRegistry,
  type DescribeJobDefinitionsRequest,
  type JobDefinition,
  type RegisterJobDefinitionRequest,
} from './job-definitions.js';
import { jobDetailOf, type JobDetail } from './job-detail.js';
import { listJobs, type ListJobsRequest } from './list-jobs.js';
import { DEFAULT_RETAINED_FINISHED_JOBS, type LocalBatchOptions } from './options.js';
import {
  ContainerStartError,
  containerStartFailureEnd,
  requestedLimits,
  sharedMemoryOf,
  startAttemptContainer,
} from './container-runner.js';
import { reapAttemptProcess, startAttemptProcess, stopAttemptProcess, stoppedAttemptEndBoundMs } from './process-runner.js';
import { retriesInPlace } from './retry-strategy.js';
import { AttemptSandboxes } from './sandbox.js';
import { Scheduler } from './scheduler.js';
import { SpotMarket } from './spot-market.js';
import { BATCH_STATUS_REASON, logFailureReason } from './status-reasons.js';
import { resolveSubmission, type SubmitJobParameters } from './submit-job.js';

export { ClientException } from './client-exception.js';
export { BATCH_STATUS_REASON } from './status-reasons.js';
export type { JobDefinition, RegisterJobDefinitionRequest } from './job-definitions.js';
export type { JobDetail, JobSummary } from './job-detail.js';
export type { ListJobsRequest } from './list-jobs.js';
export { DEFAULT_RETAINED_FINISHED_JOBS, type LocalBatchOptions } from './options.js';
export type { SubmitJobParameters } from './submit-job.js';

export class LocalBatch {
  private readonly definitions: JobDefinitionRegistry;
  private readonly jobs = new Map<string, BatchJob>();
  /** Jobs with an attempt in progress. */
  private readonly active = new Set<BatchJob>();
  /** Finished jobs still kept, oldest first (a Map iterates in insertion order). */
  private readonly finished = new Map<string, BatchJob>();
  private readonly containerInstances = new Map<string, Record<string, unknown>>();
  private readonly scheduler: Scheduler;
  private readonly spot = new SpotMarket();
  private readonly platformToken: string;
  private readonly retainedFinishedJobs: number;
  private readonly sandboxes: AttemptSandboxes;
  /** The sandbox each attempt in progress runs in. */
  private readonly sandboxOf = new Map<RunningAttempt, string>();
  private sequence = 0;
  private stopping = false;

  constructor(private readonly options: LocalBatchOptions) {
    const retained = options.retainedFinishedJobs ?? DEFAULT_RETAINED_FINISHED_JOBS;
    if (!Number.isInteger(retained) || retained < 1) {
      throw new RangeError(`retainedFinishedJobs must be a positive integer. Received ${retained}.`);
    }
    this.retainedFinishedJobs = retained;
    this.platformToken = options.platformToken ?? newAttemptToken();
    this.sandboxes = new AttemptSandboxes({
      directory: options.sandboxesDirectory,
      ...(options.keepFailedSandboxSeconds !== undefined ? { keepFailedSeconds: options.keepFailedSandboxSeconds } : {}),
      logger: options.logger,
    });
    this.scheduler = new Scheduler({
      slots: options.gpus.map((gpu) => gpu.index),
      capacityTimeoutSeconds: options.capacityTimeoutSeconds,
      instanceType: options.instanceType,
      spotCapacityAvailable: () => this.spot.capacityAvailable,
      start: (job, slots) => this.start(job, slots),
      cancel: (job, statusReason) => this.finish(job, 'FAILED', statusReason),
    });
    this.definitions = new JobDefinitionRegistry({ account: options.account, region: options.region, file: options.jobDefinitionsFile });
  }

  // ---- job definitions -------------------------------------------------------

  registerJobDefinition(request: RegisterJobDefinitionRequest): { jobDefinitionName: string; jobDefinitionArn: string; revision: number } {
    return this.definitions.register(request);
  }

  describeJobDefinitions(request: DescribeJobDefinitionsRequest): { jobDefinitions: JobDefinition[]; nextToken?: string } {
    return this.definitions.describe(request);
  }

  deregisterJobDefinition(reference: string): void {
    this.definitions.deregister(reference);
  }

  // ---- jobs --------------------------------------------------------------------

  /** SubmitJob; the returned promise settles when the job is SUCCEEDED or FAILED (what `.sync` waits for). */
  submitJob(parameters: SubmitJobParameters, capacity: CapacityType): { jobId: string; jobArn: string; completion: Promise<JobDetail> } {
    const definition = this.definitions.find(parameters.JobDefinition);
    if (definition?.status !== 'ACTIVE') {
      throw new ClientException(`Job definition ${parameters.JobDefinition} does not exist or is not ACTIVE.`);
    }
    const submission = resolveSubmission(parameters, definition);
    const jobId = randomUUID();
    this.sequence += 1;
    const job: BatchJob = {
      ...submission,
      jobId,
      jobArn: `arn:aws:batch:${this.options.region}:${this.options.account}:job/${jobId}`,
      jobName: parameters.JobName,
      jobQueue: parameters.JobQueue,
      capacity,
      definition,
      createdAt: Date.now(),
      sequence: this.sequence,
      status: 'SUBMITTED',
      attempts: [],
      settled: deferred<JobDetail>(),
    };
    this.jobs.set(jobId, job);
    this.setStatus(job, 'RUNNABLE');
    queueMicrotask(() => this.scheduler.schedule());
    return { jobId, jobArn: job.jobArn, completion: job.settled.promise };
  }

  /**
   * DescribeJobs answers for the jobs it still knows: an id it never saw, or a finished job past
   * its retention (Batch keeps a finished job's details for a limited time only:
   * https://docs.aws.amazon.com/batch/latest/userguide/job_states.html), is left out of `jobs`,
   * with no error; DescribeJobs fails only on a malformed request
   * (https://docs.aws.amazon.com/batch/latest/APIReference/API_DescribeJobs.html, Errors).
   */
  describeJobs(jobIds: readonly string[]): JobDetail[] {
    return jobIds
      .map((id) => this.jobs.get(id))
      .filter((job): job is BatchJob => !!job)
      .map(jobDetailOf);
  }

  /**
   * ListJobs by queue (its name or ARN) and status (RUNNING when none is given, as in Batch),
   * in submission order, paginated by nextToken.
   */
  listJobs(request: ListJobsRequest): ReturnType<typeof listJobs> {
    return listJobs(this.jobs.values(), request);
  }

  /**
   * CancelJob: a job not yet STARTING ends FAILED with the reason and never starts; a STARTING
   * or RUNNING one is left alone (the call still succeeds), as in Batch.
   */
  cancelJob(jobId: string, reason: string): void {
    const job = this.jobs.get(jobId);
    if (!job) throw new ClientException(`Job ${jobId} does not exist.`);
    if (job.status !== 'SUBMITTED' && job.status !== 'PENDING' && job.status !== 'RUNNABLE') return;
    this.finish(job, 'FAILED', reason);
    this.scheduler.schedule();
  }

  /**
   * TerminateJob: a waiting job fails at once and never starts; a running one is stopped. Unlike
   * Batch, which answers at once, the returned promise settles only once the job's processes are
   * gone and it reads FAILED (or after the grace period and the kill and drain timeouts, so
   * that an answer never hangs): the reconcile handler awaits TerminateJob before it records the
   * job as ended, so a job reads CANCELLED only when nothing of it runs any more.
   */
  terminateJob(jobId: string, reason: string): Promise<void> {
    const job = this.jobs.get(jobId);
    if (!job) throw new ClientException(`Job ${jobId} does not exist.`);
    if (job.status === 'SUCCEEDED' || job.status === 'FAILED') return Promise.resolve();
    job.terminateReason = reason;
    const running = job.running;
    if (running) {
      this.stopAttempt(running, { statusReason: reason, kind: 'terminate' });
      return settledWithin([job.settled.promise, running.ended.promise], stoppedAttemptEndBoundMs(this.options.stopGracePeriodSeconds));
    }
    this.finish(job, 'FAILED', reason);
    this.scheduler.schedule();
    return Promise.resolve();
  }

  describeContainerInstances(arns: readonly string[]): { found: Record<string, unknown>[]; missing: string[] } {
    const found: Record<string, unknown>[] = [];
    const missing: string[] = [];
    for (const arn of arns) {
      const instance = this.containerInstances.get(arn);
      if (instance) found.push(instance);
      else missing.push(arn);
    }
    return { found, missing };
  }

  // ---- the simulated Spot market ----------------------------------------------

  /** Reclaims every running Spot attempt the way EC2 does; returns how many. */
  interruptSpot(): number {
    const reclaims = this.spot.reclaims(this.active);
    for (const { running, stop } of reclaims) this.stopAttempt(running, stop);
    return reclaims.length;
  }

  setSpotCapacity(available: boolean): void {
    this.spot.setCapacity(available);
    this.scheduler.schedule();
  }

  get spotCapacity(): boolean {
    return this.spot.capacityAvailable;
  }

  /** Process ids of running attempts by Batch job name (for diagnostics and tests). */
  runningProcesses(): { jobName: string; pid: number; capacity: CapacityType; slots: readonly number[] }[] {
    return [...this.active]
      .filter((job) => job.running?.process?.child.pid !== undefined)
      .map((job) => ({ jobName: job.jobName, pid: job.running!.process!.child.pid!, capacity: job.capacity, slots: job.running!.slots }));
  }

  /**
   * Stops every job process without settling anything: the platform is going down and
   * the jobs' records are reconciled when it starts again.
   */
  async shutdown(): Promise<void> {
    this.stopping = true;
    this.scheduler.halt();
    const ends: Promise<unknown>[] = [];
    for (const job of this.active) {
      const running = job.running;
      if (!running) continue;
      ends.push(running.ended.promise);
      this.stopAttempt(running, { statusReason: 'local platform stopped', kind: 'terminate' });
    }
    await Promise.all(ends);
  }

  // ---- attempts -----------------------------------------------------------------

  private start(job: BatchJob, slots: readonly number[]): void {
    this.setStatus(job, 'STARTING');
    const host = newAttemptHost(job.definition, job.capacity, this.options);
    this.containerInstances.set(host.containerInstanceArn, host.containerInstance);
    const running: RunningAttempt = {
      slots,
      instanceId: host.instanceId,
      taskArn: host.taskArn,
      containerInstanceArn: host.containerInstanceArn,
      logStreamName: host.logStreamName,
      logGroupName: host.logGroupName,
      startedAt: Date.now(),
      timers: [],
      spawned: false,
      ending: false,
      ended: deferred<void>(),
    };
    this.active.add(job);
    const variables = {
      ...Object.fromEntries(job.environment.map(({ name, value }) => [name, value])),
      AWS_BATCH_JOB_ID: job.jobId,
      AWS_BATCH_JOB_ATTEMPT: String(job.attempts.length + 1),
      AWS_BATCH_JQ_NAME: job.jobQueue.split('/').pop() ?? job.jobQueue,
      AWS_BATCH_CE_NAME: host.clusterName,
      CUDA_VISIBLE_DEVICES: slots.join(','),
    };
    try {
      // A sandbox that cannot be made ends this attempt as a container that cannot start.
      const sandbox = this.sandboxes.create({ jobName: job.jobName, jobId: job.jobId, attempt: job.attempts.length + 1 });
      this.sandboxOf.set(running, sandbox);
      const output = {
        logStore: this.options.logStore,
        logGroupName: host.logGroupName,
        logStreamName: host.logStreamName,
        // A log the disk cannot take (ENOSPC, EIO) ends the attempt FAILED with that reason, not the platform.
        onLogFailure: (failure: Error) => {
          if (job.running?.logStreamName === host.logStreamName)
            this.stopAttempt(job.running, { statusReason: logFailureReason(failure), kind: 'terminate' });
        },
      };
      const events = {
        onSpawn: () => this.attemptRunning(job, running),
        onEnd: (code: number | null, signal: NodeJS.Signals | null, spawnError: Error | undefined) =>
          void this.endAttempt(job, running, { code, signal, spawnError }),
      };
      const containers = this.options.containers;
      running.process = containers
        ? startAttemptContainer(
            {
              ...output,
              runtime: containers,
              owner: { jobName: job.jobName, jobId: job.jobId, attempt: job.attempts.length + 1, platformToken: this.platformToken },
              image: job.definition.containerProperties?.image ?? '',
              command: job.command,
              sandbox,
              variables,
              slots,
              ...requestedLimits(job.resourceRequirements),
              ...sharedMemoryOf(job.definition),
            },
            events,
          )
        : startAttemptProcess({ ...output, command: job.command, cwd: sandbox, variables, platformToken: this.platformToken }, events);
    } catch (error) {
      // What spawn refuses before trying, or a log stream that cannot be created: only this
      // attempt ends, as a container that cannot start, and the scheduler goes on with the other jobs.
      void this.endAttempt(job, running, {
        code: null,
        signal: null,
        spawnError: error instanceof Error ? error : new Error(String(error)),
      });
      return;
    }
    job.running = running;
  }

  private attemptRunning(job: BatchJob, running: RunningAttempt): void {
    running.spawned = true;
    // Batch reports when the job last went RUNNING: after a retry in place, the current run's start.
    job.startedAt = running.startedAt;
    if (!running.stop) this.setStatus(job, 'RUNNING');
    if (job.timeoutSeconds !== undefined) {
      running.timers.push(
        setTimeout(
          () => this.stopAttempt(running, { statusReason: BATCH_STATUS_REASON.attemptTimeout, kind: 'timeout' }),
          job.timeoutSeconds * 1000,
        ),
      );
    }
  }

  private stopAttempt(running: RunningAttempt, stop: AttemptStop): void {
    // Once the main process has ended, the attempt's outcome is its exit; the rest is being killed anyway.
    if (running.stop || running.ending) return;
    running.stop = stop;
    running.timers.push(stopAttemptProcess(running.process, this.options.stopGracePeriodSeconds));
  }

  private async endAttempt(job: BatchJob, running: RunningAttempt, exit: ProcessExit): Promise<void> {
    if (running.ending) return;
    running.ending = true;
    for (const timer of running.timers) clearTimeout(timer);
    try {
      await this.windUp(job, running, exit);
    } finally {
      running.ended.resolve();
    }
  }

  /**
   * What a container's end does: the processes its main one left are killed and its output
   * drains, and only then is the slot free and the attempt reported, so that no process of it
   * shares a GPU with the next job.
   */
  private async windUp(job: BatchJob, running: RunningAttempt, exit: ProcessExit): Promise<void> {
    await reapAttemptProcess(running.process, this.options.logger, job.jobName);
    this.scheduler.release(running.slots);
    job.running = undefined;
    this.active.delete(job);
    const logFailure = await this.options.logStore.closeStream(running.logGroupName, running.logStreamName);
    const sandbox = this.sandboxOf.get(running);
    this.sandboxOf.delete(running);
    if (this.stopping) {
      // Interrupted by the platform's stop: kept, as a failed attempt's is, for debugging.
      if (sandbox) this.sandboxes.release(sandbox, 'failed');
      return;
    }
    // Output that could not be stored fails the attempt even when the process exited 0 first.
    if (logFailure && !running.stop) running.stop = { statusReason: logFailureReason(logFailure), kind: 'terminate' };

    // A container podman could not create or start never ran, whatever stop was asked for meanwhile.
    const end =
      exit.spawnError instanceof ContainerStartError
        ? containerStartFailureEnd(running, exit.spawnError)
        : attemptEnd({
            command: job.command,
            placement: running,
            stop: running.stop,
            spawned: running.spawned,
            ...exit,
          });
    // A limit capped to this machine is said after Batch's reason, which the retry rules still read alone.
    const note = running.process?.note;
    const reason = note === undefined ? end.statusReason : `${end.statusReason} (${note})`;
    job.attempts.push({ container: end.container, startedAt: running.startedAt, stoppedAt: Date.now(), statusReason: reason });
    // Its processes are gone (reaped above): nothing writes in the sandbox any more.
    if (sandbox) this.sandboxes.release(sandbox, end.succeeded ? 'succeeded' : 'failed');

    if (end.succeeded) {
      this.finish(job, 'SUCCEEDED', reason);
    } else if (running.stop?.kind === 'terminate' || job.terminateReason !== undefined) {
      this.finish(job, 'FAILED', job.terminateReason ?? running.stop?.statusReason ?? reason);
    } else if (
      retriesInPlace(job.retryStrategy, job.attempts.length, {
        statusReason: end.statusReason,
        reason: end.containerReason,
        exitCode: end.exitCode,
      })
    ) {
      job.statusReason = undefined;
      this.setStatus(job, 'RUNNABLE');
    } else {
      this.finish(job, 'FAILED', reason);
    }
    this.scheduler.schedule();
  }

  // ---- the job's state ------------------------------------------------------------

  private finish(job: BatchJob, status: 'SUCCEEDED' | 'FAILED', statusReason: string): void {
    this.scheduler.stopCapacityClock(job);
    job.statusReason = statusReason;
    job.stoppedAt = Date.now();
    this.setStatus(job, status);
    job.settled.resolve(jobDetailOf(job));
    this.retainFinished(job);
  }

  /** Keeps the most recent finished jobs only, with the container instances their attempts ran on. */
  private retainFinished(job: BatchJob): void {
    this.finished.set(job.jobId, job);
    for (const [jobId, oldest] of this.finished) {
      if (this.finished.size <= this.retainedFinishedJobs) break;
      this.finished.delete(jobId);
      this.jobs.delete(jobId);
      for (const attempt of oldest.attempts) this.containerInstances.delete(String(attempt.container.containerInstanceArn));
    }
  }

  private setStatus(job: BatchJob, status: BatchJobStatus): void {
    const wasRunnable = job.status === 'RUNNABLE';
    job.status = status;
    if (status === 'RUNNABLE' && !wasRunnable) this.scheduler.enqueue(job);
    if (status !== 'RUNNABLE' && wasRunnable) this.scheduler.dequeue(job);
    // Batch announces these transitions; SUBMITTED and PENDING are not.
    if (status !== 'SUBMITTED' && status !== 'PENDING') this.options.onStateChange(jobDetailOf(job));
  }
}

/** Resolves when the first of `promises` settles, or after `timeoutMs`. */
function settledWithin(promises: readonly Promise<unknown>[], timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    for (const promise of promises) promise.then(done, done);
  });
}

/** How an attempt's main process ended: its exit code or signal, or the error that kept it from starting. */
interface ProcessExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly spawnError: Error | undefined;
}
