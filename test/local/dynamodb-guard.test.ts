/**
 * The DynamoDB stand-in (dynalite, which grants CORS to any origin) answers only the SDK: a web
 * page that found its port can neither read nor write the job table.
 */
import { request as httpRequest, type OutgoingHttpHeaders } from 'node:http';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_CREDENTIALS } from '../../local/credentials.js';
import { startDynamoDb, type RunningDynamoDb } from '../../local/dynamodb.js';

let dynamo: RunningDynamoDb;

beforeAll(async () => {
  dynamo = await startDynamoDb({ tableName: 'gpujobs-guard', region: 'us-east-1' });
});
afterAll(async () => dynamo?.close());

function listTables(headers: OutgoingHttpHeaders, method = 'POST'): Promise<{ status: number; allowOrigin: unknown; body: string }> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(
      {
        host: '127.0.0.1',
        port: dynamo.port,
        method,
        path: '/',
        headers: {
          host: `127.0.0.1:${dynamo.port}`,
          'content-type': 'application/x-amz-json-1.0',
          'x-amz-target': 'DynamoDB_20120810.ListTables',
          ...headers,
        },
        setHost: false,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            allowOrigin: response.headers['access-control-allow-origin'],
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    outgoing.on('error', reject);
    outgoing.end(method === 'POST' ? '{}' : undefined);
  });
}

describe('the DynamoDB stand-in', () => {
  it.each([
    ['a request with an Origin', { origin: 'http://evil.example' }, 'POST'],
    ['a CORS preflight', { origin: 'http://evil.example', 'access-control-request-method': 'POST' }, 'OPTIONS'],
    ['a rebound Host', { host: 'attacker.example:8000' }, 'POST'],
  ])('refuses %s without granting CORS or naming a table', async (_, headers, method) => {
    const response = await listTables(headers, method);

    expect(response.status).toBe(403);
    expect(response.allowOrigin).toBeUndefined();
    expect(response.body).not.toContain('gpujobs-guard');
  });

  it('answers the SDK', async () => {
    const client = new DynamoDBClient({ endpoint: dynamo.endpoint, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });

    const listed = await client.send(new ListTablesCommand({}));

    expect(listed.TableNames).toContain('gpujobs-guard');
    client.destroy();
  });
});
