/**
 * The failure classifier: what went wrong with one attempt, from what AWS Batch
 * reports (job `statusReason`, container `exitCode` and `reason`). The workflow's
 * retry/failover decisions and the API's `failureClass` both come from here.
 *
 * Only SPOT_RECLAIM and NO_CAPACITY lead to another attempt (and possibly
 * On-Demand spend). Anything this module does not recognise is APP_ERROR: an
 * unknown failure must never buy On-Demand capacity or loop, it ends the job
 * with Batch's own reason shown to the owner, who can resubmit.
 */
import type { FailureClass } from './job.js';

export interface AttemptFailureInput {
  /** Batch job (or attempt) `statusReason`. */
  readonly statusReason?: string;
  /** Container exit code, when the container ran. */
  readonly exitCode?: number;
  /** Batch `container.reason` (e.g. `CannotPullContainerError: ...`, `OutOfMemoryError: ...`). */
  readonly containerReason?: string;
  /** The owner asked to cancel this job (the record's `cancelRequested`). */
  readonly cancelRequested?: boolean;
}

/** `TerminateJob` reason gpujobs sends when it stops an attempt for a cancel. */
export const CANCEL_TERMINATE_REASON = 'Terminated by gpujobs: cancelled by owner';

const CANCELLED_REASONS = [/^Terminated by gpujobs\b/i, /\bExecution was stopped\b/i];
const TIMEOUT_REASONS = [/\bJob attempt duration exceeded timeout\b/i];
// Batch's wording when the instance under a running attempt goes away; on Spot, a reclaim.
const RECLAIM_REASONS = [/^Host EC2 \(instance [^)]*\) terminated/i];
// `Canceled by JobStateTimeLimit action due to reason: CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY`, and
// the RUNNABLE-stuck reason `CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - Service cannot fulfill ...`.
const NO_CAPACITY_REASONS = [/(?:^|[^A-Z_])CAPACITY:[A-Z_]+/];
// `Container Overrides length must be at most 8192` (the attempt FAILED) and `Job size must be
// less than 30 KiB` (SubmitJob refused with Batch.ClientException).
const CONTAINER_OVERRIDES_TOO_LONG = /\bContainer Overrides length must be at most \d+/i;
const SUBMISSION_TOO_LARGE = /\bJob size must be less than \d+ ?KiB\b/i;
const MISCONFIGURATION_REASONS = [
  /(?:^|[^A-Z_])MISCONFIGURATION:[A-Z_]+/,
  /\bCannotPullContainerError\b/,
  /\bCannotStartContainerError\b/,
  /\bResourceInitializationError\b/,
  // The job's command and environment are more than Batch takes (see BATCH_SUBMISSION_LIMITS in
  // core/batch-limits.ts); the same submission fails the same way on any capacity.
  CONTAINER_OVERRIDES_TOO_LONG,
  SUBMISSION_TOO_LARGE,
];
// An OOM kill is the job's own doing: it asked for too little memory or used too much.
// Another attempt on any capacity with the same memoryMiB would die the same way, so it
// is APP_ERROR (no failover), and describeFailure tells the owner to raise memoryMiB.
const OUT_OF_MEMORY_REASONS = [/\bOutOfMemoryError\b/i];

const matches = (patterns: readonly RegExp[], texts: readonly string[]) =>
  texts.some((text) => patterns.some((pattern) => pattern.test(text)));

export function classifyAttemptFailure(input: AttemptFailureInput): FailureClass {
  // An owner's cancel wins over whatever Batch said while the attempt was being stopped.
  if (input.cancelRequested) return 'CANCELLED';
  const texts = [input.statusReason, input.containerReason].filter((text): text is string => typeof text === 'string' && text.length > 0);
  if (matches(CANCELLED_REASONS, texts)) return 'CANCELLED';
  if (matches(TIMEOUT_REASONS, texts)) return 'TIMEOUT';
  if (matches(RECLAIM_REASONS, texts)) return 'SPOT_RECLAIM';
  if (matches(NO_CAPACITY_REASONS, texts)) return 'NO_CAPACITY';
  if (matches(MISCONFIGURATION_REASONS, texts)) return 'MISCONFIGURATION';
  // OOM, a non-zero exit ("Essential container in task exited") and every unknown reason.
  return 'APP_ERROR';
}

const MAX_REASON_LENGTH = 512;

const clip = (text: string) => (text.length > MAX_REASON_LENGTH ? `${text.slice(0, MAX_REASON_LENGTH - 1)}…` : text);

export interface FailureDetails {
  readonly exitCode?: number;
  readonly containerReason?: string;
}

/**
 * A sentence for the job's `statusReason`: what happened in words an owner can act
 * on, followed by Batch's own reason in parentheses.
 */
export function describeFailure(failureClass: FailureClass, reason?: string, details: FailureDetails = {}): string {
  const batchReason = [reason, details.containerReason].filter((text): text is string => !!text && text.length > 0);
  const all = batchReason.join(' ');
  const summary = summarize(failureClass, all, details.exitCode);
  const distinct = [...new Set(batchReason)].join('; ');
  return distinct ? `${summary} (${clip(distinct)})` : summary;
}

function summarize(failureClass: FailureClass, reasons: string, exitCode: number | undefined): string {
  switch (failureClass) {
    case 'SPOT_RECLAIM':
      return 'The instance running the attempt was reclaimed';
    case 'NO_CAPACITY':
      return 'No capacity was available for the requested GPUs';
    case 'MISCONFIGURATION':
      if (/JOB_RESOURCE_REQUIREMENT/.test(reasons)) {
        return "No instance type in the compute environment meets the job's gpus, vcpus and memoryMiB";
      }
      if (/COMPUTE_ENVIRONMENT_MAX_RESOURCE/.test(reasons)) {
        return 'The job needs more vCPUs than the compute environment allows';
      }
      if (/CannotPullContainerError/.test(reasons)) return 'The container image could not be pulled';
      if (CONTAINER_OVERRIDES_TOO_LONG.test(reasons) || SUBMISSION_TOO_LARGE.test(reasons)) {
        return "The job's command and environment are longer than AWS Batch accepts; submit it again with a shorter command or fewer or shorter environment variables";
      }
      return 'The job could not start because of its configuration';
    case 'APP_ERROR':
      if (OUT_OF_MEMORY_REASONS.some((pattern) => pattern.test(reasons))) {
        return 'The container ran out of memory; submit it again with a larger memoryMiB';
      }
      return exitCode === undefined ? 'The attempt failed' : `The container exited with code ${exitCode}`;
    case 'TIMEOUT':
      return 'The attempt ran longer than timeoutSeconds';
    case 'CANCELLED':
      return 'Cancelled by its owner';
  }
}
