/**
 * One write of a job, decided from the record its writer just read: what may change, and what
 * the write is once merged over that record. Both stores apply a JobChange with the same rules
 * (this module), as ONE conditional write pinned to the version read, so a writer makes one
 * request per decision and a record that moved meanwhile refuses the write (ConflictError);
 * app/update-job.ts reads again and decides again.
 *
 * The rules: a terminal job no longer changes (its terminal event debt is settled by the
 * store's own debt operations); attempt statuses only move forward (canMoveAttempt); the status
 * a writer moves to is its own decision, made with the transition table (core/transitions.ts); fields that are undefined are not written; a change that
 * changes nothing writes nothing.
 */
import { isTerminal, type Attempt, type JobRecord, type JobStatus } from './job.js';
import { canMoveAttempt } from './transitions.js';

/** An attempt as stored: the public fields plus where its logs are. */
export type StoredAttempt = Attempt & { readonly logStreamName?: string };

/** The top-level fields a write may set besides status and attempts. */
export type JobFields = Partial<
  Pick<
    JobRecord,
    'statusReason' | 'exitCode' | 'startedAt' | 'finishedAt' | 'costUsd' | 'cancelRequested' | 'executionArn' | 'terminalEvent'
  >
>;

export interface JobChange {
  /** The status after the write; absent leaves it as it is. */
  readonly to?: JobStatus;
  readonly set?: JobFields;
  /** Attempts to create, or to update field by field (undefined fields keep their stored value). */
  readonly attempts?: readonly StoredAttempt[];
  /** The writer's clock (ISO-8601); `updatedAt` never moves backwards even if it lags. */
  readonly now: string;
}

/** What a store writes for a change, in one conditional update at the version read. */
export interface PlannedWrite {
  /** The new status, when the change sets one (the store rewrites the status index key with it). */
  readonly status?: JobStatus;
  /** Top-level fields to set, updatedAt included. */
  readonly fields: JobFields & { readonly updatedAt: string; readonly status?: JobStatus };
  /** Whole attempts to put under their numbers: each merged over the stored one. */
  readonly attempts: readonly StoredAttempt[];
}

export type ChangePlan =
  | { readonly kind: 'write'; readonly write: PlannedWrite }
  /** The change says nothing the record does not already say. */
  | { readonly kind: 'unchanged' }
  /** Not allowed from this record; the reason names the job, the value held and the one refused. */
  | { readonly kind: 'refused'; readonly reason: string };

export function planChange(current: JobRecord, change: JobChange): ChangePlan {
  const numbers = (change.attempts ?? []).map((attempt) => attempt.attempt);
  if (new Set(numbers).size !== numbers.length) {
    throw new RangeError(`A change names attempt numbers more than once: ${numbers.join(', ')}.`);
  }
  if (isTerminal(current.status)) {
    return { kind: 'refused', reason: `Job ${current.jobId} is ${current.status}; a finished job no longer changes.` };
  }
  const attempts: StoredAttempt[] = [];
  for (const attempt of change.attempts ?? []) {
    const existing = current.attempts.find((candidate) => candidate.attempt === attempt.attempt) as StoredAttempt | undefined;
    if (existing && !canMoveAttempt(existing.status, attempt.status)) {
      return {
        kind: 'refused',
        reason: `Attempt ${attempt.attempt} of job ${current.jobId} is ${existing.status}; it cannot become ${attempt.status}.`,
      };
    }
    const merged = { ...existing, ...definedOnly(attempt) } as StoredAttempt;
    if (!existing || !sameFields(existing, merged)) attempts.push(merged);
  }
  const set = definedOnly(change.set ?? {}) as JobFields;
  const setChanges = Object.entries(set).some(
    ([field, value]) => !sameValue((current as unknown as Record<string, unknown>)[field], value),
  );
  if (change.to === undefined && !setChanges && attempts.length === 0) return { kind: 'unchanged' };
  const updatedAt = [current.updatedAt, change.now].sort().at(-1)!;
  return {
    kind: 'write',
    write: {
      ...(change.to === undefined ? {} : { status: change.to }),
      fields: { ...set, updatedAt, ...(change.to === undefined ? {} : { status: change.to }) },
      attempts,
    },
  };
}

/** The record as it reads after `write`: what a store returns, and what the writer decides on next. */
export function withAttempts<R extends JobRecord>(record: R, attempts: readonly StoredAttempt[]): R {
  return {
    ...record,
    attempts: [
      ...record.attempts.filter((existing) => !attempts.some((attempt) => attempt.attempt === existing.attempt)),
      ...attempts,
    ].sort((left, right) => left.attempt - right.attempt),
  };
}

export function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as Partial<T>;
}

/** Attempts are flat records of strings and numbers. */
export function sameFields(left: StoredAttempt, right: StoredAttempt): boolean {
  const leftEntries = Object.entries(definedOnly(left));
  const rightEntries = definedOnly(right) as Record<string, unknown>;
  return leftEntries.length === Object.keys(rightEntries).length && leftEntries.every(([field, value]) => rightEntries[field] === value);
}

/** Field values are strings, numbers, booleans or the flat terminal event debt. */
function sameValue(left: unknown, right: unknown): boolean {
  if (left === right) return true;
  if (typeof left !== 'object' || typeof right !== 'object' || left === null || right === null) return false;
  const leftEntries = Object.entries(definedOnly(left));
  const rightRecord = definedOnly(right) as Record<string, unknown>;
  return leftEntries.length === Object.keys(rightRecord).length && leftEntries.every(([field, value]) => rightRecord[field] === value);
}
