import { describe, expect, it } from 'vitest';
import { isJobId, jobIdTime, newJobId } from '../../core/job-id.js';

describe('newJobId', () => {
  it('makes 26-character URL-safe ids', () => {
    const id = newJobId();
    expect(id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(encodeURIComponent(id)).toBe(id);
    expect(isJobId(id)).toBe(true);
  });

  it('sorts ids by creation time', () => {
    const times = [0, 1, 31, 32, 1_000, 1_700_000_000_000, 1_700_000_000_001, 1_800_000_000_000, 2 ** 48 - 1];
    const ids = times.map((ms) => newJobId(new Date(ms)));
    expect([...ids].sort()).toEqual(ids);
  });

  it('encodes the creation time in its prefix', () => {
    const now = new Date('2026-11-22T02:30:00.123Z');
    expect(jobIdTime(newJobId(now))?.toISOString()).toBe(now.toISOString());
  });

  it('makes unique ids within one millisecond', () => {
    const now = new Date();
    const ids = new Set(Array.from({ length: 10_000 }, () => newJobId(now)));
    expect(ids.size).toBe(10_000);
  });

  it('fails on a time it cannot encode', () => {
    expect(() => newJobId(new Date(Number.NaN))).toThrow(RangeError);
  });

  it.each([
    '',
    '01JD7ZK6E8Q6V0YF3W4H2Z9X1',
    '01JD7ZK6E8Q6V0YF3W4H2Z9X1MM',
    '01jd7zk6e8q6v0yf3w4h2z9x1m',
    '01JD7ZK6E8Q6V0YF3W4H2Z9X1U',
    '../../etc/passwd',
  ])('does not take %j for a job id', (value) => {
    expect(isJobId(value)).toBe(false);
  });
});
