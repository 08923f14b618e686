/**
 * Exactly one terminal event per job, across retries and crashes.
 *
 * The rule: the terminal event is owed by the code path whose conditional write made
 * the job terminal. That write stores the debt on the record itself
 * (`terminalEvent: {writer, previousStatus, published: false}`), in the same
 * conditional update as the status, so the debt exists if and only if the
 * transition happened. Paying it takes three steps: claim it (a conditional write that
 * only one caller wins while the claim is fresh), publish, then settle it
 * (`published: false → true`). Several paths may find one debt unpaid at once — finish
 * still publishing while its stopped execution is reconciled, or the owner cancelling
 * again while reconcile publishes — and the claim lets exactly one of them publish.
 *
 * A claim lapses after CLAIM_SECONDS, so a publisher that died mid-way never blocks the
 * event for good: a later retry of the path (Step Functions retrying finish; EventBridge
 * retrying reconcile; the owner cancelling again) claims it again and publishes. A caller
 * that finds a fresh claim gets TerminalEventBusyError where it must make sure the event
 * goes out (finish, reconcile: their retries come back after the claim lapses).
 *
 * A duplicate remains possible only if a publisher stalls longer than the claim after its
 * PutEvents was accepted; consumers dedupe on jobId for that case (at-least-once).
 */
import type { JobRecord, JobStatus, TerminalEventDebt, TerminalWriter } from '../../core/job.js';
import { buildJobEvent } from '../../core/events.js';
import type { GpuJobEvent, JobStore, TransitionRequest } from '../../core/ports.js';
import { STATUS_CHANGE_DETAIL_TYPE } from '../../core/transitions.js';
import { EventPublishError } from './events-publisher.js';

export type { TerminalEventDebt, TerminalWriter } from '../../core/job.js';

/**
 * How long a claim to publish lasts. Publishing is one PutEvents with a few bounded
 * retries (events-publisher.ts), seconds at most; the claim outlives it with margin, and
 * the workflow retries a busy Finish after longer than this (lib/workflow/job-workflow.ts).
 */
export const CLAIM_SECONDS = 30;

/** The error name Step Functions sees when finish finds the claim held (its Retry matches it). */
export const TERMINAL_EVENT_BUSY_ERROR = 'TerminalEventBusy';

/** Another invocation is publishing this job's terminal event right now; retry later. */
export class TerminalEventBusyError extends Error {
  override readonly name = TERMINAL_EVENT_BUSY_ERROR;
  constructor(readonly jobId: string) {
    super(`The terminal event of job ${jobId} is being published by another invocation; retry after ${CLAIM_SECONDS} s.`);
  }
}

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
  /** JobStore.claimTerminalEvent for CLAIM_SECONDS from now: the claim, or undefined when published or claimed. */
  readonly claim: (jobId: string) => Promise<TerminalEventClaim | undefined>;
}

/** The right to publish one job's terminal event, until it lapses or is released. */
export interface TerminalEventClaim {
  readonly release: () => Promise<void>;
}

/** The production wiring: gpujobs events built from the record, published, then marked on it. */
export function terminalEventDependencies(
  store: Pick<JobStore, 'markTerminalEventPublished' | 'claimTerminalEvent' | 'releaseTerminalEventClaim'>,
  publisher: { publish(events: readonly GpuJobEvent[]): Promise<void> },
  clock: () => number = Date.now,
): TerminalEventDependencies {
  return {
    publish: (events) => publisher.publish(events),
    buildEvents: buildJobEvent,
    markPublished: (jobId) => store.markTerminalEventPublished(jobId),
    claim: async (jobId) => {
      const now = clock();
      const until = new Date(now + CLAIM_SECONDS * 1000).toISOString();
      if (!(await store.claimTerminalEvent(jobId, new Date(now).toISOString(), until))) return undefined;
      return { release: () => store.releaseTerminalEventClaim(jobId, until) };
    },
  };
}

/**
 * Publishes the terminal events still owed for this record, if any; true when it did,
 * false when nothing was owed. Throws TerminalEventBusyError when another invocation holds
 * the claim (it may still fail: the caller's retry checks again once the claim lapses).
 * A failed publish throws with the debt still recorded, so a retry pays it.
 */
export async function payTerminalEventDebt(dependencies: TerminalEventDependencies, record: JobRecord): Promise<boolean> {
  const debt = terminalEventOf(record);
  if (!debt || debt.published) return false;
  const claim = await dependencies.claim(record.jobId);
  if (!claim) throw new TerminalEventBusyError(record.jobId);
  const events = dependencies.buildEvents(record, debt.previousStatus);
  try {
    await dependencies.publish(events);
  } catch (error) {
    // The debt is the terminal event: once EventBridge accepted it, a retry would send it again.
    // Only the status change that goes with it was lost then, and it stays lost (see README, Events).
    if (!terminalEventWentOut(events, error)) {
      // Not all of it went out: let the caller's retry claim it again at once (at-least-once).
      await claim.release().catch(() => undefined);
      throw error;
    }
  }
  await dependencies.markPublished(record.jobId);
  return true;
}

/** True when a failed publish still delivered every terminal event among `events`. */
function terminalEventWentOut(events: readonly GpuJobEvent[], error: unknown): boolean {
  if (!(error instanceof EventPublishError) || error.unpublished.length === events.length) return false;
  return error.unpublished.every((event) => event.detailType === STATUS_CHANGE_DETAIL_TYPE);
}
