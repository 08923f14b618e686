import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startFakeApi, type FakeApi } from './fake-api.js';
import { cli } from './run-cli.js';

let api: FakeApi;
beforeEach(async () => {
  api = await startFakeApi();
});
afterEach(async () => {
  await api.stop();
});

describe('gpujobs submit, a job longer than AWS Batch takes', () => {
  it('is refused by the local check, naming the field and the limit, and nothing is sent', async () => {
    const result = await cli(
      ['submit', '--image', 'alpine:3', '--env', `A=${'a'.repeat(4096)}`, '--env', `B=${'b'.repeat(4000)}`, '--', 'true'],
      {
        env: { GPUJOBS_ENDPOINT: api.url },
      },
    );

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('the job spec is not valid');
    expect(result.stderr).toMatch(
      /^ {2}environment: command and environment together must take at most 7168 characters .*container overrides limit of 8192/m,
    );
    expect(api.requests).toHaveLength(0);
  });
});
