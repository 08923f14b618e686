/**
 * A test double of the HTTP API (v1) for CLI behaviour: the contract's routes,
 * status codes and problem details, with jobs that move through a scripted
 * life one step per GET (so a test decides what `watch` will see).
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Attempt, Job, JobStatus } from '../../core/job.js';
import { parseJobSpec } from '../../core/spec.js';

export interface ScriptStep {
  readonly status: JobStatus;
  readonly attempts?: readonly Attempt[];
  readonly exitCode?: number;
  readonly statusReason?: string;
  readonly costUsd?: number;
  /** Log lines visible from this step on (cumulative). */
  readonly logs?: readonly { attempt: number; message: string }[];
}

export interface CapturedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export interface FakeApi {
  readonly url: string;
  readonly requests: CapturedRequest[];
  /** Scripts for jobs whose command starts with the given word. */
  readonly scripts: Map<string, readonly ScriptStep[]>;
  readonly jobs: Map<string, Job>;
  addJob(job: Job): void;
  stop(): Promise<void>;
}

export const BASE_TIME = Date.parse('2025-01-01T12:00:00.000Z');

export const isoAt = (secondsAfterBase: number): string => new Date(BASE_TIME + secondsAfterBase * 1000).toISOString();

interface JobState {
  job: Job;
  step: number;
  script: readonly ScriptStep[];
}

function problem(status: number, title: string, detail?: string, errors?: unknown): { status: number; body: unknown } {
  return { status, body: { type: 'about:blank', title, status, ...(detail ? { detail } : {}), ...(errors ? { errors } : {}) } };
}

export async function startFakeApi(): Promise<FakeApi> {
  const states = new Map<string, JobState>();
  const jobs = new Map<string, Job>();
  const requests: CapturedRequest[] = [];
  const scripts = new Map<string, readonly ScriptStep[]>();
  let sequence = 0;

  const advance = (state: JobState): Job => {
    const step = state.script[Math.min(state.step, state.script.length - 1)];
    state.step += 1;
    if (step && state.job.status !== 'CANCELLED') {
      const terminal = step.status === 'SUCCEEDED' || step.status === 'FAILED' || step.status === 'CANCELLED';
      const startedAt = step.attempts?.find((attempt) => attempt.startedAt)?.startedAt;
      state.job = {
        ...state.job,
        status: step.status,
        attempts: step.attempts ?? state.job.attempts,
        ...(step.exitCode !== undefined ? { exitCode: step.exitCode } : {}),
        ...(step.statusReason !== undefined ? { statusReason: step.statusReason } : {}),
        ...(step.costUsd !== undefined ? { costUsd: step.costUsd } : {}),
        ...(startedAt ? { startedAt } : {}),
        ...(terminal ? { finishedAt: step.attempts?.at(-1)?.stoppedAt ?? isoAt(60) } : {}),
      };
    }
    jobs.set(state.job.jobId, state.job);
    return state.job;
  };

  const visibleLogs = (state: JobState): { attempt: number; timestamp: string; message: string }[] => {
    const index = Math.min(Math.max(state.step - 1, 0), state.script.length - 1);
    return (state.script[index]?.logs ?? []).map((line, position) => ({ ...line, timestamp: isoAt(position) }));
  };

  const route = (
    method: string,
    url: URL,
    headers: IncomingHttpHeaders,
    body: string,
  ): { status: number; body: unknown; headers?: Record<string, string> } => {
    const owner = (headers['x-gpujobs-owner'] as string | undefined) ?? 'local';
    const parts = url.pathname.split('/').filter(Boolean);
    if (parts[0] !== 'v1' || parts[1] !== 'jobs') return problem(404, 'Not Found');
    const jobId = parts[2];
    const state = jobId ? states.get(jobId) : undefined;
    if (jobId && (!state || state.job.owner !== owner)) return problem(404, 'Job not found', `No job ${jobId}.`);

    if (method === 'POST' && parts.length === 2) {
      let input: unknown;
      try {
        input = JSON.parse(body);
      } catch {
        return problem(400, 'Malformed JSON');
      }
      const parsed = parseJobSpec(input);
      if (!parsed.ok) return problem(400, 'Invalid job spec', 'The request body breaks the rules below.', parsed.errors);
      if (parsed.spec.image.startsWith('forbidden.example/')) {
        return problem(400, 'Invalid job spec', 'The request body breaks the rules below.', [
          { path: 'image', message: 'registry forbidden.example is not allowed by this deployment' },
        ]);
      }
      sequence += 1;
      const id = `JOB${String(sequence).padStart(4, '0')}`;
      const job: Job = {
        ...parsed.spec,
        jobId: id,
        name: parsed.spec.name ?? `job-${id.toLowerCase()}`,
        owner,
        status: 'QUEUED',
        createdAt: isoAt(sequence),
        updatedAt: isoAt(sequence),
        attempts: [],
        costUsd: 0,
      };
      const script = scripts.get(parsed.spec.command[0] ?? '') ?? [{ status: 'QUEUED' }];
      states.set(id, { job, step: 0, script });
      jobs.set(id, job);
      return { status: 202, body: job, headers: { location: `/v1/jobs/${id}` } };
    }
    if (method === 'GET' && parts.length === 2) {
      const limit = Number(url.searchParams.get('limit') ?? '20');
      const offset = Number(url.searchParams.get('nextToken') ?? '0');
      const status = url.searchParams.get('status');
      const mine = [...jobs.values()]
        .filter((job) => job.owner === owner && (!status || job.status === status))
        .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
      const page = mine.slice(offset, offset + limit);
      const more = offset + limit < mine.length;
      return { status: 200, body: { jobs: page, ...(more ? { nextToken: String(offset + limit) } : {}) } };
    }
    if (!state) return problem(404, 'Not Found');
    if (method === 'GET' && parts.length === 3) return { status: 200, body: advance(state) };
    if (method === 'POST' && parts[3] === 'cancel') {
      if (state.job.status === 'SUCCEEDED' || state.job.status === 'FAILED') {
        return problem(409, 'Job already finished', `Job ${state.job.jobId} is ${state.job.status}; it cannot be cancelled.`);
      }
      const wasRunning = state.job.status !== 'QUEUED' && state.job.status !== 'CANCELLED';
      state.job = wasRunning
        ? state.job
        : { ...state.job, status: 'CANCELLED', finishedAt: isoAt(30), statusReason: 'Cancelled by the owner' };
      jobs.set(state.job.jobId, state.job);
      return { status: 202, body: state.job };
    }
    if (method === 'GET' && parts[3] === 'logs') {
      const all = visibleLogs(state);
      const from = Number(url.searchParams.get('nextToken') ?? '0');
      const limit = Number(url.searchParams.get('limit') ?? '200');
      const lines = all.slice(from, from + Math.min(limit, 2));
      // Pages of two lines; the last page has no nextToken, as the contract allows.
      const next = from + lines.length;
      return { status: 200, body: { lines, ...(next < all.length ? { nextToken: String(next) } : {}) } };
    }
    return problem(405, 'Method Not Allowed');
  };

  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      requests.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers, body });
      const result = route(request.method ?? 'GET', new URL(request.url ?? '/', 'http://fake'), request.headers, body);
      const contentType = result.status >= 400 ? 'application/problem+json' : 'application/json';
      response.writeHead(result.status, { 'content-type': contentType, ...result.headers });
      response.end(JSON.stringify(result.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    scripts,
    jobs,
    addJob(job) {
      jobs.set(job.jobId, job);
      states.set(job.jobId, { job, step: 0, script: [{ status: job.status }] });
    },
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
