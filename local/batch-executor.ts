/**
 * The AWS Batch stand-in: job definitions, a Spot and an On-Demand queue over one
 * pool of GPU slots, each attempt run as a local process, and a simulated Spot
 * market (reclaims, capacity off/on). Job details, state-change events, status
 * reasons and exit codes have the shapes and strings Batch uses, because the
 * shared handlers classify them exactly as in AWS.
 */
import { spawn, type ChildProcess, type ChildProcessByStdio } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { CapacityType } from '../core/job.js';
import { ENV } from '../lambdas/shared/environment.js';
import type { GpuSlot } from './gpus.js';
import type { LocalLogger } from './logger.js';
import type { LogStore } from './log-store.js';
import { deferred, type Deferred } from './deferred.js';
import { ATTEMPT_TOKEN_VARIABLE, newAttemptToken, PLATFORM_TOKEN_VARIABLE, ProcessTree } from './process-tree.js';

export const BATCH_STATUS_REASON = {
  containerExited: 'Essential container in task exited',
  attemptTimeout: 'Job attempt duration exceeded timeout',
  noCapacity: 'Canceled by JobStateTimeLimit action due to reason: CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY',
  /** What the head of a queue without capacity carries while it waits (ListJobs and DescribeJobs show it). */
  queueBlockedNoCapacity: (instanceType: string) =>
    `CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - Service cannot fulfill the capacity requested for instance type [${instanceType}]`,
  jobTooLarge: 'Canceled by JobStateTimeLimit action due to reason: MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT',
  hostTerminated: (instanceId: string) => `Host EC2 (instance ${instanceId}) terminated.`,
} as const;

export type BatchJobStatus = 'SUBMITTED' | 'PENDING' | 'RUNNABLE' | 'STARTING' | 'RUNNING' | 'SUCCEEDED' | 'FAILED';

interface KeyValuePair {
  readonly name: string;
  readonly value: string;
}
interface ResourceRequirement {
  readonly type: string;
  readonly value: string;
}
interface EvaluateOnExit {
  readonly onStatusReason?: string;
  readonly onReason?: string;
  readonly onExitCode?: string;
  readonly action: string;
}
interface RetryStrategy {
  readonly attempts?: number;
  readonly evaluateOnExit?: readonly EvaluateOnExit[];
}

/** RegisterJobDefinition's request, as the Batch REST-JSON protocol carries it. */
export interface RegisterJobDefinitionRequest {
  readonly jobDefinitionName: string;
  readonly type?: string;
  readonly parameters?: Record<string, string>;
  readonly containerProperties?: {
    readonly image?: string;
    readonly command?: readonly string[];
    readonly environment?: readonly KeyValuePair[];
    readonly resourceRequirements?: readonly ResourceRequirement[];
    readonly jobRoleArn?: string;
    readonly executionRoleArn?: string;
    readonly logConfiguration?: { readonly logDriver?: string; readonly options?: Record<string, string> };
    readonly [other: string]: unknown;
  };
  readonly retryStrategy?: RetryStrategy;
  readonly timeout?: { readonly attemptDurationSeconds?: number };
  readonly tags?: Record<string, string>;
  readonly propagateTags?: boolean;
  readonly platformCapabilities?: readonly string[];
  readonly [other: string]: unknown;
}

export interface JobDefinition extends RegisterJobDefinitionRequest {
  readonly jobDefinitionArn: string;
  readonly revision: number;
  readonly status: 'ACTIVE' | 'INACTIVE';
  readonly type: string;
}

/** SubmitJob's request with Step Functions' PascalCase field names (what the `.sync` task's Parameters resolve to). */
export interface SubmitJobParameters {
  readonly JobName: string;
  readonly JobQueue: string;
  readonly JobDefinition: string;
  readonly ContainerOverrides?: {
    readonly Command?: readonly string[];
    readonly Environment?: readonly { readonly Name: string; readonly Value: string }[];
    readonly ResourceRequirements?: readonly { readonly Type: string; readonly Value: string }[];
  };
  readonly Timeout?: { readonly AttemptDurationSeconds?: number };
  /** Overrides the job definition's retryStrategy, as SubmitJob's does. */
  readonly RetryStrategy?: {
    readonly Attempts?: number;
    readonly EvaluateOnExit?: readonly Partial<Record<'OnStatusReason' | 'OnReason' | 'OnExitCode' | 'Action', string>>[];
  };
  readonly Tags?: Record<string, string>;
  readonly Parameters?: Record<string, string>;
}

/** Batch's DescribeJobs `JobDetail` (camelCase, timestamps in epoch milliseconds). */
export type JobDetail = Record<string, unknown> & {
  readonly jobId: string;
  readonly jobName: string;
  readonly status: BatchJobStatus;
};

/** ListJobs' `JobSummary` (timestamps in epoch milliseconds). */
export interface JobSummary {
  readonly jobArn: string;
  readonly jobId: string;
  readonly jobName: string;
  readonly createdAt: number;
  readonly status: BatchJobStatus;
  readonly statusReason?: string;
  readonly startedAt?: number;
  readonly stoppedAt?: number;
  readonly container?: { readonly exitCode?: number; readonly reason?: string };
  readonly jobDefinition: string;
}

