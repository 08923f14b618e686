/**
 * The platform's CloudWatch metrics by name: what the handlers record (lambdas/shared/metrics.ts)
 * and what the stack's dashboard and alarms read (lib/monitoring.ts). Names, units and the
 * namespace only, with no metrics library, so the stack can import them without a handler's
 * dependencies.
 */

/** CloudWatch namespace of every metric here (the dashboard's). */
import type { JobStatus } from '../job.js';

export const METRICS_NAMESPACE = 'GpuJobs';

/** The `service` dimension where POWERTOOLS_SERVICE_NAME is unset (tests, local mode). */
export const DEFAULT_SERVICE_NAME = 'gpujobs';

export const JOB_METRICS = {
  /** A job was accepted (api). */
  jobsSubmitted: 'JobsSubmitted',
  /** A job ended SUCCEEDED (finish). */
  jobsSucceeded: 'JobsSucceeded',
  /** A job ended FAILED (finish, reconcile). */
  jobsFailed: 'JobsFailed',
  /** A job ended CANCELLED (api for queued jobs, reconcile, finish). */
  jobsCancelled: 'JobsCancelled',
  /** Seconds from submission to the first attempt that ran (batch-events). */
  timeToStartSeconds: 'TimeToStartSeconds',
  /** An attempt lost its Spot instance (settle-attempt). */
  spotReclaims: 'SpotReclaims',
  /** A job's next attempt moved from Spot to On-Demand (settle-attempt). */
  failovers: 'Failovers',
} as const;

export type JobMetricName = (typeof JOB_METRICS)[keyof typeof JOB_METRICS];

/** The CloudWatch units the platform's metrics use (the spelling EMF and Powertools' MetricUnit share). */
export type JobMetricUnit = 'Count' | 'Seconds';

/** Each metric's unit. */
export const JOB_METRIC_UNITS: Readonly<Record<JobMetricName, JobMetricUnit>> = {
  JobsSubmitted: 'Count',
  JobsSucceeded: 'Count',
  JobsFailed: 'Count',
  JobsCancelled: 'Count',
  TimeToStartSeconds: 'Seconds',
  SpotReclaims: 'Count',
  Failovers: 'Count',
};

/** The count a job's terminal status adds to; undefined for a status that is not terminal. */
export function terminalStatusMetric(status: JobStatus): JobMetricName | undefined {
  switch (status) {
    case 'SUCCEEDED':
      return JOB_METRICS.jobsSucceeded;
    case 'FAILED':
      return JOB_METRICS.jobsFailed;
    case 'CANCELLED':
      return JOB_METRICS.jobsCancelled;
    default:
      return undefined;
  }
}

/** What domain code needs: to say that something happened, and how much. */
export interface MetricsRecorder {
  add(name: JobMetricName, value?: number): void;
}

/** A recorder that keeps nothing, for callers that do not count. */
export const NO_METRICS: MetricsRecorder = { add: () => undefined };
