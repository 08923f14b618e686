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
import { ConflictError, JobNotFoundError, type JobStore } from '../../core/ports.js';
import { checkBatchLimits } from '../../core/batch-limits.js';
import { canonicalRequestHash } from '../../core/canonical-json.js';
import { checkExecutable } from '../../core/executable.js';
import { isJobId } from '../../core/job-id.js';
import { toPublicJob } from '../../core/job-view.js';
import { parseListQuery, parseLogsQuery, validateIdempotencyKey, type QueryParameters } from '../../core/queries.js';
import { JOB_SPEC_LIMITS, parseJobSpec } from '../../core/spec.js';
import { InvalidNextTokenError } from '../shared/page-token.js';
import { JOB_METRICS } from '../../core/contract/metrics.js';
import type { MetricsRecorder } from '../../core/contract/metrics.js';
import { cancelJob, type CancelOutcome } from '../../app/cancel-job.js';
import type { TerminalEventDependencies } from '../../app/terminal-event.js';
import { InvalidLogTokenError, type JobLogReader } from './job-logs.js';
import type { OwnerIdentity } from '../../core/contract/owner.js';
import { MAX_BODY_BYTES, pathPattern, ROUTE_LIST, type RouteName } from '../../core/contract/routes.js';
import { executionArnFor } from '../../core/contract/workflow.js';
import { resolveOwner, type OwnerSource } from './owner.js';
import { HttpProblem, PROBLEM_TYPES, invalidRequest } from './problem.js';

/**
 * A shape as the largest job it holds. A bound at the API's own maximum is no bound of the
 * place (local mode limits only GPUs), so it is not quoted as one.
 */
function describeShape(shape: JobShape): string {
  const vcpus = shape.vcpus >= JOB_SPEC_LIMITS.vcpus.max ? 'any vCPU count' : `${shape.vcpus} vCPUs`;
  const memory = shape.memoryMiB >= JOB_SPEC_LIMITS.memoryMiB.max ? 'any memory the API accepts' : `${shape.memoryMiB} MiB of memory`;
  return `${shape.gpus} GPUs, ${vcpus} and ${memory} (${shape.label})`;
}

export { CANCELLED_BEFORE_START_REASON } from '../../app/cancel-job.js';

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

const ROUTE_BY_KEY = new Map<string, RouteName>(ROUTE_LIST.map((route) => [route.key, route.name]));

/** For a `$default` route: each path template once, with the route of each method it takes. */
const PATH_PATTERNS: readonly { readonly pattern: RegExp; readonly methods: Readonly<Record<string, RouteName>> }[] = [
  ...new Set(ROUTE_LIST.map((route) => route.path)),
].map((path) => ({
  pattern: pathPattern(path, { trailingSlash: true }),
  methods: Object.fromEntries(ROUTE_LIST.filter((route) => route.path === path).map((route) => [route.method, route.name])),
}));

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
  const cancelDependencies = {
    store,
    terminalEvents: dependencies.terminalEvents,
    metrics: dependencies.metrics,
    now: dependencies.now,
    stopExecution: (jobId: string) => stopExecution(jobId),
    onEventOwed: (jobId: string, error: unknown) =>
      dependencies.logger.error('Could not publish the terminal event of a cancelled job; a repeated cancel publishes it', {
        jobId,
        error,
      }),
  };

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
        return cancel(await requireOwnedJob(route.jobId, owner));
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
      throw new HttpProblem(PROBLEM_TYPES.notExecutable, 'No process can be started with this command or environment; see errors.', {
        errors: notExecutable,
      });
    }
    const overLimits = checkBatchLimits(spec);
    if (overLimits.length > 0) {
      throw new HttpProblem(PROBLEM_TYPES.batchLimitExceeded, 'AWS Batch would refuse this job; see errors.', { errors: overLimits });
    }
    const fit = fits(spec, config.jobShapes);
    if (!fit.fits) {
      const largest = config.jobShapes.map(describeShape).join('; or ');
      throw new HttpProblem(
        PROBLEM_TYPES.unplaceable,
        `No instance this deployment can launch holds the job. The largest jobs it can run: ${largest}.`,
        {
          errors: [{ path: fit.field, message: describeMisfit(fit, spec) }],
        },
      );
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
      throw invalidRequest('The nextToken is not valid.', [
        { path: 'nextToken', message: 'must be a token returned by a previous page of the same listing' },
      ]);
    }
  }

  /** See app/cancel-job.ts; this maps its outcome to HTTP. */
  async function cancel(initial: JobRecord): Promise<ApiResponse> {
    let outcome: CancelOutcome;
    try {
      outcome = await cancelJob(cancelDependencies, initial);
    } catch (error) {
      if (error instanceof JobNotFoundError) throw jobNotFound(initial.jobId);
      if (error instanceof ConflictError)
        throw unavailable('The job kept changing while it was being cancelled; retry the request.', error);
      throw error;
    }
    if (outcome.kind === 'already-ended') {
      throw new HttpProblem(
        PROBLEM_TYPES.jobFinished,
        `Job ${outcome.job.jobId} already ${outcome.job.status.toLowerCase()}; it can no longer be cancelled.`,
      );
    }
    return json(202, toPublicJob(outcome.job));
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
      throw invalidRequest('The nextToken is not valid.', [
        { path: 'nextToken', message: 'must be a token returned by a previous page of these logs' },
      ]);
    }
  }

  return { handle };
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
    throw new HttpProblem(
      PROBLEM_TYPES.payloadTooLarge,
      `The request body must be at most ${MAX_BODY_BYTES} bytes. Received ${raw.byteLength} bytes.`,
    );
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
