import type { StateMachineDefinition } from 'aws-local-stepfunctions';
import { describe, expect, it } from 'vitest';
import { STATE } from '../../core/contract/workflow.js';
import type { SdkCall } from '../../bench/support/sdk-call-counter.js';
import type { SynthesizedTemplate } from '../../bench/support/template.js';
import {
  accessLogLineBytes,
  BATCH_EVENT_STATUSES_PER_ATTEMPT,
  batchEventsPerAttempt,
  dynamoUsage,
  EVENT_SOURCE_REQUESTS_PER_JOB,
  perJobCount,
  perJobUsage,
} from '../../bench/support/usage-model.js';

const dynamo = (command: string, input: Record<string, unknown> = {}): SdkCall => ({ client: 'DynamoDBDocumentClient', command, input });
const template = (resources: SynthesizedTemplate['Resources']): SynthesizedTemplate => ({ Resources: resources });
const batchRule = (status?: string[]) =>
  template({
    Rule: { Type: 'AWS::Events::Rule', Properties: { EventPattern: { source: ['aws.batch'], ...(status ? { detail: { status } } : {}) } } },
  });

describe('dynamoUsage', () => {
  it('counts reads and writes per job, and ignores other clients', () => {
    // GIVEN two jobs' calls: three writes, two reads, and an SQS send
    const calls = [
      dynamo('PutCommand', { Item: { pk: 'JOB#1' } }),
      dynamo('UpdateCommand', { Key: { pk: 'JOB#1' } }),
      dynamo('UpdateCommand', { Key: { pk: 'JOB#2' } }),
      dynamo('GetCommand', { ConsistentRead: true }),
      dynamo('QueryCommand'),
      { client: 'SQSClient', command: 'SendMessageCommand', input: {} },
    ];
    // WHEN counted with 1 KiB items and two indexes
    const usage = dynamoUsage(calls, 1024, 2, 2);
    // THEN each job averages 1.5 writes, each billed to the table and both indexes, and 1 read
    expect(usage.writesPerJob).toBe(1.5);
    expect(usage.readsPerJob).toBe(1);
    expect(usage.wruPerJob).toBe(4.5);
    // one strongly consistent read (1 RRU) and one eventually consistent (0.5 RRU), over two jobs
    expect(usage.rruPerJob).toBe(0.75);
  });

  it('bills a write to an item that is not a job to the table only', () => {
    const usage = dynamoUsage([dynamo('PutCommand', { Item: { pk: 'OWNER#alice' } })], 1024, 2, 1);
    expect(usage.wruPerJob).toBe(1);
  });

  it('bills a write whose key it cannot read as a job item, the higher cost', () => {
    expect(dynamoUsage([dynamo('DeleteCommand')], 1024, 2, 1).wruPerJob).toBe(3);
  });
});

describe('perJobCount', () => {
  const calls: SdkCall[] = [
    { client: 'EventBridgeClient', command: 'PutEventsCommand', input: { Entries: [{}, {}] } },
    { client: 'EventBridgeClient', command: 'PutEventsCommand', input: {} },
    { client: 'SQSClient', command: 'PutEventsCommand', input: { Entries: [{}] } },
  ];

  it('counts calls of the client and commands named', () => {
    expect(perJobCount(calls, 'EventBridgeClient', ['PutEventsCommand'], 2)).toBe(1);
  });

  it('counts the entries a batch carries, one for a call without them', () => {
    expect(perJobCount(calls, 'EventBridgeClient', ['PutEventsCommand'], 1, 'Entries')).toBe(3);
  });
});

describe('batchEventsPerAttempt', () => {
  it('counts every state change when the rule filters no status', () => {
    expect(batchEventsPerAttempt(batchRule())).toBe(BATCH_EVENT_STATUSES_PER_ATTEMPT.length);
  });

  it('counts only the statuses the rule forwards, a final status once', () => {
    expect(batchEventsPerAttempt(batchRule(['RUNNING', 'SUCCEEDED', 'FAILED']))).toBe(2);
  });
});

describe('accessLogLineBytes', () => {
  it('is the byte length of the stage format, 0 without access logs', () => {
    const stage = (Properties: Record<string, unknown>) => template({ Stage: { Type: 'AWS::ApiGatewayV2::Stage', Properties } });
    expect(accessLogLineBytes(stage({ AccessLogSettings: { Format: '{"id":"é"}' } }))).toBe(11);
    expect(accessLogLineBytes(stage({}))).toBe(0);
  });
});

describe('perJobUsage', () => {
  const definition = {
    StartAt: STATE.prepare,
    States: { [STATE.prepare]: { Type: 'Task' }, [STATE.finish]: { Type: 'Task' }, Done: { Type: 'Succeed' } },
  } as unknown as StateMachineDefinition;
  const lines = perJobUsage({
    path: { transitions: 5, statesEntered: [STATE.prepare, STATE.runOnSpot, STATE.settleAttempt, STATE.finish, 'Done'], attempts: 1 },
    measured: {
      jobs: 2,
      calls: [{ client: 'SQSClient', command: 'SendMessageCommand', input: {} }],
      handlerLogBytes: 2000,
      itemBytes: 1024,
    },
    functions: [],
    definition,
    template: batchRule(['SUCCEEDED']),
    gsiCount: 2,
  });
  const quantity = (item: string) => lines.find((line) => line.item === item)?.quantity;

  it('bills the transitions of the path taken', () => {
    expect(quantity('Step Functions state transitions')).toBe(5);
  });

  it('invokes api, dispatcher, each task state once and batch-events per forwarded event', () => {
    // api 1 + dispatcher 1 + prepare 1 + settleAttempt 1 + finish 1 + batchEvents 1 (one attempt, one forwarded status)
    expect(quantity('Lambda requests')).toBe(6);
  });

  it('adds the event source requests to the measured sends', () => {
    expect(quantity('SQS requests')).toBe(0.5 + EVENT_SOURCE_REQUESTS_PER_JOB);
  });
});
