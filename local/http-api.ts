/**
 * The API Gateway HTTP API stand-in: turns requests into API Gateway v2 (payload
 * format 2.0) events for the same api handler, with the stack's routes and body limit
 * (core/contract/routes.ts), and serves the local-only /local/* endpoints. Every request first
 * passes the request guard (request-guard.ts), which keeps web pages out.
 */
import { isUtf8 } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { MAX_BODY_BYTES, pathPattern, ROUTE_LIST } from '../core/contract/routes.js';
import type { LocalLogger } from './logger.js';
import { createRequestGuard, type Refusal, type RequestGuard } from './request-guard.js';

interface Route {
  readonly method: string;
  readonly pattern: RegExp;
  readonly routeKey: string;
  readonly parameters: readonly string[];
}

/** The routes of the stack's HTTP API, matched as API Gateway matches its route keys: the path exactly, no trailing `/`. */
const ROUTES: readonly Route[] = ROUTE_LIST.map((route) => ({
  method: route.method,
  pattern: pathPattern(route.path),
  routeKey: route.key,
  parameters: route.parameters,
}));

export interface LocalControl {
  interruptSpot(): number;
  setSpotCapacity(available: boolean): void;
  /** A page of events, oldest first; throws an error named InvalidEventsRequestError for a limit or token it refuses. */
  listEvents(request: { readonly limit?: number; readonly nextToken?: string }): { readonly events: unknown[]; readonly nextToken: string };
  info(): LocalInfo;
}

/** GET /local/info: what a client cannot learn through the API, such as whether the GPUs are real (`gpujobs smoke` asks). */
export interface LocalInfo {
  readonly gpus: { readonly real: boolean; readonly count: number };
}

export interface LocalHttpApiOptions {
  readonly invokeApi: (event: APIGatewayProxyEventV2) => Promise<unknown>;
  readonly control: LocalControl;
  readonly account: string;
  readonly logger: LocalLogger;
  /** Why the platform cannot serve the API right now, or undefined when it can. */
  readonly unavailable?: () => string | undefined;
}

export class PayloadTooLargeError extends Error {
  override readonly name = 'PayloadTooLargeError';
}

