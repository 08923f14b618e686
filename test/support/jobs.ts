/** Job specs and ids for tests. */
import { randomUUID } from 'node:crypto';
import type { JobSpec } from '../../core/job.js';
import { newJobId } from '../../core/job-id.js';

export function aJobSpec(overrides: Partial<JobSpec> = {}): JobSpec {
  return {
    image: 'public.ecr.aws/docker/library/python:3.12',
    command: ['python', '-c', 'print("hello")'],
    environment: {},
    tags: {},
    gpus: 1,
    vcpus: 4,
    memoryMiB: 16384,
    capacity: 'spot-first',
    maxSpotAttempts: 3,
    timeoutSeconds: 86400,
    ...overrides,
  };
}

/** A unique owner per test keeps tests on one table independent. */
export const anOwner = () => `arn:aws:iam::123456789012:user/test-${randomUUID()}`;

/** An id as the API makes them; pass a time to control the order of ids. */
export const aJobId = (at?: Date) => newJobId(at);
