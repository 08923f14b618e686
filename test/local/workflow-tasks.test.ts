/**
 * Local mode's `batch:submitJob.sync` reports as lib/workflow/batch-task.ts says the integration
 * does: the PascalCase job detail on success, BatchJobFailedError for a failed job, BatchApiError
 * for a refused submission; and a Lambda task's error is named by its errorType.
 */
import { describe, expect, it } from 'vitest';
import { STATE } from '../../core/contract/workflow.js';
import { BatchApiError, BatchJobFailedError } from '../../lib/workflow/batch-task.js';
import { ClientException, type LocalBatch } from '../../local/batch/index.js';
import type { LocalEventBus } from '../../local/event-bus.js';
import type { Handlers } from '../../local/handler-environment.js';
import type { LambdaHandler } from '../../local/lambda-runtime.js';
import type { ExecutionHandle } from '../../local/step-functions.js';
import { workflowTaskHandlers } from '../../local/workflow-tasks.js';

const execution: ExecutionHandle = { executionArn: 'arn:execution', name: 'job-1', onStop: () => () => undefined };
const bus = { delivered: async () => undefined } as unknown as LocalEventBus;

function tasksOver(batch: Partial<LocalBatch>, handlers: Partial<Handlers> = {}) {
  return workflowTaskHandlers(execution, {
    handlers: handlers as Handlers,
    invoke: (_name: string, handler: LambdaHandler, event: unknown) => handler(event, {} as never),
    batch: batch as LocalBatch,
    bus,
  });
}

const finishedWith = (status: 'SUCCEEDED' | 'FAILED') => ({
  submitJob: () => ({
    jobId: 'b-1',
    jobArn: 'arn:job/b-1',
    completion: Promise.resolve({
      jobId: 'b-1',
      jobName: 'gpujobs-job-1-1',
      status,
      tags: { 'gpujobs:job-id': 'job-1' },
      container: { exitCode: 3 },
    }),
  }),
});

describe('the local Batch tasks', () => {
  it('return the job detail in PascalCase, map keys as they are, when the job succeeded', async () => {
    const output = await tasksOver(finishedWith('SUCCEEDED'))[STATE.runOnSpot]!({});
    expect(output).toEqual({
      JobId: 'b-1',
      JobName: 'gpujobs-job-1-1',
      Status: 'SUCCEEDED',
      Tags: { 'gpujobs:job-id': 'job-1' },
      Container: { ExitCode: 3 },
    });
  });

  it('throw BatchJobFailedError carrying the job detail when the job failed', async () => {
    const failure = await tasksOver(finishedWith('FAILED'))[STATE.runOnDemand]!({}).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(BatchJobFailedError);
    expect((failure as BatchJobFailedError).name).toBe('States.TaskFailed');
    expect(JSON.parse((failure as Error).message)).toMatchObject({
      JobName: 'gpujobs-job-1-1',
      Status: 'FAILED',
      Container: { ExitCode: 3 },
    });
  });

  it('throw BatchApiError named Batch.ClientException when Batch refuses the submission', async () => {
    const refusing = {
      submitJob: () => {
        throw new ClientException('Job definition gpujobs-x does not exist or is not ACTIVE.');
      },
    };
    const failure = await tasksOver(refusing)[STATE.runOnSpot]!({}).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(BatchApiError);
    expect((failure as Error).name).toBe('Batch.ClientException');
    expect((failure as Error).message).toBe('Job definition gpujobs-x does not exist or is not ACTIVE. (Service: Batch, Status Code: 400)');
  });
});

describe('the local Lambda tasks', () => {
  it("fail with the handler's errorType as the name and Lambda's error JSON as the cause", async () => {
    class TerminalEventBusy extends Error {
      override readonly name = 'TerminalEventBusy';
    }
    const finish: LambdaHandler = async () => {
      throw new TerminalEventBusy('claimed by another writer');
    };
    const failure = await tasksOver({}, { finish })[STATE.finish]!({}).catch((error: unknown) => error);
    expect((failure as Error).name).toBe('TerminalEventBusy');
    expect(JSON.parse((failure as Error).message)).toEqual({
      errorType: 'TerminalEventBusy',
      errorMessage: 'claimed by another writer',
      trace: [],
    });
  });
});
