/**
 * The OpenAPI document against the handler: the same routes, the job spec schema with the same
 * fields, limits and defaults as parseJobSpec, and every response the handler gives in the
 * scenarios below valid against the schema the document declares for it.
 */
import { readFileSync } from 'node:fs';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { StopExecutionCommand } from '@aws-sdk/client-sfn';
import { GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import Ajv2020Module from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAPACITY_POLICIES } from '../../core/job.js';
import { JOB_SPEC_DEFAULTS, JOB_SPEC_LIMITS, parseJobSpec } from '../../core/spec.js';
import { ROUTE_LIST, ROUTES } from '../../core/contract/routes.js';
import type { ApiEventOptions, ParsedResponse } from '../support/api-gateway.js';
import { aJobId, aJobSpec, anOwner } from '../support/jobs.js';
import { logsMock, resetAwsMocks, sfnMock, sqsMock, startApi, type ApiHarness } from './harness.js';
import { putJobAttempts, transitionJob } from '../../app/update-job.js';

// CommonJS modules seen through ESM: each sets `exports.default` to itself, which both Node and TypeScript see.
const Ajv2020 = Ajv2020Module.default;
const addFormats = addFormatsModule.default;

const document = parse(readFileSync(new URL('../../openapi/openapi.yaml', import.meta.url), 'utf8'));
const DOCUMENT_ID = 'https://gpujobs.invalid/openapi.yaml';
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema({ ...document, $id: DOCUMENT_ID });

const validatorFor = (pointer: string) => {
  const validate = ajv.getSchema(`${DOCUMENT_ID}#${pointer}`);
  if (!validate) throw new Error(`No schema at ${pointer}`);
  return validate;
};

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];

function documentedRoutes(): string[] {
  return Object.entries(document.paths as Record<string, Record<string, unknown>>).flatMap(([path, item]) =>
    Object.keys(item)
      .filter((key) => HTTP_METHODS.includes(key))
      .map((method) => `${method.toUpperCase()} ${path}`),
  );
}

function operationOf(routeKey: string) {
  const [method, path] = routeKey.split(' ') as [string, string];
  return document.paths[path][method.toLowerCase()];
}

// biome-ignore lint/suspicious/noExplicitAny: an OpenAPI document node, walked by JSON pointer
function resolve(node: { $ref?: string }): any {
  if (!node.$ref) return node;
  return resolve(
    node.$ref
      .slice(2)
      .split('/')
      .reduce(
        (parent: Record<string, unknown>, key: string) => parent[key] as Record<string, unknown>,
        document as Record<string, unknown>,
      ),
  );
}

