/** API Gateway HTTP API (payload v2) events, as the stage would hand them to the api handler. */
import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';

export interface ApiEventOptions {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';
  /** The concrete path, e.g. `/v1/jobs/ABC/cancel`. */
  readonly path: string;
  /** The matched route key; derived from method + path unless given (`$default` for a catch-all). */
  readonly routeKey?: string;
  /** A string is sent as is; anything else is JSON-encoded. */
  readonly body?: unknown;
  /** The body is a base64 string, as API Gateway hands over a body it does not pass as text. */
  readonly isBase64Encoded?: boolean;
  readonly headers?: Record<string, string>;
  readonly query?: Record<string, string>;
  /** IAM principal ARN; `null` for a request with no authorizer context. */
  readonly principalArn?: string | null;
  readonly jwtSubject?: string;
}

const ROUTE_TEMPLATES: readonly [RegExp, string][] = [
  [/^\/v1\/jobs$/, '/v1/jobs'],
  [/^\/v1\/jobs\/[^/]+$/, '/v1/jobs/{jobId}'],
  [/^\/v1\/jobs\/[^/]+\/cancel$/, '/v1/jobs/{jobId}/cancel'],
  [/^\/v1\/jobs\/[^/]+\/logs$/, '/v1/jobs/{jobId}/logs'],
];

export function apiEvent(options: ApiEventOptions) {
  const template = ROUTE_TEMPLATES.find(([pattern]) => pattern.test(options.path))?.[1];
  const routeKey = options.routeKey ?? (template ? `${options.method} ${template}` : '$default');
  const jobId = /^\/v1\/jobs\/([^/]+)/.exec(options.path)?.[1];
  const authorizer =
    options.jwtSubject !== undefined
      ? { jwt: { claims: { sub: options.jwtSubject }, scopes: null } }
      : options.principalArn === null
        ? undefined
        : { iam: { userArn: options.principalArn ?? 'arn:aws:iam::123456789012:user/alice' } };
  const body = options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  const query = options.query;
  return {
    version: '2.0',
    routeKey,
    rawPath: options.path,
    rawQueryString: query ? new URLSearchParams(query).toString() : '',
    headers: {
      'content-type': 'application/json',
      ...Object.fromEntries(Object.entries(options.headers ?? {}).map(([name, value]) => [name.toLowerCase(), value])),
    },
    ...(query ? { queryStringParameters: query } : {}),
    ...(jobId !== undefined && routeKey !== '$default' ? { pathParameters: { jobId } } : {}),
    requestContext: {
      accountId: '123456789012',
      apiId: 'api',
      domainName: 'api.example.com',
      domainPrefix: 'api',
      http: { method: options.method, path: options.path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test' },
      requestId: randomUUID(),
      routeKey,
      stage: '$default',
      time: new Date().toUTCString(),
      timeEpoch: Date.now(),
      ...(authorizer ? { authorizer } : {}),
    },
    ...(body === undefined ? {} : { body }),
    isBase64Encoded: options.isBase64Encoded ?? false,
  };
}

export function lambdaContext(requestId: string = randomUUID()): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'gpujobs-api',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:gpujobs-api',
    memoryLimitInMB: '512',
    awsRequestId: requestId,
    logGroupName: '/aws/lambda/gpujobs-api',
    logStreamName: 'stream',
    getRemainingTimeInMillis: () => 30_000,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

/** The handler's answer with the body parsed. */
export interface ParsedResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  // biome-ignore lint/suspicious/noExplicitAny: tests read the parsed JSON body field by field
  readonly body: any;
}

export function parseResponse(response: { statusCode?: number; headers?: Record<string, unknown>; body?: string }): ParsedResponse {
  return {
    statusCode: response.statusCode ?? 0,
    headers: Object.fromEntries(Object.entries(response.headers ?? {}).map(([name, value]) => [name.toLowerCase(), String(value)])),
    body: response.body === undefined || response.body === '' ? undefined : JSON.parse(response.body),
  };
}
