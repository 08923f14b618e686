/**
 * Ports: what the handlers need from storage and the outside world, stated without
 * any AWS SDK type. The DynamoDB adapter (lambdas/shared/job-store.ts) implements
 * JobStore; tests and local mode use that same adapter against dynalite. The in-memory store
 * (lambdas/shared/memory-job-store.ts) has the same semantics, held to them by one contract suite,
 * so the lifecycle properties can run thousands of histories.
 */
import type { JobChange } from './job-change.js';
import type { JobRecord, JobSpec, JobStatus } from './job.js';

/** Thrown when a conditional write lost a race or the job is not in an allowed status. */
export class ConflictError extends Error {
  override readonly name = 'ConflictError';
  constructor(
    message: string,
    readonly current?: JobRecord,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The job a write or a workflow task names is not in the store. */
export class JobNotFoundError extends Error {
  override readonly name = 'JobNotFoundError';
  constructor(readonly jobId: string) {
    super(`Job ${jobId} does not exist.`);
  }
}

export interface CreateJobRequest {
  readonly jobId: string;
  readonly owner: string;
  readonly spec: JobSpec;
  readonly now: string;
  /** Present when the caller sent an Idempotency-Key. */
  readonly idempotency?: { readonly key: string; readonly requestHash: string };
}

export type CreateJobResult =
  | { readonly kind: 'created'; readonly job: JobRecord }
  /** Same key, same body, within 24 h: the first request's job, nothing created. */
  | { readonly kind: 'replayed'; readonly job: JobRecord }
  /** Same key, different body. */
  | { readonly kind: 'key-conflict'; readonly existingJobId: string };

export interface ListJobsQuery {
  readonly owner: string;
  readonly status?: JobStatus;
  readonly limit: number;
  /** Opaque token from a previous page. */
  readonly nextToken?: string;
}

export interface ListJobsPage {
  readonly jobs: readonly JobRecord[];
  readonly nextToken?: string;
}

export interface JobStore {
  createJob(request: CreateJobRequest): Promise<CreateJobResult>;
  /** Deletes a job that was never announced (the intake send failed), and its idempotency record. */
  deleteUnsentJob(jobId: string, owner: string, idempotencyKey?: string): Promise<void>;
  getJob(jobId: string): Promise<JobRecord | undefined>;
  listJobs(query: ListJobsQuery): Promise<ListJobsPage>;
  /**
   * Every job not yet terminal (QUEUED, PENDING or RUNNING), of any owner, in no particular order.
   * It scans the whole table, so it is meant for local mode's restart recovery (local/recovery.ts),
   * never for a request path in AWS; a job may have moved on since it was read.
   */
  listUnfinished(): Promise<readonly JobRecord[]>;
  /**
   * Writes `change` (core/job-change.ts) in one write conditional on the job still being as
   * `current` was read (its version); returns the record as written, or `current` when the
   * change changes nothing. Throws ConflictError with `current` when the rules refuse the
   * change, and without a record when the job moved since it was read: read and decide again
   * (app/update-job.ts).
   */
  update(current: JobRecord, change: JobChange): Promise<JobRecord>;
  /**
   * Records that the job's terminal event was published: true when this call settled the debt,
   * false when there was none unpaid (another invocation paid it, or the job is not terminal).
   */
  markTerminalEventPublished(jobId: string): Promise<boolean>;
  /**
   * Takes the right to publish a job's unpublished terminal event until `until` (ISO-8601),
   * if nobody holds an unexpired claim at `now`; false otherwise (published, or claimed).
   */
  claimTerminalEvent(jobId: string, now: string, until: string): Promise<boolean>;
  /** Gives up a claim taken at `until` (the publish failed), so a retry need not wait for it to lapse. */
  releaseTerminalEventClaim(jobId: string, until: string): Promise<void>;
}

/** Publishes gpujobs events (EventBridge in AWS, the local bus in local mode). */
export interface GpuJobEvent {
  readonly detailType: 'GPU Job Status Change' | 'GPU Job Succeeded' | 'GPU Job Failed' | 'GPU Job Cancelled';
  readonly detail: Record<string, unknown>;
}

export class EventPublishError extends Error {
  override readonly name = 'EventPublishError';
  constructor(
    message: string,
    /** `ErrorCode: ErrorMessage` of each entry still rejected on the last try. */
    readonly failures: readonly string[],
    /** The events that did not go out (rejected on every try, or never sent); the others were accepted. */
    readonly unpublished: readonly GpuJobEvent[] = [],
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