export interface ListJobsRequest {
  readonly jobQueue?: string;
  readonly jobStatus?: string;
  readonly maxResults?: number;
  readonly nextToken?: string;
  readonly filters?: readonly unknown[];
}

const BATCH_JOB_STATUSES: readonly BatchJobStatus[] = ['SUBMITTED', 'PENDING', 'RUNNABLE', 'STARTING', 'RUNNING', 'SUCCEEDED', 'FAILED'];

export class ClientException extends Error {
  override readonly name = 'ClientException';
}

export interface LocalBatchOptions {
  readonly account: string;
  readonly region: string;
  readonly gpus: readonly GpuSlot[];
  readonly logStore: LogStore;
  /** Log group used when a job definition names none (Batch's default). */
  readonly defaultLogGroupName: string;
  /** Where registered job definitions are kept across restarts. */
  readonly jobDefinitionsFile: string;
  /**
   * Seconds a job may wait RUNNABLE for a pool that can never fit it, or, at the head of the Spot
   * queue while Spot has no capacity, for capacity, before it is cancelled.
   */
  readonly capacityTimeoutSeconds: number;
  /** Seconds between SIGTERM and SIGKILL when an instance is reclaimed or a job is terminated. */
  readonly stopGracePeriodSeconds: number;
  /**
   * Put in every job process's environment (as GPUJOBS_PLATFORM_TOKEN), so that the next start
   * on the same data dir finds the processes this one leaves behind (see process-tree.ts).
   * @default a random token: nothing left behind can be found again
   */
  readonly platformToken?: string;
  /**
   * Finished jobs kept for DescribeJobs and ListJobs, the most recent first; older ones are
   * forgotten, as Batch forgets jobs past its retention (their records stay in DynamoDB).
   * @default DEFAULT_RETAINED_FINISHED_JOBS
   */
  readonly retainedFinishedJobs?: number;
  /** Working directory of job processes. */
  readonly jobWorkingDirectory: string;
  /** Reported as the instance type of every attempt. */
  readonly instanceType: string;
  readonly logger: LocalLogger;
  /** Called on every transition Batch announces as a "Batch Job State Change" event. */
  readonly onStateChange: (detail: JobDetail) => void;
}

interface RunningAttempt {
  /** Absent when spawn refused the command outright: the attempt ends at once, nothing ran. */
  readonly process?: ChildProcess;
  /** Every process the attempt started, whatever group or session it moved to. */
  readonly tree?: ProcessTree;
  /** Resolves on the main process's 'close': every holder of its output pipes has let go. */
  readonly outputClosed?: Promise<void>;
  readonly slots: readonly number[];
  readonly instanceId: string;
  readonly taskArn: string;
  readonly containerInstanceArn: string;
  readonly logStreamName: string;
  readonly logGroupName: string;
  readonly startedAt: number;
  stop?: { readonly statusReason: string; readonly kind: 'reclaim' | 'timeout' | 'terminate' };
  timers: NodeJS.Timeout[];
  spawned: boolean;
  /** Set once the main process has ended: the attempt is being wound up and no stop changes its outcome. */
  ending: boolean;
  /** Resolves when the attempt has ended: its processes are gone and its output is in the log. */
  readonly ended: Deferred<void>;
}

interface AttemptRecord {
  readonly container: Record<string, unknown>;
  readonly startedAt: number;
  readonly stoppedAt: number;
  readonly statusReason: string;
}

interface BatchJob {
  readonly jobId: string;
  readonly jobArn: string;
  readonly jobName: string;
  readonly jobQueue: string;
  readonly capacity: CapacityType;
  readonly definition: JobDefinition;
  readonly command: readonly string[];
  readonly environment: readonly KeyValuePair[];
  readonly resourceRequirements: readonly ResourceRequirement[];
  readonly gpus: number;
  readonly timeoutSeconds?: number;
  readonly retryStrategy: RetryStrategy;
  readonly tags: Record<string, string>;
  readonly parameters: Record<string, string>;
  readonly createdAt: number;
  readonly sequence: number;
  status: BatchJobStatus;
  statusReason?: string;
  startedAt?: number;
  stoppedAt?: number;
  attempts: AttemptRecord[];
  running?: RunningAttempt;
  blockedSince?: number;
  blockedTimer?: NodeJS.Timeout;
  terminateReason?: string;
  readonly settled: Deferred<JobDetail>;
}

const SIGNAL_NUMBERS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGSEGV: 11, SIGPIPE: 13, SIGTERM: 15 };

export const DEFAULT_RETAINED_FINISHED_JOBS = 1000;
/**
 * How long SIGKILLed processes may take to die before the attempt ends without them (one in
 * uninterruptible sleep, such as a GPU driver call, can take seconds); they are logged.
 */
const KILL_TIMEOUT_MS = 5_000;
/** How long the output may take to drain once every process is gone (a pipe held by an escaped process never closes). */
const OUTPUT_DRAIN_TIMEOUT_MS = 2_000;

