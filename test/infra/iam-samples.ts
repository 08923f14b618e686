/**
 * For each IAM action a handler's code can send, the concrete requests that AWS authorizes
 * when it does: which resource ARN (taken from the handler's environment and the template,
 * the way the handler finds it), with which request context, and the further checks AWS makes
 * on the caller's behalf (iam:PassRole, tag-on-create). An action missing from this table
 * fails the contract by name, so a new call can never slip past without a sample.
 */
import { ENV, type EnvName } from '../../core/contract/environment.js';
import {
  jobDefinitionContent,
  jobDefinitionName,
  JOB_LOG_STREAM_PREFIX,
  type JobDefinitionSettings,
} from '../../lambdas/prepare/job-definitions.js';
import type { SampleAccount } from './iam-template.js';

/** One request AWS authorizes, as the simulator takes it. */
export interface SampleRequest {
  readonly action: string;
  readonly resource: string;
  readonly context?: Readonly<Record<string, string | readonly string[]>>;
  /** Why this request is made, when it is not the call itself (a check AWS makes on the caller's behalf). */
  readonly because?: string;
}

/** What a sample builder may read: the handler's environment, and the sample account. */
export interface HandlerSampleContext {
  readonly handler: string;
  readonly account: SampleAccount;
  /** The handler's environment variable, resolved; undefined when the stack sets none. */
  env(name: EnvName): string | undefined;
}

export type SampleBuilder = (context: HandlerSampleContext) => readonly SampleRequest[];

/** Ids AWS assigns at run time; any value of the right shape does. */
export const SAMPLE_IDS = {
  batchJob: '4c7a2f1e-8b3d-4e5f-9a6b-1c2d3e4f5a6b',
  executionName: '01JZ0000000000000000000000',
  clusterSuffix: '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0',
  containerInstance: '9a8b7c6d5e4f40312a1b2c3d4e5f6a7b',
  ecsTask: '5e6f7a8b9c0d41e2f3a4b5c6d7e8f9a0',
} as const;

/**
 * The values of iam:PassedToService that Batch may send when a job definition names a role: no
 * AWS page says which one it is, so the contract requires both (lib/gpu-compute.ts gives the sources).
 */
export const PASSED_TO_SERVICE_CANDIDATES = ['batch.amazonaws.com', 'ecs-tasks.amazonaws.com'] as const;

/** The shapes of the ECS cluster names Batch creates for a compute environment, by service role. */
export const BATCH_CLUSTER_NAMES: readonly { readonly shape: string; readonly name: (computeEnvironment: string) => string }[] = [
  { shape: 'with the service-linked role', name: (ce) => `AWSBatch-${ce}-${SAMPLE_IDS.clusterSuffix}` },
  { shape: 'with a custom service role', name: (ce) => `${ce}_Batch_${SAMPLE_IDS.clusterSuffix}` },
];

/** A job spec for naming a sample job definition the way prepare names it. */
const SAMPLE_JOB_DEFINITION_SPEC = {
  image: '123456789012.dkr.ecr.us-east-1.amazonaws.com/trainer:1',
  gpus: 1,
  vcpus: 4,
  memoryMiB: 15_000,
};

function required(context: HandlerSampleContext, name: EnvName): string {
  const value = context.env(name);
  if (value === undefined) {
    throw new Error(`${context.handler} has no ${name} in its environment, which its sample requests are built from.`);
  }
  return value;
}

/** The job table the handler addresses (TABLE_NAME), with its index ARNs. */
function jobTable(context: HandlerSampleContext): { arn: string; indexArns: string[] } {
  const name = required(context, ENV.tableName);
  const id = context.account.resourceWithValue('AWS::DynamoDB::Table', name);
  if (!id) throw new Error(`${context.handler}'s ${ENV.tableName} ${name} is no table of the template.`);
  const table = context.account.template.Resources[id]!;
  const arn = context.account.attribute(id, 'Arn');
  const indexes = [
    ...((table.Properties?.GlobalSecondaryIndexes as { IndexName: string }[] | undefined) ?? []),
    ...((table.Properties?.LocalSecondaryIndexes as { IndexName: string }[] | undefined) ?? []),
  ];
  return { arn, indexArns: indexes.map((index) => `${arn}/index/${index.IndexName}`) };
}

