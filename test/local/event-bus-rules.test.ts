import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EventPattern } from '../../core/contract/event-rules.js';
import { LocalEventBus, type EventEnvelope } from '../../local/event-bus.js';
import { UnsupportedEventPatternError } from '../../local/event-pattern.js';
import { BATCH_EVENTS_RULE, EXECUTION_ENDED_RULE, handlerRules } from '../../local/handler-rules.js';
import type { LocalLogger } from '../../local/logger.js';

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined } as unknown as LocalLogger;
const SPOT_QUEUE = 'arn:aws:batch:us-east-1:000000000000:job-queue/gpujobs-spot';
const STATE_MACHINE = 'arn:aws:states:us-east-1:000000000000:stateMachine:gpujobs-job-workflow';
let directory: string;
let bus: LocalEventBus;

beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), 'gpujobs-bus-rules-'));
  bus = new LocalEventBus({
    eventLogFile: join(directory, 'events.jsonl'),
    busName: 'gpujobs',
    webhookUrls: [],
    account: '000000000000',
    region: 'us-east-1',
    logger: silent,
  });
});
afterEach(async () => {
  await bus.close();
  rmSync(directory, { recursive: true, force: true });
});

describe('LocalEventBus rules', () => {
  it('delivers to each handler only the service events its stack pattern matches', async () => {
    // GIVEN the handler rules for one job queue and the job workflow
    const delivered: Record<string, EventEnvelope[]> = { [BATCH_EVENTS_RULE]: [], [EXECUTION_ENDED_RULE]: [] };
    for (const rule of handlerRules({
      jobQueueArns: [SPOT_QUEUE],
      stateMachineArn: STATE_MACHINE,
      deliverBatchEvent: async (event) => delivered[BATCH_EVENTS_RULE]!.push(event),
      deliverExecutionEnded: async (event) => delivered[EXECUTION_ENDED_RULE]!.push(event),
    })) {
      bus.addRule(rule);
    }
    // WHEN Batch and Step Functions publish events, some of other queues, machines or statuses
    bus.publishServiceEvent('aws.batch', 'Batch Job State Change', { jobName: 'ours', jobQueue: SPOT_QUEUE, status: 'RUNNING' }, []);
    bus.publishServiceEvent(
      'aws.batch',
      'Batch Job State Change',
      { jobName: 'theirs', jobQueue: `${SPOT_QUEUE}-other`, status: 'RUNNING' },
      [],
    );
    bus.publishServiceEvent(
      'aws.states',
      'Step Functions Execution Status Change',
      { executionArn: 'e1', stateMachineArn: STATE_MACHINE, status: 'ABORTED' },
      [],
    );
    bus.publishServiceEvent(
      'aws.states',
      'Step Functions Execution Status Change',
      { executionArn: 'e2', stateMachineArn: STATE_MACHINE, status: 'SUCCEEDED' },
      [],
    );
    bus.publishServiceEvent(
      'aws.states',
      'Step Functions Execution Status Change',
      { executionArn: 'e3', stateMachineArn: `${STATE_MACHINE}-other`, status: 'FAILED' },
      [],
    );
    await bus.drain();
    // THEN only the matching ones reached the handlers
    expect(delivered[BATCH_EVENTS_RULE]!.map((event) => event.detail.jobName)).toEqual(['ours']);
    expect(delivered[EXECUTION_ENDED_RULE]!.map((event) => event.detail.executionArn)).toEqual(['e1']);
  });

  it('fails to add a rule whose pattern uses a filter local mode does not match', () => {
    const pattern = { source: [{ prefix: 'aws.' }] } as unknown as EventPattern;
    expect(() => bus.addRule({ name: 'prefixed', pattern, orderingKey: () => 'k', deliver: async () => undefined })).toThrow(
      UnsupportedEventPatternError,
    );
  });
});