export class LocalBatch {
  private readonly definitions = new Map<string, JobDefinition[]>();
  private readonly jobs = new Map<string, BatchJob>();
  /** RUNNABLE jobs in submission order: what schedule() looks at, rather than every job ever seen. */
  private readonly runnable: BatchJob[] = [];
  /** Jobs with an attempt in progress. */
  private readonly active = new Set<BatchJob>();
  /** Finished jobs still kept, oldest first (a Map iterates in insertion order). */
  private readonly finished = new Map<string, BatchJob>();
  private readonly containerInstances = new Map<string, Record<string, unknown>>();
  private readonly freeSlots: Set<number>;
  private readonly platformToken: string;
  private readonly retainedFinishedJobs: number;
  private spotCapacityAvailable = true;
  private sequence = 0;
  private stopping = false;

  constructor(private readonly options: LocalBatchOptions) {
    const retained = options.retainedFinishedJobs ?? DEFAULT_RETAINED_FINISHED_JOBS;
    if (!Number.isInteger(retained) || retained < 1) {
      throw new RangeError(`retainedFinishedJobs must be a positive integer. Received ${retained}.`);
    }
    this.retainedFinishedJobs = retained;
    this.platformToken = options.platformToken ?? newAttemptToken();
    this.freeSlots = new Set(options.gpus.map((gpu) => gpu.index));
    this.loadDefinitions();
  }

  // ---- job definitions -------------------------------------------------------

  registerJobDefinition(request: RegisterJobDefinitionRequest): { jobDefinitionName: string; jobDefinitionArn: string; revision: number } {
    if (!request.jobDefinitionName || !/^[A-Za-z0-9_-]{1,128}$/.test(request.jobDefinitionName)) {
      throw new ClientException(`jobDefinitionName must be 1-128 letters, digits, hyphens or underscores. Received ${JSON.stringify(request.jobDefinitionName)}.`);
    }
    const revisions = this.definitions.get(request.jobDefinitionName) ?? [];
    const revision = revisions.length + 1;
    const definition: JobDefinition = {
      ...request,
      type: request.type ?? 'container',
      jobDefinitionArn: `arn:aws:batch:${this.options.region}:${this.options.account}:job-definition/${request.jobDefinitionName}:${revision}`,
      revision,
      status: 'ACTIVE',
    };
    revisions.push(definition);
    this.definitions.set(request.jobDefinitionName, revisions);
    this.saveDefinitions();
    return { jobDefinitionName: request.jobDefinitionName, jobDefinitionArn: definition.jobDefinitionArn, revision };
  }

  describeJobDefinitions(request: {
    jobDefinitions?: readonly string[];
    jobDefinitionName?: string;
    status?: string;
    maxResults?: number;
    nextToken?: string;
  }): { jobDefinitions: JobDefinition[]; nextToken?: string } {
    let matching: JobDefinition[];
    if (request.jobDefinitions?.length) {
      matching = request.jobDefinitions.map((reference) => this.findDefinition(reference)).filter((d): d is JobDefinition => !!d);
    } else if (request.jobDefinitionName) {
      matching = [...(this.definitions.get(request.jobDefinitionName) ?? [])];
    } else {
      matching = [...this.definitions.values()].flat();
    }
    if (request.status) matching = matching.filter((definition) => definition.status === request.status);
    const start = request.nextToken ? Number(request.nextToken) : 0;
    const pageSize = Math.min(request.maxResults ?? 100, 100);
    const page = matching.slice(start, start + pageSize);
    const next = start + pageSize < matching.length ? String(start + pageSize) : undefined;
    return { jobDefinitions: page, ...(next ? { nextToken: next } : {}) };
  }

  deregisterJobDefinition(reference: string): void {
    const definition = this.findDefinition(reference);
    if (!definition) throw new ClientException(`Job definition ${reference} does not exist.`);
    const revisions = this.definitions.get(definition.jobDefinitionName) ?? [];
    this.definitions.set(
      definition.jobDefinitionName,
      revisions.map((candidate) => (candidate.revision === definition.revision ? { ...candidate, status: 'INACTIVE' } : candidate)),
    );
    this.saveDefinitions();
  }

  /** An ARN, `name:revision`, or a name (its latest ACTIVE revision). */
  private findDefinition(reference: string): JobDefinition | undefined {
    const arnMatch = /:job-definition\/([^:]+):(\d+)$/.exec(reference);
    const nameRevision = arnMatch ? [arnMatch[1]!, arnMatch[2]!] : reference.split(':');
    const [name, revision] = nameRevision;
    const revisions = this.definitions.get(name ?? '') ?? [];
    if (revision !== undefined) return revisions.find((definition) => definition.revision === Number(revision));
    return [...revisions].reverse().find((definition) => definition.status === 'ACTIVE');
  }

  private loadDefinitions(): void {
    if (!existsSync(this.options.jobDefinitionsFile)) return;
    const stored = JSON.parse(readFileSync(this.options.jobDefinitionsFile, 'utf8')) as JobDefinition[];
    for (const definition of stored) {
      const revisions = this.definitions.get(definition.jobDefinitionName) ?? [];
      revisions.push(definition);
      this.definitions.set(definition.jobDefinitionName, revisions);
    }
  }

  private saveDefinitions(): void {
    mkdirSync(dirname(this.options.jobDefinitionsFile), { recursive: true });
    writeFileSync(this.options.jobDefinitionsFile, JSON.stringify([...this.definitions.values()].flat()));
  }

