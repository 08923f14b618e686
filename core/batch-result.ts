/**
 * What one Batch attempt came to, from what the workflow's `submitJob.sync` task
 * handed over:
 *
 * - on success, the job detail. Step Functions returns DescribeJobs' JobDetail
 *   with PascalCase member names (`JobId`, `Status`, `Container.ExitCode`,
 *   `Attempts[].StartedAt`, ...), as local mode's Batch stand-in does too; the
 *   Batch Job State Change events that batch-events reads carry the API's camelCase
 *   (`jobId`, `container.exitCode`). Both are read.
 * - on failure, a TaskError caught into the state: `{Error: 'States.TaskFailed',
 *   Cause: '<the JobDetail as JSON>'}` when the job ran and failed, or an error
 *   whose Cause is not a job (`States.Timeout`, `Batch.ClientException` from a
 *   rejected SubmitJob, ...).
 *
 * One submission may be several attempts: Batch runs a job again in place after a lost
 * host (its retryStrategy), and lists every run in `attempts[]`. The submission named
 * `gpujobs-<jobId>-<N>` that ran k times is attempts N … N+k-1 of the job, each with its
 * own times, reason, log stream and cost; the job-level fields describe the last one.
 */
import { classifyAttemptFailure, type AttemptFailureInput } from './failure.js';
import type { AttemptStatus, FailureClass } from './job.js';
import type { BatchJobStatus } from './contract/batch.js';
import type { TaskError } from './contract/workflow.js';

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

const without = <T extends object>(value: T) => Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined)) as T;

/** The runs Batch lists in a job detail (`attempts[]`), oldest first. */
function runsOf(detail: Json): Json[] {
  const attempts = member(detail, 'attempts');
  return Array.isArray(attempts) ? attempts.filter(isObject) : [];
}

/** One run Batch ended and listed, read on its own: the job-level fields describe the job's last run only. */
function fromRun(run: Json, batchJobId: string | undefined, classify: (reasons: AttemptFailureInput) => FailureClass): AttemptResult {
  const container = objectMember(run, 'container');
  const statusReason = stringMember(run, 'statusReason');
  const exitCode = numberMember(container, 'exitCode');
  const containerReason = stringMember(container, 'reason');
  return without({
    succeeded: false,
    batchJobId,
    batchStatus: 'FAILED',
    exitCode,
    statusReason,
    containerReason,
    startedAt: isoFromEpochMs(numberMember(run, 'startedAt')),
    stoppedAt: isoFromEpochMs(numberMember(run, 'stoppedAt')),
    logStreamName: stringMember(container, 'logStreamName'),
    containerInstanceArn: stringMember(container, 'containerInstanceArn'),
    failureClass: classify({ statusReason, exitCode, containerReason }),
  });
}

/**
 * Batch retries a run whose host was lost while it has attempts left. When the last run
 * listed is such a run, attempts were left, and the job ended with a reason of its own,
 * the job ended while that retry waited (e.g. the queue cancelled it for lack of
 * capacity): the retry is one more attempt, which never started.
 */
function endedWhileRetryWaited(detail: Json, runs: readonly Json[], jobStatusReason: string | undefined): boolean {
  const lastRun = runs.at(-1);
  if (!lastRun || jobStatusReason === undefined) return false;
  const lastRunReason = stringMember(lastRun, 'statusReason');
  if (lastRunReason === jobStatusReason) return false;
  if (classifyAttemptFailure({ statusReason: lastRunReason }) !== 'SPOT_RECLAIM') return false;
  const allowedRuns = numberMember(objectMember(detail, 'retryStrategy'), 'attempts');
  return allowedRuns === undefined || runs.length < allowedRuns;
}