export interface RunningHttpApi {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

export async function startHttpApi(options: LocalHttpApiOptions, port: number, host = '127.0.0.1'): Promise<RunningHttpApi> {
  // The guard needs the port actually bound, known only once listening; no request is read before.
  let guard: RequestGuard | undefined;
  const server: Server = createServer((request, response) => {
    const refused = guard ? guard.check(request.method ?? 'GET', request.headers) : unguarded;
    if (refused) {
      request.resume();
      sendRefusal(response, refused);
      return;
    }
    void route(options, request, response).catch((error: unknown) => {
      options.logger.error(`${request.method} ${request.url}`, error);
      if (!response.headersSent) sendProblem(response, 500, 'Internal Server Error', 'Something went wrong.');
      else response.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const actualPort = (server.address() as AddressInfo).port;
  guard = createRequestGuard(host, actualPort);
  return {
    url: `http://${isIP(host) === 6 ? `[${host}]` : host}:${actualPort}`,
    port: actualPort,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function route(options: LocalHttpApiOptions, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const url = new URL(request.url ?? '/', 'http://localhost');
  const method = request.method ?? 'GET';

  if (url.pathname.startsWith('/local/')) {
    await localEndpoint(options.control, method, url.pathname, request, response, url.searchParams);
    return;
  }

  const match = matchRoute(method, url.pathname);
  if (!match) {
    request.resume();
    sendProblem(response, 404, 'Not Found', `No route for ${method} ${url.pathname}.`);
    return;
  }
  if (refuseWhileUnavailable(options, request, response)) return;
  const body = await readBodyOrRefuse(request, response);
  if (body === undefined) return;
  const event = toApiGatewayEvent(request, url, match, body, options.account);
  let result: unknown;
  try {
    result = await options.invokeApi(event);
  } catch (error) {
    // API Gateway's answer when the integration fails: no detail leaks.
    options.logger.error(`api handler failed on ${match.route.routeKey}`, error);
    sendJson(response, 500, { message: 'Internal Server Error' }, { 'apigw-requestid': event.requestContext.requestId });
    return;
  }
  // A 500 from a store that stopped under this very request (a write that filled the disk) is
  // answered as the 503 the next request would get.
  if (statusOf(result) === 500 && refuseWhileUnavailable(options, request, response)) return;
  sendIntegrationResult(response, result, event.requestContext.requestId);
}

/** Answers 503 naming the cause when the platform cannot serve the API (e.g. its disk is full). */
function refuseWhileUnavailable(options: LocalHttpApiOptions, request: IncomingMessage, response: ServerResponse): boolean {
  const unavailable = options.unavailable?.();
  if (!unavailable) return false;
  request.resume();
  sendProblem(
    response,
    503,
    'Service Unavailable',
    `Local mode cannot serve requests right now: ${unavailable}. It resumes by itself once the cause is fixed.`,
  );
  return true;
}

const statusOf = (result: unknown): unknown =>
  typeof result === 'object' && result !== null ? (result as { statusCode?: unknown }).statusCode : undefined;

function matchRoute(method: string, path: string): { route: Route; pathParameters: Record<string, string> } | undefined {
  for (const route of ROUTES) {
    if (route.method !== method) continue;
    const found = route.pattern.exec(path);
    if (!found) continue;
    const pathParameters: Record<string, string> = {};
    for (const [index, name] of route.parameters.entries()) {
      const value = decodePathParameter(found[index + 1]!);
      // A segment that is not valid percent-encoding names no job: no route, as API Gateway answers it.
      if (value === undefined) return undefined;
      pathParameters[name] = value;
    }
    return { route, pathParameters };
  }
  return undefined;
}

/**
 * API Gateway decodes path parameters before the integration sees them:
 * https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-routes.html
 */
function decodePathParameter(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch (error) {
    if (error instanceof URIError) return undefined;
    throw error;
  }
}

export function toApiGatewayEvent(
  request: IncomingMessage,
  url: URL,
  match: { route: Route; pathParameters: Record<string, string> },
  body: Buffer,
  account: string,
): APIGatewayProxyEventV2 {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined || name === 'cookie') continue;
    headers[name.toLowerCase()] = Array.isArray(value) ? value.join(',') : value;
  }
  const queryStringParameters: Record<string, string> = {};
  for (const name of new Set(url.searchParams.keys())) {
    queryStringParameters[name] = url.searchParams.getAll(name).join(',');
  }
  // Bytes that are not UTF-8 cannot be handed over as text without replacing them, after which the
  // api could not tell what was sent: they go base64-encoded, as a binary body does.
  const textual = isTextual(headers['content-type']) && isUtf8(body);
  const now = new Date();
  const cookies = request.headers.cookie
    ?.split(';')
    .map((cookie) => cookie.trim())
    .filter(Boolean);
  const requestId = randomUUID();
  return {
    version: '2.0',
    routeKey: match.route.routeKey,
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    ...(cookies?.length ? { cookies } : {}),
    headers,
    ...(Object.keys(queryStringParameters).length ? { queryStringParameters } : {}),
    ...(Object.keys(match.pathParameters).length ? { pathParameters: match.pathParameters } : {}),
    requestContext: {
      accountId: account,
      apiId: 'local',
      domainName: headers.host ?? 'localhost',
      domainPrefix: (headers.host ?? 'localhost').split('.')[0] ?? 'localhost',
      http: {
        method: request.method ?? 'GET',
        path: url.pathname,
        protocol: `HTTP/${request.httpVersion}`,
        sourceIp: request.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId,
      routeKey: match.route.routeKey,
      stage: '$default',
      time: apiGatewayTime(now),
      timeEpoch: now.getTime(),
    },
    ...(body.length > 0 ? { body: textual ? body.toString('utf8') : body.toString('base64') } : {}),
    isBase64Encoded: body.length > 0 && !textual,
  };
}

function isTextual(contentType: string | undefined): boolean {
  if (!contentType) return true;
  return /^(text\/|application\/([\w.+-]*\+)?(json|xml|x-www-form-urlencoded|javascript|yaml))/i.test(contentType);
}

/** API Gateway's `requestContext.time` format: `12/Mar/2020:19:03:58 +0000`. */
function apiGatewayTime(date: Date): string {
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const pad = (value: number) => String(value).padStart(2, '0');
  return `${pad(date.getUTCDate())}/${months[date.getUTCMonth()]}/${date.getUTCFullYear()}:${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`;
}

/** Stops reading as soon as the body passes the limit, so an oversized upload is never buffered whole. */
export function readLimitedBody(request: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(new PayloadTooLargeError(`${declared} bytes`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        request.off('data', onData);
        request.pause();
        reject(new PayloadTooLargeError(`more than ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    request.on('data', onData);
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

/** Payload format 2.0: a structured result, or any other value as a 200 JSON body. */
function sendIntegrationResult(response: ServerResponse, result: unknown, requestId: string): void {
  const structured =
    typeof result === 'object' && result !== null && 'statusCode' in result ? (result as APIGatewayProxyStructuredResultV2) : undefined;
  if (!structured) {
    sendJson(response, 200, result ?? null, { 'apigw-requestid': requestId });
    return;
  }
  const headers: Record<string, string | string[]> = { 'apigw-requestid': requestId };
  for (const [name, value] of Object.entries(structured.headers ?? {})) headers[name.toLowerCase()] = String(value);
  if (structured.cookies?.length) headers['set-cookie'] = structured.cookies;
  const body =
    structured.body === undefined
      ? Buffer.alloc(0)
      : structured.isBase64Encoded
        ? Buffer.from(structured.body, 'base64')
        : Buffer.from(structured.body, 'utf8');
  if (body.length > 0 && !headers['content-type']) headers['content-type'] = 'application/json';
  headers['content-length'] = String(body.length);
  response.writeHead(structured.statusCode ?? 200, headers);
  response.end(body);
}

async function localEndpoint(
  control: LocalControl,
  method: string,
  path: string,
  request: IncomingMessage,
  response: ServerResponse,
  query: URLSearchParams,
): Promise<void> {
  const body = await readBodyOrRefuse(request, response);
  if (body === undefined) return;
  if (method === 'POST' && path === '/local/spot/interrupt') {
    sendJson(response, 200, { interrupted: control.interruptSpot() });
    return;
  }
  if (method === 'POST' && path === '/local/spot/capacity') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      sendProblem(response, 400, 'Bad Request', 'The body must be JSON: {"available": true|false}.');
      return;
    }
    const available = (parsed as { available?: unknown } | null)?.available;
    if (typeof available !== 'boolean') {
      sendProblem(response, 400, 'Bad Request', 'The body must be JSON: {"available": true|false}.', undefined, [
        { path: 'available', message: 'must be a boolean' },
      ]);
      return;
    }
    control.setSpotCapacity(available);
    sendJson(response, 200, { available });
    return;
  }
  if (method === 'GET' && path === '/local/events') {
    const limitText = query.get('limit');
    const nextToken = query.get('nextToken');
    const limit = limitText === null ? undefined : /^\d{1,6}$/.test(limitText) ? Number(limitText) : Number.NaN;
    if (Number.isNaN(limit)) {
      sendProblem(response, 400, 'Bad Request', `limit must be a whole number. Received ${JSON.stringify(limitText)}.`);
      return;
    }
    let page: ReturnType<LocalControl['listEvents']>;
    try {
      page = control.listEvents({ ...(limit === undefined ? {} : { limit }), ...(nextToken === null ? {} : { nextToken }) });
    } catch (error) {
      if (!(error instanceof Error) || error.name !== 'InvalidEventsRequestError') throw error;
      sendProblem(response, 400, 'Bad Request', error.message);
      return;
    }
    sendJson(response, 200, page);
    return;
  }
  if (method === 'GET' && path === '/local/info') {
    sendJson(response, 200, control.info());
    return;
  }
  sendProblem(response, 404, 'Not Found', `No route for ${method} ${path}.`);
}

/** The request's body, or undefined when it was over MAX_BODY_BYTES and has been answered with 413. */
async function readBodyOrRefuse(request: IncomingMessage, response: ServerResponse): Promise<Buffer | undefined> {
  try {
    return await readLimitedBody(request, MAX_BODY_BYTES);
  } catch (error) {
    if (!(error instanceof PayloadTooLargeError)) throw error;
    rejectTooLarge(request, response);
    return undefined;
  }
}

/**
 * Answers 413 and discards (never buffers) the rest of the upload for a moment, so the
 * client can read the answer before the connection closes.
 */
function rejectTooLarge(request: IncomingMessage, response: ServerResponse): void {
  request.resume();
  sendProblem(response, 413, 'Payload Too Large', `The request body must be at most ${MAX_BODY_BYTES} bytes.`, () => {
    setTimeout(() => request.destroy(), 1_000).unref();
  });
}

const unguarded: Refusal = {
  type: 'about:blank',
  title: 'Service Unavailable',
  status: 503,
  detail: 'Local mode is still starting.',
};

/** No CORS headers, so a refused page cannot read even why. */
function sendRefusal(response: ServerResponse, refusal: Refusal): void {
  const text = JSON.stringify(refusal);
  response.writeHead(refusal.status, { 'content-type': 'application/problem+json', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  response.end(text);
}

function sendProblem(
  response: ServerResponse,
  status: number,
  title: string,
  detail: string,
  after?: () => void,
  errors?: { path: string; message: string }[],
): void {
  const text = JSON.stringify({ type: 'about:blank', title, status, detail, ...(errors ? { errors } : {}) });
  response.writeHead(status, {
    'content-type': 'application/problem+json',
    'content-length': Buffer.byteLength(text),
    ...(after ? { connection: 'close' } : {}),
  });
  response.end(text, after);
}