  // ---- jobs --------------------------------------------------------------------

  /** SubmitJob; the returned promise settles when the job is SUCCEEDED or FAILED (what `.sync` waits for). */
  submitJob(parameters: SubmitJobParameters, capacity: CapacityType): { jobId: string; jobArn: string; completion: Promise<JobDetail> } {
    const definition = this.findDefinition(parameters.JobDefinition);
    if (!definition || definition.status !== 'ACTIVE') {
      throw new ClientException(`Job definition ${parameters.JobDefinition} does not exist or is not ACTIVE.`);
    }
    if (!parameters.JobName || !/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/.test(parameters.JobName)) {
      throw new ClientException(`jobName must be 1-128 letters, digits, hyphens or underscores, starting with a letter or digit. Received ${JSON.stringify(parameters.JobName)}.`);
    }
    const container = definition.containerProperties ?? {};
    const overrides = parameters.ContainerOverrides ?? {};
    const command = overrides.Command ?? container.command ?? [];
    const environment = mergeEnvironment(
      container.environment ?? [],
      (overrides.Environment ?? []).map(({ Name, Value }) => ({ name: Name, value: Value })),
    );
    const resourceRequirements = mergeResources(
      container.resourceRequirements ?? [],
      (overrides.ResourceRequirements ?? []).map(({ Type, Value }) => ({ type: Type, value: Value })),
    );
    const gpus = Number(resourceRequirements.find((requirement) => requirement.type === 'GPU')?.value ?? 0);
    const timeoutSeconds = parameters.Timeout?.AttemptDurationSeconds ?? definition.timeout?.attemptDurationSeconds;
    const retryStrategy: RetryStrategy = parameters.RetryStrategy
      ? {
          attempts: parameters.RetryStrategy.Attempts ?? 1,
          evaluateOnExit: (parameters.RetryStrategy.EvaluateOnExit ?? []).map((rule) => ({
            action: rule.Action ?? 'EXIT',
            ...(rule.OnStatusReason ? { onStatusReason: rule.OnStatusReason } : {}),
            ...(rule.OnReason ? { onReason: rule.OnReason } : {}),
            ...(rule.OnExitCode ? { onExitCode: rule.OnExitCode } : {}),
          })),
        }
      : (definition.retryStrategy ?? { attempts: 1 });
    const jobId = randomUUID();
    const job: BatchJob = {
      jobId,
      jobArn: `arn:aws:batch:${this.options.region}:${this.options.account}:job/${jobId}`,
      jobName: parameters.JobName,
      jobQueue: parameters.JobQueue,
      capacity,
      definition,
      command,
      environment,
      resourceRequirements,
      gpus,
      ...(timeoutSeconds !== undefined ? { timeoutSeconds } : {}),
      retryStrategy,
      tags: { ...(definition.propagateTags ? definition.tags : {}), ...parameters.Tags },
      parameters: { ...definition.parameters, ...parameters.Parameters },
      createdAt: Date.now(),
      sequence: (this.sequence += 1),
      status: 'SUBMITTED',
      attempts: [],
      settled: deferred<JobDetail>(),
    };
    this.jobs.set(jobId, job);
    this.setStatus(job, 'RUNNABLE');
    queueMicrotask(() => this.schedule());
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
    return jobIds.map((id) => this.jobs.get(id)).filter((job): job is BatchJob => !!job).map((job) => this.detailOf(job));
  }

