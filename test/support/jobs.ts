/**
 * Jobs for tests: specs over the contract's defaults (JOB_SPEC_DEFAULTS), stored records, attempts,
 * owners and ids. Every test builds its jobs here and overrides only what it is about.
 */
import { randomUUID } from 'node:crypto';
import type { Attempt, JobRecord, JobSpec } from '../../core/job.js';
import { newJobId } from '../../core/job-id.js';
import { JOB_SPEC_DEFAULTS } from '../../core/spec.js';

/** A spec as the API accepts it: the contract's defaults, a public image and a command. */
export function aJobSpec(overrides: Partial<JobSpec> = {}): JobSpec {
  return {
    ...JOB_SPEC_DEFAULTS,
    image: 'public.ecr.aws/docker/library/python:3.12',
    command: ['python', '-c', 'print("hello")'],
    ...overrides,
  };
}

/** The id of the record aJobRecord builds unless told otherwise. */
export const SAMPLE_JOB_ID = '01JD7ZK6E8Q6V0YF3W4H2Z9X1M';

/**
 * A stored job, PENDING, on aJobSpec with an environment variable and a tag (so views and events
 * that carry them show them); override what a test is about.
 */
export function aJobRecord(overrides: Partial<JobRecord> = {}): JobRecord {
  return {
    ...aJobSpec({ environment: { EPOCHS: '10' }, tags: { team: 'ml' } }),
    jobId: SAMPLE_JOB_ID,
    name: 'train-resnet',
    owner: 'arn:aws:iam::123456789012:user/alice',
    status: 'PENDING',
    createdAt: '2026-11-01T10:00:00.000Z',
    updatedAt: '2026-11-01T10:00:00.000Z',
    attempts: [],
    costUsd: 0,
    version: 1,
    ...overrides,
  };
}

/** An attempt that failed on Spot unless told otherwise. */
export function anAttempt(overrides: Partial<Attempt> & Pick<Attempt, 'attempt'>): Attempt {
  return { capacity: 'spot', status: 'FAILED', ...overrides };
}

/** A unique owner per test keeps tests on one table independent. */
export const anOwner = () => `arn:aws:iam::123456789012:user/test-${randomUUID()}`;

/** An id as the API makes them; pass a time to control the order of ids. */
export const aJobId = (at?: Date) => newJobId(at);
