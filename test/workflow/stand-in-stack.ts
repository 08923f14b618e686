import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as batch from 'aws-cdk-lib/aws-batch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { JobWorkflow, type JobWorkflowProps } from '../../lib/workflow/job-workflow.js';

/**
 * A stack holding only the job workflow, wired to stand-in task functions and to a Spot and an
 * On-Demand queue, so the workflow construct can be synthesized without bundling the handlers.
 */
export function synthesizeStandInWorkflowStack(
  overrides: Partial<
    Omit<JobWorkflowProps, 'prepareFunction' | 'settleAttemptFunction' | 'finishFunction' | 'spotJobQueue' | 'onDemandJobQueue'>
  > = {},
): Record<string, unknown> {
  const app = new App();
  const stack = new Stack(app, 'WorkflowUnderTest');
  const standInFunction = (id: string) =>
    new lambda.Function(stack, id, {
      runtime: lambda.Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline('exports.handler = async () => ({});'),
    });
  const vpc = new ec2.Vpc(stack, 'Vpc', {
    maxAzs: 2,
    natGateways: 0,
    subnetConfiguration: [{ name: 'public', subnetType: ec2.SubnetType.PUBLIC }],
  });
  const queue = (id: string, spot: boolean) =>
    new batch.JobQueue(stack, `${id}Queue`, {
      computeEnvironments: [
        { computeEnvironment: new batch.ManagedEc2EcsComputeEnvironment(stack, `${id}Compute`, { vpc, spot, minvCpus: 0 }), order: 1 },
      ],
    });

  new JobWorkflow(stack, 'JobWorkflow', {
    ...overrides,
    prepareFunction: standInFunction('PrepareStandIn'),
    settleAttemptFunction: standInFunction('SettleAttemptStandIn'),
    finishFunction: standInFunction('FinishStandIn'),
    spotJobQueue: queue('Spot', true),
    onDemandJobQueue: queue('OnDemand', false),
  });
  return Template.fromStack(stack).toJSON();
}
