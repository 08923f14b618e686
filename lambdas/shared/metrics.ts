/**
 * The platform's CloudWatch metrics, written as Embedded Metric Format (EMF) documents: one
 * JSON line on stdout per flush, which CloudWatch Logs turns into metrics in the `GpuJobs`
 * namespace with the single dimension `service` (what the stack's dashboard reads).
 *
 * Handlers record a metric only after the state change it counts has happened (the
 * conditional write succeeded), never on a retry that found the work already done, so a
 * count is a count of changes, not of invocations.
 */
import type { MiddlewareObj } from '@middy/core';
import type { JobStatus } from '../../core/job.js';

/** CloudWatch namespace of every metric here (the dashboard's). */
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

export type MetricUnit = 'Count' | 'Seconds';

const UNITS: Readonly<Record<JobMetricName, MetricUnit>> = {
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

/** EMF takes at most 100 values per metric in one document. */
const MAX_VALUES_PER_METRIC = 100;

export class MetricsConfigurationError extends Error {
  override readonly name = 'MetricsConfigurationError';
}

export interface EmfMetricsOptions {
  /** Value of the `service` dimension. @default DEFAULT_SERVICE_NAME */
  readonly serviceName?: string;
  /** @default METRICS_NAMESPACE */
  readonly namespace?: string;
  /** Where each document goes, one line each. @default stdout */
  readonly write?: (line: string) => void;
  /** @default Date.now */
  readonly now?: () => number;
  /** Records and drops, writing nothing. @default false */
  readonly disabled?: boolean;
}

/** Buffers metrics and writes them as one EMF document per flush. */
export class EmfMetrics implements MetricsRecorder {
  readonly serviceName: string;
  readonly namespace: string;
  readonly disabled: boolean;
  private readonly write: (line: string) => void;
  private readonly now: () => number;
  private readonly values = new Map<JobMetricName, number[]>();

  constructor(options: EmfMetricsOptions = {}) {
    this.serviceName = options.serviceName ?? DEFAULT_SERVICE_NAME;
    this.namespace = options.namespace ?? METRICS_NAMESPACE;
    this.disabled = options.disabled ?? false;
    // Looked up at each write, not bound now, so whatever stdout is at the time receives it.
    this.write = options.write ?? ((line) => void process.stdout.write(`${line}\n`));
    this.now = options.now ?? Date.now;
    if (this.serviceName.trim() === '') throw new MetricsConfigurationError('The metrics service name must not be empty. Received an empty value.');
    if (this.namespace.trim() === '') throw new MetricsConfigurationError('The metrics namespace must not be empty. Received an empty value.');
  }

  add(name: JobMetricName, value = 1): void {
    if (!(name in UNITS)) throw new RangeError(`Unknown metric ${String(name)}. Known: ${Object.keys(UNITS).join(', ')}.`);
    if (!Number.isFinite(value)) throw new RangeError(`Metric ${name} needs a finite value. Received ${value}.`);
    const values = this.values.get(name) ?? [];
    values.push(value);
    this.values.set(name, values);
    if (values.length >= MAX_VALUES_PER_METRIC) this.flush();
  }

  /** Writes what was recorded since the last flush as one document; nothing when nothing was. */
  flush(): void {
    if (this.values.size === 0) return;
    const recorded = [...this.values];
    this.values.clear();
    if (this.disabled) return;
    const document = {
      _aws: {
        Timestamp: this.now(),
        CloudWatchMetrics: [
          {
            Namespace: this.namespace,
            Dimensions: [['service']],
            Metrics: recorded.map(([name]) => ({ Name: name, Unit: UNITS[name] })),
          },
        ],
      },
      service: this.serviceName,
      ...Object.fromEntries(recorded.map(([name, values]) => [name, values.length === 1 ? values[0] : values])),
    };
    this.write(JSON.stringify(document));
  }
}

const TRUE_VALUES = new Set(['1', 'true']);
const FALSE_VALUES = new Set(['', '0', 'false']);

function booleanEnv(name: string, env: NodeJS.ProcessEnv): boolean | undefined {
  const value = env[name];
  if (value === undefined) return undefined;
  const normalized = value.trim().toLowerCase();
  if (TRUE_VALUES.has(normalized)) return true;
  if (FALSE_VALUES.has(normalized)) return false;
  throw new MetricsConfigurationError(`Environment variable ${name} must be true or false. Received ${JSON.stringify(value)}.`);
}

/**
 * Metrics configured the way Powertools configures its own: POWERTOOLS_SERVICE_NAME (the stack
 * sets it to the stack name, the dashboard's dimension), POWERTOOLS_METRICS_NAMESPACE, and
 * POWERTOOLS_METRICS_DISABLED, else POWERTOOLS_DEV, to write nothing.
 */
export function metricsFromEnvironment(env: NodeJS.ProcessEnv = process.env, options: Pick<EmfMetricsOptions, 'write' | 'now'> = {}): EmfMetrics {
  const serviceName = env.POWERTOOLS_SERVICE_NAME?.trim() || DEFAULT_SERVICE_NAME;
  const namespace = env.POWERTOOLS_METRICS_NAMESPACE?.trim() || METRICS_NAMESPACE;
  const disabled = booleanEnv('POWERTOOLS_METRICS_DISABLED', env) ?? booleanEnv('POWERTOOLS_DEV', env) ?? false;
  return new EmfMetrics({ serviceName, namespace, disabled, ...options });
}

/**
 * Flushes after every invocation, failed ones included: a change that happened before a later
 * step failed is still counted, and its retry will find the work done and not count it again.
 * Use it last in the chain, so its onError runs before any middleware that answers the error.
 */
export function flushMetrics(metrics: Pick<EmfMetrics, 'flush'>): MiddlewareObj {
  return {
    after: () => metrics.flush(),
    onError: () => metrics.flush(),
  };
}
