/** How `gpujobs smoke` words what it saw: a target, a job's end, its attempts, an error. */
import type { Attempt, Job } from '../../core/job.js';
import { ApiProblemError } from '../client.js';
import type { SmokeTarget } from './target.js';

export function describeTarget(target: SmokeTarget): string {
  const url = target.client.endpoint.url.href;
  if (target.mode === 'local') {
    const gpus = target.localInfo?.gpus;
    return `local mode at ${url} (${gpus?.count ?? 0} ${gpus?.real ? 'real GPU(s)' : 'virtual GPU slot(s)'})`;
  }
  return target.stack ? `stack ${target.stack} at ${url}` : url;
}

export function describeEnd(job: Job): string {
  return `${job.status}${job.exitCode !== undefined ? ` with exit code ${job.exitCode}` : ''}${job.statusReason ? `: ${job.statusReason}` : ''}`;
}

export function describeAttempts(attempts: readonly Attempt[]): string {
  const described = attempts.map(
    (attempt) => `${attempt.capacity} ${attempt.status}${attempt.failureClass ? ` (${attempt.failureClass})` : ''}`,
  );
  return described.join(', ') || 'no attempt';
}

export function describeAttempt(attempt: Attempt | undefined): string {
  if (!attempt) return 'an unknown instance';
  return `${attempt.instanceType ?? 'an instance'} (${attempt.capacity})`;
}

export function describeError(error: unknown): string {
  if (error instanceof ApiProblemError) {
    const fields = error.problem.errors?.map((field) => `${field.path}: ${field.message}`).join('; ');
    return `${error.message} (HTTP ${error.problem.status})${fields ? ` — ${fields}` : ''}`;
  }
  return error instanceof Error ? error.message : String(error);
}
