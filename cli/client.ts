/**
 * A small client for the HTTP API (v1). Errors come back as classes that the
 * command layer prints: the API's problem details, or an endpoint that cannot be reached.
 */
import { LOCAL_OWNER_HEADER } from '../core/contract/owner.js';
import { pathSegments, routeNamed, type RouteName } from '../core/contract/routes.js';
import type { Job, JobPage, JobStatus, LogPage } from '../core/job.js';
import { JSON_MEDIA_TYPE } from '../core/media-type.js';
import type { RequestAuthenticator } from './auth.js';
import { describeSource, type ResolvedEndpoint } from './config.js';

export type Fetch = typeof globalThis.fetch;

export interface FieldError {
  readonly path: string;
  readonly message: string;
}

/** RFC 9457 problem details, as the API sends them. */
export interface Problem {
  readonly type?: string;
  readonly title: string;
  readonly status: number;
  readonly detail?: string;
  readonly errors?: readonly FieldError[];
  readonly requestId?: string;
}

export class ApiProblemError extends Error {
  override readonly name = 'ApiProblemError';
  constructor(readonly problem: Problem) {
    super(problem.detail ? `${problem.title}: ${problem.detail}` : problem.title);
  }
}

export class EndpointUnreachableError extends Error {
  override readonly name = 'EndpointUnreachableError';
  constructor(
    readonly endpoint: ResolvedEndpoint,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot reach gpujobs at ${endpoint.url.origin}${endpoint.url.pathname.replace(/\/$/, '')} (${reason})`, options);
  }

  /** What the user can do about it, depending on where the endpoint came from. */
  get hint(): string {
    switch (this.endpoint.source) {
      case 'default':
        return 'Is local mode running? Start it with `npm start` in the gpujobs checkout, or point --endpoint / GPUJOBS_ENDPOINT at a deployed stack.';
      case 'flag':
        return 'Check the URL given to --endpoint.';
      case 'env':
        return 'Check GPUJOBS_ENDPOINT.';
      case 'config':
        return `Check the endpoint saved by \`gpujobs configure\` (run it again if the stack was redeployed), or override it with --endpoint.`;
      case 'stack':
        return 'Check that the stack given to --stack is deployed and finished updating (CREATE_COMPLETE or UPDATE_COMPLETE).';
      default:
        return this.endpoint.source satisfies never;
    }
  }
}

export class UnexpectedResponseError extends Error {
  override readonly name = 'UnexpectedResponseError';
}

export type { JobPage, LogLine, LogPage } from '../core/job.js';

export interface ClientOptions {
  readonly endpoint: ResolvedEndpoint;
  readonly authenticate: RequestAuthenticator;
  readonly owner?: string;
  readonly fetch: Fetch;
  readonly requestTimeoutMs?: number;
}

export class GpuJobsClient {
  constructor(private readonly options: ClientOptions) {}

  get endpoint(): ResolvedEndpoint {
    return this.options.endpoint;
  }

  submit(body: unknown, idempotencyKey?: string): Promise<Job> {
    return this.request<Job>(
      'submitJob',
      {},
      {
        body,
        ...(idempotencyKey ? { headers: { 'idempotency-key': idempotencyKey } } : {}),
      },
    );
  }

  get(jobId: string): Promise<Job> {
    return this.request<Job>('getJob', { jobId });
  }

  list(query: { status?: JobStatus; limit?: number; nextToken?: string }): Promise<JobPage> {
    return this.request<JobPage>('listJobs', {}, { query });
  }

  cancel(jobId: string): Promise<Job> {
    return this.request<Job>('cancelJob', { jobId });
  }

  logs(jobId: string, query: { nextToken?: string; limit?: number }): Promise<LogPage> {
    return this.request<LogPage>('getJobLogs', { jobId }, { query });
  }

