/**
 * Batch's own retry of a submitted job (`retryStrategy`), in one place: the job
 * definitions prepare registers carry it, and the workflow's Batch states pass it with
 * every submission (a SubmitJob `RetryStrategy` overrides the definition's), with the
 * number of attempts set to what is left of the job's Spot budget.
 *
 * Why Batch retries at all: after a Spot reclaim, Batch runs the job again in place
 * within the same Batch job, which is quicker than a new submission through the
 * workflow. Every such run is an attempt of its own in the job's record (see
 * core/batch-result.ts), so the budget the owner chose (`maxSpotAttempts`) bounds them.
 */

/** Batch accepts 1 to 10 attempts per job. */
export const BATCH_MAX_ATTEMPTS = 10;

/**
 * Attempts in a registered job definition. The workflow overrides it on every submission;
 * it applies only to a job submitted to Batch by other means.
 */
export const JOB_DEFINITION_BATCH_ATTEMPTS = 2;

export type RetryAction = 'RETRY' | 'EXIT';

/** One `evaluateOnExit` rule, in the Batch API's lowerCamel casing (RegisterJobDefinition, SubmitJob). */
export interface EvaluateOnExitRule {
  readonly onStatusReason?: string;
  readonly onReason?: string;
  /** Batch's third pattern; the rules below need none, but a job definition registered by other means may carry it. */
  readonly onExitCode?: string;
  readonly action: RetryAction;
}

/** A `retryStrategy` as the Batch API carries it (RegisterJobDefinition, SubmitJob, DescribeJobs). */
export interface BatchRetryStrategy {
  /** Batch's default is 1: no retry in place. */
  readonly attempts?: number;
  readonly evaluateOnExit?: readonly EvaluateOnExitRule[];
}

/**
 * Batch evaluates these in order and takes the first match. When nothing matches, Batch
 * RETRIES, so the final catch-all is what stops an application error or a
 * misconfiguration from being run again by Batch behind the workflow's back.
 */
export const EVALUATE_ON_EXIT: readonly EvaluateOnExitRule[] = [
  // A timed-out attempt would time out again.
  { onStatusReason: 'Job attempt duration exceeded timeout', action: 'EXIT' },
  // Spot reclaim or host failure: the container never got to finish, so run it again.
  { onStatusReason: 'Host EC2*', action: 'RETRY' },
  { onReason: '*', action: 'EXIT' },
];

/** The rules as Step Functions' Batch integration takes them (PascalCase Parameters). */
export interface StepFunctionsEvaluateOnExitRule {
  readonly OnStatusReason?: string;
  readonly OnReason?: string;
  readonly OnExitCode?: string;
  readonly Action: RetryAction;
}

/** Batch's 1..10, from however many attempts a job may still make. */
export function clampBatchAttempts(attempts: number): number {
  if (!Number.isFinite(attempts)) return 1;
  return Math.min(BATCH_MAX_ATTEMPTS, Math.max(1, Math.floor(attempts)));
}

/** A `retryStrategy` for the Batch API (RegisterJobDefinition, SubmitJob). */
export function batchRetryStrategy(attempts: number): { attempts: number; evaluateOnExit: EvaluateOnExitRule[] } {
  return { attempts: clampBatchAttempts(attempts), evaluateOnExit: EVALUATE_ON_EXIT.map((rule) => ({ ...rule })) };
}

/** EVALUATE_ON_EXIT in Step Functions' casing, for the workflow's Batch states. */
export function stepFunctionsEvaluateOnExit(): StepFunctionsEvaluateOnExitRule[] {
  return EVALUATE_ON_EXIT.map((rule) => ({
    ...(rule.onStatusReason === undefined ? {} : { OnStatusReason: rule.onStatusReason }),
    ...(rule.onReason === undefined ? {} : { OnReason: rule.onReason }),
    ...(rule.onExitCode === undefined ? {} : { OnExitCode: rule.onExitCode }),
    Action: rule.action,
  }));
}
