/**
 * The job status transition table. Every status write in the system is a
 * conditional update whose allowed-from set comes from `allowedFrom`, so no race
 * (duplicate Batch events, cancel against completion) can write a history the
 * table does not allow. Terminal statuses are absorbing.
 */
import {
  JOB_STATUSES,
  isAttemptSettled,
  isTerminal,
  type AttemptStatus,
  type JobRecord,
  type JobStatus,
  type TerminalStatus,
} from './job.js';
import type { GpuJobEvent } from './ports.js';

export type { TerminalStatus } from './job.js';

const TRANSITIONS: Readonly<Record<JobStatus, readonly JobStatus[]>> = {
  // FAILED straight from QUEUED: the workflow could not start (e.g. the job definition could not be registered).
  QUEUED: ['PENDING', 'CANCELLED', 'FAILED'],
  // PENDING → PENDING: a new attempt waits again (attempt details change, status does not).
  PENDING: ['RUNNING', 'PENDING', 'SUCCEEDED', 'FAILED', 'CANCELLED'],
  // RUNNING → PENDING: the attempt was interrupted (Spot reclaim) and the next one waits for capacity.
  RUNNING: ['PENDING', 'SUCCEEDED', 'FAILED', 'CANCELLED'],
  SUCCEEDED: [],
  FAILED: [],
  CANCELLED: [],
};

export function canTransition(from: JobStatus, to: JobStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/**
 * Attempt statuses move forward only: events come late and twice, and a late RUNNING must never
 * undo the workflow's record of how the attempt ended. A settled status is final, and a running
 * attempt never waits again (Batch's retry in place is the next attempt).
 */
export function canMoveAttempt(from: AttemptStatus, to: AttemptStatus): boolean {
  if (from === to) return true;
  if (isAttemptSettled(from)) return false;
  return !(from === 'RUNNING' && to === 'PENDING');
}

/** The statuses a job may be in for a write to `to` to be allowed: the condition of that write. */
export function allowedFrom(to: JobStatus): JobStatus[] {
  return JOB_STATUSES.filter((from) => canTransition(from, to));
}

export const TERMINAL_DETAIL_TYPE = {
  SUCCEEDED: 'GPU Job Succeeded',
  FAILED: 'GPU Job Failed',
  CANCELLED: 'GPU Job Cancelled',
} as const satisfies Record<TerminalStatus, GpuJobEvent['detailType']>;

export const STATUS_CHANGE_DETAIL_TYPE = 'GPU Job Status Change' satisfies GpuJobEvent['detailType'];

export class InvalidTransitionError extends Error {
  override readonly name = 'InvalidTransitionError';
  constructor(
    readonly from: JobStatus,
    readonly to: JobStatus,
    options?: ErrorOptions,
  ) {
    super(
      isTerminal(from)
        ? `Job is already ${from}; a finished job cannot become ${to}`
        : `A job cannot go from ${from} to ${to}; from ${from} it may become ${TRANSITIONS[from].join(', ')}`,
      options,
    );
  }
}

export function assertTransition(from: JobStatus, to: JobStatus): void {
  if (!canTransition(from, to)) throw new InvalidTransitionError(from, to);
}

/**
 * The record after a status change, as a store applies it: status, version + 1,
 * updatedAt, plus the given fields. Throws InvalidTransitionError when the table
 * forbids the change.
 */
export function applyTransition(
  record: JobRecord,
  to: JobStatus,
  now: string,
  set?: Partial<Pick<JobRecord, 'statusReason' | 'exitCode' | 'startedAt' | 'finishedAt' | 'costUsd' | 'cancelRequested' | 'executionArn'>>,
): JobRecord {
  assertTransition(record.status, to);
  return { ...record, ...set, status: to, version: record.version + 1, updatedAt: now };
}
