import { App, type CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { cdkJsonContext } from '../../lib/app.js';
import { loadConfig } from '../../lib/config.js';
import { GpuJobsStack } from '../../lib/gpujobs-stack.js';
import { jobWorkflowAsl } from '../../lib/workflow/job-workflow.js';
import { SampleAccount, type TemplateResource } from '../infra/iam-template.js';

describe('the job workflow definition as a value', () => {
  it('equals the definition the synthesized stack deploys, for the stack’s own functions and queues', () => {
    // GIVEN the gpujobs stack as `cdk synth` builds it from cdk.json (without bundling: the
    // definition names the functions by ARN only), seen from a sample account
    const app = new App({ context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [] } });
    const stack = new GpuJobsStack(app, 'GpuJobs', { config: loadConfig(app.node) });
    const template = Template.fromStack(stack).toJSON() as { Resources: Record<string, TemplateResource> };
    const account = new SampleAccount(template, stack.stackName);
    const logicalIdOf = (construct: IConstruct) => stack.getLogicalId(construct.node.defaultChild as CfnElement);
    const functionArn = (handler: 'prepare' | 'settleAttempt' | 'finish') =>
      account.attribute(logicalIdOf(stack.functions[handler].function), 'Arn');

    // WHEN the value is built for that account's ARNs: each queue picked by the compute behind it
    const value = jobWorkflowAsl({
      prepareFunctionArn: functionArn('prepare'),
      settleAttemptFunctionArn: functionArn('settleAttempt'),
      finishFunctionArn: functionArn('finish'),
      spotJobQueueArn: account.attribute(queueBackedBy(template, 'SPOT'), 'JobQueueArn'),
      onDemandJobQueueArn: account.attribute(queueBackedBy(template, 'EC2'), 'JobQueueArn'),
    });

    // THEN it is the stack's state machine definition, state for state
    const deployed = account.stateMachineDefinition(logicalIdOf(stack.workflow.stateMachine));
    expect(deployed).toEqual(value);
  });
});

/** The one job queue whose compute environments are all of this type (SPOT, or EC2 for On-Demand). */
function queueBackedBy(template: { Resources: Record<string, TemplateResource> }, type: 'SPOT' | 'EC2'): string {
  const computeType = (environment: unknown) => {
    const id =
      (environment as { Ref?: string; 'Fn::GetAtt'?: [string, string] }).Ref ??
      (environment as { 'Fn::GetAtt'?: [string] })['Fn::GetAtt']?.[0];
    return (template.Resources[id ?? '']?.Properties?.ComputeResources as { Type?: string } | undefined)?.Type;
  };
  const queues = Object.entries(template.Resources).filter(([, resource]) => {
    if (resource.Type !== 'AWS::Batch::JobQueue') return false;
    const order = (resource.Properties?.ComputeEnvironmentOrder ?? []) as { ComputeEnvironment: unknown }[];
    return order.length > 0 && order.every(({ ComputeEnvironment }) => computeType(ComputeEnvironment) === type);
  });
  if (queues.length !== 1)
    throw new Error(`Expected one job queue backed only by ${type} compute. Received ${queues.map(([id]) => id).join(', ') || 'none'}.`);
  return queues[0]![0];
}
