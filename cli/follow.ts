/**
 * Following a job to its end: polls the job, prints each transition and attempt
 * as it happens, keeps a live status line on a terminal, and maps the outcome to
 * an exit code that scripts can branch on.
 */
import { isTerminal, type Job, type JobStatus } from '../core/job.js';
import { ApiProblemError, EndpointUnreachableError, type GpuJobsClient } from './client.js';
import { EXIT, type CommandContext } from './command.js';
import { describeChanges, finalSummary, formatClock, liveStatus } from './format.js';

/** Consecutive failed polls tolerated before giving up (a blip must not end a long watch). */
const MAX_CONSECUTIVE_POLL_FAILURES = 5;
const REDRAW_INTERVAL_MS = 1000;

export function exitCodeForStatus(status: JobStatus): number {
  switch (status) {
    case 'SUCCEEDED':
      return EXIT.ok;
    case 'CANCELLED':
      return EXIT.cancelled;
    default:
      return EXIT.failure;
  }
}

export function isTransient(error: unknown): boolean {
  if (error instanceof EndpointUnreachableError) return true;
  return error instanceof ApiProblemError && (error.problem.status >= 500 || error.problem.status === 429);
}

/** Calls `operation`, retrying transient failures a few times with the poll interval between tries. */
export async function withPollRetries<T>(context: CommandContext, operation: () => Promise<T>): Promise<T> {
  for (let failures = 1; ; failures += 1) {
    try {
      return await operation();
    } catch (error) {
      if (!isTransient(error) || failures >= MAX_CONSECUTIVE_POLL_FAILURES) throw error;
      await context.sleep(context.pollIntervalMs * failures);
    }
  }
}

/**
 * Prints to `sink` until the job is terminal and returns its final state.
 * Piped output gets one timestamped line per change; a terminal also gets a
 * status line redrawn every second.
 */
export async function followJob(context: CommandContext, client: GpuJobsClient, jobId: string, sink: 'stdout' | 'stderr'): Promise<Job> {
  const { term } = context;
  const print = (line: string): void => (sink === 'stdout' ? term.out(line) : term.err(line));
  let latest: Job | undefined;
  const redraw = (): void => {
    if (latest && !isTerminal(latest.status)) term.status(sink, liveStatus(latest, context.now(), term));
  };
  const timer = term.isTTY ? setInterval(redraw, REDRAW_INTERVAL_MS) : undefined;
  try {
    for (;;) {
      const job = await withPollRetries(context, () => client.get(jobId));
      const elapsed = formatClock(elapsedAt(job, context.now()));
      for (const line of describeChanges(latest, job, term)) print(`${term.dim(elapsed)}  ${line}`);
      latest = job;
      if (isTerminal(job.status)) {
        term.endStatus(sink);
        print(`${term.dim(elapsed)}  ${finalSummary(job, term)}`);
        return job;
      }
      redraw();
      await context.sleep(context.pollIntervalMs);
    }
  } finally {
    if (timer) clearInterval(timer);
    term.endStatus(sink);
  }
}

/** Polls without printing (for --json): the final job only. */
export async function waitForJobEnd(context: CommandContext, client: GpuJobsClient, jobId: string): Promise<Job> {
  for (;;) {
    const job = await withPollRetries(context, () => client.get(jobId));
    if (isTerminal(job.status)) return job;
    await context.sleep(context.pollIntervalMs);
  }
}

/** Time since submission: up to now while the job runs, up to its end once it has ended. */
function elapsedAt(job: Job, now: number): number {
  const end = isTerminal(job.status) && job.finishedAt ? Date.parse(job.finishedAt) : now;
  return end - Date.parse(job.createdAt);
}
