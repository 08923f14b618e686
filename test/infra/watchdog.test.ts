import { Match, type Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENV } from '../../core/contract/environment.js';
import { ConfigError, DEFAULT_CONFIG, parseConfig } from '../../lib/config.js';
import type { GpuJobsStack } from '../../lib/gpujobs-stack.js';
import { EXECUTION_TIMEOUT_SECONDS } from '../../lib/workflow/job-workflow.js';
import { synthesize, type SynthResult } from './support.js';

// GIVEN a non-default watchdog configuration, synthesized once without bundling.
let result: SynthResult;
let template: Template;
let stack: GpuJobsStack;
beforeAll(() => {
  result = synthesize({
    bundle: false,
    gpujobs: { watchdogIntervalMinutes: 5, capacityTimeoutSeconds: 900, onDemandCapacityTimeoutSeconds: 7200 },
  });
  template = result.template;
  stack = result.stack;
});
afterAll(() => result?.dispose());

const logicalId = (construct: { node: { defaultChild?: unknown } }) => stack.getLogicalId(construct.node.defaultChild as never);
const ref = (id: string) => ({ Ref: id });

function statementsOf(roleLogicalId: string): Record<string, unknown>[] {
  const policies = template.findResources('AWS::IAM::Policy', { Properties: { Roles: Match.arrayWith([ref(roleLogicalId)]) } });
  return Object.values(policies).flatMap(
    (p) => (p as { Properties: { PolicyDocument: { Statement: Record<string, unknown>[] } } }).Properties.PolicyDocument.Statement,
  );
}
const statementFor = (roleLogicalId: string, action: string) => statementsOf(roleLogicalId).find((s) => [s.Action].flat().includes(action));

const batchJobs = {
  'Fn::Join': ['', ['arn:', ref('AWS::Partition'), ':batch:', ref('AWS::Region'), ':', ref('AWS::AccountId'), ':job/*']],
};

describe('the watchdog', () => {
  it('runs on an EventBridge Scheduler schedule at the configured interval, without retries', () => {
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(5 minutes)',
      State: 'ENABLED',
      Target: Match.objectLike({
        Arn: { 'Fn::GetAtt': [logicalId(stack.functions.watchdog.function), 'Arn'] },
        RetryPolicy: { MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 300 },
      }),
    });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: ref(logicalId(stack.functions.watchdog.function)),
      MaximumRetryAttempts: 0,
    });
  });

  it('gets the queues, the timeouts and the state machine from the stack', () => {
    const fn = template.findResources('AWS::Lambda::Function')[logicalId(stack.functions.watchdog.function)]!;
    const variables = (fn.Properties as { Environment: { Variables: Record<string, unknown> } }).Environment.Variables;
    expect(variables).toMatchObject({
      [ENV.spotJobQueueArn]: { 'Fn::GetAtt': [logicalId(stack.compute.spotJobQueue), 'JobQueueArn'] },
      [ENV.onDemandJobQueueArn]: { 'Fn::GetAtt': [logicalId(stack.compute.onDemandJobQueue), 'JobQueueArn'] },
      [ENV.capacityTimeoutSeconds]: '900',
      [ENV.onDemandCapacityTimeoutSeconds]: '7200',
      [ENV.executionTimeoutSeconds]: String(EXECUTION_TIMEOUT_SECONDS),
      [ENV.stateMachineArn]: ref(logicalId(stack.workflow.stateMachine)),
    });
  });

  it('may list jobs anywhere (no resource-level permissions) but cancel and terminate only Batch jobs', () => {
    const role = logicalId(stack.functions.watchdog.role);
    expect(statementFor(role, 'batch:ListJobs')).toMatchObject({ Effect: 'Allow', Resource: '*' });
    expect(statementFor(role, 'batch:CancelJob')).toMatchObject({ Action: ['batch:CancelJob', 'batch:TerminateJob'], Resource: batchJobs });
    expect(statementFor(role, 'states:ListExecutions')).toMatchObject({ Resource: ref(logicalId(stack.workflow.stateMachine)) });
    expect(statementFor(role, 'states:DescribeExecution')).toBeDefined();
  });

  it('lets reconcile terminate the Batch job a stopped execution left running', () => {
    expect(statementFor(logicalId(stack.functions.reconcile.role), 'batch:TerminateJob')).toMatchObject({ Resource: batchJobs });
  });
});

describe('watchdog configuration', () => {
  it('defaults to a run a minute and an hour of On-Demand wait', () => {
    expect(parseConfig({})).toMatchObject({ watchdogIntervalMinutes: 1, onDemandCapacityTimeoutSeconds: 3600 });
    expect(DEFAULT_CONFIG.watchdogIntervalMinutes).toBe(1);
  });

  it.each([
    [{ watchdogIntervalMinutes: 0 }, /watchdogIntervalMinutes must be an integer between 1 and 60\. Received 0\./],
    [{ watchdogIntervalMinutes: '1.5' }, /watchdogIntervalMinutes must be an integer/],
    [{ onDemandCapacityTimeoutSeconds: 60 }, /onDemandCapacityTimeoutSeconds must be an integer between 600 and 604800\. Received 60\./],
  ])('fails when %j', (raw, message) => {
    expect(() => parseConfig(raw)).toThrow(ConfigError);
    expect(() => parseConfig(raw)).toThrow(message);
  });
});
