import { afterEach, describe, expect, it, vi } from 'vitest';
import type { MiddlewareObj } from '@middy/core';
import { ConfigurationError } from '../../lambdas/shared/config.js';
import { jobFunctionFromEnvironment, publisherFromEnvironment } from '../../lambdas/shared/event-wiring.js';
import { functionLogger, handlerWith, jobStoreFromEnvironment } from '../../lambdas/shared/wiring.js';
import { lambdaContext } from './handler-fixtures.js';

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('the handlers’ shared wiring', () => {
  it('fails when TABLE_NAME is unset, naming it', () => {
    vi.stubEnv('TABLE_NAME', '');

    expect(() => jobStoreFromEnvironment()).toThrow(ConfigurationError);
    expect(() => jobStoreFromEnvironment()).toThrow(/TABLE_NAME/);
  });

  it('fails when EVENT_BUS_NAME is unset, naming it', () => {
    vi.stubEnv('EVENT_BUS_NAME', '');

    expect(() => publisherFromEnvironment()).toThrow(/EVENT_BUS_NAME/);
  });

  it('checks the table before the bus, the order the handlers always read them in', () => {
    vi.stubEnv('TABLE_NAME', '');
    vi.stubEnv('EVENT_BUS_NAME', '');

    expect(() => jobFunctionFromEnvironment('gpujobs-test')).toThrow(/TABLE_NAME/);
  });

  it('takes a table or bus name the function was given instead of reading the variable', () => {
    vi.stubEnv('TABLE_NAME', '');
    vi.stubEnv('EVENT_BUS_NAME', '');

    expect(() => jobStoreFromEnvironment('jobs')).not.toThrow();
    expect(() => publisherFromEnvironment('bus')).not.toThrow();
  });

  it('runs the function with its event and context and returns its result', async () => {
    // GIVEN
    const fn = vi.fn(async (event: { readonly n: number }) => ({ doubled: event.n * 2 }));
    const handler = handlerWith(fn, { logger: functionLogger('gpujobs-test') });
    const context = lambdaContext('wiring');

    // WHEN
    const result = await handler({ n: 21 }, context);

    // THEN
    expect(result).toEqual({ doubled: 42 });
    expect(fn).toHaveBeenCalledWith({ n: 21 }, context, expect.anything());
  });

  it('lets a middleware answer for a failed function (an HTTP edge mapping its errors)', async () => {
    // GIVEN a function that fails and a middleware that turns failures into an answer
    const answering: MiddlewareObj = {
      onError: async (request) => {
        request.response = { mapped: (request.error as Error).message };
      },
    };
    const handler = handlerWith(async () => Promise.reject(new Error('boom')), {
      logger: functionLogger('gpujobs-test'),
      middlewares: [answering],
    });

    // WHEN
    const result = await handler({}, lambdaContext('wiring'));

    // THEN
    expect(result).toEqual({ mapped: 'boom' });
  });
});