/** The job workflow's ARN: the handler's STATE_MACHINE_ARN, else the template's only state machine. */
function stateMachineArn(context: HandlerSampleContext): string {
  const fromEnvironment = context.env(ENV.stateMachineArn);
  if (fromEnvironment) return fromEnvironment;
  const machines = context.account.resourcesOfType('AWS::StepFunctions::StateMachine');
  if (machines.length !== 1)
    throw new Error(`${context.handler} has no ${ENV.stateMachineArn} and the template has ${machines.length} state machines.`);
  return context.account.attribute(machines[0]![0], 'Arn');
}

/** Executions are named after job ids: arn:…:execution:<state machine name>:<name>. */
function executionArn(context: HandlerSampleContext): string {
  const machine = stateMachineArn(context);
  return `${machine.replace(':stateMachine:', ':execution:')}:${SAMPLE_IDS.executionName}`;
}

function eventBusArn(context: HandlerSampleContext): string {
  const name = required(context, ENV.eventBusName);
  const id = context.account.resourceWithValue('AWS::Events::EventBus', name);
  return id ? context.account.attribute(id, 'Arn') : context.account.arn('events', `event-bus/${name}`);
}

/** The queue of an SQS queue URL: https://sqs.<region>.amazonaws.com/<account>/<name>. */
function queueArnOfUrl(context: HandlerSampleContext, url: string): string {
  const name = url.split('/').at(-1)!;
  return context.account.arn('sqs', name);
}

/** The settings prepare registers job definitions with, from the same environment it reads. */
export function jobDefinitionSettingsOf(context: HandlerSampleContext): JobDefinitionSettings {
  return {
    namePrefix: required(context, ENV.jobDefinitionPrefix),
    jobRoleArn: required(context, ENV.jobRoleArn),
    executionRoleArn: required(context, ENV.jobExecutionRoleArn),
    logGroupName: required(context, ENV.jobLogGroupName),
  };
}

/** The ARN of the job definition prepare registers for the sample spec, at revision 1 (`jobDefinitionArn`). */
export function sampleJobDefinitionArn(account: SampleAccount, settings: JobDefinitionSettings, revision?: number): string {
  const name = jobDefinitionName(SAMPLE_JOB_DEFINITION_SPEC, settings);
  return account.arn('batch', `job-definition/${name}${revision === undefined ? '' : `:${revision}`}`);
}

/**
 * RegisterJobDefinition with the request prepare sends: the job definition itself, iam:PassRole
 * for each role the definition names (checked at registration:
 * https://docs.aws.amazon.com/batch/latest/userguide/iam-example-job-def.html), and
 * batch:TagResource when the request carries tags (tag-on-create:
 * https://docs.aws.amazon.com/batch/latest/userguide/tag-resources.html).
 */
function jobDefinitionRegistration(context: HandlerSampleContext): SampleRequest[] {
  const settings = jobDefinitionSettingsOf(context);
  const content = jobDefinitionContent(SAMPLE_JOB_DEFINITION_SPEC, settings);
  const definition = sampleJobDefinitionArn(context.account, settings);
  const requests: SampleRequest[] = [{ action: 'batch:RegisterJobDefinition', resource: definition }];
  const roles = [content.containerProperties?.jobRoleArn, content.containerProperties?.executionRoleArn];
  for (const role of roles) {
    if (!role) continue;
    for (const service of PASSED_TO_SERVICE_CANDIDATES) {
      requests.push({
        action: 'iam:PassRole',
        resource: role,
        context: { 'iam:PassedToService': service },
        because: `RegisterJobDefinition names ${role.split('/').at(-1)}; Batch checks that the caller may pass it (iam:PassedToService ${service})`,
      });
    }
  }
  if (content.tags && Object.keys(content.tags).length > 0) {
    requests.push({ action: 'batch:TagResource', resource: definition, because: 'RegisterJobDefinition carries tags (tag-on-create)' });
  }
  return requests;
}

/**
 * A container instance in each cluster Batch may create for each compute environment, with
 * the cluster as the `ecs:cluster` context the request carries.
 */
