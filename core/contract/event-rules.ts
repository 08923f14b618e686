/**
 * The EventBridge patterns of the rules that feed AWS service events to the handlers, in
 * EventBridge's JSON form (`detail-type`). The stack deploys them (lib/notifications.ts) and
 * local mode's bus matches events with the same objects, so the two cannot filter differently.
 */
import { ENDED_EXECUTION_STATUSES } from './workflow.js';

/** A value an event field may equal. */
export type EventPatternValue = string | number | boolean | null;

/**
 * An event pattern: every field lists the values it may take, or nests a pattern for an object.
 * (EventBridge's content filters, such as `{prefix: …}`, are objects inside the list; none are used here.)
 */
export interface EventPattern {
  readonly [field: string]: readonly EventPatternValue[] | EventPattern;
}

export const BATCH_JOB_STATE_CHANGE = { source: 'aws.batch', detailType: 'Batch Job State Change' } as const;
export const EXECUTION_STATUS_CHANGE = { source: 'aws.states', detailType: 'Step Functions Execution Status Change' } as const;

/**
 * The Batch job statuses whose state changes the batch-events handler is told of. Batch sends an
 * event on every status change after submission
 * (https://docs.aws.amazon.com/batch/latest/userguide/batch_job_events.html); these two are the
 * ones that say something nothing else records:
 * - RUNNABLE: the Batch job's id (what a cancel terminates while the job waits for capacity), and,
 *   after Batch lost the host and retries in place, the run that ended (its `attempts` list) and
 *   the job waiting again (https://docs.aws.amazon.com/batch/latest/userguide/job_states.html);
 * - RUNNING: the instance, the log stream, the job moving to RUNNING.
 * STARTING repeats RUNNABLE's facts, and how the Batch job ended (SUCCEEDED, FAILED) reaches
 * settle-attempt through the workflow's `.sync` task, which records it: forwarding those would
 * cost an invocation and a read each and tell the record nothing new.
 */
export const FORWARDED_BATCH_STATUSES = ['RUNNABLE', 'RUNNING'] as const;

/** Batch job state changes of the platform's job queues (batch-events handler). */
export function batchJobStateChangePattern(jobQueueArns: readonly string[]): EventPattern {
  if (jobQueueArns.length === 0) throw new Error('batchJobStateChangePattern needs at least one job queue ARN. Received none.');
  return {
    source: [BATCH_JOB_STATE_CHANGE.source],
    'detail-type': [BATCH_JOB_STATE_CHANGE.detailType],
    detail: { jobQueue: [...jobQueueArns], status: [...FORWARDED_BATCH_STATUSES] },
  };
}

/** Executions of the job workflow that ended without reaching Finish (reconcile handler). */
export function executionEndedPattern(stateMachineArn: string): EventPattern {
  return {
    source: [EXECUTION_STATUS_CHANGE.source],
    'detail-type': [EXECUTION_STATUS_CHANGE.detailType],
    detail: { stateMachineArn: [stateMachineArn], status: [...ENDED_EXECUTION_STATUSES] },
  };
}
