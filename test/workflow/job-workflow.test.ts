import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as batch from 'aws-cdk-lib/aws-batch';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { beforeAll, describe, expect, it } from 'vitest';
import { EXECUTION_TIMEOUT_SECONDS, JobWorkflow, jobWorkflowAsl } from '../../lib/workflow/job-workflow.js';
import { synthesizeStandInWorkflowStack } from './stand-in-stack.js';
import { SAMPLE_WORKFLOW_ARNS, workflowUnderTest } from './workflow-under-test.js';

type Statement = { Action: string | string[]; Resource: unknown; Effect: string };

function statementsOf(template: Template): Statement[] {
  const policies = template.findResources('AWS::IAM::Policy');
  return Object.values(policies).flatMap(
    (policy) => (policy as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument.Statement,
  );
}

const actionsOf = (statement: Statement) => [statement.Action].flat();

describe('JobWorkflow', () => {
  let template: Template;

  beforeAll(() => {
    // GIVEN the workflow wired to stand-in functions and a Spot and an On-Demand queue
    template = Template.fromJSON(synthesizeStandInWorkflowStack() as Record<string, unknown>);
  });

  it('is a Standard state machine with X-Ray tracing and a bounded execution time', () => {
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'STANDARD',
      TracingConfiguration: { Enabled: true },
    });
    expect(workflowUnderTest().definition.TimeoutSeconds).toBe(EXECUTION_TIMEOUT_SECONDS);
  });

  it('logs every event without execution data to a log group with retention', () => {
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      LoggingConfiguration: {
        Level: 'ALL',
        IncludeExecutionData: false,
        Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^JobWorkflowLogs'), 'Arn'] } } }],
      },
    });
    template.hasResourceProperties('AWS::Logs::LogGroup', {
      LogGroupName: Match.objectLike({ 'Fn::Join': Match.anyValue() }),
      RetentionInDays: 30,
    });
  });

  it('keeps execution history after the stack is deleted, under a name a redeploy of the same stack never reuses', () => {
    const [logicalId, logGroup] = Object.entries(template.findResources('AWS::Logs::LogGroup')).find(([id]) =>
      id.startsWith('JobWorkflowLogs'),
    )!;
    expect(logicalId).toBeDefined();
    expect(logGroup.DeletionPolicy).toBe('Retain');

    // CloudFormation gives every stack it creates a new id; the name is built from it.
    const nameFor = (stackId: string) => resolveJoin(logGroup.Properties.LogGroupName, { 'AWS::StackId': stackId });
    const first = nameFor('arn:aws:cloudformation:us-east-1:123456789012:stack/GpuJobs/11111111-aaaa-bbbb-cccc-000000000001');
    const second = nameFor('arn:aws:cloudformation:us-east-1:123456789012:stack/GpuJobs/22222222-aaaa-bbbb-cccc-000000000002');

    expect(first).toMatch(/^\/aws\/vendedlogs\/states\/.+-11111111-aaaa-bbbb-cccc-000000000001$/);
    expect(second).not.toBe(first);
    expect(first.length).toBeLessThanOrEqual(512);
  });

  it('may submit only to its two queues and only job definitions named with the gpujobs prefix', () => {
    const submit = statementsOf(template).filter((statement) => actionsOf(statement).includes('batch:SubmitJob'));

    expect(submit).toHaveLength(1);
    const resources = JSON.stringify(submit[0]!.Resource);
    expect(resources).toMatch(/"SpotQueue[0-9A-F]+","JobQueueArn"/);
    expect(resources).toMatch(/"OnDemandQueue[0-9A-F]+","JobQueueArn"/);
    expect(resources).toContain(':job-definition/gpujobs-*');
    expect(resources).not.toContain('"*"');
  });

  it('may terminate Batch jobs, so that stopping an execution stops the GPU instance billing', () => {
    const terminate = statementsOf(template).find((statement) => actionsOf(statement).includes('batch:TerminateJob'));

    expect(terminate).toBeDefined();
    expect(JSON.stringify(terminate!.Resource)).toContain(':job/*');
  });

  it('may manage the managed rule through which Step Functions follows Batch jobs', () => {
    const events = statementsOf(template).find((statement) => actionsOf(statement).includes('events:PutRule'));

    expect(actionsOf(events!).sort()).toEqual(['events:DescribeRule', 'events:PutRule', 'events:PutTargets']);
    expect(JSON.stringify(events!.Resource)).toContain(':rule/StepFunctionsGetEventsForBatchJobsRule');
  });

  it('uses the configured log level and job definition prefix', () => {
    const custom = Template.fromJSON(
      synthesizeStandInWorkflowStack({ logLevel: sfn.LogLevel.ERROR, jobDefinitionNamePrefix: 'team-a-' }) as Record<string, unknown>,
    );

    custom.hasResourceProperties('AWS::StepFunctions::StateMachine', { LoggingConfiguration: { Level: 'ERROR' } });
    const submit = statementsOf(custom).find((statement) => actionsOf(statement).includes('batch:SubmitJob'));
    expect(JSON.stringify(submit!.Resource)).toContain(':job-definition/team-a-*');
  });

  it('fails when the job definition prefix could match names it does not own', () => {
    const app = new App();
    const stack = new Stack(app, 'Bad');
    const fn = lambda.Function.fromFunctionArn(stack, 'Fn', 'arn:aws:lambda:us-east-1:123456789012:function:f');
    const queue = batch.JobQueue.fromJobQueueArn(stack, 'Queue', 'arn:aws:batch:us-east-1:123456789012:job-queue/q');

    expect(
      () =>
        new JobWorkflow(stack, 'JobWorkflow', {
          prepareFunction: fn,
          settleAttemptFunction: fn,
          finishFunction: fn,
          spotJobQueue: queue,
          onDemandJobQueue: queue,
          jobDefinitionNamePrefix: 'gpujobs*',
        }),
    ).toThrow('jobDefinitionNamePrefix must be 1-64 letters, digits, hyphens or underscores. Received "gpujobs*".');
  });
});