function containerInstances(context: HandlerSampleContext): SampleRequest[] {
  const requests: SampleRequest[] = [];
  for (const [id] of context.account.resourcesOfType('AWS::Batch::ComputeEnvironment')) {
    const computeEnvironment = context.account.attribute(id, 'ComputeEnvironmentArn').split('/').at(-1)!;
    for (const { shape, name } of BATCH_CLUSTER_NAMES) {
      const cluster = name(computeEnvironment);
      requests.push({
        action: 'ecs:DescribeContainerInstances',
        resource: context.account.arn('ecs', `container-instance/${cluster}/${SAMPLE_IDS.containerInstance}`),
        context: { 'ecs:cluster': context.account.arn('ecs', `cluster/${cluster}`) },
        because: `a container instance of ${computeEnvironment}'s cluster ${shape}`,
      });
    }
  }
  if (requests.length === 0)
    throw new Error(`${context.handler} looks up container instances, but the template has no Batch compute environment.`);
  return requests;
}

const only =
  (action: string, resource: (context: HandlerSampleContext) => string): SampleBuilder =>
  (context) => [{ action, resource: resource(context) }];
const tableItem = (action: string): SampleBuilder => only(action, (context) => jobTable(context).arn);
const tableOrIndex =
  (action: string): SampleBuilder =>
  (context) => {
    const table = jobTable(context);
    return [table.arn, ...table.indexArns].map((resource) => ({ action, resource }));
  };
/** Actions that support no resource-level permissions: "*" is the only resource. */
const everything =
  (action: string): SampleBuilder =>
  () => [{ action, resource: '*' }];

/** IAM action → the requests a handler's use of it makes AWS authorize. */
export const SAMPLE_REQUESTS: Readonly<Record<string, SampleBuilder>> = {
  'dynamodb:GetItem': tableItem('dynamodb:GetItem'),
  'dynamodb:PutItem': tableItem('dynamodb:PutItem'),
  'dynamodb:UpdateItem': tableItem('dynamodb:UpdateItem'),
  'dynamodb:DeleteItem': tableItem('dynamodb:DeleteItem'),
  'dynamodb:ConditionCheckItem': tableItem('dynamodb:ConditionCheckItem'),
  'dynamodb:BatchGetItem': tableItem('dynamodb:BatchGetItem'),
  'dynamodb:BatchWriteItem': tableItem('dynamodb:BatchWriteItem'),
  'dynamodb:Query': tableOrIndex('dynamodb:Query'),
  'dynamodb:Scan': tableOrIndex('dynamodb:Scan'),
  'sqs:SendMessage': only('sqs:SendMessage', (context) => queueArnOfUrl(context, required(context, ENV.intakeQueueUrl))),
  'states:StartExecution': only('states:StartExecution', stateMachineArn),
  'states:ListExecutions': only('states:ListExecutions', stateMachineArn),
  'states:StopExecution': only('states:StopExecution', executionArn),
  'states:DescribeExecution': only('states:DescribeExecution', executionArn),
  'events:PutEvents': only('events:PutEvents', eventBusArn),
  'logs:GetLogEvents': only('logs:GetLogEvents', (context) =>
    context.account.arn(
      'logs',
      `log-group:${required(context, ENV.jobLogGroupName)}:log-stream:${JOB_LOG_STREAM_PREFIX}/default/${SAMPLE_IDS.ecsTask}`,
    ),
  ),
  'logs:FilterLogEvents': only('logs:FilterLogEvents', (context) =>
    context.account.arn('logs', `log-group:${required(context, ENV.jobLogGroupName)}`),
  ),
  'batch:DescribeJobDefinitions': everything('batch:DescribeJobDefinitions'),
  'batch:DescribeJobs': everything('batch:DescribeJobs'),
  'batch:ListJobs': everything('batch:ListJobs'),
  'batch:RegisterJobDefinition': jobDefinitionRegistration,
  'batch:TerminateJob': only('batch:TerminateJob', (context) => context.account.arn('batch', `job/${SAMPLE_IDS.batchJob}`)),
  'batch:CancelJob': only('batch:CancelJob', (context) => context.account.arn('batch', `job/${SAMPLE_IDS.batchJob}`)),
  'ecs:DescribeContainerInstances': containerInstances,
};
