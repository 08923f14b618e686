import { App, Aws, Duration, Fn, Names, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as batch from 'aws-cdk-lib/aws-batch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { CLAIM_SECONDS, STATE, TERMINAL_EVENT_BUSY_ERROR } from '../../core/contract/workflow.js';
import { stepFunctionsEvaluateOnExit } from '../../core/retry-strategy.js';
import { JOB_SPEC_LIMITS } from '../../core/spec.js';
import { BATCH_JOB_TAG } from './batch-task.js';

export { BATCH_JOB_TAG } from './batch-task.js';

/** The longest per-attempt timeout a job may ask for (Batch `attemptDurationSeconds`), 14 days. */
export const MAX_JOB_TIMEOUT_SECONDS = JOB_SPEC_LIMITS.timeoutSeconds.max;

/**
 * Upper bound on one Batch task: the longest attempt plus a week of waiting for capacity and
 * Batch's own host-loss retries. Queue time limits cancel jobs stuck without capacity long before.
 */
export const BATCH_TASK_TIMEOUT_SECONDS = MAX_JOB_TIMEOUT_SECONDS + 7 * 24 * 3600;

/** The workflow's task handlers do a few DynamoDB/Batch/EventBridge calls each. */
export const LAMBDA_TASK_TIMEOUT_SECONDS = 120;

/**
 * Whole-execution bound, 24 days. It must stay below 2^31 ms (24.8 days): local mode runs this
 * definition on Node, whose timers fire at once when given a longer delay.
 */
export const EXECUTION_TIMEOUT_SECONDS = 24 * 24 * 3600;
/** The state machine's own timeout; the stack and jobWorkflowAsl both render it from here. */
const EXECUTION_TIMEOUT = Duration.seconds(EXECUTION_TIMEOUT_SECONDS);

/**
 * Errors Step Functions reports when a Batch API call of the `.sync` integration fails
 * (throttling, Batch outages). A job's own failure is `States.TaskFailed` and never retried here:
 * the settle-attempt handler decides what follows it.
 */
export const BATCH_API_ERRORS = ['Batch.AWSBatchException', 'Batch.ServerException', 'Batch.TooManyRequestsException'] as const;

/** Lambda service-side failures and throttling, safe to retry because the handlers are idempotent. */
export const LAMBDA_SERVICE_ERRORS = [
  'Lambda.ClientExecutionTimeoutException',
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
] as const;

export interface JobWorkflowProps {
  /** Task handler for the `Prepare` state (lambdas/prepare/handler.ts). */
  readonly prepareFunction: lambda.IFunction;
  /** Task handler for the `SettleAttempt` state (lambdas/settle-attempt/handler.ts). */
  readonly settleAttemptFunction: lambda.IFunction;
  /** Task handler for the `Finish` state (lambdas/finish/handler.ts). */
  readonly finishFunction: lambda.IFunction;
  /** Batch job queue backed by the Spot compute environment. */
  readonly spotJobQueue: batch.IJobQueue;
  /** Batch job queue backed by the On-Demand compute environment. */
  readonly onDemandJobQueue: batch.IJobQueue;
  /**
   * Name prefix of the job definitions that prepare registers; the workflow may submit only those.
   * @default 'gpujobs-'
   */
  readonly jobDefinitionNamePrefix?: string;
  /**
   * What the execution log records.
   * @default sfn.LogLevel.ALL
   */
  readonly logLevel?: sfn.LogLevel;
  /**
   * Whether execution logs carry state input and output (job commands and environment).
   * @default false
   */
  readonly includeExecutionDataInLogs?: boolean;
  /**
   * How long execution logs are kept.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
}

/** What the definition is built from: the task handlers, the two queues and the partition. */
export interface JobWorkflowDefinitionProps
  extends Pick<JobWorkflowProps, 'prepareFunction' | 'settleAttemptFunction' | 'finishFunction' | 'spotJobQueue' | 'onDemandJobQueue'> {
  /**
   * Partition of the Batch integration's ARN.
   * @default Aws.PARTITION (the deploying stack's)
   */
  readonly partition?: string;
}

/**
 * Builds the job workflow's states (see core/contract/workflow.ts for the path and the payloads).
 * This is the only definition: the stack deploys it, and jobWorkflowAsl gives the same states as
 * a value for local mode, the tests and the benchmarks.
 */
export function buildJobWorkflowDefinition(scope: Construct, props: JobWorkflowDefinitionProps): sfn.IChainable {
  const prepare = lambdaTask(scope, STATE.prepare, props.prepareFunction, {
    // No ResultPath: Prepare's result is the whole workflow state from here on.
    payload: sfn.TaskInput.fromObject({ jobId: sfn.JsonPath.stringAt('$.jobId') }),
  });

  const settleAttempt = lambdaTask(scope, STATE.settleAttempt, props.settleAttemptFunction, {
    payload: sfn.TaskInput.fromObject({
      jobId: sfn.JsonPath.stringAt('$.jobId'),
      attempt: sfn.JsonPath.numberAt('$.plan.attempt'),
      // Both Run* states lead here; the plan that started the attempt names its capacity.
      capacity: sfn.JsonPath.stringAt('$.plan.next'),
      attemptResult: sfn.JsonPath.objectAt('$.attemptResult'),
    }),
    resultPath: '$.plan',
  });

  const finish = lambdaTask(scope, STATE.finish, props.finishFunction, {
    payload: sfn.TaskInput.fromObject({
      jobId: sfn.JsonPath.stringAt('$.jobId'),
      outcome: sfn.JsonPath.objectAt('$.plan.outcome'),
    }),
    // Another invocation (reconcile, a cancel) holds the claim to publish this job's terminal
    // event; come back once that claim has lapsed, to publish it if its holder could not.
    retries: [{ errors: [TERMINAL_EVENT_BUSY_ERROR], interval: Duration.seconds(CLAIM_SECONDS + 5), backoffRate: 2, maxAttempts: 4 }],
  });

  const partition = props.partition ?? Aws.PARTITION;
  const runOnSpot = batchAttempt(scope, STATE.runOnSpot, props.spotJobQueue, partition);
  const runOnDemand = batchAttempt(scope, STATE.runOnDemand, props.onDemandJobQueue, partition);
  for (const run of [runOnSpot, runOnDemand]) {
    // Every attempt's end, success or failure, is settled: recorded, classified, and the next step planned.
    run.addCatch(settleAttempt, { errors: [sfn.Errors.ALL], resultPath: '$.attemptResult' });
    run.next(settleAttempt);
  }

  const done = new sfn.Succeed(scope, STATE.done, { stateName: STATE.done });
  const alreadyFinished = new sfn.Succeed(scope, STATE.alreadyFinished, { stateName: STATE.alreadyFinished });

  const chooseCapacity = new sfn.Choice(scope, STATE.chooseCapacity, { stateName: STATE.chooseCapacity })
    .when(sfn.Condition.stringEquals('$.plan.next', 'spot'), runOnSpot)
    .when(sfn.Condition.stringEquals('$.plan.next', 'on-demand'), runOnDemand)
    .when(sfn.Condition.stringEquals('$.plan.next', 'finish'), finish.next(done))
    .when(sfn.Condition.stringEquals('$.plan.next', 'skip'), alreadyFinished);

  settleAttempt.next(chooseCapacity);
  return prepare.next(chooseCapacity);
}

function lambdaTask(
  scope: Construct,
  stateName: string,
  fn: lambda.IFunction,
  // ResultPath "$" is left implicit: aws-local-stepfunctions mishandles it when written out.
  // `retries` are for errors the handler names; they come before the catch-all transient retry.
  options: { payload: sfn.TaskInput; resultPath?: string; retries?: readonly sfn.RetryProps[] },
): tasks.LambdaInvoke {
  const task = new tasks.LambdaInvoke(scope, stateName, {
    stateName,
    lambdaFunction: fn,
    payload: options.payload,
    payloadResponseOnly: true,
    ...(options.resultPath === undefined ? {} : { resultPath: options.resultPath }),
    taskTimeout: sfn.Timeout.duration(Duration.seconds(LAMBDA_TASK_TIMEOUT_SECONDS)),
    retryOnServiceExceptions: false,
  });
  task.addRetry({
    errors: [...LAMBDA_SERVICE_ERRORS],
    interval: Duration.seconds(2),
    backoffRate: 2,
    maxAttempts: 6,
    maxDelay: Duration.seconds(30),
    jitterStrategy: sfn.JitterType.FULL,
  });
  for (const retry of options.retries ?? []) task.addRetry(retry);
  // A handler error (a DynamoDB or EventBridge call that failed, a conflict lost too often) would
  // otherwise fail the whole execution, and with it a job whose container may have succeeded.
  // Every handler is idempotent, so running it again is safe. States.TaskFailed matches every
  // error but States.Timeout, so it must stay the last retrier:
  // https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html
  task.addRetry({ errors: [sfn.Errors.TASKS_FAILED], ...TRANSIENT_TASK_RETRY });
  return task;
}

/** How the workflow's Lambda tasks retry a handler error before the execution fails. */
export const TRANSIENT_TASK_RETRY = {
  interval: Duration.seconds(2),
  backoffRate: 2,
  maxAttempts: 3,
  jitterStrategy: sfn.JitterType.FULL,
} as const;

/**
 * One Batch attempt on one queue. Written as raw state JSON because BatchSubmitJob cannot take
 * the command and environment arrays from the state, and sets no TimeoutSeconds on the task.
 */
function batchAttempt(scope: Construct, stateName: string, queue: batch.IJobQueue, partition: string): sfn.CustomState {
  const state = new sfn.CustomState(scope, stateName, {
    stateJson: {
      Type: 'Task',
      Resource: `arn:${partition}:states:::batch:submitJob.sync`,
      Parameters: {
        JobQueue: queue.jobQueueArn,
        'JobName.$': '$.plan.jobName',
        'JobDefinition.$': '$.job.jobDefinitionArn',
        ContainerOverrides: {
          'Command.$': '$.job.command',
          'Environment.$': '$.plan.environment',
        },
        Timeout: { 'AttemptDurationSeconds.$': '$.job.timeoutSeconds' },
        // Overrides the job definition's: Batch retries a lost host in place only while the job's Spot budget lasts.
        RetryStrategy: {
          'Attempts.$': '$.plan.batchAttempts',
          EvaluateOnExit: stepFunctionsEvaluateOnExit(),
        },
        Tags: {
          [`${BATCH_JOB_TAG.jobId}.$`]: '$.jobId',
          [`${BATCH_JOB_TAG.attempt}.$`]: "States.Format('{}', $.plan.attempt)",
        },
      },
      ResultPath: '$.attemptResult',
      TimeoutSeconds: BATCH_TASK_TIMEOUT_SECONDS,
    },
  });
  // Batch allows 50 SubmitJob calls per second per account: spread retries out with full jitter.
  state.addRetry({
    errors: [...BATCH_API_ERRORS],
    interval: Duration.seconds(5),
    backoffRate: 2,
    maxAttempts: 8,
    maxDelay: Duration.minutes(2),
    jitterStrategy: sfn.JitterType.FULL,
  });
  return state;
}

/** Where the workflow's tasks go: the three task functions and the two queues, by ARN. */
export interface JobWorkflowArns {
  readonly prepareFunctionArn: string;
  readonly settleAttemptFunctionArn: string;
  readonly finishFunctionArn: string;
  readonly spotJobQueueArn: string;
  readonly onDemandJobQueueArn: string;
  /**
   * Partition of the Batch integration's ARN.
   * @default the partition of spotJobQueueArn
   */
  readonly partition?: string;
}

/** A state of the Amazon States Language definition, as Step Functions reads it (JSONPath). */
export interface AslState {
  readonly Type: string;
  readonly [field: string]: unknown;
}

/** The job workflow's Amazon States Language definition, as the stack deploys it. */
export interface JobWorkflowAsl {
  readonly StartAt: string;
  readonly States: Readonly<Record<string, AslState>>;
  readonly TimeoutSeconds: number;
}

/**
 * The job workflow's definition as a value: buildJobWorkflowDefinition's states in a bare stack,
 * wired to imported functions and queues (so nothing is bundled or synthesized), and resolved by
 * CDK's own token resolver. The stack's StateMachine renders the same graph with the same timeout
 * (test/workflow/deployed-definition.test.ts holds the two equal).
 */
export function jobWorkflowAsl(arns: JobWorkflowArns): JobWorkflowAsl {
  const partition = arns.partition ?? partitionOf(arns.spotJobQueueArn);
  const stack = new Stack(new App(), 'JobWorkflowAsl');
  // The states take their state names as construct ids; the imports get a scope of their own.
  const imported = new Construct(stack, 'Imported');
  const importedFunction = (id: string, arn: string) => lambda.Function.fromFunctionArn(imported, id, arn);
  const start = buildJobWorkflowDefinition(stack, {
    prepareFunction: importedFunction('Prepare', arns.prepareFunctionArn),
    settleAttemptFunction: importedFunction('SettleAttempt', arns.settleAttemptFunctionArn),
    finishFunction: importedFunction('Finish', arns.finishFunctionArn),
    spotJobQueue: batch.JobQueue.fromJobQueueArn(imported, 'SpotQueue', arns.spotJobQueueArn),
    onDemandJobQueue: batch.JobQueue.fromJobQueueArn(imported, 'OnDemandQueue', arns.onDemandJobQueueArn),
    partition,
  });
  const graph = new sfn.StateGraph(start.startState, 'JobWorkflow');
  graph.timeout = EXECUTION_TIMEOUT;
  return stack.resolve(graph.toGraphJson()) as JobWorkflowAsl;
}

function partitionOf(arn: string): string {
  const partition = /^arn:([a-z-]+):/.exec(arn)?.[1];
  if (!partition) throw new Error(`spotJobQueueArn must be an ARN (arn:<partition>:batch:…). Received ${JSON.stringify(arn)}.`);
  return partition;
}

/**
 * The job workflow (Step Functions Standard): Spot first, classify failures,
 * retry or fail over to On-Demand, finish exactly once. The definition is built
 * by buildJobWorkflowDefinition only; local mode executes the same states (jobWorkflowAsl).
 */
export class JobWorkflow extends Construct {
  readonly stateMachine: sfn.StateMachine;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: JobWorkflowProps) {
    super(scope, id);
    const jobDefinitionNamePrefix = props.jobDefinitionNamePrefix ?? 'gpujobs-';
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(jobDefinitionNamePrefix)) {
      throw new Error(
        `jobDefinitionNamePrefix must be 1-64 letters, digits, hyphens or underscores. Received ${JSON.stringify(jobDefinitionNamePrefix)}.`,
      );
    }

    // The vendedlogs prefix keeps Step Functions' log delivery out of the account's size-limited log
    // resource policy. The group outlives the stack (execution history is kept for its retention),
    // so its name ends with the stack's own id: a stack deployed again under the same name after
    // `cdk destroy` gets a new group instead of failing on the old one ("already exists").
    const stackUuid = Fn.select(2, Fn.split('/', Aws.STACK_ID));
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName: `/aws/vendedlogs/states/${Names.uniqueResourceName(this, { maxLength: 160 })}-${stackUuid}`,
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromChainable(buildJobWorkflowDefinition(this, props)),
      timeout: EXECUTION_TIMEOUT,
      tracingEnabled: true,
      logs: {
        destination: this.logGroup,
        level: props.logLevel ?? sfn.LogLevel.ALL,
        includeExecutionData: props.includeExecutionDataInLogs ?? false,
      },
    });

    this.grantBatchSync(props, jobDefinitionNamePrefix);
  }

  /** What `batch:submitJob.sync` needs: submit, watch, and terminate on StopExecution or task timeout. */
  private grantBatchSync(props: JobWorkflowProps, jobDefinitionNamePrefix: string): void {
    const stack = Stack.of(this);
    const jobArns = stack.formatArn({ service: 'batch', resource: 'job', resourceName: '*' });
    const submitted = [
      props.spotJobQueue.jobQueueArn,
      props.onDemandJobQueue.jobQueueArn,
      stack.formatArn({ service: 'batch', resource: 'job-definition', resourceName: `${jobDefinitionNamePrefix}*` }),
    ];
    this.stateMachine.addToRolePolicy(new iam.PolicyStatement({ actions: ['batch:SubmitJob'], resources: submitted }));
    // Every submission carries Tags, and Batch authorizes tag-on-create against each resource the
    // SubmitJob request names (queue, job definition) as well as the new job: with job/* alone
    // SubmitJob is denied "batch:TagResource on resource: …:job-definition/…" (wri/gfw-data-api#175).
    // https://docs.aws.amazon.com/batch/latest/userguide/tag-resources.html
    this.stateMachine.addToRolePolicy(new iam.PolicyStatement({ actions: ['batch:TagResource'], resources: [...submitted, jobArns] }));
    // Job ids exist only at run time, so terminate is scoped to this account's jobs.
    this.stateMachine.addToRolePolicy(new iam.PolicyStatement({ actions: ['batch:TerminateJob'], resources: [jobArns] }));
    // DescribeJobs supports no resource-level permissions.
    this.stateMachine.addToRolePolicy(new iam.PolicyStatement({ actions: ['batch:DescribeJobs'], resources: ['*'] }));
    this.stateMachine.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
        resources: [stack.formatArn({ service: 'events', resource: 'rule', resourceName: 'StepFunctionsGetEventsForBatchJobsRule' })],
      }),
    );
  }
}
