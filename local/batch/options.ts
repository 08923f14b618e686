/** What local mode's Batch stand-in is built with. */
import type { GpuSlot } from '../gpus.js';
import type { ContainerRuntime } from './container-runner.js';
import type { LocalLogger } from '../logger.js';
import type { LogStore } from '../log-store.js';
import type { JobDetail } from './job-detail.js';

export const DEFAULT_RETAINED_FINISHED_JOBS = 1000;

export interface LocalBatchOptions {
  readonly account: string;
  readonly region: string;
  readonly gpus: readonly GpuSlot[];
  readonly logStore: LogStore;
  /** Log group used when a job definition names none (Batch's default). */
  readonly defaultLogGroupName: string;
  /** Where registered job definitions are kept across restarts. */
  readonly jobDefinitionsFile: string;
  /**
   * Seconds a job may wait RUNNABLE for a pool that can never fit it, or, at the head of the Spot
   * queue while Spot has no capacity, for capacity, before it is cancelled.
   */
  readonly capacityTimeoutSeconds: number;
  /** Seconds between SIGTERM and SIGKILL when an instance is reclaimed or a job is terminated. */
  readonly stopGracePeriodSeconds: number;
  /**
   * Put in every job process's environment (as GPUJOBS_PLATFORM_TOKEN), so that the next start
   * on the same data dir finds the processes this one leaves behind (see process-tree.ts).
   * @default a random token: nothing left behind can be found again
   */
  readonly platformToken?: string;
  /**
   * Finished jobs kept for DescribeJobs and ListJobs, the most recent first; older ones are
   * forgotten, as Batch forgets jobs past its retention (their records stay in DynamoDB).
   * @default DEFAULT_RETAINED_FINISHED_JOBS
   */
  readonly retainedFinishedJobs?: number;
  /**
   * Where each attempt's scratch working directory is made (sandbox.ts); it holds nothing else,
   * since what is in it past its time is removed. Local mode uses `<dataDir>/sandboxes`.
   */
  readonly sandboxesDirectory: string;
  /**
   * Seconds a failed attempt's sandbox is kept for debugging; 0 removes it at once.
   * @default DEFAULT_KEEP_FAILED_SANDBOX_SECONDS (3600)
   */
  readonly keepFailedSandboxSeconds?: number;
  /**
   * Runs each attempt's image in a container with this engine (container-runner.ts) instead of
   * its command as a host process.
   * @default undefined: host processes, the image recorded, not run
   */
  readonly containers?: ContainerRuntime;
  /** Reported as the instance type of every attempt. */
  readonly instanceType: string;
  readonly logger: LocalLogger;
  /** Called on every transition Batch announces as a "Batch Job State Change" event. */
  readonly onStateChange: (detail: JobDetail) => void;
}
