import middy from '@middy/core';
import { describe, expect, it } from 'vitest';
import { HttpProblem, PROBLEM_TYPES, problemDetails } from '../../lambdas/api/problem.js';
import { lambdaContext, parseResponse } from '../support/api-gateway.js';

const silentLogger = { error: () => {} };

function failingWith(error: unknown) {
  return middy(async () => {
    throw error;
  }).use(problemDetails({ logger: silentLogger }));
}

describe('problem details middleware', () => {
  it('renders an HttpProblem with its status, type, detail, errors and headers', async () => {
    const handler = failingWith(new HttpProblem(PROBLEM_TYPES.serviceUnavailable, 'Retry later.', { headers: { 'retry-after': '1' } }));

    const response = parseResponse((await handler({}, lambdaContext())) as never);

    expect(response).toEqual({
      statusCode: 503,
      headers: { 'retry-after': '1', 'content-type': 'application/problem+json' },
      body: {
        type: 'urn:gpujobs:problem:service-unavailable',
        title: PROBLEM_TYPES.serviceUnavailable.title,
        status: 503,
        detail: 'Retry later.',
      },
    });
  });

  it('passes on a client error another middleware marked as exposed', async () => {
    const handler = failingWith(Object.assign(new Error('Unsupported Media Type'), { statusCode: 415, expose: true }));

    const response = parseResponse((await handler({}, lambdaContext())) as never);

    expect(response.statusCode).toBe(415);
    expect(response.body.detail).toBe('Unsupported Media Type');
  });

  it.each([
    ['a plain error', new Error('connect ECONNREFUSED 10.0.0.1:443')],
    ['an error with a status code but not exposed', Object.assign(new Error('table gpujobs-prod missing'), { statusCode: 400 })],
    ['a thrown string', 'secret internal state'],
  ])('hides %s behind a 500 with the request id', async (_, error) => {
    const handler = failingWith(error);

    const response = parseResponse((await handler({}, lambdaContext('req-123'))) as never);

    expect(response.statusCode).toBe(500);
    expect(response.body).toEqual({
      type: 'urn:gpujobs:problem:internal-error',
      title: 'Something went wrong',
      status: 500,
      detail: 'Something went wrong. Quote request id req-123 when reporting this.',
      requestId: 'req-123',
    });
  });
});
