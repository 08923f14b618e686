/**
 * The five routes of the HTTP API contract (v1), over the JobStore port and the AWS clients the
 * handler passes in. Parse → call the store → map domain outcomes to HTTP; errors leave as
 * HttpProblem and are rendered by the problem-details middleware.
 */
import { isUtf8 } from 'node:buffer';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { StopExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { describeMisfit, fits, type JobShape } from '../../core/instance-catalogue.js';
import type { JobRecord, JobSpec } from '../../core/job.js';
import { describeContentType, isJsonMediaType, JSON_MEDIA_TYPE } from '../../core/media-type.js';
import { ConflictError, type JobStore } from '../../core/ports.js';
import {
  canonicalRequestHash,
  checkBatchLimits,
  checkExecutable,
  JOB_SPEC_LIMITS,
  parseJobSpec,
  parseListQuery,
  parseLogsQuery,
  validateIdempotencyKey,
  type QueryParameters,
} from '../../core/spec.js';
import { isJobId, toPublicJob } from '../../core/job-view.js';
import { InvalidNextTokenError, JobNotFoundError } from '../shared/job-store.js';
import { JOB_METRICS, type MetricsRecorder } from '../shared/metrics.js';
import { payTerminalEventDebt, TerminalEventBusyError, terminalTransitionFields, type TerminalEventDependencies } from '../shared/terminal-event.js';
import { InvalidLogTokenError, type JobLogReader } from './job-logs.js';
import { resolveOwner, type OwnerIdentity, type OwnerSource } from './owner.js';
import { HttpProblem, PROBLEM_TYPES, invalidRequest } from './problem.js';

/** The contract's body limit, in bytes of the body as received. */
export const MAX_BODY_BYTES = 64 * 1024;

/**
 * A shape as the largest job it holds. A bound at the API's own maximum is no bound of the
 * place (local mode limits only GPUs), so it is not quoted as one.
 */
function describeShape(shape: JobShape): string {
  const vcpus = shape.vcpus >= JOB_SPEC_LIMITS.vcpus.max ? 'any vCPU count' : `${shape.vcpus} vCPUs`;
  const memory = shape.memoryMiB >= JOB_SPEC_LIMITS.memoryMiB.max ? 'any memory the API accepts' : `${shape.memoryMiB} MiB of memory`;
  return `${shape.gpus} GPUs, ${vcpus} and ${memory} (${shape.label})`;
}

export const CANCELLED_BEFORE_START_REASON = 'Cancelled by its owner before it started';

/** The routes, as API Gateway route keys; the stack and the OpenAPI document list the same five. */
export const ROUTES = {
  submitJob: 'POST /v1/jobs',
  listJobs: 'GET /v1/jobs',
  getJob: 'GET /v1/jobs/{jobId}',
  cancelJob: 'POST /v1/jobs/{jobId}/cancel',
  getJobLogs: 'GET /v1/jobs/{jobId}/logs',
} as const;

export type RouteName = keyof typeof ROUTES;

/** The parts of an API Gateway HTTP API (payload v2) event the API reads. */
export interface ApiRequest extends OwnerSource {
  readonly routeKey?: string;
  readonly rawPath?: string;
  readonly requestContext?: OwnerSource['requestContext'] & { readonly http?: { readonly method?: string } };
  readonly headers?: Readonly<Record<string, string | undefined>>;
  readonly queryStringParameters?: Readonly<Record<string, string | undefined>>;
  readonly pathParameters?: Readonly<Record<string, string | undefined>>;
  readonly body?: string;
  readonly isBase64Encoded?: boolean;
}

export interface JobApiDependencies {
  readonly store: JobStore;
  readonly sqs: SQSClient;
  readonly sfn: SFNClient;
  readonly logs: JobLogReader;
  /** Pays the terminal event of a cancel while QUEUED, owed from the moment the write lands. */
  readonly terminalEvents: TerminalEventDependencies;
  readonly metrics: MetricsRecorder;
  readonly config: {
    readonly intakeQueueUrl: string;
    readonly stateMachineArn: string;
    readonly allowedRegistries: readonly string[];
    /** The largest jobs the compute can hold; a job none of them holds is refused with 422. */
    readonly jobShapes: readonly JobShape[];
    readonly localMode: boolean;
    /** Whether an assumed-role caller's owner is its session or its role (owner.ts). */
    readonly ownerIdentity: OwnerIdentity;
  };
  readonly newJobId: () => string;
  readonly now: () => string;
  readonly logger: { warn(message: string, ...extra: unknown[]): void; error(message: string, ...extra: unknown[]): void };
}

export type ApiResponse = APIGatewayProxyStructuredResultV2;

interface MatchedRoute {
  readonly name: RouteName;
  readonly jobId?: string;
}

const ROUTE_BY_KEY = new Map(Object.entries(ROUTES).map(([name, key]) => [key as string, name as RouteName]));

const PATH_PATTERNS: readonly { readonly pattern: RegExp; readonly methods: Readonly<Record<string, RouteName>> }[] = [
  { pattern: /^\/v1\/jobs\/?$/, methods: { POST: 'submitJob', GET: 'listJobs' } },
  { pattern: /^\/v1\/jobs\/([^/]+)\/?$/, methods: { GET: 'getJob' } },
  { pattern: /^\/v1\/jobs\/([^/]+)\/cancel\/?$/, methods: { POST: 'cancelJob' } },
  { pattern: /^\/v1\/jobs\/([^/]+)\/logs\/?$/, methods: { GET: 'getJobLogs' } },
];

/** By route key when API Gateway matched one; by method and path for a `$default` route. */
export function matchRoute(request: ApiRequest): MatchedRoute {
  const byKey = request.routeKey === undefined ? undefined : ROUTE_BY_KEY.get(request.routeKey);
  if (byKey) return { name: byKey, ...optionalJobId(request.pathParameters?.jobId) };
  const method = (request.requestContext?.http?.method ?? '').toUpperCase();
  const path = request.rawPath ?? '';
  for (const { pattern, methods } of PATH_PATTERNS) {
    const match = pattern.exec(path);
    if (!match) continue;
    const name = methods[method];
    if (!name) {
      throw new HttpProblem(PROBLEM_TYPES.methodNotAllowed, `${method || 'This method'} is not allowed on ${path}.`, {
        headers: { allow: Object.keys(methods).join(', ') },
      });
    }
    return { name, ...optionalJobId(match[1] === undefined ? undefined : safeDecode(match[1])) };
  }
  throw new HttpProblem(PROBLEM_TYPES.notFound, `No route matches ${method} ${path}.`);
}

function optionalJobId(jobId: string | undefined): { jobId?: string } {
  return jobId === undefined ? {} : { jobId };
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

const json = (statusCode: number, body: unknown, headers: Record<string, string> = {}): ApiResponse => ({
  statusCode,
  headers: { ...headers, 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

const jobNotFound = (jobId: string) => new HttpProblem(PROBLEM_TYPES.notFound, `Job ${jobId} does not exist.`);

export function createJobApi(dependencies: JobApiDependencies) {
  const { store, config } = dependencies;

  async function handle(request: ApiRequest): Promise<ApiResponse> {
    const route = matchRoute(request);
    const owner = resolveOwner(request, config);
    switch (route.name) {
      case 'submitJob':
        return submitJob(request, owner);
      case 'listJobs':
        return listJobs(request.queryStringParameters, owner);
      case 'getJob':
        return json(200, toPublicJob(await requireOwnedJob(route.jobId, owner)));
      case 'cancelJob':
        return cancelJob(await requireOwnedJob(route.jobId, owner));
      case 'getJobLogs':
        return getJobLogs(await requireOwnedJob(route.jobId, owner), request.queryStringParameters);
    }
  }

  /** Another caller's job answers exactly like a job that does not exist. */
  async function requireOwnedJob(jobId: string | undefined, owner: string): Promise<JobRecord> {
    if (jobId === undefined || !isJobId(jobId)) throw jobNotFound(jobId ?? '');
    const job = await store.getJob(jobId);
    if (!job || job.owner !== owner) throw jobNotFound(jobId);
    return job;
  }

  async function submitJob(request: ApiRequest, owner: string): Promise<ApiResponse> {
    const body = parseJsonBody(request);
    const idempotencyHeader = request.headers?.['idempotency-key'];
    const idempotency = idempotencyHeader === undefined ? undefined : validateIdempotencyKey(idempotencyHeader);
    if (idempotency && !idempotency.ok) throw invalidRequest('The Idempotency-Key header is not valid.', idempotency.errors);
    const parsed = parseJobSpec(body, { allowedRegistries: config.allowedRegistries });
    if (!parsed.ok) throw invalidRequest('The job spec is not valid; see errors for each field.', parsed.errors);
    requireRunnable(parsed.spec);

    const key = idempotency?.ok ? idempotency.key : undefined;
    const result = await store.createJob({
      jobId: dependencies.newJobId(),
      owner,
      spec: parsed.spec,
      now: dependencies.now(),
      ...(key === undefined ? {} : { idempotency: { key, requestHash: canonicalRequestHash(body) } }),
    });
    if (result.kind === 'key-conflict') {
      throw new HttpProblem(
        PROBLEM_TYPES.idempotencyKeyReused,
        'This Idempotency-Key was already used in the last 24 hours with a different request body.',
      );
    }
    const { job } = result;
    if (result.kind === 'created') {
      await announceNewJob(job, key);
      dependencies.metrics.add(JOB_METRICS.jobsSubmitted);
    } else if (job.status === 'QUEUED') {
      // The first request may have stopped between storing and announcing the job; announcing
      // again is harmless because the dispatcher starts one execution per job id.
      await announce(job.jobId).catch((error: unknown) => {
        throw unavailable('The job could not be queued; retry the request with the same Idempotency-Key.', error);
      });
    }
    return json(202, toPublicJob(job), { location: `/v1/jobs/${job.jobId}` });
  }

  /**
   * A valid spec Batch would still refuse, or that no instance can hold, would be accepted only to
   * fail when its attempt starts (or after waiting for capacity that never comes): refused here
   * instead, before anything is stored.
   */
  function requireRunnable(spec: JobSpec): void {
    const notExecutable = checkExecutable(spec);
    if (notExecutable.length > 0) {
      throw new HttpProblem(PROBLEM_TYPES.notExecutable, 'No process can be started with this command or environment; see errors.', { errors: notExecutable });
    }
    const overLimits = checkBatchLimits(spec);
    if (overLimits.length > 0) {
      throw new HttpProblem(PROBLEM_TYPES.batchLimitExceeded, 'AWS Batch would refuse this job; see errors.', { errors: overLimits });
    }
    const fit = fits(spec, config.jobShapes);
    if (!fit.fits) {
      const largest = config.jobShapes.map(describeShape).join('; or ');
      throw new HttpProblem(PROBLEM_TYPES.unplaceable, `No instance this deployment can launch holds the job. The largest jobs it can run: ${largest}.`, {
        errors: [{ path: fit.field, message: describeMisfit(fit, spec) }],
      });
    }
  }

  /**
   * A job nobody announced would stay QUEUED forever, so when the send fails the job and its
   * idempotency record are withdrawn and the caller is told to retry (503).
   */
  async function announceNewJob(job: JobRecord, key: string | undefined): Promise<void> {
    try {
      await announce(job.jobId);
    } catch (sendError) {
      try {
        await store.deleteUnsentJob(job.jobId, job.owner, key);
      } catch (deleteError) {
        dependencies.logger.error('Could not withdraw a job whose intake message failed', { jobId: job.jobId, sendError, deleteError });
      }
      throw unavailable('The job could not be queued and was not created; retry the request.', sendError);
    }
  }

  async function announce(jobId: string): Promise<void> {
    await dependencies.sqs.send(new SendMessageCommand({ QueueUrl: config.intakeQueueUrl, MessageBody: JSON.stringify({ jobId }) }));
  }

  async function listJobs(query: QueryParameters, owner: string): Promise<ApiResponse> {
    const parsed = parseListQuery(query);
    if (!parsed.ok) throw invalidRequest('The query is not valid; see errors for each parameter.', parsed.errors);
    try {
      const page = await store.listJobs({ owner, ...parsed.query });
      return json(200, { jobs: page.jobs.map(toPublicJob), ...(page.nextToken === undefined ? {} : { nextToken: page.nextToken }) });
    } catch (error) {
      if (!(error instanceof InvalidNextTokenError)) throw error;
      throw invalidRequest('The nextToken is not valid.', [{ path: 'nextToken', message: 'must be a token returned by a previous page of the same listing' }]);
    }
  }

  /**
   * QUEUED → CANCELLED at once, with its terminal event owed on the record (see
   * shared/terminal-event.ts). PENDING/RUNNING → the cancel is recorded, then the execution is
   * stopped; the job becomes CANCELLED when the execution ends (reconcile). Every step is a
   * conditional write, so a cancel racing the dispatcher or the job's own end re-reads and
   * decides again; the first terminal write wins. Cancelling a CANCELLED job again pays any
   * terminal event still owed, so an owner's retry delivers what a failed publish could not.
   */
  async function cancelJob(initial: JobRecord): Promise<ApiResponse> {
    let job = initial;
    for (let round = 0; round < 8; round++) {
      try {
        switch (job.status) {
          case 'SUCCEEDED':
          case 'FAILED':
            throw new HttpProblem(PROBLEM_TYPES.jobFinished, `Job ${job.jobId} already ${job.status.toLowerCase()}; it can no longer be cancelled.`);
          case 'CANCELLED':
            await payOwedTerminalEvent(job);
            return json(202, toPublicJob(job));
          case 'QUEUED': {
            const now = dependencies.now();
            const cancelled = await store.transition({
              jobId: job.jobId,
              from: ['QUEUED'],
              to: 'CANCELLED',
              now,
              expectedVersion: job.version,
              set: terminalTransitionFields(
                { statusReason: CANCELLED_BEFORE_START_REASON, finishedAt: now, cancelRequested: true },
                'api',
                job.status,
              ),
            });
            dependencies.metrics.add(JOB_METRICS.jobsCancelled);
            await payOwedTerminalEvent(cancelled);
            return json(202, toPublicJob(cancelled));
          }
          case 'PENDING':
          case 'RUNNING': {
            const requested = job.cancelRequested ? job : await store.requestCancel(job.jobId, dependencies.now());
            await stopExecution(requested.jobId);
            return json(202, toPublicJob(requested));
          }
        }
      } catch (error) {
        if (error instanceof JobNotFoundError) throw jobNotFound(job.jobId);
        if (!(error instanceof ConflictError)) throw error;
        const current = error.current ?? (await store.getJob(job.jobId));
        if (!current) throw jobNotFound(job.jobId);
        job = current;
      }
    }
    throw unavailable('The job kept changing while it was being cancelled; retry the request.');
  }

  /** The cancel stands either way: a failed publish stays owed on the record for the next cancel. */
  async function payOwedTerminalEvent(job: JobRecord): Promise<void> {
    try {
      await payTerminalEventDebt(dependencies.terminalEvents, job);
    } catch (error) {
      // Another invocation (reconcile, a concurrent cancel) is publishing it right now.
      if (error instanceof TerminalEventBusyError) return;
      dependencies.logger.error('Could not publish the terminal event of a cancelled job; a repeated cancel publishes it', {
        jobId: job.jobId,
        error,
      });
    }
  }

  async function stopExecution(jobId: string): Promise<void> {
    try {
      await dependencies.sfn.send(
        new StopExecutionCommand({
          executionArn: executionArnFor(config.stateMachineArn, jobId),
          error: 'gpujobs.Cancelled',
          cause: 'Cancelled by its owner through the API.',
        }),
      );
    } catch (error) {
      // The cancel is recorded on the job; the workflow checks it before each attempt.
      if (error instanceof Error && error.name === 'ExecutionDoesNotExist') {
        dependencies.logger.warn('No execution to stop for a job being cancelled', { jobId });
        return;
      }
      throw unavailable('The cancel was recorded but the job could not be stopped yet; retry the request.', error);
    }
  }

  async function getJobLogs(job: JobRecord, query: QueryParameters): Promise<ApiResponse> {
    const parsed = parseLogsQuery(query);
    if (!parsed.ok) throw invalidRequest('The query is not valid; see errors for each parameter.', parsed.errors);
    try {
      return json(200, await dependencies.logs.readPage(job, parsed.query));
    } catch (error) {
      if (!(error instanceof InvalidLogTokenError)) throw error;
      throw invalidRequest('The nextToken is not valid.', [{ path: 'nextToken', message: 'must be a token returned by a previous page of these logs' }]);
    }
  }

  return { handle };
}

/** The execution of a job: `...:stateMachine:<name>` → `...:execution:<name>:<jobId>`. */
export function executionArnFor(stateMachineArn: string, jobId: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${jobId}`;
}

function unavailable(detail: string, cause?: unknown): HttpProblem {
  return new HttpProblem(PROBLEM_TYPES.serviceUnavailable, detail, { headers: { 'retry-after': '1' } }, { cause });
}

/**
 * Only JSON is read, on AWS too, where SigV4 or a JWT already keeps browsers out: a client that
 * labels its body otherwise learns so at once instead of having it parsed by guesswork. Header
 * names arrive lowercased in payload format 2.0
 * (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html).
 */
function parseJsonBody(request: ApiRequest): unknown {
  const contentType = request.headers?.['content-type'];
  if (!isJsonMediaType(contentType)) {
    throw new HttpProblem(
      PROBLEM_TYPES.unsupportedMediaType,
      `The request body must be sent with Content-Type: ${JSON_MEDIA_TYPE}. Received ${describeContentType(contentType)}.`,
    );
  }
  const raw = Buffer.from(request.body ?? '', request.isBase64Encoded ? 'base64' : 'utf8');
  if (raw.byteLength > MAX_BODY_BYTES) {
    throw new HttpProblem(PROBLEM_TYPES.payloadTooLarge, `The request body must be at most ${MAX_BODY_BYTES} bytes. Received ${raw.byteLength} bytes.`);
  }
  // JSON is UTF-8 (https://www.rfc-editor.org/rfc/rfc8259#section-8.1). A text body arrives already
  // decoded, but bytes that arrive base64-encoded are decoded here, and toString would put U+FFFD in
  // place of any that are not UTF-8: the job would run with characters its owner never sent.
  if (request.isBase64Encoded && !isUtf8(raw)) {
    throw invalidRequest('The request body is not valid UTF-8.', [{ path: '', message: 'must be JSON encoded as UTF-8' }]);
  }
  const text = raw.toString('utf8');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw invalidRequest('The request body is not valid JSON.', [{ path: '', message: 'must be valid JSON' }]);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw invalidRequest('The request body must be a JSON object.', [
      { path: '', message: `must be a JSON object, received ${body === null ? 'null' : Array.isArray(body) ? 'an array' : typeof body}` },
    ]);
  }
  return body;
}

