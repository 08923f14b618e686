/**
 * A non-terminal status change, announced as `GPU Job Status Change` once its write landed.
 * Losing the race to another writer is not an error: the other writer announced its own change.
 */
import type { JobRecord, JobStatus } from '../core/job.js';
import type { GpuJobEvent, JobStore } from '../core/ports.js';
import { updateJob } from './update-job.js';

export interface StatusChangeDependencies {
  readonly store: Pick<JobStore, 'getJob' | 'update'>;
  readonly publish: (events: readonly GpuJobEvent[]) => Promise<void>;
  readonly buildEvents: (record: JobRecord, previousStatus: JobStatus) => readonly GpuJobEvent[];
  readonly now: () => string;
}

/** Announces the status change a landed write made: `written` is the record it returned. */
export async function announceStatusChange(
  dependencies: Pick<StatusChangeDependencies, 'publish' | 'buildEvents'>,
  written: JobRecord,
  previousStatus: JobStatus,
): Promise<void> {
  await dependencies.publish(dependencies.buildEvents(written, previousStatus));
}

/**
 * Moves the job from `record.status` to `to` (with `set`), and announces it. The record after
 * the change, or undefined when the job is no longer in `record.status`. `onChanged` runs once
 * the write landed and before the announcement, so what it records (a metric) counts the change
 * even if publishing then fails and the caller is retried.
 */
export function changeStatus(
  dependencies: StatusChangeDependencies,
  record: JobRecord,
  to: JobStatus,
  set: { readonly startedAt?: string } = {},
  onChanged?: (updated: JobRecord) => void,
): Promise<JobRecord | undefined> {
  const from = record.status;
  return updateJob<JobRecord | undefined>(
    dependencies.store,
    record.jobId,
    (current) => {
      if (current?.status !== from) return { done: undefined };
      return {
        write: { to, set, now: dependencies.now() },
        after: async (written) => {
          onChanged?.(written);
          await announceStatusChange(dependencies, written, from);
          return written;
        },
      };
    },
    { current: record },
  );
}
