/**
 * The EventBridge events AWS delivers to the handlers, in the envelope AWS sends them in: Batch
 * job state changes (batch-events) and Step Functions execution status changes (reconcile). The
 * detail is the test's; the envelope and the execution's naming are the same everywhere.
 */
import type { EventEnvelope } from '../../local/event-bus.js';

const ACCOUNT = '123456789012';
const REGION = 'us-east-1';

/** An EventBridge event as a rule's target receives it, with the test's detail. */
export type AwsEvent<D> = Omit<EventEnvelope, 'detail'> & { readonly detail: D };

function awsEvent<D>(detailType: string, source: string, resource: string, detail: D, time: string): AwsEvent<D> {
  return {
    version: '0',
    id: crypto.randomUUID(),
    'detail-type': detailType,
    source,
    account: ACCOUNT,
    time,
    region: REGION,
    resources: [resource],
    detail,
  };
}

/**
 * A "Batch Job State Change" for the Batch job `jobName` entering `status`, with the fields Batch
 * sends for a job on the Spot queue (created a minute before `time`); `detail` adds or replaces
 * fields. The event's resource is the Batch job's ARN, made from its id.
 */
export function batchJobStateChange(
  jobName: string,
  status: string,
  detail: Readonly<Record<string, unknown>> & { readonly jobId?: string } = {},
  time = new Date().toISOString(),
) {
  const jobId = detail.jobId ?? '5f0c1b2a';
  const jobArn = `arn:aws:batch:${REGION}:${ACCOUNT}:job/${jobId}`;
  return awsEvent(
    'Batch Job State Change',
    'aws.batch',
    jobArn,
    {
      jobArn,
      jobName,
      jobId,
      jobQueue: `arn:aws:batch:${REGION}:${ACCOUNT}:job-queue/gpujobs-spot`,
      status,
      attempts: [],
      createdAt: Date.parse(time) - 60_000,
      dependsOn: [],
      jobDefinition: `arn:aws:batch:${REGION}:${ACCOUNT}:job-definition/gpujobs-test-abc:1`,
      parameters: {},
      tags: {},
      platformCapabilities: ['EC2'],
      ...detail,
    },
    time,
  );
}

/** The execution the workflow starts for a job: named after the job, under the state machine. */
export const executionArnOf = (stateMachineArn: string, jobId: string) =>
  `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${jobId}`;

/** How a job's execution ended, as a "Step Functions Execution Status Change" reports it. */
export interface ExecutionEnd {
  readonly stateMachineArn: string;
  readonly jobId: string;
  /** ABORTED, FAILED, TIMED_OUT, SUCCEEDED. */
  readonly status: string;
  /** Epoch milliseconds; default now. */
  readonly stopDate?: number;
  /** Epoch milliseconds; default an hour before stopDate. */
  readonly startDate?: number;
  readonly error?: string | null;
  readonly cause?: string | null;
  /** The envelope's time; default now. */
  readonly time?: string;
}

export function executionStatusChange(end: ExecutionEnd) {
  const executionArn = executionArnOf(end.stateMachineArn, end.jobId);
  const stopDate = end.stopDate ?? Date.now();
  return awsEvent(
    'Step Functions Execution Status Change',
    'aws.states',
    executionArn,
    {
      executionArn,
      stateMachineArn: end.stateMachineArn,
      name: end.jobId,
      status: end.status,
      startDate: end.startDate ?? stopDate - 3_600_000,
      stopDate,
      input: JSON.stringify({ jobId: end.jobId }),
      output: null,
      error: end.error ?? null,
      cause: end.cause ?? null,
    },
    end.time ?? new Date().toISOString(),
  );
}
