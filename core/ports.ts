/**
 * Ports: what the handlers need from storage and the outside world, stated without
 * any AWS SDK type. The DynamoDB adapter (lambdas/shared/job-store.ts) implements
 * JobStore; tests and local mode use that same adapter against dynalite. The in-memory store
 * (lambdas/shared/memory-job-store.ts) has the same semantics, held to them by one contract suite,
 * so the lifecycle properties can run thousands of histories.
 */
import type { Attempt, JobRecord, JobSpec, JobStatus } from './job.js';

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

/** A status change, applied only if the job is in one of `from` (and at `expectedVersion` when given). */
export interface TransitionRequest {
  readonly jobId: string;
  readonly from: readonly JobStatus[];
  readonly to: JobStatus;
  readonly now: string;
  readonly expectedVersion?: number;
  /** Extra top-level fields written in the same update (statusReason, exitCode, finishedAt, costUsd, ...). */
  readonly set?: Partial<
    Pick<JobRecord, 'statusReason' | 'exitCode' | 'startedAt' | 'finishedAt' | 'costUsd' | 'cancelRequested' | 'executionArn' | 'terminalEvent'>
  >;
}

export interface PutAttemptOptions {
  /** The write belongs to the job's end (closing its open attempts): allowed on a terminal job. */
  readonly allowTerminal?: boolean;
}

export interface JobStore {
  createJob(request: CreateJobRequest): Promise<CreateJobResult>;
  /** Deletes a job that was never announced (the intake send failed), and its idempotency record. */
  deleteUnsentJob(jobId: string, owner: string, idempotencyKey?: string): Promise<void>;
  getJob(jobId: string): Promise<JobRecord | undefined>;
  listJobs(query: ListJobsQuery): Promise<ListJobsPage>;
  /** Conditional status change; throws ConflictError (with the current record) when not allowed. Returns the new record. */
  transition(request: TransitionRequest): Promise<JobRecord>;
  /**
   * Sets fields of one attempt (creating it when absent), conditional on the job not being terminal
   * unless `allowTerminal`. Attempt statuses only move forward (PENDING → RUNNING → SUCCEEDED, FAILED
   * or CANCELLED; a Batch retry in place is a new attempt, never a step back); a write that would move
   * one back, or from one settled status to another, throws ConflictError (with the current record).
   * A write that changes nothing writes nothing.
   */
  putAttempt(jobId: string, attempt: Attempt & { readonly logStreamName?: string }, options?: PutAttemptOptions): Promise<JobRecord>;
  /**
   * putAttempt for several attempts in one conditional write, all or none: readers never see one
   * without the others (e.g. a settled attempt without the attempt planned after it).
   */
  putAttempts(jobId: string, attempts: readonly (Attempt & { readonly logStreamName?: string })[], options?: PutAttemptOptions): Promise<JobRecord>;
  /** Marks a cancel request on a non-terminal job; returns the record. */
  requestCancel(jobId: string, now: string): Promise<JobRecord>;
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
