/**
 * One loopback HTTP server speaking the wire protocols of the AWS APIs the handlers
 * call and no embedded library serves: Step Functions and ECS (awsJson1_0 / 1_1 by
 * X-Amz-Target), EventBridge and CloudWatch Logs (awsJson1_1), Batch (REST-JSON by
 * path). The SDK clients reach it through AWS_ENDPOINT_URL_<SERVICE>.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describeContentType, isJsonMediaType } from '../core/media-type.js';
import type { LocalBatch } from './batch/index.js';
import type { LocalEventBus, PutEventsEntry } from './event-bus.js';
import type { LogStore } from './log-store.js';
import type { LocalLogger } from './logger.js';
import { createRequestGuard, type RequestGuard } from './request-guard.js';
import type { LocalStepFunctions } from './step-functions.js';

export interface AwsServerServices {
  readonly stepFunctions: () => LocalStepFunctions;
  readonly batch: LocalBatch;
  readonly eventBus: LocalEventBus;
  readonly logStore: LogStore;
  readonly logger: LocalLogger;
}

/** An error the protocol reports as a modeled AWS error (`__type` / `x-amzn-errortype`). */
export class AwsProtocolError extends Error {
  constructor(
    override readonly name: string,
    message: string,
    readonly statusCode = 400,
  ) {
    super(message);
  }
}

type JsonObject = Record<string, unknown>;
type Operation = (input: JsonObject) => unknown;

const AWS_JSON_1_0 = 'application/x-amz-json-1.0';
const AWS_JSON_1_1 = 'application/x-amz-json-1.1';

export interface RunningAwsServer {
  readonly endpoint: string;
  readonly port: number;
  close(): Promise<void>;
}

