/**
 * The intake queue's settings, SDK-free so that the CDK construct (lib/intake-queue.ts) and
 * local mode's SQS stand-in build the queue from the same numbers.
 */

/** The dispatcher function's timeout: one batch of StartExecution calls, paced. */
export const DISPATCHER_TIMEOUT_SECONDS = 30;

/**
 * The visibility timeout is this many times the dispatcher's timeout, as Lambda recommends for
 * SQS event sources: a message is not redelivered while a slow (or retried) invocation still holds it.
 */
export const INTAKE_VISIBILITY_TIMEOUT_MULTIPLE = 6;

/** Receives before a message is moved to the dead-letter queue. */
export const INTAKE_MAX_RECEIVE_COUNT = 5;

/** How long an undelivered job waits in the queue (the construct's default). */
export const INTAKE_RETENTION_SECONDS = 4 * 24 * 3600;

/** The dead-letter queue keeps a message longer than the source queue, so nothing expires first. */
export const INTAKE_DEAD_LETTER_RETENTION_SECONDS = 14 * 24 * 3600;

/** The intake queue's visibility timeout for a dispatcher with this timeout. */
export function intakeVisibilityTimeoutSeconds(dispatcherTimeoutSeconds: number): number {
  return dispatcherTimeoutSeconds * INTAKE_VISIBILITY_TIMEOUT_MULTIPLE;
}
