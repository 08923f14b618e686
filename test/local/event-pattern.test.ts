import { describe, expect, it } from 'vitest';
import { batchJobStateChangePattern, executionEndedPattern, type EventPattern } from '../../core/contract/event-rules.js';
import { checkEventPattern, matchesEventPattern, UnsupportedEventPatternError } from '../../local/event-pattern.js';

const SPOT_QUEUE = 'arn:aws:batch:us-east-1:000000000000:job-queue/gpujobs-spot';
const ON_DEMAND_QUEUE = 'arn:aws:batch:us-east-1:000000000000:job-queue/gpujobs-on-demand';
const STATE_MACHINE = 'arn:aws:states:us-east-1:000000000000:stateMachine:gpujobs-job-workflow';

const batchEvent = (detail: Record<string, unknown>) => ({
  version: '0',
  source: 'aws.batch',
  'detail-type': 'Batch Job State Change',
  resources: ['arn:aws:batch:us-east-1:000000000000:job/1'],
  detail: { jobName: 'gpujobs-job-1', status: 'RUNNING', ...detail },
});
const executionEvent = (detail: Record<string, unknown>) => ({
  version: '0',
  source: 'aws.states',
  'detail-type': 'Step Functions Execution Status Change',
  detail: { stateMachineArn: STATE_MACHINE, status: 'ABORTED', ...detail },
});

describe('matchesEventPattern', () => {
  it('matches a field equal to one of the listed values, in nested objects too', () => {
    const pattern = batchJobStateChangePattern([SPOT_QUEUE, ON_DEMAND_QUEUE]);
    expect(matchesEventPattern(pattern, batchEvent({ jobQueue: SPOT_QUEUE }))).toBe(true);
    expect(matchesEventPattern(pattern, batchEvent({ jobQueue: ON_DEMAND_QUEUE }))).toBe(true);
  });

  it('does not match a Batch job of another queue, another source or another detail type', () => {
    const pattern = batchJobStateChangePattern([SPOT_QUEUE]);
    expect(matchesEventPattern(pattern, batchEvent({ jobQueue: ON_DEMAND_QUEUE }))).toBe(false);
    expect(matchesEventPattern(pattern, { ...batchEvent({ jobQueue: SPOT_QUEUE }), source: 'gpujobs' })).toBe(false);
    expect(matchesEventPattern(pattern, { ...batchEvent({ jobQueue: SPOT_QUEUE }), 'detail-type': 'Batch Job Queue Blocked' })).toBe(false);
  });

  it('does not match when the event lacks a field the pattern names, or holds a scalar where the pattern nests', () => {
    const pattern = batchJobStateChangePattern([SPOT_QUEUE]);
    expect(matchesEventPattern(pattern, batchEvent({}))).toBe(false);
    expect(matchesEventPattern(pattern, { ...batchEvent({}), detail: SPOT_QUEUE })).toBe(false);
  });

  it('matches an array field when any of its elements is listed', () => {
    const pattern: EventPattern = { resources: ['arn:b'] };
    expect(matchesEventPattern(pattern, { resources: ['arn:a', 'arn:b'] })).toBe(true);
    expect(matchesEventPattern(pattern, { resources: ['arn:a'] })).toBe(false);
    expect(matchesEventPattern(pattern, { resources: [] })).toBe(false);
  });

  it('compares exactly: no type coercion, no case folding, null only matches null', () => {
    expect(matchesEventPattern({ detail: { exitCode: [1] } }, { detail: { exitCode: '1' } })).toBe(false);
    expect(matchesEventPattern({ detail: { status: ['FAILED'] } }, { detail: { status: 'failed' } })).toBe(false);
    expect(matchesEventPattern({ detail: { reason: [null] } }, { detail: { reason: null } })).toBe(true);
    expect(matchesEventPattern({ detail: { reason: [null] } }, { detail: {} })).toBe(false);
  });

  it.each(['ABORTED', 'FAILED', 'TIMED_OUT'])('matches an execution of the job workflow that ended %s', (status) => {
    expect(matchesEventPattern(executionEndedPattern(STATE_MACHINE), executionEvent({ status }))).toBe(true);
  });

  it.each(['RUNNING', 'SUCCEEDED'])('does not match an execution whose status is %s', (status) => {
    expect(matchesEventPattern(executionEndedPattern(STATE_MACHINE), executionEvent({ status }))).toBe(false);
  });

  it('does not match an execution of another state machine', () => {
    const other = 'arn:aws:states:us-east-1:000000000000:stateMachine:someone-else';
    expect(matchesEventPattern(executionEndedPattern(STATE_MACHINE), executionEvent({ stateMachineArn: other }))).toBe(false);
  });
});

describe('checkEventPattern', () => {
  it('accepts the patterns the stack deploys', () => {
    expect(() => checkEventPattern(batchJobStateChangePattern([SPOT_QUEUE, ON_DEMAND_QUEUE]))).not.toThrow();
    expect(() => checkEventPattern(executionEndedPattern(STATE_MACHINE))).not.toThrow();
  });

  it.each([
    ['prefix', { detail: { jobName: [{ prefix: 'gpujobs-' }] } }],
    ['anything-but', { source: [{ 'anything-but': 'gpujobs' }] }],
    ['exists', { detail: { jobQueue: [{ exists: true }] } }],
  ])('fails when the pattern uses the %s filter, naming the field', (_, pattern) => {
    expect(() => checkEventPattern(pattern as unknown as EventPattern)).toThrow(UnsupportedEventPatternError);
    expect(() => checkEventPattern(pattern as unknown as EventPattern)).toThrow(/content filter/);
  });

  it('fails when a field is neither a list nor an object, naming the value', () => {
    expect(() => checkEventPattern({ source: 'aws.batch' } as unknown as EventPattern)).toThrow(
      'The pattern\'s source must be a list of values or an object. Received "aws.batch".',
    );
  });
});

describe('batchJobStateChangePattern', () => {
  it('fails when given no job queue', () => {
    expect(() => batchJobStateChangePattern([])).toThrow('Received none.');
  });
});
