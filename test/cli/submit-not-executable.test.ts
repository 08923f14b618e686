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

describe('gpujobs submit, a command no process can be started with', () => {
  it('is refused by the local check when the program is empty, naming command.0, and nothing is sent', async () => {
    const result = await cli(['submit', '--image', 'alpine:3', '--', '', 'arg'], { env: { GPUJOBS_ENDPOINT: api.url } });

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('the job spec is not valid');
    expect(result.stderr).toMatch(/^ {2}command\.0: must name the program to run/m);
    expect(api.requests).toHaveLength(0);
  });
});
