/**
 * The states a job's execution enters, from the workflow definition the stack deploys run with
 * aws-local-stepfunctions and stubbed task results: each state entered (and each retry) is a
 * billed Standard transition, so the path is what Step Functions charges a job.
 */
import { StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import { batchJobName, STATE } from '../../core/contract/workflow.js';
import { BatchJobFailedError } from '../../lib/workflow/batch-task.js';
import type { JsonValue } from '../../local/step-functions.js';
import { BENCH_ACCOUNT, BENCH_REGION } from './aws-env.js';
import type { PathUsage } from './usage-model.js';

/** A job that succeeds on its first Spot attempt, or one whose Spot attempt is reclaimed and which finishes on On-Demand. */
export type CostScenario = 'happy' | 'reclaim-failover';

/** Runs the definition with stubbed task results and counts the states entered (each one a billed transition). */
export async function countTransitions(definition: StateMachineDefinition, scenario: CostScenario): Promise<PathUsage> {
  const jobId = `01COST${scenario === 'happy' ? 'HAPPY' : 'FAILOVER'}`;
  const machine = new StateMachine(definition, { validationOptions: { checkArn: false, checkPaths: true } });
  let settles = 0;
  const succeeded = (name: string): JsonValue => ({
    JobName: name,
    JobId: crypto.randomUUID(),
    Status: 'SUCCEEDED',
    StatusReason: 'Essential container in task exited',
    Container: { ExitCode: 0 },
  });
  const execution = machine.run(
    { jobId },
    {
      overrides: {
        taskResourceLocalHandlers: {
          [STATE.prepare]: () => ({
            jobId,
            job: {
              jobDefinitionArn: `arn:aws:batch:${BENCH_REGION}:${BENCH_ACCOUNT}:job-definition/GpuJobs-cost:1`,
              command: ['true'],
              timeoutSeconds: 3600,
            },
            plan: { next: 'spot', attempt: 1, jobName: batchJobName(jobId, 1), environment: [], batchAttempts: 3 },
          }),
          [STATE.runOnSpot]: (input) => {
            const name = String((input as { JobName?: unknown }).JobName);
            if (scenario === 'happy') return succeeded(name);
            // Batch's wording for a reclaimed Spot instance (core/failure.ts RECLAIM_REASONS).
            throw new BatchJobFailedError({
              JobName: name,
              JobId: crypto.randomUUID(),
              Status: 'FAILED',
              StatusReason: 'Host EC2 (instance i-0abc1234def567890) terminated.',
              Attempts: [],
            });
          },
          [STATE.runOnDemand]: (input) => succeeded(String((input as { JobName?: unknown }).JobName)),
          [STATE.settleAttempt]: (): JsonValue => {
            settles++;
            if (scenario === 'reclaim-failover' && settles === 1) {
              return { next: 'on-demand', attempt: 2, jobName: batchJobName(jobId, 2), environment: [], batchAttempts: 1 };
            }
            return { next: 'finish', outcome: { status: 'SUCCEEDED', exitCode: 0 } };
          },
          [STATE.finish]: () => ({ jobId, status: 'SUCCEEDED', transitioned: true }),
        },
      },
    },
  );
  const statesEntered: string[] = [];
  let retries = 0;
  for await (const event of execution.eventLogs) {
    if (event.type === 'StateEntered') statesEntered.push(event.state.name);
    if (event.type === 'StateRetried') retries++;
  }
  await execution.result;
  const attempts = statesEntered.filter((s) => s === STATE.runOnSpot || s === STATE.runOnDemand).length;
  return { transitions: statesEntered.length + retries, statesEntered, attempts };
}
