/**
 * Exactly one terminal event per job, across retries and crashes.
 *
 * The rule: the terminal event is owed by the code path whose conditional write made
 * the job terminal. That write stores the debt on the record itself
 * (`terminalEvent: {writer, previousStatus, published: false}`), in the same
 * conditional update as the status, so the debt exists if and only if the
 * transition happened. Publishing then settles it with a second conditional update
 * (`published: false → true`, JobStore.markTerminalEventPublished). A retry of the
 * same path (Step Functions retrying finish after PutEvents failed; reconcile after
 * its Lambda failed; the owner cancelling again) finds the debt unpaid and publishes
 * it; a path that finds it paid does nothing.
 *
 * A duplicate is possible only if two paths pay one debt at once, or the process dies
 * between an accepted PutEvents and the marker write; consumers dedupe on jobId for
 * those cases (at-least-once).
 */
import type { JobRecord, JobStatus, TerminalEventDebt, TerminalWriter } from '../../core/job.js';
import { buildJobEvent } from '../../core/events.js';
import type { GpuJobEvent, JobStore, TransitionRequest } from '../../core/ports.js';

export type { TerminalEventDebt, TerminalWriter } from '../../core/job.js';

/** The fields a terminal transition writes: the caller's plus the event debt. */
export function terminalTransitionFields(
  fields: NonNullable<TransitionRequest['set']>,
  writer: TerminalWriter,
  previousStatus: JobStatus,
): NonNullable<TransitionRequest['set']> {
  return { ...fields, terminalEvent: { writer, previousStatus, published: false } };
}

export function terminalEventOf(record: JobRecord): TerminalEventDebt | undefined {
  return record.terminalEvent;
}

export interface TerminalEventDependencies {
  readonly publish: (events: readonly GpuJobEvent[]) => Promise<void>;
  readonly buildEvents: (record: JobRecord, previousStatus: JobStatus) => readonly GpuJobEvent[];
  /** JobStore.markTerminalEventPublished: false when another invocation paid the debt first. */
  readonly markPublished: (jobId: string) => Promise<boolean>;
}

/** The production wiring: gpujobs events built from the record, published, then marked on it. */
export function terminalEventDependencies(
  store: Pick<JobStore, 'markTerminalEventPublished'>,
  publisher: { publish(events: readonly GpuJobEvent[]): Promise<void> },
): TerminalEventDependencies {
  return {
    publish: (events) => publisher.publish(events),
    buildEvents: buildJobEvent,
    markPublished: (jobId) => store.markTerminalEventPublished(jobId),
  };
}

/**
 * Publishes the terminal events still owed for this record, if any; true when it did.
 * A failed publish throws with the debt still recorded, so the caller's retry pays it.
 * Finish and reconcile never run at once for one job (reconcile hears of an execution
 * only after it ended), so whichever finds the debt unpaid may pay it: reconcile pays
 * what a finish that exhausted its retries could not.
 */
export async function payTerminalEventDebt(dependencies: TerminalEventDependencies, record: JobRecord): Promise<boolean> {
  const debt = terminalEventOf(record);
  if (!debt || debt.published) return false;
  await dependencies.publish(dependencies.buildEvents(record, debt.previousStatus));
  await dependencies.markPublished(record.jobId);
  return true;
}
