/**
 * Runs the resolved job workflow with aws-local-stepfunctions: the Batch tasks answer from a
 * scripted sequence of Batch outcomes, the Lambda tasks are the given task functions, and the
 * run reports the path taken and every Batch submission.
 */
import { StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import { createRequire } from 'node:module';
import type { CapacityType } from '../../core/job.js';
import { STATE, type FinishInput, type PrepareInput, type SettleAttemptInput } from '../../core/contract/workflow.js';
import type { SubmitJobRequest } from './batch-fixtures.js';
import type { WorkflowUnderTest } from './workflow-under-test.js';

/**
 * One scripted answer of Batch to a submission: a job detail, or an error to throw; a promise of
 * one when something else happens meanwhile (the owner cancels while the attempt runs).
 */
export type BatchOutcome = (request: SubmitJobRequest) => Record<string, unknown> | Error | Promise<Record<string, unknown> | Error>;

/** What the Lambda task states do; each returns what its handler returns. */
export interface WorkflowTasks {
  prepare(input: PrepareInput): Promise<unknown>;
  settleAttempt(input: SettleAttemptInput): Promise<unknown>;
  finish(input: FinishInput): Promise<unknown>;
}

export interface Submission {
  readonly state: string;
  /** Capacity of the compute environment behind the queue the job was submitted to. */
  readonly queueCapacity: CapacityType | undefined;
  readonly request: SubmitJobRequest;
  /** What the scripted Batch did with it: `ok`, or the error name. */
  readonly answer: string;
}

export interface WorkflowRun {
  readonly output: unknown;
  /** State names in the order entered. */
  readonly path: readonly string[];
  readonly submissions: readonly Submission[];
  /** State names of every retry Step Functions made. */
  readonly retried: readonly string[];
}

const aslValidator = createRequire(import.meta.url)('asl-validator') as (
  definition: unknown,
  options?: { checkPaths?: boolean; checkArn?: boolean },
) => { isValid: boolean; errorsText: (separator?: string) => string };

/** asl-validator's verdict; it annotates the definition it gets, so it gets a copy. */
export function validateAsl(definition: StateMachineDefinition): { isValid: boolean; errors: string } {
  const { isValid, errorsText } = aslValidator(structuredClone(definition), { checkPaths: true, checkArn: true });
  return { isValid, errors: isValid ? '' : errorsText('\n') };
}

const machines = new WeakMap<StateMachineDefinition, StateMachine>();

/** Built (and validated by aws-local-stepfunctions) once per definition; each run is independent. */
function stateMachineOf(definition: StateMachineDefinition): StateMachine {
  let machine = machines.get(definition);
  if (!machine) {
    machine = new StateMachine(definition, { validationOptions: { checkPaths: true, checkArn: true } });
    machines.set(definition, machine);
  }
  return machine;
}

export async function runWorkflow(
  workflow: WorkflowUnderTest,
  input: { jobId: string },
  tasks: WorkflowTasks,
  batchScript: readonly BatchOutcome[],
): Promise<WorkflowRun> {
  const submissions: Submission[] = [];
  const script = [...batchScript];

  const batchTask = (state: string) => async (raw: unknown) => {
    const request = raw as SubmitJobRequest;
    const next = script.shift();
    const outcome = next ? await next(request) : new Error(`Unscripted Batch submission #${submissions.length + 1} from ${state}`);
    const answer = outcome instanceof Error ? outcome.name : 'ok';
    submissions.push({ state, queueCapacity: workflow.queueCapacity.get(request.JobQueue), request, answer });
    if (outcome instanceof Error) throw outcome;
    return outcome as never;
  };

  const machine = stateMachineOf(workflow.definition);
  const execution = machine.run(input, {
    overrides: {
      taskResourceLocalHandlers: {
        [STATE.prepare]: async (payload) => (await tasks.prepare(payload as never)) as never,
        [STATE.settleAttempt]: async (payload) => (await tasks.settleAttempt(payload as never)) as never,
        [STATE.finish]: async (payload) => (await tasks.finish(payload as never)) as never,
        [STATE.runOnSpot]: batchTask(STATE.runOnSpot),
        [STATE.runOnDemand]: batchTask(STATE.runOnDemand),
      },
      // The definition's Batch API backoff is seconds to minutes; the retry decision is what is under test.
      retryIntervalOverrides: {
        [STATE.runOnSpot]: 0,
        [STATE.runOnDemand]: 0,
        [STATE.prepare]: 0,
        [STATE.settleAttempt]: 0,
        [STATE.finish]: 0,
      },
    },
  });

  const output = await execution.result;
  const path: string[] = [];
  const retried: string[] = [];
  for await (const event of execution.eventLogs) {
    if (event.type === 'StateEntered') path.push(event.state.name);
    if (event.type === 'StateRetried') retried.push(event.state.name);
  }
  if (script.length > 0) throw new Error(`${script.length} scripted Batch outcome(s) were never used`);
  return { output, path, submissions, retried };
}
