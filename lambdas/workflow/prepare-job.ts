/**
 * The workflow's first step: the job leaves QUEUED, its job definition is found or
 * registered, and its first attempt is planned and recorded (so the API shows where
 * it will run). A job taken up again by a new execution (local mode after a restart)
 * is planned from the attempts it already settled. Safe to run again: each write
 * checks what is already there.
 */
import { isTerminal, type JobRecord } from '../../core/job.js';
import type { JobStore } from '../../core/ports.js';
import { planFirstAttempt } from '../../core/plan.js';
import { describeImageRefusal, parseImageReference } from '../../core/spec.js';
import type { Outcome, PrepareInput, PrepareResult } from '../../core/contract/workflow.js';
import { JobNotFoundError } from './job-not-found.js';
import { changeStatus, type StatusChangeDependencies } from './status-change.js';

export interface PrepareDependencies extends StatusChangeDependencies {
  readonly store: Pick<JobStore, 'getJob' | 'transition' | 'putAttempt'>;
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
  return { status: 'FAILED', failureClass: 'MISCONFIGURATION', statusReason: `The image ${image} is not one this deployment allows: ${refusal}` };
}

export function createJobPreparer(dependencies: PrepareDependencies) {
  const { store } = dependencies;

  async function leaveQueued(record: JobRecord): Promise<JobRecord | undefined> {
    if (record.status !== 'QUEUED') return record;
    const moved = await changeStatus(dependencies, record, 'PENDING');
    if (moved) return moved;
    // Lost a race: to a cancel (terminal, nothing to do) or to an earlier try of this step.
    const current = await store.getJob(record.jobId);
    return current && !isTerminal(current.status) ? current : undefined;
  }

  return async function prepareJob({ jobId }: PrepareInput): Promise<PrepareResult> {
    const stored = await store.getJob(jobId);
    if (!stored) throw new JobNotFoundError(`Job ${jobId} does not exist.`);
    if (isTerminal(stored.status)) return { jobId, plan: { next: 'skip' } };
    const record = await leaveQueued(stored);
    if (!record) return { jobId, plan: { next: 'skip' } };

    // Prepare runs before any submission of its execution. Settled attempts on the record are an
    // earlier execution's (local mode takes a job up again after a restart) and count against the
    // job's policy; an open one is planned, never run (this step's own earlier try, or the attempt an
    // earlier execution planned last): the plan's number reuses it.
    const plan = planFirstAttempt(record);
    if (plan.next !== 'spot' && plan.next !== 'on-demand') return { jobId, plan };

    const refusal = imageRefusal(record.image, dependencies.allowedRegistries);
    if (refusal) return { jobId, plan: { next: 'finish', outcome: refusal } };

    let jobDefinitionArn: string;
    try {
      jobDefinitionArn = await dependencies.resolveJobDefinition(record);
    } catch (error) {
      const reason = dependencies.explainRegistrationFailure(error);
      if (reason === undefined) throw error;
      return { jobId, plan: { next: 'finish', outcome: { status: 'FAILED', statusReason: reason, failureClass: 'MISCONFIGURATION' } } };
    }

    const planned = record.attempts.find((attempt) => attempt.attempt === plan.attempt);
    if (planned?.capacity !== plan.next || planned.status !== 'PENDING') {
      await store.putAttempt(jobId, { attempt: plan.attempt, capacity: plan.next, status: 'PENDING' });
    }
    return {
      jobId,
      job: { jobDefinitionArn, command: record.command, timeoutSeconds: record.timeoutSeconds },
      plan,
    };
  };
}
