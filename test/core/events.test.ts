import { describe, expect, it } from 'vitest';
import { buildJobEvent } from '../../core/events.js';
import { InvalidTransitionError } from '../../core/transitions.js';
import { anAttempt, aJobRecord } from '../support/jobs.js';

describe('buildJobEvent', () => {
  it('announces a non-terminal transition with one status-change event', () => {
    // GIVEN a job that just started running
    const record = aJobRecord({ status: 'RUNNING', attempts: [anAttempt({ attempt: 1, capacity: 'spot', status: 'RUNNING' })] });
    // WHEN its events are built
    const events = buildJobEvent(record, 'PENDING');
    // THEN one status change with the contract's detail
    expect(events).toEqual([
      {
        detailType: 'GPU Job Status Change',
        detail: {
          schemaVersion: '1',
          jobId: '01JD7ZK6E8Q6V0YF3W4H2Z9X1M',
          name: 'train-resnet',
          owner: 'arn:aws:iam::123456789012:user/alice',
          status: 'RUNNING',
          previousStatus: 'PENDING',
          attempts: 1,
          capacity: 'spot',
          costUsd: 0,
          tags: { team: 'ml' },
        },
      },
    ]);
  });

  it.each([
    ['SUCCEEDED', 'GPU Job Succeeded'],
    ['FAILED', 'GPU Job Failed'],
    ['CANCELLED', 'GPU Job Cancelled'],
  ] as const)('adds exactly one terminal event on %s', (status, detailType) => {
    const record = aJobRecord({
      status,
      statusReason: 'Completed on attempt 2 (On-Demand)',
      exitCode: 0,
      costUsd: 1.25,
      attempts: [
        anAttempt({ attempt: 2, capacity: 'on-demand' }),
        anAttempt({ attempt: 1, capacity: 'spot', failureClass: 'SPOT_RECLAIM' }),
      ],
    });
    const events = buildJobEvent(record, 'RUNNING');
    expect(events.map((event) => event.detailType)).toEqual(['GPU Job Status Change', detailType]);
    expect(events[1]!.detail).toMatchObject({
      status,
      previousStatus: 'RUNNING',
      statusReason: 'Completed on attempt 2 (On-Demand)',
      exitCode: 0,
      attempts: 2,
      capacity: 'on-demand',
      costUsd: 1.25,
    });
  });

  it('announces a cancel of a queued job, which has no attempt and no capacity', () => {
    const events = buildJobEvent(aJobRecord({ status: 'CANCELLED' }), 'QUEUED');
    expect(events).toHaveLength(2);
    expect(events[1]!.detail).toMatchObject({ attempts: 0, previousStatus: 'QUEUED' });
    expect(events[1]!.detail).not.toHaveProperty('capacity');
  });

  it('fails rather than announce a change the table forbids (a second terminal event)', () => {
    expect(() => buildJobEvent(aJobRecord({ status: 'FAILED' }), 'SUCCEEDED')).toThrow(InvalidTransitionError);
  });

  it('leaves no internal field in the detail', () => {
    const record = aJobRecord({ status: 'SUCCEEDED', version: 9, cancelRequested: true, executionArn: 'arn:x', requestHash: 'abc' });
    const detail = buildJobEvent(record, 'RUNNING')[1]!.detail;
    for (const key of ['version', 'cancelRequested', 'executionArn', 'requestHash', 'image', 'command', 'environment']) {
      expect(detail).not.toHaveProperty(key);
    }
  });
});
