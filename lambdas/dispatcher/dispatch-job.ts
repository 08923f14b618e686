/**
 * One intake message → one Step Functions execution for the job. The execution's
 * name is the job id, so Step Functions itself guarantees a job never runs twice
 * by our doing, however often SQS delivers the message.
 */
import { ExecutionAlreadyExists, StartExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import * as z from 'zod/mini';
import { isTerminal } from '../../core/job.js';
import type { JobStore } from '../../core/ports.js';
import type { ExecutionInput } from '../../core/contract/workflow.js';

/** The intake message body the api handler sends. */
export const intakeMessageSchema = z.object({ jobId: z.string().check(z.minLength(1)) });

export class MalformedIntakeMessageError extends Error {
  override readonly name = 'MalformedIntakeMessageError';
}

export function parseIntakeMessage(body: string): ExecutionInput {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (error) {
    throw new MalformedIntakeMessageError('Intake message body is not JSON.', { cause: error });
  }
  const result = intakeMessageSchema.safeParse(parsed);
  if (!result.success) {
    throw new MalformedIntakeMessageError(`Intake message body is not {"jobId": string}: ${z.prettifyError(result.error)}`);
  }
  return { jobId: result.data.jobId };
}

export type DispatchOutcome =
  | { readonly kind: 'started'; readonly executionArn: string }
  /** An execution with this job's name exists already: an earlier delivery started it. */
  | { readonly kind: 'already-started' }
  /** The job became terminal while queued (cancelled): it must never start. */
  | { readonly kind: 'skipped-terminal' }
  /**
   * No such job: the api deletes a job whose intake send it saw fail, and a send can
   * fail on the api's side after SQS accepted it. Nothing to start, nothing to retry.
   */
  | { readonly kind: 'skipped-unknown' };

export interface JobDispatcherDependencies {
  readonly store: Pick<JobStore, 'getJob'>;
  /** Retries a throttled StartExecution itself (the handler configures its retry mode). */
  readonly sfn: SFNClient;
  readonly stateMachineArn: string;
  /** Waits for this instance's next start slot (see pacer.ts); no pacing when absent. */
  readonly pace?: () => Promise<void>;
}

export function createJobDispatcher(dependencies: JobDispatcherDependencies) {
  const { store, sfn, stateMachineArn } = dependencies;

  return async function dispatchJob({ jobId }: ExecutionInput): Promise<DispatchOutcome> {
    const job = await store.getJob(jobId);
    if (!job) return { kind: 'skipped-unknown' };
    if (isTerminal(job.status)) return { kind: 'skipped-terminal' };

    const input: ExecutionInput = { jobId };
    await dependencies.pace?.();
    try {
      const { executionArn } = await sfn.send(new StartExecutionCommand({ stateMachineArn, name: jobId, input: JSON.stringify(input) }));
      return { kind: 'started', executionArn: executionArn ?? '' };
    } catch (error) {
      // The input is always {"jobId"} for the execution named jobId, so an existing
      // execution of that name is this job's, running or finished.
      if (error instanceof ExecutionAlreadyExists || (error as { name?: unknown }).name === 'ExecutionAlreadyExists') {
        return { kind: 'already-started' };
      }
      throw error;
    }
  };
}
