import { describe, expect, it } from 'vitest';
import { parseListQuery, parseLogsQuery, validateIdempotencyKey } from '../../core/queries.js';

describe('parseListQuery', () => {
  it('defaults the limit to 20 and leaves status and token absent', () => {
    expect(parseListQuery(undefined)).toEqual({ ok: true, query: { limit: 20 } });
    expect(parseListQuery(null)).toEqual({ ok: true, query: { limit: 20 } });
  });

  it('accepts a status, a limit and a token', () => {
    expect(parseListQuery({ status: 'RUNNING', limit: '100', nextToken: 'eyJrIjoxfQ==' })).toEqual({
      ok: true,
      query: { status: 'RUNNING', limit: 100, nextToken: 'eyJrIjoxfQ==' },
    });
  });

  it.each([
    [{ status: 'running' }, 'status', /one of QUEUED, .* received "running"/],
    [{ limit: '0' }, 'limit', /between 1 and 100, received "0"/],
    [{ limit: '101' }, 'limit', /received "101"/],
    [{ limit: '2.5' }, 'limit', /received "2.5"/],
    [{ limit: 'ten' }, 'limit', /received "ten"/],
    [{ limit: '' }, 'limit', /received ""/],
    [{ nextToken: '' }, 'nextToken', /previous page/],
    [{ nextToken: 'has space' }, 'nextToken', /previous page/],
    [{ nextToken: 'x'.repeat(4097) }, 'nextToken', /previous page/],
  ])('fails on %j, naming the parameter', (query, path, message) => {
    const result = parseListQuery(query);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.errors).toHaveLength(1);
      expect(result.errors[0]!.path).toBe(path);
      expect(result.errors[0]!.message).toMatch(message);
    }
  });

  it('reports each bad parameter once', () => {
    const result = parseListQuery({ status: 'DONE', limit: '0', nextToken: '' });
    expect(result.ok ? [] : result.errors.map((error) => error.path)).toEqual(['status', 'limit', 'nextToken']);
  });

  it('accepts a token of exactly 4096 characters', () => {
    expect(parseListQuery({ nextToken: 'x'.repeat(4096) }).ok).toBe(true);
  });
});

describe('parseLogsQuery', () => {
  it('defaults the limit to 200', () => {
    expect(parseLogsQuery({})).toEqual({ ok: true, query: { limit: 200 } });
  });

  it('accepts limits from 1 to 1000 and a CloudWatch-style token', () => {
    expect(parseLogsQuery({ limit: '1' })).toEqual({ ok: true, query: { limit: 1 } });
    expect(parseLogsQuery({ limit: '1000', nextToken: 'f/38591234567890123456/s' })).toEqual({
      ok: true,
      query: { limit: 1000, nextToken: 'f/38591234567890123456/s' },
    });
  });

  it('fails on a limit of 1001', () => {
    expect(parseLogsQuery({ limit: '1001' })).toEqual({
      ok: false,
      errors: [{ path: 'limit', message: 'must be an integer between 1 and 1000, received "1001"' }],
    });
  });

  it('defaults the limit when API Gateway passes no parameters at all (null)', () => {
    expect(parseLogsQuery(null)).toEqual({ ok: true, query: { limit: 200 } });
  });
});

describe('validateIdempotencyKey', () => {
  it.each(['a', 'k'.repeat(128), 'build-1234 / attempt #2', '~!@#$%^&*()'])('accepts %j', (key) => {
    expect(validateIdempotencyKey(key)).toEqual({ ok: true, key });
  });

  it.each(['', 'k'.repeat(129), 'tab\there', 'naïve', 'line\nbreak'])('rejects %j', (key) => {
    const result = validateIdempotencyKey(key);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors[0]!.path).toBe('Idempotency-Key');
  });

  it('names a key too long by its length and another bad key by its value', () => {
    expect(validateIdempotencyKey('k'.repeat(129))).toEqual({
      ok: false,
      errors: [{ path: 'Idempotency-Key', message: 'must be 1 to 128 printable ASCII characters, received 129 characters' }],
    });
    expect(validateIdempotencyKey('tab\there')).toEqual({
      ok: false,
      errors: [{ path: 'Idempotency-Key', message: 'must be 1 to 128 printable ASCII characters, received "tab\\there"' }],
    });
  });
});
