/**
 * The one optimistic loop: read the job, decide with core/, write the decision conditional on
 * the record read, and when another writer moved the job meanwhile, read again and decide again.
 * Every use case that changes a job goes through it, with one retry budget, so a decision is
 * always made from the record it is written over and costs one read and one write when nothing
 * races it (a write returns the record as written, so a follow-up decision needs no read).
 */
import type { JobChange, JobFields, StoredAttempt } from '../core/job-change.js';
import { isTerminal, type JobRecord, type JobStatus } from '../core/job.js';
import { ConflictError, JobNotFoundError, type JobStore } from '../core/ports.js';

/** Rounds of read, decide, write before giving up on a job that keeps changing. */
export const MAX_WRITE_ROUNDS = 8;

/** Returned by a decision's `after` to decide again on the record just written, without reading it. */
export const DECIDE_AGAIN: unique symbol = Symbol('decide again');

export type JobDecision<R> =
  /** Nothing to write: the use case's result. */
  | { readonly done: R }
  /** One write; `after` runs once it landed, on the record as written. */
  | { readonly write: JobChange; readonly after: (written: JobRecord) => R | typeof DECIDE_AGAIN | Promise<R | typeof DECIDE_AGAIN> };

export interface UpdateJobOptions {
  /** The record the caller read already: the first decision is made on it, without a read. */
  readonly current?: JobRecord;
}

/**
 * Decides on the job as stored until a decision is done or its write lands. `decide` gets
 * undefined when the job does not exist. Only the write is retried: errors from `decide` and
 * from `then` (a failed publish, say) propagate, so nothing after a landed write runs twice.
 */
export async function updateJob<R>(
  store: Pick<JobStore, 'getJob' | 'update'>,
  jobId: string,
  decide: (record: JobRecord | undefined) => JobDecision<R> | Promise<JobDecision<R>>,
  options: UpdateJobOptions = {},
): Promise<R> {
  let record = options.current ?? (await store.getJob(jobId));
  for (let round = 0; round < MAX_WRITE_ROUNDS; round++) {
    const decision = await decide(record);
    if ('done' in decision) return decision.done;
    if (!record) throw new JobNotFoundError(jobId);
    let written: JobRecord;
    try {
      written = await store.update(record, decision.write);
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
      const read = record;
      record = await store.getJob(jobId);
      // Refused by the rules on a record that has not moved: deciding again would decide the same.
      if (error.current !== undefined && record?.version === read.version) throw error;
      continue;
    }
    const result = await decision.after(written);
    if (result !== DECIDE_AGAIN) return result;
    record = written;
  }
  throw new ConflictError(`Job ${jobId} kept changing; gave up after ${MAX_WRITE_ROUNDS} rounds.`, await store.getJob(jobId));
}

/** A status change, applied only if the job is in one of `from` (and at `expectedVersion` when given). */
export interface TransitionRequest {
  readonly jobId: string;
  readonly from: readonly JobStatus[];
  readonly to: JobStatus;
  readonly now: string;
  readonly expectedVersion?: number;
  /** Fields written in the same update (statusReason, exitCode, finishedAt, costUsd, ...). */
  readonly set?: JobFields;
}

/**
 * Moves the job to `request.to` if it is in one of `request.from`; throws ConflictError with the
 * current record when it is not (or no longer at `expectedVersion`), JobNotFoundError when absent.
 */
export function transitionJob(store: Pick<JobStore, 'getJob' | 'update'>, request: TransitionRequest): Promise<JobRecord> {
  return updateJob<JobRecord>(store, request.jobId, (current) => {
    if (!current) throw new JobNotFoundError(request.jobId);
    if (!request.from.includes(current.status)) {
      throw new ConflictError(`Job ${request.jobId} is ${current.status}, not ${request.from.join(' or ')}.`, current);
    }
    if (request.expectedVersion !== undefined && current.version !== request.expectedVersion) {
      throw new ConflictError(`Job ${request.jobId} is at version ${current.version}, not ${request.expectedVersion}.`, current);
    }
    return { write: { to: request.to, set: request.set, now: request.now }, after: (written) => written };
  });
}

/**
 * Creates or updates attempts of a job that is not terminal, in one write: readers never see one
 * without the others. Attempt statuses only move forward; a write that changes nothing writes
 * nothing. Throws ConflictError (with the current record) when refused.
 */
export function putJobAttempts(
  store: Pick<JobStore, 'getJob' | 'update'>,
  jobId: string,
  attempts: readonly StoredAttempt[],
  now: string = new Date().toISOString(),
): Promise<JobRecord> {
  return updateJob<JobRecord>(store, jobId, (current) => {
    if (!current) throw new JobNotFoundError(jobId);
    return { write: { attempts, now }, after: (written) => written };
  });
}

/** Marks a cancel request on a job that is not terminal; returns the record. */
export function requestJobCancel(
  store: Pick<JobStore, 'getJob' | 'update'>,
  jobId: string,
  now: string,
  current?: JobRecord,
): Promise<JobRecord> {
  return updateJob<JobRecord>(
    store,
    jobId,
    (record) => {
      if (!record) throw new JobNotFoundError(jobId);
      if (isTerminal(record.status)) throw new ConflictError(`Job ${jobId} is ${record.status} and can no longer be cancelled.`, record);
      if (record.cancelRequested) return { done: record };
      return { write: { set: { cancelRequested: true }, now }, after: (written) => written };
    },
    { current },
  );
}
