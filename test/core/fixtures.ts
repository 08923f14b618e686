import type { Attempt, JobRecord } from '../../core/job.js';

/** A stored job with the contract's defaults; override what a test is about. */
export function jobRecord(overrides: Partial<JobRecord> = {}): JobRecord {
  return {
    jobId: '01JD7ZK6E8Q6V0YF3W4H2Z9X1M',
    name: 'train-resnet',
    owner: 'arn:aws:iam::123456789012:user/alice',
    status: 'PENDING',
    image: 'pytorch/pytorch:2.3',
    command: ['python', 'train.py'],
    environment: { EPOCHS: '10' },
    tags: { team: 'ml' },
    gpus: 1,
    vcpus: 4,
    memoryMiB: 16384,
    capacity: 'spot-first',
    maxSpotAttempts: 3,
    timeoutSeconds: 86400,
    createdAt: '2026-11-01T10:00:00.000Z',
    updatedAt: '2026-11-01T10:00:00.000Z',
    attempts: [],
    costUsd: 0,
    version: 1,
    ...overrides,
  };
}

export function attempt(overrides: Partial<Attempt> & Pick<Attempt, 'attempt'>): Attempt {
  return { capacity: 'spot', status: 'FAILED', ...overrides };
}
