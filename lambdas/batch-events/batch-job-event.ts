/**
 * The part of an EventBridge "Batch Job State Change" event this platform reads.
 * `detail` is Batch's JobDetail (as DescribeJobs returns it); everything else in
 * it is ignored, and Batch may add fields at any time.
 */
import * as z from 'zod/mini';
import { parseBatchJobName } from '../../core/workflow-contract.js';

export const BATCH_JOB_STATUSES = ['SUBMITTED', 'PENDING', 'RUNNABLE', 'STARTING', 'RUNNING', 'SUCCEEDED', 'FAILED'] as const;
export type BatchJobStatus = (typeof BATCH_JOB_STATUSES)[number];

const containerSchema = z.object({
  containerInstanceArn: z.optional(z.string()),
  taskArn: z.optional(z.string()),
  exitCode: z.optional(z.number()),
  reason: z.optional(z.string()),
  logStreamName: z.optional(z.string()),
});

const batchAttemptSchema = z.object({
  container: z.optional(containerSchema),
  startedAt: z.optional(z.number()),
  stoppedAt: z.optional(z.number()),
  statusReason: z.optional(z.string()),
});

export const batchJobStateChangeSchema = z.object({
  'detail-type': z.literal('Batch Job State Change'),
  detail: z.object({
    jobName: z.string(),
    jobId: z.string(),
    jobQueue: z.optional(z.string()),
    status: z.string(),
    statusReason: z.optional(z.string()),
    startedAt: z.optional(z.number()),
    stoppedAt: z.optional(z.number()),
    container: z.optional(containerSchema),
    attempts: z.optional(z.array(batchAttemptSchema)),
  }),
});

export type BatchJobStateChange = z.infer<typeof batchJobStateChangeSchema>;

export class MalformedBatchEventError extends Error {
  override readonly name = 'MalformedBatchEventError';
}

/** What one state change says about one of our attempts. */
export interface BatchAttemptFacts {
  readonly jobId: string;
  readonly attempt: number;
  readonly batchJobId: string;
  readonly batchStatus: BatchJobStatus;
  readonly statusReason?: string;
  readonly startedAt?: string;
  readonly stoppedAt?: string;
  readonly exitCode?: number;
  readonly containerReason?: string;
  readonly logStreamName?: string;
  readonly containerInstanceArn?: string;
  /**
   * When Batch last stopped a run of this job in place (its own retry after host loss):
   * a waiting state is news only if it came after the run we know about.
   */
  readonly lastRunStoppedAt?: string;
}

const isoFromEpochMs = (epochMs: number | undefined) => (epochMs === undefined ? undefined : new Date(epochMs).toISOString());

const isKnownStatus = (status: string): status is BatchJobStatus => (BATCH_JOB_STATUSES as readonly string[]).includes(status);

/**
 * Facts from the event, or undefined when the Batch job is not one of ours (its name
 * says so) or reports a status Batch may add in future, which this code cannot interpret.
 */
export function attemptFactsFrom(event: unknown): BatchAttemptFacts | undefined {
  const parsed = batchJobStateChangeSchema.safeParse(event);
  if (!parsed.success) {
    throw new MalformedBatchEventError(`Not a Batch Job State Change event: ${z.prettifyError(parsed.error)}`);
  }
  const { detail } = parsed.data;
  const ours = parseBatchJobName(detail.jobName);
  if (!ours || !isKnownStatus(detail.status)) return undefined;
  const batchStatus = detail.status;
  const batchAttempts = detail.attempts ?? [];
  const lastStopped = batchAttempts.reduce<number | undefined>(
    (latest, attempt) => (attempt.stoppedAt !== undefined && (latest === undefined || attempt.stoppedAt > latest) ? attempt.stoppedAt : latest),
    undefined,
  );
  return {
    jobId: ours.jobId,
    attempt: ours.attempt,
    batchJobId: detail.jobId,
    batchStatus,
    statusReason: detail.statusReason,
    startedAt: isoFromEpochMs(detail.startedAt),
    stoppedAt: isoFromEpochMs(detail.stoppedAt),
    exitCode: detail.container?.exitCode,
    containerReason: detail.container?.reason,
    logStreamName: detail.container?.logStreamName,
    containerInstanceArn: detail.container?.containerInstanceArn,
    lastRunStoppedAt: isoFromEpochMs(lastStopped),
  };
}