  private async request<T>(
    routeName: RouteName,
    parameters: Readonly<Record<string, string>>,
    options: {
      body?: unknown;
      query?: Readonly<Record<string, string | number | undefined>>;
      headers?: Readonly<Record<string, string>>;
    } = {},
  ): Promise<T> {
    const route = routeNamed(routeName);
    const method = route.method;
    const url = this.url(pathSegments(route, parameters), options.query ?? {});
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    // Local mode refuses a POST without this type even when it has no body (local/request-guard.ts).
    const declaresJson = body !== undefined || method === 'POST';
    const headers: Record<string, string> = {
      accept: 'application/json, application/problem+json',
      ...(declaresJson ? { 'content-type': JSON_MEDIA_TYPE } : {}),
      ...(this.options.owner ? { [LOCAL_OWNER_HEADER]: this.options.owner } : {}),
      ...options.headers,
    };
    const signedHeaders = await this.options.authenticate({ method, url, headers, ...(body !== undefined ? { body } : {}) });
    let response: Response;
    try {
      response = await this.options.fetch(url, {
        method,
        headers: signedHeaders,
        ...(body !== undefined ? { body } : {}),
        signal: AbortSignal.timeout(this.options.requestTimeoutMs ?? 30_000),
      });
    } catch (error) {
      throw new EndpointUnreachableError(this.options.endpoint, networkReason(error), { cause: error });
    }
    const text = await response.text();
    if (!response.ok) throw new ApiProblemError(toProblem(response, text));
    try {
      return JSON.parse(text) as T;
    } catch (error) {
      throw new UnexpectedResponseError(
        `${method} ${url.pathname} answered ${response.status} with a body that is not JSON; is ${this.options.endpoint.url.origin} a gpujobs API (${describeSource(this.options.endpoint.source)})?`,
        { cause: error },
      );
    }
  }

  private url(segments: readonly string[], query: Readonly<Record<string, string | number | undefined>>): URL {
    const base = this.options.endpoint.url;
    const path = `${base.pathname.replace(/\/+$/, '')}/${segments.map(encodeRfc3986).join('/')}`;
    const search = Object.entries(query)
      .filter((entry): entry is [string, string | number] => entry[1] !== undefined)
      .map(([key, value]) => `${encodeRfc3986(key)}=${encodeRfc3986(String(value))}`)
      .join('&');
    return new URL(`${base.origin}${path}${search ? `?${search}` : ''}`);
  }
}

/** SigV4 canonicalises with RFC 3986 escaping; sending the same bytes keeps signatures valid. */
function encodeRfc3986(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function networkReason(error: unknown): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return 'no answer in time';
  const cause = (error as { cause?: { code?: string; message?: string } } | undefined)?.cause;
  return cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
}

function toProblem(response: Response, text: string): Problem {
  let body: Record<string, unknown> | undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) body = parsed as Record<string, unknown>;
  } catch {
    body = undefined;
  }
  const fallbackTitle = response.statusText || `HTTP ${response.status}`;
  if (body && typeof body.title === 'string') {
    return {
      title: body.title,
      status: typeof body.status === 'number' ? body.status : response.status,
      ...(typeof body.type === 'string' ? { type: body.type } : {}),
      ...(typeof body.detail === 'string' ? { detail: body.detail } : {}),
      ...(typeof body.requestId === 'string' ? { requestId: body.requestId } : {}),
      ...(Array.isArray(body.errors) ? { errors: body.errors.filter(isFieldError) } : {}),
    };
  }
  // API Gateway answers auth failures itself, as {"message": "..."}.
  const message = body && typeof body.message === 'string' ? body.message : undefined;
  return {
    title: message ?? fallbackTitle,
    status: response.status,
    ...(response.status === 403 || response.status === 401 ? { detail: authHint(response.status) } : {}),
  };
}

function authHint(status: number): string {
  return status === 401
    ? 'The API wants a token: pass --token or set GPUJOBS_TOKEN.'
    : 'The request was refused: check your AWS credentials (AWS_PROFILE, `aws sso login`) and that they may call this API, or the --token you passed.';
}

function isFieldError(value: unknown): value is FieldError {
  const candidate = value as Partial<FieldError> | null;
  return typeof candidate === 'object' && candidate !== null && typeof candidate.path === 'string' && typeof candidate.message === 'string';
}