function fromJobDetail(detail: Json, options: InterpretOptions, taskFailed: boolean): AttemptResult[] {
  const batchJobId = stringMember(detail, 'jobId');
  const batchStatus = stringMember(detail, 'status');
  const jobStatusReason = stringMember(detail, 'statusReason');
  // A caught task error is a failure whatever the detail inside it says.
  const succeeded = !taskFailed && batchStatus === 'SUCCEEDED';
  const runs = runsOf(detail);
  // Earlier runs ended the way they did whatever happened later: a cancel applies to the last attempt only.
  const earlier = (run: Json) => fromRun(run, batchJobId, classifyAttemptFailure);
  const classifyLast = (reasons: AttemptFailureInput) =>
    succeeded ? undefined : classifyAttemptFailure({ ...reasons, cancelRequested: options.cancelRequested });

  if (!succeeded && endedWhileRetryWaited(detail, runs, jobStatusReason)) {
    const neverStarted: AttemptResult = without({
      succeeded: false,
      batchJobId,
      batchStatus,
      statusReason: jobStatusReason,
      failureClass: classifyLast({ statusReason: jobStatusReason }),
    });
    return [...runs.map(earlier), neverStarted];
  }

  const lastRun = runs.at(-1);
  const container = objectMember(detail, 'container');
  const runContainer = objectMember(lastRun, 'container');
  const exitCode = numberMember(container, 'exitCode') ?? numberMember(runContainer, 'exitCode');
  const statusReason = jobStatusReason ?? stringMember(lastRun, 'statusReason');
  const containerReason = stringMember(container, 'reason') ?? stringMember(runContainer, 'reason');
  // With several runs the job-level times and container may describe any of them; the run's own are exact.
  const last: AttemptResult = without({
    succeeded,
    batchJobId,
    batchStatus,
    exitCode,
    statusReason,
    containerReason,
    startedAt: isoFromEpochMs(numberMember(lastRun, 'startedAt') ?? numberMember(detail, 'startedAt')),
    stoppedAt: isoFromEpochMs(numberMember(lastRun, 'stoppedAt') ?? numberMember(detail, 'stoppedAt')),
    logStreamName: stringMember(runContainer, 'logStreamName') ?? stringMember(container, 'logStreamName'),
    containerInstanceArn: stringMember(runContainer, 'containerInstanceArn') ?? stringMember(container, 'containerInstanceArn'),
    failureClass: classifyLast({ statusReason, exitCode, containerReason }),
  });
  return [...runs.slice(0, -1).map(earlier), last];
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

/**
 * Every attempt one submission came to, oldest first, from what its `submitJob.sync`
 * task handed over (job detail or caught TaskError). Batch may have run the job
 * several times in place (its retryStrategy after a lost host): each run it lists is an
 * attempt of its own, and so is a retry that was still waiting when the job ended.
 * Always at least one; the last is the submission's outcome, the others ended FAILED.
 */
export function interpretSubmissionResult(result: Record<string, unknown> | TaskError, options: InterpretOptions = {}): AttemptResult[] {
  if (isTaskError(result)) {
    const detail = parseCause(result.Cause);
    return detail ? fromJobDetail(detail, options, true) : [fromBareTaskError(result, options)];
  }
  return fromJobDetail(result as Json, options, false);
}

/** How the submission's last attempt ended (see interpretSubmissionResult for all of them). */
export function interpretAttemptResult(result: Record<string, unknown> | TaskError, options: InterpretOptions = {}): AttemptResult {
  return interpretSubmissionResult(result, options).at(-1)!;
}

/**
 * The runs of a Batch job that is still going (waiting or running again): every run it
 * lists has ended, and Batch retried it in place. Read from a "Batch Job State Change"
 * detail (camelCase) or a DescribeJobs detail.
 */
export function endedRunsOf(detail: Record<string, unknown>): AttemptResult[] {
  const batchJobId = stringMember(detail, 'jobId');
  return runsOf(detail).map((run) => fromRun(run, batchJobId, classifyAttemptFailure));
}

/** The status an attempt is recorded with once it has ended this way. */
/**
 * What one state change says about one of our submissions. A Batch job named
 * `gpujobs-<jobId>-<N>` is attempts N, N+1, … (one per run: Batch retries a lost host in
 * place), and the event is about attempt N + the runs it lists as ended; for a finished
 * Batch job, about its last attempt.
 */
export interface BatchAttemptFacts {
  readonly jobId: string;
  /** The attempt the Batch job was submitted as (its name says so). */
  readonly submittedAttempt: number;
  /** The attempt this event is about. */
  readonly attempt: number;
  readonly batchJobId: string;
  readonly batchStatus: BatchJobStatus;
  readonly statusReason?: string;
  readonly startedAt?: string;
  readonly stoppedAt?: string;
  readonly exitCode?: number;
  readonly containerReason?: string;
  readonly logStreamName?: string;
  readonly containerInstanceArn?: string;
  /** The attempts before `attempt` that this Batch job ran and ended, oldest first. */
  readonly endedAttempts: readonly EndedRun[];
}

/** How one run of a submission ended, as a settled attempt records it. */
export interface EndedRun {
  readonly attempt: number;
  readonly status: Extract<AttemptStatus, 'FAILED' | 'SUCCEEDED' | 'CANCELLED'>;
  readonly failureClass?: FailureClass;
  readonly statusReason?: string;
  readonly batchJobId?: string;
  readonly startedAt?: string;
  readonly stoppedAt?: string;
  readonly exitCode?: number;
  readonly logStreamName?: string;
  readonly containerInstanceArn?: string;
}

/** Attempt `attempt` as `result` says it ended. */
export function endedRunOf(attempt: number, result: AttemptResult): EndedRun {
  return {
    attempt,
    status: settledAttemptStatus(result),
    failureClass: result.failureClass,
    statusReason: result.statusReason ?? result.containerReason,
    batchJobId: result.batchJobId,
    startedAt: result.startedAt,
    stoppedAt: result.stoppedAt,
    exitCode: result.exitCode,
    logStreamName: result.logStreamName,
    containerInstanceArn: result.containerInstanceArn,
  };
}

export function settledAttemptStatus(result: Pick<AttemptResult, 'succeeded' | 'failureClass'>): 'SUCCEEDED' | 'FAILED' | 'CANCELLED' {
  if (result.succeeded) return 'SUCCEEDED';
  return result.failureClass === 'CANCELLED' ? 'CANCELLED' : 'FAILED';
}
