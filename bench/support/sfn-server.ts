/**
 * A loopback server speaking the Step Functions API's wire protocol (AWS JSON 1.0), so the
 * dispatcher's real SFNClient, pointed here by AWS_ENDPOINT_URL_SFN, sends real StartExecution
 * requests and parses real error responses (ExecutionAlreadyExists, ThrottlingException).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type SfnOperation = (request: Record<string, unknown>) => Record<string, unknown>;

/** An error the service answers with: `name` becomes the `__type` the SDK turns into the exception's name. */
export class SfnServiceError extends Error {
  constructor(
    override readonly name: string,
    message: string,
    readonly statusCode = 400,
  ) {
    super(message);
  }
}

export interface RunningSfnServer {
  readonly endpoint: string;
  close(): Promise<void>;
}

const TARGET_PREFIX = 'AWSStepFunctions.';

export async function startSfnServer(operations: Readonly<Record<string, SfnOperation>>): Promise<RunningSfnServer> {
  const server = createServer((request, response) => {
    void handle(request, response, operations);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(
  request: IncomingMessage,
  response: ServerResponse,
  operations: Readonly<Record<string, SfnOperation>>,
): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const target = String(request.headers['x-amz-target'] ?? '');
  const operation = target.startsWith(TARGET_PREFIX) ? operations[target.slice(TARGET_PREFIX.length)] : undefined;
  try {
    if (!operation) throw new SfnServiceError('UnknownOperationException', `Operation ${JSON.stringify(target)} is not served here.`);
    const body = chunks.length > 0 ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>) : {};
    send(response, 200, operation(body));
  } catch (error) {
    const serviceError = error instanceof SfnServiceError ? error : new SfnServiceError('InternalFailure', 'The stand-in failed.', 500);
    send(response, serviceError.statusCode, {
      __type: `com.amazonaws.swf.service.v2.model#${serviceError.name}`,
      message: serviceError.message,
    });
  }
}

function send(response: ServerResponse, status: number, body: Record<string, unknown>): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/x-amz-json-1.0',
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': crypto.randomUUID(),
  });
  response.end(text);
}
