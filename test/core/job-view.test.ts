import { describe, expect, it } from 'vitest';
import { toPublicJob } from '../../core/job-view.js';
import type { Attempt } from '../../core/job.js';
import { anAttempt, aJobRecord } from '../support/jobs.js';

describe('toPublicJob', () => {
  it('drops bookkeeping fields and internal attempt fields', () => {
    // GIVEN a stored record with private fields, and an attempt carrying its log stream
    const withLogStream = { ...anAttempt({ attempt: 1, batchJobId: 'b-1' }), logStreamName: 'gpujobs/default/abc' } as Attempt;
    const record = aJobRecord({
      version: 7,
      cancelRequested: true,
      executionArn: 'arn:aws:states:us-east-1:123456789012:execution:gpujobs:01J',
      requestHash: 'f'.repeat(64),
      terminalEvent: { writer: 'api', previousStatus: 'QUEUED', published: false },
      attempts: [withLogStream],
    });
    // WHEN shown to a caller
    const job = toPublicJob(record);
    // THEN none of them is visible
    for (const key of ['version', 'cancelRequested', 'executionArn', 'requestHash', 'terminalEvent']) expect(job).not.toHaveProperty(key);
    expect(job.attempts[0]).not.toHaveProperty('logStreamName');
    expect(job.attempts[0]).toMatchObject({ attempt: 1, batchJobId: 'b-1' });
  });

  it('keeps every public field of the contract', () => {
    const record = aJobRecord({
      status: 'SUCCEEDED',
      statusReason: 'Completed on attempt 1 (Spot)',
      startedAt: '2026-11-01T10:05:00.000Z',
      finishedAt: '2026-11-01T11:05:00.000Z',
      exitCode: 0,
      costUsd: 0.4,
    });
    const { version: _version, ...publicPart } = record;
    expect(toPublicJob(record)).toEqual(publicPart);
  });

  it('orders attempts by number', () => {
    const record = aJobRecord({ attempts: [anAttempt({ attempt: 3 }), anAttempt({ attempt: 1 }), anAttempt({ attempt: 2 })] });
    expect(toPublicJob(record).attempts.map((a) => a.attempt)).toEqual([1, 2, 3]);
  });

  it('does not include absent optional fields as undefined', () => {
    expect(Object.values(toPublicJob(aJobRecord())).includes(undefined)).toBe(false);
  });
});
