/**
 * The api handler reads only JSON bodies, on AWS as in local mode: a body labelled otherwise gets
 * 415 naming the type received, and nothing is stored or queued.
 */
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { anOwner } from '../support/jobs.js';
import { resetAwsMocks, sqsMock, startApi, type ApiHarness } from './harness.js';

let api: ApiHarness;

beforeAll(async () => {
  api = await startApi();
});
afterAll(async () => api.stop());
beforeEach(() => resetAwsMocks());

const validBody = { image: 'public.ecr.aws/docker/library/python:3.12', command: ['python', 'train.py'] };

const submitAs = (contentType: string, owner = anOwner()) =>
  api.call({ method: 'POST', path: '/v1/jobs', body: validBody, principalArn: owner, headers: { 'content-type': contentType } });

describe('POST /v1/jobs content type', () => {
  it.each([
    ['text/plain;charset=UTF-8', 'Content-Type "text/plain;charset=UTF-8"'],
    ['application/x-www-form-urlencoded', 'Content-Type "application/x-www-form-urlencoded"'],
    ['multipart/form-data; boundary=x', 'Content-Type "multipart/form-data; boundary=x"'],
    ['application/json; charset=iso-8859-1', 'Content-Type "application/json; charset=iso-8859-1"'],
    ['', 'no Content-Type'],
  ])('refuses a body sent as %j with 415 naming it, and stores nothing', async (contentType, named) => {
    const owner = anOwner();

    const response = await submitAs(contentType, owner);

    expect(response.statusCode).toBe(415);
    expect(response.headers['content-type']).toBe('application/problem+json');
    expect(response.body).toMatchObject({ type: 'urn:gpujobs:problem:unsupported-media-type', status: 415 });
    expect(response.body.detail).toContain(`Received ${named}.`);
    expect(sqsMock).not.toHaveReceivedCommand(SendMessageCommand);
    expect((await api.store.listJobs({ owner, limit: 10 })).jobs).toEqual([]);
  });

  it.each(['application/json', 'Application/JSON', 'application/json; charset=utf-8', 'application/json;charset="UTF-8"'])(
    'accepts a body sent as %j',
    async (contentType) => {
      const response = await submitAs(contentType);

      expect(response.statusCode).toBe(202);
    },
  );
});
