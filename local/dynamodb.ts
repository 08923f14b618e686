/**
 * The DynamoDB stand-in: dynalite on a loopback port, kept on disk, with the job table from the shared schema.
 * dynalite runs in a worker thread: validating, evaluating expressions and talking to LevelDB is about a
 * sixth of the platform's work per job, and on its own thread it runs beside the handlers instead of
 * queueing behind them on the one event loop. The handlers reach it over loopback HTTP either way.
 */
import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LOCAL_CREDENTIALS } from './credentials.js';
import { checkDataDir, DataDirError, storageFaultOf } from './data-dir.js';
import { describeError, type LocalLogger } from './logger.js';
import { LOOPBACK_NAMES } from './request-guard.js';
import { createJobTable } from './job-table.js';

export interface RunningDynamoDb {
  readonly endpoint: string;
  readonly port: number;
  /** Why requests cannot be served right now (the stand-in stopped and is starting again), or undefined. */
  unavailableReason(): string | undefined;
  close(): Promise<void>;
}

export class DynamoDbStartError extends Error {
  override readonly name = 'DynamoDbStartError';
}

/** Messages from the worker: it listens (or cannot), and later reports that dynalite closed its store. */
type WorkerMessage =
  | { readonly type: 'listening'; readonly port: number }
  | { readonly type: 'failed'; readonly message: string; readonly code?: string }
  | { readonly type: 'closed'; readonly error?: string };

/**
 * Plain JavaScript evaluated in the worker, so it loads the same way under tsx, vitest or a bundle.
 * dynalite closes its LevelDB store (after the requests in flight) when its HTTP server closes.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const dynalite = require(workerData.dynalitePath);
const server = dynalite({ ...(workerData.path ? { path: workerData.path } : {}), createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
server.once('error', (error) => parentPort.postMessage({ type: 'failed', message: String(error && error.message), code: error && error.code }));
// dynalite answers CORS for any origin; only the SDK, which sends no Origin and names a loopback host, may reach it.
const [serve] = server.listeners('request');
server.removeAllListeners('request');
server.on('request', (request, response) => {
  const port = server.address().port;
  const host = String(request.headers.host || '').toLowerCase();
  if (request.headers.origin === undefined && workerData.loopbackNames.some((name) => host === name + ':' + port)) {
    serve(request, response);
    return;
  }
  request.resume();
  response.writeHead(403, { 'content-type': 'application/x-amz-json-1.0' });
  response.end(JSON.stringify({ __type: 'com.amazon.coral.service#AccessDeniedException', message: 'The DynamoDB stand-in answers only SDK requests on loopback.' }));
});
server.listen(workerData.port, '127.0.0.1', () => parentPort.postMessage({ type: 'listening', port: server.address().port }));
parentPort.on('message', (message) => {
  if (message !== 'close') return;
  server.close((error) => {
    parentPort.postMessage({ type: 'closed', ...(error ? { error: String(error.message) } : {}) });
    parentPort.close();
  });
  server.closeAllConnections();
});
`;

export interface DynamoDbOptions {
  /** Undefined keeps the database in memory. */
  readonly path?: string;
  readonly tableName: string;
  readonly region: string;
  readonly port?: number;
  readonly logger?: LocalLogger;
  /** How long to wait between restarts of a stand-in that stopped (e.g. on a full disk). @default 2,000 ms */
  readonly restartIntervalMs?: number;
}

/** One dynalite worker, listening. */
interface DynaliteWorker {
  readonly port: number;
  /** Resolves with the error that stopped the worker, when one did. */
  readonly stopped: Promise<unknown>;
  close(): Promise<void>;
}

