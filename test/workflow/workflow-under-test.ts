import type { StateMachineDefinition } from 'aws-local-stepfunctions';
import type { CapacityType } from '../../core/job.js';
import { jobWorkflowAsl, type JobWorkflowArns } from '../../lib/workflow/job-workflow.js';

export interface WorkflowUnderTest {
  readonly definition: StateMachineDefinition;
  /** Job queue ARN (as the definition names it) → the capacity of the compute environment behind it. */
  readonly queueCapacity: ReadonlyMap<string, CapacityType>;
}

/** Sample ARNs in account 123456789012, us-east-1. */
export const SAMPLE_WORKFLOW_ARNS = {
  prepareFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:gpujobs-prepare',
  settleAttemptFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:gpujobs-settle-attempt',
  finishFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:gpujobs-finish',
  spotJobQueueArn: 'arn:aws:batch:us-east-1:123456789012:job-queue/gpujobs-spot',
  onDemandJobQueueArn: 'arn:aws:batch:us-east-1:123456789012:job-queue/gpujobs-on-demand',
} as const satisfies JobWorkflowArns;

/**
 * The job workflow as the stack deploys it (jobWorkflowAsl; test/workflow/deployed-definition.test.ts
 * holds it equal to the synthesized stack's), wired to the sample ARNs.
 */
export function workflowUnderTest(): WorkflowUnderTest {
  return {
    definition: jobWorkflowAsl(SAMPLE_WORKFLOW_ARNS) as unknown as StateMachineDefinition,
    queueCapacity: new Map<string, CapacityType>([
      [SAMPLE_WORKFLOW_ARNS.spotJobQueueArn, 'spot'],
      [SAMPLE_WORKFLOW_ARNS.onDemandJobQueueArn, 'on-demand'],
    ]),
  };
}
