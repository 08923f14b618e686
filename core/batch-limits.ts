/**
 * What AWS Batch accepts of one submission, checked at submit against the longest request the
 * job's last attempt could send.
 */
import { ON_DEMAND_ATTEMPT_LIMIT } from './capacity.js';
import { batchJobName } from './contract/workflow.js';
import type { JobSpec } from './job.js';
import { newJobId } from './job-id.js';
import { attemptEnvironment } from './plan.js';
import { BATCH_MAX_ATTEMPTS, batchRetryStrategy } from './retry-strategy.js';
import type { ValidationIssue } from './spec.js';

/**
 * A valid spec can still be more than Batch takes, and Batch says so only when the attempt
 * starts (the job ends FAILED), so the API checks these at submit:
 *
 * - ECS allows 8,192 characters of RunTask container overrides, JSON formatting included
 *   (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RunTask.html, `overrides`);
 *   Batch passes the job's command and environment on in them (its error: `Container Overrides
 *   length must be at most 8192`). It adds its own AWS_BATCH_* variables there too, naming the
 *   job, attempt, queue and compute environment
 *   (https://docs.aws.amazon.com/batch/latest/userguide/job_env_vars.html), and the container's
 *   resources: about 600 characters with 128-character queue and environment names, which the
 *   reserve covers.
 * - SubmitJob takes at most 30 KiB (https://docs.aws.amazon.com/batch/latest/userguide/service_limits.html).
 */
export const BATCH_SUBMISSION_LIMITS = {
  containerOverridesCharacters: 8192,
  batchOverridesReserveCharacters: 1024,
  submitJobBytes: 30 * 1024,
} as const;

// Parts of a submission decided after submit, at the longest they can be.
const LONGEST_BATCH_NAME = 'x'.repeat(128);
const longestArn = (resource: string) => `arn:aws-us-gov:batch:ap-southeast-7:123456789012:${resource}/${LONGEST_BATCH_NAME}`;
// Batch allows tag keys of 128 and values of 256 characters; the workflow puts two tags on a job.
const LONGEST_TAGS = Object.fromEntries(['a', 'b'].map((key) => [key.repeat(128), 'v'.repeat(256)]));

/**
 * The SubmitJob request of the job's last possible attempt, as the workflow's Batch states send
 * it (lib/workflow/job-workflow.ts: Step Functions passes the Parameters to the Batch API in its
 * JSON casing), with what is decided later at its longest: the job id, the highest attempt number
 * the job can reach, the queue and job definition ARNs, Batch's retry rules and the tags.
 */
export function longestSubmitJobRequest(spec: Pick<JobSpec, 'command' | 'environment' | 'maxSpotAttempts' | 'timeoutSeconds'>) {
  const jobId = newJobId(new Date(0));
  const lastAttempt = spec.maxSpotAttempts + ON_DEMAND_ATTEMPT_LIMIT;
  return {
    jobName: batchJobName(jobId, lastAttempt),
    jobQueue: longestArn('job-queue'),
    jobDefinition: `${longestArn('job-definition')}:${Number.MAX_SAFE_INTEGER}`,
    containerOverrides: {
      command: [...spec.command],
      environment: attemptEnvironment(spec, jobId, lastAttempt).map(({ Name, Value }) => ({ name: Name, value: Value })),
    },
    timeout: { attemptDurationSeconds: spec.timeoutSeconds },
    retryStrategy: batchRetryStrategy(BATCH_MAX_ATTEMPTS),
    tags: LONGEST_TAGS,
  };
}

/**
 * What Batch would refuse of a valid spec: at most one issue, on `command` or `environment`
 * (whichever takes more room, since shortening it helps most), naming the limit and the sizes.
 */
export function checkBatchLimits(spec: Pick<JobSpec, 'command' | 'environment' | 'maxSpotAttempts' | 'timeoutSeconds'>): ValidationIssue[] {
  const L = BATCH_SUBMISSION_LIMITS;
  const request = longestSubmitJobRequest(spec);
  const commandCharacters = JSON.stringify(request.containerOverrides.command).length;
  const environmentCharacters = JSON.stringify(request.containerOverrides.environment).length;
  const path = commandCharacters >= environmentCharacters ? 'command' : 'environment';
  const sizes = `${commandCharacters} characters of command and ${environmentCharacters} of environment, the platform's variables included`;

  const overrides = JSON.stringify(request.containerOverrides).length;
  const budget = L.containerOverridesCharacters - L.batchOverridesReserveCharacters;
  const bytes = Buffer.byteLength(JSON.stringify(request), 'utf8');
  const exceeded = [
    ...(overrides > budget
      ? [
          `command and environment together must take at most ${budget} characters as JSON (AWS Batch's container overrides limit of ${L.containerOverridesCharacters}, less ${L.batchOverridesReserveCharacters} for Batch's own variables) but take ${overrides}`,
        ]
      : []),
    // Within the overrides budget a submission stays far below 30 KiB; past it, the owner learns both.
    ...(bytes > L.submitJobBytes
      ? [`the submission would be ${bytes} bytes, over AWS Batch's SubmitJob limit of ${L.submitJobBytes} bytes (30 KiB)`]
      : []),
  ];
  if (exceeded.length === 0) return [];
  return [{ path, message: `${exceeded.join('; ')}; received ${sizes}` }];
}