  /**
   * ListJobs by queue (its name or ARN) and status (RUNNING when none is given, as in Batch),
   * in submission order, paginated by nextToken.
   */
  listJobs(request: ListJobsRequest): { jobSummaryList: JobSummary[]; nextToken?: string } {
    if (!request.jobQueue) throw new ClientException('jobQueue is required (arrayJobId and multiNodeJobId are not supported locally).');
    if (request.filters?.length) throw new ClientException('ListJobs filters are not supported locally.');
    const status = (request.jobStatus ?? 'RUNNING') as BatchJobStatus;
    if (!BATCH_JOB_STATUSES.includes(status)) throw new ClientException(`jobStatus must be one of ${BATCH_JOB_STATUSES.join(', ')}. Received ${JSON.stringify(request.jobStatus)}.`);
    const queue = request.jobQueue;
    const matching = [...this.jobs.values()]
      .filter((job) => (job.jobQueue === queue || job.jobQueue.split('/').pop() === queue) && job.status === status)
      .sort((a, b) => a.sequence - b.sequence);
    const start = request.nextToken ? Number(request.nextToken) : 0;
    if (!Number.isInteger(start) || start < 0) throw new ClientException(`Invalid nextToken. Received ${JSON.stringify(request.nextToken)}.`);
    const pageSize = Math.min(Math.max(request.maxResults ?? 1000, 1), 1000);
    const page = matching.slice(start, start + pageSize).map((job) => this.summaryOf(job));
    const next = start + pageSize < matching.length ? String(start + pageSize) : undefined;
    return { jobSummaryList: page, ...(next ? { nextToken: next } : {}) };
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
    this.schedule();
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
      const boundMs = this.options.stopGracePeriodSeconds * 1000 + KILL_TIMEOUT_MS + OUTPUT_DRAIN_TIMEOUT_MS + 1_000;
      return settledWithin([job.settled.promise, running.ended.promise], boundMs);
    }
    this.finish(job, 'FAILED', reason);
    this.schedule();
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
    let interrupted = 0;
    for (const job of this.active) {
      if (job.capacity !== 'spot' || !job.running || job.running.stop) continue;
      this.stopAttempt(job.running, { statusReason: BATCH_STATUS_REASON.hostTerminated(job.running.instanceId), kind: 'reclaim' });
      interrupted += 1;
    }
    return interrupted;
  }

  setSpotCapacity(available: boolean): void {
    this.spotCapacityAvailable = available;
    this.schedule();
  }

  get spotCapacity(): boolean {
    return this.spotCapacityAvailable;
  }

  /** Process ids of running attempts by Batch job name (for diagnostics and tests). */
  runningProcesses(): { jobName: string; pid: number; capacity: CapacityType; slots: readonly number[] }[] {
    return [...this.active]
      .filter((job) => job.running?.process?.pid !== undefined)
      .map((job) => ({ jobName: job.jobName, pid: job.running!.process!.pid!, capacity: job.capacity, slots: job.running!.slots }));
  }

  /**
   * Stops every job process without settling anything: the platform is going down and
   * the jobs' records are reconciled when it starts again.
   */
  async shutdown(): Promise<void> {
    this.stopping = true;
    const ends: Promise<unknown>[] = [];
    for (const job of this.runnable) {
      if (job.blockedTimer) clearTimeout(job.blockedTimer);
    }
    for (const job of this.active) {
      const running = job.running;
      if (!running) continue;
      ends.push(running.ended.promise);
      this.stopAttempt(running, { statusReason: 'local platform stopped', kind: 'terminate' });
    }
    await Promise.all(ends);
  }

  // ---- scheduling -----------------------------------------------------------------

  private schedule(): void {
    if (this.stopping) return;
    let spotQueueHead = true;
    // A copy: starting or failing a job takes it out of the queue.
    for (const job of [...this.runnable]) {
      if (job.gpus > this.options.gpus.length) {
        this.startCapacityClock(job, BATCH_STATUS_REASON.jobTooLarge);
        continue;
      }
      if (job.capacity === 'spot' && !this.spotCapacityAvailable) {
        // A queue without capacity is blocked by its head job alone: Batch puts the blocked reason on
        // that job and its jobStateTimeLimitActions cancel only it; the jobs behind it simply wait
        // (https://docs.aws.amazon.com/batch/latest/userguide/job_stuck_in_runnable.html).
        if (spotQueueHead) {
          this.startCapacityClock(job, BATCH_STATUS_REASON.noCapacity, BATCH_STATUS_REASON.queueBlockedNoCapacity(this.options.instanceType));
        } else {
          this.stopCapacityClock(job);
        }
        spotQueueHead = false;
        continue;
      }
      this.stopCapacityClock(job);
      if (job.gpus <= this.freeSlots.size) this.start(job);
    }
  }

  /**
   * A queue's jobStateTimeLimitActions: cancel a job stuck RUNNABLE for the timeout, with
   * `blockedReason` as its statusReason while it waits.
   */
  private startCapacityClock(job: BatchJob, reason: string, blockedReason?: string): void {
    if (blockedReason !== undefined) job.statusReason = blockedReason;
    if (job.blockedTimer) return;
    job.blockedSince = Date.now();
    job.blockedTimer = setTimeout(() => {
      job.blockedTimer = undefined;
      if (job.status !== 'RUNNABLE') return;
      this.finish(job, 'FAILED', reason);
      this.schedule();
    }, this.options.capacityTimeoutSeconds * 1000);
  }

  private stopCapacityClock(job: BatchJob): void {
    if (job.blockedTimer) clearTimeout(job.blockedTimer);
    job.blockedTimer = undefined;
    job.blockedSince = undefined;
    // A waiting job carries a statusReason only while it blocks its queue.
    if (job.status === 'RUNNABLE') job.statusReason = undefined;
  }

  private start(job: BatchJob): void {
    const slots = [...this.freeSlots].sort((a, b) => a - b).slice(0, job.gpus);
    for (const slot of slots) this.freeSlots.delete(slot);
    this.setStatus(job, 'STARTING');

    const attemptNumber = job.attempts.length + 1;
    const instanceId = `i-${randomBytes(9).toString('hex').slice(0, 17)}`;
    const clusterName = `gpujobs-local-${job.capacity}`;
    const containerInstanceArn = `arn:aws:ecs:${this.options.region}:${this.options.account}:container-instance/${clusterName}/${randomBytes(16).toString('hex')}`;
    const taskId = randomBytes(16).toString('hex');
    const taskArn = `arn:aws:ecs:${this.options.region}:${this.options.account}:task/${clusterName}/${taskId}`;
    const logOptions = job.definition.containerProperties?.logConfiguration?.options ?? {};
    const logGroupName = logOptions['awslogs-group'] ?? this.options.defaultLogGroupName;
    const logStreamName = `${logOptions['awslogs-stream-prefix'] ?? job.definition.jobDefinitionName}/default/${taskId}`;
    this.containerInstances.set(containerInstanceArn, {
      containerInstanceArn,
      ec2InstanceId: instanceId,
      status: 'ACTIVE',
      agentConnected: true,
      attributes: [
        { name: 'ecs.instance-type', value: this.options.instanceType },
        { name: 'ecs.availability-zone', value: `${this.options.region}a` },
        { name: 'ecs.capability.spot', value: String(job.capacity === 'spot') },
      ],
    });

    const attemptToken = newAttemptToken();
    const environment = {
      ...inheritedEnvironment(),
      ...Object.fromEntries(job.environment.map(({ name, value }) => [name, value])),
      AWS_BATCH_JOB_ID: job.jobId,
      AWS_BATCH_JOB_ATTEMPT: String(attemptNumber),
      AWS_BATCH_JQ_NAME: job.jobQueue.split('/').pop() ?? job.jobQueue,
      AWS_BATCH_CE_NAME: clusterName,
      CUDA_VISIBLE_DEVICES: slots.join(','),
      // Inherited by everything the attempt starts: how its processes are found (process-tree.ts).
      [ATTEMPT_TOKEN_VARIABLE]: attemptToken,
      [PLATFORM_TOKEN_VARIABLE]: this.platformToken,
    };
    const [file, ...args] = job.command;
    const attempt = {
      slots,
      instanceId,
      taskArn,
      containerInstanceArn,
      logStreamName,
      logGroupName,
      startedAt: Date.now(),
      timers: [] as NodeJS.Timeout[],
      spawned: false,
      ending: false,
      ended: deferred<void>(),
    };
    this.active.add(job);
    let child: ChildProcessByStdio<null, Readable, Readable>;
    try {
      // A log the disk cannot take (ENOSPC, EIO) ends the attempt FAILED with that reason, not the platform.
      this.options.logStore.createStream(logGroupName, logStreamName, (failure) => job.running?.logStreamName === logStreamName && this.stopAttempt(job.running, { statusReason: logFailureReason(failure), kind: 'terminate' }));
      // Its own process group, and the tokens in its environment: a reclaim or cancel reaches
      // everything the job started, even what left the group (process-tree.ts).
      child = spawn(file ?? '', args, {
        cwd: this.options.jobWorkingDirectory,
        env: environment,
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
    } catch (error) {
      // spawn throws, rather than emitting 'error', for what it refuses before trying: an empty
      // program, a NUL byte in an argument or the environment (ERR_INVALID_ARG_VALUE), and errors
      // such as E2BIG; creating the log stream can fail too. Either way only this attempt ends, as
      // a container that cannot start, and schedule() goes on with the other jobs.
      void this.endAttempt(job, attempt, null, null, error instanceof Error ? error : new Error(String(error)));
      return;
    }
    const outputClosed = new Promise<void>((resolve) => child.once('close', () => resolve()));
    const running: RunningAttempt = { ...attempt, process: child, tree: new ProcessTree(child.pid, attemptToken), outputClosed };
    job.running = running;

    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) =>
        this.options.logStore.append(logGroupName, logStreamName, line),
      );
    }
    child.once('spawn', () => {
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
    });
    let spawnError: Error | undefined;
    child.once('error', (error) => {
      spawnError = error;
    });
    // The attempt ends with its main process, as a container stops when its PID 1 exits, not
    // when the last holder of its output lets go ('close'). A command that could not be spawned
    // emits no 'exit', only 'error' and 'close'.
    child.once('exit', (code, signal) => void this.endAttempt(job, running, code, signal, spawnError));
    child.once('close', (code, signal) => void this.endAttempt(job, running, code, signal, spawnError));
  }

  private stopAttempt(running: RunningAttempt, stop: NonNullable<RunningAttempt['stop']>): void {
    // Once the main process has ended, the attempt's outcome is its exit; the rest is being killed anyway.
    if (running.stop || running.ending) return;
    running.stop = stop;
    running.tree?.signal('SIGTERM');
    running.timers.push(setTimeout(() => running.tree?.signal('SIGKILL'), this.options.stopGracePeriodSeconds * 1000));
  }

  private async endAttempt(
    job: BatchJob,
    running: RunningAttempt,
    code: number | null,
    signal: NodeJS.Signals | null,
    spawnError: Error | undefined,
  ): Promise<void> {
    if (running.ending) return;
    running.ending = true;
    for (const timer of running.timers) clearTimeout(timer);
    try {
      await this.windUp(job, running, code, signal, spawnError);
    } finally {
      running.ended.resolve();
    }
  }

  /**
   * What a container's end does: the processes its main one left are SIGKILLed (a PID namespace
   * ends when its init does), its output drains, and only then is the slot free and the attempt
   * reported, so that no process of it shares a GPU with the next job.
   */
  private async windUp(
    job: BatchJob,
    running: RunningAttempt,
    code: number | null,
    signal: NodeJS.Signals | null,
    spawnError: Error | undefined,
  ): Promise<void> {
    const survivors = (await running.tree?.kill(KILL_TIMEOUT_MS)) ?? [];
    if (survivors.length > 0) {
      this.options.logger.warn(`job ${job.jobName}: processes ${survivors.join(', ')} did not die within ${KILL_TIMEOUT_MS} ms of SIGKILL; the attempt ends without them`);
    }
    if (running.process && running.outputClosed) await drainOutput(running.process, running.outputClosed, OUTPUT_DRAIN_TIMEOUT_MS);
    for (const slot of running.slots) this.freeSlots.add(slot);
    job.running = undefined;
    this.active.delete(job);
    const logFailure = await this.options.logStore.closeStream(running.logGroupName, running.logStreamName);
    if (this.stopping) return;
    // Output that could not be stored fails the attempt even when the process exited 0 first.
    if (logFailure && !running.stop) running.stop = { statusReason: logFailureReason(logFailure), kind: 'terminate' };

    const stoppedAt = Date.now();
    const exitCode = code ?? (signal ? 128 + (SIGNAL_NUMBERS[signal] ?? 0) : undefined);
    let statusReason: string;
    let containerReason: string | undefined;
    if (spawnError && !running.spawned) {
      statusReason = 'CannotStartContainerError: Error response from daemon: failed to create task for container';
      containerReason = `CannotStartContainerError: exec: ${JSON.stringify(job.command[0] ?? '')}: ${withoutReceivedValue(spawnError.message)}`;
    } else if (running.stop?.kind === 'reclaim' || running.stop?.kind === 'timeout') {
      statusReason = running.stop.statusReason;
    } else {
      statusReason = BATCH_STATUS_REASON.containerExited;
    }
    const container: Record<string, unknown> = {
      containerInstanceArn: running.containerInstanceArn,
      taskArn: running.taskArn,
      logStreamName: running.logStreamName,
      networkInterfaces: [],
      // A reclaimed host reports no exit code: the container never exited on its own.
      ...(running.stop?.kind === 'reclaim' || exitCode === undefined || (spawnError && !running.spawned) ? {} : { exitCode }),
      ...(containerReason ? { reason: containerReason } : {}),
    };
    job.attempts.push({ container, startedAt: running.startedAt, stoppedAt, statusReason });

    const succeeded = !spawnError && exitCode === 0 && !running.stop;
    if (succeeded) {
      this.finish(job, 'SUCCEEDED', statusReason);
    } else if (running.stop?.kind === 'terminate' || job.terminateReason !== undefined) {
      this.finish(job, 'FAILED', job.terminateReason ?? running.stop?.statusReason ?? statusReason);
    } else if (this.shouldRetry(job, statusReason, containerReason, container.exitCode as number | undefined)) {
      job.statusReason = undefined;
      this.setStatus(job, 'RUNNABLE');
    } else {
      this.finish(job, 'FAILED', statusReason);
    }
    this.schedule();
  }

  /** Batch's retryStrategy: the first matching evaluateOnExit rule decides; with none matching, retry while attempts remain. */
  private shouldRetry(job: BatchJob, statusReason: string, reason: string | undefined, exitCode: number | undefined): boolean {
    if (job.attempts.length >= (job.retryStrategy.attempts ?? 1)) return false;
    for (const rule of job.retryStrategy.evaluateOnExit ?? []) {
      const matches =
        (rule.onStatusReason === undefined || globMatches(rule.onStatusReason, statusReason)) &&
        (rule.onReason === undefined || globMatches(rule.onReason, reason ?? '')) &&
        (rule.onExitCode === undefined || globMatches(rule.onExitCode, exitCode === undefined ? '' : String(exitCode)));
      if (matches) return rule.action.toUpperCase() === 'RETRY';
    }
    return true;
  }

  private finish(job: BatchJob, status: 'SUCCEEDED' | 'FAILED', statusReason: string): void {
    this.stopCapacityClock(job);
    job.statusReason = statusReason;
    job.stoppedAt = Date.now();
    this.setStatus(job, status);
    job.settled.resolve(this.detailOf(job));
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
    if (status === 'RUNNABLE' && !wasRunnable) insertBySequence(this.runnable, job);
    if (status !== 'RUNNABLE' && wasRunnable) removeBySequence(this.runnable, job);
    // Batch announces these transitions; SUBMITTED and PENDING are not.
    if (status !== 'SUBMITTED' && status !== 'PENDING') this.options.onStateChange(this.detailOf(job));
  }

  private summaryOf(job: BatchJob): JobSummary {
    const container = job.attempts.at(-1)?.container;
    const exitCode = container?.exitCode;
    const reason = container?.reason;
    return {
      jobArn: job.jobArn,
      jobId: job.jobId,
      jobName: job.jobName,
      createdAt: job.createdAt,
      status: job.status,
      ...(job.statusReason !== undefined ? { statusReason: job.statusReason } : {}),
      ...(job.startedAt !== undefined ? { startedAt: job.startedAt } : {}),
      ...(job.stoppedAt !== undefined ? { stoppedAt: job.stoppedAt } : {}),
      ...(container
        ? { container: { ...(typeof exitCode === 'number' ? { exitCode } : {}), ...(typeof reason === 'string' ? { reason } : {}) } }
        : {}),
      jobDefinition: job.definition.jobDefinitionArn,
    };
  }

  private detailOf(job: BatchJob): JobDetail {
    const lastAttempt = job.attempts.at(-1);
    const running = job.running;
    const currentContainer = running
      ? { containerInstanceArn: running.containerInstanceArn, taskArn: running.taskArn, logStreamName: running.logStreamName }
      : (lastAttempt?.container ?? {});
    const container = job.definition.containerProperties ?? {};
    return {
      jobArn: job.jobArn,
      jobName: job.jobName,
      jobId: job.jobId,
      jobQueue: job.jobQueue,
      status: job.status,
      attempts: job.attempts.map((attempt) => ({ ...attempt, container: { ...attempt.container } })),
      ...(job.statusReason !== undefined ? { statusReason: job.statusReason } : {}),
      createdAt: job.createdAt,
      retryStrategy: job.retryStrategy,
      ...(job.startedAt !== undefined ? { startedAt: job.startedAt } : {}),
      ...(job.stoppedAt !== undefined ? { stoppedAt: job.stoppedAt } : {}),
      dependsOn: [],
      jobDefinition: job.definition.jobDefinitionArn,
      parameters: job.parameters,
      container: {
        image: container.image,
        command: job.command,
        ...(container.jobRoleArn ? { jobRoleArn: container.jobRoleArn } : {}),
        ...(container.executionRoleArn ? { executionRoleArn: container.executionRoleArn } : {}),
        volumes: [],
        environment: job.environment,
        mountPoints: [],
        ulimits: [],
        resourceRequirements: job.resourceRequirements,
        networkInterfaces: [],
        secrets: [],
        ...(container.logConfiguration ? { logConfiguration: container.logConfiguration } : {}),
        ...currentContainer,
      },
      ...(job.timeoutSeconds !== undefined ? { timeout: { attemptDurationSeconds: job.timeoutSeconds } } : {}),
      tags: job.tags,
      propagateTags: job.definition.propagateTags ?? false,
      platformCapabilities: job.definition.platformCapabilities ?? ['EC2'],
      eksAttempts: [],
    };
  }
}

