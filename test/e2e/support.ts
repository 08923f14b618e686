/**
 * End-to-end helpers: a local platform on a random port with a temporary data dir,
 * and a small HTTP client for the v1 API and the /local endpoints.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Job, JobStatus } from '../../core/job.js';
import { JSON_MEDIA_TYPE } from '../../core/media-type.js';
import { startLocalPlatform, type LocalPlatform, type LocalPlatformOptions } from '../../local/platform.js';

export interface TestPlatform {
  readonly platform: LocalPlatform;
  readonly dataDir: string;
  readonly api: ApiClient;
  /** Stops the platform and removes its data dir. */
  dispose(): Promise<void>;
}

export async function startTestPlatform(options: LocalPlatformOptions = {}): Promise<TestPlatform> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'gpujobs-e2e-'));
  const platform = await startLocalPlatform({
    port: 0,
    capacityTimeoutSeconds: 1,
    stopGracePeriodSeconds: 0.5,
    gpus: 4,
    quiet: true,
    // The scenarios run host commands; the container suites ask for their engine.
    runtime: 'process',
    ...options,
    dataDir,
  });
  return {
    platform,
    dataDir,
    api: new ApiClient(platform.url),
    dispose: async () => {
      await platform.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface ApiResponse<T = unknown> {
  readonly status: number;
  readonly headers: Headers;
  readonly body: T;
}

export type JobSubmission = Record<string, unknown>;

export class ApiClient {
  constructor(readonly url: string) {}

  async request<T = unknown>(
    method: string,
    path: string,
    options: { body?: unknown; rawBody?: string; headers?: Record<string, string>; owner?: string } = {},
  ): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.owner) headers['x-gpujobs-owner'] = options.owner;
    let body: string | undefined = options.rawBody;
    if (options.body !== undefined) body = JSON.stringify(options.body);
    // What every legitimate client sends (local mode refuses a POST without it, body or not).
    if (method !== 'GET' && !Object.keys(headers).some((name) => name.toLowerCase() === 'content-type'))
      headers['content-type'] = JSON_MEDIA_TYPE;
    const response = await fetch(`${this.url}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: (text ? JSON.parse(text) : undefined) as T };
  }

  async submit(job: JobSubmission, options: { owner?: string; idempotencyKey?: string } = {}): Promise<Job> {
    const response = await this.request<Job>('POST', '/v1/jobs', {
      body: { image: 'busybox', ...job },
      ...(options.owner ? { owner: options.owner } : {}),
      ...(options.idempotencyKey ? { headers: { 'idempotency-key': options.idempotencyKey } } : {}),
    });
    if (response.status !== 202) throw new Error(`submit answered ${response.status}: ${JSON.stringify(response.body)}`);
    return response.body;
  }

  async get(jobId: string, owner?: string): Promise<Job> {
    const response = await this.request<Job>('GET', `/v1/jobs/${jobId}`, owner ? { owner } : {});
    if (response.status !== 200) throw new Error(`get ${jobId} answered ${response.status}: ${JSON.stringify(response.body)}`);
    return response.body;
  }

  async logs(jobId: string, owner?: string): Promise<string[]> {
    const lines: string[] = [];
    let nextToken: string | undefined;
    do {
      const query = nextToken ? `?nextToken=${encodeURIComponent(nextToken)}` : '';
      const response = await this.request<{ lines: { message: string }[]; nextToken?: string }>(
        'GET',
        `/v1/jobs/${jobId}/logs${query}`,
        owner ? { owner } : {},
      );
      if (response.status !== 200) throw new Error(`logs ${jobId} answered ${response.status}: ${JSON.stringify(response.body)}`);
      lines.push(...response.body.lines.map((line) => line.message));
      nextToken = response.body.lines.length > 0 ? response.body.nextToken : undefined;
    } while (nextToken);
    return lines;
  }

  /** Every event so far, read page by page until a page comes back empty. */
  async events(): Promise<{ id: string; 'detail-type': string; detail: Record<string, unknown> }[]> {
    type Page = { events: { id: string; 'detail-type': string; detail: Record<string, unknown> }[]; nextToken: string };
    const events: Page['events'] = [];
    let nextToken: string | undefined;
    for (;;) {
      const query = nextToken === undefined ? '' : `?nextToken=${encodeURIComponent(nextToken)}`;
      const response = await this.request<Page>('GET', `/local/events${query}`);
      if (response.status !== 200) throw new Error(`events answered ${response.status}: ${JSON.stringify(response.body)}`);
      events.push(...response.body.events);
      if (response.body.events.length === 0) return events;
      nextToken = response.body.nextToken;
    }
  }

  async waitForStatus(jobId: string, statuses: readonly JobStatus[], options: { owner?: string; timeoutMs?: number } = {}): Promise<Job> {
    const deadline = Date.now() + (options.timeoutMs ?? 20_000);
    for (;;) {
      const job = await this.get(jobId, options.owner);
      if (statuses.includes(job.status)) return job;
      if (Date.now() > deadline) throw new Error(`job ${jobId} is ${job.status}, not ${statuses.join('/')}: ${JSON.stringify(job)}`);
      await sleep(25);
    }
  }
}

export const TERMINAL_EVENT_TYPES = ['GPU Job Succeeded', 'GPU Job Failed', 'GPU Job Cancelled'];

/**
 * The job's terminal events, once the first has arrived: the terminal status is written before
 * its event is published, so a job read as finished may not have announced it yet.
 */
export async function terminalEventsOf(api: ApiClient, jobId: string): Promise<string[]> {
  const terminal = async () =>
    (await api.events())
      .filter((event) => event.detail.jobId === jobId && TERMINAL_EVENT_TYPES.includes(event['detail-type']))
      .map((event) => event['detail-type']);
  return waitFor(async () => {
    const found = await terminal();
    return found.length > 0 ? found : undefined;
  }, `a terminal event for job ${jobId}`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function waitFor<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  what: string,
  timeoutMs = 20_000,
  intervalMs = 20,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(intervalMs);
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * `npm start` in a child process on `dataDir` with one GPU slot, so a test can kill it with
 * SIGKILL; resolves with its URL once the banner says it is ready.
 */
export async function startPlatformProcess(
  dataDir: string,
  options: { readonly env?: Readonly<Record<string, string>> } = {},
): Promise<{ process: ChildProcess; url: string }> {
  // Node itself with tsx's loader (not the tsx CLI, which would run it in a grandchild the SIGKILL misses).
  const started = spawn(process.execPath, ['--import', 'tsx', 'local/main.ts'], {
    cwd: process.cwd(),
    env: {
      ...process.env,
      PORT: '0',
      GPUJOBS_DATA_DIR: dataDir,
      GPUJOBS_LOCAL_GPUS: '1',
      GPUJOBS_CAPACITY_TIMEOUT_SECONDS: '1',
      GPUJOBS_SPOT_GRACE_SECONDS: '0.5',
      GPUJOBS_LOCAL_RUNTIME: 'process',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const ready = /ready on (http:\/\/\S+)/.exec(output);
      if (ready) resolve(ready[1]!);
    };
    started.stdout.on('data', onData);
    started.stderr.on('data', onData);
    started.once('exit', (code) => reject(new Error(`local mode exited with ${code} before it was ready: ${output}`)));
  });
  return { process: started, url };
}
