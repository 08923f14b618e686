/**
 * `gpujobs smoke --stack` as it runs against AWS: the stack's outputs from CloudFormation,
 * the API (a fake of it, scripted per command), and the temporary EventBridge rule and
 * SQS queue (mocked with the AWS API's request and response shapes).
 */
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DeleteRuleCommand, EventBridgeClient, PutRuleCommand, PutTargetsCommand, RemoveTargetsCommand } from '@aws-sdk/client-eventbridge';
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SetQueueAttributesCommand,
  SQSClient,
  type Message,
} from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Attempt, Job } from '../../core/job.js';
import { TERMINAL_DETAIL_TYPE } from '../../core/transitions.js';
import { startFakeApi, isoAt, type FakeApi, type ScriptStep } from './fake-api.js';
import { cli } from './run-cli.js';

const cloudFormation = mockClient(CloudFormationClient);
const sqs = mockClient(SQSClient);
const eventBridge = mockClient(EventBridgeClient);

const credentials = async () => ({ accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' });
const ACCOUNT = '123456789012';
const REGION = 'eu-west-1';
const BUS = 'GpuJobsNotificationsEventBus1A2B3C4D';

const attempt = (overrides: Partial<Attempt>): Attempt => ({
  attempt: 1,
  capacity: 'spot',
  status: 'RUNNING',
  batchJobId: 'b-1',
  instanceType: 'g4dn.xlarge',
  startedAt: isoAt(10),
  ...overrides,
});

const GPU_SCRIPT: readonly ScriptStep[] = [
  { status: 'PENDING' },
  { status: 'RUNNING', attempts: [attempt({})] },
  {
    status: 'SUCCEEDED',
    exitCode: 0,
    attempts: [attempt({ status: 'SUCCEEDED', exitCode: 0, stoppedAt: isoAt(20) })],
    logs: [{ attempt: 1, message: 'GPU 0: Tesla T4 (UUID: GPU-8a1b2c3d-0000-1111-2222-333344445555)' }],
  },
];
const failingScript = (exitCode: number, status: 'FAILED' | 'SUCCEEDED' = 'FAILED'): readonly ScriptStep[] => [
  { status: 'RUNNING', attempts: [attempt({})] },
  {
    status,
    exitCode,
    statusReason: `The container exited with code ${exitCode}`,
    attempts: [attempt({ status, exitCode, failureClass: status === 'FAILED' ? 'APP_ERROR' : undefined, stoppedAt: isoAt(15) })],
  },
];
const CANCEL_SCRIPT: readonly ScriptStep[] = [
  { status: 'RUNNING', attempts: [attempt({})] },
  { status: 'RUNNING', attempts: [attempt({})] },
  {
    status: 'CANCELLED',
    statusReason: 'Cancelled by the owner',
    attempts: [attempt({ status: 'CANCELLED', failureClass: 'CANCELLED', stoppedAt: isoAt(30) })],
  },
];

/** The EventBridge event the platform publishes for a job's end, as the rule's SQS target receives it. */
function terminalEventMessage(job: Job, id = `event-${job.jobId}`): Message {
  const detailType = TERMINAL_DETAIL_TYPE[job.status as keyof typeof TERMINAL_DETAIL_TYPE];
  const body = {
    version: '0',
    id,
    'detail-type': detailType,
    source: 'gpujobs',
    account: ACCOUNT,
    time: isoAt(60),
    region: REGION,
    resources: [],
    detail: {
      schemaVersion: '1',
      jobId: job.jobId,
      name: job.name,
      owner: job.owner,
      status: job.status,
      tags: job.tags,
      attempts: job.attempts.length,
      costUsd: 0,
    },
  };
  return { MessageId: `m-${id}`, ReceiptHandle: `r-${id}`, MD5OfBody: 'x', Body: JSON.stringify(body) };
}

describe('gpujobs smoke against a deployed stack', () => {
  let api: FakeApi;
  let delivered: Set<string>;

  const smoke = (extra: readonly string[] = []) =>
    cli(['smoke', '--stack', 'GpuJobs', '--region', REGION, ...extra], { credentials, env: { GPUJOBS_ENDPOINT: undefined } });

  /** What the rule would have delivered so far: each job's terminal event once. */
  const deliverTerminalEvents = (extra: (job: Job) => Message[] = () => []) =>
    sqs.on(ReceiveMessageCommand).callsFake(() => {
      const messages: Message[] = [];
      for (const job of api.jobs.values()) {
        if (!['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(job.status) || delivered.has(job.jobId)) continue;
        delivered.add(job.jobId);
        messages.push(terminalEventMessage(job), ...extra(job));
      }
      return { Messages: messages };
    });

  beforeEach(async () => {
    api = await startFakeApi();
    delivered = new Set();
    for (const client of [cloudFormation, sqs, eventBridge]) client.reset();
    cloudFormation.on(DescribeStacksCommand, { StackName: 'GpuJobs' }).resolves({
      Stacks: [
        {
          StackName: 'GpuJobs',
          CreationTime: new Date(),
          StackStatus: 'CREATE_COMPLETE',
          Outputs: [
            { OutputKey: 'ApiUrl', OutputValue: `${api.url}/` },
            { OutputKey: 'EventBusName', OutputValue: BUS },
          ],
        },
      ],
    });
    sqs
      .on(CreateQueueCommand)
      .callsFake((input: { QueueName: string }) => ({ QueueUrl: `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${input.QueueName}` }));
    sqs.on(GetQueueAttributesCommand).callsFake((input: { QueueUrl: string }) => ({
      Attributes: { QueueArn: `arn:aws:sqs:${REGION}:${ACCOUNT}:${input.QueueUrl.split('/').pop()}` },
    }));
    sqs.on(SetQueueAttributesCommand).resolves({});
    sqs.on(DeleteQueueCommand).resolves({});
    eventBridge
      .on(PutRuleCommand)
      .callsFake((input: { Name: string }) => ({ RuleArn: `arn:aws:events:${REGION}:${ACCOUNT}:rule/${BUS}/${input.Name}` }));
    eventBridge.on(PutTargetsCommand).resolves({ FailedEntryCount: 0, FailedEntries: [] });
    eventBridge.on(RemoveTargetsCommand).resolves({ FailedEntryCount: 0, FailedEntries: [] });
    eventBridge.on(DeleteRuleCommand).resolves({});
    api.scripts.set('nvidia-smi', GPU_SCRIPT);
    api.scripts.set('sh', failingScript(3));
    api.scripts.set('sleep', CANCEL_SCRIPT);
  });

  afterEach(async () => {
    await api.stop();
  });

  it('passes, reading events through a temporary rule and queue that it removes afterwards', async () => {
    // GIVEN
    deliverTerminalEvents();

    // WHEN
    const result = await smoke();

    // THEN one line per step; failover cannot be forced on AWS
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      /^PASS gpu \(\d+\.\ds\): GPU 0: Tesla T4 \(UUID: GPU-8a1b2c3d-0000-1111-2222-333344445555\) on g4dn\.xlarge \(spot\)$/m,
    );
    expect(result.stdout).toMatch(/^PASS failure \(\d+\.\ds\): job JOB0002 ended FAILED with exit code 3 \(APP_ERROR\)/m);
    expect(result.stdout).toMatch(/^PASS cancel \(\d+\.\ds\): job JOB0003 cancelled while RUNNING/m);
    expect(result.stdout).toMatch(/^SKIP failover: a Spot reclaim cannot be forced on AWS; --failover runs/m);
    expect(result.stdout).toMatch(
      /^PASS events \(\d+\.\ds\): exactly one terminal event per job: GPU Job Succeeded ×1, GPU Job Failed ×1, GPU Job Cancelled ×1/m,
    );

    // the rule matches this run's terminal events on the stack's bus, and only the rule may send to the queue
    const [putRule] = eventBridge.commandCalls(PutRuleCommand);
    const ruleInput = putRule!.args[0].input;
    const runId = ruleInput.Name!.replace(/^gpujobs-smoke-/, '');
    expect(ruleInput).toMatchObject({ Name: `gpujobs-smoke-${runId}`, EventBusName: BUS, State: 'ENABLED' });
    expect(JSON.parse(ruleInput.EventPattern!)).toEqual({
      source: ['gpujobs'],
      'detail-type': ['GPU Job Succeeded', 'GPU Job Failed', 'GPU Job Cancelled'],
      detail: { tags: { 'gpujobs-smoke': [runId] } },
    });
    const queueUrl = `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/gpujobs-smoke-${runId}`;
    const queueArn = `arn:aws:sqs:${REGION}:${ACCOUNT}:gpujobs-smoke-${runId}`;
    const ruleArn = `arn:aws:events:${REGION}:${ACCOUNT}:rule/${BUS}/gpujobs-smoke-${runId}`;
    const [setPolicy] = sqs.commandCalls(SetQueueAttributesCommand);
    expect(setPolicy!.args[0].input.QueueUrl).toBe(queueUrl);
    expect(JSON.parse(setPolicy!.args[0].input.Attributes!.Policy!)).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'SmokeRuleSendsEvents',
          Effect: 'Allow',
          Principal: { Service: 'events.amazonaws.com' },
          Action: 'sqs:SendMessage',
          Resource: queueArn,
          Condition: { ArnEquals: { 'aws:SourceArn': ruleArn } },
        },
      ],
    });
    expect(eventBridge.commandCalls(PutTargetsCommand)[0]!.args[0].input).toEqual({
      Rule: `gpujobs-smoke-${runId}`,
      EventBusName: BUS,
      Targets: [{ Id: 'smoke-queue', Arn: queueArn }],
    });
    // every smoke job carries the tag the rule matches on
    const submissions = api.requests.filter((request) => request.method === 'POST' && request.url === '/v1/jobs');
    expect(submissions).toHaveLength(3);
    for (const submission of submissions) expect(JSON.parse(submission.body).tags).toEqual({ 'gpujobs-smoke': runId });

    // and everything is removed, targets before the rule
    expect(eventBridge.commandCalls(RemoveTargetsCommand)[0]!.args[0].input).toEqual({
      Rule: `gpujobs-smoke-${runId}`,
      EventBusName: BUS,
      Ids: ['smoke-queue'],
    });
    expect(eventBridge.commandCalls(DeleteRuleCommand)[0]!.args[0].input).toEqual({ Name: `gpujobs-smoke-${runId}`, EventBusName: BUS });
    expect(sqs.commandCalls(DeleteQueueCommand)[0]!.args[0].input).toEqual({ QueueUrl: queueUrl });
    const order = eventBridge.calls().map((call) => (call.args[0] as { constructor: { name: string } }).constructor.name);
    expect(order.indexOf('RemoveTargetsCommand')).toBeLessThan(order.indexOf('DeleteRuleCommand'));
  });

  it('removes the rule and queue even when a step FAILS, and exits 1', async () => {
    // GIVEN a platform on which the failing job ends SUCCEEDED
    api.scripts.set('sh', failingScript(0, 'SUCCEEDED'));
    deliverTerminalEvents();

    // WHEN
    const result = await smoke();

    // THEN
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^FAIL failure: expected FAILED with exit code 3; job JOB0002 ended SUCCEEDED with exit code 0/m);
    expect(result.stdout).toMatch(/^PASS gpu /m);
    expect(eventBridge.commandCalls(RemoveTargetsCommand)).toHaveLength(1);
    expect(eventBridge.commandCalls(DeleteRuleCommand)).toHaveLength(1);
    expect(sqs.commandCalls(DeleteQueueCommand)).toHaveLength(1);
    expect(result.stderr).toContain('3 passed, 1 failed, 1 skipped');
  });

  it('counts a redelivered event once, and FAILS a job with two distinct terminal events', async () => {
    // GIVEN the gpu job's event delivered twice (at-least-once) and the failure job's published twice
    deliverTerminalEvents((job) =>
      job.jobId === 'JOB0001' ? [terminalEventMessage(job)] : job.jobId === 'JOB0002' ? [terminalEventMessage(job, 'second-event')] : [],
    );

    // WHEN
    const result = await smoke();

    // THEN
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(
      /^FAIL events: 2 terminal events for job JOB0002 \(failure\): GPU Job Failed, GPU Job Failed; expected exactly one/m,
    );
    expect(result.stdout).not.toMatch(/JOB0001 \(gpu\)/);
  });

  it('FAILS the events step when an event never arrives, naming the job and where it looked', async () => {
    sqs.on(ReceiveMessageCommand).resolves({ Messages: [] });

    const result = await smoke(['--timeout', '1s']);

    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(
      /^FAIL events: no "GPU Job Succeeded" event for job JOB0001 \(gpu\); .* \(read from rule gpujobs-smoke-\w+ on bus GpuJobsNotificationsEventBus1A2B3C4D → queue https:\/\/sqs\./m,
    );
  });

  it('with --failover, runs a job on the On-Demand queue', async () => {
    const onDemand = GPU_SCRIPT.map((step) => ({
      ...step,
      ...(step.attempts ? { attempts: step.attempts.map((a) => ({ ...a, capacity: 'on-demand' as const })) } : {}),
    }));
    api.scripts.set('nvidia-smi', onDemand);
    deliverTerminalEvents();

    const result = await smoke(['--failover']);

    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      /^PASS failover \(\d+\.\ds\): job JOB0004 ran on g4dn\.xlarge \(on-demand\): the On-Demand failover target works/m,
    );
    const failoverJob = api.requests.filter((request) => request.method === 'POST' && request.url === '/v1/jobs').at(-1)!;
    expect(JSON.parse(failoverJob.body)).toMatchObject({ capacity: 'on-demand', command: ['nvidia-smi', '-L'] });
  });

  it('prints the commands that remove what it could not, and exits 1', async () => {
    deliverTerminalEvents();
    sqs
      .on(DeleteQueueCommand)
      .rejects(
        Object.assign(new Error('Access to the resource https://sqs.eu-west-1.amazonaws.com/ is denied.'), { name: 'AccessDenied' }),
      );

    const result = await smoke();

    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(
      /^FAIL cleanup: could not remove queue https:\/\/sqs\.eu-west-1\.amazonaws\.com\/123456789012\/gpujobs-smoke-\w+: Access to the resource/m,
    );
    expect(result.stdout).toMatch(
      /^ {2}aws sqs delete-queue --queue-url https:\/\/sqs\.eu-west-1\.amazonaws\.com\/123456789012\/gpujobs-smoke-\w+ --region eu-west-1$/m,
    );
    expect(eventBridge.commandCalls(DeleteRuleCommand)).toHaveLength(1);
  });

  it('FAILS the events step but still runs the jobs when the rule cannot be created, and removes the queue', async () => {
    eventBridge
      .on(PutRuleCommand)
      .rejects(Object.assign(new Error('User is not authorized to perform: events:PutRule'), { name: 'AccessDeniedException' }));

    const result = await smoke();

    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^PASS gpu /m);
    expect(result.stdout).toMatch(
      /^FAIL events: could not set up the temporary rule and queue on bus GpuJobsNotificationsEventBus1A2B3C4D: User is not authorized to perform: events:PutRule$/m,
    );
    expect(sqs.commandCalls(DeleteQueueCommand)).toHaveLength(1);
    expect(eventBridge.commandCalls(DeleteRuleCommand)).toHaveLength(0);
  });

  it('on Ctrl-C, cancels the running job, removes the rule and queue, and exits 130', async () => {
    // GIVEN a GPU job that never ends, and a Ctrl-C once the rule is in place
    api.scripts.set('nvidia-smi', [{ status: 'RUNNING', attempts: [attempt({})] }]);
    eventBridge.on(PutTargetsCommand).callsFake(() => {
      setTimeout(() => process.emit('SIGINT'), 50);
      return { FailedEntryCount: 0, FailedEntries: [] };
    });

    // WHEN
    const result = await smoke();

    // THEN
    expect(result.code).toBe(130);
    expect(api.requests.some((request) => request.method === 'POST' && request.url === '/v1/jobs/JOB0001/cancel')).toBe(true);
    expect(eventBridge.commandCalls(RemoveTargetsCommand)).toHaveLength(1);
    expect(eventBridge.commandCalls(DeleteRuleCommand)).toHaveLength(1);
    expect(sqs.commandCalls(DeleteQueueCommand)).toHaveLength(1);
    expect(result.stderr).toContain('interrupted');
    expect(process.listenerCount('SIGINT')).toBe(0);
  });
});