describe('jobWorkflowAsl', () => {
  const cn = (arn: string) => arn.replace('arn:aws:', 'arn:aws-cn:').replace('us-east-1', 'cn-north-1');

  it('names the Batch integration in the partition of the queues it is given', () => {
    // GIVEN functions and queues in the China partition
    const arns = Object.fromEntries(
      Object.entries(SAMPLE_WORKFLOW_ARNS).map(([name, arn]) => [name, cn(arn)]),
    ) as typeof SAMPLE_WORKFLOW_ARNS;

    // WHEN the definition is built for them
    const definition = jobWorkflowAsl(arns);

    // THEN both Batch states use that partition's integration and nothing is left unresolved
    expect(definition.States.RunOnSpot?.Resource).toBe('arn:aws-cn:states:::batch:submitJob.sync');
    expect(definition.States.RunOnDemand?.Resource).toBe('arn:aws-cn:states:::batch:submitJob.sync');
    expect(JSON.stringify(definition)).not.toMatch(/"Ref"|Fn::|\$\{Token/);
  });

  it('takes the partition it is given over the queue ARN’s', () => {
    const definition = jobWorkflowAsl({ ...SAMPLE_WORKFLOW_ARNS, partition: 'aws-us-gov' });

    expect(definition.States.RunOnSpot?.Resource).toBe('arn:aws-us-gov:states:::batch:submitJob.sync');
  });

  it('fails when the Spot queue is not an ARN and no partition is given', () => {
    expect(() => jobWorkflowAsl({ ...SAMPLE_WORKFLOW_ARNS, spotJobQueueArn: 'gpujobs-spot' })).toThrow(
      'spotJobQueueArn must be an ARN (arn:<partition>:batch:…). Received "gpujobs-spot".',
    );
  });
});

/** Evaluates the Fn::Join / Fn::Select / Fn::Split / Ref subset a log group name is built from. */
function resolveJoin(value: unknown, refs: Record<string, string>): string {
  const evaluate = (node: unknown): unknown => {
    if (typeof node === 'string') return node;
    if (Array.isArray(node)) return node.map(evaluate);
    const object = node as Record<string, unknown>;
    if ('Ref' in object) {
      const ref = refs[String(object.Ref)];
      if (ref === undefined) throw new Error(`no value for Ref ${String(object.Ref)}`);
      return ref;
    }
    if ('Fn::Join' in object) {
      const [separator, parts] = object['Fn::Join'] as [string, unknown[]];
      return (parts.map(evaluate) as string[]).join(separator);
    }
    if ('Fn::Split' in object) {
      const [separator, source] = object['Fn::Split'] as [string, unknown];
      return String(evaluate(source)).split(separator);
    }
    if ('Fn::Select' in object) {
      const [index, list] = object['Fn::Select'] as [number | string, unknown];
      return (evaluate(list) as string[])[Number(index)];
    }
    throw new Error(`unsupported intrinsic ${JSON.stringify(object)}`);
  };
  return String(evaluate(value));
}
