/**
 * The handlers' recorder of the platform's CloudWatch metrics (named in core/contract/metrics.ts),
 * written by Powertools Metrics as Embedded Metric Format (EMF) documents: one JSON line on stdout
 * per invocation (the `logMetrics` middleware publishes them), which CloudWatch Logs turns into
 * metrics in the `GpuJobs` namespace with the single dimension `service` (what the stack's
 * dashboard reads).
 *
 * Powertools Metrics adds about 12 KB minified, 3 KB gzipped, to a handler bundle (finish: 406 →
 * 418 KB, bundled with lib/gpujobs-function.ts's options), about 3 %; it replaced a serializer
 * that had to track the EMF specification by hand.
 *
 * Handlers record a metric only after the state change it counts has happened (the
 * conditional write succeeded), never on a retry that found the work already done, so a
 * count is a count of changes, not of invocations.
 */
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { MetricsOptions } from '@aws-lambda-powertools/metrics/types';
import {
  DEFAULT_SERVICE_NAME,
  JOB_METRIC_UNITS,
  METRICS_NAMESPACE,
  type JobMetricName,
  type MetricsRecorder,
} from '../../core/contract/metrics.js';

export class MetricsConfigurationError extends Error {
  override readonly name = 'MetricsConfigurationError';
}

/** Powertools Metrics that records the platform's metrics by name, each with its unit. Publish with `logMetrics`. */
export class JobMetrics extends Metrics implements MetricsRecorder {
  add(name: JobMetricName, value = 1): void {
    if (!Object.hasOwn(JOB_METRIC_UNITS, name)) {
      throw new RangeError(`Unknown metric ${String(name)}. Known: ${Object.keys(JOB_METRIC_UNITS).join(', ')}.`);
    }
    // Powertools takes NaN and Infinity, which CloudWatch rejects along with the whole document.
    if (!Number.isFinite(value)) throw new RangeError(`Metric ${name} needs a finite value. Received ${value}.`);
    this.addMetric(name, JOB_METRIC_UNITS[name], value);
  }
}

/** Where Powertools Metrics sends its own warnings: the function's Logger. */
export type MetricsLogger = NonNullable<MetricsOptions['logger']>;

/** How Powertools starts the warning it gives on each publish that has nothing to write. */
const EMPTY_PUBLISH_NOTICE = 'No application metrics to publish';

/**
 * Powertools warns on every publish that finds nothing recorded, disabled or not. Here that is
 * most invocations (reads, duplicates, retries that find the work done), so that notice is logged
 * at debug level; its other warnings stay warnings.
 */
function withEmptyPublishAtDebug(logger: MetricsLogger): MetricsLogger {
  return {
    debug: (...content) => logger.debug(...content),
    info: (...content) => logger.info(...content),
    warn: (...content) =>
      typeof content[0] === 'string' && content[0].startsWith(EMPTY_PUBLISH_NOTICE) ? logger.debug(...content) : logger.warn(...content),
    error: (...content) => logger.error(...content),
  };
}

/**
 * The handlers' metrics, configured from the environment as Powertools reads it:
 * POWERTOOLS_SERVICE_NAME (the stack sets it to the stack name, the dashboard's dimension),
 * POWERTOOLS_METRICS_NAMESPACE, and POWERTOOLS_METRICS_DISABLED, else POWERTOOLS_DEV, to write
 * nothing (local mode sets it: its handlers run in-process).
 */
export function metricsFromEnvironment(logger: MetricsLogger): JobMetrics {
  const env = process.env;
  const serviceName = env.POWERTOOLS_SERVICE_NAME?.trim() || DEFAULT_SERVICE_NAME;
  const namespace = env.POWERTOOLS_METRICS_NAMESPACE?.trim() || METRICS_NAMESPACE;
  try {
    return new JobMetrics({ namespace, serviceName, logger: withEmptyPublishAtDebug(logger) });
  } catch (error) {
    // Powertools refuses a flag it cannot read without saying what it read.
    if (!(error instanceof Error) || !error.message.includes('POWERTOOLS_METRICS_DISABLED')) throw error;
    throw new MetricsConfigurationError(
      `Environment variable POWERTOOLS_METRICS_DISABLED must be true or false (or 1/0, yes/no, on/off). Received ${JSON.stringify(env.POWERTOOLS_METRICS_DISABLED)}.`,
      { cause: error },
    );
  }
}
