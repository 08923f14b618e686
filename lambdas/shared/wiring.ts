/**
 * The composition every handler shares: its logger, the job store on its table, the clock, and
 * the middleware stack every function runs under. Each handler calls these once at module scope,
 * so configuration is checked when the module loads (requireEnv), not on a request.
 *
 * Only the DynamoDB client is reached from here, which every function already uses: a handler's
 * import graph is both its bundle and its IAM contract (test/infra/iam-sdk-calls.ts), so the
 * pieces that bring another SDK client live beside this module (event-wiring.ts,
 * reconciler-wiring.ts) and only the handlers that use them import them.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy, { type MiddlewareObj } from '@middy/core';
import type { Context } from 'aws-lambda';
import { ENV } from '../../core/contract/environment.js';
import { jobCostUsd } from '../../core/cost.js';
import type { JobRecord } from '../../core/job.js';
import { createDocumentClient } from './clients.js';
import { requireEnv } from './config.js';
import { DynamoJobStore } from './job-store.js';
import type { JobMetrics } from './metrics.js';

/** The function's structured logger; `serviceName` tells the functions' logs apart. */
export function functionLogger(serviceName: string): Logger {
  return new Logger({ serviceName });
}

/**
 * The job store on the function's table.
 * @default tableName - the TABLE_NAME variable, required
 */
export function jobStoreFromEnvironment(tableName: string = requireEnv(ENV.tableName)): DynamoJobStore {
  return new DynamoJobStore(createDocumentClient(), tableName);
}

/** The time stamps the use cases write: ISO 8601 in UTC, from the function's clock. */
export function isoNow(): string {
  return new Date().toISOString();
}

/** What a job cost so far: the sum over its attempts, the figure its terminal record and event carry. */
export function recordCostUsd(record: Pick<JobRecord, 'attempts'>): number {
  return jobCostUsd(record.attempts);
}

/** How a handler runs: with its logger and, for the functions that record metrics, their publishing. */
export interface HandlerWiring {
  /** Gets the Lambda context (request id, cold start) on every line it logs. */
  readonly logger: Logger;
  /**
   * Published after each invocation, as the EMF documents CloudWatch turns into metrics.
   * @default - no metrics publishing (the function records none)
   */
  readonly metrics?: JobMetrics;
  /**
   * Middleware used after the logger's and before the metrics' (an HTTP edge's error mapping),
   * so the lines it logs carry the Lambda context.
   * @default - none
   */
  // biome-ignore lint/suspicious/noExplicitAny: middy's middleware types do not widen; the function's own types are checked at `fn`.
  readonly middlewares?: readonly MiddlewareObj<any, any, Error, Context>[];
}

/** `fn` as a Lambda handler: the logger's context first, then `middlewares`, then metrics publishing. */
export function handlerWith<TEvent, TResult>(fn: (event: TEvent, context: Context) => Promise<TResult>, wiring: HandlerWiring) {
  const handler = middy<TEvent, TResult>(fn).use(injectLambdaContext(wiring.logger));
  for (const middleware of wiring.middlewares ?? []) handler.use(middleware);
  if (wiring.metrics) handler.use(logMetrics(wiring.metrics));
  return handler;
}
