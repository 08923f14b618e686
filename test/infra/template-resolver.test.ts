import { describe, expect, it } from 'vitest';
import { resolveStateMachineDefinition, UnresolvableIntrinsicError, type CloudFormationTemplate } from './template-resolver.js';

/** A DefinitionString the way CDK writes it: JSON text split around intrinsic functions. */
function joinedDefinition(parts: unknown[]): unknown {
  return { 'Fn::Join': ['', parts] };
}

function templateWith(resources: NonNullable<CloudFormationTemplate['Resources']>): CloudFormationTemplate {
  return { Resources: resources };
}

const taskDefinition = joinedDefinition([
  '{"StartAt":"Prepare","States":{"Prepare":{"Type":"Task","Resource":"',
  { 'Fn::GetAtt': ['PrepareFn', 'Arn'] },
  '","Parameters":{"JobQueue":"',
  { Ref: 'SpotQueue' },
  '","Partition":"',
  { Ref: 'AWS::Partition' },
  '","Where":"',
  { 'Fn::Sub': '${AWS::Region}/${AWS::AccountId}/${PrepareFn.Arn}' },
  '"},"End":true}}}',
]);

describe('resolveStateMachineDefinition', () => {
  it('replaces Ref, Fn::GetAtt, Fn::Sub and pseudo parameters inside a joined DefinitionString', () => {
    // GIVEN a state machine whose definition references a function, a queue and the partition
    const template = templateWith({
      PrepareFn: { Type: 'AWS::Lambda::Function' },
      SpotQueue: { Type: 'AWS::Batch::JobQueue' },
      Machine: { Type: 'AWS::StepFunctions::StateMachine', Properties: { DefinitionString: taskDefinition } },
    });

    // WHEN it is resolved with attributes for both resources
    const definition = resolveStateMachineDefinition(template, 'Machine', {
      resources: {
        PrepareFn: { Ref: 'prepare', Arn: 'arn:aws-cn:lambda:cn-north-1:111122223333:function:prepare' },
        SpotQueue: { Ref: 'arn:aws-cn:batch:cn-north-1:111122223333:job-queue/spot' },
      },
      pseudoParameters: { partition: 'aws-cn', region: 'cn-north-1', accountId: '111122223333' },
    });

    // THEN the ASL carries the given values
    expect(definition.StartAt).toBe('Prepare');
    expect(definition.States.Prepare).toEqual({
      Type: 'Task',
      Resource: 'arn:aws-cn:lambda:cn-north-1:111122223333:function:prepare',
      Parameters: {
        JobQueue: 'arn:aws-cn:batch:cn-north-1:111122223333:job-queue/spot',
        Partition: 'aws-cn',
        Where: 'cn-north-1/111122223333/arn:aws-cn:lambda:cn-north-1:111122223333:function:prepare',
      },
      End: true,
    });
  });

  it('applies DefinitionSubstitutions but leaves placeholders it does not know', () => {
    const template = templateWith({
      Fn: { Type: 'AWS::Lambda::Function' },
      Machine: {
        Type: 'AWS::StepFunctions::StateMachine',
        Properties: {
          DefinitionString:
            '{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"${FnArn}","Parameters":{"text":"${unknown}"},"End":true}}}',
          DefinitionSubstitutions: { FnArn: { 'Fn::GetAtt': ['Fn', 'Arn'] } },
        },
      },
    });

    const definition = resolveStateMachineDefinition(template, 'Machine', {
      resources: { Fn: { Arn: 'arn:aws:lambda:us-east-1:123456789012:function:a' } },
    });

    expect(definition.States.A).toMatchObject({
      Resource: 'arn:aws:lambda:us-east-1:123456789012:function:a',
      Parameters: { text: '${unknown}' },
    });
  });

  it('fails naming the resource and attribute it cannot resolve', () => {
    // GIVEN no attributes for the queue the definition references
    const template = templateWith({
      PrepareFn: { Type: 'AWS::Lambda::Function' },
      SpotQueue: { Type: 'AWS::Batch::JobQueue' },
      Machine: { Type: 'AWS::StepFunctions::StateMachine', Properties: { DefinitionString: taskDefinition } },
    });

    // WHEN / THEN
    const resolve = () =>
      resolveStateMachineDefinition(template, 'Machine', {
        resources: { PrepareFn: { Arn: 'arn:aws:lambda:us-east-1:123456789012:function:prepare' } },
      });
    expect(resolve).toThrow(UnresolvableIntrinsicError);
    expect(resolve).toThrow(/"Ref":"SpotQueue".*no Ref value given for SpotQueue \(AWS::Batch::JobQueue\)/);
  });

  it('fails naming an intrinsic function it does not support', () => {
    const template = templateWith({
      Machine: {
        Type: 'AWS::StepFunctions::StateMachine',
        Properties: { DefinitionString: joinedDefinition(['{"StartAt":"', { 'Fn::ImportValue': 'shared-arn' }, '"}']) },
      },
    });

    expect(() => resolveStateMachineDefinition(template, 'Machine', { resources: {} })).toThrow(/Fn::ImportValue is not supported offline/);
  });

  it('fails when the logical id is not a state machine', () => {
    const template = templateWith({ Fn: { Type: 'AWS::Lambda::Function' } });

    expect(() => resolveStateMachineDefinition(template, 'Fn', { resources: {} })).toThrow(
      /Fn is not a AWS::StepFunctions::StateMachine in the template. Received AWS::Lambda::Function/,
    );
  });
});
