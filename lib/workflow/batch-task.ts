/**
 * The contract of the workflow's Batch states (RunOnSpot, RunOnDemand) for whoever stands in
 * for `batch:submitJob.sync`: the parameters each state sends, and how a stand-in reports a
 * failed job so that the workflow's Catch sees what Step Functions would give it.
 */

import type { StepFunctionsEvaluateOnExitRule } from '../../core/retry-strategy.js';

/** Tags put on every Batch job the workflow submits. */
export const BATCH_JOB_TAG = { jobId: 'gpujobs:job-id', attempt: 'gpujobs:attempt' } as const;

/** The resolved Parameters of a Batch state: a SubmitJob request in Step Functions' PascalCase. */
export interface BatchSubmitJobParameters {
  /** ARN of the Spot queue (RunOnSpot) or the On-Demand queue (RunOnDemand). */
  readonly JobQueue: string;
  /** `gpujobs-<jobId>-<attempt>`. */
  readonly JobName: string;
  readonly JobDefinition: string;
  readonly ContainerOverrides: {
    readonly Command: readonly string[];
    readonly Environment: readonly { readonly Name: string; readonly Value: string }[];
  };
  readonly Timeout: { readonly AttemptDurationSeconds: number };
  /**
   * Batch's retry of this submission, overriding the job definition's: `Attempts` is the plan's
   * `batchAttempts` (the Spot budget left, or 1 On-Demand), the rules are core/retry-strategy.ts's.
   */
  readonly RetryStrategy: {
    readonly Attempts: number;
    readonly EvaluateOnExit: readonly StepFunctionsEvaluateOnExitRule[];
  };
  /** `gpujobs:job-id` and `gpujobs:attempt` (the submission's first attempt number, as a string). */
  readonly Tags: Readonly<Record<string, string>>;
}

/**
 * A Batch job that ended FAILED, as `.sync` reports it: error `States.TaskFailed`, Cause the
 * DescribeJobs job detail as JSON. aws-local-stepfunctions catches a thrown error as
 * `{Error: error.name, Cause: error.message}`, so throwing this from a Task override gives the
 * workflow's Catch exactly that.
 */
export class BatchJobFailedError extends Error {
  override readonly name = 'States.TaskFailed';
  constructor(readonly jobDetail: Record<string, unknown>) {
    super(JSON.stringify(jobDetail));
  }
}

/** A Batch API failure before any job exists, named as the integration names it (`Batch.<exception>`). */
export class BatchApiError extends Error {
  constructor(
    readonly exception: 'TooManyRequestsException' | 'ServerException' | 'AWSBatchException' | 'ClientException',
    message: string,
  ) {
    super(message);
    this.name = `Batch.${exception}`;
  }
}
