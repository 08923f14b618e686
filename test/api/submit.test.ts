import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { anOwner } from '../support/jobs.js';
import { INTAKE_QUEUE_URL, resetAwsMocks, sqsMock, startApi, type ApiHarness } from './harness.js';
import { transitionJob } from '../../app/update-job.js';

let api: ApiHarness;

beforeAll(async () => {
  api = await startApi({ ALLOWED_REGISTRIES: 'public.ecr.aws,ghcr.io,docker.io' });
});
afterAll(async () => api.stop());
beforeEach(() => resetAwsMocks());

const validBody = { image: 'public.ecr.aws/docker/library/python:3.12', command: ['python', 'train.py'] };

const submit = (body: unknown, options: { owner?: string; headers?: Record<string, string>; isBase64Encoded?: boolean } = {}) =>
  api.call({
    method: 'POST',
    path: '/v1/jobs',
    body,
    principalArn: options.owner ?? anOwner(),
    ...(options.headers ? { headers: options.headers } : {}),
    ...(options.isBase64Encoded ? { isBase64Encoded: true } : {}),
  });

const entries = (count: number, value = 'v') => Object.fromEntries(Array.from({ length: count }, (_, index) => [`K${index}`, value]));

describe('POST /v1/jobs', () => {
  it('accepts a job: 202, Location, the job QUEUED with defaults, and its id sent to the intake queue', async () => {
    const owner = anOwner();

    const response = await submit(validBody, { owner });

    expect(response.statusCode).toBe(202);
    expect(response.headers['content-type']).toBe('application/json');
    const job = response.body;
    expect(job.jobId).toMatch(/^[0-9A-Za-z]+$/);
    expect(response.headers.location).toBe(`/v1/jobs/${job.jobId}`);
    expect(job).toMatchObject({
      name: job.jobId,
      owner,
      status: 'QUEUED',
      image: validBody.image,
      command: validBody.command,
      environment: {},
      tags: {},
      gpus: 1,
      vcpus: 4,
      memoryMiB: 15360,
      capacity: 'spot-first',
      maxSpotAttempts: 3,
      timeoutSeconds: 86400,
      attempts: [],
      costUsd: 0,
    });
    expect(job).not.toHaveProperty('version');
    expect(job).not.toHaveProperty('requestHash');
    expect(sqsMock).toHaveReceivedCommandExactlyOnceWith(SendMessageCommand, {
      QueueUrl: INTAKE_QUEUE_URL,
      MessageBody: JSON.stringify({ jobId: job.jobId }),
    });
    const stored = await api.store.getJob(job.jobId);
    expect(stored?.status).toBe('QUEUED');
  });

  it('keeps sharedMemoryMiB on the job when given, and shows none when not', async () => {
    const sized = await submit({ ...validBody, memoryMiB: 16_384, sharedMemoryMiB: 8_192 });
    const unsized = await submit(validBody);

    expect(sized.statusCode).toBe(202);
    expect(sized.body).toMatchObject({ memoryMiB: 16_384, sharedMemoryMiB: 8_192 });
    expect((await api.store.getJob(sized.body.jobId))?.sharedMemoryMiB).toBe(8_192);
    expect(unsized.body).not.toHaveProperty('sharedMemoryMiB');
  });

  it('refuses more shared memory than memory with 400, naming sharedMemoryMiB and both sizes', async () => {
    const response = await submit({ ...validBody, memoryMiB: 4_096, sharedMemoryMiB: 6_144 });

    expect(response.statusCode).toBe(400);
    expect(response.body.errors).toEqual([
      { path: 'sharedMemoryMiB', message: expect.stringMatching(/memoryMiB \(4096\).*received 6144/) },
    ]);
  });

  it('gives ids that sort by submission time', async () => {
    const owner = anOwner();
    const first = await submit(validBody, { owner });
    await new Promise((resolve) => setTimeout(resolve, 5));
    const second = await submit(validBody, { owner });

    expect(first.body.jobId < second.body.jobId).toBe(true);
  });

  describe('rejects each broken rule with 400 naming the field', () => {
    const cases: [string, Record<string, unknown>, string][] = [
      ['name empty', { name: '' }, 'name'],
      ['name with a space', { name: 'my job' }, 'name'],
      ['name of 129 characters', { name: 'n'.repeat(129) }, 'name'],
      ['image missing', { image: undefined }, 'image'],
      ['image not a reference', { image: 'Not A Reference!' }, 'image'],
      ['image over 512 characters', { image: `ghcr.io/${'a'.repeat(510)}` }, 'image'],
      ['image from a registry not allowed', { image: 'quay.io/org/image:1' }, 'image'],
      ['command missing', { command: undefined }, 'command'],
      ['command empty', { command: [] }, 'command'],
      ['command a string', { command: 'python train.py' }, 'command'],
      ['command of 257 items', { command: Array.from({ length: 257 }, () => 'x') }, 'command'],
      ['command item over 4096 characters', { command: ['python', 'x'.repeat(4097)] }, 'command.1'],
      ['command item not a string', { command: [42] }, 'command.0'],
      ['environment not an object', { environment: ['A=1'] }, 'environment'],
      ['environment of 65 entries', { environment: entries(65) }, 'environment'],
      ['environment name starting with a digit', { environment: { '1ABC': 'x' } }, 'environment.1ABC'],
      ['environment name reserved for Batch', { environment: { AWS_BATCH_JOB_ID: 'x' } }, 'environment.AWS_BATCH_JOB_ID'],
      ['environment value over 4096 characters', { environment: { MY_VAR: 'x'.repeat(4097) } }, 'environment.MY_VAR'],
      ['environment value not a string', { environment: { MY_VAR: 1 } }, 'environment.MY_VAR'],
      ['gpus 0', { gpus: 0 }, 'gpus'],
      ['gpus 9', { gpus: 9 }, 'gpus'],
      ['gpus fractional', { gpus: 1.5 }, 'gpus'],
      ['gpus a string', { gpus: '1' }, 'gpus'],
      ['vcpus 0', { vcpus: 0 }, 'vcpus'],
      ['vcpus 193', { vcpus: 193 }, 'vcpus'],
      ['memoryMiB 511', { memoryMiB: 511 }, 'memoryMiB'],
      ['memoryMiB 2000001', { memoryMiB: 2_000_001 }, 'memoryMiB'],
      ['sharedMemoryMiB 63', { sharedMemoryMiB: 63 }, 'sharedMemoryMiB'],
      ['sharedMemoryMiB fractional', { sharedMemoryMiB: 100.5 }, 'sharedMemoryMiB'],
      ['sharedMemoryMiB over memoryMiB', { memoryMiB: 4_096, sharedMemoryMiB: 4_097 }, 'sharedMemoryMiB'],
      ['capacity unknown', { capacity: 'cheapest' }, 'capacity'],
      ['maxSpotAttempts 0', { maxSpotAttempts: 0 }, 'maxSpotAttempts'],
      ['maxSpotAttempts 11', { maxSpotAttempts: 11 }, 'maxSpotAttempts'],
      ['timeoutSeconds 59', { timeoutSeconds: 59 }, 'timeoutSeconds'],
      ['timeoutSeconds 1209601', { timeoutSeconds: 1_209_601 }, 'timeoutSeconds'],
      ['tags of 33 entries', { tags: entries(33) }, 'tags'],
      ['tag key of 129 characters', { tags: { ['k'.repeat(129)]: 'v' } }, `tags.${'k'.repeat(129)}`],
      ['tag value of 257 characters', { tags: { team: 'v'.repeat(257) } }, 'tags.team'],
      ['an unknown field', { priority: 'high' }, 'priority'],
    ];

    it.each(cases)('%s', async (_, change, path) => {
      const body = Object.fromEntries(Object.entries({ ...validBody, ...change }).filter(([, value]) => value !== undefined));

      const response = await submit(body);

      expect(response.statusCode).toBe(400);
      expect(response.headers['content-type']).toBe('application/problem+json');
      expect(response.body).toMatchObject({
        type: 'urn:gpujobs:problem:invalid-request',
        status: 400,
        title: expect.any(String),
        detail: expect.any(String),
      });
      expect(response.body.errors).toEqual([{ path, message: expect.any(String) }]);
      expect(sqsMock).not.toHaveReceivedCommand(SendMessageCommand);
    });

    it('names every offending field at once', async () => {
      const response = await submit({ ...validBody, gpus: 0, capacity: 'x' });

      expect(response.statusCode).toBe(400);
      expect(response.body.errors.map((error: { path: string }) => error.path).sort()).toEqual(['capacity', 'gpus']);
    });
  });

  it.each([
    ['malformed JSON', '{"image": "x",'],
    ['an empty body', ''],
  ])('rejects %s with 400', async (_, body) => {
    const response = await submit(body);

    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toBe('application/problem+json');
    expect(response.body.detail).toMatch(/not valid JSON/);
  });

  it.each([
    ['an array', '[]'],
    ['a string', '"job"'],
    ['a number', '42'],
    ['null', 'null'],
  ])('rejects a body that is %s with 400', async (_, body) => {
    const response = await submit(body);

    expect(response.statusCode).toBe(400);
    expect(response.body.detail).toMatch(/must be a JSON object/);
  });

  it('rejects a body over 64 KiB with 413 and accepts one just under', async () => {
    // Trailing whitespace keeps the JSON valid while setting the exact byte count.
    const bodyOfSize = (bytes: number) => {
      const json = JSON.stringify(validBody);
      return json + ' '.repeat(bytes - json.length);
    };

    const tooLarge = await submit(bodyOfSize(64 * 1024 + 1));
    const justFits = await submit(bodyOfSize(64 * 1024));

    expect(tooLarge.statusCode).toBe(413);
    expect(tooLarge.headers['content-type']).toBe('application/problem+json');
    expect(tooLarge.body).toMatchObject({ type: 'urn:gpujobs:problem:payload-too-large', status: 413 });
    expect(justFits.statusCode).toBe(202);
  });

  describe('refuses a valid job that could never run with 422 naming the field, and stores nothing', () => {
    const DEFAULT_TYPES = 'g4dn.12xlarge, g5.12xlarge, g6.12xlarge';
    const cases: [string, Record<string, unknown>, string, string, string][] = [
      [
        'more GPUs than any instance type has',
        { gpus: 8 },
        'unplaceable',
        'gpus',
        `the most available is 4 GPUs (${DEFAULT_TYPES}); received 8`,
      ],
      [
        'more vCPUs than any instance type with its GPUs has',
        { vcpus: 64 },
        'unplaceable',
        'vcpus',
        'with 1 GPU, the most available is 48 vCPUs',
      ],
      [
        'more memory than any instance type can give a job',
        { memoryMiB: 200_000 },
        'unplaceable',
        'memoryMiB',
        'the most available is 186777 MiB of memory',
      ],
      [
        'a command longer than Batch takes',
        { command: ['x'.repeat(4096), 'x'.repeat(4000)] },
        'batch-limit-exceeded',
        'command',
        'container overrides limit of 8192',
      ],
      [
        'an environment longer than Batch takes',
        { environment: { A: 'y'.repeat(4096), B: 'y'.repeat(4000) } },
        'batch-limit-exceeded',
        'environment',
        'container overrides limit of 8192',
      ],
      ['an empty program', { command: [''] }, 'not-executable', 'command.0', 'must name the program to run'],
      ['a NUL byte in an argument', { command: ['echo', 'a\u0000b'] }, 'not-executable', 'command.1', 'must not contain a NUL character'],
      [
        'a NUL byte in an environment value',
        { environment: { A: 'x\u0000y' } },
        'not-executable',
        'environment.A',
        'received a value of 3 characters',
      ],
    ];

    it.each(cases)('%s', async (_, change, slug, path, message) => {
      const owner = anOwner();

      const response = await submit({ ...validBody, ...change }, { owner, headers: { 'Idempotency-Key': 'too-big' } });

      expect(response.statusCode).toBe(422);
      expect(response.headers['content-type']).toBe('application/problem+json');
      expect(response.body).toMatchObject({
        type: `urn:gpujobs:problem:${slug}`,
        status: 422,
        title: expect.any(String),
        detail: expect.any(String),
      });
      expect(response.body.errors).toEqual([{ path, message: expect.stringContaining(message) }]);
      expect(sqsMock).not.toHaveReceivedCommand(SendMessageCommand);
      const listing = await api.call({ method: 'GET', path: '/v1/jobs', principalArn: owner });
      expect(listing.body.jobs).toEqual([]);
    });

    it('names the largest jobs the deployment can run', async () => {
      const response = await submit({ ...validBody, gpus: 5 });

      expect(response.body.detail).toBe(
        `No instance this deployment can launch holds the job. The largest jobs it can run: 4 GPUs, 48 vCPUs and 186777 MiB of memory (${DEFAULT_TYPES}).`,
      );
    });

    it('accepts the largest job that fits', async () => {
      const response = await submit({
        ...validBody,
        gpus: 4,
        vcpus: 48,
        memoryMiB: 186_777,
        command: ['x'.repeat(4096), 'x'.repeat(2900)],
      });

      expect(response.statusCode).toBe(202);
    });

    it('lets the same Idempotency-Key be used again once the job is made to fit', async () => {
      const owner = anOwner();
      const headers = { 'Idempotency-Key': 'fix-and-retry' };

      const refused = await submit({ ...validBody, gpus: 8 }, { owner, headers });
      const accepted = await submit({ ...validBody, gpus: 4 }, { owner, headers });

      expect(refused.statusCode).toBe(422);
      expect(accepted.statusCode).toBe(202);
    });
  });

  describe('Idempotency-Key', () => {
    it('replays the first job for the same key and body, creating nothing', async () => {
      const owner = anOwner();
      const headers = { 'Idempotency-Key': 'nightly-2026-03-01' };

      const first = await submit(validBody, { owner, headers });
      await transitionJob(api.store, { jobId: first.body.jobId, from: ['QUEUED'], to: 'PENDING', now: new Date().toISOString() });
      const replay = await submit({ command: validBody.command, image: validBody.image }, { owner, headers });

      expect(first.statusCode).toBe(202);
      expect(replay.statusCode).toBe(202);
      expect(replay.body.jobId).toBe(first.body.jobId);
      expect(replay.body.status).toBe('PENDING');
      expect(replay.headers.location).toBe(`/v1/jobs/${first.body.jobId}`);
      const listing = await api.call({ method: 'GET', path: '/v1/jobs', principalArn: owner });
      expect(listing.body.jobs).toHaveLength(1);
      expect(sqsMock).toHaveReceivedCommandTimes(SendMessageCommand, 1);
    });

    it('rejects the same key with a different body with 409', async () => {
      const owner = anOwner();
      const headers = { 'Idempotency-Key': 'k-1' };
      await submit(validBody, { owner, headers });

      const conflicting = await submit({ ...validBody, gpus: 2 }, { owner, headers });

      expect(conflicting.statusCode).toBe(409);
      expect(conflicting.body).toMatchObject({ type: 'urn:gpujobs:problem:idempotency-key-reused', status: 409 });
    });

    it('lets two callers use the same key independently', async () => {
      const headers = { 'Idempotency-Key': 'same-key' };
      const first = await submit(validBody, { headers });
      const second = await submit(validBody, { headers });

      expect(first.body.jobId).not.toBe(second.body.jobId);
    });

    it('creates one job when concurrent requests carry one key', async () => {
      const owner = anOwner();
      const headers = { 'Idempotency-Key': 'burst' };

      const responses = await Promise.all(Array.from({ length: 8 }, () => submit(validBody, { owner, headers })));

      expect(responses.map((response) => response.statusCode)).toEqual(Array(8).fill(202));
      expect(new Set(responses.map((response) => response.body.jobId)).size).toBe(1);
      const listing = await api.call({ method: 'GET', path: '/v1/jobs', principalArn: owner });
      expect(listing.body.jobs).toHaveLength(1);
    });

    it.each([
      ['empty', ''],
      ['over 128 characters', 'k'.repeat(129)],
      ['not printable ASCII', 'clé'],
    ])('rejects a key that is %s with 400', async (_, key) => {
      const response = await submit(validBody, { headers: { 'Idempotency-Key': key } });

      expect(response.statusCode).toBe(400);
      expect(response.body.errors).toEqual([{ path: 'Idempotency-Key', message: expect.any(String) }]);
    });
  });

  describe('when the intake queue refuses the job', () => {
    it('answers 503 and leaves no job behind', async () => {
      const owner = anOwner();
      sqsMock.on(SendMessageCommand).rejects(Object.assign(new Error('internal queue detail'), { name: 'ServiceUnavailable' }));

      const response = await submit(validBody, { owner });

      expect(response.statusCode).toBe(503);
      expect(response.headers['content-type']).toBe('application/problem+json');
      expect(response.headers['retry-after']).toBeDefined();
      expect(JSON.stringify(response.body)).not.toContain('internal queue detail');
      const listing = await api.call({ method: 'GET', path: '/v1/jobs', principalArn: owner });
      expect(listing.body.jobs).toEqual([]);
    });

    it('lets the client retry with the same key once the queue is back', async () => {
      const owner = anOwner();
      const headers = { 'Idempotency-Key': 'retry-me' };
      sqsMock.on(SendMessageCommand).rejectsOnce(new Error('down')).resolves({ MessageId: 'm' });

      const failed = await submit(validBody, { owner, headers });
      const retried = await submit({ ...validBody }, { owner, headers });

      expect(failed.statusCode).toBe(503);
      expect(retried.statusCode).toBe(202);
      expect(retried.body.status).toBe('QUEUED');
      expect(sqsMock).toHaveReceivedLastCommandWith(SendMessageCommand, { MessageBody: JSON.stringify({ jobId: retried.body.jobId }) });
      const listing = await api.call({ method: 'GET', path: '/v1/jobs', principalArn: owner });
      expect(listing.body.jobs.map((job: { jobId: string }) => job.jobId)).toEqual([retried.body.jobId]);
    });

    it('announces a replayed job again while it is still QUEUED', async () => {
      const owner = anOwner();
      const headers = { 'Idempotency-Key': 'announce-again' };
      const first = await submit(validBody, { owner, headers });

      const replay = await submit(validBody, { owner, headers });

      expect(replay.body.jobId).toBe(first.body.jobId);
      expect(sqsMock).toHaveReceivedCommandTimes(SendMessageCommand, 2);
      expect(sqsMock).toHaveReceivedLastCommandWith(SendMessageCommand, { MessageBody: JSON.stringify({ jobId: first.body.jobId }) });
    });
  });

  describe('refuses what it cannot read or keep with 400 naming it, and stores nothing', () => {
    it('fails on an environment variable named __proto__, which a JSON object cannot keep', async () => {
      const owner = anOwner();

      const response = await submit(
        '{"image":"public.ecr.aws/docker/library/python:3.12","command":["true"],"environment":{"__proto__":{"x":"y"}}}',
        { owner },
      );

      expect(response.statusCode).toBe(400);
      expect(response.body.errors).toEqual([{ path: 'environment.__proto__', message: expect.stringContaining('silently lose it') }]);
      expect(sqsMock).not.toHaveReceivedCommand(SendMessageCommand);
    });

    it('fails on a NUL byte in an environment variable name', async () => {
      const response = await submit({ ...validBody, environment: { 'A\u0000B': 'x' } });

      expect(response.statusCode).toBe(400);
      expect(response.body.errors).toEqual([{ path: 'environment.A\u0000B', message: expect.stringContaining('must match') }]);
    });

    it('fails on a base64 body that is not UTF-8 instead of reading it with U+FFFD in place of the bytes', async () => {
      const json = Buffer.from(JSON.stringify({ ...validBody, command: ['echo', 'XX'] }));
      const invalid = Buffer.from(json.toString('latin1').replace('XX', '\xff\xfe'), 'latin1');

      const response = await submit(invalid.toString('base64'), { isBase64Encoded: true });
      const valid = await submit(json.toString('base64'), { isBase64Encoded: true });

      expect(response.statusCode).toBe(400);
      expect(response.body).toMatchObject({
        type: 'urn:gpujobs:problem:invalid-request',
        detail: 'The request body is not valid UTF-8.',
        errors: [{ path: '' }],
      });
      expect(valid.statusCode).toBe(202);
    });
  });
});
