/**
 * A listing nextToken whose keys DynamoDB would refuse is the caller's mistake: keys are limited
 * in UTF-8 bytes, so a token of few characters but many bytes is refused before it reaches the table.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JOB_TABLE } from '../../core/table.js';
import { aJobId, aJobSpec, anOwner } from '../support/jobs.js';
import { startApi, type ApiHarness } from './harness.js';

let api: ApiHarness;

beforeAll(async () => {
  api = await startApi();
});
afterAll(async () => api.stop());

const decode = (token: string) => JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Record<string, string>;
const encode = (key: Record<string, string>) => Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');

describe('a forged listing nextToken', () => {
  it.each([JOB_TABLE.indexes.byOwner.sortKey, JOB_TABLE.sortKey])(
    'answers 400 naming nextToken when %s is within 1,024 characters but over 1,024 bytes',
    async (keyName) => {
      const owner = anOwner();
      for (let index = 0; index < 2; index++) {
        await api.store.createJob({ jobId: aJobId(), owner, spec: aJobSpec(), now: '2026-03-01T12:00:00.000Z' });
      }
      const first = await api.call({ method: 'GET', path: '/v1/jobs', query: { limit: '1' }, principalArn: owner });
      const key = decode(first.body.nextToken);
      expect(key).toHaveProperty(keyName);

      const forged = encode({ ...key, [keyName]: 'é'.repeat(600) });
      const response = await api.call({ method: 'GET', path: '/v1/jobs', query: { nextToken: forged }, principalArn: owner });

      expect(response.statusCode).toBe(400);
      expect(response.body.errors).toEqual([{ path: 'nextToken', message: expect.any(String) }]);
    },
  );
});
