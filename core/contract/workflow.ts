/**
 * The contract between the job workflow (lib/workflow) and the task handlers it
 * calls (lambdas/). Both the CDK definition and local mode's task overrides use
 * these names and shapes; change them together.
 *
 * Path through the state machine (JSONPath only):
 *
 *   Prepare ─▶ ChooseCapacity ─┬─ "spot" ──────▶ RunOnSpot ─────┐  (success → $.attemptResult = Batch job detail,
 *                              ├─ "on-demand" ─▶ RunOnDemand ───┤   failure → $.attemptResult = {Error, Cause})
 *                              ├─ "finish" ────▶ Finish ─▶ Done │
 *                              └─ "skip" ──────▶ AlreadyFinished│
 *            ▲                                                   ▼
 *            └──────────────── SettleAttempt ◀──────────────────┘
 */
import type { CapacityType, FailureClass, JobStatus } from '../job.js';

export const STATE = {
  prepare: 'Prepare',
  chooseCapacity: 'ChooseCapacity',
  runOnSpot: 'RunOnSpot',
  runOnDemand: 'RunOnDemand',
  settleAttempt: 'SettleAttempt',
  finish: 'Finish',
  done: 'Done',
  alreadyFinished: 'AlreadyFinished',
} as const;

/** The execution input the dispatcher sends (execution name = jobId). */
export interface ExecutionInput {
  readonly jobId: string;
}

/** A Batch `KeyValuePair`, as ContainerOverrides.Environment takes it. */
export interface BatchEnvironmentVariable {
  readonly Name: string;
  readonly Value: string;
}

/** What prepare resolved once for the whole execution. */
export interface PreparedJob {
  /** ARN of the job definition registered for the job's image and resources. */
  readonly jobDefinitionArn: string;
  readonly command: readonly string[];
  /** Per-attempt limit, Batch `Timeout.AttemptDurationSeconds`. */
  readonly timeoutSeconds: number;
}

/** A job's terminal result, decided by prepare or settle-attempt and written by finish. */
export interface Outcome {
  readonly status: Extract<JobStatus, 'SUCCEEDED' | 'FAILED' | 'CANCELLED'>;
  readonly statusReason?: string;
  readonly exitCode?: number;
  readonly failureClass?: FailureClass;
}

/** Where the workflow goes next. */
export type Plan =
  | {
      readonly next: CapacityType;
      /** 1-based number of the attempt about to start. */
      readonly attempt: number;
      /** Batch job name for this submission: `gpujobs-<jobId>-<attempt>`. */
      readonly jobName: string;
      /** The job's environment plus GPUJOBS_JOB_ID and GPUJOBS_ATTEMPT. */
      readonly environment: readonly BatchEnvironmentVariable[];
      /**
       * Runs Batch may make of this submission (SubmitJob `RetryStrategy.Attempts`, 1-10): the Spot
       * budget left for a Spot submission, 1 On-Demand. A submission that Batch runs k times is
       * attempts `attempt` … `attempt + k - 1` of the job.
       */
      readonly batchAttempts: number;
    }
  | { readonly next: 'finish'; readonly outcome: Outcome }
  /** The job was already terminal (e.g. cancelled while queued): nothing to do. */
  | { readonly next: 'skip' };

/** Prepare: input `{jobId}`; its result replaces the state (ResultPath `$`). */
export interface PrepareInput {
  readonly jobId: string;
}
export interface PrepareResult {
  readonly jobId: string;
  readonly job?: PreparedJob;
  readonly plan: Plan;
}

/** Batch `.sync` failure as Step Functions reports it: `Cause` is the DescribeJobs job JSON when the job ran. */
export interface TaskError {
  readonly Error: string;
  readonly Cause?: string;
}

/** The state after a Run* task: `attemptResult` is the Batch job detail on success or a TaskError on failure. */
export interface SettleAttemptInput {
  readonly jobId: string;
  /** The submission's first attempt; the runs Batch lists in the job detail are this one and the ones after it. */
  readonly attempt: number;
  readonly capacity: CapacityType;
  readonly attemptResult: Record<string, unknown> | TaskError;
}
/** Settle-attempt's result goes to `$.plan`. */
export type SettleAttemptResult = Plan;

/** Finish: input `{jobId, outcome}`; exactly one terminal transition and event. */
export interface FinishInput {
  readonly jobId: string;
  readonly outcome: Outcome;
}
export interface FinishResult {
  readonly jobId: string;
  readonly status: JobStatus;
  /** False when the job was already terminal (e.g. cancelled first): no second event. */
  readonly transitioned: boolean;
}

/**
 * The Batch job of a submission is named after the job's first attempt it runs; Batch's
 * in-place retries of it are the attempts that follow (see core/batch-result.ts).
 */
export const batchJobName = (jobId: string, attempt: number) => `gpujobs-${jobId}-${attempt}`;

/** Inverse of batchJobName, for the Batch state-change events: the job and the submission's first attempt. */
export function parseBatchJobName(name: string): { jobId: string; attempt: number } | undefined {
  const match = /^gpujobs-(.+)-(\d+)$/.exec(name);
  if (!match) return undefined;
  return { jobId: match[1]!, attempt: Number(match[2]) };
}

/**
 * How long a claim to publish a job's terminal event lasts (lambdas/shared/terminal-event.ts).
 * Publishing is one PutEvents with a few bounded retries, seconds at most; the claim outlives
 * it with margin, and the workflow retries a busy Finish after longer than this.
 */
export const CLAIM_SECONDS = 30;

/** The error name Step Functions sees when finish finds the claim held (the Finish state's Retry matches it). */
export const TERMINAL_EVENT_BUSY_ERROR = 'TerminalEventBusy';

/**
 * The execution statuses the workflow cannot report itself (stopped for a cancel, crashed, timed
 * out): the stack routes their status-change events to reconcile, which settles the job.
 */
export const ENDED_EXECUTION_STATUSES = ['ABORTED', 'FAILED', 'TIMED_OUT'] as const;

/**
 * The ARN of a job's execution (its name is the job id):
 * `arn:…:stateMachine:<machine>` → `arn:…:execution:<machine>:<name>`.
 */
export function executionArnFor(stateMachineArn: string, name: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
}