export async function startAwsServer(services: AwsServerServices, port = 0): Promise<RunningAwsServer> {
  const targets = targetOperations(services);
  const batchOperations = batchRestOperations(services);
  // Its Batch routes can register, cancel and terminate jobs, so a web page must not reach it
  // either (see request-guard.ts); the guard needs the port actually bound.
  let guard: RequestGuard | undefined;
  const server: Server = createServer((request, response) => {
    const refused = guard ? refuseNonSdkRequest(guard, request) : 'not listening yet';
    if (refused) {
      request.resume();
      response.writeHead(403, { 'content-type': 'application/json', 'x-amzn-errortype': 'AccessDeniedException' });
      response.end(JSON.stringify({ message: refused }));
      return;
    }
    void handle(request, response).catch((error: unknown) => {
      services.logger.error('AWS stand-in request failed', error);
      if (!response.headersSent) sendJson(response, 500, AWS_JSON_1_1, { __type: 'InternalFailure', message: 'Internal failure' });
    });
  });

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const body = await readBody(request);
    const input = body.length === 0 ? {} : (JSON.parse(body) as JsonObject);
    const target = request.headers['x-amz-target'];
    if (typeof target === 'string') {
      const contentType = target.startsWith('AWSStepFunctions.') ? AWS_JSON_1_0 : AWS_JSON_1_1;
      const operation = targets[target];
      if (!operation) {
        sendJson(response, 400, contentType, { __type: 'UnknownOperationException', message: `Unknown operation ${target}` });
        return;
      }
      try {
        sendJson(response, 200, contentType, operation(input) ?? {});
      } catch (error) {
        if (!(error instanceof Error) || error.name === 'Error' || error.name === 'TypeError') throw error;
        sendJson(response, 400, contentType, { __type: error.name, message: error.message });
      }
      return;
    }
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    const batchOperation = request.method === 'POST' ? batchOperations[path] : undefined;
    if (!batchOperation) {
      response.writeHead(404, { 'content-type': 'application/json', 'x-amzn-errortype': 'UnknownOperationException' });
      response.end(JSON.stringify({ message: `No local stand-in serves ${request.method} ${path}` }));
      return;
    }
    try {
      // Awaited: TerminateJob answers once the job's processes are gone (see LocalBatch.terminateJob).
      sendJson(response, 200, 'application/json', (await batchOperation(input)) ?? {});
    } catch (error) {
      if (!(error instanceof Error) || error.name === 'Error' || error.name === 'TypeError') throw error;
      response.writeHead(400, { 'content-type': 'application/json', 'x-amzn-errortype': error.name });
      response.end(JSON.stringify({ message: error.message }));
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const actualPort = (server.address() as AddressInfo).port;
  guard = createRequestGuard('127.0.0.1', actualPort);
  return {
    endpoint: `http://127.0.0.1:${actualPort}`,
    port: actualPort,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function targetOperations(services: AwsServerServices): Record<string, Operation> {
  const sfn = services.stepFunctions;
  return {
    'AWSStepFunctions.StartExecution': (input) =>
      sfn().startExecution(input as { stateMachineArn?: string; name?: string; input?: string }),
    'AWSStepFunctions.StopExecution': (input) => sfn().stopExecution(input as { executionArn?: string; error?: string; cause?: string }),
    'AWSStepFunctions.DescribeExecution': (input) => sfn().describeExecution(input as { executionArn?: string }),
    'AWSStepFunctions.ListExecutions': (input) =>
      sfn().listExecutions(input as { stateMachineArn?: string; statusFilter?: string; maxResults?: number; nextToken?: string }),
    'AWSEvents.PutEvents': (input) => {
      const entries = (input.Entries ?? []) as PutEventsEntry[];
      if (entries.length === 0 || entries.length > 10) {
        throw new AwsProtocolError('ValidationException', `Entries must hold 1 to 10 entries. Received ${entries.length}.`);
      }
      const results = services.eventBus.putEvents(entries);
      return { FailedEntryCount: results.filter((result) => 'ErrorCode' in result).length, Entries: results };
    },
    'Logs_20140328.GetLogEvents': (input) => {
      if (typeof input.logStreamName !== 'string') {
        throw new AwsProtocolError('InvalidParameterException', 'logStreamName is required.');
      }
      return services.logStore.getLogEvents(input as unknown as Parameters<LogStore['getLogEvents']>[0]);
    },
    'AmazonEC2ContainerServiceV20141113.DescribeContainerInstances': (input) => {
      const arns = (input.containerInstances ?? []) as string[];
      const { found, missing } = services.batch.describeContainerInstances(arns);
      return { containerInstances: found, failures: missing.map((arn) => ({ arn, reason: 'MISSING' })) };
    },
  };
}

function batchRestOperations(services: AwsServerServices): Record<string, Operation> {
  const batch = services.batch;
  return {
    '/v1/registerjobdefinition': (input) =>
      batch.registerJobDefinition(input as unknown as Parameters<typeof batch.registerJobDefinition>[0]),
    '/v1/describejobdefinitions': (input) => batch.describeJobDefinitions(input),
    '/v1/deregisterjobdefinition': (input) => {
      batch.deregisterJobDefinition(String(input.jobDefinition ?? ''));
      return {};
    },
    '/v1/describejobs': (input) => ({ jobs: batch.describeJobs((input.jobs ?? []) as string[]) }),
    '/v1/listjobs': (input) => batch.listJobs(input as Parameters<typeof batch.listJobs>[0]),
    '/v1/canceljob': (input) => {
      batch.cancelJob(String(input.jobId ?? ''), String(input.reason ?? ''));
      return {};
    },
    '/v1/terminatejob': async (input) => {
      await batch.terminateJob(String(input.jobId ?? ''), String(input.reason ?? ''));
      return {};
    },
  };
}

/**
 * The SDK sends no Origin and names the stand-in by its loopback address; its requests carry
 * X-Amz-Target (awsJson) or Content-Type application/json (Batch's restJson1), neither of which a
 * page can send cross-site without a preflight, which this server never grants.
 */
function refuseNonSdkRequest(guard: RequestGuard, request: IncomingMessage): string | undefined {
  const addressRefusal = guard.checkAddress(request.headers);
  if (addressRefusal) return addressRefusal.detail;
  if (request.method === 'GET' || typeof request.headers['x-amz-target'] === 'string' || isJsonMediaType(request.headers['content-type']))
    return undefined;
  return `The AWS stand-in accepts only SDK requests (X-Amz-Target or Content-Type: application/json). Received ${describeContentType(request.headers['content-type'])}.`;
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

/** JSON protocols carry timestamps as epoch seconds. */
function sendJson(response: ServerResponse, status: number, contentType: string, body: unknown): void {
  const text = JSON.stringify(body, function (this: Record<string, unknown>, key: string, value: unknown) {
    const raw = this[key];
    return raw instanceof Date ? raw.getTime() / 1000 : value;
  });
  response.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(text) });
  response.end(text);
}
