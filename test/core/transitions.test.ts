import { describe, expect, it } from 'vitest';
import { JOB_STATUSES, type JobRecord, type JobStatus } from '../../core/job.js';
import {
  allowedFrom,
  applyTransition,
  assertTransition,
  canTransition,
  InvalidTransitionError,
  TERMINAL_DETAIL_TYPE,
} from '../../core/transitions.js';
import { aJobRecord } from '../support/jobs.js';

// The table from the issue, written out independently of the implementation.
const ALLOWED: [JobStatus, JobStatus][] = [
  ['QUEUED', 'PENDING'],
  ['QUEUED', 'CANCELLED'],
  ['QUEUED', 'FAILED'],
  ['PENDING', 'RUNNING'],
  ['PENDING', 'PENDING'],
  ['PENDING', 'SUCCEEDED'],
  ['PENDING', 'FAILED'],
  ['PENDING', 'CANCELLED'],
  ['RUNNING', 'PENDING'],
  ['RUNNING', 'SUCCEEDED'],
  ['RUNNING', 'FAILED'],
  ['RUNNING', 'CANCELLED'],
];
const isAllowed = (from: JobStatus, to: JobStatus) => ALLOWED.some(([f, t]) => f === from && t === to);
const everyPair = JOB_STATUSES.flatMap((from) => JOB_STATUSES.map((to) => [from, to] as [JobStatus, JobStatus]));

describe('the transition table', () => {
  it.each(everyPair)('%s → %s is allowed only when the table says so', (from, to) => {
    expect(canTransition(from, to)).toBe(isAllowed(from, to));
  });

  it.each(['SUCCEEDED', 'FAILED', 'CANCELLED'] as const)('%s is absorbing: nothing follows it', (terminal) => {
    expect(JOB_STATUSES.filter((to) => canTransition(terminal, to))).toEqual([]);
  });

  it('never allows a job back to QUEUED', () => {
    expect(allowedFrom('QUEUED')).toEqual([]);
  });

  it('lets an interrupted running job wait again', () => {
    expect(canTransition('RUNNING', 'PENDING')).toBe(true);
  });

  it('does not let a late RUNNING event overwrite a finished job', () => {
    expect(allowedFrom('RUNNING')).toEqual(['PENDING']);
  });

  it.each(JOB_STATUSES)('allowedFrom(%s) is exactly the statuses with an edge into it', (to) => {
    const expected = JOB_STATUSES.filter((from) => isAllowed(from, to));
    expect(allowedFrom(to)).toEqual(expected);
  });

  it('maps each terminal status to its event detail type', () => {
    expect(TERMINAL_DETAIL_TYPE).toEqual({
      SUCCEEDED: 'GPU Job Succeeded',
      FAILED: 'GPU Job Failed',
      CANCELLED: 'GPU Job Cancelled',
    });
  });
});

describe('InvalidTransitionError', () => {
  it('fails with a named error that says the job is already finished', () => {
    let caught: unknown;
    try {
      assertTransition('SUCCEEDED', 'RUNNING');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InvalidTransitionError);
    expect(caught).toMatchObject({ name: 'InvalidTransitionError', from: 'SUCCEEDED', to: 'RUNNING' });
    expect((caught as Error).message).toMatch(/already SUCCEEDED/);
  });

  it('lists the allowed next statuses for a non-terminal job', () => {
    expect(() => assertTransition('QUEUED', 'RUNNING')).toThrow(/from QUEUED it may become PENDING, CANCELLED, FAILED/);
  });
});

describe('applyTransition', () => {
  const record: JobRecord = aJobRecord({
    jobId: '01JABC',
    name: 'demo',
    status: 'RUNNING',
    image: 'ubuntu',
    command: ['true'],
    environment: {},
    tags: {},
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    version: 4,
  });

  it('bumps the version and stamps the update', () => {
    const next = applyTransition(record, 'SUCCEEDED', '2026-01-01T01:00:00.000Z', { exitCode: 0, finishedAt: '2026-01-01T01:00:00.000Z' });
    expect(next).toMatchObject({ status: 'SUCCEEDED', version: 5, updatedAt: '2026-01-01T01:00:00.000Z', exitCode: 0 });
    expect(record.status).toBe('RUNNING');
  });

  it('fails on a transition the table forbids', () => {
    expect(() => applyTransition({ ...record, status: 'FAILED' }, 'CANCELLED', 'now')).toThrow(InvalidTransitionError);
  });
});
