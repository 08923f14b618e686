/**
 * The workflow's first step: the job leaves QUEUED, its job definition is found or
 * registered, and its first attempt is planned and recorded (so the API shows where
 * it will run). A job taken up again by a new execution (local mode after a restart)
 * is planned from the attempts it already settled. Safe to run again: each write
 * checks what is already there.
 */
import { announceStatusChange, type StatusChangeDependencies } from './status-change.js';
import { updateJob } from './update-job.js';
import type { Outcome, PrepareInput, PrepareResult } from '../core/contract/workflow.js';
import type { StoredAttempt } from '../core/job-change.js';
import { isTerminal, type JobRecord } from '../core/job.js';
import { planFirstAttempt } from '../core/plan.js';
import { JobNotFoundError, type JobStore } from '../core/ports.js';
import { describeImageRefusal, parseImageReference } from '../core/image-reference.js';

export interface PrepareDependencies extends StatusChangeDependencies {
  readonly store: Pick<JobStore, 'getJob' | 'update'>;
  /** Registries images may come from now; empty allows any. */
  readonly allowedRegistries: readonly string[];
  readonly resolveJobDefinition: (record: JobRecord) => Promise<string>;
  /** Turns a registration the service refused (e.g. a malformed image) into a reason for the owner; undefined rethrows. */
  readonly explainRegistrationFailure: (error: unknown) => string | undefined;
}

/**
 * The api checked the image when the job was submitted; the deployment's allow list
 * may have narrowed since, and nothing outside it may reach a job definition.
 */
function imageRefusal(image: string, allowedRegistries: readonly string[]): Outcome | undefined {
  if (allowedRegistries.length === 0) return undefined;
  const reference = parseImageReference(image);
  const refusal = reference ? describeImageRefusal(reference, allowedRegistries) : 'the image reference cannot be read';
  if (refusal === undefined) return undefined;
  return {
    status: 'FAILED',
    failureClass: 'MISCONFIGURATION',
    statusReason: `The image ${image} is not one this deployment allows: ${refusal}`,
  };
}

export function createJobPreparer(dependencies: PrepareDependencies) {
  const { store } = dependencies;

  /** The image refusal or registration failure that ends the job before any attempt, or the job definition. */
  async function jobDefinitionFor(record: JobRecord): Promise<{ readonly arn: string } | { readonly outcome: Outcome }> {
    const refusal = imageRefusal(record.image, dependencies.allowedRegistries);
    if (refusal) return { outcome: refusal };
    try {
      return { arn: await dependencies.resolveJobDefinition(record) };
    } catch (error) {
      const reason = dependencies.explainRegistrationFailure(error);
      if (reason === undefined) throw error;
      return { outcome: { status: 'FAILED', statusReason: reason, failureClass: 'MISCONFIGURATION' } };
    }
  }

  return function prepareJob({ jobId }: PrepareInput): Promise<PrepareResult> {
    // The job definition depends only on the spec, which never changes: resolved once, before the write.
    let definition: Awaited<ReturnType<typeof jobDefinitionFor>> | undefined;

    // One write: the job leaves QUEUED together with its first attempt planned. Prepare runs
    // before any submission of its execution. Settled attempts on the record are an earlier
    // execution's (local mode takes a job up again after a restart) and count against the job's
    // policy; an open one is planned, never run (this step's own earlier try, or the attempt an
    // earlier execution planned last): the plan's number reuses it.
    return updateJob<PrepareResult>(store, jobId, async (record) => {
      if (!record) throw new JobNotFoundError(jobId);
      if (isTerminal(record.status)) return { done: { jobId, plan: { next: 'skip' } } };
      const plan = planFirstAttempt(record);
      let result: PrepareResult = { jobId, plan };
      let attempts: StoredAttempt[] = [];
      if (planRuns(plan)) {
        definition ??= await jobDefinitionFor(record);
        if ('outcome' in definition) {
          result = { jobId, plan: { next: 'finish', outcome: definition.outcome } };
        } else {
          result = {
            jobId,
            job: { jobDefinitionArn: definition.arn, command: record.command, timeoutSeconds: record.timeoutSeconds },
            plan,
          };
          const planned = record.attempts.find((attempt) => attempt.attempt === plan.attempt);
          if (planned?.capacity !== plan.next || planned.status !== 'PENDING')
            attempts = [{ attempt: plan.attempt, capacity: plan.next, status: 'PENDING' }];
        }
      }
      const leavesQueued = record.status === 'QUEUED';
      if (!leavesQueued && attempts.length === 0) return { done: result };
      return {
        write: { ...(leavesQueued ? { to: 'PENDING' as const } : {}), attempts, now: dependencies.now() },
        after: async (written) => {
          if (leavesQueued) await announceStatusChange(dependencies, written, record.status);
          return result;
        },
      };
    });
  };
}

function planRuns(
  plan: ReturnType<typeof planFirstAttempt>,
): plan is Extract<ReturnType<typeof planFirstAttempt>, { readonly attempt: number }> {
  return plan.next === 'spot' || plan.next === 'on-demand';
}
