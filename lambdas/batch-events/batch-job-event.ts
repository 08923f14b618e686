/**
 * The part of an EventBridge "Batch Job State Change" event this platform reads.
 * `detail` is Batch's JobDetail (as DescribeJobs returns it); everything else in
 * it is ignored, and Batch may add fields at any time.
 */
import * as z from 'zod/mini';
import { endedRunOf, endedRunsOf, interpretSubmissionResult, type BatchAttemptFacts } from '../../core/batch-result.js';
import { parseBatchJobName } from '../../core/contract/workflow.js';

import { BATCH_JOB_STATUSES, type BatchJobStatus } from '../../core/contract/batch.js';

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
    retryStrategy: z.optional(z.object({ attempts: z.optional(z.number()) })),
  }),
});

export type BatchJobStateChange = z.infer<typeof batchJobStateChangeSchema>;

export class MalformedBatchEventError extends Error {
  override readonly name = 'MalformedBatchEventError';
}

/** An attempt that one of Batch's earlier runs of the job was: it ended, and Batch retried in place. */
const isoFromEpochMs = (epochMs: number | undefined) => (epochMs === undefined ? undefined : new Date(epochMs).toISOString());

const isKnownStatus = (status: string): status is BatchJobStatus => (BATCH_JOB_STATUSES as readonly string[]).includes(status);

const FINISHED_BATCH_STATUSES: readonly BatchJobStatus[] = ['SUCCEEDED', 'FAILED'];

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
  const submission = { jobId: ours.jobId, submittedAttempt: ours.attempt, batchJobId: detail.jobId, batchStatus };

  if (FINISHED_BATCH_STATUSES.includes(batchStatus)) {
    // The same reading of the detail as settle-attempt's, so both record the same attempts.
    const results = interpretSubmissionResult(detail);
    const last = results.at(-1)!;
    return {
      ...submission,
      attempt: ours.attempt + results.length - 1,
      statusReason: last.statusReason,
      startedAt: last.startedAt,
      stoppedAt: last.stoppedAt,
      exitCode: last.exitCode,
      containerReason: last.containerReason,
      logStreamName: last.logStreamName,
      containerInstanceArn: last.containerInstanceArn,
      endedAttempts: results.slice(0, -1).map((result, index) => endedRunOf(ours.attempt + index, result)),
    };
  }

  const ended = endedRunsOf(detail);
  const lastEnded = ended.at(-1);
  const startedAt = isoFromEpochMs(detail.startedAt);
  // Between runs, and maybe just after one started, the job-level start and container may
  // still be the ended run's: they describe the current run only when they are newer.
  const startedAfterLastRun = startedAt !== undefined && (lastEnded?.stoppedAt === undefined || startedAt > lastEnded.stoppedAt);
  const containerOfCurrentRun =
    detail.container !== undefined && (lastEnded === undefined || detail.container.logStreamName !== lastEnded.logStreamName);
  return {
    ...submission,
    attempt: ours.attempt + ended.length,
    statusReason: detail.statusReason,
    startedAt: lastEnded === undefined || startedAfterLastRun ? startedAt : undefined,
    stoppedAt: undefined,
    ...(containerOfCurrentRun
      ? {
          exitCode: detail.container?.exitCode,
          containerReason: detail.container?.reason,
          logStreamName: detail.container?.logStreamName,
          containerInstanceArn: detail.container?.containerInstanceArn,
        }
      : {}),
    endedAttempts: ended.map((result, index) => endedRunOf(ours.attempt + index, result)),
  };
}
