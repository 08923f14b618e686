/** ListJobs over the stand-in's jobs: by queue and status, in submission order, paginated as Batch paginates. */
import { BATCH_JOB_STATUSES, type BatchJobStatus } from '../../core/contract/batch.js';
import type { BatchJob } from './batch-job.js';
import { ClientException } from './client-exception.js';
import { jobSummaryOf, type JobSummary } from './job-detail.js';

export interface ListJobsRequest {
  readonly jobQueue?: string;
  readonly jobStatus?: string;
  readonly maxResults?: number;
  readonly nextToken?: string;
  readonly filters?: readonly unknown[];
}

/** By queue (its name or ARN) and status (RUNNING when none is given, as in Batch); nextToken is an offset. */
export function listJobs(jobs: Iterable<BatchJob>, request: ListJobsRequest): { jobSummaryList: JobSummary[]; nextToken?: string } {
  if (!request.jobQueue) throw new ClientException('jobQueue is required (arrayJobId and multiNodeJobId are not supported locally).');
  if (request.filters?.length) throw new ClientException('ListJobs filters are not supported locally.');
  const status = (request.jobStatus ?? 'RUNNING') as BatchJobStatus;
  if (!BATCH_JOB_STATUSES.includes(status))
    throw new ClientException(`jobStatus must be one of ${BATCH_JOB_STATUSES.join(', ')}. Received ${JSON.stringify(request.jobStatus)}.`);
  const queue = request.jobQueue;
  const matching = [...jobs]
    .filter((job) => (job.jobQueue === queue || job.jobQueue.split('/').pop() === queue) && job.status === status)
    .sort((a, b) => a.sequence - b.sequence);
  const start = request.nextToken ? Number(request.nextToken) : 0;
  if (!Number.isInteger(start) || start < 0) throw new ClientException(`Invalid nextToken. Received ${JSON.stringify(request.nextToken)}.`);
  const pageSize = Math.min(Math.max(request.maxResults ?? 1000, 1), 1000);
  const page = matching.slice(start, start + pageSize).map(jobSummaryOf);
  const next = start + pageSize < matching.length ? String(start + pageSize) : undefined;
  return { jobSummaryList: page, ...(next ? { nextToken: next } : {}) };
}
