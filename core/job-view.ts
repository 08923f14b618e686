/**
 * The job as callers see it, and new job ids.
 */
import { randomBytes } from 'node:crypto';
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

// Crockford base32: no I, L, O or U, so ids survive being read aloud or retyped.
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const TIME_LENGTH = 10;
const RANDOM_LENGTH = 16;
const MAX_TIME = 2 ** 48 - 1;

/**
 * A ULID-shaped id: 10 characters of millisecond time then 16 of randomness (80
 * bits), Crockford base32, 26 characters. Ids sort by creation time as strings;
 * two ids in the same millisecond collide with probability 2^-80.
 */
export function newJobId(now: Date = new Date()): string {
  const time = now.getTime();
  if (!Number.isInteger(time) || time < 0 || time > MAX_TIME) throw new RangeError(`newJobId needs a time between 1970 and 10889, received ${String(now)}`);
  let timePart = '';
  let remaining = time;
  for (let i = 0; i < TIME_LENGTH; i++) {
    timePart = CROCKFORD[remaining % 32]! + timePart;
    remaining = Math.floor(remaining / 32);
  }
  // 10 random bytes = 80 bits = 16 base32 characters, 5 bits at a time.
  const bytes = randomBytes(10);
  let bits = 0n;
  for (const byte of bytes) bits = (bits << 8n) | BigInt(byte);
  let randomPart = '';
  for (let i = 0; i < RANDOM_LENGTH; i++) {
    randomPart = CROCKFORD[Number(bits & 31n)]! + randomPart;
    bits >>= 5n;
  }
  return timePart + randomPart;
}

const JOB_ID = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;

/** Whether a string has the shape of an id newJobId makes (a path parameter check). */
export function isJobId(value: string): boolean {
  return JOB_ID.test(value);
}

/** When the id was made (its time prefix). */
export function jobIdTime(jobId: string): Date | undefined {
  if (!isJobId(jobId)) return undefined;
  let time = 0;
  for (const character of jobId.slice(0, TIME_LENGTH)) time = time * 32 + CROCKFORD.indexOf(character);
  return new Date(time);
}
