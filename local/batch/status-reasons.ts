/**
 * The status reasons local mode's Batch stand-in gives, in Batch's own words: the shared
 * handlers classify a failure by these strings (core/failure.ts), exactly as in AWS.
 */
export const BATCH_STATUS_REASON = {
  containerExited: 'Essential container in task exited',
  attemptTimeout: 'Job attempt duration exceeded timeout',
  noCapacity: 'Canceled by JobStateTimeLimit action due to reason: CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY',
  /** What the head of a queue without capacity carries while it waits (ListJobs and DescribeJobs show it). */
  queueBlockedNoCapacity: (instanceType: string) =>
    `CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - Service cannot fulfill the capacity requested for instance type [${instanceType}]`,
  jobTooLarge: 'Canceled by JobStateTimeLimit action due to reason: MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT',
  hostTerminated: (instanceId: string) => `Host EC2 (instance ${instanceId}) terminated.`,
  /** An attempt whose command could not be started at all. */
  cannotStartContainer: 'CannotStartContainerError: Error response from daemon: failed to create task for container',
} as const;

/**
 * A job whose output cannot be stored fails the same way on any attempt until the disk is
 * fixed, so the reason carries Batch's MISCONFIGURATION prefix: the classifier then ends the job
 * (no retry, no On-Demand spend) and says so, instead of blaming the job's exit code.
 */
export function logFailureReason(failure: Error): string {
  return `MISCONFIGURATION:HOST_STORAGE - ${failure.message}`;
}
