/**
 * Job ids: minted when a job is submitted, checked when a path names one.
 */
import { randomBytes } from 'node:crypto';

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
  if (!Number.isInteger(time) || time < 0 || time > MAX_TIME)
    throw new RangeError(`newJobId needs a time between 1970 and 10889, received ${String(now)}`);
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
