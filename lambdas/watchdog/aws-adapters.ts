/**
 * The watchdog's AWS calls, shaped as its ports: Batch ListJobs and CancelJob, Step Functions
 * ListExecutions and DescribeExecution. Each is one request shape of the AWS API, so the
 * stack grants exactly these.
 */
import { CancelJobCommand, ListJobsCommand, type BatchClient } from '@aws-sdk/client-batch';
import { DescribeExecutionCommand, ListExecutionsCommand, type SFNClient } from '@aws-sdk/client-sfn';
import type { RunnableJob } from './capacity-watchdog.js';
import type { EndedStatus, ExecutionPage } from './lost-ends.js';

/** ListJobs returns up to 1,000 jobs a page when filtering by jobStatus. */
const LIST_JOBS_PAGE_SIZE = 1000;
/** ListExecutions returns up to 1,000 executions a page. */
const LIST_EXECUTIONS_PAGE_SIZE = 1000;

/** Every RUNNABLE job of a queue, with the statusReason Batch sets on a blocked queue's head. */
export function runnableJobLister(batch: BatchClient) {
  return async function listRunnableJobs(jobQueue: string): Promise<RunnableJob[]> {
    const jobs: RunnableJob[] = [];
    let nextToken: string | undefined;
    do {
      const page = await batch.send(
        new ListJobsCommand({ jobQueue, jobStatus: 'RUNNABLE', maxResults: LIST_JOBS_PAGE_SIZE, ...(nextToken ? { nextToken } : {}) }),
      );
      for (const summary of page.jobSummaryList ?? []) {
        if (!summary.jobId) continue;
        jobs.push({
          jobId: summary.jobId,
          ...(summary.jobName !== undefined && { jobName: summary.jobName }),
          ...(summary.createdAt !== undefined && { createdAt: summary.createdAt }),
          ...(summary.startedAt !== undefined && { startedAt: summary.startedAt }),
          ...(summary.stoppedAt !== undefined && { stoppedAt: summary.stoppedAt }),
          ...(summary.statusReason !== undefined && { statusReason: summary.statusReason }),
        });
      }
      nextToken = page.nextToken ?? undefined;
    } while (nextToken);
    return jobs;
  };
}

/**
 * CancelJob, not TerminateJob: a job in SUBMITTED, PENDING or RUNNABLE is cancelled and ends
 * FAILED with this reason (what the workflow's `.sync` task then reads), while one that found
 * capacity and moved to STARTING or RUNNING since the listing is left alone
 * (https://docs.aws.amazon.com/batch/latest/APIReference/API_CancelJob.html).
 */
export function jobCanceller(batch: BatchClient) {
  return async function cancelJob(jobId: string, reason: string): Promise<void> {
    await batch.send(new CancelJobCommand({ jobId, reason }));
  };
}

export function endedExecutionLister(sfn: SFNClient, stateMachineArn: string) {
  return async function listExecutions(status: EndedStatus, nextToken: string | undefined): Promise<ExecutionPage> {
    const page = await sfn.send(
      new ListExecutionsCommand({
        stateMachineArn,
        statusFilter: status,
        maxResults: LIST_EXECUTIONS_PAGE_SIZE,
        ...(nextToken ? { nextToken } : {}),
      }),
    );
    return {
      executions: (page.executions ?? []).flatMap((execution) =>
        execution.executionArn && execution.name && execution.startDate
          ? [
              {
                executionArn: execution.executionArn,
                name: execution.name,
                startDate: execution.startDate,
                ...(execution.stopDate ? { stopDate: execution.stopDate } : {}),
              },
            ]
          : [],
      ),
      ...(page.nextToken ? { nextToken: page.nextToken } : {}),
    };
  };
}

export function executionFailureDescriber(sfn: SFNClient) {
  return async function describeFailure(executionArn: string): Promise<{ error?: string; cause?: string }> {
    const { error, cause } = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    return { ...(error ? { error } : {}), ...(cause ? { cause } : {}) };
  };
}
