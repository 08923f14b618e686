/**
 * Exactly one terminal event per job, across retries and crashes.
 *
 * The rule: the terminal event is owed by the code path whose conditional write made
 * the job terminal. That write stores the debt on the record itself
 * (`terminalEvent: {writer, previousStatus, published: false, claimedUntil}`), in the same
 * conditional update as the status, so the debt exists if and only if the
 * transition happened, and its writer holds the claim to publish it from that write on.
 * Paying it takes three steps: hold the claim (the writer's own, or a conditional write that
 * only one caller wins while no claim is fresh), publish, then settle it
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
import { CLAIM_SECONDS, TERMINAL_EVENT_BUSY_ERROR } from '../core/contract/workflow.js';
import { buildJobEvent } from '../core/events.js';
import type { JobFields } from '../core/job-change.js';
import type { JobRecord, JobStatus, TerminalWriter } from '../core/job.js';
import { EventPublishError, type GpuJobEvent, type JobStore } from '../core/ports.js';
import { STATUS_CHANGE_DETAIL_TYPE } from '../core/transitions.js';

export type { TerminalEventDebt, TerminalWriter } from '../core/job.js';

/** Another invocation is publishing this job's terminal event right now; retry later. */
export class TerminalEventBusyError extends Error {
  override readonly name = TERMINAL_EVENT_BUSY_ERROR;
  constructor(readonly jobId: string) {
    super(`The terminal event of job ${jobId} is being published by another invocation; retry after ${CLAIM_SECONDS} s.`);
  }
}

/**
 * The fields a terminal write sets besides the status: the caller's, plus the event debt with
 * its writer already holding the claim to publish it (`held`), so paying it right after the
 * write takes no claim write of its own.
 */
export function terminalWriteFields(fields: JobFields, writer: TerminalWriter, previousStatus: JobStatus, held: HeldClaim): JobFields {
  return { ...fields, terminalEvent: { writer, previousStatus, published: false, claimedUntil: held.until } };
}

export interface TerminalEventDependencies {
  readonly publish: (events: readonly GpuJobEvent[]) => Promise<void>;
  readonly buildEvents: (record: JobRecord, previousStatus: JobStatus) => readonly GpuJobEvent[];
  /** JobStore.markTerminalEventPublished: false when another invocation paid the debt first. */
  readonly markPublished: (jobId: string) => Promise<boolean>;
  /** JobStore.claimTerminalEvent for CLAIM_SECONDS from now: the claim, or undefined when published or claimed. */
  readonly claim: (jobId: string) => Promise<TerminalEventClaim | undefined>;
  /** A claim for CLAIM_SECONDS from now that the terminal write itself records (terminalWriteFields). */
  readonly holdInWrite: (jobId: string) => HeldClaim;
}

/** A claim written with the terminal status: when it lapses, and how to give it up. */
export interface HeldClaim extends TerminalEventClaim {
  readonly until: string;
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
  const claimUntil = (now: number) => new Date(now + CLAIM_SECONDS * 1000).toISOString();
  return {
    publish: (events) => publisher.publish(events),
    buildEvents: buildJobEvent,
    markPublished: (jobId) => store.markTerminalEventPublished(jobId),
    claim: async (jobId) => {
      const now = clock();
      const until = claimUntil(now);
      if (!(await store.claimTerminalEvent(jobId, new Date(now).toISOString(), until))) return undefined;
      return { release: () => store.releaseTerminalEventClaim(jobId, until) };
    },
    holdInWrite: (jobId) => {
      const until = claimUntil(clock());
      return { until, release: () => store.releaseTerminalEventClaim(jobId, until) };
    },
  };
}

/**
 * Publishes the terminal events still owed for this record, if any; true when it did,
 * false when nothing was owed. Throws TerminalEventBusyError when another invocation holds
 * the claim (it may still fail: the caller's retry checks again once the claim lapses).
 * A failed publish throws with the debt still recorded, so a retry pays it. `held`: the claim
 * the caller's own terminal write recorded.
 */
export async function payTerminalEventDebt(dependencies: TerminalEventDependencies, record: JobRecord, held?: HeldClaim): Promise<boolean> {
  const debt = record.terminalEvent;
  if (!debt || debt.published) return false;
  const claim = held ?? (await dependencies.claim(record.jobId));
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
