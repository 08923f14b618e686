/**
 * The job model shared by the API, the workflow tasks, local mode and the CLI.
 * No AWS SDK here: this module is the domain's vocabulary.
 */

export const JOB_STATUSES = ['QUEUED', 'PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export type TerminalStatus = Extract<JobStatus, 'SUCCEEDED' | 'FAILED' | 'CANCELLED'>;
export const TERMINAL_STATUSES: readonly JobStatus[] = ['SUCCEEDED', 'FAILED', 'CANCELLED'] satisfies readonly TerminalStatus[];

export const CAPACITY_POLICIES = ['spot-first', 'spot-only', 'on-demand'] as const;
export type CapacityPolicy = (typeof CAPACITY_POLICIES)[number];

/** Where one attempt ran. */
export const CAPACITY_TYPES = ['spot', 'on-demand'] as const;
export type CapacityType = (typeof CAPACITY_TYPES)[number];

export const ATTEMPT_STATUSES = ['PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED'] as const;
export type AttemptStatus = (typeof ATTEMPT_STATUSES)[number];

/** How an attempt ended; final once recorded. */
export const SETTLED_ATTEMPT_STATUSES: readonly AttemptStatus[] = ['SUCCEEDED', 'FAILED', 'CANCELLED'];

export const FAILURE_CLASSES = ['SPOT_RECLAIM', 'NO_CAPACITY', 'MISCONFIGURATION', 'APP_ERROR', 'TIMEOUT', 'CANCELLED'] as const;
export type FailureClass = (typeof FAILURE_CLASSES)[number];

/** What a caller submits (after defaults are applied). */
export interface JobSpec {
  readonly name?: string;
  readonly image: string;
  readonly command: readonly string[];
  readonly environment: Readonly<Record<string, string>>;
  readonly tags: Readonly<Record<string, string>>;
  readonly gpus: number;
  readonly vcpus: number;
  readonly memoryMiB: number;
  /** Size of /dev/shm; absent leaves the container engine's default (64 MiB). */
  readonly sharedMemoryMiB?: number;
  readonly capacity: CapacityPolicy;
  readonly maxSpotAttempts: number;
  readonly timeoutSeconds: number;
}

/** One run of the job's container on one kind of capacity. */
export interface Attempt {
  readonly attempt: number;
  readonly capacity: CapacityType;
  readonly status: AttemptStatus;
  readonly failureClass?: FailureClass;
  readonly batchJobId?: string;
  readonly instanceType?: string;
  readonly startedAt?: string;
  readonly stoppedAt?: string;
  readonly exitCode?: number;
  readonly statusReason?: string;
  readonly costUsd?: number;
}

/** The job as the API returns it (the contract's "job object"). */
export interface Job extends JobSpec {
  readonly jobId: string;
  readonly name: string;
  readonly owner: string;
  readonly status: JobStatus;
  readonly statusReason?: string;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly startedAt?: string;
  readonly finishedAt?: string;
  readonly exitCode?: number;
  readonly attempts: readonly Attempt[];
  readonly costUsd: number;
}

/**
 * Which code path wrote a job's terminal status: the workflow (`settle-attempt` when its last
 * attempt decided the outcome, `finish` otherwise), `reconcile` for an execution that ended
 * without finishing, `api` for a QUEUED job cancelled at once.
 */
export const TERMINAL_WRITERS = ['settle-attempt', 'finish', 'reconcile', 'api'] as const;
export type TerminalWriter = (typeof TERMINAL_WRITERS)[number];

/**
 * The terminal event a job is owed: written in the same conditional update as its
 * terminal status (so it exists exactly when that transition happened), by the code
 * path that made it; `published` turns true once the event was accepted.
 */
export interface TerminalEventDebt {
  readonly writer: TerminalWriter;
  readonly previousStatus: JobStatus;
  readonly published: boolean;
  /** While set and in the future, one invocation holds the right to publish (ISO-8601). */
  readonly claimedUntil?: string;
}

/**
 * The stored record: the job plus bookkeeping that the API does not show.
 * `version` increases by one on every write; every write is conditional on it.
 */
export interface JobRecord extends Job {
  readonly version: number;
  /** Set by cancel; the job ends CANCELLED when its execution stops. */
  readonly cancelRequested?: boolean;
  /** The Step Functions execution running this job, once dispatched. */
  readonly executionArn?: string;
  /** Hash of the canonical request body, for idempotent replays. */
  readonly requestHash?: string;
  /** Present once the job is terminal: the terminal event it is owed, and whether it was published. */
  readonly terminalEvent?: TerminalEventDebt;
}

export function isTerminal(status: JobStatus): status is TerminalStatus {
  return TERMINAL_STATUSES.includes(status);
}

export function isAttemptSettled(status: AttemptStatus): boolean {
  return SETTLED_ATTEMPT_STATUSES.includes(status);
}

/** How a job's end closes the attempts still open on it. */
export interface AttemptClosing {
  readonly cancelled: boolean;
  readonly stoppedAt: string;
  /** Used where the attempt has no reason of its own. */
  readonly reason: string;
}

/**
 * The writes that settle every attempt still PENDING or RUNNING, so that no attempt stays
 * open on a terminal job: CANCELLED (class CANCELLED) for a cancel, FAILED otherwise. Empty
 * when none is open; a job's terminal write carries them (app/end-job.ts).
 */
export function closingWrites<A extends Attempt>(attempts: readonly A[], closing: AttemptClosing): A[] {
  return attempts
    .filter((attempt) => !isAttemptSettled(attempt.status))
    .map((attempt) => ({
      ...attempt,
      status: closing.cancelled ? 'CANCELLED' : 'FAILED',
      ...(closing.cancelled ? { failureClass: 'CANCELLED' as const } : {}),
      stoppedAt: attempt.stoppedAt ?? closing.stoppedAt,
      statusReason: attempt.statusReason ?? closing.reason,
    }));
}

/** `GET /v1/jobs`: the caller's jobs, newest first; `nextToken` absent on the last page. */
export interface JobPage {
  readonly jobs: readonly Job[];
  readonly nextToken?: string;
}

/** One line of a job's output, from the attempt that wrote it. */
export interface LogLine {
  readonly attempt: number;
  readonly timestamp: string;
  readonly message: string;
}

/** `GET /v1/jobs/{jobId}/logs`: lines in order across attempts. */
export interface LogPage {
  readonly lines: readonly LogLine[];
  readonly nextToken?: string;
}
