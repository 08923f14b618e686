/**
 * Environment variable names shared by the stack (which sets them, together
 * with the grant each one implies) and the handlers (which read and check them
 * when their module loads). Local mode sets the same names.
 */
export const ENV = {
  /** DynamoDB job table. */
  tableName: 'TABLE_NAME',
  /** SQS intake queue URL (api → dispatcher). */
  intakeQueueUrl: 'INTAKE_QUEUE_URL',
  /** Job workflow state machine ARN (dispatcher starts, cancel stops). */
  stateMachineArn: 'STATE_MACHINE_ARN',
  /** Custom EventBridge bus for gpujobs events. */
  eventBusName: 'EVENT_BUS_NAME',
  /** CloudWatch Logs group the Batch jobs write to. */
  jobLogGroupName: 'JOB_LOG_GROUP_NAME',
  /** Role the job's container runs as (Batch jobRoleArn). */
  jobRoleArn: 'JOB_ROLE_ARN',
  /** Role ECS uses to pull the image and write logs (Batch executionRoleArn). */
  jobExecutionRoleArn: 'JOB_EXECUTION_ROLE_ARN',
  /** Prefix of job definitions registered at run time; the stack's grant is scoped to it. */
  jobDefinitionPrefix: 'JOB_DEFINITION_PREFIX',
  /** Comma-separated registries images may come from; empty allows any. */
  allowedRegistries: 'ALLOWED_REGISTRIES',
  /**
   * The largest jobs the compute can hold, as core/instance-catalogue.ts formatJobShapes writes
   * them: the configured instance types' shapes (local mode: its GPU slots). The api refuses a job
   * none of them holds.
   */
  jobShapes: 'JOB_SHAPES',
  /**
   * Executions one dispatcher instance may start per second (optional; unset = no pacing).
   * The stack sets the platform-wide rate divided by the event source's maximum concurrency.
   */
  dispatchRatePerSecond: 'DISPATCH_RATE_PER_SECOND',
  /** ARN of the Spot job queue (the watchdog lists its RUNNABLE jobs). */
  spotJobQueueArn: 'SPOT_JOB_QUEUE_ARN',
  /** ARN of the On-Demand job queue (the watchdog lists its RUNNABLE jobs). */
  onDemandJobQueueArn: 'ON_DEMAND_JOB_QUEUE_ARN',
  /** Seconds a Spot job may wait in a blocked queue before it fails over (configuration `capacityTimeoutSeconds`). */
  capacityTimeoutSeconds: 'CAPACITY_TIMEOUT_SECONDS',
  /** Seconds an On-Demand job may wait in a blocked queue before it is cancelled (`onDemandCapacityTimeoutSeconds`). */
  onDemandCapacityTimeoutSeconds: 'ON_DEMAND_CAPACITY_TIMEOUT_SECONDS',
  /** The workflow's own execution timeout: the longest an execution can have run before it ended. */
  executionTimeoutSeconds: 'EXECUTION_TIMEOUT_SECONDS',
  /**
   * `1` only in local mode, where no authorizer exists: the api takes the owner from the
   * `x-gpujobs-owner` header (else `local`). Never set by the stack.
   */
  localMode: 'GPUJOBS_LOCAL_MODE',
  /**
   * `session` or `role` (configuration `ownerIdentity`): whether an assumed-role caller's owner is
   * its session ARN or the role's ARN (lambdas/api/owner.ts; the kinds: core/contract/owner.ts).
   */
  ownerIdentity: 'OWNER_IDENTITY',
} as const;

export type EnvName = (typeof ENV)[keyof typeof ENV];