async function launchWorker(options: DynamoDbOptions, port: number): Promise<DynaliteWorker> {
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    name: 'gpujobs-dynamodb',
    workerData: {
      dynalitePath: createRequire(import.meta.url).resolve('dynalite'),
      path: options.path,
      port,
      loopbackNames: LOOPBACK_NAMES,
    },
    // dynalite names the table's region in its ARNs from the environment.
    env: { ...process.env, AWS_REGION: options.region },
  });
  let fatal: unknown;
  worker.on('error', (error) => {
    fatal = error;
  });
  const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
  let closing = false;
  const closed = new Promise<string | undefined>((resolve) => {
    worker.on('message', (message: WorkerMessage) => {
      if (message.type === 'closed') resolve(message.error);
    });
    void exited.then(() => resolve(undefined));
  });

  const listeningPort = await new Promise<number>((resolve, reject) => {
    worker.on('message', (message: WorkerMessage) => {
      if (message.type === 'listening') resolve(message.port);
      if (message.type === 'failed') {
        reject(new DynamoDbStartError(`The DynamoDB stand-in could not listen on 127.0.0.1:${port}: ${message.message}`));
      }
    });
    worker.once('error', (error) =>
      reject(new DynamoDbStartError(`The DynamoDB stand-in could not start: ${describeStop(error)}`, { cause: error })),
    );
    void exited.then((code) =>
      reject(
        new DynamoDbStartError(`The DynamoDB stand-in exited with code ${code} while starting${fatal ? `: ${describeStop(fatal)}` : ''}.`),
      ),
    );
  }).catch(async (error: unknown) => {
    await worker.terminate();
    throw error;
  });

  return {
    port: listeningPort,
    stopped: exited.then(() => (closing ? undefined : (fatal ?? new Error('the worker exited')))),
    close: async () => {
      if (!closing) {
        closing = true;
        worker.postMessage('close');
      }
      const error = await closed;
      await exited;
      if (error) options.logger?.warn(`closing the DynamoDB stand-in: ${error}`);
    },
  };
}

/** Why the data dir cannot take writes now, or undefined when it can. */
function storageBlocked(path: string): string | undefined {
  try {
    checkDataDir(path);
    return undefined;
  } catch (error) {
    if (!(error instanceof DataDirError)) return describeError(error);
    return storageFaultOf(error.cause) ?? 'the disk is full or nearly (ENOSPC)';
  }
}

/** The cause first, when it is the disk: that is what the owner can act on. */
function describeStop(error: unknown): string {
  const fault = storageFaultOf(error);
  return fault ? `${fault}: ${describeError(error)}` : describeError(error);
}

/**
 * Starts dynalite and keeps it serving: a worker that stops while running (LevelDB gives up on a
 * full disk or an I/O error and dynalite has no way to report it per request) is started again on
 * the same port and data, every `restartIntervalMs` until it comes back, so the platform recovers
 * by itself once space is freed. Meanwhile `unavailableReason()` says why requests cannot be served.
 */
export async function startDynamoDb(options: DynamoDbOptions): Promise<RunningDynamoDb> {
  if (options.path) mkdirSync(options.path, { recursive: true });
  const restartIntervalMs = options.restartIntervalMs ?? 2_000;
  let current = await launchWorker(options, options.port ?? 0);
  const port = current.port;
  let closing = false;
  let unavailable: string | undefined;
  let restartTimer: NodeJS.Timeout | undefined;

  const restart = (): void => {
    restartTimer = setTimeout(() => {
      // Started on a disk that is still full, LevelDB would open and stop again at the first write.
      const blocked = options.path ? storageBlocked(options.path) : undefined;
      if (blocked) {
        unavailable = `the DynamoDB stand-in stopped: ${blocked}`;
        restart();
        return;
      }
      launchWorker(options, port).then(
        async (next) => {
          if (closing) {
            await next.close();
            return;
          }
          current = next;
          unavailable = undefined;
          options.logger?.info('the DynamoDB stand-in is serving again');
          supervise(next);
        },
        (error: unknown) => {
          if (closing) return;
          unavailable = `the DynamoDB stand-in stopped and cannot start again yet: ${describeStop(error)}`;
          restart();
        },
      );
    }, restartIntervalMs);
    restartTimer.unref();
  };

  const supervise = (running: DynaliteWorker): void => {
    void running.stopped.then((error) => {
      if (closing || error === undefined || running !== current) return;
      unavailable = `the DynamoDB stand-in stopped: ${describeStop(error)}`;
      options.logger?.error(`${unavailable}; starting it again every ${restartIntervalMs / 1000} s`);
      restart();
    });
  };
  supervise(current);

  const close = async (): Promise<void> => {
    closing = true;
    clearTimeout(restartTimer);
    await current.close();
  };

  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({ endpoint, region: options.region, credentials: LOCAL_CREDENTIALS });
  try {
    await createJobTable(client, options.tableName);
  } catch (error) {
    await close();
    throw error;
  } finally {
    client.destroy();
  }
  return { endpoint, port, close, unavailableReason: () => unavailable };
}
