/**
 * Local mode builds its intake queue and event rules from the same settings as the stack;
 * these tests hold the two together against the synthesized template.
 */
import type { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INTAKE_DEAD_LETTER_RETENTION_SECONDS, INTAKE_RETENTION_SECONDS } from '../../core/contract/intake-queue.js';
import type { GpuJobsStack } from '../../lib/gpujobs-stack.js';
import { cdkEventPattern } from '../../lib/job-events.js';
import { batchJobStateChangePattern } from '../../core/contract/event-rules.js';
import { BATCH_EVENTS_RULE, EXECUTION_ENDED_RULE, handlerRules } from '../../local/handler-rules.js';
import { resolveLocalOptions } from '../../local/options.js';
import { INTAKE_QUEUE } from '../../local/resources.js';
import { synthesize, type SynthResult } from './support.js';

// GIVEN the default configuration, synthesized once without bundling.
let result: SynthResult;
let template: Template;
let stack: GpuJobsStack;
beforeAll(() => {
  result = synthesize({ bundle: false });
  template = result.template;
  stack = result.stack;
});
afterAll(() => result?.dispose());

type Resource = { Properties: Record<string, unknown> };
const logicalId = (construct: { node: { defaultChild?: unknown } }) => stack.getLogicalId(construct.node.defaultChild as never);
const resource = (type: string, id: string) => template.findResources(type)[id] as Resource;

/** Local mode's ARNs, and what the template names the same resources with. */
const LOCAL_SPOT_QUEUE = 'arn:aws:batch:us-east-1:000000000000:job-queue/gpujobs-spot';
const LOCAL_ON_DEMAND_QUEUE = 'arn:aws:batch:us-east-1:000000000000:job-queue/gpujobs-on-demand';
const LOCAL_STATE_MACHINE = 'arn:aws:states:us-east-1:000000000000:stateMachine:gpujobs-job-workflow';

/** The template's pattern with the references to the stack's queues and state machine replaced by local mode's ARNs. */
function withLocalArns(pattern: unknown): unknown {
  const local = new Map<string, string>([
    [JSON.stringify({ 'Fn::GetAtt': [logicalId(stack.compute.spotJobQueue), 'JobQueueArn'] }), LOCAL_SPOT_QUEUE],
    [JSON.stringify({ 'Fn::GetAtt': [logicalId(stack.compute.onDemandJobQueue), 'JobQueueArn'] }), LOCAL_ON_DEMAND_QUEUE],
    [JSON.stringify({ Ref: logicalId(stack.workflow.stateMachine) }), LOCAL_STATE_MACHINE],
  ]);
  const replace = (value: unknown): unknown => {
    const arn = local.get(JSON.stringify(value));
    if (arn) return arn;
    if (Array.isArray(value)) return value.map(replace);
    if (value !== null && typeof value === 'object')
      return Object.fromEntries(Object.entries(value).map(([key, member]) => [key, replace(member)]));
    return value;
  };
  return replace(pattern);
}

describe('local mode and the stack', () => {
  it('filter AWS events with the same rule patterns, up to the ARNs', () => {
    // WHEN local mode builds its rules for its own queues and state machine
    const rules = handlerRules({
      jobQueueArns: [LOCAL_SPOT_QUEUE, LOCAL_ON_DEMAND_QUEUE],
      stateMachineArn: LOCAL_STATE_MACHINE,
      deliverBatchEvent: async () => undefined,
      deliverExecutionEnded: async () => undefined,
    });
    const patternOf = (name: string) => rules.find((rule) => rule.name === name)?.pattern;
    // THEN each equals the EventPattern of the stack's rule, once the stack's references are local ARNs
    const batchRule = resource('AWS::Events::Rule', logicalId(stack.notifications.batchStateChangeRule));
    const endedRule = resource('AWS::Events::Rule', logicalId(stack.notifications.executionEndedRule));
    expect(withLocalArns(batchRule.Properties.EventPattern)).toEqual(patternOf(BATCH_EVENTS_RULE));
    expect(withLocalArns(endedRule.Properties.EventPattern)).toEqual(patternOf(EXECUTION_ENDED_RULE));
  });

  it("creates the intake queue with the stack's visibility timeout, receive count and retention", () => {
    const queue = resource('AWS::SQS::Queue', logicalId(stack.intake.queue));
    const deadLetterQueue = resource('AWS::SQS::Queue', logicalId(stack.intake.deadLetterQueue));
    expect(queue.Properties.VisibilityTimeout).toBe(INTAKE_QUEUE.visibilityTimeoutSeconds);
    expect((queue.Properties.RedrivePolicy as { maxReceiveCount: unknown }).maxReceiveCount).toBe(INTAKE_QUEUE.maxReceiveCount);
    // local/sqs.ts creates both queues with these retention periods.
    expect(queue.Properties.MessageRetentionPeriod).toBe(INTAKE_RETENTION_SECONDS);
    expect(deadLetterQueue.Properties.MessageRetentionPeriod).toBe(INTAKE_DEAD_LETTER_RETENTION_SECONDS);
  });

  it("dispatches with the stack's default batch size and concurrency", () => {
    const mappings = Object.values(template.findResources('AWS::Lambda::EventSourceMapping')) as Resource[];
    expect(mappings).toHaveLength(1);
    const defaults = resolveLocalOptions({ env: {}, quiet: true });
    expect(mappings[0]!.Properties.BatchSize).toBe(defaults.dispatcherBatchSize);
    expect((mappings[0]!.Properties.ScalingConfig as { MaximumConcurrency: unknown }).MaximumConcurrency).toBe(
      defaults.dispatcherConcurrency,
    );
  });
});

describe('cdkEventPattern', () => {
  it('renders back, in the template, as the pattern it was given', () => {
    // The stack's Batch rule is built from this pattern; its template form is the JSON form again.
    const batchRule = resource('AWS::Events::Rule', logicalId(stack.notifications.batchStateChangeRule));
    const queues = (batchRule.Properties.EventPattern as { detail: { jobQueue: string[] } }).detail.jobQueue;
    expect(batchRule.Properties.EventPattern).toEqual(batchJobStateChangePattern(queues));
  });

  it("fails when a top-level field is not one of EventBridge's, naming it", () => {
    expect(() => cdkEventPattern({ detailType: ['x'] })).toThrow('Received "detailType".');
  });
});
