/**
 * RFC 9457 problem details at the HTTP edge. Only an HttpProblem (statusCode + expose) reaches
 * the caller as it is; anything else becomes a 500 that says something went wrong and gives the
 * request id, so no internal message or stack trace ever leaves the function.
 */
import type { MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type { ValidationIssue } from '../../core/spec.js';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** The problem types this API returns; `type` is `urn:gpujobs:problem:<slug>`. */
export const PROBLEM_TYPES = {
  invalidRequest: { slug: 'invalid-request', status: 400, title: 'The request is not valid' },
  unauthenticated: { slug: 'unauthenticated', status: 401, title: 'The caller is not authenticated' },
  notFound: { slug: 'not-found', status: 404, title: 'Not found' },
  methodNotAllowed: { slug: 'method-not-allowed', status: 405, title: 'Method not allowed' },
  jobFinished: { slug: 'job-finished', status: 409, title: 'The job has already finished' },
  idempotencyKeyReused: { slug: 'idempotency-key-reused', status: 409, title: 'The Idempotency-Key was used for a different request' },
  payloadTooLarge: { slug: 'payload-too-large', status: 413, title: 'The request body is too large' },
  unsupportedMediaType: { slug: 'unsupported-media-type', status: 415, title: 'The request must be sent as application/json' },
  notExecutable: { slug: 'not-executable', status: 422, title: "No process can be started with the job's command or environment" },
  batchLimitExceeded: { slug: 'batch-limit-exceeded', status: 422, title: 'The job is more than AWS Batch accepts' },
  unplaceable: { slug: 'unplaceable', status: 422, title: 'No instance the deployment can launch holds the job' },
  serviceUnavailable: { slug: 'service-unavailable', status: 503, title: 'The service is temporarily unavailable' },
  internalError: { slug: 'internal-error', status: 500, title: 'Something went wrong' },
} as const;

export type ProblemType = (typeof PROBLEM_TYPES)[keyof typeof PROBLEM_TYPES];

export const problemTypeUri = (type: { readonly slug: string }) => `urn:gpujobs:problem:${type.slug}`;

export interface ProblemBody {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly errors?: readonly ValidationIssue[];
  readonly requestId?: string;
}

/** An error meant for the caller: its status, title and detail are safe to show. */
export class HttpProblem extends Error {
  override readonly name = 'HttpProblem';
  readonly statusCode: number;
  readonly expose = true;

  constructor(
    readonly problemType: ProblemType,
    readonly detail: string,
    readonly extras: { readonly errors?: readonly ValidationIssue[]; readonly headers?: Record<string, string> } = {},
    options?: ErrorOptions,
  ) {
    super(detail, options);
    this.statusCode = problemType.status;
  }

  toBody(): ProblemBody {
    return {
      type: problemTypeUri(this.problemType),
      title: this.problemType.title,
      status: this.problemType.status,
      detail: this.detail,
      ...(this.extras.errors ? { errors: this.extras.errors } : {}),
    };
  }
}

export const invalidRequest = (detail: string, errors: readonly ValidationIssue[]) =>
  new HttpProblem(PROBLEM_TYPES.invalidRequest, detail, { errors });

export function problemResponse(body: ProblemBody, headers: Record<string, string> = {}): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode: body.status,
    headers: { ...headers, 'content-type': PROBLEM_CONTENT_TYPE },
    body: JSON.stringify(body),
  };
}

interface ErrorLogger {
  error(message: string, ...extra: unknown[]): void;
}

/** Errors from other middlewares (e.g. middy's http-errors) opt in the same way: statusCode + expose. */
interface ExposedError {
  readonly statusCode: number;
  readonly expose: true;
  readonly message: string;
}

function isExposedError(error: unknown): error is ExposedError {
  const candidate = error as Partial<ExposedError> | null | undefined;
  return (
    typeof candidate?.statusCode === 'number' && candidate.expose === true && candidate.statusCode >= 400 && candidate.statusCode < 500
  );
}

/** Middy middleware: turns any error into a problem details response. */
export function problemDetails(options: {
  readonly logger: ErrorLogger;
}): MiddlewareObj<unknown, APIGatewayProxyStructuredResultV2, Error, Context> {
  return {
    onError: async (request) => {
      const { error } = request;
      if (error instanceof HttpProblem) {
        request.response = problemResponse(error.toBody(), error.extras.headers);
        return;
      }
      if (isExposedError(error)) {
        request.response = problemResponse({ type: 'about:blank', title: error.message, status: error.statusCode, detail: error.message });
        return;
      }
      const requestId = request.context?.awsRequestId ?? 'unknown';
      options.logger.error('Request failed', { error, requestId });
      request.response = problemResponse({
        type: problemTypeUri(PROBLEM_TYPES.internalError),
        title: PROBLEM_TYPES.internalError.title,
        status: 500,
        detail: `Something went wrong. Quote request id ${requestId} when reporting this.`,
        requestId,
      });
    },
  };
}
