/**
 * An in-memory dynalite on a random loopback port with the job table created from
 * core/table.ts, for tests that need real conditional writes and real indexes.
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import dynalite from 'dynalite';
import { createJobTable } from '../../local/job-table.js';

export interface RunningDynalite {
  /** `http://127.0.0.1:<port>`, for AWS_ENDPOINT_URL_DYNAMODB or a client's `endpoint`. */
  readonly endpoint: string;
  readonly tableName: string;
  stop(): Promise<void>;
}

export async function startDynalite(options: { readonly tableName?: string } = {}): Promise<RunningDynalite> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  const tableName = options.tableName ?? `gpujobs-test-${randomUUID()}`;
  const client = new DynamoDBClient({ endpoint });
  try {
    await createJobTable(client, tableName);
  } finally {
    client.destroy();
  }
  return {
    endpoint,
    tableName,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

/** A document client for the fixture, configured like the handlers' (undefined values dropped). */
export function documentClientFor(endpoint: string): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint }), {
    marshallOptions: { removeUndefinedValues: true },
  });
}