describe('the OpenAPI document', () => {
  it('is OpenAPI 3.1 and describes exactly the routes the handler serves', () => {
    expect(document.openapi).toMatch(/^3\.1\./);
    expect(documentedRoutes().sort()).toEqual(Object.values(ROUTES).sort());
  });

  it("declares on each route exactly the path parameters of the contract's path template", () => {
    for (const route of ROUTE_LIST) {
      const pathItem = document.paths[route.path];
      const declared = [...(pathItem.parameters ?? []), ...(operationOf(route.key).parameters ?? [])]
        .map(resolve)
        .filter((parameter: { in: string }) => parameter.in === 'path')
        .map((parameter: { name: string }) => parameter.name);
      expect(declared, route.key).toEqual(route.parameters);
    }
  });

  describe('the job spec schema', () => {
    const schema = document.components.schemas.JobSpec;
    const property = (name: string) => resolve(schema.properties[name]);

    it('has the fields parseJobSpec knows, the same required ones, and rejects others', () => {
      expect(Object.keys(schema.properties).sort()).toEqual(Object.keys(JOB_SPEC_LIMITS).concat('capacity').sort());
      expect(schema.required.sort()).toEqual(['command', 'image']);
      expect(schema.additionalProperties).toBe(false);
    });

    it('has the same integer bounds and defaults', () => {
      for (const field of ['gpus', 'vcpus', 'memoryMiB', 'maxSpotAttempts', 'timeoutSeconds'] as const) {
        expect(property(field), field).toMatchObject({
          type: 'integer',
          minimum: JOB_SPEC_LIMITS[field].min,
          maximum: JOB_SPEC_LIMITS[field].max,
          default: JOB_SPEC_DEFAULTS[field],
        });
      }
      expect(property('sharedMemoryMiB')).toMatchObject({
        type: 'integer',
        minimum: JOB_SPEC_LIMITS.sharedMemoryMiB.min,
        maximum: JOB_SPEC_LIMITS.sharedMemoryMiB.max,
      });
      expect(property('sharedMemoryMiB')).not.toHaveProperty('default');
      expect(schema.properties.capacity.default).toBe(JOB_SPEC_DEFAULTS.capacity);
      expect(resolve(schema.properties.capacity).enum).toEqual([...CAPACITY_POLICIES]);
    });

    it('has the same string, array and map limits', () => {
      expect(property('name')).toMatchObject({ maxLength: JOB_SPEC_LIMITS.name.maxLength, pattern: JOB_SPEC_LIMITS.name.pattern.source });
      expect(property('image').maxLength).toBe(JOB_SPEC_LIMITS.image.maxLength);
      expect(property('command')).toMatchObject({
        minItems: JOB_SPEC_LIMITS.command.minItems,
        maxItems: JOB_SPEC_LIMITS.command.maxItems,
        items: { maxLength: JOB_SPEC_LIMITS.command.maxItemLength },
      });
      expect(property('environment')).toMatchObject({
        maxProperties: JOB_SPEC_LIMITS.environment.maxEntries,
        additionalProperties: { maxLength: JOB_SPEC_LIMITS.environment.maxValueLength },
      });
      expect(property('tags')).toMatchObject({
        maxProperties: JOB_SPEC_LIMITS.tags.maxEntries,
        propertyNames: { maxLength: JOB_SPEC_LIMITS.tags.maxKeyLength },
        additionalProperties: { maxLength: JOB_SPEC_LIMITS.tags.maxValueLength },
      });
    });

    const valid = { image: 'ghcr.io/acme/trainer:1.0', command: ['train'] };
    const entries = (count: number) => Object.fromEntries(Array.from({ length: count }, (_, index) => [`K${index}`, 'v']));
    // Image reference grammar and registry allow lists are beyond JSON Schema; everything else agrees.
    const bodies: [string, unknown][] = [
      ['minimal', valid],
      [
        'every field at its upper bound',
        {
          ...valid,
          name: 'n'.repeat(128),
          command: Array.from({ length: 256 }, () => 'x'.repeat(16)),
          environment: { ...entries(63), _UNDERSCORE: 'x'.repeat(4096) },
          gpus: 8,
          vcpus: 192,
          memoryMiB: 2_000_000,
          capacity: 'on-demand',
          maxSpotAttempts: 10,
          timeoutSeconds: 1_209_600,
          tags: { ...entries(31), ['k'.repeat(128)]: 'v'.repeat(256) },
        },
      ],
      [
        'every field at its lower bound',
        { ...valid, name: 'n', gpus: 1, vcpus: 1, memoryMiB: 512, maxSpotAttempts: 1, timeoutSeconds: 60, capacity: 'spot-only' },
      ],
      ['name empty', { ...valid, name: '' }],
      ['name with a slash', { ...valid, name: 'a/b' }],
      ['name too long', { ...valid, name: 'n'.repeat(129) }],
      ['image missing', { command: ['x'] }],
      ['image too long', { ...valid, image: `ghcr.io/${'a'.repeat(510)}` }],
      ['command missing', { image: valid.image }],
      ['command empty', { ...valid, command: [] }],
      ['command too long', { ...valid, command: Array.from({ length: 257 }, () => 'x') }],
      ['command item too long', { ...valid, command: ['x'.repeat(4097)] }],
      ['command item a number', { ...valid, command: [1] }],
      ['environment too large', { ...valid, environment: entries(65) }],
      ['environment name with a dash', { ...valid, environment: { 'MY-VAR': 'x' } }],
      ['environment name reserved', { ...valid, environment: { AWS_BATCH_CE_NAME: 'x' } }],
      ['environment value too long', { ...valid, environment: { A: 'x'.repeat(4097) } }],
      ['gpus too many', { ...valid, gpus: 9 }],
      ['gpus fractional', { ...valid, gpus: 2.5 }],
      ['vcpus zero', { ...valid, vcpus: 0 }],
      ['memoryMiB too small', { ...valid, memoryMiB: 511 }],
      ['capacity unknown', { ...valid, capacity: 'reserved' }],
      ['maxSpotAttempts too many', { ...valid, maxSpotAttempts: 11 }],
      ['timeoutSeconds too short', { ...valid, timeoutSeconds: 59 }],
      ['tags too many', { ...valid, tags: entries(33) }],
      ['tag key empty', { ...valid, tags: { '': 'v' } }],
      ['tag value too long', { ...valid, tags: { a: 'v'.repeat(257) } }],
      ['an unknown field', { ...valid, queue: 'fast' }],
      ['an array body', []],
    ];

    it.each(bodies)('agrees with parseJobSpec on a body with %s', (_, body) => {
      const validate = validatorFor('/components/schemas/JobSpec');

      expect(validate(body)).toBe(parseJobSpec(body).ok);
    });
  });

  describe('the responses the handler gives', () => {
    let api: ApiHarness;
    const observed = new Map<string, Set<string>>();

    beforeAll(async () => {
      api = await startApi();
    });
    afterAll(async () => api.stop());

    async function callAndCheck(route: string, options: ApiEventOptions): Promise<ParsedResponse> {
      const response = await api.call(options);
      const status = String(response.statusCode);
      const declared = operationOf(route).responses[status];
      expect(declared, `${route} answered ${status}, which the document does not declare`).toBeDefined();
      const contentType = response.headers['content-type'] ?? '';
      const media = resolve(declared).content?.[contentType];
      expect(media, `${route} ${status} answered ${contentType}, which the document does not declare`).toBeDefined();
      const schemaValidate = ajv.compile(withDocumentRefs(media.schema) as object);
      expect(schemaValidate(response.body), `${route} ${status}: ${JSON.stringify(schemaValidate.errors)}`).toBe(true);
      for (const header of Object.keys(resolve(declared).headers ?? {})) {
        expect(response.headers[header.toLowerCase()], `${route} ${status} header ${header}`).toBeDefined();
      }
      if (!observed.has(route)) observed.set(route, new Set());
      observed.get(route)!.add(status);
      return response;
    }

    it('matches the document in every scenario, and every declared status but 500 occurs', async () => {
      resetAwsMocks();
      const owner = anOwner();
      const post = (body: unknown, headers: Record<string, string> = {}) =>
        callAndCheck(ROUTES.submitJob, { method: 'POST', path: '/v1/jobs', body, headers, principalArn: owner });

      const created = await post(
        { image: 'ghcr.io/acme/trainer:1.0', command: ['train'], name: 'demo', tags: { a: 'b' } },
        { 'Idempotency-Key': 'k' },
      );
      const jobId = created.body.jobId as string;
      await post({ image: 'ghcr.io/acme/trainer:1.0', command: ['train'] }, { 'Idempotency-Key': 'k' });
      await post({ gpus: 0 });
      await post({ image: 'ghcr.io/acme/trainer:1.0', command: ['train'], gpus: 8 });
      await post({ image: 'ghcr.io/acme/trainer:1.0', command: ['x'.repeat(4096), 'x'.repeat(4096)] });
      await post('x'.repeat(70_000));
      await post({ image: 'ghcr.io/acme/trainer:1.0', command: ['train'] }, { 'content-type': 'text/plain' });
      await callAndCheck(ROUTES.submitJob, { method: 'POST', path: '/v1/jobs', body: {}, principalArn: null });
      sqsMock.on(SendMessageCommand).rejects(new Error('down'));
      await post({ image: 'ghcr.io/acme/trainer:1.0', command: ['train'] });
      sqsMock.on(SendMessageCommand).resolves({ MessageId: 'm' });

      await callAndCheck(ROUTES.listJobs, { method: 'GET', path: '/v1/jobs', query: { limit: '1' }, principalArn: owner });
      await callAndCheck(ROUTES.listJobs, { method: 'GET', path: '/v1/jobs', query: { status: 'nope' }, principalArn: owner });
      await callAndCheck(ROUTES.listJobs, { method: 'GET', path: '/v1/jobs', principalArn: null });

      const runningId = aJobId();
      await api.store.createJob({ jobId: runningId, owner, spec: aJobSpec(), now: '2026-03-01T12:00:00.000Z' });
      await transitionJob(api.store, {
        jobId: runningId,
        from: ['QUEUED'],
        to: 'RUNNING',
        now: '2026-03-01T12:01:00.000Z',
        set: { startedAt: '2026-03-01T12:01:00.000Z' },
      });
      await putJobAttempts(api.store, runningId, [
        {
          attempt: 1,
          capacity: 'spot',
          status: 'RUNNING',
          batchJobId: 'b',
          instanceType: 'g5.xlarge',
          startedAt: '2026-03-01T12:01:00.000Z',
          logStreamName: 'stream-1',
        },
      ]);
      await callAndCheck(ROUTES.getJob, { method: 'GET', path: `/v1/jobs/${runningId}`, principalArn: owner });
      await callAndCheck(ROUTES.getJob, { method: 'GET', path: `/v1/jobs/${runningId}`, principalArn: anOwner() });
      await callAndCheck(ROUTES.getJob, { method: 'GET', path: `/v1/jobs/${runningId}`, principalArn: null });

      logsMock.on(GetLogEventsCommand).resolves({ events: [{ timestamp: 1_772_366_400_000, message: 'hello' }], nextForwardToken: 'f/1' });
      await callAndCheck(ROUTES.getJobLogs, { method: 'GET', path: `/v1/jobs/${runningId}/logs`, principalArn: owner });
      await callAndCheck(ROUTES.getJobLogs, {
        method: 'GET',
        path: `/v1/jobs/${runningId}/logs`,
        query: { limit: '5000' },
        principalArn: owner,
      });
      await callAndCheck(ROUTES.getJobLogs, { method: 'GET', path: `/v1/jobs/${runningId}/logs`, principalArn: anOwner() });
      await callAndCheck(ROUTES.getJobLogs, { method: 'GET', path: `/v1/jobs/${runningId}/logs`, principalArn: null });

      sfnMock.on(StopExecutionCommand).rejects(Object.assign(new Error('throttled'), { name: 'ThrottlingException' }));
      await callAndCheck(ROUTES.cancelJob, { method: 'POST', path: `/v1/jobs/${runningId}/cancel`, principalArn: owner });
      sfnMock.on(StopExecutionCommand).resolves({ stopDate: new Date() });
      await callAndCheck(ROUTES.cancelJob, { method: 'POST', path: `/v1/jobs/${runningId}/cancel`, principalArn: owner });
      await callAndCheck(ROUTES.cancelJob, { method: 'POST', path: `/v1/jobs/${jobId}/cancel`, principalArn: owner });
      await transitionJob(api.store, { jobId: runningId, from: ['RUNNING'], to: 'SUCCEEDED', now: '2026-03-01T13:00:00.000Z' });
      await callAndCheck(ROUTES.cancelJob, { method: 'POST', path: `/v1/jobs/${runningId}/cancel`, principalArn: owner });
      await callAndCheck(ROUTES.cancelJob, { method: 'POST', path: `/v1/jobs/${runningId}/cancel`, principalArn: anOwner() });
      await callAndCheck(ROUTES.cancelJob, { method: 'POST', path: `/v1/jobs/${runningId}/cancel`, principalArn: null });

      for (const route of Object.values(ROUTES)) {
        const declared = Object.keys(operationOf(route).responses).filter((status) => status !== '500');
        expect([...(observed.get(route) ?? [])].sort(), route).toEqual(declared.sort());
      }
    });
  });
});

/** A schema fragment of the document, with its local refs pointing into the registered document. */
function withDocumentRefs(schema: unknown): unknown {
  return JSON.parse(JSON.stringify(schema), (key, value) =>
    key === '$ref' && typeof value === 'string' && value.startsWith('#/') ? `${DOCUMENT_ID}${value}` : value,
  );
}
