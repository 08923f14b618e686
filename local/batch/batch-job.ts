/** The stand-in's record of one Batch job and of the attempt it is running, shared by the modules that drive it. */
import type { CapacityType } from '../../core/job.js';
import type { BatchJobStatus } from '../../core/contract/batch.js';
import type { Deferred } from '../deferred.js';
import type { JobDefinition } from './job-definitions.js';
import type { AttemptProcess } from './process-runner.js';
import type { ResolvedSubmission } from './submit-job.js';
import type { JobDetail } from './job-detail.js';

/** Why an attempt is being stopped before its main process ended on its own. */
export interface AttemptStop {
  readonly statusReason: string;
  readonly kind: 'reclaim' | 'timeout' | 'terminate';
}

/** Where an attempt runs, as Batch and ECS name it. */
export interface AttemptPlacement {
  readonly instanceId: string;
  readonly taskArn: string;
  readonly containerInstanceArn: string;
  readonly logStreamName: string;
  readonly logGroupName: string;
}

export interface RunningAttempt extends AttemptPlacement {
  /** Set once spawned; absent when spawn refused the command outright: the attempt ends at once, nothing ran. */
  process?: AttemptProcess;
  readonly slots: readonly number[];
  readonly startedAt: number;
  stop?: AttemptStop;
  timers: NodeJS.Timeout[];
  spawned: boolean;
  /** Set once the main process has ended: the attempt is being wound up and no stop changes its outcome. */
  ending: boolean;
  /** Resolves when the attempt has ended: its processes are gone and its output is in the log. */
  readonly ended: Deferred<void>;
}

/** An ended attempt, as DescribeJobs lists it in `attempts`. */
export interface AttemptRecord {
  readonly container: Record<string, unknown>;
  readonly startedAt: number;
  readonly stoppedAt: number;
  readonly statusReason: string;
}

export interface BatchJob extends ResolvedSubmission {
  readonly jobId: string;
  readonly jobArn: string;
  readonly jobName: string;
  readonly jobQueue: string;
  readonly capacity: CapacityType;
  readonly definition: JobDefinition;
  readonly createdAt: number;
  /** Submission order: a queue runs its jobs in this order, and a job retried in place keeps its place. */
  readonly sequence: number;
  status: BatchJobStatus;
  statusReason?: string;
  startedAt?: number;
  stoppedAt?: number;
  attempts: AttemptRecord[];
  running?: RunningAttempt;
  blockedSince?: number;
  blockedTimer?: NodeJS.Timeout;
  terminateReason?: string;
  readonly settled: Deferred<JobDetail>;
}
