/**
 * The gpujobs events (EventBridge `source: "gpujobs"`). Built only by the code
 * path whose conditional write performed the transition, so each transition is
 * announced once and each job gets exactly one terminal event. The detail schema
 * changes additively only.
 */
import { isTerminal, type CapacityType, type JobRecord, type JobStatus } from './job.js';
import type { GpuJobEvent } from './ports.js';
import { assertTransition, STATUS_CHANGE_DETAIL_TYPE, TERMINAL_DETAIL_TYPE } from './transitions.js';

export const EVENT_SOURCE = 'gpujobs';
export const EVENT_SCHEMA_VERSION = '1';

export interface GpuJobEventDetail {
  readonly schemaVersion: typeof EVENT_SCHEMA_VERSION;
  readonly jobId: string;
  readonly name: string;
  readonly owner: string;
  readonly status: JobStatus;
  readonly previousStatus: JobStatus;
  readonly statusReason?: string;
  readonly exitCode?: number;
  /** How many attempts the job has made. */
  readonly attempts: number;
  /** Capacity of the latest attempt; absent before the first. */
  readonly capacity?: CapacityType;
  readonly costUsd: number;
  readonly tags: Readonly<Record<string, string>>;
}

export function eventDetail(record: JobRecord, previousStatus: JobStatus): GpuJobEventDetail {
  const latest = record.attempts.reduce<JobRecord['attempts'][number] | undefined>(
    (found, attempt) => (found === undefined || attempt.attempt > found.attempt ? attempt : found),
    undefined,
  );
  return {
    schemaVersion: EVENT_SCHEMA_VERSION,
    jobId: record.jobId,
    name: record.name,
    owner: record.owner,
    status: record.status,
    previousStatus,
    ...(record.statusReason === undefined ? {} : { statusReason: record.statusReason }),
    ...(record.exitCode === undefined ? {} : { exitCode: record.exitCode }),
    attempts: record.attempts.length,
    ...(latest === undefined ? {} : { capacity: latest.capacity }),
    costUsd: record.costUsd,
    tags: record.tags,
  };
}

/**
 * The events for one transition `previousStatus → record.status` (the record as
 * written): a `GPU Job Status Change`, and on a terminal status the one terminal
 * event. Throws InvalidTransitionError for a change the table forbids, so an
 * event is never built for a write that could not have happened.
 */
export function buildJobEvent(record: JobRecord, previousStatus: JobStatus): GpuJobEvent[] {
  assertTransition(previousStatus, record.status);
  const detail = { ...eventDetail(record, previousStatus) } as Record<string, unknown>;
  const events: GpuJobEvent[] = [{ detailType: STATUS_CHANGE_DETAIL_TYPE, detail }];
  if (isTerminal(record.status)) events.push({ detailType: TERMINAL_DETAIL_TYPE[record.status], detail: { ...detail } });
  return events;
}
