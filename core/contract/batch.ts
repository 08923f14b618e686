/**
 * A Batch job's statuses, as DescribeJobs, ListJobs and "Batch Job State Change" events
 * report them: the status handler reads them and local mode's Batch stand-in produces them.
 */
export const BATCH_JOB_STATUSES = ['SUBMITTED', 'PENDING', 'RUNNABLE', 'STARTING', 'RUNNING', 'SUCCEEDED', 'FAILED'] as const;

export type BatchJobStatus = (typeof BATCH_JOB_STATUSES)[number];
