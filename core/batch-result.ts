/**
 * What one Batch attempt came to, from what the workflow's `submitJob.sync` task
 * handed over:
 *
 * - on success, the job detail. Step Functions returns DescribeJobs' JobDetail
 *   with PascalCase member names (`JobId`, `Status`, `Container.ExitCode`,
 *   `Attempts[].StartedAt`, ...); local mode's Batch stand-in may return the
 *   API's camelCase (`jobId`, `container.exitCode`). Both are read.
 * - on failure, a TaskError caught into the state: `{Error: 'States.TaskFailed',
 *   Cause: '<the JobDetail as JSON>'}` when the job ran and failed, or an error
 *   whose Cause is not a job (`States.Timeout`, `Batch.ClientException` from a
 *   rejected SubmitJob, ...).
 */
import { classifyAttemptFailure } from './failure.js';
import type { FailureClass } from './job.js';
import type { TaskError } from './workflow-contract.js';

export interface AttemptResult {
  readonly succeeded: boolean;
  readonly batchJobId?: string;
  /** Batch job status (`SUCCEEDED`, `FAILED`), when a job detail was seen. */
  readonly batchStatus?: string;
  readonly exitCode?: number;
  readonly statusReason?: string;
  readonly containerReason?: string;
  readonly startedAt?: string;
  readonly stoppedAt?: string;
  readonly logStreamName?: string;
  readonly containerInstanceArn?: string;
  readonly failureClass?: FailureClass;
}

export interface InterpretOptions {
  /** The job's `cancelRequested`: a failure while a cancel is pending is CANCELLED. */
  readonly cancelRequested?: boolean;
}

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Reads `name` in camelCase or PascalCase. */
function member(source: Json | undefined, name: string): unknown {
  if (!source) return undefined;
  if (name in source) return source[name];
  return source[name.charAt(0).toUpperCase() + name.slice(1)];
}

const stringMember = (source: Json | undefined, name: string) => {
  const value = member(source, name);
  return typeof value === 'string' && value.length > 0 ? value : undefined;
};

const numberMember = (source: Json | undefined, name: string) => {
  const value = member(source, name);
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
};

const objectMember = (source: Json | undefined, name: string) => {
  const value = member(source, name);
  return isObject(value) ? value : undefined;
};

/** Batch times are epoch milliseconds. */
const isoFromEpochMs = (value: number | undefined) => {
  if (value === undefined || value <= 0) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
};

const looksLikeJobDetail = (value: unknown): value is Json =>
  isObject(value) && (typeof member(value, 'jobId') === 'string' || typeof member(value, 'status') === 'string');

export function isTaskError(value: unknown): value is TaskError {
  return isObject(value) && typeof value.Error === 'string' && !looksLikeJobDetail(value);
}

function parseCause(cause: string | undefined): Json | undefined {
  if (!cause) return undefined;
  try {
    const parsed: unknown = JSON.parse(cause);
    return looksLikeJobDetail(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

const without = <T extends object>(value: T) =>
  Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined)) as T;

function fromJobDetail(detail: Json, options: InterpretOptions, taskFailed: boolean): AttemptResult {
  const attempts = member(detail, 'attempts');
  const lastAttempt = Array.isArray(attempts) ? [...attempts].reverse().find(isObject) : undefined;
  const container = objectMember(detail, 'container');
  const attemptContainer = objectMember(lastAttempt, 'container');
  const batchStatus = stringMember(detail, 'status');
  // A caught task error is a failure whatever the detail inside it says.
  const succeeded = !taskFailed && batchStatus === 'SUCCEEDED';
  const exitCode = numberMember(container, 'exitCode') ?? numberMember(attemptContainer, 'exitCode');
  const statusReason = stringMember(detail, 'statusReason') ?? stringMember(lastAttempt, 'statusReason');
  const containerReason = stringMember(container, 'reason') ?? stringMember(attemptContainer, 'reason');
  const result: AttemptResult = {
    succeeded,
    batchJobId: stringMember(detail, 'jobId'),
    batchStatus,
    exitCode,
    statusReason,
    containerReason,
    startedAt: isoFromEpochMs(numberMember(detail, 'startedAt') ?? numberMember(lastAttempt, 'startedAt')),
    stoppedAt: isoFromEpochMs(numberMember(detail, 'stoppedAt') ?? numberMember(lastAttempt, 'stoppedAt')),
    logStreamName: stringMember(container, 'logStreamName') ?? stringMember(attemptContainer, 'logStreamName'),
    containerInstanceArn: stringMember(container, 'containerInstanceArn') ?? stringMember(attemptContainer, 'containerInstanceArn'),
    failureClass: succeeded
      ? undefined
      : classifyAttemptFailure({ statusReason, exitCode, containerReason, cancelRequested: options.cancelRequested }),
  };
  return without(result);
}

/** A task failure that carries no job: the attempt never produced a Batch job detail. */
function fromBareTaskError(error: TaskError, options: InterpretOptions): AttemptResult {
  const statusReason = error.Cause ? `${error.Error}: ${error.Cause}` : error.Error;
  let failureClass: FailureClass;
  if (options.cancelRequested) failureClass = 'CANCELLED';
  // The task's own TimeoutSeconds (a backstop above the Batch attempt timeout).
  else if (error.Error === 'States.Timeout' || error.Error === 'States.HeartbeatTimeout') failureClass = 'TIMEOUT';
  // SubmitJob rejected the request (bad job definition, queue or parameters): retrying cannot help.
  else if (error.Error === 'Batch.ClientException') failureClass = 'MISCONFIGURATION';
  else failureClass = classifyAttemptFailure({ statusReason });
  return { succeeded: false, statusReason, failureClass };
}

/** Turns a `submitJob.sync` result (job detail or caught TaskError) into the attempt's outcome. */
export function interpretAttemptResult(result: Record<string, unknown> | TaskError, options: InterpretOptions = {}): AttemptResult {
  if (isTaskError(result)) {
    const detail = parseCause(result.Cause);
    return detail ? fromJobDetail(detail, options, true) : fromBareTaskError(result, options);
  }
  return fromJobDetail(result as Json, options, false);
}
