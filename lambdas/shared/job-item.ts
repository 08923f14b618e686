/**
 * A job as both stores keep it in the table: the item a new job is written as, the record read
 * back from an item, and a planned change (core/job-change.ts) as one conditional item write.
 * Attempts are stored as a map keyed by attempt number, so writing one attempt never rewrites
 * another; the two list indexes' keys live on the item and are rewritten on every status change.
 */
import type { JobRecord, JobStatus } from '../../core/job.js';
import { planChange, type JobChange, type StoredAttempt } from '../../core/job-change.js';
import { ConflictError, type CreateJobRequest } from '../../core/ports.js';
import { JOB_TABLE, jobKey, ownerIndexKey, ownerStatusIndexKey } from '../../core/table.js';

/** A job record whose attempts may carry their log stream names. */
export type StoredJobRecord = JobRecord & { readonly attempts: readonly StoredAttempt[] };

/** A job or idempotency record as stored in the table. */
export type Item = Record<string, unknown>;

/** The table and index keys: on every item, in no record. */
const INDEX_ATTRIBUTES = [
  JOB_TABLE.partitionKey,
  JOB_TABLE.sortKey,
  JOB_TABLE.indexes.byOwner.partitionKey,
  JOB_TABLE.indexes.byOwner.sortKey,
  JOB_TABLE.indexes.byOwnerStatus.partitionKey,
  JOB_TABLE.indexes.byOwnerStatus.sortKey,
] as const;

/** A new job as both stores write it: QUEUED, version 1, no attempts, under its owner's indexes. */
export function newJobItem(request: CreateJobRequest, jobId: string): { readonly record: StoredJobRecord; readonly item: Item } {
  const { spec, owner, now } = request;
  const record: StoredJobRecord = {
    ...spec,
    jobId,
    name: spec.name ?? jobId,
    owner,
    status: 'QUEUED',
    createdAt: now,
    updatedAt: now,
    attempts: [],
    costUsd: 0,
    version: 1,
    ...(request.idempotency ? { requestHash: request.idempotency.requestHash } : {}),
  };
  const { attempts: _noAttemptsYet, ...withoutAttempts } = record;
  const item: Item = {
    ...jobKey(jobId),
    ...ownerIndexKey(owner, now, jobId),
    ...ownerStatusIndexKey(owner, 'QUEUED', now, jobId),
    ...withoutAttempts,
    attempts: {},
  };
  return { record, item };
}

/** The record a job item holds: its keys dropped, its attempts in attempt order. */
export function recordFromItem(item: Item): StoredJobRecord {
  const copy: Item = { ...item };
  for (const attribute of INDEX_ATTRIBUTES) delete copy[attribute];
  const attemptsByNumber = (item.attempts ?? {}) as Record<string, StoredAttempt>;
  const attempts = Object.values(attemptsByNumber).sort((left, right) => left.attempt - right.attempt);
  return { ...copy, attempts } as unknown as StoredJobRecord;
}

/** Why a job could not be withdrawn: another owner's, or past QUEUED. */
export function withdrawRefusal(jobId: string, owner: string, current: JobRecord): string {
  if (current.owner !== owner) return `Job ${jobId} belongs to another owner; only its own owner may withdraw it.`;
  return `Job ${jobId} is ${current.status}; only a QUEUED job can be withdrawn.`;
}

/** The whole seconds since the epoch of an ISO-8601 timestamp: how the table's expiry attribute counts. */
export function toEpochSeconds(isoTimestamp: string): number {
  const milliseconds = Date.parse(isoTimestamp);
  if (Number.isNaN(milliseconds)) throw new RangeError(`now must be an ISO-8601 timestamp. Received ${isoTimestamp}.`);
  return Math.floor(milliseconds / 1000);
}

/** What a conditional update requires of the job as stored, and the whole attempts it writes. */
export interface UpdateCondition {
  /** The statuses the job may be in for the write to land. */
  readonly allowedStatuses: readonly JobStatus[];
  /** Attempts written whole under their numbers, leaving the others as they are. */
  readonly attempts?: readonly StoredAttempt[];
}

/** The conditional update both stores implement: `fields` and whole attempts at `expectedVersion`; undefined when the condition failed. */
export type ConditionalUpdate = (
  jobId: string,
  expectedVersion: number,
  fields: Item,
  condition: UpdateCondition,
) => Promise<StoredJobRecord | undefined>;

/**
 * JobStore.update for both stores: the change planned against the record the caller read
 * (core/job-change.ts), written in one update conditional on that record's version and status.
 */
export async function applyChange(current: JobRecord, change: JobChange, conditionalUpdate: ConditionalUpdate): Promise<StoredJobRecord> {
  const plan = planChange(current, change);
  if (plan.kind === 'refused') throw new ConflictError(plan.reason, current);
  if (plan.kind === 'unchanged') return current as StoredJobRecord;
  const { status, fields, attempts } = plan.write;
  const indexKey = status === undefined ? {} : ownerStatusIndexKey(current.owner, status, current.createdAt, current.jobId);
  const updated = await conditionalUpdate(
    current.jobId,
    current.version,
    { ...fields, ...indexKey },
    { allowedStatuses: [current.status], attempts },
  );
  if (!updated) throw new ConflictError(`Job ${current.jobId} changed after version ${current.version} was read.`);
  return updated;
}
