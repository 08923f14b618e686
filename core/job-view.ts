/**
 * The job as callers see it.
 */
import type { Attempt, Job, JobRecord } from './job.js';

const JOB_FIELDS = [
  'jobId',
  'name',
  'owner',
  'status',
  'statusReason',
  'image',
  'command',
  'environment',
  'tags',
  'gpus',
  'vcpus',
  'memoryMiB',
  'sharedMemoryMiB',
  'capacity',
  'maxSpotAttempts',
  'timeoutSeconds',
  'createdAt',
  'updatedAt',
  'startedAt',
  'finishedAt',
  'exitCode',
  'costUsd',
] as const satisfies readonly (keyof Job)[];

const ATTEMPT_FIELDS = [
  'attempt',
  'capacity',
  'status',
  'failureClass',
  'batchJobId',
  'instanceType',
  'startedAt',
  'stoppedAt',
  'exitCode',
  'statusReason',
  'costUsd',
] as const satisfies readonly (keyof Attempt)[];

function pick<T extends object, K extends keyof T>(source: T, keys: readonly K[]): Pick<T, K> {
  const picked: Partial<Pick<T, K>> = {};
  for (const key of keys) if (source[key] !== undefined) picked[key] = source[key];
  return picked as Pick<T, K>;
}

/**
 * The contract's job object. Built from a list of public fields rather than by
 * deleting private ones, so a field added to the record stays private until it is
 * added here on purpose.
 */
export function toPublicJob(record: JobRecord): Job {
  const attempts = [...record.attempts].sort((a, b) => a.attempt - b.attempt).map((attempt) => pick(attempt, ATTEMPT_FIELDS));
  return { ...pick(record, JOB_FIELDS), attempts } as Job;
}