/** Batch matches evaluateOnExit patterns exactly, or by prefix when they end in `*`. */
/**
 * A job whose output cannot be stored fails the same way on any attempt until the disk is
 * fixed, so the reason carries Batch's MISCONFIGURATION prefix: the classifier then ends the job
 * (no retry, no On-Demand spend) and says so, instead of blaming the job's exit code.
 */
function logFailureReason(failure: Error): string {
  return `MISCONFIGURATION:HOST_STORAGE - ${failure.message}`;
}

export function globMatches(pattern: string, value: string): boolean {
  if (pattern.endsWith('*')) return value.startsWith(pattern.slice(0, -1));
  return pattern === value;
}

function mergeEnvironment(base: readonly KeyValuePair[], overrides: readonly KeyValuePair[]): KeyValuePair[] {
  const merged = new Map(base.map(({ name, value }) => [name, value]));
  for (const { name, value } of overrides) merged.set(name, value);
  return [...merged].map(([name, value]) => ({ name, value }));
}

function mergeResources(base: readonly ResourceRequirement[], overrides: readonly ResourceRequirement[]): ResourceRequirement[] {
  const merged = new Map(base.map(({ type, value }) => [type, value]));
  for (const { type, value } of overrides) merged.set(type, value);
  return [...merged].map(([type, value]) => ({ type, value }));
}

