/**
 * The stack's two EventBridge rules (lib/notifications.ts) as rules of local mode's bus: the same
 * patterns, built for the local job queues and state machine, delivering to the same handlers.
 */
import { batchJobStateChangePattern, executionEndedPattern } from '../core/contract/event-rules.js';
import type { EventEnvelope, EventRule } from './event-bus.js';

export const BATCH_EVENTS_RULE = 'batch-job-state-change';
export const EXECUTION_ENDED_RULE = 'workflow-execution-ended';

export interface HandlerRuleTargets {
  /** The job queues the workflow submits to. */
  readonly jobQueueArns: readonly string[];
  readonly stateMachineArn: string;
  /** The batch-events handler. */
  readonly deliverBatchEvent: (event: EventEnvelope) => Promise<unknown>;
  /** The reconcile handler. */
  readonly deliverExecutionEnded: (event: EventEnvelope) => Promise<unknown>;
}

export function handlerRules(targets: HandlerRuleTargets): EventRule[] {
  return [
    {
      name: BATCH_EVENTS_RULE,
      pattern: batchJobStateChangePattern(targets.jobQueueArns),
      // One Batch job's events in order, as the status handler expects them.
      orderingKey: (event) => String(event.detail.jobName ?? event.detail.jobId),
      deliver: targets.deliverBatchEvent,
    },
    {
      name: EXECUTION_ENDED_RULE,
      pattern: executionEndedPattern(targets.stateMachineArn),
      orderingKey: (event) => String(event.detail.executionArn),
      deliver: targets.deliverExecutionEnded,
    },
  ];
}
