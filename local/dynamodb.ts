/** The DynamoDB stand-in: dynalite on a loopback port, kept on disk, with the job table from the shared schema. */
import { createRequire } from 'node:module';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync } from 'node:fs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LOCAL_CREDENTIALS } from './credentials.js';
import { createJobTable } from '../lambdas/shared/job-table.js';

type Dynalite = (options: { path?: string; createTableMs?: number; deleteTableMs?: number; updateTableMs?: number }) => Server;
// dynalite is CommonJS without type declarations.
const dynalite = createRequire(import.meta.url)('dynalite') as Dynalite;

export interface RunningDynamoDb {
  readonly endpoint: string;
  readonly port: number;
  close(): Promise<void>;
}

/** `path` undefined keeps the database in memory. */
export async function startDynamoDb(options: {
  readonly path?: string;
  readonly tableName: string;
  readonly region: string;
  readonly port?: number;
}): Promise<RunningDynamoDb> {
  if (options.path) mkdirSync(options.path, { recursive: true });
  const server = dynalite({
    ...(options.path ? { path: options.path } : {}),
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({ endpoint, region: options.region, credentials: LOCAL_CREDENTIALS });
  try {
    await createJobTable(client, options.tableName);
  } catch (error) {
    await closeServer(server);
    throw error;
  } finally {
    client.destroy();
  }
  return { endpoint, port, close: () => closeServer(server) };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    // dynalite closes its LevelDB store when the HTTP server closes.
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
