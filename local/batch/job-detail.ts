/**
 * How the stand-in's jobs read: DescribeJobs' `JobDetail` (also the detail of every "Batch Job
 * State Change" event and what `.sync` returns) and ListJobs' `JobSummary`, with the members
 * and defaults Batch gives them, because the shared handlers read them as they read Batch's.
 */
import type { BatchJobStatus } from '../../core/contract/batch.js';
import type { BatchJob } from './batch-job.js';

/** Batch's DescribeJobs `JobDetail` (camelCase, timestamps in epoch milliseconds). */
export type JobDetail = Record<string, unknown> & {
  readonly jobId: string;
  readonly jobName: string;
  readonly status: BatchJobStatus;
};

/** ListJobs' `JobSummary` (timestamps in epoch milliseconds). */
export interface JobSummary {
  readonly jobArn: string;
  readonly jobId: string;
  readonly jobName: string;
  readonly createdAt: number;
  readonly status: BatchJobStatus;
  readonly statusReason?: string;
  readonly startedAt?: number;
  readonly stoppedAt?: number;
  readonly container?: { readonly exitCode?: number; readonly reason?: string };
  readonly jobDefinition: string;
}

export function jobDetailOf(job: BatchJob): JobDetail {
  const lastAttempt = job.attempts.at(-1);
  const running = job.running;
  const currentContainer = running
    ? { containerInstanceArn: running.containerInstanceArn, taskArn: running.taskArn, logStreamName: running.logStreamName }
    : (lastAttempt?.container ?? {});
  const container = job.definition.containerProperties ?? {};
  return {
    jobArn: job.jobArn,
    jobName: job.jobName,
    jobId: job.jobId,
    jobQueue: job.jobQueue,
    status: job.status,
    attempts: job.attempts.map((attempt) => ({ ...attempt, container: { ...attempt.container } })),
    ...(job.statusReason !== undefined ? { statusReason: job.statusReason } : {}),
    createdAt: job.createdAt,
    retryStrategy: job.retryStrategy,
    ...(job.startedAt !== undefined ? { startedAt: job.startedAt } : {}),
    ...(job.stoppedAt !== undefined ? { stoppedAt: job.stoppedAt } : {}),
    dependsOn: [],
    jobDefinition: job.definition.jobDefinitionArn,
    parameters: job.parameters,
    container: {
      image: container.image,
      command: job.command,
      ...(container.jobRoleArn ? { jobRoleArn: container.jobRoleArn } : {}),
      ...(container.executionRoleArn ? { executionRoleArn: container.executionRoleArn } : {}),
      volumes: [],
      environment: job.environment,
      mountPoints: [],
      ulimits: [],
      resourceRequirements: job.resourceRequirements,
      networkInterfaces: [],
      secrets: [],
      ...(container.logConfiguration ? { logConfiguration: container.logConfiguration } : {}),
      ...currentContainer,
    },
    ...(job.timeoutSeconds !== undefined ? { timeout: { attemptDurationSeconds: job.timeoutSeconds } } : {}),
    tags: job.tags,
    propagateTags: job.definition.propagateTags ?? false,
    platformCapabilities: job.definition.platformCapabilities ?? ['EC2'],
    eksAttempts: [],
  };
}

export function jobSummaryOf(job: BatchJob): JobSummary {
  const container = job.attempts.at(-1)?.container;
  const exitCode = container?.exitCode;
  const reason = container?.reason;
  return {
    jobArn: job.jobArn,
    jobId: job.jobId,
    jobName: job.jobName,
    createdAt: job.createdAt,
    status: job.status,
    ...(job.statusReason !== undefined ? { statusReason: job.statusReason } : {}),
    ...(job.startedAt !== undefined ? { startedAt: job.startedAt } : {}),
    ...(job.stoppedAt !== undefined ? { stoppedAt: job.stoppedAt } : {}),
    ...(container
      ? { container: { ...(typeof exitCode === 'number' ? { exitCode } : {}), ...(typeof reason === 'string' ? { reason } : {}) } }
      : {}),
    jobDefinition: job.definition.jobDefinitionArn,
  };
}
