/**
 * A non-terminal status change made by a workflow task, announced as
 * `GPU Job Status Change`. Losing the race to another writer is not an error: the
 * other writer announced its own change.
 */
import type { JobRecord, JobStatus } from '../../core/job.js';
import { ConflictError, type GpuJobEvent, type JobStore } from '../../core/ports.js';

export interface StatusChangeDependencies {
  readonly store: Pick<JobStore, 'transition'>;
  readonly publish: (events: readonly GpuJobEvent[]) => Promise<void>;
  readonly buildEvents: (record: JobRecord, previousStatus: JobStatus) => readonly GpuJobEvent[];
  readonly now: () => string;
}

/**
 * The record after the change, or undefined when the job was no longer in `record.status`.
 * `onChanged` runs once the write landed and before the announcement, so what it records
 * (a metric) counts the change even if publishing then fails and the caller is retried.
 */
export async function changeStatus(
  dependencies: StatusChangeDependencies,
  record: JobRecord,
  to: JobStatus,
  set: { readonly startedAt?: string } = {},
  onChanged?: (updated: JobRecord) => void,
): Promise<JobRecord | undefined> {
  let updated: JobRecord;
  try {
    updated = await dependencies.store.transition({ jobId: record.jobId, from: [record.status], to, now: dependencies.now(), set });
  } catch (error) {
    if (error instanceof ConflictError) return undefined;
    throw error;
  }
  onChanged?.(updated);
  await dependencies.publish(dependencies.buildEvents(updated, record.status));
  return updated;
}