/**
 * A job sees this machine's environment (PATH, HOME, an activated virtualenv), but not
 * the developer's AWS credentials or the platform's own settings: in AWS a job has only
 * what its job role and definition give it.
 */
const PLATFORM_VARIABLES = new Set<string>([...Object.values(ENV), 'CUDA_VISIBLE_DEVICES', 'NODE_OPTIONS']);

function inheritedEnvironment(): Record<string, string> {
  const inherited: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value === undefined) continue;
    if (/^(AWS_|GPUJOBS_|POWERTOOLS_)/.test(name) || PLATFORM_VARIABLES.has(name)) continue;
    inherited[name] = value;
  }
  return inherited;
}

/**
 * Node's argument errors end with the offending value (`... Received 'x\x00y'`), which for the
 * environment may be a secret; the reason reaches the job record and its events, so it stops at
 * the name of what was refused.
 */
function withoutReceivedValue(message: string): string {
  return message.replace(/\.? Received [\s\S]*$/, '.');
}

/** Batch runs a queue's jobs in submission order, and a job retried in place keeps its place. */
function insertBySequence(queue: BatchJob[], job: BatchJob): void {
  queue.splice(positionOf(queue, job.sequence), 0, job);
}

function removeBySequence(queue: BatchJob[], job: BatchJob): void {
  const position = positionOf(queue, job.sequence);
  if (queue[position] === job) queue.splice(position, 1);
}

/** Where `sequence` is, or would go, in a queue sorted by sequence (binary search). */
function positionOf(queue: readonly BatchJob[], sequence: number): number {
  let low = 0;
  let high = queue.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (queue[middle]!.sequence < sequence) low = middle + 1;
    else high = middle;
  }
  return low;
}

/**
 * Waits for the main process's output to reach the log ('close': every holder of its pipes let
 * go) for at most `timeoutMs`; past that the pipes are closed from this end, because a process
 * that escaped the kill may hold them for good.
 */
function drainOutput(child: ChildProcess, closed: Promise<void>, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.stdout?.destroy();
      child.stderr?.destroy();
      resolve();
    }, timeoutMs);
    void closed.then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
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
